"""Helpers shared by the test packages: stack runs, component runs and the objects they declare.

Fixtures live in `conftest.py` files (the session's cached stack runs at the top, each package's
own next to its tests); everything here is a plain function or constant.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from components.config.catalogue import Probes
from components.config.parsing import parse_settings
from components.config.settings import Resources
from components.secrets import catalogue as cat
from components.workloads.http_service import HttpService, HttpServiceArgs
from tools.golden import stacks
from tools.offline import Registered, StackRun, normalise, run_components

STACKS = stacks()
IN_CI = os.environ.get("CI") == "true"


def require(condition: bool, reason: str) -> None:
    """Skip locally when a prerequisite is missing; fail in CI, where nothing may skip."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def program(name: str, *extra_dirs: str) -> str:
    found = shutil.which(name) or next(
        (str(Path(d) / name) for d in ("/usr/sbin", *extra_dirs) if (Path(d) / name).exists()), None
    )
    require(found is not None, f"program {name} is not installed")
    assert found is not None
    return found


# --- what a stack run declared ----------------------------------------------------------------


def records(run: StackRun, typ: str) -> list[Registered]:
    """Every registered resource of a Pulumi type token."""
    return [r for r in run.resources if r.type == typ]


def only(run: StackRun, typ: str) -> Registered:
    found = records(run, typ)
    assert len(found) == 1, f"{len(found)} {typ}"
    return found[0]


def waits_for(run: StackRun, urn: str) -> set[str]:
    """Every resource `urn` is created after, as the engine schedules it: its dependencies (explicit
    and through inputs) and theirs, where waiting on a component means waiting on all it
    contains."""
    by_urn = run.by_urn()
    children: dict[str, list[str]] = {}
    for record in run.resources:
        children.setdefault(record.parent, []).append(record.urn)
    seen: set[str] = set()
    pending = list(by_urn[urn].depends_on)
    while pending:
        dependency = pending.pop()
        if dependency in seen or dependency not in by_urn:
            continue
        seen.add(dependency)
        pending += by_urn[dependency].depends_on
        pending += children.get(dependency, [])
    return seen


def kind_and_name(run: StackRun, urn: str) -> tuple[str, str]:
    """A Kubernetes object's kind and name (or the Pulumi type and resource name otherwise)."""
    record = run.by_urn()[urn]
    if record.is_kubernetes_object:
        return record.inputs.get("kind", ""), record.inputs["metadata"]["name"]
    return record.type, record.name


def unwrap(value: Any) -> Any:
    """An input with its secrets revealed (mock values only)."""
    return normalise(value, reveal=True)


def as_list(value: str | list[str]) -> list[str]:
    """The AWS provider writes a one-item list in a policy document as a plain string."""
    return [value] if isinstance(value, str) else value


def config_file(run: StackRun, config_map: str, key: str) -> str:
    """A file of a rendered ConfigMap: what the real programs are given is what gets deployed."""
    return run.find("ConfigMap", config_map)["data"][key]


def has_object(run: StackRun, kind: str, name: str) -> bool:
    try:
        run.find(kind, name)
    except KeyError:
        return False
    return True


def pod_specs(
    objects: list[dict[str, Any]], jobs: bool = False
) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(workload name, pod spec, pod metadata) of every Deployment, Rollout, StatefulSet and
    CronJob, and with `jobs` every Job and DaemonSet too (the release gates)."""
    for obj in objects:
        kind = obj["kind"]
        if kind in ("Deployment", "Rollout", "StatefulSet") or (
            jobs and kind in ("Job", "DaemonSet")
        ):
            template = obj["spec"]["template"]
        elif kind == "CronJob":
            template = obj["spec"]["jobTemplate"]["spec"]["template"]
        else:
            continue
        yield f"{kind}/{obj['metadata']['name']}", template["spec"], template.get("metadata", {})


def produced_secrets(objects: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[set[str], str]]:
    """(namespace, Secret name) -> (keys, producer kind): Secrets declared directly or by an
    ExternalSecret or a SecretProviderClass."""
    found: dict[tuple[str, str], tuple[set[str], str]] = {}
    for obj in objects:
        ns = obj["metadata"].get("namespace")
        if obj["kind"] == "Secret":
            found[(ns, obj["metadata"]["name"])] = (
                set((obj.get("stringData") or {}).keys()),
                "Secret",
            )
        elif obj["kind"] == "SecretProviderClass":
            for synced in obj["spec"].get("secretObjects", []):
                found[(ns, synced["secretName"])] = (
                    {d["key"] for d in synced["data"]},
                    "SecretProviderClass",
                )
        elif obj["kind"] == "ExternalSecret":
            target = obj["spec"]["target"]
            template = (target.get("template") or {}).get("data")
            keys = (
                set(template) if template else {d["secretKey"] for d in obj["spec"].get("data", [])}
            )
            found[(ns, target.get("name", obj["metadata"]["name"]))] = (keys, "ExternalSecret")
        elif obj["kind"] == "Certificate" and obj["apiVersion"].startswith("cert-manager.io/"):
            # cert-manager writes these keys (a CA Issuer's `ca.crt` too): cert-manager v1.19.1
            # pkg/controller/certificaterequests/ca/ca.go, the issued bundle's chain and CA.
            found[(ns, obj["spec"]["secretName"])] = (
                {"tls.crt", "tls.key", "ca.crt"},
                "Certificate",
            )
    return found


# --- components run on their own ----------------------------------------------------------------

SETTINGS = parse_settings(
    {"webapp:domain": "app.example.com", "webapp:kubernetes": {"context": "kind"}},
    "dev",
    check_data_lock=False,
)
RES = Resources(cpu_request="50m", memory_request="64Mi", cpu_limit="250m", memory_limit="256Mi")


def service_args(**changes: Any) -> HttpServiceArgs:
    """The api's HttpServiceArgs from the dev settings, with `changes` applied."""
    settings_changes = changes.pop("settings", {})
    settings = dataclasses.replace(SETTINGS.services["api"], **settings_changes)
    base = HttpServiceArgs(
        app="api",
        namespace="ns",
        instance="test",
        component="backend",
        settings=settings,
        port=8080,
        metrics_port=9091,
        probes=Probes(
            startup="/health/startup", liveness="/health/live", readiness="/health/ready"
        ),
        env={"A": "1"},
        secret_env={"DB_PASSWORD": cat.SecretRef(secret=cat.DATABASE, key="password")},
    )
    return dataclasses.replace(base, **changes)


def http_service(**changes: Any) -> StackRun:
    return run_components(lambda: HttpService("svc", service_args(**changes)))


def objects(run: StackRun, kind: str) -> list[dict[str, Any]]:
    return [o for o in run.kubernetes_objects() if o["kind"] == kind]


def one(run: StackRun, kind: str) -> dict[str, Any]:
    found = objects(run, kind)
    assert len(found) == 1, f"{len(found)} {kind}"
    return found[0]


def pod(run: StackRun) -> dict[str, Any]:
    return one(run, "Deployment")["spec"]["template"]["spec"]


def container(run: StackRun) -> dict[str, Any]:
    return pod(run)["containers"][0]


SHIPPED_SECRETS = (*cat.APP_SECRETS, cat.GRAFANA)
"""Every Secret the shipped stacks deliver: they run neither optional service (RabbitMQ,
Elasticsearch; `tests/data/test_brokers.py` covers those)."""


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped (letters,
    digits, '_', '-' and spaces kept), each space a '-' (github/cmark-gfm's anchor filter, as
    html-pipeline's TableOfContentsFilter applies it)."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def readme_sections(text: str) -> dict[str, str]:
    """Anchor -> the `## ` section a README heading is in, for every heading outside code blocks;
    a repeated anchor gets GitHub's `-1`, `-2` suffix."""
    found: dict[str, str] = {}
    fenced, section = False, ""
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        heading = re.match(r"(#{1,6}) (.+)", line)
        if fenced or heading is None:
            continue
        if len(heading.group(1)) == 2:
            section = heading.group(2)
        anchor = base = github_anchor(heading.group(2))
        count = 0
        while anchor in found:
            count += 1
            anchor = f"{base}-{count}"
        found[anchor] = section
    return found
