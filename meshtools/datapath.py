"""The data path's rules, and every other post-deploy check a ClusterView can answer, written once.

The data path: istiod's mesh config (of each control plane) names the Zipkin provider at the
Service the stack reports to → that Service exposes the port and targets the receiver → it selects
a collector workload (SigNoz's collector, the tail sampler's trace router, or in remote mode the
k8s-infra agent) whose mounted config receives zipkin on that port in its traces pipeline, behind
memory_limiter → with tail sampling the router hands each trace to the sampler → in remote mode the
agent keeps spans on their node and exports to `signoz.remote.endpoint` with the key from the
program's Secret; with `signoz.ingest` an Ingress routes the ingest host to an authenticated receiver.

Each check is registered once (meshtools/postdeploy.py). The same functions read a live cluster
(`make verify`, through meshtools/verify/cluster.py) and a rendered stack (the tests, through
`ObjectsView`): those marked `offline` hold on both; the others need a running cluster (status,
pods, endpoints). This module imports no Kubernetes client.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from config.signoz import DeploySigNoz, RemoteSigNoz
from config.types import RemoteAuth
from kube import naming, revisions
from kube.collector_config import MEMORY_LIMITER, RESOURCE_PROCESSOR, limiter_first
from kube.resources import SECURITY_API, TELEMETRY_API
from kube.tree import dig
from meshtools import yamlio
from meshtools.clusterview import JSON, ClusterView, selects
from meshtools.postdeploy import Context, Result, Stage, Target, failed, post_deploy
from meshtools.sidecars import describe_skipped, restart_hint, survey_revisions, survey_sidecars

COLLECTOR_WORKLOADS = ("Deployment", "DaemonSet")
RUN_MAKE_UP = "run `make up` for this stack"


# --------------------------------------------------------------------------- reading the path


@dataclass(frozen=True)
class Collector:
    """A collector workload a Service selects, and the config file its mounted ConfigMap holds."""

    workload: JSON
    config: dict[str, Any]

    @property
    def title(self) -> str:
        return f"{self.workload.get('kind')} {dig(self.workload, 'metadata', 'name')}"


def split_fqdn(host: str) -> tuple[str, str] | None:
    """(namespace, name) of a `name.namespace.svc.<domain>` host, or None for another form."""
    parts = host.split(".")
    return (parts[1], parts[0]) if len(parts) >= 3 and parts[2] == "svc" else None


def service_port(service: JSON | None, port: int) -> JSON | None:
    return next((p for p in dig(service, "spec", "ports") or [] if p.get("port") == port), None)


def selected_collector(view: ClusterView, namespace: str, selector: Mapping[str, str]) -> Collector | None:
    """The collector config file of the Deployment or DaemonSet a Service selects (through its
    mounted ConfigMap)."""
    if not selector:
        return None
    for kind in COLLECTOR_WORKLOADS:
        for workload in view.list("apps/v1", kind, namespace):
            if not selects(selector, dig(workload, "spec", "template", "metadata", "labels")):
                continue
            for volume in dig(workload, "spec", "template", "spec", "volumes") or []:
                name = dig(volume, "configMap", "name")
                configmap = view.get("v1", "ConfigMap", namespace, str(name)) if name else None
                for text in (dig(configmap, "data") or {}).values():
                    config = yamlio.load(text) if isinstance(text, str) else None
                    if isinstance(config, dict) and dig(config, "service", "pipelines"):
                        return Collector(workload, config)
    return None


def zipkin_service(context: Context) -> tuple[str, str]:
    """(namespace, name) of the Service the mesh must report to."""
    found = split_fqdn(naming.zipkin_service_fqdn(context.settings))
    assert found is not None  # naming builds a service FQDN
    return found


def zipkin_collector(context: Context) -> Collector | None:
    namespace, name = zipkin_service(context)
    service = context.view.get("v1", "Service", namespace, name)
    return selected_collector(context.view, namespace, dig(service, "spec", "selector") or {})


def sampler_behind(view: ClusterView, router: Collector) -> tuple[Collector | None, list[str]]:
    """Tail sampling: the router hands each trace, by trace ID, to a Service whose collector receives
    OTLP on that port and runs span metrics, then the sampler, in its traces pipeline."""
    exporter = dig(router.config, "exporters", "loadbalancing") or {}
    resolver = dig(exporter, "resolver", "k8s") or {}
    if exporter.get("routing_key") != "traceID" or not resolver:
        return None, [f"the router does not route by traceID through a k8s resolver: {exporter}"]
    name, _, namespace = str(resolver.get("service")).partition(".")
    service = view.get("v1", "Service", namespace, name)
    ports = {p.get("port") for p in dig(service, "spec", "ports") or []}
    if service is None or not set(resolver.get("ports") or []) <= ports:
        return None, [f"the router resolves {resolver.get('service')}:{resolver.get('ports')}, not a Service port"]
    sampler = selected_collector(view, namespace, dig(service, "spec", "selector") or {})
    if sampler is None:
        return None, [f"Service {namespace}/{name} selects no workload with a collector config"]
    traces = dig(sampler.config, "service", "pipelines", "traces") or {}
    processors = list(traces.get("processors") or [])
    problems = []
    if "otlp" not in (traces.get("receivers") or []):
        problems.append(f"the sampler's traces pipeline receives {traces.get('receivers')}, not otlp")
    if "tail_sampling" not in processors or "signozspanmetrics/delta" not in processors:
        problems.append(f"the sampler's traces processors are {processors}")
    elif processors.index("signozspanmetrics/delta") > processors.index("tail_sampling"):
        problems.append(f"span metrics come after tail_sampling and would count only kept spans: {processors}")
    return sampler, problems


def storing_collector(context: Context) -> Collector | None:
    """The collector that stores (or, in remote mode, exports) the spans: the sampler behind the
    router with tail sampling, else the one the mesh reports to."""
    collector = zipkin_collector(context)
    if collector is None or not context.settings.tail_sampling.enabled:
        return collector
    return sampler_behind(context.view, collector)[0]


# --------------------------------------------------------------------------- each control plane


@post_deploy("istiod ready", stage=Stage.CONTROL_PLANES)
def istiod_ready(context: Context, target: Target) -> Result | None:
    if not context.view.runtime:
        return None
    namespace, name = context.settings.istio.namespace, target.control_plane.service
    deployment = context.view.get("apps/v1", "Deployment", namespace, name)
    if deployment is None:
        return Result(False, f"no Deployment {name} in {namespace}", RUN_MAKE_UP)
    ready = dig(deployment, "status", "readyReplicas") or 0
    wanted = dig(deployment, "spec", "replicas") or 1
    if ready < 1:
        return Result(False, f"0/{wanted} replicas ready", f"kubectl -n {namespace} describe deploy {name}")
    return Result(True, f"{ready}/{wanted} replicas ready")


@post_deploy("mesh config Zipkin provider", stage=Stage.CONTROL_PLANES, offline=True)
def mesh_provider(context: Context, target: Target) -> Result:
    """The control plane's mesh config names the provider, at the Service the stack reports to, and
    makes it (and Prometheus) the default."""
    istio = context.settings.istio
    fix = "run `make up`; check istiod's mesh ConfigMap (meshConfig is read only at the top level of the values)"
    configmap = context.view.get("v1", "ConfigMap", istio.namespace, target.control_plane.mesh_configmap)
    if configmap is None:
        return Result(False, f"no ConfigMap {istio.namespace}/{target.control_plane.mesh_configmap}", fix)
    mesh = yamlio.load(dig(configmap, "data", "mesh") or "") or {}
    problems = []
    tracing = dig(mesh, "defaultProviders", "tracing") or []
    if tracing != [istio.provider_name] or "prometheus" not in (dig(mesh, "defaultProviders", "metrics") or []):
        problems.append(f"mesh defaultProviders are {dig(mesh, 'defaultProviders')}")
    providers = {p.get("name"): p for p in mesh.get("extensionProviders") or [] if isinstance(p, Mapping)}
    zipkin = dig(providers.get(istio.provider_name), "zipkin")
    if not isinstance(zipkin, Mapping):
        return failed([*problems, f"no zipkin provider {istio.provider_name!r} in the mesh config"], fix)
    seen = f"{zipkin.get('service')}:{zipkin.get('port')}"
    expected = f"{naming.zipkin_service_fqdn(context.settings)}:{naming.ZIPKIN_PORT}"
    if seen != expected:
        problems.append(f"provider points at {seen}, expected {expected}")
    if problems:
        return failed(problems, fix)
    return Result(True, f"{istio.provider_name} → {seen}; default tracing providers {tracing}")


# --------------------------------------------------------------------------- the mesh


@post_deploy("mesh Telemetry", stage=Stage.MESH, offline=True)
def mesh_telemetry(context: Context, target: Target) -> Result:
    settings = context.settings
    provider, sampling = settings.istio.provider_name, settings.sampling_percent
    telemetry = context.view.get(TELEMETRY_API, "Telemetry", settings.istio.namespace, naming.MESH_TELEMETRY_NAME)
    if telemetry is None:
        return Result(False, f"no Telemetry {naming.MESH_TELEMETRY_NAME} in the root namespace", RUN_MAKE_UP)
    rules = dig(telemetry, "spec", "tracing") or []
    rule = rules[0] if rules else {}
    providers = [p.get("name") for p in rule.get("providers") or []]
    seen = rule.get("randomSamplingPercentage")
    shown = f"{seen:g}" if isinstance(seen, int | float) else str(seen)
    if provider not in providers or seen != sampling:
        detail = f"providers {providers}, sampling {shown} %; expected {provider}, {sampling:g} %"
        return Result(False, detail, RUN_MAKE_UP)
    return Result(True, f"provider {provider}, sampling {shown} %")


@post_deploy("mesh PeerAuthentication", stage=Stage.MESH, offline=True)
def peer_authentication(context: Context, target: Target) -> Result:
    mode = context.settings.mtls_mode.value
    policy = context.view.get(
        SECURITY_API, "PeerAuthentication", context.settings.istio.namespace, naming.PEER_AUTHENTICATION_NAME
    )
    seen = dig(policy, "spec", "mtls", "mode") if policy else None
    if seen != mode:
        return Result(False, f"mode {seen}, expected {mode}", RUN_MAKE_UP)
    return Result(True, f"mode {mode}")


# --------------------------------------------------------------------------- the collector


@post_deploy("{what} Service", stage=Stage.COLLECTOR, offline=True)
def zipkin_service_check(context: Context, target: Target) -> Result:
    """The Service exposes the Zipkin port and targets the receiver; in remote mode it keeps spans on
    their node; on a running cluster the port has ready endpoints."""
    namespace, name = zipkin_service(context)
    port = naming.ZIPKIN_PORT
    fix = "run `make up` and check the collector pods"
    service = context.view.get("v1", "Service", namespace, name)
    if service is None:
        return Result(False, f"no Service {namespace}/{name}", fix)
    exposed = service_port(service, port)
    if exposed is None:
        ports = [p.get("port") for p in dig(service, "spec", "ports") or []]
        return Result(False, f"Service {namespace}/{name} exposes {ports}, not {port}", fix)
    problems = []
    if exposed.get("targetPort") not in (port, "zipkin"):
        problems.append(f"Service {namespace}/{name} port {port} targets {exposed.get('targetPort')}")
    policy = dig(service, "spec", "internalTrafficPolicy")
    if context.settings.signoz.remote_mode and policy != "Local":
        problems.append(
            f"Service {namespace}/{name} has internalTrafficPolicy {policy}, not Local (spans would leave their node)"
        )
    if problems:
        return failed(problems, fix)
    if not context.view.runtime:
        return Result(True, f"port {port} → {exposed.get('targetPort')}")
    slices = context.view.list("discovery.k8s.io/v1", "EndpointSlice", namespace, {"kubernetes.io/service-name": name})
    ready = sum(
        1
        for s in slices
        if port in [p.get("port") for p in s.get("ports") or []]
        for e in s.get("endpoints") or []
        if dig(e, "conditions", "ready") is not False
    )
    if ready == 0:
        return Result(False, f"port {port} has no ready endpoints", f"kubectl -n {namespace} get pods")
    return Result(True, f"port {port} with {ready} ready endpoint(s)")


@post_deploy("{what} traces pipeline", stage=Stage.COLLECTOR, offline=True)
def zipkin_pipeline(context: Context, target: Target) -> Result:
    """The workload the Service selects receives zipkin on the port in its traces pipeline, on every
    interface, behind memory_limiter."""
    namespace, name = zipkin_service(context)
    port = naming.ZIPKIN_PORT
    collector = zipkin_collector(context)
    if collector is None:
        return Result(False, f"Service {namespace}/{name} selects no workload with a collector config", RUN_MAKE_UP)
    config = collector.config
    traces = dig(config, "service", "pipelines", "traces") or {}
    receivers, processors = traces.get("receivers"), traces.get("processors")
    endpoint = dig(config, "receivers", "zipkin", "endpoint")
    problems = []
    if "zipkin" not in (receivers or []):
        problems.append(f"{collector.title}: the traces pipeline receives {receivers}, not zipkin")
    if endpoint != f"0.0.0.0:{port}":
        problems.append(f"{collector.title}: the zipkin receiver listens on {endpoint}, not 0.0.0.0:{port}")
    if not limiter_first(processors):
        problems.append(
            f"{collector.title}: the traces processors start with {dig(processors, 0)}, not {MEMORY_LIMITER}"
        )
    if problems:
        return failed(problems, RUN_MAKE_UP)
    return Result(True, f"{collector.title}: traces receivers {receivers}, {MEMORY_LIMITER} first")


@post_deploy("tail sampler", stage=Stage.COLLECTOR, offline=True)
def tail_sampler(context: Context, target: Target) -> Result | None:
    if not context.settings.tail_sampling.enabled:
        return None
    router = zipkin_collector(context)
    if router is None:
        return Result(False, "no trace router (see the trace router traces pipeline check)", RUN_MAKE_UP)
    sampler, problems = sampler_behind(context.view, router)
    if problems or sampler is None:
        return failed(problems, RUN_MAKE_UP)
    return Result(True, f"{router.title} routes each trace by ID to {sampler.title}")


def _env_source(workload: JSON, variable: str) -> Any:
    for container in dig(workload, "spec", "template", "spec", "containers") or []:
        for entry in container.get("env") or []:
            if entry.get("name") == variable:
                return entry.get("valueFrom") or {"value": entry.get("value")}
    return None


def _key_from_secret(view: ClusterView, workload: JSON, headers: Mapping[str, Any]) -> list[str]:
    """Each auth header takes the key from an env var a secretKeyRef fills from an existing Secret."""
    referenced = [
        m for value in headers.values() for m in re.findall(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", str(value))
    ]
    if not referenced:
        return [f"the agent's exporter sends no key from the environment (headers {sorted(headers)})"]
    problems = []
    namespace = str(dig(workload, "metadata", "namespace"))
    for variable in referenced:
        source = _env_source(workload, variable)
        ref = dig(source, "secretKeyRef")
        if ref is None:
            problems.append(f"the agent's env {variable} is {source}, not a secretKeyRef")
            continue
        secret = view.get("v1", "Secret", namespace, str(ref.get("name")))
        if secret is None or ref.get("key") not in (secret.get("stringData") or secret.get("data") or {}):
            problems.append(f"the agent's env {variable} reads Secret {ref}, which no object provides")
    return problems


@post_deploy("agent exporter", stage=Stage.COLLECTOR, offline=True)
def agent_exporter(context: Context, target: Target) -> Result | None:
    """Remote mode: the traces pipeline exports to the endpoint, with the key from the Secret, and
    the agent serves the counters verify reads."""
    signoz = context.settings.signoz
    if not isinstance(signoz, RemoteSigNoz):
        return None
    agent = zipkin_collector(context)
    if agent is None:
        return Result(False, "no agent (see the agent traces pipeline check)", RUN_MAKE_UP)
    remote = signoz.remote
    exporters = dig(agent.config, "service", "pipelines", "traces", "exporters") or []
    to_endpoint = [e for e in exporters if dig(agent.config, "exporters", e, "endpoint") == remote.endpoint]
    if not to_endpoint:
        endpoints = [dig(agent.config, "exporters", e, "endpoint") for e in exporters]
        return Result(
            False, f"the agent's traces exporters {exporters} send to {endpoints}, not {remote.endpoint}", RUN_MAKE_UP
        )
    problems = []
    exporter = dig(agent.config, "exporters", to_endpoint[0]) or {}
    if remote.auth is not RemoteAuth.NONE:
        problems += _key_from_secret(context.view, agent.workload, exporter.get("headers") or {})
    reader = dig(agent.config, "service", "telemetry", "metrics", "readers", 0, "pull", "exporter", "prometheus")
    if reader is None:
        problems.append("the agent keeps the default metrics reader (localhost only), not 0.0.0.0")
    elif (reader.get("host"), reader.get("port")) != ("0.0.0.0", naming.COLLECTOR_METRICS_PORT):
        problems.append(
            f"the agent serves its own metrics on {reader.get('host')}:{reader.get('port')}, "
            f"not 0.0.0.0:{naming.COLLECTOR_METRICS_PORT}"
        )
    if problems:
        return failed(problems, RUN_MAKE_UP)
    return Result(True, f"{to_endpoint[0]} → {remote.endpoint}")


def _authenticated_receiver(collector: Collector, port: int) -> list[str]:
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
        return [f"no receiver of the collector's traces pipelines listens on the ingest port {port}"]
    pipeline_name, receiver = found[0]
    pipeline = pipelines[pipeline_name]
    processors = pipeline.get("processors") or []
    if RESOURCE_PROCESSOR in processors:
        return [f"spans ingested from other clusters pass {RESOURCE_PROCESSOR}, which re-tags them as this one"]
    if not limiter_first(processors) or pipeline.get("exporters") != dig(pipelines, "traces", "exporters"):
        return [f"the ingest pipeline {pipeline_name} must start with {MEMORY_LIMITER} and store like traces"]
    authenticator = dig(config, "receivers", receiver, "protocols", "http", "auth", "authenticator")
    if authenticator not in (dig(config, "service", "extensions") or []):
        return [f"the ingest receiver {receiver} is not authenticated by an enabled extension"]
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
        return [f"the ingest token file {filename} is not on a mounted Secret"]
    return []


@post_deploy("ingest", stage=Stage.COLLECTOR, offline=True)
def ingest(context: Context, target: Target) -> Result | None:
    """signoz.ingest: the ingest host → Ingress (TLS) → Service port → the authenticated receiver in
    the traces pipelines, whose token file is a mounted Secret."""
    signoz = context.settings.signoz
    if not isinstance(signoz, DeploySigNoz) or signoz.ingest is None:
        return None
    host = signoz.ingest.host
    collector = storing_collector(context)
    if collector is None:
        return Result(False, "no collector (see the traces pipeline checks)", RUN_MAKE_UP)
    rules = [
        (ingress, rule)
        for ingress in context.view.list("networking.k8s.io/v1", "Ingress", signoz.namespace)
        for rule in dig(ingress, "spec", "rules") or []
        if rule.get("host") == host
    ]
    if not rules:
        return Result(False, f"no Ingress routes {host}", RUN_MAKE_UP)
    ingress, rule = rules[0]
    problems = []
    tls_hosts = {
        h for entry in dig(ingress, "spec", "tls") or [] if entry.get("secretName") for h in entry.get("hosts") or []
    }
    if signoz.ingest.tls_secret_name is not None and host not in tls_hosts:
        problems.append(f"the Ingress for {host} has no TLS")
    backends = [dig(path, "backend", "service") or {} for path in dig(rule, "http", "paths") or []]
    for backend in backends:
        service = context.view.get("v1", "Service", signoz.namespace, str(backend.get("name")))
        port = service_port(service, dig(backend, "port", "number"))
        if port is None:
            problems.append(f"the ingest Ingress routes to {backend}, which no Service exposes")
            continue
        problems += _authenticated_receiver(collector, int(port["port"]))
    if problems:
        return failed(problems, RUN_MAKE_UP)
    return Result(True, f"{host} → {collector.title}, authenticated")


# --------------------------------------------------------------------------- each meshed namespace


@post_deploy("namespace {namespace} injection label", stage=Stage.NAMESPACES, offline=True)
def namespace_label(context: Context, target: Target) -> Result:
    key, value = revisions.injection_label(context.settings.istio, target.revision)
    namespace = context.view.get("v1", "Namespace", "", target.namespace)
    if namespace is None:
        return Result(False, f"namespace {target.namespace} does not exist", "create it, or set adopt: false (make up)")
    seen = (dig(namespace, "metadata", "labels") or {}).get(key)
    if seen != value:
        return Result(False, f"{key}={seen}", "run `make up`")
    return Result(True, f"{key}={value}")


def _pods(context: Context, target: Target) -> list[JSON] | None:
    """The namespace's pods on a running cluster whose namespace exists, else None (nothing to say)."""
    if not context.view.runtime or context.view.get("v1", "Namespace", "", target.namespace) is None:
        return None
    return context.view.list("v1", "Pod", target.namespace)


@post_deploy("namespace {namespace} sidecars", stage=Stage.NAMESPACES)
def sidecars(context: Context, target: Target) -> Result | None:
    pods = _pods(context, target)
    return None if pods is None else sidecars_of(pods, context.stack)


def sidecars_of(pods: Iterable[JSON], stack: str) -> Result:
    survey = survey_sidecars(pods)
    skipped = f"; left alone by the injector: {describe_skipped(survey.skipped)}" if survey.skipped else ""
    if not survey.missing:
        return Result(True, f"every running pod has istio-proxy{skipped}")
    listed = ", ".join(f"{kind}/{workload} ({len(p)} pod(s))" for (kind, workload), p in sorted(survey.missing.items()))
    return Result(False, f"without sidecar: {listed}{skipped}", restart_hint(stack))


@post_deploy("namespace {namespace} proxy revisions", stage=Stage.NAMESPACES)
def proxy_revisions(context: Context, target: Target) -> Result | None:
    pods = _pods(context, target)
    if pods is None:
        return None
    istio = context.settings.istio
    expected = revisions.resolve(istio, target.revision).annotation
    return revisions_of(pods, expected, [p.annotation for p in revisions.control_planes(istio)], context.stack)


def revisions_of(pods: Iterable[JSON], expected: str, listed: Iterable[str], stack: str) -> Result:
    """Every proxy of the namespace runs the revision its label selects; a proxy on a revision the stack
    no longer lists is named as such (its control plane is gone or about to go)."""
    behind = survey_revisions(pods, expected)
    if not behind:
        return Result(True, f"every proxy is on revision {expected}")
    known = set(listed)
    parts = []
    for (kind, workload), (revision, names) in sorted(behind.items()):
        gone = "" if revision in known else ", a revision the stack no longer lists"
        parts.append(f"{kind}/{workload} ({len(names)} pod(s) on {revision}{gone})")
    return Result(False, f"expected revision {expected}; " + ", ".join(parts), restart_hint(stack))
