"""README "Restoring PostgreSQL", run against a real PostgreSQL: the Job its command builds from
the rendered backup CronJob (the README's JSON patch applied to the CronJob's job template, as
`kubectl create job --from` and `kubectl patch --local` do), run with that Job's command and
environment, while a client that was not scaled down holds a transaction open; then the README's
check query, which must show the tables as they were at the backup."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.data.test_postgres_backup import CHECKSUM_SQL, Postgres
from tools.offline import ROOT, StackRun

SECTION = (ROOT / "README.md").read_text().split("\n## Restoring PostgreSQL\n", 1)[1]
SECTION = SECTION.split("\n## ", 1)[0]


@pytest.fixture(scope="module")
def server() -> Iterator[Postgres]:
    root = Path(tempfile.mkdtemp(prefix="webapp-pg-restore-"))
    postgres = Postgres(root)
    postgres.start()
    try:
        # CREATEDB: the backup's verification restores into a scratch database.
        postgres.psql("CREATE ROLE webapp LOGIN CREATEDB PASSWORD 'apppass'")
        postgres.psql("CREATE DATABASE webapp OWNER webapp")
        postgres.psql(
            "CREATE TABLE todos (id serial PRIMARY KEY, title text NOT NULL, done boolean NOT NULL);"
            "INSERT INTO todos (title, done) SELECT 'todo ' || g, g % 2 = 0 "
            "FROM generate_series(1, 2000) g;"
            "CREATE TABLE users (id bigint PRIMARY KEY, email text UNIQUE);"
            "INSERT INTO users SELECT g, 'user' || g || '@example.com' FROM generate_series(1, 300) g;",
            db="webapp",
            user="webapp",
            password="apppass",
        )
        yield postgres
    finally:
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)


def json_patch(document: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """RFC 6902 `replace` (the only operation the README uses), as `kubectl patch --type=json`."""
    patched = copy.deepcopy(document)
    for operation in operations:
        assert operation["op"] == "replace", operation
        *parents, last = operation["path"].strip("/").split("/")
        target: Any = patched
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        key: Any = int(last) if isinstance(target, list) else last
        if not isinstance(target, list):
            assert key in target, f"{operation['path']} does not exist (replace needs it)"
        target[key] = operation["value"]
    return patched


def restore_job(run: StackRun, file: str, action: str = "restore") -> dict[str, Any]:
    """The Job of step 3: the CronJob's job template with the README's patch applied (`<file>`
    filled in; `list` for step 2)."""
    patch = re.search(r"-p '(\[.*?\])'", SECTION)
    assert patch, "README Restoring PostgreSQL: no `kubectl patch -p '[...]'`"
    text = patch.group(1).replace("<file>", file)
    if action == "list":
        text = text.replace(f'"restore", "/backups/{file}"', '"list"')
    operations = json.loads(text)
    cron = run.find("CronJob", "postgres-backup")
    assert re.search(r"create job postgres-restore --from=cronjob/postgres-backup", SECTION)
    # `kubectl create job --from=cronjob/...`: a Job whose spec is the CronJob's job template.
    job = {"apiVersion": "batch/v1", "kind": "Job", "spec": cron["spec"]["jobTemplate"]["spec"]}
    return json_patch(job, operations)


def check_query() -> str:
    """Step 4's SQL, from the README's here-document."""
    found = re.search(r"<<'SQL'\n(.*?)\n\s*SQL\n", SECTION, re.S)
    assert found, "README Restoring PostgreSQL: no <<'SQL' check query"
    return " ".join(line.strip() for line in found.group(1).splitlines())


def run_container(
    job: dict[str, Any], server: Postgres, script: Path, backups: Path
) -> subprocess.CompletedProcess[str]:
    """The Job's container, here: its command with the mounted paths mapped to this machine,
    its environment with the cluster's names mapped to the test server."""
    container = job["spec"]["template"]["spec"]["containers"][0]
    secrets = {"username": "webapp", "password": "apppass", "dbname": "webapp"}
    env: dict[str, str] = {}
    for variable in container["env"]:
        reference = (variable.get("valueFrom") or {}).get("secretKeyRef")
        env[variable["name"]] = secrets[reference["key"]] if reference else variable["value"]
    assert env["PGHOST"] == "postgres" and env["BACKUP_DIR"] == "/backups"
    env.update(PGHOST="127.0.0.1", PGPORT=str(server.port), BACKUP_DIR=str(backups))
    command = [
        str(script) if part == "/scripts/pg-backup.sh" else part.replace("/backups", str(backups))
        for part in container["command"]
    ]
    path = f"{server.bindir}:{os.environ['PATH']}"
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, env={**env, "PATH": path}
    )


def client_in_a_transaction(server: Postgres) -> subprocess.Popen[str]:
    """An application session that was not scaled down: a transaction left open on `todos`."""
    client = subprocess.Popen(
        [str(server.bindir / "psql"), "-h", "127.0.0.1", "-p", str(server.port)]
        + ["-U", "webapp", "-d", "webapp", "-q"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PGPASSWORD": "apppass"},
    )
    assert client.stdin is not None
    client.stdin.write("BEGIN; SELECT count(*) FROM todos;\n")
    client.stdin.flush()
    end = time.monotonic() + 20
    while "idle in transaction" not in server.psql(
        "SELECT string_agg(state, ',') FROM pg_stat_activity WHERE datname = 'webapp'"
    ):
        assert time.monotonic() < end, "the client's transaction did not start"
        time.sleep(0.1)
    return client


def test_the_readme_restore_procedure(
    server: Postgres, stack_run: Callable[..., StackRun], tmp_path: Path
) -> None:
    run = stack_run("dev")
    script = tmp_path / "pg-backup.sh"
    script.write_text(run.find("ConfigMap", "postgres-backup")["data"]["pg-backup.sh"])
    backups = tmp_path / "backups"
    backups.mkdir()
    # The nightly backup, as the CronJob runs it.
    cron_job = {"spec": run.find("CronJob", "postgres-backup")["spec"]["jobTemplate"]["spec"]}
    backup = run_container(cron_job, server, script, backups)
    assert backup.returncode == 0, backup.stderr
    file = next(backups.glob("webapp-*.dump")).name
    query = check_query()
    at_backup = server.psql(query, db="webapp", user="webapp", password="apppass")
    assert at_backup.splitlines() == ["todos|2000", "users|300"]
    checksum = server.psql(CHECKSUM_SQL, db="webapp", user="webapp", password="apppass")

    # Step 2: the list names the backup.
    listing = run_container(restore_job(run, file, "list"), server, script, backups)
    assert listing.returncode == 0 and file in listing.stdout, listing.stderr

    # Damage after the backup, and a client still in a transaction.
    server.psql(
        "DELETE FROM todos WHERE id > 100; UPDATE users SET email = NULL",
        db="webapp",
        user="webapp",
        password="apppass",
    )
    client = client_in_a_transaction(server)
    try:
        started = time.monotonic()
        job = restore_job(run, file)
        command = job["spec"]["template"]["spec"]["containers"][0]["command"]
        assert command == ["/bin/sh", "/scripts/pg-backup.sh", "restore", f"/backups/{file}"]
        restored = run_container(job, server, script, backups)
        assert restored.returncode == 0, restored.stderr
        assert restored.stderr.rstrip().endswith("restore complete"), restored.stderr
        assert "ended 1 other sessions" in restored.stderr
        assert time.monotonic() - started < 60
        assert client.stdin is not None
        client.stdin.write("SELECT 1;\n")
        client.stdin.close()
        assert client.wait(timeout=10) == 2  # psql: "the connection to the server went bad"
    finally:
        client.kill()
    # Step 4: the tables as they were at the backup.
    assert server.psql(query, db="webapp", user="webapp", password="apppass") == at_backup
    assert server.psql(CHECKSUM_SQL, db="webapp", user="webapp", password="apppass") == checksum
