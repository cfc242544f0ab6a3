"""InClusterNats under the recording mocks (`test_nats_server` runs its config in nats-server)."""

from __future__ import annotations

import dataclasses
import re
from typing import Optional

from components.config.quantities import seconds
from components.data.nats import ROUTE_TLS_DIR, InClusterNats, InClusterNatsArgs
from components.data.nats_tls import ROUTE_SECRET
from tests.support import SETTINGS, kind_and_name, objects, one, waits_for
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
    # One member has no routes: no certificate, nothing mounted.
    assert not objects(run, "Certificate") and not objects(run, "Issuer")
    assert "route-tls" not in str(one(run, "StatefulSet")["spec"]["template"]["spec"]["volumes"])


def test_nats_cluster_with_volumes_and_pdb() -> None:
    run = nats(3, True, monitoring="monitoring")
    conf = one(run, "ConfigMap")["data"]["nats.conf"]
    # Volumes kept where asked, but JetStream off (the applications use core NATS only).
    assert "jetstream" not in conf and "authorization {user: route" not in conf
    assert re.findall(r"nats://[^\s]+", conf) == [
        f"nats://nats-{i}.nats-headless.ns.svc.cluster.local:6222" for i in range(3)
    ]
    # Routes over mutual TLS with the mounted route certificate, no password anywhere.
    assert f'cert_file: "{ROUTE_TLS_DIR}/tls.crt"' in conf and "verify: true" in conf
    assert f'ca_file: "{ROUTE_TLS_DIR}/ca.crt"' in conf
    stateful_set = one(run, "StatefulSet")
    pod = stateful_set["spec"]["template"]["spec"]
    env = {e["name"] for e in pod["containers"][0]["env"]}
    assert not {name for name in env if "ROUTE" in name}
    (volume,) = [v for v in pod["volumes"] if v["name"] == "route-tls"]
    assert volume["secret"] == {"secretName": ROUTE_SECRET, "defaultMode": 0o440}
    assert {"name": "route-tls", "mountPath": ROUTE_TLS_DIR, "readOnly": True} in pod["containers"][
        0
    ]["volumeMounts"]
    # A renewed certificate restarts the members (Reloader), as a new password does.
    reload = stateful_set["metadata"]["annotations"]["secret.reloader.stakater.com/reload"]
    assert reload.split(",") == [ROUTE_SECRET, "webapp-nats"]
    assert one(run, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    assert (
        one(run, "StatefulSet")["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"][
            "storage"
        ]
        == "10Gi"
    )
    assert one(run, "ServiceMonitor")["spec"]["endpoints"][0]["port"] == "metrics"


def test_the_route_certificate_chain_and_its_order() -> None:
    """Self-signed root -> route CA (key kept on renewal) -> CA Issuer -> the members' Certificate
    (server and client auth, the headless Service's pod names, renewed well before expiry); each
    waits for the one before, and the StatefulSet for the members' Certificate, awaited Ready."""
    run = nats(3, False)
    issuers = {o["metadata"]["name"]: o["spec"] for o in objects(run, "Issuer")}
    assert issuers == {
        "nats-route-selfsigned": {"selfSigned": {}},
        "nats-route-ca": {"ca": {"secretName": "nats-route-ca"}},
    }
    certificates = {o["metadata"]["name"]: o for o in objects(run, "Certificate")}
    authority, leaf = certificates["nats-route-ca"], certificates["nats-route"]
    assert authority["spec"]["isCA"] is True
    assert authority["spec"]["issuerRef"]["name"] == "nats-route-selfsigned"
    assert authority["spec"]["privateKey"]["rotationPolicy"] == "Never"
    assert leaf["spec"]["issuerRef"] == {
        "kind": "Issuer",
        "name": "nats-route-ca",
        "group": "cert-manager.io",
    }
    assert leaf["spec"]["secretName"] == ROUTE_SECRET
    assert {"server auth", "client auth"} <= set(leaf["spec"]["usages"])
    assert leaf["spec"]["dnsNames"] == ["*.nats-headless.ns.svc.cluster.local"]
    assert leaf["spec"]["privateKey"]["rotationPolicy"] == "Always"
    for certificate in (authority, leaf):
        assert certificate["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
        # Renewed at least a month before expiry (a failed renewal is seen in time).
        assert seconds(certificate["spec"]["renewBefore"]) >= 30 * 86400
        assert seconds(certificate["spec"]["renewBefore"]) < seconds(
            certificate["spec"]["duration"]
        )
    # The CA renews before the last leaf signed by its old certificate could outlive it.
    assert seconds(authority["spec"]["renewBefore"]) > seconds(leaf["spec"]["duration"])
    order = ["Issuer/nats-route-selfsigned", "Certificate/nats-route-ca", "Issuer/nats-route-ca"]
    order += ["Certificate/nats-route", "StatefulSet/nats"]
    urns = {"/".join(kind_and_name(run, r.urn)): r.urn for r in run.resources if "::" in r.urn}
    for before, after in zip(order, order[1:], strict=False):
        assert urns[before] in waits_for(run, urns[after]), (before, after)
