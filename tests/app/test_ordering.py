"""The order of a first `pulumi up`, read from the dependency graph each stack declares.

The Kubernetes provider awaits a Deployment or StatefulSet for 10 minutes from its creation. So a
workload is created only after what it needs to become Ready (the Secrets it reads, or what lets
its pods mount them), every custom resource that reports readiness is awaited, and nothing waits
on a slow resource it does not need (the store never waits for a database).
"""

from __future__ import annotations

from typing import Callable

import pytest

from components.data.database_roles import ROLES
from components.secrets import catalogue as cat
from tests.support import STACKS, kind_and_name, waits_for
from tools.golden import VARIANTS, variant_overrides
from tools.offline import StackRun
from tools.timeline import (
    DATABASE_SECRET,
    DATABASE_TYPES,
    JOB,
    WORKLOADS,
    database,
    pod_template,
    secret_producers,
    secrets_read,
    timeline,
)


@pytest.fixture(params=[(s, v) for s in STACKS for v in VARIANTS], ids=lambda p: f"{p[0]}-{p[1]}")
def run(request: pytest.FixtureRequest, stack_run: Callable[..., StackRun]) -> StackRun:
    stack, variant = request.param
    return stack_run(stack, variant_overrides(stack, variant))


def test_every_workload_is_created_after_the_secrets_it_reads(run: StackRun) -> None:
    produced = secret_producers(run)
    checked = 0
    for record in run.resources:
        if record.type not in WORKLOADS:
            continue
        namespace = record.inputs["metadata"]["namespace"]
        before = waits_for(run, record.urn)
        for secret in secrets_read(pod_template(record.inputs)):
            if secret == cat.DATABASE_APP.name:
                # Written after the roles Job, which runs once the database answers: api and auth
                # wait for what that Job waits for (the admin's Secret delivered), and their pods
                # start within a kubelet retry of it (tests/tools/test_timeline.py).
                secret = DATABASE_SECRET
            assert produced[(namespace, secret)] & before, (
                f"{record.inputs['metadata']['name']} may start before Secret {secret} exists"
            )
            checked += 1
    assert checked >= 10


def test_custom_resources_that_report_readiness_are_awaited(run: StackRun) -> None:
    awaited = ("ExternalSecret", "ClusterSecretStore", "SecretStore", "Certificate")
    # Each Certificate's issuer as the program declares it: only an ACME issuer goes through a
    # challenge (a CA or self-signed issuer signs at once).
    issuers = {
        (record.inputs["kind"], record.inputs["metadata"]["name"]): record.inputs["spec"]
        for record in run.resources
        if record.is_kubernetes_object and record.inputs.get("kind") in ("Issuer", "ClusterIssuer")
    }
    for record in run.resources:
        if not record.is_kubernetes_object or record.inputs.get("kind") not in awaited:
            continue
        annotations = record.inputs["metadata"].get("annotations") or {}
        kind, name = kind_and_name(run, record.urn)
        assert annotations.get("pulumi.com/waitFor") == "condition=Ready", f"{kind}/{name}"
        if kind == "Certificate":
            ref = record.inputs["spec"]["issuerRef"]
            issuer = ref["name"]
            # An issuer the program does not declare is the cluster's ACME issuer that the
            # stack names (routing's TLS issuer).
            spec = issuers.get((ref.get("kind", "Issuer"), issuer), {"acme": {}})
            acme = "acme" in spec
            # ACME issuance and DNS take minutes: twice a healthy issuance, and no more.
            expected = {"create": "20m", "update": "20m"} if acme else {}
            assert record.timeouts == expected, f"{name} ({issuer})"


def test_the_gateway_does_not_wait_for_its_certificates(run: StackRun) -> None:
    """An ACME HTTP-01 challenge is answered through the Gateway: a Gateway created after its
    awaited Certificate would wait for itself."""
    for record in run.resources:
        if record.is_kubernetes_object and record.inputs.get("kind") == "Gateway":
            before = {kind_and_name(run, urn)[0] for urn in waits_for(run, record.urn)}
            assert "Certificate" not in before and "EnvoyProxy" in before


def test_external_secrets_wait_for_their_store_and_no_store_waits_for_a_database(
    run: StackRun,
) -> None:
    stores = {
        r.inputs["metadata"]["name"]: r.urn
        for r in run.resources
        if r.is_kubernetes_object and r.inputs.get("kind") == "ClusterSecretStore"
    }
    databases = {r.urn for r in run.resources if r.type in DATABASE_TYPES}
    for urn in stores.values():
        assert not databases & waits_for(run, urn), kind_and_name(run, urn)
    for record in run.resources:
        if record.is_kubernetes_object and record.inputs.get("kind") == "ExternalSecret":
            store = record.inputs["spec"]["secretStoreRef"]["name"]
            before = waits_for(run, record.urn)
            assert stores[store] in before, record.inputs["metadata"]["name"]
            if record.inputs["metadata"]["name"] != "webapp-database":
                assert not databases & before, record.inputs["metadata"]["name"]


def test_only_the_services_that_check_the_database_wait_for_it(run: StackRun) -> None:
    """api and auth (their readiness checks the database) and the roles Job (it polls until the
    database answers) are done only after it, and the provider's await of them outlasts its
    creation, whether they are created after it (on AWS, through the admin's Secret) or with it.
    No other workload waits for it."""
    plan = timeline(run)
    checked = set()
    for record in run.resources:
        if record.type not in WORKLOADS:
            continue
        namespace, name = record.inputs["metadata"]["namespace"], record.inputs["metadata"]["name"]
        if record.type == JOB and not name.startswith(f"{ROLES}-"):
            continue  # a release gate: it waits for its Rollout, api's included
        parts = database(run, namespace)
        if record.urn in parts:
            continue
        before = waits_for(run, record.urn)
        # The applications read their login role's Secret (`webapp-database-app`), written once
        # the roles Job has run against the database; the database's own pods read the admin's.
        reads = secrets_read(pod_template(record.inputs))
        if name == "postgres-backup" or not {DATABASE_SECRET, cat.DATABASE_APP.name} & reads:
            assert not parts & before, f"{name} waits for the database"
            continue
        if record.type == "kubernetes:batch/v1:CronJob":
            continue
        step, ready = plan.steps[record.urn], max(plan.steps[urn].finish for urn in parts)
        assert step.finish > ready, name
        if not parts <= before:
            slowest = max(plan.steps[urn].own for urn in parts)
            assert step.timeout is not None and step.timeout > slowest, name
        checked.add(ROLES if record.type == JOB else name)
    assert checked == {"api", "auth", ROLES}
