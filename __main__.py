"""mesh-tracing: load settings, build the components, export what operators read."""

import pulumi

from components.istio_mesh import IstioMesh
from components.settings import load_settings

loaded = load_settings()
settings = loaded.settings

mesh = IstioMesh("mesh", settings)

pulumi.export("environment", settings.environment)
pulumi.export("tracingProvider", mesh.provider_name)
pulumi.export("samplingPercent", mesh.sampling_percent)
pulumi.export("mtlsMode", settings.mtls_mode.value)
pulumi.export("istioRootNamespace", mesh.root_namespace)
pulumi.export("gatewayService", mesh.gateway_service)
