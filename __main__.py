"""mesh-tracing: load settings, build the components, export what operators read."""

import pulumi

from components.demo import build_demo
from components.istio_mesh import IstioMesh
from components.kiali_integration import build_kiali
from components.outputs import stack_outputs
from components.signoz_agent import build_signoz
from components.traced_namespace import build_traced_namespaces
from config.reading import load_settings

loaded = load_settings()
settings = loaded.settings

mesh = IstioMesh("mesh", settings)
signoz = build_signoz(settings, loaded.secrets)
namespaces = build_traced_namespaces(settings, mesh.ready)
kiali = build_kiali(
    settings,
    istio_namespace=mesh.namespace_name,
    istiod=mesh.istiod,
    signing_key=loaded.secrets.kiali_signing_key,
    oidc_client_secret=loaded.secrets.kiali_oidc_client_secret,
)
demo = build_demo(settings, mesh_ready=mesh.ready, collector_ready=[signoz])

for name, value in stack_outputs(settings, mesh, signoz, namespaces, kiali, demo=demo).items():
    pulumi.export(name, value)
