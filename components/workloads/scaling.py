"""How many pods an HttpService runs, and how many may go at once: its scaler and its disruption
budget, declared as the service's children (`<name>-hpa`, `<name>-scaledobject`, `<name>-pdb`).

Creates, parented to the HttpService:
- HorizontalPodAutoscaler autoscaling/v2 (autoscaler `hpa`: CPU and memory utilisation), or a
  KEDA ScaledObject (`keda`: CPU, memory and the service's load trigger), aimed at the
  Deployment or at the Rollout's scale subresource; the workload's count is the scaler's after
  the first apply (`ignore_changes` on the workload's replicas)
- PodDisruptionBudget (one pod at a time) when more than one replica may run

In time: the scaler and the budget are created with the workload and need nothing from it; a
ScaledObject waits for KEDA's CRDs (the delivery add-ons). A later change of either updates it in
place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.config.catalogue import LoadTrigger
from components.config.metrics import RequestSeries
from components.config.settings import ServiceSettings
from components.kube import objects as kx

from .release import ROLLOUT_API, custom_resource

KEDA_API = "keda.sh/v1alpha1"


@dataclass(frozen=True, kw_only=True)
class ScalingArgs:
    app: str
    """The workload's name (the scaler's target, the budget's selector)."""
    namespace: str
    """The workload's namespace."""
    instance: str
    """The stack name (the budget's selector)."""
    labels: Mapping[str, str]
    """Object labels (without the version)."""
    settings: ServiceSettings
    """The autoscaling bounds, the scaler and the delivery (what is scaled)."""
    load_trigger: Optional[LoadTrigger] = None
    """The service's KEDA load trigger (with `settings.autoscaling.load_threshold`)."""
    requests: Optional[RequestSeries] = None
    """Who counts the pods' requests (their image's metrics contract, or their sidecars), for a
    trigger on requests. Default: nobody."""
    prometheus_url: Optional[str] = None
    """The Prometheus a load trigger queries."""


def target(args: ScalingArgs) -> dict[str, str]:
    """What the scaler scales: the Deployment, or the Rollout (its scale subresource)."""
    if args.settings.progressive:
        return {"apiVersion": ROLLOUT_API, "kind": "Rollout", "name": args.app}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "name": args.app}


def _utilisation(resource: str, percent: int) -> k8s.autoscaling.v2.MetricSpecArgs:
    return k8s.autoscaling.v2.MetricSpecArgs(
        type="Resource",
        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
            name=resource,
            target=k8s.autoscaling.v2.MetricTargetArgs(
                type="Utilization", average_utilization=percent
            ),
        ),
    )


def declare_scaling(
    name: str,
    args: ScalingArgs,
    child: pulumi.ResourceOptions,
    delivery_opts: pulumi.ResourceOptions,
) -> None:
    """Declare the scaler and the budget (module docstring)."""
    settings = args.settings
    if settings.autoscaling and settings.keda:
        _scaled_object(name, args, delivery_opts)
    elif settings.autoscaling:
        hpa = settings.autoscaling
        ref = target(args)
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata=kx.metadata(args.app, args.namespace, dict(args.labels)),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version=ref["apiVersion"], kind=ref["kind"], name=ref["name"]
                ),
                min_replicas=hpa.min_replicas,
                max_replicas=hpa.max_replicas,
                metrics=[
                    _utilisation("cpu", hpa.cpu_percent),
                    _utilisation("memory", hpa.memory_percent),
                ],
                behavior=k8s.autoscaling.v2.HorizontalPodAutoscalerBehaviorArgs(
                    scale_up=k8s.autoscaling.v2.HPAScalingRulesArgs(
                        stabilization_window_seconds=60
                    ),
                    scale_down=k8s.autoscaling.v2.HPAScalingRulesArgs(
                        stabilization_window_seconds=300
                    ),
                ),
            ),
            opts=child,
        )
    if settings.min_replicas > 1:
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=kx.metadata(args.app, args.namespace, dict(args.labels)),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1,
                selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels=kx.selector(args.app, args.instance)
                ),
                unhealthy_pod_eviction_policy="AlwaysAllow",
            ),
            opts=child,
        )


def _scaled_object(name: str, args: ScalingArgs, delivery_opts: pulumi.ResourceOptions) -> None:
    """KEDA's ScaledObject: CPU and memory as the HPA would (70 % / 80 %), and the service's
    load trigger where it has one. KEDA creates and owns an HPA `keda-hpa-<name>` for it, so
    the program never declares an HPA beside it."""
    settings = args.settings
    scaling = settings.autoscaling
    assert scaling is not None
    triggers: list[dict[str, Any]] = [
        {
            "type": "cpu",
            "metricType": "Utilization",
            "metadata": {"value": str(scaling.cpu_percent)},
        },
        {
            "type": "memory",
            "metricType": "Utilization",
            "metadata": {"value": str(scaling.memory_percent)},
        },
    ]
    if args.load_trigger is not None and scaling.load_threshold is not None:
        assert args.prometheus_url, "a load trigger needs a Prometheus (config check)"
        trigger = args.load_trigger
        requests = ""
        if trigger.pods:
            assert args.requests, "a request trigger needs a request count (config check)"
            requests = args.requests.of_pods(args.namespace, trigger.pods)
        triggers.append(
            {
                "type": "prometheus",
                "name": "load",
                "metadata": {
                    "serverAddress": args.prometheus_url,
                    "query": trigger.query.format(namespace=args.namespace, requests=requests),
                    "threshold": str(scaling.load_threshold),
                },
            }
        )
    custom_resource(
        f"{name}-scaledobject",
        "ScaledObject",
        kx.metadata(args.app, args.namespace, dict(args.labels)),
        {
            "scaleTargetRef": target(args),
            "minReplicaCount": scaling.min_replicas,
            "maxReplicaCount": scaling.max_replicas,
            "pollingInterval": 30,
            "cooldownPeriod": 300,
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {
                        "scaleUp": {"stabilizationWindowSeconds": 60},
                        "scaleDown": {"stabilizationWindowSeconds": 300},
                    }
                }
            },
            "triggers": triggers,
        },
        delivery_opts,
        KEDA_API,
    )
