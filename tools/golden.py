"""`make golden`: re-render every stack into tests/golden/<stack>/ and re-list every URN (commit
both).

The golden renders make the effect of a change on each environment visible in review; the test
suite fails when a render differs from its golden files.

The URN lists (`tests/golden/urns/<stack>-<variant>.txt`) hold every resource's URN of every
stack in every shape the suite runs it in (`VARIANTS`). A URN is a resource's identity in the
Pulumi state: a changed URN is a delete-and-create on the next `pulumi up` unless the resource
carries an alias. Moving code between modules must leave these lists untouched.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from components.config.credentials import KEYS

from .offline import ROOT, SecretConfig, StackRun, load_stack_config, run_stack
from .render import render, validate_run, write

GOLDEN = ROOT / "tests" / "golden"
URNS = GOLDEN / "urns"
GITOPS_GOLDEN = GOLDEN / "gitops"
"""The GitOps project's renders (`gitops/`), one folder per GitOps stack, handed over."""
GITOPS_HAND_OVER = {"gitops:handOver": True}

# The shapes each shipped stack is run in by the suite: as shipped, and with one option flipped, so
# that an option only one shipped stack uses cannot rot unseen.
EXTERNAL_PROMETHEUS = "http://prometheus.observability.svc.cluster.local:9090"
"""The Prometheus a variant without the monitoring stack points analysis and KEDA at."""
VARIANTS = (
    "as-shipped",
    "ingress",
    "monitoring-flipped",
    "cloud-none",
    "cloud-aws",
    "cloud-azure",
    "optional-services",
)
OPTIONAL_SERVICES = {
    "webapp:rabbitmq": {
        "enabled": True,
        "replicas": 3,
        "clients": ["api", "broadcaster"],
        # Small nodes, so three fit dev's quota too.
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "500m", "memory": "512Mi"},
        },
    },
    "webapp:elasticsearch": {"enabled": True, "clients": ["api"]},
}
"""RabbitMQ and Elasticsearch on (no shipped stack runs them)."""


SHIPPED = ("dev", "production", "staging")
"""The stacks this repository ships: the ones the suite, `make golden`, `make bench` and `make
policy` (without a stack) run. Named rather than globbed, so that a stack of your own
(`Pulumi.<name>.yaml`, README "A stack of your own") or a branch stack (`Pulumi.feature-*.yaml`)
beside them changes nothing the suite checks; a test keeps this list equal to the stack files git
tracks."""


def stacks() -> list[str]:
    return list(SHIPPED)


def variant_overrides(stack: str, variant: str) -> dict[str, Any]:
    """The config overrides that turn a shipped stack into `variant`."""
    shipped = load_stack_config(stack)
    if variant == "ingress":
        # Branch hosts are Gateway listeners: an Ingress-routed stack hosts none.
        routing = {
            k: v for k, v in (shipped.get("webapp:routing") or {}).items() if k != "branches"
        }
        routed: dict[str, Any] = {"webapp:routing": {**routing, "mode": "ingress"}}
        if (shipped.get("webapp:mesh") or {}).get("enabled"):
            # The mesh needs the Gateway (its proxies join it): an Ingress-routed stack splits a
            # canary through the ingress controller instead.
            routed["webapp:mesh"] = {**shipped["webapp:mesh"], "enabled": False}
        return routed
    if variant.startswith("cloud-"):
        # Switching cloud is one key (every stack file carries the settings of every cloud), but
        # for credentials kept in the cloud store: `cloud: none` has none, so they come from
        # config, as Pulumi secrets.
        cloud = variant.removeprefix("cloud-")
        overrides: dict[str, Any] = {"webapp:cloud": cloud}
        credentials = dict(shipped.get("webapp:credentials") or {})
        stored = [group for group, source in credentials.items() if source == "store"]
        if cloud == "none" and stored:
            for group in stored:
                credentials[group] = {key: f"offline-{group}-{key}" for key in KEYS[group]}
            overrides["webapp:credentials"] = SecretConfig(credentials)
        return overrides
    if variant == "optional-services":
        return dict(OPTIONAL_SERVICES)
    if variant == "monitoring-flipped":
        monitoring = dict(shipped.get("webapp:monitoring") or {})
        monitoring["enabled"] = not monitoring.get("enabled", False)
        if not monitoring["enabled"]:
            # Analysis and KEDA's load triggers then query a Prometheus outside this program.
            monitoring["prometheusUrl"] = EXTERNAL_PROMETHEUS
        return {"webapp:monitoring": monitoring}
    if variant == "as-shipped":
        return {}
    raise ValueError(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")


def urn_list(run: StackRun) -> str:
    """Every URN of a run, sorted, one per line (providers included: they are resources too)."""
    return "".join(f"{urn}\n" for urn in sorted(r.urn for r in run.resources))


def urn_file(stack: str, variant: str) -> Path:
    return URNS / f"{stack}-{variant}.txt"


def gitops_run(stack: str) -> StackRun:
    """A GitOps stack, handed over (what it declares once a team turns it on)."""
    from gitops.program import GITOPS

    config = {**load_stack_config(stack, root=GITOPS), **GITOPS_HAND_OVER}
    return run_stack(stack, root=GITOPS, config=config)


def _write_gitops() -> int:
    from gitops.program import gitops_stacks

    for stack in gitops_stacks():
        run = gitops_run(stack)
        problems = validate_run(run)
        if problems:
            print(f"gitops stack {stack}: {len(problems)} invalid object(s)", file=sys.stderr)
            print("\n".join(f"  - {p}" for p in problems), file=sys.stderr)
            return 1
        write(render(run), GITOPS_GOLDEN / stack)
        print(f"gitops stack {stack}: golden render written to {GITOPS_GOLDEN.relative_to(ROOT)}/")
    return 0


def main() -> int:
    for stack in stacks():
        run = run_stack(stack)
        problems = validate_run(run)
        if problems:
            print(
                f"stack {stack}: not updating golden files, {len(problems)} invalid object(s):",
                file=sys.stderr,
            )
            print("\n".join(f"  - {p}" for p in problems), file=sys.stderr)
            return 1
        out: Path = GOLDEN / stack
        write(render(run), out)
        print(f"stack {stack}: golden render written to {out.relative_to(ROOT)}/")
    if _write_gitops() != 0:
        return 1
    URNS.mkdir(parents=True, exist_ok=True)
    for stack in stacks():
        for variant in VARIANTS:
            urn_file(stack, variant).write_text(
                urn_list(run_stack(stack, variant_overrides(stack, variant)))
            )
    print(
        f"URN lists of {len(stacks())} stacks x {len(VARIANTS)} variants written to "
        f"{URNS.relative_to(ROOT)}/"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
