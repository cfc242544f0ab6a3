"""The application's database roles: an alternating pair of login roles in one group (pure module).

The applications never connect as the admin (RDS's master user, Flexible Server's admin login, the
in-cluster superuser): they log in as `<user>_app_a` or `<user>_app_b`, the generation of
`webapp:secretRotation` clients use (`config.rotation`). Both are members of the group role
`<user>_app`, which holds every grant and owns what the applications create, so either login
sees the same tables. Renewing a generation's password (`ALTER ROLE ... PASSWORD`) refuses only
new logins with its old value, and no client uses that generation at that moment (the rotation's
first step renews the standby generation); a session already open is never closed by a password
change (PostgreSQL checks a password at authentication only). The admin's own password, rotated
by RDS every 7 days, is read by nothing but the roles Job and the backups.

This is AWS's "alternating users" rotation strategy
(https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotation-strategy.html), and the
PostgreSQL documentation's advice for it: role membership (`GRANT <group> TO <login>`) and
`ALTER ROLE <login> SET role = <group>`, so objects created by either login belong to the group.

The script runs in `psql` (`-v ON_ERROR_STOP=1`) as the admin, with the psql variables
`verifier_a` and `verifier_b`: each generation's SCRAM-SHA-256 verifier, never the password.
Both servers log DDL statements (`log_statement: ddl` on RDS and Flexible Server), and `ALTER ROLE
... PASSWORD 'plain'` would write the password into the log; a verifier is what `pg_authid`
stores anyway (PostgreSQL `src/backend/libpq/crypt.c`, `get_password_type`: a value that parses as a
SCRAM secret is stored as given). Every statement is idempotent: it runs again on every change.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from components.config.rotation import GENERATIONS, Generation

SCRAM_ITERATIONS = 4096
"""PostgreSQL's default `scram_iterations` (src/include/common/scram-common.h,
SCRAM_SHA_256_DEFAULT_ITERATIONS)."""
SALT_BYTES = 16
"""PostgreSQL's SCRAM_DEFAULT_SALT_LEN (src/include/common/scram-common.h)."""

IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,54}")
"""A role name this module writes unquoted-safe (lower case, so `"name"` and name agree); 54 so the
`_app_a` suffix stays within PostgreSQL's 63 bytes."""


def group_role(username: str) -> str:
    """The group role that holds the grants and owns the application's objects."""
    if not IDENTIFIER.fullmatch(username):
        raise ValueError(f"database username {username!r}: expected {IDENTIFIER.pattern}")
    return f"{username}_app"


def login_role(username: str, generation: Generation) -> str:
    """The login role of `generation` (`webapp_app_a`, `webapp_app_b`)."""
    return f"{group_role(username)}_{generation}"


def scram_verifier(password: str, role: str) -> str:
    """The SCRAM-SHA-256 secret PostgreSQL stores for `password` (RFC 5802 and RFC 7677, as
    PostgreSQL's `scram_build_secret` in src/common/scram-common.c writes it:
    `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, all base64).

    The salt is derived from the password and the role (an HMAC), not random: the same password
    gives the same verifier on every `pulumi up`, so the Secret holding it changes only when the
    password does. A salt's job, that two roles with one password or two servers get different
    verifiers, is kept; the passwords are 32 random characters, so no table of verifiers exists
    to look one up in.
    """
    salt = hmac.new(password.encode(), f"webapp-scram-salt:{role}".encode(), "sha256").digest()
    salt = salt[:SALT_BYTES]
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _create_role(role: str, options: str) -> str:
    """`CREATE ROLE` unless it exists (PostgreSQL has no `CREATE ROLE IF NOT EXISTS`): psql's
    `\\gexec` runs the statement the query returns, and the query returns none for an existing
    role."""
    return (
        f"SELECT 'CREATE ROLE \"{role}\" {options}' "
        f"WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') \\gexec"
    )


def roles_sql(username: str, dbname: str) -> str:
    """The psql script that creates (or updates) the group, both login roles and the grants."""
    group = group_role(username)
    if not IDENTIFIER.fullmatch(dbname):
        raise ValueError(f"database name {dbname!r}: expected {IDENTIFIER.pattern}")
    lines = [
        "\\set ON_ERROR_STOP on",
        "-- The group: no login; every grant, and the owner of what the applications create.",
        _create_role(group, "NOLOGIN"),
        # The admin joins the group so it may hand the group what it owns (below), and the backups
        # (as the admin) read the group's tables. PostgreSQL 16 gives the creator of a role ADMIN
        # on it, which is what lets a non-superuser admin (RDS, Flexible Server) grant it.
        f'GRANT "{group}" TO CURRENT_USER;',
    ]
    for generation in GENERATIONS:
        login = login_role(username, generation)
        lines += [
            f"-- Generation {generation}.",
            _create_role(login, "LOGIN NOCREATEDB NOCREATEROLE INHERIT"),
            # Only LOGIN and the password: a role created here has every other attribute off,
            # and a non-superuser admin may not even name SUPERUSER, REPLICATION or BYPASSRLS.
            f"ALTER ROLE \"{login}\" WITH LOGIN PASSWORD :'verifier_{generation}';",
            f'GRANT "{group}" TO "{login}";',
            # Sessions act as the group, so a table created by one generation belongs to the group
            # and the other generation can alter it in the next migration.
            f"ALTER ROLE \"{login}\" SET role = '{group}';",
        ]
    lines += [
        "-- Grants, to the group only.",
        f'GRANT CONNECT, TEMPORARY ON DATABASE "{dbname}" TO "{group}";',
        f'GRANT USAGE, CREATE ON SCHEMA public TO "{group}";',
        f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{group}";',
        f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{group}";',
        f'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO "{group}";',
        f'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO "{group}";',
        "-- What the applications created while they connected as the admin passes to the group,",
        "-- so their next migration may alter it (a sequence owned by a column follows its table).",
        "SELECT format('ALTER TABLE %I.%I OWNER TO %I', n.nspname, c.relname, "
        f"'{group}') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relowner = (SELECT oid FROM pg_roles WHERE "
        "rolname = CURRENT_USER) AND (c.relkind IN ('r', 'p', 'v') OR (c.relkind = 'S' "
        "AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass "
        "AND d.objid = c.oid AND d.deptype IN ('a', 'i')))) \\gexec",
    ]
    return "\n".join(lines) + "\n"
