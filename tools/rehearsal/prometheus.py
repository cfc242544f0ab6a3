"""What Prometheus holds during a release, and what the analysis reads from it.

Targets, as prometheus-operator v0.86.x generates the scrape configuration
(`pkg/prometheus/promcfg.go`):
- a ServiceMonitor endpoint: one target per ready endpoint of each selected Service whose port
  name matches, labelled `namespace`, `service` (the Service it was discovered through), `pod`,
  `container`, `endpoint` (the port name) and `job` (the Service's name;
  `generateServiceMonitorConfig`);
- a PodMonitor endpoint: one target per selected pod's container port of that name, labelled
  `namespace`, `container`, `pod`, `job` (`<namespace>/<PodMonitor>`) and `endpoint`, then the
  endpoint's own `relabelings` (`generatePodMonitorConfig`).
With no monitor of the program's (monitoring off, an external Prometheus), the external one's
annotation job is modelled instead (`annotation_targets`). Prometheus' pod discovery lists init
containers' ports too (prometheus v3 `discovery/kubernetes/
pod.go`), so a native sidecar's port is a target like any other.

What the targets expose:
- kube-state-metrics v2.17.0 (`internal/store/pod.go`): `kube_pod_status_ready{namespace, pod,
  condition}` for every pod, one series per condition, scraped with `honorLabels` (the chart's
  ServiceMonitor), so `namespace` and `pod` are the pod's.
- An Istio sidecar (`reporter="destination"`): `istio_requests_total{response_code, ...}`, the
  requests its pod answered (Istio's standard metrics, istio 1.30.3 telemetry v2).
- An application's metrics port: the request counter its image's metrics contract names
  (`config.metrics`: the stack's `webapp:metrics.requests.<service>` preset, e.g. prometheus-net's
  `http_requests_received_total{code}`, read from prometheus-net v8.2.0's source), none for a
  service whose image publishes none.

The values come from the real `promtool`, evaluating each query as Argo sends it (with the
analysis argument filled) on those series.
"""

from __future__ import annotations

import functools
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

from .cluster import AGENT_PORT, SIDECAR, Cluster, Pod, selects

LOAD_PER_MINUTE = 600
"""Requests a minute each entry point sends (the scenarios' load)."""


@dataclass(frozen=True)
class Target:
    pod: Pod
    container: str
    port: str
    labels: Mapping[str, str]
    monitor: str
    exposes: frozenset[str]
    """`istio` (a sidecar's requests), `app` (the service's own metrics)."""

    @classmethod
    def of(
        cls, pod: Pod, container: str, port: str, labels: Mapping[str, str], monitor: str
    ) -> Target:
        """A target of a container port: what it exposes follows from the container."""
        return cls(pod, container, port, labels, monitor, _exposes(pod, container, port))


def _exposes(pod: Pod, container: str, port: str) -> frozenset[str]:
    if container == SIDECAR:
        return frozenset({"istio"})
    if port == "metrics" and container == pod.labels.get("app.kubernetes.io/name"):
        return frozenset({"app"})
    return frozenset()


def annotation_targets(cluster: Cluster) -> list[Target]:
    """An external Prometheus' `kubernetes-pods` job (the README's contract for one; Prometheus'
    `documentation/examples/prometheus-kubernetes.yml`, as the program's own Azure agent config):
    every pod annotated `prometheus.io/scrape: "true"`, at its annotated port and path, labelled
    `namespace` and `pod`."""
    found = []
    for pod in cluster.pods:
        if pod.annotations.get("prometheus.io/scrape") != "true":
            continue
        number = int(pod.annotations.get("prometheus.io/port", "0"))
        labels = {"namespace": pod.namespace, "pod": pod.name, "job": "kubernetes-pods"}
        if number == AGENT_PORT:
            exposes = {"istio"} | ({"app"} if pod.merged_port else set())
            found.append(
                Target(pod, SIDECAR, str(number), labels, "kubernetes-pods", frozenset(exposes))
            )
            continue
        for container, port_name, port in pod.ports:
            if port == number:
                found.append(Target.of(pod, container, port_name, labels, "kubernetes-pods"))
    return found


def _relabel(labels: dict[str, str], pod: Pod, relabelings: list[dict[str, Any]]) -> None:
    """`replace` relabelings from pod labels (the only kind the program writes)."""
    for relabeling in relabelings:
        assert relabeling.get("action", "replace") == "replace", relabeling
        sources = []
        for source in relabeling.get("sourceLabels", []):
            prefix = "__meta_kubernetes_pod_label_"
            assert source.startswith(prefix), source
            key = source[len(prefix) :]
            sources.append(
                next(
                    (v for k, v in pod.labels.items() if re.sub(r"[^a-zA-Z0-9_]", "_", k) == key),
                    "",
                )
            )
        value = relabeling.get("separator", ";").join(sources)
        if re.fullmatch(relabeling.get("regex", "(.*)"), value):
            labels[relabeling["targetLabel"]] = value


def targets(cluster: Cluster) -> list[Target]:
    """Every scrape target of the program's ServiceMonitors and PodMonitors."""
    return _pod_monitor_targets(cluster) + _service_monitor_targets(cluster)


def _pod_monitor_targets(cluster: Cluster) -> list[Target]:
    found: list[Target] = []
    for monitor in cluster.of_kind("PodMonitor"):
        spec, meta = monitor["spec"], monitor["metadata"]
        namespaces = spec.get("namespaceSelector", {}).get("matchNames", [meta["namespace"]])
        selector = spec["selector"].get("matchLabels", {})
        for endpoint in spec["podMetricsEndpoints"]:
            for pod in cluster.pods:
                if pod.namespace not in namespaces or not selects(selector, pod.labels):
                    continue
                for container, port_name, _ in pod.ports:
                    if port_name != endpoint.get("port"):
                        continue
                    labels = {
                        "namespace": pod.namespace,
                        "container": container,
                        "pod": pod.name,
                        "job": f"{meta['namespace']}/{meta['name']}",
                        "endpoint": port_name,
                    }
                    _relabel(labels, pod, endpoint.get("relabelings", []))
                    monitor_name = f"PodMonitor {meta['name']}"
                    found.append(Target.of(pod, container, port_name, labels, monitor_name))
    return found


def _service_monitor_targets(cluster: Cluster) -> list[Target]:
    found: list[Target] = []
    for monitor in cluster.of_kind("ServiceMonitor"):
        spec, meta = monitor["spec"], monitor["metadata"]
        namespaces = spec.get("namespaceSelector", {}).get("matchNames", [meta["namespace"]])
        selector = spec["selector"].get("matchLabels", {})
        for service in cluster.of_kind("Service"):
            smeta = service["metadata"]
            if smeta.get("namespace") not in namespaces:
                continue
            if not selects(selector, smeta.get("labels") or {}):
                continue
            ports = {p.get("name"): p for p in service["spec"].get("ports", [])}
            for endpoint in spec["endpoints"]:
                port = ports.get(endpoint.get("port"))
                if port is None:
                    continue
                target_port = port.get("targetPort", port["port"])
                for pod in cluster.endpoints(smeta["namespace"], smeta["name"]):
                    for container, port_name, number in pod.ports:
                        if target_port not in (port_name, number):
                            continue
                        labels = {
                            "namespace": pod.namespace,
                            "service": smeta["name"],
                            "pod": pod.name,
                            "container": container,
                            "job": smeta["name"],
                            "endpoint": endpoint["port"],
                        }
                        monitor_name = f"ServiceMonitor {meta['name']}"
                        found.append(Target.of(pod, container, port_name, labels, monitor_name))
    return found


def scraped_twice(found: list[Target]) -> list[str]:
    """A pod's port scraped by two targets doubles every series of it."""
    seen: dict[tuple[str, str, str], str] = {}
    problems = []
    for target in found:
        key = (target.pod.namespace, target.pod.name, target.port)
        if key in seen:
            problems.append(
                f"{key[0]}/{key[1]}:{key[2]} is scraped twice ({seen[key]}, {target.monitor} "
                f"via {target.labels.get('service', '-')})"
            )
        seen.setdefault(key, f"{target.monitor} via {target.labels.get('service', '-')}")
    return problems


def _selector(labels: Mapping[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def series(
    cluster: Cluster, found: list[Target], answered: Mapping[str, tuple[float, float]]
) -> list[dict[str, str]]:
    """The input series: readiness of every pod, and request counters where a target exposes
    them (an image's as the stack's metrics contract names them, `cluster.contract`).
    `answered`: pod -> (good, failed) requests a minute (a pod absent answered none)."""
    out: list[dict[str, str]] = []
    for pod in cluster.pods:
        for condition in ("true", "false", "unknown"):
            current = "true" if pod.ready else "false"
            labels = {"namespace": pod.namespace, "pod": pod.name, "condition": condition}
            out.append(
                {
                    "series": "kube_pod_status_ready" + _selector(labels),
                    "values": "1x20" if condition == current else "0x20",
                }
            )
    for target in found:
        good, failed = answered.get(target.pod.name, (0.0, 0.0))
        if good == failed == 0:
            continue  # no request yet: the counters do not exist
        families = []
        if "istio" in target.exposes:
            families.append(("istio_requests_total", "response_code", {"reporter": "destination"}))
        published = cluster.contract.published(target.pod.labels.get("app.kubernetes.io/name", ""))
        if "app" in target.exposes and published is not None:
            families.append((published.counter, published.code, {}))
        for name, code, extra in families:
            for status, rate in (("200", good), ("500", failed)):
                labels = {**target.labels, **extra, code: status}
                out.append({"series": name + _selector(labels), "values": f"0+{rate:g}x20"})
    return out


GOT = re.compile(
    r'expr: "(?P<expr>(?:[^"\\]|\\.)*)", time: [^\n]*\n\s*exp: [^\n]*\n\s*got: (?P<got>[^\n]*)'
)


def evaluate(queries: list[str], input_series: list[dict[str, str]]) -> dict[str, Optional[float]]:
    """Each query's first sample at 10 minutes, as the real promtool computes it (None: empty)."""
    tests = [
        {
            "interval": "1m",
            "input_series": input_series,
            "promql_expr_test": [
                {"expr": query, "eval_time": "10m", "exp_samples": []} for query in queries
            ],
        }
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rehearsal.yaml"
        path.write_text(
            yaml.safe_dump({"rule_files": [], "evaluation_interval": "1m", "tests": tests})
        )
        result = subprocess.run(
            [promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=120
        )
    output = result.stdout + result.stderr
    values: dict[str, Optional[float]] = {query: None for query in queries}
    if result.returncode == 0:
        return values  # every query returned nothing, as each test expected
    for match in GOT.finditer(output):
        expr = match["expr"].encode().decode("unicode_escape")
        got = match["got"].strip()
        if got in ("nil", "[]", ""):
            continue
        number = got.split("}", 1)[1].split(",", 1)[0].strip()
        values[expr] = float(number)
    unknown = [q for q in queries if q not in values]
    assert not unknown and ("FAILED" in output or not queries), output
    for error in ("parse error", "could not", "bad_data"):
        assert error not in output, output
    return values


@functools.cache
def promtool() -> str:
    for candidate in ("promtool", "/usr/bin/promtool"):
        found = subprocess.run(["which", candidate], capture_output=True, text=True).stdout.strip()
        if found:
            return found
    raise FileNotFoundError("promtool is not installed (Debian: apt-get install prometheus)")
