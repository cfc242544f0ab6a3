"""The backup script against a real PostgreSQL: dump, verify by a real restore, prune, restore and
compare; a corrupted dump is caught before it counts, a tampered one is refused at restore."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.support import config_file, program, require
from tools.offline import StackRun

# ----------------------------------------------------------------------------------------------
# PostgreSQL backup and restore
# ----------------------------------------------------------------------------------------------


def _pg_bindir() -> Path:
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name)
    )
    require(
        bool(candidates), "PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are not installed"
    )
    return candidates[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Postgres:
    def __init__(self, root: Path):
        self.bindir = _pg_bindir()
        self.root = root
        self.data = root / "data"
        self.port = _free_port()
        self.as_postgres: list[str] = []
        if os.geteuid() == 0:
            # initdb refuses to run as root; use the postgres system user the package creates.
            runuser = shutil.which("runuser")
            require(runuser is not None, "runuser is needed to start PostgreSQL as root")
            self.as_postgres = [str(runuser), "-u", "postgres", "--"]
            shutil.chown(root, "postgres")

    def run(
        self, *args: str, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.as_postgres, *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=check,
        )

    def start(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text("superpass\n")
        if self.as_postgres:
            shutil.chown(pwfile, "postgres")
        self.run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
        )
        self.run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-w",
            "-l",
            str(self.root / "log"),
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1",
            "start",
        )

    def stop(self) -> None:
        self.run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop", check=False
        )

    def psql(
        self, sql: str, db: str = "postgres", user: str = "postgres", password: str = "superpass"
    ) -> str:
        env = {**os.environ, "PGPASSWORD": password}
        result = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                user,
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-Atc",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=True,
        )
        return result.stdout.strip()


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    # Not under pytest's tmp_path: its parents are private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="webapp-pg-"))
    server = Postgres(root)
    server.start()
    try:
        # CREATEDB: the verification restores into a scratch database (in the cluster the user is
        # the server's superuser, the postgres image's POSTGRES_USER).
        server.psql("CREATE ROLE webapp LOGIN CREATEDB PASSWORD 'apppass'")
        server.psql("CREATE DATABASE webapp OWNER webapp")
        server.psql("CREATE DATABASE restored OWNER webapp")
        server.psql(
            "CREATE TABLE todos (id serial PRIMARY KEY, title text NOT NULL, done boolean NOT NULL DEFAULT false);"
            "INSERT INTO todos (title, done) SELECT 'Read article ' || g, g % 3 = 0 FROM generate_series(1, 2000) g;"
            "CREATE TABLE users (id bigint PRIMARY KEY, email text UNIQUE);"
            "INSERT INTO users SELECT g, 'user' || g || '@example.com' FROM generate_series(1, 300) g;",
            db="webapp",
            user="webapp",
            password="apppass",
        )
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


CHECKSUM_SQL = (
    "SELECT (SELECT count(*) FROM todos) || ':' || (SELECT md5(string_agg(id || title || done, ',' ORDER BY id)) FROM todos)"
    " || ':' || (SELECT md5(string_agg(id || email, ',' ORDER BY id)) FROM users)"
)


def _script_env(server: Postgres, backup_dir: Path, password: str = "apppass") -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{server.bindir}:{os.environ['PATH']}",
        "PGHOST": "127.0.0.1",
        "PGPORT": str(server.port),
        "PGUSER": "webapp",
        "PGPASSWORD": password,
        "PGDATABASE": "webapp",
        "BACKUP_DIR": str(backup_dir),
        "RETENTION_DAYS": "7",
    }


@pytest.fixture(scope="module")
def backup_script(
    stack_run: Callable[..., StackRun], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    path = tmp_path_factory.mktemp("script") / "pg-backup.sh"
    path.write_text(config_file(stack_run("dev"), "postgres-backup", "pg-backup.sh"))
    return path


def _run(script: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", str(script), *args], capture_output=True, text=True, timeout=300, env=env
    )


def test_backup_verify_prune_and_restore(
    postgres: Postgres, backup_script: Path, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    old = backups / "webapp-20000101T000000Z.dump"
    recent = backups / "webapp-20991231T000000Z.dump"
    for path, age_days in ((old, 10), (recent, 2)):
        path.write_bytes(b"old backup")
        stamp = time.time() - age_days * 86400
        os.utime(path, (stamp, stamp))
    env = _script_env(postgres, backups)

    result = _run(backup_script, env, "backup")
    assert result.returncode == 0, result.stderr
    dumps = sorted(p for p in backups.glob("webapp-2*.dump") if p not in (old, recent))
    assert len(dumps) == 1
    dump = dumps[0]
    assert (backups / f"{dump.name}.sha256").exists()
    assert dump.read_bytes()[:5] == b"PGDMP"  # custom format archive
    assert not old.exists(), "a backup older than the retention was kept"
    assert recent.exists(), "a backup inside the retention was pruned"
    assert not list(backups.glob(".*partial"))

    listing = _run(backup_script, env, "list")
    assert dump.name in listing.stdout

    before = postgres.psql(CHECKSUM_SQL, db="webapp", user="webapp", password="apppass")
    assert before.startswith("2000:")
    result = _run(backup_script, env, "restore", str(dump), "restored")
    assert result.returncode == 0, result.stderr
    after = postgres.psql(CHECKSUM_SQL, db="restored", user="webapp", password="apppass")
    assert after == before


def test_tampered_backup_is_not_restored(
    postgres: Postgres, backup_script: Path, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    env = _script_env(postgres, backups)
    assert _run(backup_script, env, "backup").returncode == 0
    dump = next(backups.glob("webapp-*.dump"))
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    result = _run(backup_script, env, "restore", str(dump), "restored")
    assert result.returncode != 0
    assert "checksum mismatch" in result.stderr


def test_failed_backup_leaves_nothing_behind_and_keeps_the_newest(
    postgres: Postgres, backup_script: Path, tmp_path: Path
) -> None:
    """Pruning runs first (a full volume never blocks the next backup), but never takes the
    newest backup, however old: after days of failures it may be the only one left."""
    backups = tmp_path / "backups"
    backups.mkdir()
    older, keep = (backups / f"webapp-2000010{day}T000000Z.dump" for day in (1, 2))
    for path in (older, keep):
        path.write_bytes(b"old")
        stamp = time.time() - 30 * 86400
        os.utime(path, (stamp, stamp))
    result = _run(backup_script, _script_env(postgres, backups, password="wrong"), "backup")
    assert result.returncode != 0
    assert sorted(p.name for p in backups.iterdir()) == [keep.name], (
        "a failed backup must leave no files and keep the newest backup"
    )


def test_interrupted_runs_partial_files_are_pruned(
    postgres: Postgres, backup_script: Path, tmp_path: Path
) -> None:
    """A run killed mid-dump (its deadline, an OOM kill) leaves `.partial`: the next run removes
    it once it is older than a run may last, never a younger one (a run in progress)."""
    backups = tmp_path / "backups"
    backups.mkdir()
    stale, live = backups / ".webapp-1.dump.partial", backups / ".webapp-2.dump.partial"
    for path, age in ((stale, 2 * 3600), (live, 60)):
        path.write_bytes(b"x" * 1024)
        os.utime(path, (time.time() - age, time.time() - age))
    assert _run(backup_script, _script_env(postgres, backups), "backup").returncode == 0
    assert not stale.exists() and live.exists()


def _corrupt(path: Path) -> None:
    """64 bytes flipped three quarters into the archive: in the data, past the table of contents."""
    data = bytearray(path.read_bytes())
    start = len(data) * 3 // 4
    data[start : start + 64] = bytes(byte ^ 0xFF for byte in data[start : start + 64])
    path.write_bytes(bytes(data))


def test_a_corrupted_dump_fails_verification(
    postgres: Postgres, backup_script: Path, tmp_path: Path
) -> None:
    """The table of contents of a corrupted dump still reads (`pg_restore --list`, the old check,
    passes), the real restore does not: `verify` says so."""
    backups = tmp_path / "backups"
    backups.mkdir()
    env = _script_env(postgres, backups)
    assert _run(backup_script, env, "backup").returncode == 0
    dump = next(backups.glob("webapp-*.dump"))
    assert _run(backup_script, env, "verify", str(dump)).returncode == 0
    _corrupt(dump)
    listing = subprocess.run(
        [str(postgres.bindir / "pg_restore"), "--list", str(dump)], capture_output=True, timeout=60
    )
    assert listing.returncode == 0, "the table of contents alone would have passed"
    result = _run(backup_script, env, "verify", str(dump))
    assert result.returncode != 0 and "verification failed" in result.stderr, result.stderr
    assert "webapp_verify" not in postgres.psql("SELECT string_agg(datname, ',') FROM pg_database")


def test_a_backup_whose_dump_is_corrupted_is_not_kept(
    postgres: Postgres, backup_script: Path, tmp_path: Path
) -> None:
    """End to end: a pg_dump whose output is damaged on its way to the volume (a stand-in that
    runs the real pg_dump, then flips 64 bytes) fails the backup, which keeps nothing of it."""
    backups, bin_dir = tmp_path / "backups", tmp_path / "bin"
    backups.mkdir()
    bin_dir.mkdir()
    wrapper = bin_dir / "pg_dump"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'"{postgres.bindir / "pg_dump"}" "$@" || exit $?\n'
        'for arg in "$@"; do case "$arg" in --file=*) file="${arg#--file=}" ;; esac; done\n'
        f'"{sys.executable}" -c "import sys; from tests.data.test_postgres_backup import _corrupt; '
        '_corrupt(__import__(\'pathlib\').Path(sys.argv[1]))" "$file"\n'
    )
    wrapper.chmod(0o755)
    env = _script_env(postgres, backups)
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    result = _run(backup_script, env, "backup")
    assert result.returncode != 0 and "verification failed" in result.stderr, result.stderr
    assert list(backups.iterdir()) == []


def test_backup_runs_as_the_cronjobs_uid_with_no_passwd_entry(
    postgres: Postgres, backup_script: Path, stack_run: Callable[..., StackRun]
) -> None:
    """The CronJob runs above UID 10000, a UID the postgres image has no passwd entry for, and
    may meet backups an earlier UID (the image's 70) wrote: the kubelet hands the volume over
    through fsGroup (group-owned, group-writable, setgid directory). The script backs up and
    prunes the earlier UID's backup all the same."""
    require(os.geteuid() == 0, "switching to the CronJob's UID needs root (CI runs as root)")
    pod = stack_run("dev").find("CronJob", "postgres-backup")["spec"]["jobTemplate"]["spec"]
    context = pod["template"]["spec"]["securityContext"]
    uid, gid, fs_group = context["runAsUser"], context["runAsGroup"], context["fsGroup"]
    assert uid > 10000 and gid > 10000 and fs_group > 10000
    with pytest.raises(KeyError):
        pwd.getpwuid(uid)  # like the image: no name for this UID
    root = Path(tempfile.mkdtemp(prefix="webapp-backup-uid-"))
    try:
        root.chmod(0o755)
        script = root / "pg-backup.sh"
        shutil.copy(backup_script, script)
        script.chmod(0o555)
        backups = root / "backups"
        backups.mkdir()
        os.chown(backups, 0, fs_group)
        backups.chmod(0o2770)
        # Two expired backups of the earlier UID: pruning (before the dump) keeps the newest.
        earlier, newest = (backups / f"webapp-2000010{day}T000000Z.dump" for day in (1, 2))
        for path in (earlier, newest):
            path.write_bytes(b"an earlier UID's backup")
            os.chown(path, 70, fs_group)
            path.chmod(0o660)
            stamp = time.time() - 30 * 86400
            os.utime(path, (stamp, stamp))
        env = {
            k: v
            for k, v in _script_env(postgres, backups).items()
            if k not in ("HOME", "USER", "LOGNAME")
        }
        setpriv = program("setpriv")
        result = subprocess.run(
            [setpriv, f"--reuid={uid}", f"--regid={gid}", f"--groups={fs_group}", "--"]
            + ["/bin/sh", str(script), "backup"],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        dumps = [dump for dump in backups.glob("webapp-2*.dump") if dump != newest]
        assert len(dumps) == 1 and dumps[0].stat().st_uid == uid
        assert dumps[0].read_bytes()[:5] == b"PGDMP"
        assert not earlier.exists(), "the earlier UID's expired backup was not pruned"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_backup_cronjob_runs_the_same_script(stack_run: Callable[..., StackRun]) -> None:
    cron: dict[str, Any] = stack_run("dev").find("CronJob", "postgres-backup")
    assert cron["spec"]["schedule"] == "0 2 * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["/bin/sh", "/scripts/pg-backup.sh", "backup"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["RETENTION_DAYS"] == "7" and env["BACKUP_DIR"] == "/backups"
