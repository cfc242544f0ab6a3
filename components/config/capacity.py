"""Checks across sections, run once every section has parsed (pure; part of `parsing`).

The ResourceQuota must admit every workload at maximum scale, and on Azure with the CSI driver
the identity must hold every reader's federated credential.
"""

from __future__ import annotations

from typing import Callable

from components.config import quantities as q
from components.config.azure import (
    MAX_FEDERATED_CREDENTIALS,
    SECRET_SYNC_SERVICE_ACCOUNT,
    key_vault_readers,
)
from components.config.settings import Resources, Settings

EXPORTER = Resources(
    cpu_request="10m", memory_request="16Mi", cpu_limit="100m", memory_limit="64Mi"
)
POSTGRES_EXPORTER = Resources(
    cpu_request="10m", memory_request="32Mi", cpu_limit="100m", memory_limit="128Mi"
)
SECRET_SYNC = Resources(
    cpu_request="5m", memory_request="8Mi", cpu_limit="20m", memory_limit="16Mi"
)
BACKUP_JOB = Resources(
    cpu_request="50m", memory_request="64Mi", cpu_limit="500m", memory_limit="256Mi"
)
RELEASE_GATE = Resources(
    cpu_request="10m", memory_request="32Mi", cpu_limit="100m", memory_limit="128Mi"
)
"""A Rollout's release gate Job (`workloads.release_gate`)."""
SMOKE_JOB = Resources(
    cpu_request="10m", memory_request="16Mi", cpu_limit="100m", memory_limit="32Mi"
)
"""A release analysis' smoke Job (`workloads.analysis`): curl and a few requests."""
MESH_SIDECAR = Resources(
    cpu_request="50m", memory_request="64Mi", cpu_limit="500m", memory_limit="256Mi"
)
"""Istio's sidecar in every pod of the namespace when the mesh is on (istiod's
`global.proxy.resources`; Istio's own default limit of 2 CPUs per pod would not fit a quota)."""


def _capacity_needed(settings: Settings) -> list[tuple[int, tuple[Resources, ...]]]:
    """(pod count, container sizes) of every pod the stack can run at once.

    Counted: each service at maxReplicas plus one rolling-update surge pod (`pulumi up` may roll
    them all at once), or twice maxReplicas under a Rollout (a canary at full weight or a
    blue-green preview beside the stable pods), its release gate Job and its analysis' smoke Job
    (counted for every Rollout: whether one runs depends on the mesh and the service's metrics);
    NATS with its exporter
    sidecar, Redis, PostgreSQL with its exporter sidecar and its backup Job, the scheduler Job,
    the CSI sync pod where there is one, RabbitMQ's and Elasticsearch's nodes where they run, and
    with the mesh on, Istio's sidecar in every pod.
    """
    pods: list[tuple[int, tuple[Resources, ...]]] = []
    for service in settings.services.values():
        if service.progressive:
            pods += [
                (2 * service.max_replicas, (service.resources,)),
                (1, (RELEASE_GATE,)),
                (1, (SMOKE_JOB,)),
            ]
        else:
            pods.append((service.max_replicas + 1, (service.resources,)))
    for broker in (settings.rabbitmq, settings.elasticsearch):
        if broker.enabled and broker.resources is not None:
            pods.append((broker.replicas, (broker.resources,)))
    pods.append((settings.nats.replicas, (settings.nats.resources, EXPORTER)))
    pods.append((1, (settings.redis.resources,)))
    if settings.database.mode == "in-cluster":
        pods += [(1, (settings.database.resources, POSTGRES_EXPORTER)), (1, (BACKUP_JOB,))]
    if settings.scheduler.enabled:
        pods.append((1, (settings.scheduler.resources,)))
    if (
        settings.cloud == "azure"
        and settings.azure
        and SECRET_SYNC_SERVICE_ACCOUNT in {name for _, name in key_vault_readers(settings)}
    ):
        pods.append((1, (SECRET_SYNC,)))
    if settings.mesh.enabled:
        pods = [(count, (*containers, MESH_SIDECAR)) for count, containers in pods]
    return pods


def check_capacity(settings: Settings, problems: list[str]) -> None:
    """The ResourceQuota must admit every workload at its maximum scale, or scaling and rollouts
    stall (`_capacity_needed` says what is counted).
    """
    pods = _capacity_needed(settings)
    quota = settings.quota

    def total(size: Callable[[Resources], int]) -> int:
        return sum(
            count * size(container) for count, containers in pods for container in containers
        )

    try:
        need = {
            "requestsCpu": (
                total(lambda size: q.cpu_millis(size.cpu_request)),
                q.cpu_millis(quota.requests_cpu),
            ),
            "limitsCpu": (
                total(lambda size: q.cpu_millis(size.cpu_limit)),
                q.cpu_millis(quota.limits_cpu),
            ),
            "requestsMemory": (
                total(lambda size: q.memory_bytes(size.memory_request)),
                q.memory_bytes(quota.requests_memory),
            ),
            "limitsMemory": (
                total(lambda size: q.memory_bytes(size.memory_limit)),
                q.memory_bytes(quota.limits_memory),
            ),
        }
    except ValueError:
        return  # a bad quantity was already reported
    configured = {
        "requestsCpu": quota.requests_cpu,
        "limitsCpu": quota.limits_cpu,
        "requestsMemory": quota.requests_memory,
        "limitsMemory": quota.limits_memory,
    }
    for key, (needed, have) in need.items():
        if have < needed:
            amount = f"{needed}m CPU" if key.endswith("Cpu") else f"{-(-needed // 2**20)}Mi"
            problems.append(
                f"webapp:quota.{key}: {configured[key]!r} is below what the workloads need at "
                f"maximum scale ({amount}); raise it or lower maxReplicas/resources"
            )
    pod_count = sum(count for count, _ in pods)
    if quota.pods < pod_count:
        problems.append(
            f"webapp:quota.pods: {quota.pods} is below the pods needed at maximum scale "
            f"({pod_count})"
        )


def check_federated_credentials(settings: Settings, problems: list[str]) -> None:
    """With the CSI driver every reading ServiceAccount needs a credential on one identity."""
    if settings.azure is None or settings.cloud != "azure":
        return
    readers = key_vault_readers(settings)
    if len(readers) > MAX_FEDERATED_CREDENTIALS:
        problems.append(
            f"webapp:azure.secretDelivery: {settings.azure.delivery!r} needs {len(readers)} "
            f"federated credentials on one managed identity, more than the "
            f"{MAX_FEDERATED_CREDENTIALS} Azure allows; use external-secrets (one credential) or "
            "fewer workloads reading Key Vault"
        )
