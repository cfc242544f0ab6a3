"""InClusterNats under the recording mocks (`test_nats_server` runs its config in nats-server)."""

from __future__ import annotations

import dataclasses
import re
from typing import Optional

from components.data.nats import InClusterNats, InClusterNatsArgs
from tests.support import SETTINGS, objects, one
from tools.offline import StackRun, run_components


def nats(replicas: int, persistence: bool, monitoring: Optional[str] = None) -> StackRun:
    settings = dataclasses.replace(SETTINGS.nats, replicas=replicas, persistence=persistence)
    return run_components(
        lambda: InClusterNats(
            "n",
            InClusterNatsArgs(
                namespace="ns",
                instance="t",
                settings=settings,
                clients=("api",),
                monitoring_namespace=monitoring,
                service_monitor=monitoring is not None,
            ),
        )
    )


def test_nats_single_node_has_no_cluster_block_and_no_pdb() -> None:
    run = nats(1, False)
    conf = one(run, "ConfigMap")["data"]["nats.conf"]
    assert "cluster {" not in conf and "jetstream" not in conf
    assert not objects(run, "PodDisruptionBudget")
    names = {o["metadata"]["name"] for o in objects(run, "Service")}
    assert names == {"nats", "nats-headless", "nats-metrics"}
    containers = [
        c["name"] for c in one(run, "StatefulSet")["spec"]["template"]["spec"]["containers"]
    ]
    assert containers == ["nats", "nats-exporter"]


def test_nats_cluster_with_volumes_and_pdb() -> None:
    run = nats(3, True, monitoring="monitoring")
    conf = one(run, "ConfigMap")["data"]["nats.conf"]
    # Volumes kept where asked, but JetStream off (the applications use core NATS only).
    assert len(re.findall(r"\$NATS_ROUTE_\d", conf)) == 3 and "jetstream" not in conf
    env = {
        e["name"]: e
        for e in one(run, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert [env[f"NATS_ROUTE_{i}"]["value"].split("@")[1] for i in range(3)] == [
        f"nats-{i}.nats-headless.ns.svc.cluster.local:6222" for i in range(3)
    ]
    # The route URL is composed by Kubernetes from the password's reference, defined before it.
    names = list(env)
    assert env["NATS_ROUTE_0"]["value"].startswith("nats://route:$(NATS_ROUTE_PASSWORD)@")
    assert names.index("NATS_ROUTE_PASSWORD") < names.index("NATS_ROUTE_0")
    assert env["NATS_ROUTE_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "webapp-nats",
        "key": "route-password",
    }
    assert one(run, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    assert (
        one(run, "StatefulSet")["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"][
            "storage"
        ]
        == "10Gi"
    )
    assert one(run, "ServiceMonitor")["spec"]["endpoints"][0]["port"] == "metrics"
