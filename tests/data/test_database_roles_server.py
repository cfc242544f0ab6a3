"""The application roles' SQL (`data.roles_sql`) against a real PostgreSQL, run by psql as an admin
that is not a superuser (as RDS's master user and Flexible Server's admin are): it creates the
roles idempotently, both generations log in and share the tables, renewing one generation leaves
the other's sessions and logins working, and the admin (the backups) still reads everything."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from components.data.database_roles import COMMAND, POLL_SECONDS, SCRIPT, SQL_DIR
from components.data.roles_sql import login_role, roles_sql, scram_verifier
from tests.data.test_postgres_backup import Postgres
from tests.support import config_file
from tools.offline import StackRun

ADMIN, ADMIN_PASSWORD, DB = "master", "masterpass", "webapp"
USER = "webapp"
ROLE_A, ROLE_B = login_role(USER, "a"), login_role(USER, "b")


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    root = Path(tempfile.mkdtemp(prefix="webapp-pg-roles-"))
    server = Postgres(root)
    server.start()
    try:
        # RDS's master user: CREATEROLE and CREATEDB, no superuser; it owns the database.
        server.psql(f"CREATE ROLE {ADMIN} LOGIN CREATEROLE CREATEDB PASSWORD '{ADMIN_PASSWORD}'")
        server.psql(f"CREATE DATABASE {DB} OWNER {ADMIN}")
        # PostgreSQL 15+ no longer lets every role create in public: the owner of the database
        # does (pg_database_owner), as on RDS.
        # What the applications created while they connected as the master user.
        server.psql(
            "CREATE TABLE todos (id serial PRIMARY KEY, title text NOT NULL);"
            "INSERT INTO todos (title) VALUES ('before');"
            "CREATE VIEW open_todos AS SELECT * FROM todos;",
            db=DB,
            user=ADMIN,
            password=ADMIN_PASSWORD,
        )
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _apply(server: Postgres, script: Path, password_a: str, password_b: str) -> str:
    """The roles Job's command: psql as the admin with each generation's verifier."""
    result = subprocess.run(
        [
            str(server.bindir / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(server.port),
            "-U",
            ADMIN,
            "-d",
            DB,
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            f"verifier_a={scram_verifier(password_a, ROLE_A)}",
            "-v",
            f"verifier_b={scram_verifier(password_b, ROLE_B)}",
            "-f",
            str(script),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PGPASSWORD": ADMIN_PASSWORD},
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


def _refused(server: Postgres, user: str, password: str) -> bool:
    try:
        server.psql("SELECT 1", db=DB, user=user, password=password)
    except subprocess.CalledProcessError as error:
        assert "password authentication failed" in error.stderr, error.stderr
        return True
    return False


@pytest.fixture
def script(tmp_path: Path, stack_run: Callable[..., StackRun]) -> Path:
    """The script as dev renders it in the `database-roles` ConfigMap (dev's user and database
    are both `webapp`, as here)."""
    rendered = config_file(stack_run("dev"), "database-roles", "roles.sql")
    assert rendered == roles_sql(USER, DB)
    path = tmp_path / "roles.sql"
    path.write_text(rendered)
    return path


def test_roles_are_created_idempotently_and_share_the_tables(
    postgres: Postgres, script: Path
) -> None:
    _apply(postgres, script, "passA1", "passB1")
    _apply(postgres, script, "passA1", "passB1")  # a second run changes nothing and fails nothing
    assert postgres.psql(
        f"SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles "
        f"WHERE rolname LIKE '{USER}_app%' ORDER BY 1",
        db=DB,
    ).splitlines() == [f"{USER}_app|f|f|f|f", f"{ROLE_A}|t|f|f|f", f"{ROLE_B}|t|f|f|f"]
    # The verifier is stored as given: the password never reached the server.
    stored = postgres.psql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{ROLE_A}'")
    assert stored == scram_verifier("passA1", ROLE_A)
    # a migrates: the table it creates belongs to the group, and b may alter it and use it.
    postgres.psql(
        "CREATE TABLE notes (id serial PRIMARY KEY, body text);"
        "INSERT INTO notes (body) VALUES ('from a'); INSERT INTO todos (title) VALUES ('a');",
        db=DB,
        user=ROLE_A,
        password="passA1",
    )
    assert postgres.psql("SELECT tableowner FROM pg_tables WHERE tablename = 'notes'", db=DB) == (
        f"{USER}_app"
    )
    postgres.psql(
        "ALTER TABLE notes ADD COLUMN done boolean DEFAULT false;"
        "INSERT INTO notes (body) VALUES ('from b'); ALTER TABLE todos ADD COLUMN done boolean;"
        "INSERT INTO todos (title) VALUES ('b');",
        db=DB,
        user=ROLE_B,
        password="passB1",
    )
    # What the master user created before passed to the group (the view and the table).
    assert postgres.psql(
        "SELECT string_agg(relname || ':' || pg_get_userbyid(relowner), ',' ORDER BY relname) "
        "FROM pg_class WHERE relname IN ('todos', 'open_todos', 'todos_id_seq')",
        db=DB,
    ) == (f"open_todos:{USER}_app,todos:{USER}_app,todos_id_seq:{USER}_app")
    # The admin (the backups, and the next run of the Job) still reads and owns through the group.
    assert postgres.psql(
        "SELECT (SELECT count(*) FROM notes) || ':' || (SELECT count(*) FROM open_todos)",
        db=DB,
        user=ADMIN,
        password=ADMIN_PASSWORD,
    ) == ("2:3")
    _apply(postgres, script, "passA1", "passB1")


def test_renewing_b_keeps_a_sessions_and_logins(postgres: Postgres, script: Path) -> None:
    _apply(postgres, script, "passA1", "passB1")
    # A client of generation a, connected before the rotation, keeps working after it.
    session = subprocess.Popen(
        [
            str(postgres.bindir / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(postgres.port),
            "-U",
            ROLE_A,
            "-d",
            DB,
            "-v",
            "ON_ERROR_STOP=1",
            "-Atc",
            "SELECT pg_sleep(3); INSERT INTO notes (body) VALUES ('during'); "
            "SELECT count(*) FROM notes WHERE body = 'during'",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PGPASSWORD": "passA1"},
    )
    try:
        deadline = time.monotonic() + 10
        while postgres.psql(
            f"SELECT count(*) FROM pg_stat_activity WHERE usename = '{ROLE_A}'"
        ) == ("0"):
            assert time.monotonic() < deadline, "a's session never connected"
            time.sleep(0.1)
        _apply(postgres, script, "passA1", "passB2")  # step 1 of a rotation: renew b
        out, err = session.communicate(timeout=30)
    finally:
        session.kill()
    assert session.returncode == 0, err
    assert out.splitlines()[-1] == "1"
    assert not _refused(postgres, ROLE_A, "passA1")  # a's new logins too
    assert not _refused(postgres, ROLE_B, "passB2")  # b accepts its new value
    assert _refused(postgres, ROLE_B, "passB1")  # and no longer the old one
    # The other way round: renewing a while clients use b.
    _apply(postgres, script, "passA2", "passB2")
    assert not _refused(postgres, ROLE_B, "passB2")
    assert _refused(postgres, ROLE_A, "passA1")
    assert not _refused(postgres, ROLE_A, "passA2")


def test_the_verifier_is_postgres_own() -> None:
    """A verifier PostgreSQL itself built would be checked the same way: ours has its shape and
    verifies the password by the RFC 5802 proof (StoredKey = H(HMAC(SaltedPassword, "Client
    Key")))."""
    verifier = scram_verifier("passA1", ROLE_A)
    mechanism, rest = verifier.split("$", 1)
    assert mechanism == "SCRAM-SHA-256"
    assert rest.startswith("4096:")
    assert scram_verifier("passA1", ROLE_A) == verifier  # stable: no diff on every up
    assert scram_verifier("passA1", ROLE_B) != verifier  # another role, another salt
    assert scram_verifier("passA2", ROLE_A) != verifier


def test_the_jobs_command_waits_for_the_database_then_sets_the_roles(tmp_path: Path) -> None:
    """The Job's own command (`database_roles.COMMAND`, run by sh with the pod's libpq
    variables): started before the server answers, it polls instead of failing, and sets both
    generations once the server is up."""
    sql = tmp_path / "sql"
    sql.mkdir()
    (sql / SCRIPT).write_text(roles_sql(USER, "postgres"))
    # Outside pytest's tmp_path, which the postgres user cannot traverse (as the fixture above).
    root = Path(tempfile.mkdtemp(prefix="webapp-pg-job-"))
    server = Postgres(root)
    env = {
        "PATH": f"{server.bindir}:{os.environ['PATH']}",
        "PGHOST": "127.0.0.1",
        "PGPORT": str(server.port),
        "PGDATABASE": "postgres",
        "PGUSER": "postgres",
        "PGPASSWORD": "superpass",
        "PGCONNECT_TIMEOUT": "2",
        "VERIFIER_A": scram_verifier("jobA", ROLE_A),
        "VERIFIER_B": scram_verifier("jobB", ROLE_B),
    }
    job = subprocess.Popen(
        ["sh", "-c", COMMAND.replace(f"{SQL_DIR}/", f"{sql}/")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(POLL_SECONDS + 1)
        assert job.poll() is None, job.communicate()  # still waiting: nothing answers yet
        server.start()
        out, err = job.communicate(timeout=60)
        assert job.returncode == 0, err
        for role, password in ((ROLE_A, "jobA"), (ROLE_B, "jobB")):
            assert server.psql("SELECT session_user", user=role, password=password) == role
    finally:
        job.kill()
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
