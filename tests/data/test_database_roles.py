"""The database roles Job and its Secrets as every stack renders them (`data.database_roles`): the
applications read their login role, never the admin; the Job is restricted, reaches the database
only, runs again exactly when a generation's password changes, and comes before the clients'
Secret. The SQL itself runs on a real PostgreSQL in `test_database_roles_server.py`."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from components.secrets import catalogue as cat
from tests.support import STACKS, pod_specs, waits_for
from tools.offline import StackRun, run_stack

ROTATING = {"a": "2026-Q4", "b": "2027-Q1", "use": "a"}


def _app_secret(run: StackRun) -> dict[str, str]:
    """The clients' Secret's values, revealed (mock values)."""
    (found,) = [
        o
        for o in run.kubernetes_objects(reveal=True)
        if o["kind"] == "Secret" and o["metadata"]["name"] == cat.DATABASE_APP.name
    ]
    return dict(found["stringData"])


def _job(run: StackRun) -> dict[str, Any]:
    jobs = [
        o
        for o in run.kubernetes_objects()
        if o["kind"] == "Job" and o["metadata"]["name"].startswith("database-roles-")
    ]
    assert len(jobs) == 1, jobs
    return jobs[0]


@pytest.mark.parametrize("stack", STACKS)
def test_the_applications_read_their_login_role_not_the_admin(
    stack: str, stack_run: Callable[..., StackRun]
) -> None:
    run = stack_run(stack)
    readers = {}
    for name, spec, _ in pod_specs(run.kubernetes_objects(), jobs=True):
        for container in spec["containers"]:
            for env in container.get("env") or []:
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ref["name"] in (cat.DATABASE.name, cat.DATABASE_APP.name):
                    readers.setdefault(ref["name"], set()).add(name.split("/", 1)[1])
    assert {"api", "auth"} <= readers[cat.DATABASE_APP.name]
    # The admin's credentials: the roles Job, and in-cluster the server and its backups.
    admin = {name for name in readers[cat.DATABASE.name] if not name.startswith("database-roles")}
    assert admin <= {"postgres", "postgres-backup"}, admin
    secret = _app_secret(run)
    assert secret["username"] == "webapp_app_a"
    assert secret["url"].startswith("postgresql://webapp_app_a:")


@pytest.mark.parametrize("stack", STACKS)
def test_the_job_is_restricted_and_reaches_the_database_only(
    stack: str, stack_run: Callable[..., StackRun]
) -> None:
    run = stack_run(stack)
    job = _job(run)
    pod = job["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["image"].startswith("postgres:") and ":latest" not in container["image"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
    assert security["capabilities"]["drop"] == ["ALL"]
    # The psql variables are the verifiers; no password is in the Job's environment but the
    # admin's own.
    secrets = {
        env["name"]: env["valueFrom"]["secretKeyRef"]["name"]
        for env in container["env"]
        if "valueFrom" in env
    }
    assert secrets["VERIFIER_A"] == secrets["VERIFIER_B"] == cat.DATABASE_ROLES.name
    assert set(secrets.values()) == {cat.DATABASE.name, cat.DATABASE_ROLES.name}
    policy = run.find("NetworkPolicy", "database-roles")["spec"]
    assert policy["ingress"] == [] and policy["policyTypes"] == ["Ingress", "Egress"]
    assert [port["port"] for rule in policy["egress"] for port in rule["ports"]] == [5432] * len(
        policy["egress"]
    )
    # The in-cluster database admits it.
    if run.outputs.get("databaseMode", "in-cluster") == "in-cluster" and any(
        o["kind"] == "StatefulSet" and o["metadata"]["name"] == "postgres"
        for o in run.kubernetes_objects()
    ):
        admitted = run.find("NetworkPolicy", "postgres")["spec"]["ingress"]
        names = {
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
            for rule in admitted
            for peer in rule["from"]
            if "podSelector" in peer and peer["podSelector"]
        }
        assert "database-roles" in names


@pytest.mark.parametrize("stack", STACKS)
def test_the_clients_secret_waits_for_the_job_and_the_job_only_for_what_it_reads(
    stack: str, stack_run: Callable[..., StackRun]
) -> None:
    """The clients' Secret is written once the Job completed (the server accepts a generation
    before any client is given it). The Job waits for its verifiers and the admin's Secret, not
    for the database (its pod polls until it answers): on AWS that Secret needs RDS, elsewhere
    nothing waits for the database. api and auth wait for neither the Job nor that Secret."""
    run = stack_run(stack)
    by_kind = {
        (r.inputs.get("kind"), r.inputs["metadata"]["name"]): r.urn
        for r in run.resources
        if r.is_kubernetes_object
    }
    job = by_kind[("Job", _job(run)["metadata"]["name"])]
    secret = by_kind[("Secret", cat.DATABASE_APP.name)]
    assert job in waits_for(run, secret)
    before_job = waits_for(run, job)
    assert by_kind[("Secret", cat.DATABASE_ROLES.name)] in before_job
    rds = [r.urn for r in run.resources if r.type == "aws:rds/instance:Instance"]
    others = [
        r.urn
        for r in run.resources
        if r.type == "azure-native:dbforpostgresql:Server"
        or (r.inputs.get("kind"), r.name) == ("StatefulSet", "webapp-postgres-statefulset")
    ]
    assert set(rds) <= before_job and not set(others) & before_job
    for client in (
        r
        for r in run.resources
        if r.name.endswith(("-api-rollout", "-api-deployment", "-auth-deployment"))
    ):
        assert not {job, secret} & waits_for(run, client.urn), client.name


def test_the_job_runs_again_when_a_generation_is_renewed_not_when_clients_switch() -> None:
    names = {}
    for key, rotation in {
        "a": ROTATING,
        "renew b": {**ROTATING, "b": "2027-Q2"},
        "use b": {**ROTATING, "use": "b"},
    }.items():
        run = run_stack("dev", {"webapp:secretRotation": rotation})
        names[key] = _job(run)["metadata"]["name"]
        secret = _app_secret(run)
        assert secret["username"] == f"webapp_app_{rotation['use']}"
    assert names["renew b"] != names["a"]
    assert names["use b"] == names["a"]
