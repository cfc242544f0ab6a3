"""The rotation rehearsal: every shared credential stepped through a rotation as the controllers run
it, from the rendered objects of each `pulumi up` of the procedure (`make rehearse-rotation`).

The procedure is the program's (`config.rotation`): from generation a alone, add b (servers accept
both, clients stay), switch the clients to b, renew a (servers accept the new a and b), switch the
clients back to a. Each step is a stack run; between two runs the rehearsal plays what happens in
the cluster:

1. the store delivers the new Secret values: at once (`cloud: none`, Pulumi writes them), at the
   ExternalSecret's `refreshInterval` (External Secrets re-reads the store then), or at the CSI
   driver's rotation poll interval (`webapp:azure.csiRotationPollInterval`);
2. Reloader updates every workload that names a changed Secret, in its order: Deployments, then
   StatefulSets, then Rollouts (stakater/Reloader v1.4.21, internal/pkg/handler/upgrade.go,
   `doRollingUpgrade`), each within seconds of the change;
3. each rolls on its own: a Deployment surges a pod at a time and keeps every old pod until the new
   one is ready (`maxUnavailable: 0`), a StatefulSet replaces its pods from the highest ordinal
   down, one at a time, each old pod in lame duck up to its termination grace period
   (kubernetes v1.34 pkg/controller/statefulset/stateful_set_control.go, `updateStatefulSet`:
   "we terminate the Pod with the largest ordinal that does not match the update revision"), and
   a canary Rollout keeps its stable pods through every step and pause of its strategy.

Since the rolls run side by side at speeds no one controls, any mix of old and new pods of any
workloads can meet. So a client's value, old or new, must be accepted by the server's old pods
and by its new ones; a NATS member's route credential, old or new, by every member, old or new.
A refusal is a problem naming the credential, the client, the server and the step.

What each server accepts is read from what the rendered pod runs, as the server reads it:
- Redis: the passwords `printf` writes into the file redis.conf includes, whether as the ACL user
  (`user default on >%s >%s ...`) or as `requirepass %s` (one);
- NATS: the `authorization { users = [...] }` entries of nats.conf (`user`, `password: $VAR`
  resolved from the pod's environment, as nats-server does); the routes (`rehearsal.routes`):
  any leaf the route CA signed where the cluster block has TLS, the one cluster user where it
  has an `authorization` (nats-server refuses a list there, server/opts.go `parseCluster` at
  v2.11.8). Where routes use certificates, two more transitions follow the procedure: the leaf
  renewed by cert-manager, then the CA renewed and a leaf issued from it, each rolled by
  Reloader through the StatefulSet;
- JWT: a verifier accepts the keys it reads as verification keys (`...VerificationKeys__<n>`,
  `JWT_VERIFICATION_KEY_<x>`), or, reading none, only its signing key (HMAC: one shared key);
- the database (in-cluster or managed): the applications' login roles as the roles Job sets them
  (`data.database_roles`): per role of the script's `ALTER ROLE ... PASSWORD`, the verifier the
  Job passes, the last one per role (a role has one password); the admin's credentials are
  accepted from no client, since RDS rotates its master secret outside the procedure. The Job runs
  before the clients' Secret changes, but the check still asks old and new acceptance of every
  value a client holds, as for the others.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional
from urllib.parse import unquote_plus, urlsplit

from components.config.quantities import seconds
from components.data.roles_sql import scram_verifier

from .routes import RouteTls, any_leaf, leaf, route_password, route_tls
from .routes import accepted as is_accepted

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Rollout")
RELOADER_ORDER = {"Deployment": 0, "StatefulSet": 1, "Rollout": 2}
"""Reloader v1.4.21's order of updates (internal/pkg/handler/upgrade.go, `doRollingUpgrade`)."""
POD_START_SECONDS = 30
"""A pod's time to ready where its probes say nothing longer (image pulled, process started)."""


@dataclass(frozen=True)
class Workload:
    kind: str
    name: str
    replicas: int
    env: Mapping[str, str]
    """Every container's environment, resolved as the kubelet does (Secret keys, `$(VAR)`)."""
    secrets: frozenset[str]
    """The Secrets its pods read."""
    command: str
    roll_seconds: int
    """How long its roll takes, start to last new pod ready (`roll_duration`)."""
    steps: tuple[str, ...] = ()
    """A canary Rollout's steps, as the strategy lists them."""


@dataclass(frozen=True)
class Side:
    """What one workload holds (a client) or accepts (a server) of one credential."""

    workload: str
    values: frozenset[str]


@dataclass(frozen=True)
class Credential:
    name: str
    servers: tuple[Side, ...]
    clients: tuple[Side, ...]
    peers: bool = False
    """The servers are also the clients (NATS routes): every member meets every member."""
    renewal: Optional[RouteTls] = None
    """A certificate cert-manager renews on its own schedule (the NATS routes'): rehearsed after
    the procedure (`renewals`)."""


@dataclass
class Transition:
    step: str
    delivery: str
    delivery_seconds: int
    rows: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    windows: dict[str, int] = field(default_factory=dict)
    """credential -> seconds from the first pod restart to the last new pod ready."""


def resolve_env(container: Mapping[str, Any], secrets: Mapping[str, Mapping[str, str]]) -> dict:
    """The container's environment: `secretKeyRef`s read from `secrets`, `$(VAR)` expanded."""
    env: dict[str, str] = {}
    for variable in container.get("env") or []:
        source = variable.get("valueFrom") or {}
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            env[variable["name"]] = secrets.get(ref["name"], {}).get(ref["key"], "")
        elif "value" in variable:
            env[variable["name"]] = re.sub(
                r"\$\(([A-Za-z0-9_]+)\)", lambda m: env.get(m.group(1), ""), variable["value"]
            )
        else:
            env[variable["name"]] = "<field>"
    return env


def _secrets_read(spec: Mapping[str, Any]) -> frozenset[str]:
    names = set()
    for container in [*(spec.get("initContainers") or []), *spec["containers"]]:
        for variable in container.get("env") or []:
            ref = (variable.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                names.add(ref["name"])
    return frozenset(names)


def _probe_seconds(container: Mapping[str, Any]) -> int:
    ready = container.get("readinessProbe") or {}
    start = container.get("startupProbe") or {}
    waited = int(ready.get("initialDelaySeconds", 0)) + int(ready.get("periodSeconds", 10))
    return max(POD_START_SECONDS, waited + int(start.get("periodSeconds", 0)))


def roll_duration(obj: Mapping[str, Any], replicas: int) -> int:
    """Seconds from the update to the last new pod ready: a pod at a time (surge 1, or one
    ordinal at a time), each old StatefulSet pod draining up to its grace period (lame duck), a
    Rollout's pauses added."""
    spec = obj["spec"]["template"]["spec"]
    per_pod = max(_probe_seconds(c) for c in spec["containers"])
    if obj["kind"] == "StatefulSet":
        per_pod += int(spec.get("terminationGracePeriodSeconds", 30))
    total = per_pod * replicas
    canary = (obj["spec"].get("strategy") or {}).get("canary") or {}
    for step in canary.get("steps") or []:
        pause = step.get("pause")
        if pause and "duration" in pause:
            duration = str(pause["duration"])
            total += seconds(duration) if duration[-1] in "smh" else int(duration)
    return total


def workloads(objects: Iterable[Mapping[str, Any]]) -> dict[str, Workload]:
    """Every Deployment, StatefulSet and Rollout with its resolved environment."""
    objects = list(objects)
    secrets = {
        o["metadata"]["name"]: dict(o.get("stringData") or {})
        for o in objects
        if o["kind"] == "Secret"
    }
    found: dict[str, Workload] = {}
    for obj in objects:
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        spec = obj["spec"]["template"]["spec"]
        env: dict[str, str] = {}
        for container in spec["containers"]:
            env.update(resolve_env(container, secrets))
        replicas = int(obj["spec"].get("replicas") or 2)  # autoscaled: at least two
        canary = (obj["spec"].get("strategy") or {}).get("canary") or {}
        found[obj["metadata"]["name"]] = Workload(
            kind=obj["kind"],
            name=obj["metadata"]["name"],
            replicas=replicas,
            env=env,
            secrets=_secrets_read(spec),
            command=" ".join(
                " ".join(c.get("command") or []) + " " + " ".join(c.get("args") or [])
                for c in spec["containers"]
            ),
            roll_seconds=roll_duration(obj, replicas),
            steps=tuple(_step_name(step) for step in canary.get("steps") or []),
        )
    return found


def _step_name(step: Mapping[str, Any]) -> str:
    (kind, value), *_ = step.items()
    return (
        f"{kind} {value}" if not isinstance(value, dict) else f"{kind} {value.get('duration', '')}"
    )


# --- what each side holds or accepts --------------------------------------------------------


def _redis(loads: Mapping[str, Workload], config: Mapping[str, str]) -> Optional[Credential]:
    server = loads.get("redis")
    if server is None:
        return None
    # The variables `printf` writes into auth.conf: the ACL user's passwords, or requirepass'.
    match = re.search(r"printf '([^']*)'((?:\s+\"\$[A-Z0-9_]+\")+)", server.command)
    accepted = (
        {server.env[name] for name in re.findall(r"\$([A-Z0-9_]+)", match.group(2))}
        if match
        else set()
    )
    clients = []
    for load in loads.values():
        if load.name == "redis" or "webapp-redis" not in load.secrets:
            continue
        held = {_redis_password(value) for value in load.env.values() if _is_redis(value)}
        clients.append(Side(load.name, frozenset(held)))
    return Credential("redis", (Side("redis", frozenset(accepted)),), tuple(clients))


def _is_redis(value: str) -> bool:
    return value.startswith("redis://") or ",password=" in value


def _redis_password(value: str) -> str:
    if value.startswith("redis://"):
        return unquote_plus(urlsplit(value).password or "")
    return value.split(",password=", 1)[1].split(",", 1)[0]


def _nats_users(loads: Mapping[str, Workload], config: Mapping[str, str]) -> list[Credential]:
    server = loads.get("nats")
    conf = config.get("nats.conf", "")
    if server is None:
        return []
    users = re.findall(r"\{user: ([^,]+), password: \$([A-Z0-9_]+)", conf)
    accepts = frozenset(f"{user}:{server.env.get(variable, '')}" for user, variable in users)
    clients = []
    for load in loads.values():
        held = {
            f"{urlsplit(value).username}:{unquote_plus(urlsplit(value).password or '')}"
            for value in load.env.values()
            if value.startswith("nats://") and load.name != "nats"
        }
        if held:
            clients.append(Side(load.name, frozenset(held)))
    return [Credential("nats users", (Side("nats", accepts),), tuple(clients))]


def _nats_routes(
    objects: list[Mapping[str, Any]], loads: Mapping[str, Workload], config: Mapping[str, str]
) -> Optional[Credential]:
    """The members' routes (`rehearsal.routes`): a leaf of the route CA (key 1, leaf 1 as
    rendered) and the cluster user, where the config has them; None without a cluster."""
    server, conf = loads.get("nats"), config.get("nats.conf", "")
    if server is None or "cluster {" not in conf:
        return None
    accepts, presents = route_password(conf, server.env)
    tls = route_tls(objects, conf)
    if tls is not None:
        accepts, presents = accepts | {any_leaf(tls.ca, 1)}, presents | {leaf(1, tls.ca, 1)}
    return Credential(
        "nats routes", (Side("nats", accepts),), (Side("nats", presents),), peers=True, renewal=tls
    )


def _jwt(loads: Mapping[str, Workload], config: Mapping[str, str]) -> Optional[Credential]:
    verifiers, signers = [], []
    for load in loads.values():
        if "webapp-jwt" not in load.secrets:
            continue
        signing = {value for name, value in load.env.items() if name in SIGNING_KEYS}
        verification = {
            value
            for name, value in load.env.items()
            if re.search(r"VERIFICATION_?KEY", name.upper())
        }
        signers.append(Side(load.name, frozenset(signing)))
        verifiers.append(Side(load.name, frozenset(verification or signing)))
    if not signers:
        return None
    return Credential("jwt", tuple(verifiers), tuple(signers))


SIGNING_KEYS = ("JwtSettings__SecretKey", "JWT_SECRET")
"""The variables the services sign tokens with (the catalogue's)."""


ROLES_SERVER = "postgres (roles Job)"
"""The database as the roles Job leaves it: its acceptance changes during `pulumi up`, before any
Secret is delivered and before any pod rolls (the clients' Secret waits for the Job)."""
SET_AT_ONCE = frozenset({ROLES_SERVER})
"""Servers whose acceptance is the new step's from its first phase (no pods of theirs roll)."""
ROLES_JOB = "database-roles-"
"""The Job that sets the applications' login roles (`data.database_roles`), by its name prefix."""


def _roles_job(objects: Iterable[Mapping[str, Any]]) -> Optional[Mapping[str, Any]]:
    return next(
        (o for o in objects if o["kind"] == "Job" and o["metadata"]["name"].startswith(ROLES_JOB)),
        None,
    )


def _database_accepts(
    objects: list[Mapping[str, Any]], config: Mapping[str, str]
) -> frozenset[str]:
    """`role:verifier` for each login role the roles Job sets, as PostgreSQL keeps them: the
    script's `ALTER ROLE "<role>" ... PASSWORD :'<variable>'` with the psql variable the Job's
    command gives it (`-v <variable>="$<ENV>"`), the last one per role winning (a role has one
    password: PostgreSQL `ALTER ROLE` replaces it). Nothing without the Job: the admin's
    credentials are no client's (RDS rotates its master secret on its own schedule)."""
    job = _roles_job(objects)
    if job is None:
        return frozenset()
    secrets = {
        o["metadata"]["name"]: dict(o.get("stringData") or {})
        for o in objects
        if o["kind"] == "Secret"
    }
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = resolve_env(container, secrets)
    command = " ".join(container.get("command") or [])
    variables = dict(re.findall(r'-v (\w+)="\$([A-Z0-9_]+)"', command))
    passwords: dict[str, str] = {}
    for role, variable in re.findall(
        r'ALTER ROLE "([^"]+)" WITH LOGIN PASSWORD :\'(\w+)\'', config.get("roles.sql", "")
    ):
        passwords[role] = env.get(variables.get(variable, ""), "")
    return frozenset(f"{role}:{verifier}" for role, verifier in passwords.items())


def _database(
    objects: list[Mapping[str, Any]], loads: Mapping[str, Workload], config: Mapping[str, str]
) -> Optional[Credential]:
    """The applications' database logins: what each client holds (user and password, as the
    SCRAM verifier PostgreSQL would check it against) against what the roles Job set."""
    clients = []
    for load in loads.values():
        if load.name.startswith("postgres"):
            continue  # the server, its exporter and the backups: the admin, not a client
        held = {
            (urlsplit(value).username or "", unquote_plus(urlsplit(value).password or ""))
            for value in load.env.values()
            if value.startswith("postgresql://")
        }
        if "Database__Username" in load.env:
            held.add((load.env["Database__Username"], load.env["Database__Password"]))
        if held:
            verifiers = {f"{user}:{scram_verifier(password, user)}" for user, password in held}
            clients.append(Side(load.name, frozenset(verifiers)))
    if not clients:
        return None
    accepted = _database_accepts(objects, config)
    return Credential("database", (Side(ROLES_SERVER, accepted),), tuple(clients))


Extractor = Callable[[Mapping[str, Workload], Mapping[str, str]], Any]
EXTRACTORS: tuple[Extractor, ...] = (_redis, _nats_users, _jwt)


def credentials(objects: Iterable[Mapping[str, Any]]) -> dict[str, Credential]:
    objects = list(objects)
    loads = workloads(objects)
    config = {
        key: value
        for o in objects
        if o["kind"] == "ConfigMap"
        for key, value in (o.get("data") or {}).items()
    }
    found: dict[str, Credential] = {}
    for extract in EXTRACTORS:
        result = extract(loads, config)
        for credential in result if isinstance(result, list) else [result]:
            if credential is not None:
                found[credential.name] = credential
    for extra in (_nats_routes(objects, loads, config), _database(objects, loads, config)):
        if extra is not None:
            found[extra.name] = extra
    return found


# --- the procedure and its transitions -------------------------------------------------------

PROCEDURE: tuple[tuple[str, Any], ...] = (
    ("generation a alone", "2026-Q4"),
    ("b added (servers accept a and b)", {"a": "2026-Q4", "b": "2027-Q1", "use": "a"}),
    ("clients switched to b", {"a": "2026-Q4", "b": "2027-Q1", "use": "b"}),
    ("a renewed (servers accept new a and b)", {"a": "2027-Q2", "b": "2027-Q1", "use": "b"}),
    ("clients switched to a", {"a": "2027-Q2", "b": "2027-Q1", "use": "a"}),
)
"""`webapp:secretRotation` at each `pulumi up` of two rotations (README: Rotation)."""
SINGLE_PASSWORD: tuple[tuple[str, Any], ...] = (
    ("generation a alone", "2026-Q4"),
    ("a renewed in place", "2027-Q1"),
)
"""A label renewed in place: every side switches at once (what the rehearsal must refuse)."""


class Namer:
    """Short names for values: `a1` is generation a's value as of step 1, and so on."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def learn(self, step: int, objects: Iterable[Mapping[str, Any]]) -> None:
        found = [
            (key[-1], value)
            for obj in objects
            if obj["kind"] == "Secret"
            for key, value in (obj.get("stringData") or {}).items()
            if key[-2:] in ("-a", "-b")
        ]
        # With generation a alone, b's keys hold a's values: a names them. A SCRAM verifier
        # (`verifier-a`) is shown by its last part, as `__call__` reads a `role:verifier` token.
        for generation, value in sorted(found):
            self.names.setdefault(value, f"{generation}{step}")
            self.names.setdefault(value.rsplit(":", 1)[-1], f"{generation}{step}")

    def __call__(self, token: str) -> str:
        if "<" in token:
            return token  # a certificate (`rehearsal.routes`): named by its leaf and CA key
        secret = token.rsplit(":", 1)[-1]
        if secret in self.names:
            return self.names[secret]
        digest = hashlib.sha256(secret.encode()).hexdigest()[:4]
        return self.names.setdefault(secret, f"v{digest}")

    def many(self, tokens: Iterable[str]) -> str:
        return "+".join(sorted({self(token) for token in tokens})) or "-"


def _sides(credential: Credential, role: str) -> dict[str, frozenset[str]]:
    sides = credential.servers if role == "servers" else credential.clients
    found: dict[str, frozenset[str]] = {}
    for side in sides:
        found[side.workload] = found.get(side.workload, frozenset()) | side.values
    return found


def check(
    step: str, before: Mapping[str, Credential], after: Mapping[str, Credential], name: Namer
) -> list[str]:
    """Every value a client may hold (old or new) against what every server may accept while
    both its old and new pods run (old ∩ new)."""
    problems = []
    for credential_name, new in after.items():
        old = before.get(credential_name, new)
        servers_old, servers_new = _sides(old, "servers"), _sides(new, "servers")
        clients_old, clients_new = _sides(old, "clients"), _sides(new, "clients")
        for server in servers_new:
            accepts = servers_old.get(server, servers_new[server]) & servers_new[server]
            for client in sorted(set(clients_old) | set(clients_new)):
                held = clients_old.get(client, frozenset()) | clients_new.get(client, frozenset())
                refused = {token for token in held if not is_accepted(token, accepts)}
                if refused:
                    problems.append(
                        f"{step}: {credential_name}: {client} holding {name.many(refused)} is "
                        f"refused by {server} (its old and new pods together accept "
                        f"{name.many(accepts)})"
                    )
    return problems


def rows(
    before: Mapping[str, Credential],
    after: Mapping[str, Credential],
    loads_before: Mapping[str, Workload],
    loads_after: Mapping[str, Workload],
    name: Namer,
) -> list[str]:
    """The phases as Reloader and the workload controllers run them: what each client holds and
    what each server accepts, a rolling workload's pods holding both."""
    changed = [
        load
        for load in loads_after.values()
        if load.name in loads_before and load.env != loads_before[load.name].env
    ]
    changed.sort(key=lambda load: (RELOADER_ORDER[load.kind], load.name))
    phases: list[tuple[str, set[str], set[str]]] = [("delivered", set(), set())]
    done: set[str] = set()
    for load in changed:
        steps = f" ({', '.join(load.steps)})" if load.steps else ""
        phases.append((f"{load.kind} {load.name} rolling{steps}", {load.name}, set(done)))
        done.add(load.name)
        phases.append((f"{load.kind} {load.name} rolled", set(), set(done)))
    return _table(before, after, phases, name)


def _table(
    before: Mapping[str, Credential],
    after: Mapping[str, Credential],
    phases: list[tuple[str, set[str], set[str]]],
    name: Namer,
) -> list[str]:
    """Per phase (label, workloads rolling, workloads rolled): each credential's holders and
    acceptors."""
    table = []
    for phase, rolling, rolled in phases:
        parts = []
        for credential_name, new in after.items():
            old = before.get(credential_name, new)
            parts.append(
                f"{credential_name}: "
                + _state(old, new, "clients", rolling, rolled, name)
                + " | accepts "
                + _state(old, new, "servers", rolling, rolled, name)
            )
        table.append(f"  {phase:<58} " + "; ".join(parts))
    return table


def _state(
    old: Credential, new: Credential, role: str, rolling: set[str], rolled: set[str], name: Namer
) -> str:
    before, after = _sides(old, role), _sides(new, role)
    out = []
    for workload in sorted(after):
        if workload in rolling:
            values = (
                before.get(workload, after[workload]) | after[workload]
                if role == "clients"
                else before.get(workload, after[workload]) & after[workload]
            )
        elif workload in rolled or (role == "servers" and workload in SET_AT_ONCE):
            values = after[workload]
        else:
            values = before.get(workload, after[workload])
        out.append(f"{workload}={name.many(values)}")
    return " ".join(out)


def windows(
    after: Mapping[str, Credential],
    loads_before: Mapping[str, Workload],
    loads_after: Mapping[str, Workload],
) -> dict[str, int]:
    """Per credential: seconds from Reloader's first update to the last new pod of the workloads
    that hold or accept it (the rolls run side by side: the longest)."""
    found = {}
    for credential_name, credential in after.items():
        names = {side.workload for side in (*credential.servers, *credential.clients)}
        rolling = [
            loads_after[workload].roll_seconds
            for workload in names
            if workload in loads_before and loads_before[workload].env != loads_after[workload].env
        ]
        found[credential_name] = max(rolling, default=0)
    return found


def rehearse_rotation(
    steps: list[tuple[str, list[dict[str, Any]]]], delivery: Callable[[str], tuple[str, int]]
) -> list[Transition]:
    """Each transition of `steps` (label, the step's rendered objects with Secret values):
    its phases, refusals and durations. `delivery(secret)` is how the store brings a changed
    Secret to the cluster: (how, seconds)."""
    name = Namer()
    for index, (_, objects) in enumerate(steps):
        name.learn(index, objects)
    states = [
        (label, credentials(objects), workloads(objects), objects) for label, objects in steps
    ]
    transitions = []
    for (_, before, loads_before, old_objects), (label, after, loads_after, new_objects) in zip(
        states, states[1:], strict=False
    ):
        changed = _changed_secrets(old_objects, new_objects)
        delays = [delivery(secret) for secret in sorted(changed)]
        how, wait = max(delays, key=lambda found: found[1], default=("nothing changed", 0))
        transition = Transition(step=label, delivery=how, delivery_seconds=wait)
        transition.rows = rows(before, after, loads_before, loads_after, name)
        transition.problems = check(label, before, after, name)
        transition.windows = windows(after, loads_before, loads_after)
        transitions.append(transition)
    _, last, last_loads, _ = states[-1]
    return transitions + renewals(last, last_loads)


def _renewed(credential: Credential, tls: RouteTls, number: int, key: int) -> Credential:
    """`credential` with every member presenting leaf `number` of CA key `key`, and accepting any
    leaf of that key (a restarted member reads the CA from its new Secret)."""

    def swap(side: Side, token: str) -> Side:
        kept = {value for value in side.values if "<" not in value}
        return Side(side.workload, frozenset({*kept, token}))

    return dataclasses.replace(
        credential,
        servers=tuple(swap(side, any_leaf(tls.ca, key)) for side in credential.servers),
        clients=tuple(swap(side, leaf(number, tls.ca, key)) for side in credential.clients),
    )


def renewals(after: Mapping[str, Credential], loads: Mapping[str, Workload]) -> list[Transition]:
    """cert-manager's renewals of a certificate credential, each written to its Secret at once and
    rolled by Reloader through the members' StatefulSet: the leaf (a new key, the same CA), then
    the CA (its key kept or not, `RouteTls.ca_keeps_key`) followed by a leaf it signs."""
    transitions = []
    for credential in after.values():
        tls = credential.renewal
        if tls is None:
            continue
        new_key = 1 if tls.ca_keeps_key else 2
        steps = (
            (f"{tls.secret} renewed ({tls.renew_before} before expiry)", (1, 1), (2, 1)),
            (f"{tls.ca} renewed, then {tls.secret}", (2, 1), (3, new_key)),
        )
        workload = loads["nats"]
        for label, old, new in steps:
            before = {credential.name: _renewed(credential, tls, *old)}
            renewed = {credential.name: _renewed(credential, tls, *new)}
            transition = Transition(step=label, delivery="cert-manager", delivery_seconds=0)
            transition.problems = check(label, before, renewed, Namer())
            transition.windows = {credential.name: workload.roll_seconds}
            phases: list[tuple[str, set[str], set[str]]] = [
                ("delivered", set(), set()),
                (f"{workload.kind} {workload.name} rolling", {workload.name}, set()),
                (f"{workload.kind} {workload.name} rolled", set(), {workload.name}),
            ]
            transition.rows = _table(before, renewed, phases, Namer())
            transitions.append(transition)
    return transitions


def _changed_secrets(
    before: Iterable[Mapping[str, Any]], after: Iterable[Mapping[str, Any]]
) -> set[str]:
    def data(objects: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        return {
            o["metadata"]["name"]: o.get("stringData") for o in objects if o["kind"] == "Secret"
        }

    old, new = data(before), data(after)
    return {secret for secret in new if old.get(secret) != new[secret]}


def report(transitions: list[Transition]) -> str:
    lines = []
    for transition in transitions:
        lines.append(
            f"step: {transition.step} (delivery: {transition.delivery}, "
            f"{transition.delivery_seconds}s)"
        )
        lines += transition.rows
        for credential_name, window in transition.windows.items():
            total = transition.delivery_seconds + window if window else 0
            lines.append(
                f"  {credential_name}: window {window}s (both values in use), total {total}s"
            )
        lines += [f"  problem: {problem}" for problem in transition.problems]
    return "\n".join(lines)
