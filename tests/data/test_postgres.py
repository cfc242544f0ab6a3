"""InClusterPostgres under the recording mocks (the backup script runs for real in test_postgres_backup)."""

from __future__ import annotations

from components.data.postgres import InClusterPostgres, InClusterPostgresArgs
from tests.support import SETTINGS, objects, one
from tools.offline import run_components

# --- Data services ----------------------------------------------------------------------------


def test_postgres_keeps_data_and_backs_up_daily() -> None:
    run = run_components(
        lambda: InClusterPostgres(
            "pg",
            InClusterPostgresArgs(
                namespace="ns", instance="t", settings=SETTINGS.database, clients=("api",)
            ),
        )
    )
    sts = one(run, "StatefulSet")["spec"]
    assert sts["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    assert "pg_isready" in " ".join(
        sts["template"]["spec"]["containers"][0]["readinessProbe"]["exec"]["command"]
    )
    cron = one(run, "CronJob")["spec"]
    assert cron["schedule"] == "0 2 * * *" and cron["concurrencyPolicy"] == "Forbid"
    backups = next(r for r in run.resources if r.name == "pg-backups")
    assert backups.retain_on_delete
    # Pending until the first backup Job on WaitForFirstConsumer classes: never awaited.
    assert backups.inputs["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    ingress = {
        o["metadata"]["name"]: o["spec"].get("ingress") for o in objects(run, "NetworkPolicy")
    }
    callers = {
        p["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
        for p in ingress["postgres"]
    }
    assert callers == {"api", "postgres-backup"}
