"""The cluster a release runs in, as the controllers see it: pods per revision (with the sidecar
the injector adds in a meshed namespace), Services and the endpoints behind them.

Modelled from:
- Kubernetes' EndpointSlice controller: a Service's endpoints are the ready pods its selector
  matches (kubernetes v1.34 `pkg/controller/endpointslice/reconciler.go`; not-ready pods only
  with `publishNotReadyAddresses`).
- Argo Rollouts: a Rollout's pods carry their ReplicaSet's `rollouts-pod-template-hash` and are
  named `<rollout>-<hash>-<suffix>` (argo-rollouts v1.9.0 `pkg/apis/rollouts/v1alpha1/types.go`
  `DefaultRolloutUniqueLabelKey`, `rollout/replicaset.go`).
- Istio's injector: a pod of a namespace labelled `istio-injection: enabled` gets the
  `istio-proxy` container with the port `http-envoy-prom` (15090) and the label
  `security.istio.io/tlsMode: istio` (istio 1.30.3
  `manifests/charts/istio-control/istio-discovery/files/injection-template.yaml`), and, unless
  the pod says `prometheus.io/scrape: "false"`, its `prometheus.io` annotations pointed at the
  agent (15020, `/stats/prometheus`), which serves Envoy's statistics merged with the app's own
  (`pkg/kube/inject/webhook.go` `applyPrometheusMerge`, `getPrometheusScrape`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional

from components.config.metrics import MetricsSettings

REVISION = "rollouts-pod-template-hash"
STABLE = "6c9d8f7b5d"
"""The running revision's pod-template hash (any value of Argo's form)."""
CANARY = "7f4b9c6d84"
"""The released revision's."""
SIDECAR = "istio-proxy"
SIDECAR_PORT = ("http-envoy-prom", 15090)
AGENT_PORT = 15020


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: Mapping[str, str]
    ports: tuple[tuple[str, str, int], ...]
    """(container, port name, number) of every declared container port."""
    ready: bool = True
    annotations: Mapping[str, str] = field(default_factory=dict)
    """As admitted (Istio's injector rewrites the `prometheus.io` ones, see `pods_of`)."""
    merged_port: Optional[int] = None
    """In the mesh: the app's own metrics port, which the sidecar's agent serves merged with
    Envoy's statistics on 15020."""

    @property
    def revision(self) -> Optional[str]:
        return self.labels.get(REVISION)


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """A `matchLabels` selector (an empty one selects everything)."""
    return all(labels.get(key) == value for key, value in selector.items())


@dataclass
class Cluster:
    """The rendered objects of one stack, and the pods a release scenario runs."""

    objects: list[dict[str, Any]]
    pods: list[Pod] = field(default_factory=list)
    selectors: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    """(namespace, Service) -> its selector as the controller rewrote it."""
    contract: MetricsSettings = field(default_factory=MetricsSettings)
    """What each service's image publishes (the stack's `webapp:metrics`)."""

    def find(self, kind: str, name: str, namespace: str) -> Optional[dict[str, Any]]:
        for obj in self.objects:
            meta = obj.get("metadata", {})
            if (
                obj.get("kind") == kind
                and meta.get("name") == name
                and meta.get("namespace", namespace) == namespace
            ):
                return obj
        return None

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.objects if obj.get("kind") == kind]

    def meshed(self, namespace: str) -> bool:
        ns = self.find("Namespace", namespace, namespace)
        labels = ((ns or {}).get("metadata") or {}).get("labels") or {}
        return labels.get("istio-injection") == "enabled"

    def selector(self, namespace: str, service: str) -> dict[str, str]:
        found = self.selectors.get((namespace, service))
        if found is not None:
            return found
        obj = self.find("Service", service, namespace)
        assert obj is not None, f"no Service {namespace}/{service}"
        return dict(obj["spec"].get("selector") or {})

    def endpoints(self, namespace: str, service: str) -> list[Pod]:
        """The ready pods behind a Service (its current selector)."""
        obj = self.find("Service", service, namespace)
        if obj is None:
            return []
        selector = self.selector(namespace, service)
        not_ready = bool(obj["spec"].get("publishNotReadyAddresses"))
        return [
            pod
            for pod in self.pods
            if pod.namespace == namespace
            and selector
            and selects(selector, pod.labels)
            and (pod.ready or not_ready)
        ]


def pods_of(
    workload: dict[str, Any], revision: Optional[str], count: int, meshed: bool, ready: bool = True
) -> list[Pod]:
    """`count` pods of a workload's template at `revision` (None: a Deployment's own)."""
    meta, template = workload["metadata"], workload["spec"]["template"]
    labels = dict(template["metadata"].get("labels") or {})
    annotations = dict(template["metadata"].get("annotations") or {})
    merged: Optional[int] = None
    spec = template["spec"]
    ports = [
        (container["name"], port.get("name", ""), int(port["containerPort"]))
        for container in spec.get("containers", [])
        for port in container.get("ports") or []
    ]
    if revision is not None:
        labels[REVISION] = revision
    if meshed:
        labels["security.istio.io/tlsMode"] = "istio"
        ports.append((SIDECAR, *SIDECAR_PORT))
        if annotations.get("prometheus.io/scrape", "true") != "false":
            if "prometheus.io/port" in annotations:
                merged = int(annotations["prometheus.io/port"])
            annotations.update(
                {
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": str(AGENT_PORT),
                    "prometheus.io/path": "/stats/prometheus",
                }
            )
    prefix = f"{meta['name']}-{revision}" if revision else meta["name"]
    return [
        Pod(
            name=f"{prefix}-{index:05d}",
            namespace=meta["namespace"],
            labels=labels,
            ports=tuple(ports),
            ready=ready,
            annotations=annotations,
            merged_port=merged,
        )
        for index in range(count)
    ]


def static_pods(objects: Iterable[dict[str, Any]], meshed: Mapping[str, bool]) -> list[Pod]:
    """One ready pod of every Deployment and StatefulSet (what a release does not change)."""
    found: list[Pod] = []
    for obj in objects:
        if obj.get("kind") in ("Deployment", "StatefulSet"):
            namespace = obj["metadata"].get("namespace", "")
            found += pods_of(obj, None, 1, meshed.get(namespace, False))
    return found
