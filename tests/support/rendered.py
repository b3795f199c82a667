"""Check what the charts make of the program's values: the rendered objects, not just the inputs.

The value-path checks in conformance.py cannot see a template that drops a value, a value of the
wrong type, or a port that never reaches a Service. These checks read the rendered stream
(`meshtools.manifests`, CRDs whole):

- every built-in object validates against the Kubernetes API schemas of every supported version;
- every custom resource validates against its CRD from the same stream: the OpenAPI schema and the
  CEL rules (`x-kubernetes-validations`, evaluated with cel-python). A rule that calls a function of
  Kubernetes' own CEL libraries is listed as not evaluated, never passed silently;
- the data path holds end to end, by the rules `make verify` runs on the cluster
  (meshtools/datapath.py, every check registered `offline`): istiod's mesh ConfigMap names a Zipkin
  provider at the Service the stack reports to, which exposes the port and selects a collector (the
  SigNoz collector's Deployment, the trace router, or in remote mode the k8s-infra agent's DaemonSet)
  whose rendered config receives `zipkin` on that port in its traces pipeline, behind memory_limiter;
  with tail sampling the router reaches the sampler; in remote mode the agent keeps spans on their
  node and exports to `signoz.remote.endpoint` with the key from the program's Secret; with
  `signoz.ingest` the Ingress routes the ingest host (with TLS when configured) to a receiver that
  checks a bearer token read from the mounted ingest-key Secret;
- Kiali's rendered config reads the Prometheus the stack uses.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import celpy
from celpy.adapter import json_to_cel
from celpy.celtypes import BoolType
from celpy.evaluation import CELEvalError

from config.kiali import ExternalPrometheus
from config.stack import StackSettings
from kube import naming
from kube.tree import dig
from meshtools import postdeploy, yamlio
from meshtools.clusterview import ObjectsView
from meshtools.datapath import service_port, split_fqdn
from meshtools.desired import desired_state
from meshtools.manifests import Manifest, stack_manifests
from meshtools.postdeploy import Context
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
    checked: list[str] = field(default_factory=list)  # the post-deploy checks that ran on the objects


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


def data_path(stack: str, settings: StackSettings, objects: list[Manifest]) -> list[postdeploy.Check]:
    """Every post-deploy check that holds on rendered objects (meshtools/datapath.py, the same rules
    `make verify` runs on the cluster)."""
    return postdeploy.run(Context(ObjectsView(m.object for m in objects), settings, stack), offline=True)


def data_path_problems(stack: str, settings: StackSettings, objects: list[Manifest]) -> list[str]:
    """The data path's failed checks, then Kiali's Prometheus."""
    where = f"{stack}: rendered"
    problems = [f"{where}: {c.name}: {c.detail}" for c in data_path(stack, settings, objects) if not c.ok]
    return problems + _kiali_problems(where, settings, objects)


def _kiali_problems(where: str, settings: StackSettings, objects: list[Manifest]) -> list[str]:
    if not settings.kiali.enabled:
        return []
    config_map = by_kind(objects, "ConfigMap").get((settings.istio.namespace, naming.kiali_service_name()))
    config = yamlio.load(dig(config_map, "data", "config.yaml") or "") or {}
    wanted = prometheus_url(settings)
    seen = dig(config, "external_services", "prometheus", "url")
    if seen != wanted:
        return [f"{where}: Kiali reads Prometheus at {seen}, not {wanted}"]
    if ".svc." in wanted:  # in-cluster: the Service must exist in this stack or be the external one named
        host_port = wanted.split("//", 1)[1].split("/", 1)[0]
        host, _, port = host_port.partition(":")
        found = split_fqdn(host)
        service = by_kind(objects, "Service").get(found) if found else None
        deployed = service_port(service, int(port or 80)) is not None
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
    checks = data_path(stack, settings, objects)
    where = f"{stack}: rendered"
    problems = kubernetes_problems(stack, objects) + crs.problems
    problems += [f"{where}: {c.name}: {c.detail}" for c in checks if not c.ok] + _kiali_problems(
        where, settings, objects
    )
    problems += webhook_problems(stack, objects)
    return Findings(problems, crs.not_evaluated, [c.name for c in checks])
