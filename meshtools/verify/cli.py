"""`make verify|restart|set-retention|open STACK=…`: prove tracing works, move workloads into the
mesh, apply the trace retention, open SigNoz and Kiali on localhost. Reads the stack's settings
from Pulumi.<stack>.yaml (no Pulumi CLI needed) and talks to the cluster the stack names
(`kubernetes:context`), or the current kube context when it names none; `--context` overrides both."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from config.signoz import RemoteSigNoz
from config.stack import StackSettings
from kube import naming, revisions
from kube.collector_config import resource_attributes
from meshtools import datapath, postdeploy, sidecars  # importing datapath registers its checks
from meshtools.cli import UsageError, run_command
from meshtools.postdeploy import Check, Context, Found, Options, Result, Stage, post_deploy
from meshtools.stacks import PROJECT_DIR, load_stack
from meshtools.verify import agent, checks
from meshtools.verify.clickhouse import (
    QueryError,
    explain_failure,
    mesh_spans_query,
    parse_rows,
    proxy_failure,
    user_access,
    wait_for_trace,
)
from meshtools.verify.cluster import ApiRefusedError, ClusterError, KubeCluster, LiveView
from meshtools.verify.forward import Relay, Target, kiali_login, listen, ready_pod
from meshtools.verify.restart import RESTARTABLE, refusal, restart_patch
from meshtools.verify.retention import Http, set_retention
from meshtools.verify.span import new_span_id, new_trace_id, verification_span
from meshtools.verify.tail import Case, verification_case
from program.wiring import mesh_processing

ACCEPTED = 202  # the Zipkin receiver's (and Envoy's notion of) success


def expected_attributes(settings: StackSettings) -> dict[str, str]:
    """What the collector's resource processor must have added to the verification span."""
    return {attribute["key"]: attribute["value"] for attribute in resource_attributes(mesh_processing(settings))}


def guarded(names: Sequence[str], run: Callable[[], Found]) -> Found:
    """The check's result, or its FAIL when the API server refused one of its reads: every check
    keeps its result whatever another one hits. An unreachable cluster still stops the run (exit 2)."""
    try:
        return run()
    except ApiRefusedError as refusal:
        return [refused(refusal)] * len(names)


def refused(refusal: ApiRefusedError) -> Result:
    detail = f"{refusal.method} {refusal.path} answered {refusal.status}: {refusal.message}"
    parts = refusal.path.strip("/").split("/")
    if refusal.status != 403 or "namespaces" not in parts:
        return Result(False, detail, "check the API server's answer")
    at = parts.index("namespaces")
    namespace, resource = (parts[at + 1], parts[at + 2]) if len(parts) > at + 2 else (parts[-1], "namespaces")
    verb = "list" if len(parts) == at + 3 else "get"  # a collection (the workloads a Service selects)
    return Result(
        False,
        detail,
        f"RBAC: your kube user may not {verb} {resource} (kubectl auth can-i {verb} {resource} -n {namespace})",
    )


class ClickHouse:
    """Queries to SigNoz's ClickHouse through the API server's service proxy, as the collector's user."""

    def __init__(self, cluster: KubeCluster, settings: StackSettings) -> None:
        self.cluster, self.namespace = cluster, settings.signoz.namespace
        collector = naming.collector_service_name()
        self.user = cluster.container_env(self.namespace, collector, "CLICKHOUSE_USER") or "admin"
        self.password = cluster.container_env(self.namespace, collector, "CLICKHOUSE_PASSWORD") or ""

    def query(self, sql: str) -> str:
        headers = {"X-ClickHouse-User": self.user, "X-ClickHouse-Key": self.password, "Content-Type": "text/plain"}
        response = self.cluster.proxy(
            "POST", self.namespace, naming.clickhouse_service(), naming.CLICKHOUSE_HTTP_PORT, "/",
            headers=headers, body=sql,
        )  # fmt: skip
        if response.status != 200:
            raise QueryError(response.status, response.body, response.headers)
        return response.body.decode()

    def failed(self, failure: QueryError) -> Result:
        """The check's FAIL, with the installation's user settings to tell auth from network refusals."""
        try:
            installation = self.cluster.custom(
                "clickhouse.altinity.com", "v1", self.namespace, "clickhouseinstallations", naming.clickhouse_service()
            )
        except ApiRefusedError:
            installation = None
        detail, fix = explain_failure(
            failure, user=self.user, password=self.password, access=user_access(installation, self.user),
            service=naming.clickhouse_service(), namespace=self.namespace,
        )  # fmt: skip
        return Result(False, detail, fix)


# How long past the sampler's decision wait verify still waits for the trace to be written.
TAIL_DECISION_MARGIN_SECONDS = 60


def round_trip_check(
    cluster: KubeCluster,
    settings: StackSettings,
    timeout: float,
    progress: Callable[[float], None],
    interval: float = 3.0,
) -> Result:
    ns, collector = settings.signoz.namespace, naming.collector_service_name()
    tail = settings.tail_sampling
    case: Case | None = None
    if tail.enabled:
        # The trace router receives Zipkin; the sampler stores the trace only if a policy keeps it.
        collector, case = naming.TRACE_ROUTER, verification_case(tail)
        if case is None:
            return Result(
                False,
                "no tail-sampling policy can keep a trace (keepErrors false, no slowerThanMs, percent 0)",
                "set mesh-tracing:tailSampling.keepErrors, slowerThanMs or percent",
            )
        timeout = max(timeout, tail.decision_wait_seconds + TAIL_DECISION_MARGIN_SECONDS)
    trace_id = case.trace_id() if case else new_trace_id()
    tags = {"verify": "true", **(case.tags if case else {})}
    start_us = int(time.time() * 1_000_000) - (case.duration_us if case else 0)
    span = verification_span(trace_id, new_span_id(), start_us, case.duration_us if case else 1000, tags=tags)
    posted = cluster.proxy("POST", ns, collector, naming.ZIPKIN_PORT, naming.ZIPKIN_PATH, body=[span])
    if posted.status != ACCEPTED:
        failure = QueryError(posted.status, posted.body, posted.headers)
        detail, fix = proxy_failure(failure, collector, ns) or (
            f"POST {naming.ZIPKIN_PATH} answered {posted.status}: {posted.text(200)}",
            "check the zipkin receiver and the collector logs",
        )
        return Result(False, detail, fix)
    clickhouse = ClickHouse(cluster, settings)
    try:
        arrival = wait_for_trace(
            clickhouse.query, trace_id, timeout_seconds=timeout, interval_seconds=interval, clock=time.monotonic,
            sleep=time.sleep, progress=progress,
        )  # fmt: skip
    except QueryError as failure:
        return clickhouse.failed(failure)
    result = checks.round_trip(arrival, expected_attributes(settings), timeout)
    if case is not None:
        result = Result(result.ok, f"{case.what}: {result.detail}", result.fix)
    return result


class Agents:
    """The remote-mode agents' counters, read from every agent pod through the pod proxy."""

    def __init__(self, cluster: KubeCluster, settings: StackSettings) -> None:
        self.cluster, self.namespace = cluster, settings.signoz.namespace

    def read(self) -> agent.Counters:
        pods = self.cluster.pods(self.namespace, naming.agent_selector_labels())
        texts = {}
        for pod in pods:
            if (pod.get("status") or {}).get("phase") != "Running":
                continue
            name = str(pod["metadata"]["name"])
            response = self.cluster.pod_proxy(
                "GET", self.namespace, name, naming.COLLECTOR_METRICS_PORT, naming.AGENT_METRICS_PATH
            )
            if response.status == 200:
                texts[name] = response.body.decode(errors="replace")
        return agent.total(texts)


def remote_round_trip(
    cluster: KubeCluster, settings: StackSettings, signoz: RemoteSigNoz, timeout: float, interval: float
) -> list[Result]:
    """POST a span to the agent Service; it must leave the cluster for `signoz.remote.endpoint`: the
    exporter's sent counter grows and nothing fails. Also whether sidecars had reported to the agents
    before it."""
    ns, service = settings.signoz.namespace, naming.agent_service_name()
    agents = Agents(cluster, settings)
    before = agents.read()
    span = verification_span(new_trace_id(), new_span_id(), int(time.time() * 1_000_000), tags={"verify": "true"})
    posted = cluster.proxy("POST", ns, service, naming.ZIPKIN_PORT, naming.ZIPKIN_PATH, body=[span])
    if posted.status != ACCEPTED:
        detail = f"POST {naming.ZIPKIN_PATH} to {service} answered {posted.status}: {posted.text(200)}"
        return [Result(False, detail, "check the agent pods and their zipkin receiver"), agent.receiving_check(before)]
    after, elapsed = agent.wait_for_export(
        agents.read, before, timeout_seconds=timeout, interval_seconds=interval, clock=time.monotonic, sleep=time.sleep
    )
    exported = agent.export_check(before, after, elapsed, signoz.remote.endpoint, timeout, namespace=ns)
    return [exported, agent.receiving_check(before)]


def mesh_spans_check(
    cluster: KubeCluster, settings: StackSettings, minutes: int, sidecars_missing: bool, stack: str
) -> Result:
    clickhouse = ClickHouse(cluster, settings)
    try:
        rows = parse_rows(clickhouse.query(mesh_spans_query(settings.environment, minutes)))
    except QueryError as failure:
        return clickhouse.failed(failure)
    return checks.mesh_spans(
        rows, settings.environment, minutes, settings.sampling_percent, sidecars_missing=sidecars_missing, stack=stack
    )


def render(results: list[Check], as_json: bool, out: TextIO) -> None:
    if as_json:
        json.dump([r.as_dict() for r in results], out, indent=2)
        out.write("\n")
        return
    width = max(len(r.name) for r in results) if results else 10
    for r in results:
        out.write(f"{'PASS' if r.ok else 'FAIL'}  {r.name:<{width}}  {r.detail}\n")
        if not r.ok and r.fix:
            out.write(f"      {'':<{width}}  fix: {r.fix}\n")
    failed = sum(not r.ok for r in results)
    out.write(f"{len(results) - failed} passed, {failed} failed\n")


def live(context: Context) -> KubeCluster:
    """The cluster behind a live run's view: the checks that send a span need its proxies."""
    assert isinstance(context.view, LiveView), "a check that sends a span runs only on a live cluster"
    return context.view.cluster


@post_deploy("span round trip", stage=Stage.ARRIVAL)
def span_round_trip(context: Context, target: postdeploy.Target) -> Result | None:
    if context.settings.signoz.remote_mode:
        return None
    options = context.options
    return round_trip_check(live(context), context.settings, options.timeout, options.progress, options.poll_interval)


@post_deploy("sidecar spans", stage=Stage.ARRIVAL)
def sidecar_spans(context: Context, target: postdeploy.Target) -> Result | None:
    if context.settings.signoz.remote_mode:
        return None
    missing = context.failed(datapath.sidecars)
    return mesh_spans_check(live(context), context.settings, context.options.mesh_window, missing, context.stack)


@post_deploy("span left the cluster", "sidecar spans reach the agent", stage=Stage.ARRIVAL)
def span_left_the_cluster(context: Context, target: postdeploy.Target) -> list[Result] | None:
    """Remote mode: the spans are stored elsewhere; follow them to the cluster's edge."""
    signoz, options = context.settings.signoz, context.options
    if not isinstance(signoz, RemoteSigNoz):
        return None
    return remote_round_trip(live(context), context.settings, signoz, options.timeout, options.poll_interval)


def cmd_verify(args: argparse.Namespace, cluster: KubeCluster, settings: StackSettings) -> int:
    """Every registered post-deploy check (meshtools/postdeploy.py), on the live cluster."""

    def progress(elapsed: float) -> None:
        if not args.json:
            sys.stderr.write(f"\rwaiting for the span in ClickHouse… {elapsed:4.0f} s")
            sys.stderr.flush()

    options = Options(args.timeout, args.poll_interval, args.mesh_window, progress)
    context = Context(LiveView(cluster), settings, args.stack, options)
    results = postdeploy.run(context, guard=guarded)
    if not args.json and not settings.signoz.remote_mode:
        sys.stderr.write("\n")
    render(results, args.json, sys.stdout)
    return 0 if all(r.ok for r in results) else 1


def restart_scopes(settings: StackSettings) -> list[tuple[str, str, bool]]:
    """(namespace, the revision its proxies must run, whether pods without a sidecar count) for every
    meshed namespace, and the gateway's namespace (whose pods are always injected) when it runs."""
    istio = settings.istio
    scopes = [
        (name, revisions.resolve(istio, revision).annotation, True)
        for name, revision in revisions.meshed_namespaces(settings).items()
    ]
    if istio.gateway.enabled:
        scopes.append((istio.gateway.namespace, revisions.resolve(istio, istio.gateway.revision).annotation, False))
    return scopes


def cmd_restart(args: argparse.Namespace, cluster: KubeCluster, settings: StackSettings) -> int:
    """Restart what the injector would inject, and what runs proxies of another revision than its
    namespace (or the gateway) now follows; say what it leaves alone and what cannot be restarted.

    Exit 1 when --apply left such a workload unrestarted (a paused Deployment), as
    `kubectl rollout restart` does; the others are still restarted.
    """
    now = datetime.now().astimezone()  # kubectl stamps the machine's local time
    blocked = 0
    for ns, expected, sidecars_count in restart_scopes(settings):
        if cluster.namespace(ns) is None:
            print(f"{ns}: namespace does not exist")
            continue
        pods = cluster.pods(ns)
        to_restart: dict[sidecars.Workload, str] = {}
        if sidecars_count:
            survey = sidecars.survey_sidecars(pods)
            to_restart = {w: f"{len(p)} pod(s) without sidecar" for w, p in survey.missing.items()}
            for (kind, name), (reason, skipped) in sorted(survey.skipped.items()):
                print(f"{ns}: skipped {kind}/{name} ({len(skipped)} pod(s)): {reason}; istiod never injects such pods")
        for workload, (running, moved) in sidecars.survey_revisions(pods, expected).items():
            to_restart.setdefault(workload, f"{len(moved)} pod(s) on revision {running}, not {expected}")
        for (kind, name), count in sorted(to_restart.items()):
            if kind not in RESTARTABLE:
                print(f"{ns}: {kind}/{name} has no controller to restart; delete the pod to re-create it")
                continue
            refused = refusal(kind, ns, name, cluster.workload(kind, ns, name), now)
            if refused is not None:
                print(f"{ns}: {refused.reason}; {refused.fix} ({count})")
                blocked += args.apply
            elif args.apply:
                cluster.patch_workload(kind, ns, name, restart_patch(now))
                print(f"{ns}: restarted {kind}/{name} ({count})")
            else:
                print(f"{ns}: would restart {kind}/{name} ({count})")
    if not args.apply:
        print("dry run: nothing was changed; add --apply to restart")
    return 1 if blocked else 0


def _proxy_http(cluster: KubeCluster, settings: StackSettings) -> Http:
    def http(method: str, path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, Any]:
        response = cluster.proxy(
            method, settings.signoz.namespace, naming.signoz_ui_service(), naming.SIGNOZ_UI_PORT, path,
            query=query, headers=headers,
        )  # fmt: skip
        try:
            return response.status, json.loads(response.body) if response.body else {}
        except json.JSONDecodeError:
            return response.status, response.body.decode(errors="replace")

    return http


def cmd_set_retention(args: argparse.Namespace, cluster: KubeCluster, settings: StackSettings) -> int:
    signoz = settings.signoz
    if isinstance(signoz, RemoteSigNoz):
        raise UsageError(
            "signoz.mode is remote: this cluster stores no traces; set the retention on the stack that runs "
            "SigNoz (make set-retention STACK=<central stack>)"
        )
    api_key = os.environ.get("SIGNOZ_API_KEY", "")
    if not api_key:
        raise UsageError(
            "set SIGNOZ_API_KEY to the key of a SigNoz service account with the Admin role "
            "(SigNoz → Settings → Service Accounts → New Service Account, then Keys → Add Key)"
        )
    result = set_retention(
        _proxy_http(cluster, settings), api_key, signoz.trace_retention_days,
        namespace=settings.signoz.namespace, wait=args.wait, timeout_seconds=args.timeout,
        interval_seconds=args.poll_interval, clock=time.monotonic, sleep=time.sleep,
    )  # fmt: skip
    print(result.message)
    return result.outcome.exit_code


def wait_for_interrupt() -> None:
    """Block until Ctrl-C (KeyboardInterrupt); tests replace it."""
    while True:
        time.sleep(3600)


def cmd_open(args: argparse.Namespace, cluster: KubeCluster, settings: StackSettings) -> int:
    """Forward SigNoz's UI (and Kiali, when the stack deploys it) to localhost until Ctrl-C. In remote
    mode SigNoz runs elsewhere: only Kiali is forwarded, and where SigNoz is is said."""
    targets = []
    if settings.signoz.remote_mode:
        central = settings.kiali.signoz_url or "the central SigNoz (set kiali.signozUrl to its URL)"
        if not settings.kiali.enabled:
            raise UsageError(f"nothing to open here: SigNoz runs elsewhere ({central}) and Kiali is disabled")
        print(f"SigNoz  {central}  (signoz.mode remote: not in this cluster)")
    else:
        targets.append(
            Target(
                "SigNoz", settings.signoz.namespace, naming.signoz_ui_service(), naming.SIGNOZ_UI_PORT, args.signoz_port
            )
        )
    if settings.kiali.enabled:
        kiali = Target("Kiali", settings.istio.namespace, naming.kiali_service_name(), naming.KIALI_PORT,
                       args.kiali_port, f"{naming.KIALI_WEB_ROOT}/")  # fmt: skip
        targets.append(kiali)

    def pod_for(target: Target) -> tuple[str, int]:
        service = cluster.service(target.namespace, target.service)
        found = ready_pod(service, cluster.endpoint_slices(target.namespace, target.service), target.port)
        if found is None:
            raise ClusterError(
                f"no ready pod behind Service {target.service}:{target.port} in {target.namespace}"
                + ("" if service else " (the Service does not exist: run `make up`)")
            )
        return found

    def connect(target: Target) -> tuple[Any, Callable[[], str | None]]:
        pod, port = pod_for(target)  # again per connection: follows the Service when pods change
        return cluster.port_forward(target.namespace, pod, port)

    relay = Relay(connect, lambda line: print(line, file=sys.stderr, flush=True))
    try:
        for target in targets:
            relay.listeners[target] = listen(target)
        chosen = {target: pod_for(target) for target in targets}
        relay.start()
        for target, (pod, port) in chosen.items():
            print(f"{target.title:<7} {target.url}  (Service {target.namespace}/{target.service}:{target.port}, "
                  f"pod {pod}:{port})")  # fmt: skip
        if settings.kiali.enabled:
            print(f"Kiali login: {kiali_login(settings, targets[-1])}")
        print("Ctrl-C stops the forwarding", flush=True)
        wait_for_interrupt()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        relay.stop()
    return 0


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a TCP port from 1 to 65535, not {text!r}")
    return int(text)


def _minutes(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1440:
        raise argparse.ArgumentTypeError(f"minutes from 1 to 1440, not {text!r}")
    return int(text)


Command = Callable[[argparse.Namespace, KubeCluster, StackSettings], int]


def parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """One subcommand per tool, each with its own flags; the stack and cluster flags are common."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--stack", required=True)
    common.add_argument("--stacks-dir", type=Path, default=PROJECT_DIR, help="where Pulumi.<stack>.yaml lives")
    common.add_argument("--context", help="kube context (default: the stack's kubernetes:context, else the current)")
    common.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    top = argparse.ArgumentParser(prog="python -m meshtools.verify.cli", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True, metavar="{verify,restart,set-retention,open}")

    subs: dict[str, argparse.ArgumentParser] = {}

    def command(name: str, run: Command, help: str) -> argparse.ArgumentParser:
        sub = subs[name] = commands.add_parser(name, parents=[common], help=help, description=help)
        sub.set_defaults(run=run)
        return sub

    verify = command("verify", cmd_verify, "every post-deploy check, from the mesh config to a span stored")
    verify.add_argument("--json", action="store_true", help="machine-readable results")
    verify.add_argument("--timeout", type=float, default=120, help="seconds to wait for the span (default 120)")
    verify.add_argument("--poll-interval", type=float, default=3.0, help="seconds between polls (default 3)")
    window = "minutes back to look for sidecar spans (1 to 1440, default 15)"
    verify.add_argument("--mesh-window", type=_minutes, default=15, help=window)
    restart = command("restart", cmd_restart, "restart the workloads the injector would give a sidecar or a revision")
    restart.add_argument("--apply", action="store_true", help="really restart (default: a dry run)")
    retention = command("set-retention", cmd_set_retention, "apply signoz.traceRetentionDays through SigNoz's API")
    retention.add_argument("--wait", action="store_true", help="wait until ClickHouse has the new TTL")
    retention.add_argument("--timeout", type=float, default=120, help="seconds --wait waits (default 120)")
    retention.add_argument("--poll-interval", type=float, default=3.0, help="seconds between polls (default 3)")
    forward = command("open", cmd_open, "SigNoz's UI and Kiali on localhost until Ctrl-C")
    forward.add_argument("--signoz-port", type=_port, default=naming.SIGNOZ_UI_PORT, help="local port for SigNoz")
    forward.add_argument("--kiali-port", type=_port, default=naming.KIALI_PORT, help="local port for Kiali")
    return top, subs


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments; a flag of another command is refused with the command that takes it."""
    top, subs = parser()
    args, unknown = top.parse_known_args(argv)
    if unknown:
        owners = {
            flag: name
            for name, sub in subs.items()
            if name != args.command
            for action in sub._actions
            for flag in action.option_strings
        }
        flags = [u.split("=", 1)[0] for u in unknown]
        taken = "; ".join(f"{flag} is a flag of {owners[flag]}" for flag in flags if flag in owners)
        subs[args.command].error(f"unrecognized arguments: {' '.join(unknown)}" + (f" ({taken})" if taken else ""))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    stack = load_stack(args.stack, args.stacks_dir)
    cluster = KubeCluster.connect(args.context or stack.kube_context, args.kubeconfig)
    run: Command = args.run
    return run(args, cluster, stack.settings)


if __name__ == "__main__":
    sys.exit(run_command(main))
