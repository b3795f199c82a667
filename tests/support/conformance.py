"""Check a recorded run against the pinned charts and CRDs; return one readable message per mistake.

Helm charts accept any value and silently ignore the ones they do not know, and Kubernetes prunes
unknown custom-resource fields: that is how a mesh ships with no tracing. Every Helm value path the
program sets must exist in the pinned chart's default values (or under an open map there, or under
one of the FREE_FORM subtrees listed below with the check that covers them instead) — the rule of
`versions.chart_values`, which the settings reader applies to a stack's `extraValues`; every custom
resource must validate against its CRD schema; every plain Kubernetes object against the API
schemas of the Kubernetes versions the listed Istio versions support.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import jsonschema

from config import meshconfig
from kube.resources import HELM_RELEASE_TYPE, TELEMETRY_TYPE
from meshtools.recording import Resource, Run
from tests.support import kubernetes_schema, upstream
from versions.chart_values import ValuePath, chart_values, dotted, shown, undeclared, under, unknown_paths, value_paths
from versions.table import CHARTS, ChartId, all_kubernetes_versions

RELEASE = HELM_RELEASE_TYPE
CORE_TYPES = {
    "kubernetes:core/v1:Namespace": ("v1", "Namespace"),
    "kubernetes:core/v1:NamespacePatch": ("v1", "Namespace"),
    "kubernetes:core/v1:Secret": ("v1", "Secret"),
    "kubernetes:policy/v1:PodDisruptionBudget": ("policy/v1", "PodDisruptionBudget"),
    "kubernetes:core/v1:Service": ("v1", "Service"),
    "kubernetes:core/v1:ServiceAccount": ("v1", "ServiceAccount"),
    "kubernetes:core/v1:ConfigMap": ("v1", "ConfigMap"),
    "kubernetes:rbac.authorization.k8s.io/v1:Role": ("rbac.authorization.k8s.io/v1", "Role"),
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    "kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration": (
        "admissionregistration.k8s.io/v1",
        "MutatingWebhookConfiguration",
    ),
    "kubernetes:apps/v1:Deployment": ("apps/v1", "Deployment"),
    "kubernetes:batch/v1:CronJob": ("batch/v1", "CronJob"),
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": ("networking.k8s.io/v1", "NetworkPolicy"),
}
# Types the program registers that are not Kubernetes objects.
NOT_KUBERNETES = ("mesh-tracing:index:", "random:index/")

# Subtrees a chart passes through without a schema; each is checked elsewhere, as the reason says.
FREE_FORM: dict[ChartId, dict[str, str]] = {
    ChartId.ISTIO_BASE: {
        "base.validationFailurePolicy": "read by templates/defaultrevision-validatingwebhookconfiguration.yaml though "
        "values.yaml omits it; the rendered check reads the webhook's failurePolicy",
    },
    ChartId.ISTIOD: {
        "meshConfig": "merged into istiod's mesh config as is; checked against Istio's MeshConfig message "
        "(config/meshconfig.py)",
        "base.validationFailurePolicy": "a documented, commented-out option of the 1.30 values file",
    },
    ChartId.SIGNOZ: {
        "clickhouse.clickhouseOperator.resources": "read by the clickhouse subchart's "
        "templates/clickhouse-operator/deployment.yaml though its values.yaml omits it; validated as a "
        "ResourceRequirements, and the rendered operator container's limits are checked (test_pod_security)",
        "clickhouse.clickhouseOperator.metricsExporter.resources": "read by the same template for the "
        "metrics-exporter container, also omitted from values.yaml; checked the same way",
        "otelCollector.config": "rendered verbatim into the collector ConfigMap; checked by test_signoz_stack",
        "otelCollector.ports.otlp-ingest": "a port entry the chart's Deployment and Service range over; its "
        "rendered Service port and Ingress backend are checked by the ingest path (tests/support/rendered.py)",
    },
    ChartId.K8S_INFRA: {
        "otelAgent.config": "merged with the presets into the agent ConfigMap; its components are checked "
        "against the otelcol-contrib facts and the rendered config by the data path (test_signoz_agent, "
        "tests/support/rendered.py)",
    },
}
# Values whose key is one of these are Kubernetes objects the chart renders into a pod spec with
# toYaml; the chart's defaults show only part of them, so they are validated as that object.
KUBERNETES_TYPED_KEYS = {"resources": "io.k8s.api.core.v1.ResourceRequirements"}
# Security contexts, by chart and value path: a pod's (POD) or a container's (CONTAINER), rendered
# with toYaml; validated as that object, less the chart's own switch `enabled` (omitted when rendered).
POD, CONTAINER = "securityContext", "containers[0].securityContext"
SECURITY_CONTEXTS: dict[ChartId, dict[str, str]] = {
    ChartId.SIGNOZ: {
        "signoz.podSecurityContext": POD,
        "signoz.securityContext": CONTAINER,
        "otelCollector.podSecurityContext": POD,
        "otelCollector.securityContext": CONTAINER,
        "clickhouse.securityContext": POD,
        "clickhouse.clickhouseOperator.podSecurityContext": POD,
        "clickhouse.zookeeper.podSecurityContext": POD,
        "clickhouse.zookeeper.containerSecurityContext": CONTAINER,
    },
    ChartId.K8S_INFRA: {"otelAgent.podSecurityContext": POD, "otelAgent.securityContext": CONTAINER},
    ChartId.PROMETHEUS: {
        "server.securityContext": POD,
        "server.containerSecurityContext": CONTAINER,
        "configmapReload.prometheus.containerSecurityContext": CONTAINER,
    },
    ChartId.ISTIO_GATEWAY: {"securityContext": POD},
}
CHART_SWITCH = "enabled"

# kiali-server renders its values into Kiali's config file: they are checked against the Kiali CR
# spec schema, which documents every config key, instead of against the chart's sparse defaults.
KIALI_CR = ("kiali.io", "v1alpha1", "Kiali")
KUBERNETES_VERSIONS = all_kubernetes_versions()
# Providers every istiod knows without an extensionProviders entry (pilot/pkg/model/telemetry.go).
BUILT_IN_PROVIDERS = frozenset({"prometheus", "stackdriver", "envoy"})


def chart_of(release: Resource) -> tuple[ChartId, str]:
    inputs = release.inputs
    name = str(inputs["chart"]).rsplit("/", 1)[-1]  # an oci:// chart is addressed by reference
    for chart_id, chart in CHARTS.items():
        if chart.name == name:
            return chart_id, inputs["version"]
    raise LookupError(f"{release.name}: chart {inputs['chart']} is not in the version table")


def check_chart_values(stack: str, release: Resource) -> list[str]:
    """Every value path the release sets is the pinned chart's (`versions.chart_values`, the rule the
    settings reader applies to `extraValues`), or under a FREE_FORM subtree; Kubernetes objects the
    chart renders as given are validated as those objects."""
    chart_id, version = chart_of(release)
    if chart_id is ChartId.KIALI:
        return check_kiali_values(stack, release)
    chart = chart_values(chart_id, version)
    free = [tuple(root.split(".")) for root in FREE_FORM.get(chart_id, {})]
    values = release.inputs.get("values", {})
    problems = [
        f"{stack}: {release.name} values: {dotted(path)} is not a value of {chart.label}"
        + (f" — did you mean {hint}?" if (hint := chart.suggestion(path)) else "")
        for path in unknown_paths(values, chart, skip=lambda path: any(under(path, root) for root in free))
    ]
    contexts = SECURITY_CONTEXTS.get(chart_id, {})
    for path in value_paths(values):
        where = f"{stack}: {release.name} values: {dotted(path)}"
        if dotted(path) in contexts:
            problems += check_security_context(where, contexts[dotted(path)], _get(values, path))
        elif path[-1] in KUBERNETES_TYPED_KEYS:
            problems += check_resource_requirements(where, _get(values, path))
    if chart_id is ChartId.ISTIOD:
        problems += check_mesh_config(stack, release)
    return problems


def _get(values: dict[str, Any], path: ValuePath) -> Any:
    node: Any = values
    for part in path:
        node = node[part]
    return node


def check_resource_requirements(where: str, requirements: Any) -> list[str]:
    """Validate a ResourceRequirements by placing it in a minimal Pod for every Kubernetes version."""
    return _check_in_pod(where, {"containers": [{"name": "c", "image": "i", "resources": requirements}]})


def check_security_context(where: str, place: str, context: Any) -> list[str]:
    """Validate a pod's or a container's security context (without the chart's `enabled` switch) by
    placing it in a minimal Pod for every Kubernetes version."""
    rendered = {k: v for k, v in context.items() if k != CHART_SWITCH} if isinstance(context, dict) else context
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "i"}]}
    if place == POD:
        spec[POD] = rendered
    else:
        spec["containers"][0]["securityContext"] = rendered
    return _check_in_pod(where, spec)


def _check_in_pod(where: str, spec: dict[str, Any]) -> list[str]:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"}, "spec": spec}
    return [
        f"{where} (Kubernetes {k8s_version}): {message}"
        for k8s_version in KUBERNETES_VERSIONS
        for _, message in _kubernetes_errors(json.dumps(pod, sort_keys=True), k8s_version)
    ]


@functools.cache
def _kubernetes_errors(manifest: str, k8s_version: str) -> tuple[tuple[str, str], ...]:
    """(path, message) of the first schema error, memoised per distinct object and version."""
    return tuple(kubernetes_schema.errors(json.loads(manifest), k8s_version)[:1])


def check_mesh_config(stack: str, release: Resource) -> list[str]:
    version = str(release.inputs["version"])
    return [
        f"{stack}: {release.name} values: {shown(path)}: {message}"
        for path, message in meshconfig.problems(release.inputs["values"].get("meshConfig", {}), version)
    ]


def schema_problems(schema: dict[str, Any], document: Any, where: str) -> list[str]:
    """jsonschema errors plus fields the schema does not declare (Kubernetes would prune them)."""
    problems = [
        f"{where}: {'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(document)
    ]
    problems += [
        f"{where}: {shown(path)} is not a field of the schema" + (f" (did you mean {hint}?)" if hint else "")
        for path, hint in undeclared(schema, document)
    ]
    return problems


def check_kiali_values(stack: str, release: Resource) -> list[str]:
    spec_schema = upstream.crd(*KIALI_CR)["schema"]["properties"]["spec"]
    where = f"{stack}: {release.name} values (as Kiali config)"
    return schema_problems(spec_schema, release.inputs.get("values", {}), where)


def check_custom_resource(stack: str, resource: Resource, istio_version: str | None) -> list[str]:
    api_version, kind = resource.inputs["apiVersion"], resource.inputs["kind"]
    group, version = api_version.split("/")
    try:
        record = upstream.crd(group, version, kind, istio_version)
    except LookupError:
        return [f"{stack}: {resource.name}: no derived CRD schema for {api_version} {kind}"]
    where = f"{stack}: {resource.name} ({kind} {api_version}, Istio CRD {record['upstream_version']})"
    # The CRD schemas declare spec (and status); apiVersion, kind and metadata are the API server's.
    problems = schema_problems(record["schema"], {"spec": resource.inputs.get("spec", {})}, where)
    if record["scope"] == "Namespaced" and not resource.inputs.get("metadata", {}).get("namespace"):
        problems.append(f"{where}: metadata.namespace is required for a namespaced kind")
    return problems


def check_kubernetes_object(stack: str, resource: Resource) -> list[str]:
    api_version, kind = CORE_TYPES[resource.type]
    manifest = {"apiVersion": api_version, "kind": kind}
    manifest |= {k: v for k, v in resource.inputs.items() if k not in {"apiVersion", "kind"}}
    return [
        f"{stack}: {resource.name} ({kind}, Kubernetes {k8s_version}): {path}: {message}"
        for k8s_version in KUBERNETES_VERSIONS
        for path, message in _kubernetes_errors(json.dumps(manifest, sort_keys=True), k8s_version)
    ]


def check_references(stack: str, run: Run) -> list[str]:
    """Cross-resource rules: every tracing provider a Telemetry names exists in the mesh config."""
    istiod = run.maybe("mesh-istiod")
    if istiod is None:
        return []
    mesh = istiod.inputs["values"].get("meshConfig", {})
    known = {p.get("name", "").lower() for p in mesh.get("extensionProviders", [])} | BUILT_IN_PROVIDERS
    problems = []
    for name in mesh.get("defaultProviders", {}).get("tracing", []):
        if name.lower() not in known:
            problems.append(f"{stack}: mesh-istiod values: defaultProviders.tracing names unknown provider {name!r}")
    for telemetry in run.by_type(TELEMETRY_TYPE):
        for rule in telemetry.inputs["spec"].get("tracing", []):
            for provider in rule.get("providers", []):
                if provider["name"].lower() not in known:
                    problems.append(
                        f"{stack}: {telemetry.name}: tracing provider {provider['name']!r} is not in meshConfig"
                    )
    return problems


def is_custom_resource(resource: Resource) -> bool:
    return resource.type.startswith("kubernetes:") and resource.type != RELEASE and resource.type not in CORE_TYPES


def istio_version(run: Run) -> str | None:
    """The version of the stack's Istio base chart: the CRDs its custom resources must pass."""
    for release in run.by_type(RELEASE):
        if chart_of(release)[0] is ChartId.ISTIO_BASE:
            return str(release.inputs["version"])
    return None


def check_run(stack: str, run: Run) -> list[str]:
    problems: list[str] = []
    crds_version = istio_version(run)
    for resource in run:
        if resource.type.startswith(NOT_KUBERNETES):
            continue
        if resource.type == RELEASE:
            problems += check_chart_values(stack, resource)
        elif resource.type in CORE_TYPES:
            problems += check_kubernetes_object(stack, resource)
        elif is_custom_resource(resource):
            problems += check_custom_resource(stack, resource, crds_version)
        else:
            problems.append(f"{stack}: {resource.name}: type {resource.type} has no conformance check")
    return problems + check_references(stack, run)
