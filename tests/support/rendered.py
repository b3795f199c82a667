"""Check what the charts make of the program's values: the rendered objects, not just the inputs.

The value-path checks in conformance.py cannot see a template that drops a value, a value of the
wrong type, or a port that never reaches a Service. These checks read the rendered stream
(`meshtools.manifests`, CRDs whole):

- every built-in object validates against the Kubernetes API schemas of every supported version;
- every custom resource validates against its CRD from the same stream: the OpenAPI schema and the
  CEL rules (`x-kubernetes-validations`, evaluated with cel-python). A rule that calls a function of
  Kubernetes' own CEL libraries is listed as not evaluated, never passed silently;
- the data path holds end to end: istiod's mesh ConfigMap names a Zipkin provider whose host and
  port are a rendered Service port, which reaches a collector (the SigNoz collector's Deployment,
  or in remote mode the k8s-infra agent's DaemonSet) whose rendered config receives `zipkin` on
  that port in its traces pipeline, behind memory_limiter; Kiali's rendered config reads the
  Prometheus the stack uses;
- in remote mode the agent's Service keeps spans on their node, its traces pipeline exports to
  `signoz.remote.endpoint` with the ingest key taken from an env var that a secretKeyRef fills from
  the Secret the program registers, and its own counters are served on 0.0.0.0;
- with `signoz.ingest` the collector's Ingress routes the ingest host (with TLS when configured) to
  a Service port whose receiver checks a bearer token read from the mounted ingest-key Secret.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import celpy
import yaml
from celpy.adapter import json_to_cel
from celpy.celtypes import BoolType
from celpy.evaluation import CELEvalError

from config.kiali import ExternalPrometheus
from config.signoz import DeploySigNoz, RemoteSigNoz
from config.stack import StackSettings
from config.types import RemoteAuth
from kube import naming, revisions
from kube.collector_config import MEMORY_LIMITER, RESOURCE_PROCESSOR
from kube.tree import dig
from meshtools.desired import desired_state
from meshtools.manifests import Manifest, stack_manifests
from meshtools.recording import Run
from program.wiring import prometheus_url
from tests.support import kubernetes_schema
from tests.support.conformance import schema_problems
from versions.table import all_kubernetes_versions

# Functions of Kubernetes' CEL libraries (URLs, quantities, IPs, CIDRs, format, lists, regex,
# authorizer) that cel-python does not implement.
KUBERNETES_CEL_FUNCTIONS = (
    "isURL", "url", "quantity", "isQuantity", "ip", "isIP", "cidr", "isCIDR", "format", "isSorted",
    "sum", "indexOf", "lastIndexOf", "reverse", "find", "findAll", "authorizer", "semver", "isSemver",
)  # fmt: skip
_KUBERNETES_CALL = re.compile(r"(?<![\w.])(?:\.)?(" + "|".join(KUBERNETES_CEL_FUNCTIONS) + r")\s*\(")


@dataclass(frozen=True)
class Rule:
    rule: str
    message: str


@dataclass
class Findings:
    problems: list[str]
    not_evaluated: list[str]


def rendered_objects(run: Run) -> list[Manifest]:
    """Every object a recorded run makes the cluster receive: releases rendered, CRDs whole."""
    return stack_manifests(desired_state("test", run), full_crds=True).objects


def by_kind(objects: Iterable[Manifest], kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m.key[0], m.key[2]): m.object for m in objects if m.key[1] == kind}


# --------------------------------------------------------------------------- schemas


@functools.cache
def _kubernetes_errors(version: str, document: str) -> tuple[tuple[str, str], ...]:
    return tuple(kubernetes_schema.errors(json.loads(document), version))


def kubernetes_problems(stack: str, objects: Iterable[Manifest]) -> list[str]:
    problems = []
    for manifest in objects:
        obj = manifest.object
        if not kubernetes_schema.has_schema(str(obj.get("apiVersion")), str(obj.get("kind"))):
            continue
        document = json.dumps(obj, sort_keys=True)
        for version in all_kubernetes_versions():
            problems += [
                f"{stack}: {manifest.title} (Kubernetes {version}): {path}: {message}"
                for path, message in _kubernetes_errors(version, document)
            ]
    return problems


def _crd_versions(objects: Iterable[Manifest]) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → the served version's schema, from every CRD in the stream."""
    found = {}
    for crd in by_kind(objects, "CustomResourceDefinition").values():
        spec = crd.get("spec") or {}
        for served in spec.get("versions") or []:
            if served.get("served", True):
                schema = dig(served, "schema", "openAPIV3Schema") or {}
                found[(f"{spec['group']}/{served['name']}", dig(spec, "names", "kind"))] = schema
    return found


def custom_resource_problems(stack: str, objects: list[Manifest]) -> Findings:
    findings = Findings([], [])
    schemas = _crd_versions(objects)
    for manifest in objects:
        obj = manifest.object
        key = (str(obj.get("apiVersion")), str(obj.get("kind")))
        if kubernetes_schema.has_schema(*key):
            continue
        schema = schemas.get(key)
        where = f"{stack}: {manifest.title} ({key[0]})"
        if schema is None:
            findings.problems.append(f"{where}: no CRD in the stack serves {key[0]} {key[1]}")
            continue
        body = {k: v for k, v in obj.items() if k not in {"apiVersion", "kind", "metadata"}}
        findings.problems += schema_problems(schema, body, where)
        for path, rule, value in rules_at(schema, body, ""):
            evaluated = evaluate(rule, value)
            if evaluated is None:
                findings.not_evaluated.append(f"{where}: {path or '<root>'}: {rule.rule}")
            elif evaluated is not True:
                findings.problems.append(f"{where}: {path or '<root>'}: {rule.message} ({evaluated})")
    return findings


# --------------------------------------------------------------------------- CEL


def rules_at(schema: dict[str, Any], value: Any, path: str) -> Iterator[tuple[str, Rule, Any]]:
    """Every CEL rule with the value it applies to (`self`), walking schema and object together."""
    for rule in schema.get("x-kubernetes-validations") or []:
        yield path, Rule(rule["rule"], rule.get("message") or f"failed rule: {rule['rule']}"), value
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            child = properties.get(key) or (extra if isinstance(extra, dict) else None)
            if child is not None:
                yield from rules_at(child, item, f"{path}.{key}" if path else key)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from rules_at(schema["items"], item, f"{path}[{index}]")


@functools.cache
def _program(rule: str) -> celpy.Runner:
    environment = celpy.Environment()
    return environment.program(environment.compile(rule))


def evaluate(rule: Rule, value: Any) -> bool | str | None:
    """True when the rule holds, a reason when it does not, None when it cannot be evaluated here
    (Kubernetes-only functions, or a transition rule that needs the old object)."""
    if _KUBERNETES_CALL.search(rule.rule) or "oldSelf" in rule.rule:
        return None
    try:
        result = _program(rule.rule).evaluate({"self": json_to_cel(value)})
    except CELEvalError as error:
        return f"evaluation error: {error.args[0] if error.args else error}"
    return True if result == BoolType(True) else "the rule is false"


# --------------------------------------------------------------------------- the data path


def _service_port(services: dict[tuple[str, str], dict[str, Any]], host: str, port: int) -> dict[str, Any] | None:
    """The Service port a `name.namespace.svc.<domain>` host and port resolve to."""
    parts = host.split(".")
    if len(parts) < 3 or parts[2] != "svc":
        return None
    service = services.get((parts[1], parts[0]))
    return next((p for p in dig(service, "spec", "ports") or [] if p.get("port") == port), None)


COLLECTOR_WORKLOADS = ("Deployment", "DaemonSet")


@dataclass(frozen=True)
class Collector:
    """A collector workload a Service selects, and the config file its mounted ConfigMap holds."""

    workload: dict[str, Any]
    config: dict[str, Any]


def _selected_collector(objects: list[Manifest], namespace: str, selector: dict[str, str]) -> Collector | None:
    """The collector config file of the Deployment or DaemonSet a Service selects (through its
    mounted ConfigMap)."""
    configmaps = by_kind(objects, "ConfigMap")
    for kind in COLLECTOR_WORKLOADS:
        for (ns, _), workload in by_kind(objects, kind).items():
            labels = dig(workload, "spec", "template", "metadata", "labels") or {}
            if ns != namespace or not selector or not selector.items() <= labels.items():
                continue
            for volume in dig(workload, "spec", "template", "spec", "volumes") or []:
                configmap = configmaps.get((ns, str(dig(volume, "configMap", "name"))))
                for text in (dig(configmap, "data") or {}).values():
                    config = yaml.safe_load(text) if isinstance(text, str) else None
                    if isinstance(config, dict) and dig(config, "service", "pipelines"):
                        return Collector(workload, config)
    return None


def data_path_problems(stack: str, settings: StackSettings, objects: list[Manifest]) -> list[str]:
    """The mesh config of every control plane, then the path from the default one's Zipkin provider."""
    problems: list[str] = []
    for control_plane in reversed(revisions.control_planes(settings.istio)):
        problems += _mesh_path_problems(stack, settings, objects, control_plane)
    return problems + _kiali_problems(f"{stack}: rendered", settings, objects)


def _mesh_path_problems(
    stack: str, settings: StackSettings, objects: list[Manifest], control_plane: revisions.ControlPlane
) -> list[str]:
    istio = settings.istio
    where = f"{stack}: rendered"
    configmaps, services = by_kind(objects, "ConfigMap"), by_kind(objects, "Service")
    mesh_map = configmaps.get((istio.namespace, control_plane.mesh_configmap))
    if mesh_map is None:
        return [f"{where}: no mesh ConfigMap {istio.namespace}/{control_plane.mesh_configmap}"]
    mesh = yaml.safe_load(dig(mesh_map, "data", "mesh") or "") or {}
    problems = []
    tracing = dig(mesh, "defaultProviders", "tracing") or []
    if tracing != [istio.provider_name] or "prometheus" not in (dig(mesh, "defaultProviders", "metrics") or []):
        problems.append(f"{where}: mesh defaultProviders are {dig(mesh, 'defaultProviders')}")
    providers = {p.get("name"): p for p in mesh.get("extensionProviders") or []}
    zipkin = dig(providers.get(istio.provider_name), "zipkin")
    if not isinstance(zipkin, dict):
        return [*problems, f"{where}: the mesh config has no zipkin provider {istio.provider_name!r}"]
    host, port = str(zipkin.get("service")), zipkin.get("port")
    service_port = _service_port(services, host, int(port or 0))
    if service_port is None:
        return [*problems, f"{where}: the zipkin provider points at {host}:{port}, which no rendered Service exposes"]
    namespace, name = host.split(".")[1], host.split(".", maxsplit=1)[0]
    selector = dig(services[(namespace, name)], "spec", "selector") or {}
    collector = _selected_collector(objects, namespace, selector)
    if collector is None:
        return [*problems, f"{where}: Service {namespace}/{name} selects no workload with a collector config"]
    config = collector.config
    target = service_port.get("targetPort")
    receiver = dig(config, "receivers", "zipkin") or {}
    endpoint = receiver.get("endpoint")
    traces = dig(config, "service", "pipelines", "traces") or {}
    if "zipkin" not in (traces.get("receivers") or []):
        problems.append(f"{where}: the collector's traces pipeline receives {traces.get('receivers')}, not zipkin")
    if endpoint != f"0.0.0.0:{port}":
        problems.append(f"{where}: the zipkin receiver listens on {endpoint}, not 0.0.0.0:{port}")
    if target not in (port, "zipkin"):
        problems.append(f"{where}: Service {namespace}/{name} port {port} targets {target}")
    if (traces.get("processors") or [None])[0] != "memory_limiter":
        problems.append(
            f"{where}: the collector's traces processors start with {(traces.get('processors') or [None])[0]}"
        )
    if settings.tail_sampling.enabled:
        sampler, found = _sampler_behind_router(where, objects, collector)
        problems += found
        if sampler is None:
            return problems
        collector = sampler  # the chart's collector: the one the central ingest must reach
    signoz = settings.signoz
    if isinstance(signoz, RemoteSigNoz):
        problems += _agent_problems(where, signoz, objects, services[(namespace, name)], collector)
    elif signoz.ingest is not None:
        problems += _ingest_problems(where, signoz, objects, collector)
    return problems


def _sampler_behind_router(
    where: str, objects: list[Manifest], router: Collector
) -> tuple[Collector | None, list[str]]:
    """Tail sampling: the router hands each trace, by trace ID, to a Service whose collector receives
    OTLP on that port and runs span metrics, then the sampler, in its traces pipeline."""
    exporter = dig(router.config, "exporters", "loadbalancing") or {}
    resolver = dig(exporter, "resolver", "k8s") or {}
    if exporter.get("routing_key") != "traceID" or not resolver:
        return None, [f"{where}: the router does not route by traceID through a k8s resolver: {exporter}"]
    name, _, namespace = str(resolver.get("service")).partition(".")
    service = by_kind(objects, "Service").get((namespace, name))
    ports = {p.get("port") for p in dig(service, "spec", "ports") or []}
    if service is None or not set(resolver.get("ports") or []) <= ports:
        return None, [
            f"{where}: the router resolves {resolver.get('service')}:{resolver.get('ports')}, "
            "not a rendered Service port"
        ]
    sampler = _selected_collector(objects, namespace, dig(service, "spec", "selector") or {})
    if sampler is None:
        return None, [f"{where}: Service {namespace}/{name} selects no workload with a collector config"]
    traces = dig(sampler.config, "service", "pipelines", "traces") or {}
    processors = list(traces.get("processors") or [])
    problems = []
    if "otlp" not in (traces.get("receivers") or []):
        problems.append(f"{where}: the sampler's traces pipeline receives {traces.get('receivers')}, not otlp")
    if "tail_sampling" not in processors or "signozspanmetrics/delta" not in processors:
        problems.append(f"{where}: the sampler's traces processors are {processors}")
    elif processors.index("signozspanmetrics/delta") > processors.index("tail_sampling"):
        problems.append(f"{where}: span metrics come after tail_sampling and would count only kept spans: {processors}")
    return sampler, problems


def _env_source(workload: dict[str, Any], variable: str) -> Any:
    for container in dig(workload, "spec", "template", "spec", "containers") or []:
        for entry in container.get("env") or []:
            if entry.get("name") == variable:
                return entry.get("valueFrom") or {"value": entry.get("value")}
    return None


def _agent_problems(
    where: str, signoz: RemoteSigNoz, objects: list[Manifest], service: dict[str, Any], agent: Collector
) -> list[str]:
    """Remote mode: node-local Service, the exporter to the endpoint, the key from the Secret, and
    the self-metrics the verify check reads."""
    remote = signoz.remote
    problems = []
    name = f"{dig(service, 'metadata', 'namespace')}/{dig(service, 'metadata', 'name')}"
    if dig(service, "spec", "internalTrafficPolicy") != "Local":
        problems.append(
            f"{where}: Service {name} has internalTrafficPolicy {dig(service, 'spec', 'internalTrafficPolicy')}, "
            "not Local (spans would leave their node)"
        )
    exporters = dig(agent.config, "service", "pipelines", "traces", "exporters") or []
    to_endpoint = [e for e in exporters if dig(agent.config, "exporters", e, "endpoint") == remote.endpoint]
    if not to_endpoint:
        endpoints = [dig(agent.config, "exporters", e, "endpoint") for e in exporters]
        return [
            *problems,
            f"{where}: the agent's traces exporters {exporters} send to {endpoints}, not {remote.endpoint}",
        ]
    exporter = dig(agent.config, "exporters", to_endpoint[0]) or {}
    if remote.auth is not RemoteAuth.NONE:
        problems += _key_from_secret(where, objects, agent.workload, exporter.get("headers") or {})
    reader = dig(agent.config, "service", "telemetry", "metrics", "readers", 0, "pull", "exporter", "prometheus")
    if reader is None:
        problems.append(f"{where}: the agent keeps the default metrics reader (localhost only), not 0.0.0.0")
    elif (reader.get("host"), reader.get("port")) != ("0.0.0.0", naming.COLLECTOR_METRICS_PORT):
        problems.append(
            f"{where}: the agent serves its own metrics on {reader.get('host')}:{reader.get('port')}, "
            f"not 0.0.0.0:{naming.COLLECTOR_METRICS_PORT}"
        )
    return problems


def _key_from_secret(
    where: str, objects: list[Manifest], workload: dict[str, Any], headers: dict[str, Any]
) -> list[str]:
    """Each auth header takes the key from an env var a secretKeyRef fills from a registered Secret."""
    referenced = [
        m for value in headers.values() for m in re.findall(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", str(value))
    ]
    if not referenced:
        return [f"{where}: the agent's exporter sends no key from the environment (headers {sorted(headers)})"]
    problems = []
    secrets = by_kind(objects, "Secret")
    namespace = str(dig(workload, "metadata", "namespace"))
    for variable in referenced:
        source = _env_source(workload, variable)
        ref = dig(source, "secretKeyRef")
        if ref is None:
            problems.append(f"{where}: the agent's env {variable} is {source}, not a secretKeyRef")
            continue
        secret = secrets.get((namespace, str(ref.get("name"))))
        if secret is None or ref.get("key") not in (secret.get("stringData") or secret.get("data") or {}):
            problems.append(f"{where}: the agent's env {variable} reads Secret {ref}, which no object provides")
    return problems


def _ingest_problems(where: str, signoz: DeploySigNoz, objects: list[Manifest], collector: Collector) -> list[str]:
    """The ingest host → Ingress (TLS) → Service port → the authenticated receiver in the traces
    pipeline, whose token file is a mounted Secret."""
    ingest = signoz.ingest
    assert ingest is not None  # called only with signoz.ingest
    rules = [
        (ingress, rule)
        for ingress in by_kind(objects, "Ingress").values()
        for rule in dig(ingress, "spec", "rules") or []
        if rule.get("host") == ingest.host
    ]
    if not rules:
        return [f"{where}: no rendered Ingress routes {ingest.host}"]
    ingress, rule = rules[0]
    problems = []
    tls_hosts = {
        h for entry in dig(ingress, "spec", "tls") or [] if entry.get("secretName") for h in entry.get("hosts") or []
    }
    if ingest.tls_secret_name is not None and ingest.host not in tls_hosts:
        problems.append(f"{where}: the Ingress for {ingest.host} has no TLS")
    namespace = str(dig(ingress, "metadata", "namespace"))
    backends = [dig(path, "backend", "service") or {} for path in dig(rule, "http", "paths") or []]
    services = by_kind(objects, "Service")
    for backend in backends:
        service = services.get((namespace, str(backend.get("name"))))
        port = next(
            (p for p in dig(service, "spec", "ports") or [] if p.get("port") == dig(backend, "port", "number")), None
        )
        if port is None:
            problems.append(f"{where}: the ingest Ingress routes to {backend}, which no rendered Service exposes")
            continue
        problems += _authenticated_receiver(where, collector, int(port["port"]))
    return problems


def _authenticated_receiver(where: str, collector: Collector, port: int) -> list[str]:
    config = collector.config
    pipelines = dig(config, "service", "pipelines") or {}
    found = [
        (name, receiver)
        for name, pipeline in sorted(pipelines.items())
        if name == "traces" or name.startswith("traces/")
        for receiver in pipeline.get("receivers") or []
        if str(dig(config, "receivers", receiver, "protocols", "http", "endpoint")).endswith(f":{port}")
    ]
    if not found:
        return [f"{where}: no receiver of the collector's traces pipelines listens on the ingest port {port}"]
    pipeline_name, receiver = found[0]
    pipeline = pipelines[pipeline_name]
    processors = pipeline.get("processors") or []
    if RESOURCE_PROCESSOR in processors:
        return [
            f"{where}: spans ingested from other clusters pass {RESOURCE_PROCESSOR}, which re-tags them as this one"
        ]
    if processors[:1] != [MEMORY_LIMITER] or pipeline.get("exporters") != dig(pipelines, "traces", "exporters"):
        return [f"{where}: the ingest pipeline {pipeline_name} must start with {MEMORY_LIMITER} and store like traces"]
    authenticator = dig(config, "receivers", receiver, "protocols", "http", "auth", "authenticator")
    if authenticator not in (dig(config, "service", "extensions") or []):
        return [f"{where}: the ingest receiver {receiver} is not authenticated by an enabled extension"]
    filename = str(dig(config, "extensions", authenticator, "filename"))
    pod = dig(collector.workload, "spec", "template", "spec") or {}
    secret_volumes = {v["name"] for v in pod.get("volumes") or [] if dig(v, "secret", "secretName")}
    mounts = [
        m
        for c in pod.get("containers") or []
        for m in c.get("volumeMounts") or []
        if m.get("name") in secret_volumes and filename.startswith(str(m.get("mountPath")).rstrip("/") + "/")
    ]
    if not mounts:
        return [f"{where}: the ingest token file {filename} is not on a mounted Secret"]
    return []


def _kiali_problems(where: str, settings: StackSettings, objects: list[Manifest]) -> list[str]:
    if not settings.kiali.enabled:
        return []
    config_map = by_kind(objects, "ConfigMap").get((settings.istio.namespace, naming.kiali_service_name()))
    config = yaml.safe_load(dig(config_map, "data", "config.yaml") or "") or {}
    wanted = prometheus_url(settings)
    seen = dig(config, "external_services", "prometheus", "url")
    if seen != wanted:
        return [f"{where}: Kiali reads Prometheus at {seen}, not {wanted}"]
    if ".svc." in wanted:  # in-cluster: the Service must exist in this stack or be the external one named
        host_port = wanted.split("//", 1)[1].split("/", 1)[0]
        host, _, port = host_port.partition(":")
        deployed = _service_port(by_kind(objects, "Service"), host, int(port or 80)) is not None
        if not deployed and not isinstance(settings.kiali.prometheus, ExternalPrometheus):
            return [f"{where}: Kiali reads Prometheus at {wanted}, which no rendered Service exposes"]
    return []


def webhook_problems(stack: str, objects: Iterable[Manifest]) -> list[str]:
    """Istio's validating webhooks (istiod's and the base chart's default-revision one) start as
    Fail: one that starts as Ignore is flipped to Fail by istiod later, a lasting diff of the release
    (istio/istio#44285)."""
    return [
        f"{stack}: {m.title} webhook {hook.get('name')} starts as {hook.get('failurePolicy')}, not Fail"
        for m in objects
        if m.key[1] == "ValidatingWebhookConfiguration" and "istio" in m.key[2]
        for hook in m.object.get("webhooks") or []
        if hook.get("failurePolicy") != "Fail"
    ]


def check(stack: str, settings: StackSettings, objects: list[Manifest]) -> Findings:
    """Every check above over one rendered stack."""
    crs = custom_resource_problems(stack, objects)
    problems = kubernetes_problems(stack, objects) + crs.problems + data_path_problems(stack, settings, objects)
    problems += webhook_problems(stack, objects)
    return Findings(problems, crs.not_evaluated)
