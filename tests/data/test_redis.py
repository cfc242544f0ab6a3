"""InClusterRedis under the recording mocks."""

from __future__ import annotations

import dataclasses

import pytest

from components.data.redis import InClusterRedis, InClusterRedisArgs
from tests.support import SETTINGS, one
from tools.offline import run_components


def test_redis_password_is_neither_in_config_nor_in_arguments() -> None:
    run = run_components(
        lambda: InClusterRedis(
            "r",
            InClusterRedisArgs(
                namespace="ns", instance="t", settings=SETTINGS.redis, clients=("api",)
            ),
        )
    )
    conf = one(run, "ConfigMap")["data"]["redis.conf"]
    assert "requirepass" not in conf and "include /run/redis/auth.conf" in conf
    c = one(run, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    assert "$REDIS_PASSWORD_A" in c["command"][2] and "$REDIS_PASSWORD_B" in c["command"][2]
    assert "requirepass" not in " ".join(c["command"])
    assert {e["name"] for e in c["env"]} == {
        "REDIS_PASSWORD_A",
        "REDIS_PASSWORD_B",
        "REDISCLI_AUTH",
    }
    assert all("secretKeyRef" in e["valueFrom"] for e in c["env"])


@pytest.mark.parametrize("persistence", [False, True])
def test_redis_persistence_option(persistence: bool) -> None:
    settings = dataclasses.replace(SETTINGS.redis, persistence=persistence)
    run = run_components(
        lambda: InClusterRedis(
            "r", InClusterRedisArgs(namespace="ns", instance="t", settings=settings, clients=())
        )
    )
    sts = one(run, "StatefulSet")["spec"]
    assert ("volumeClaimTemplates" in sts) is persistence
    assert ("appendonly yes" in one(run, "ConfigMap")["data"]["redis.conf"]) is persistence
