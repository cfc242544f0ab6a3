"""DatabaseRoles: the applications' database login roles, set by a Job inside the cluster.

The applications connect as `<user>_app_a` or `<user>_app_b` (`data.roles_sql`), never as the
admin, so neither RDS's rotation of its master secret nor a change of the Flexible Server or
in-cluster admin password touches them. The roles are created by a Job because only the cluster
reaches the private database.

Creates (parented to the component, named from it):
- one `random.RandomPassword` per accepted generation of `webapp:secretRotation`
  (`<name>-database-app-password`, `-b`), renewed by its generation's label
- Secret `webapp-database-roles`: each generation's SCRAM verifier (never a password), read by the
  Job only
- ConfigMap `database-roles`: the psql script (`roles.sql`; no secret in it)
- ServiceAccount `database-roles` (no token automount; the store's annotations, e.g. workload
  identity for the CSI driver)
- NetworkPolicy `database-roles`: egress to the database on 5432 only, nothing in
- Job `database-roles-<digest>` (pinned postgres image, restricted security context): psql as the
  admin (`webapp-database`), idempotent
- Secret `webapp-database-app`: what api and auth read, the login role and password of the
  generation clients use (and its URLs)

In time: the Job waits for the verifiers' Secret, its NetworkPolicy and the store's delivery of
`webapp-database` (on AWS that waits for RDS; on Azure and in-cluster it does not wait for the
database), and its pod polls until the database answers (`pg_isready`), so it runs as soon as
the database does. The clients' Secret waits for the Job; api and auth are created without
waiting for it (their pods pull meanwhile, and start once it exists). So the server accepts a
generation before any client is given it: a rotation's first step renews the standby generation
(the Job runs again: its name is a digest of the script, the image and the generations' labels,
and a Job's spec is immutable, so a new digest is a replacement, the new Job created and awaited
to completion before the old one is deleted); its second step (`use`) changes only the clients'
Secret, which Reloader rolls out. Both Secrets are written by the program on every cloud, not
delivered by the store: the Job must read the verifiers the program has just decided, not a copy
up to a refresh interval old, and the clients' Secret must change only once the Job has run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.config.quantities import seconds
from components.config.rotation import GENERATIONS, SecretRotation
from components.data.roles_sql import login_role, roles_sql, scram_verifier
from components.kube import objects as kx
from components.secrets import catalogue as cat
from components.secrets.generated import Password, generations, passwords
from components.secrets.store import NO_ACCESS, SecretAccess
from components.secrets.values import POSTGRES_PORT, database_values

ROLES = "database-roles"
"""The Job's name prefix, its ServiceAccount, ConfigMap and NetworkPolicy."""
READERS: Mapping[str, tuple[str, ...]] = {ROLES: (cat.DATABASE.name,)}
"""The store's Secrets the Job's pods read: the admin's credentials."""
JOB_UID = 65532
"""The Job's UID and GID: psql needs no passwd entry (libpq takes the user from PGUSER)."""
PASSWORD_KEY = "database-app-password"
"""The generated value of the application roles (one resource per generation)."""
SCRIPT = "roles.sql"
SQL_DIR = "/sql"
"""Where the Job's pod mounts the script's ConfigMap."""
POLL_SECONDS = 5
"""How often the Job's pod asks whether the database answers."""
DEFAULT_DEADLINE = 600
"""The Job's `activeDeadlineSeconds` when the database is ready within the provider's 10
minutes."""

# pg_isready (PQping) succeeds once the server accepts connections, whatever the credentials:
# until then (a server still being created, a name not yet in DNS, a StatefulSet still starting)
# the pod polls every 5 s instead of failing into the Job's exponential backoff. A failing psql
# (the admin's Secret one refresh behind a rotation, a database that answers before its
# application database exists) fails the pod, and the Job's next pod reads the Secret again.
COMMAND = (
    f"until pg_isready -q; do sleep {POLL_SECONDS}; done; "
    'exec psql -X -v ON_ERROR_STOP=1 -v verifier_a="$VERIFIER_A" '
    f'-v verifier_b="$VERIFIER_B" -f {SQL_DIR}/{SCRIPT}'
)


@dataclass(frozen=True, kw_only=True)
class DatabaseRolesArgs:
    namespace: str
    """The application namespace."""
    instance: str
    """The stack name (labels)."""
    username: str
    """`database.username`: the roles are `<username>_app` (group), `_app_a` and `_app_b`."""
    database_name: str
    """The application database."""
    image: str
    """A pinned PostgreSQL image with psql (`database.image`)."""
    host: pulumi.Input[str]
    """The database's host, for the clients' Secret (the Job reads the admin's from the store)."""
    managed: bool
    """A managed database (TLS required) rather than the in-cluster one."""
    egress: tuple[kx.Peer, ...]
    """Where the database answers on 5432 (the in-cluster pods, or the managed database's
    subnets): the Job's only way out."""
    rotation: SecretRotation = SecretRotation()
    """`webapp:secretRotation`: the generations and the one clients use. Default: a alone."""
    image_pull_policy: str = "IfNotPresent"
    """The stack's `webapp:imagePullPolicy`. Default IfNotPresent."""
    secret_access: SecretAccess = NO_ACCESS
    """How the Job's pods read the store (Azure CSI). Default plain secretKeyRefs."""
    wait_for: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """What the Job waits for: the store's delivery of `webapp-database` (not the database: its
    pod waits until the database answers)."""
    deadline: Optional[str] = None
    """How long the database may take to answer on a first up, as a customTimeout (`30m`): a
    managed database the Job is created during (`SecretStore.database_create_timeout`). Default
    None: 10 minutes (the in-cluster StatefulSet, or a database created before the Job)."""


def verifier(password: pulumi.Input[str], role: str) -> pulumi.Output[str]:
    """`role`'s SCRAM verifier of `password`, a Pulumi secret."""
    value: pulumi.Output[str] = pulumi.Output.from_input(password)
    return pulumi.Output.secret(value.apply(lambda plain: scram_verifier(plain, role)))


def job_digest(args: DatabaseRolesArgs) -> str:
    """What makes the Job run again: the script and its command, the image and each accepted
    generation's label. `use` is not in it: switching clients changes no role."""
    labels = {generation: args.rotation.label(generation) for generation in args.rotation.accepted}
    return kx.checksum(
        {
            "sql": roles_sql(args.username, args.database_name),
            "image": args.image,
            "labels": labels,
            "managed": args.managed,
            "command": COMMAND,
        }
    )[:10]


class DatabaseRoles(pulumi.ComponentResource):
    """See the module docstring."""

    def __init__(
        self, name: str, args: DatabaseRolesArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:data:DatabaseRoles", name, None, opts)
        self._name, self._args = name, args
        self._labels = kx.labels(ROLES, args.instance, "database", "v1")
        child = kx.child_options(self, opts)
        password = passwords(name, child, args.rotation)
        by_generation = generations(password, args.rotation, PASSWORD_KEY)
        verifiers = k8s.core.v1.Secret(
            f"{name}-verifiers",
            metadata=kx.metadata(cat.DATABASE_ROLES.name, args.namespace, self._labels),
            type="Opaque",
            string_data={
                f"verifier-{generation}": verifier(
                    by_generation[generation], login_role(args.username, generation)
                )
                for generation in GENERATIONS
            },
            opts=child,
        )
        script = k8s.core.v1.ConfigMap(
            f"{name}-script",
            metadata=kx.metadata(ROLES, args.namespace, self._labels),
            data={SCRIPT: roles_sql(args.username, args.database_name)},
            opts=child,
        )
        account = kx.service_account(
            f"{name}-sa",
            ROLES,
            args.namespace,
            self._labels,
            child,
            args.secret_access.service_account_annotations,
        )
        policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol",
            metadata=kx.metadata(ROLES, args.namespace, self._labels),
            spec=kx.network_policy_spec(ROLES, args.instance, [], list(args.egress)),
            opts=child,
        )
        self.job = self._create_job([verifiers, script, account, policy, *args.wait_for], child)
        self.secret = self._create_app_secret(password, child)
        self.register_outputs({"secret_name": self.secret.metadata.name})

    def _env(self) -> list[k8s.core.v1.EnvVarArgs]:
        """libpq's variables from the admin's Secret, and the verifiers."""

        def ref(variable: str, secret: str, key: str) -> k8s.core.v1.EnvVarArgs:
            return k8s.core.v1.EnvVarArgs(
                name=variable,
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret, key=key)
                ),
            )

        admin = cat.DATABASE.name
        return [
            ref("PGHOST", admin, "host"),
            ref("PGPORT", admin, "port"),
            ref("PGDATABASE", admin, "dbname"),
            ref("PGUSER", admin, "username"),
            ref("PGPASSWORD", admin, "password"),
            ref("VERIFIER_A", cat.DATABASE_ROLES.name, "verifier-a"),
            ref("VERIFIER_B", cat.DATABASE_ROLES.name, "verifier-b"),
            # A managed database takes TLS only; the in-cluster one is reached inside the namespace.
            k8s.core.v1.EnvVarArgs(
                name="PGSSLMODE", value="require" if self._args.managed else "prefer"
            ),
            k8s.core.v1.EnvVarArgs(name="PGCONNECT_TIMEOUT", value="10"),
        ]

    def _create_job(
        self, after: list[pulumi.Resource], child: pulumi.ResourceOptions
    ) -> k8s.batch.v1.Job:
        """The Job of these inputs (`job_digest`): psql runs the script once, as the admin."""
        args = self._args
        csi_volumes, csi_mounts = args.secret_access.volumes()
        deadline = seconds(args.deadline) if args.deadline else DEFAULT_DEADLINE
        # The provider awaits the Job's completion (pulumi-kubernetes provider/pkg/await/job.go,
        # 10 minutes by default): two minutes past its deadline, so the Job's own failure is
        # what `pulumi up` reports.
        timeout = f"{deadline // 60 + 2}m"
        return k8s.batch.v1.Job(
            f"{self._name}-job",
            metadata=kx.metadata(f"{ROLES}-{job_digest(args)}", args.namespace, self._labels),
            spec=k8s.batch.v1.JobSpecArgs(
                # Retries cover the admin's Secret one refresh behind RDS's own rotation of it,
                # or a database that answers before its application database exists; the
                # deadline covers the database's creation, then `pulumi up` fails.
                backoff_limit=6,
                active_deadline_seconds=deadline,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels={**self._labels, **dict(args.secret_access.pod_labels)}
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=ROLES,
                        automount_service_account_token=False,
                        enable_service_links=False,
                        restart_policy="Never",
                        security_context=kx.pod_security(JOB_UID),
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="psql",
                                image=args.image,
                                image_pull_policy=args.image_pull_policy,
                                command=["sh", "-c", COMMAND],
                                env=self._env(),
                                resources=kx.resources(
                                    {
                                        "requests": {"cpu": "10m", "memory": "32Mi"},
                                        "limits": {"cpu": "200m", "memory": "64Mi"},
                                    }
                                ),
                                security_context=kx.container_security(),
                                volume_mounts=[
                                    k8s.core.v1.VolumeMountArgs(
                                        name="sql", mount_path=SQL_DIR, read_only=True
                                    ),
                                    *csi_mounts,
                                ],
                            )
                        ],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="sql",
                                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=ROLES),
                            ),
                            *csi_volumes,
                        ],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    depends_on=after,
                    custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout),
                ),
            ),
        )

    def _create_app_secret(
        self, password: Password, child: pulumi.ResourceOptions
    ) -> k8s.core.v1.Secret:
        """`webapp-database-app`: the generation clients use; written once the Job has set it."""
        args = self._args
        use = args.rotation.use
        by_generation = generations(password, args.rotation, PASSWORD_KEY)
        values = database_values(
            host=args.host,
            dbname=args.database_name,
            username=login_role(args.username, use),
            password=by_generation[use],
            managed=args.managed,
            port=str(POSTGRES_PORT),
        )
        spec = cat.DATABASE_APP
        missing = set(spec.keys) ^ set(values)
        assert not missing, f"{spec.name}: keys differ from the catalogue: {sorted(missing)}"
        return k8s.core.v1.Secret(
            f"{self._name}-app",
            metadata=kx.metadata(
                spec.name,
                args.namespace,
                kx.labels(spec.name, args.instance, "secret", "v1"),
                {"webapp.io/description": spec.description},
            ),
            type="Opaque",
            string_data={key: pulumi.Output.secret(value) for key, value in values.items()},
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[self.job])),
        )
