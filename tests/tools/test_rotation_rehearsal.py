"""The rotation rehearsal (`make rehearse-rotation`): two rotations of every shared credential pass
on every stack, with each store's delivery; each credential's single-value behaviour, put back,
fails it; and the README's rotation table says what the program does."""

from __future__ import annotations

import copy
import re
from typing import Any, Callable, Optional
from unittest import mock

import pytest

from components.config.catalogue import CATALOGUE
from components.data.nats_tls import ROUTE_CA_SECRET, ROUTE_RENEW_BEFORE, ROUTE_SECRET
from components.data.redis import ACL_LINE
from components.data.roles_sql import login_role
from components.secrets import catalogue as cat
from components.secrets import generated
from tests.support import STACKS
from tools.golden import variant_overrides
from tools.offline import ROOT, StackRun, load_stack_config
from tools.rehearsal.rotation import (
    PROCEDURE,
    SINGLE_PASSWORD,
    Transition,
    credentials,
    rehearse_rotation,
    report,
)
from tools.rehearse_rotation import delivery, step_objects

_steps: dict[tuple[str, str], list[tuple[str, list[dict[str, Any]]]]] = {}


def steps(stack: str, procedure: tuple = PROCEDURE) -> list[tuple[str, list[dict[str, Any]]]]:
    """Each step's objects, once per stack and procedure (five stack runs for the whole one)."""
    key = (stack, repr(procedure))
    if key not in _steps:
        _steps[key] = step_objects(stack, procedure)
    return _steps[key]


def rehearsed(
    stack: str, run: StackRun, config: dict, objects: Optional[list] = None
) -> list[Transition]:
    return rehearse_rotation(objects or steps(stack), delivery(run, config))


@pytest.mark.parametrize("variant", ["as-shipped", "cloud-none", "cloud-aws", "cloud-azure"])
@pytest.mark.parametrize("stack", STACKS)
def test_two_rotations_refuse_no_client(
    stack: str, variant: str, stack_run: Callable[..., StackRun]
) -> None:
    overrides = variant_overrides(stack, variant)
    run = stack_run(stack, overrides)
    transitions = rehearsed(stack, run, load_stack_config(stack, overrides))
    text = report(transitions)
    assert not [p for t in transitions for p in t.problems], text
    procedure = [label for label, _ in PROCEDURE[1:]]
    assert [t.step for t in transitions][: len(procedure)] == procedure
    switch = transitions[1]  # the clients move to b: every credential's readers roll
    for credential in ("redis", "nats users", "jwt"):
        assert switch.windows[credential] > 0, text
        assert f"{credential}: window {switch.windows[credential]}s" in text
    # The store's delivery is counted: an ExternalSecret's refresh, the CSI driver's poll, or none.
    cloud = overrides.get("webapp:cloud") or load_stack_config(stack).get("webapp:cloud")
    kinds = {o["kind"] for o in run.kubernetes_objects()}
    if "ExternalSecret" in kinds:
        assert switch.delivery.startswith("External Secrets refresh") and switch.delivery_seconds
    elif "SecretProviderClass" in kinds:
        assert switch.delivery == "CSI driver rotation poll 2m" and switch.delivery_seconds == 120
    else:
        assert cloud in (None, "none") and switch.delivery_seconds == 0
    if stack == "production":
        assert "nats routes" in switch.windows  # three members, routes checked both ways
        # Then cert-manager renews the route certificate, and the CA: Reloader rolls the members.
        renewals = {t.step: t for t in transitions[len(procedure) :]}
        assert list(renewals) == [
            f"{ROUTE_SECRET} renewed ({ROUTE_RENEW_BEFORE} before expiry)",
            f"{ROUTE_CA_SECRET} renewed, then {ROUTE_SECRET}",
        ]
        assert all(t.windows["nats routes"] > 0 for t in renewals.values()), text
    else:
        assert len(transitions) == len(procedure)  # one member: no routes, no certificate


def _problems(stack: str, stack_run: Callable[..., StackRun], objects: list) -> str:
    run = stack_run(stack, variant_overrides(stack, "cloud-none"))
    transitions = rehearsed(stack, run, {}, objects)
    return "\n".join(p for t in transitions for p in t.problems)


def test_a_label_renewed_in_place_is_refused(stack_run: Callable[..., StackRun]) -> None:
    """Today's behaviour before generations: one label, every side switching at once."""
    problems = _problems("dev", stack_run, steps("dev", SINGLE_PASSWORD))
    for credential in ("redis", "nats users", "jwt"):
        assert f"a renewed in place: {credential}: " in problems, problems


def _without(objects: list, drop: Callable[[str], bool]) -> list:
    """`objects` with the env variables whose name `drop` matches removed from every container."""
    out = []
    for obj in objects:
        if obj["kind"] in ("Deployment", "Rollout", "StatefulSet"):
            obj = {**obj, "spec": {**obj["spec"], "template": dict(obj["spec"]["template"])}}
            spec = dict(obj["spec"]["template"]["spec"])
            spec["containers"] = [
                {**c, "env": [e for e in c.get("env") or [] if not drop(e["name"])]}
                for c in spec["containers"]
            ]
            obj["spec"]["template"]["spec"] = spec
        out.append(obj)
    return out


FIRST_ROTATION = PROCEDURE[:3]


def test_one_verification_key_again_is_refused(stack_run: Callable[..., StackRun]) -> None:
    objects = [
        (label, _without(found, lambda name: "VERIFICATION" in name.upper()))
        for label, found in steps("dev", FIRST_ROTATION)
    ]
    problems = _problems("dev", stack_run, objects)
    assert "clients switched to b: jwt: " in problems, problems
    assert "redis" not in problems and "nats" not in problems


def test_one_redis_password_again_is_refused(stack_run: Callable[..., StackRun]) -> None:
    """The server back on `requirepass` with the password clients read (one value at a time)."""

    def requirepass(objects: list) -> list:
        objects = copy.deepcopy(objects)
        (redis,) = [
            o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "redis"
        ]
        container = redis["spec"]["template"]["spec"]["containers"][0]
        script = container["command"][2]
        acl = f'printf \'{ACL_LINE}\\n\' "$REDIS_PASSWORD_A" "$REDIS_PASSWORD_B"'
        assert acl in script
        container["command"][2] = script.replace(
            acl, "printf 'requirepass %s\\n' \"$REDISCLI_AUTH\""
        )
        return objects

    objects = [(label, requirepass(found)) for label, found in steps("dev", FIRST_ROTATION)]
    problems = _problems("dev", stack_run, objects)
    assert "clients switched to b: redis: " in problems, problems


def test_one_nats_user_per_client_again_is_refused(stack_run: Callable[..., StackRun]) -> None:
    with mock.patch("components.data.nats.GENERATIONS", ("a",)):
        objects = step_objects("dev", FIRST_ROTATION)
    problems = _problems("dev", stack_run, objects)
    assert "clients switched to b: nats users: " in problems, problems


def _route_password(objects: list, value_key: str) -> list:
    """`objects` with the cluster's routes back on one shared route password (as before route
    certificates): the cluster `authorization` user, the route URLs carrying it, its value the
    Secret's `value_key`."""
    objects = copy.deepcopy(objects)
    for obj in objects:
        if obj["kind"] == "ConfigMap" and "nats.conf" in (obj.get("data") or {}):
            conf = obj["data"]["nats.conf"].replace(
                "  name: webapp\n",
                "  name: webapp\n  authorization {user: route, password: $NATS_ROUTE_PASSWORD}\n",
            )
            obj["data"]["nats.conf"] = re.sub(
                r"nats://(nats-(\d)\.\S+)", lambda m: f"$NATS_ROUTE_{m.group(2)}", conf
            )
        if obj["kind"] == "Secret" and obj["metadata"]["name"] == cat.NATS.name:
            obj["stringData"]["route-password"] = obj["stringData"][value_key]
        if obj["kind"] == "StatefulSet" and obj["metadata"]["name"] == "nats":
            container = obj["spec"]["template"]["spec"]["containers"][0]
            reference = {"secretKeyRef": {"name": cat.NATS.name, "key": "route-password"}}
            container["env"] += [{"name": "NATS_ROUTE_PASSWORD", "valueFrom": reference}] + [
                {
                    "name": f"NATS_ROUTE_{index}",
                    "value": f"nats://route:$(NATS_ROUTE_PASSWORD)@nats-{index}.nats-headless:6222",
                }
                for index in range(3)
            ]
    return objects


def test_a_single_rotating_route_password_again_is_refused(
    stack_run: Callable[..., StackRun],
) -> None:
    """One shared route password that changes with the rotation (here: with the value clients
    use): members on either side of the roll refuse each other's routes, certificates or not."""
    objects = [
        (label, _route_password(found, "api-password"))
        for label, found in steps("production", FIRST_ROTATION)
    ]
    accepts = credentials(objects[0][1])["nats routes"].servers[0].values
    assert any(token.startswith("route:") for token in accepts), accepts
    problems = _problems("production", stack_run, objects)
    assert "clients switched to b: nats routes: nats holding" in problems, problems
    # The same password kept (never rotated, as before): no refusal, but it never rotates.
    kept = [
        (label, _route_password(found, "api-password-a"))
        for label, found in steps("production", FIRST_ROTATION)
    ]
    assert "nats routes" not in _problems("production", stack_run, kept)


def test_a_route_ca_renewed_with_a_new_key_is_refused(stack_run: Callable[..., StackRun]) -> None:
    """The CA Certificate on cert-manager's default (`rotationPolicy: Always`): its renewal makes
    a new CA, and members restarted with a leaf of it refuse, and are refused by, the others."""

    def new_key(objects: list) -> list:
        objects = copy.deepcopy(objects)
        for obj in objects:
            if obj["kind"] == "Certificate" and obj["spec"]["secretName"] == ROUTE_CA_SECRET:
                obj["spec"]["privateKey"].pop("rotationPolicy")
        return objects

    objects = [(label, new_key(found)) for label, found in steps("production", FIRST_ROTATION)]
    problems = _problems("production", stack_run, objects)
    assert f"{ROUTE_CA_SECRET} renewed, then {ROUTE_SECRET}: nats routes: nats holding" in (
        problems
    ), problems
    assert f"{ROUTE_SECRET} renewed (" not in problems  # a leaf renewal alone stays accepted


def test_the_routes_accept_any_leaf_of_the_route_ca() -> None:
    """As rendered: the members accept any leaf their CA signs and present one."""
    (_, objects), *_ = steps("production", FIRST_ROTATION)
    routes = credentials(objects)["nats routes"]
    assert routes.servers[0].values == {f"*<{ROUTE_CA_SECRET}1"}
    assert routes.clients[0].values == {f"leaf1<{ROUTE_CA_SECRET}1"}
    assert routes.renewal is not None and routes.renewal.ca_keeps_key


def _reading(objects: list, old: str, new: str) -> list:
    """`objects` with every workload's `secretKeyRef`s to Secret `old` pointed at `new`."""
    objects = copy.deepcopy(objects)
    for obj in objects:
        if obj["kind"] in ("Deployment", "Rollout", "StatefulSet"):
            for container in obj["spec"]["template"]["spec"]["containers"]:
                for env in container.get("env") or []:
                    ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                    if ref and ref["name"] == old:
                        ref["name"] = new
    return objects


def test_the_applications_on_the_admin_again_are_refused(
    stack_run: Callable[..., StackRun],
) -> None:
    """api and auth back on the admin's Secret (the master user RDS rotates on its own): their
    credential is no application role's, so every step refuses them."""
    objects = [
        (label, _reading(found, cat.DATABASE_APP.name, cat.DATABASE.name))
        for label, found in steps("dev", FIRST_ROTATION)
    ]
    problems = _problems("dev", stack_run, objects)
    assert "b added (servers accept a and b): database: api holding" in problems, problems
    assert "database: auth holding" in problems


def test_one_database_role_again_is_refused(stack_run: Callable[..., StackRun]) -> None:
    """Both generations on one login role: renewing b changes the password clients use."""

    def one(username: str, generation: str) -> str:
        del generation
        return f"{username}_app_login"

    with (
        mock.patch("components.data.roles_sql.login_role", one),
        mock.patch("components.data.database_roles.login_role", one),
    ):
        objects = step_objects("dev", FIRST_ROTATION)
    problems = _problems("dev", stack_run, objects)
    assert "b added (servers accept a and b): database: api holding" in problems, problems


def test_the_database_credential_is_rehearsed_on_every_stack() -> None:
    for stack in STACKS:
        for label, objects in steps(stack)[1:2]:
            assert "database" in credentials(objects), (stack, label)


# --- the README's table -----------------------------------------------------------------------


def rotation_table() -> dict[str, list[str]]:
    """The README's rotation table (under "### Rotation"), by its first column."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("\n### Rotation\n") :]
    header = section.index("| credential | owner | overlap |")
    table = {}
    for line in section[header:].splitlines()[2:]:
        if not line.startswith("| "):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        table[cells[0]] = cells
    return table


def test_the_readme_rotation_table_says_what_the_program_does() -> None:
    table = rotation_table()
    rotated = {
        "Redis password (`webapp-redis`)": "redis-password",
        "NATS user passwords (`webapp-nats`)": "nats-api-password",
        "JWT signing key (`webapp-jwt`)": "jwt-secret-key",
    }
    rotated["database login (`webapp-database-app`)"] = "database-app-password"
    for row, key in rotated.items():
        assert key in generated.ROTATED and table[row][1] == "program, `webapp:secretRotation`"
    # The login roles the overlap column names are the ones the roles Job sets.
    database = table["database login (`webapp-database-app`)"][2]
    for generation in ("a", "b"):
        role = "<user>" + login_role("webapp", generation).removeprefix("webapp")
        assert f"`{role}`" in database, database
    # The routes: certificates of the route CA, renewed by cert-manager (no password at all).
    routes = table["NATS route certificate (`nats-route-tls`)"]
    assert routes[1] == "cert-manager" and ROUTE_RENEW_BEFORE.removesuffix("h") in routes[3]
    assert "route-password" not in cat.NATS.keys
    for row, key in (
        ("database admin, in-cluster", "database-password"),
        ("Grafana admin password (`webapp-grafana-admin`)", "grafana-admin-password"),
    ):
        assert key not in generated.ROTATED and "none" in table[row][2], row
    # The generation keys the overlap column names are the Secrets' own.
    for row, spec in (
        ("Redis password (`webapp-redis`)", cat.REDIS),
        ("JWT signing key (`webapp-jwt`)", cat.JWT),
    ):
        named = set(re.findall(r"`([a-z-]+-[ab])`", table[row][2]))
        assert named and named <= set(spec.keys), row
    # What the app images must support: the variables the catalogue gives api and auth.
    contract = table["JWT signing key (`webapp-jwt`)"][4]
    env = {name for service in CATALOGUE for name in service.secret_env}
    named_env = set(re.findall(r"`([A-Za-z_]+(?:__[A-Za-z0-9]+)*)`", contract)) - {"secret-key"}
    assert {"JWT_VERIFICATION_KEY_A", "JWT_VERIFICATION_KEY_B"} <= named_env
    assert named_env - {"__1"} <= env | {"JwtSettings__VerificationKeys__0"}
    assert "JwtSettings__VerificationKeys__1" in env
    # Operator-owned: the refresh intervals quoted are the catalogue's.
    operator = table["OAuth, SMTP, alert receivers"][2]
    assert f"{cat.OAUTH.refresh} for OAuth" in operator.replace(" h", "h")
    assert cat.SMTP.refresh == cat.OAUTH.refresh and f"{cat.ALERTING.refresh} for alerting" in (
        operator.replace(" h", "h")
    )
