"""Run the policy pack (policy/) over an offline run of a stack, as CrossGuard would.

`check(run, config)` hands every custom resource the program declares (and the objects of every
yaml ConfigFile/ConfigGroup, which the engine sees as that component's children; a manifest it
cannot read is itself a mandatory finding) to every resource policy, and all of them to every
stack policy, through pulumi_policy's own argument types, so the pack's
code runs exactly as under `pulumi preview --policy-pack policy`; only the engine is missing.
Secret inputs are revealed (CrossGuard sees plaintext too), and the properties are wrapped in
pulumi_policy's unknown-checking proxies, as the analyzer wraps them.

    python -m tools.policy_check production       # findings, exit 1 on a mandatory one
    python -m tools.policy_check --all            # every shipped stack
    python -m tools.policy_check --all --pack ../base/policy   # judged by another checkout's pack

A stack that cannot be run (no stack file, YAML that does not parse, config the settings refuse)
or has no readable policy config is reported in one line per problem, as `make render` does, and
the exit status is 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import yaml
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from .offline import ROOT, Registered, StackRun, normalise
from .policy_config import CONFIG as CONFIG  # re-exported: the tests read it here
from .policy_config import PACK, config_file


def policies(pack: Path = PACK) -> list[Policy]:
    """The pack's policies, imported as the CLI's analyzer imports them (the pack's directory on
    the path). One pack per process: `webapp_policy` is imported once."""
    if str(pack) not in sys.path:
        sys.path.insert(0, str(pack))
    from webapp_policy import POLICIES

    return list(POLICIES)


OUTPUTS_NOTE = (
    "offline, every policy reads the inputs the program declares; in `pulumi preview` and `up` "
    "stack policies read each resource's outputs instead (provider and API server defaults "
    "filled in, values unknown until created), so a default the program leaves out is judged "
    "here by what the rule assumes for an absent field"
)


class PolicyConfigError(Exception):
    """A stack's policy config is missing or not a JSON object."""


def load_config(stack: str, pack: Path = PACK) -> dict[str, Any]:
    path = pack / config_file(stack).relative_to(PACK)
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    if not path.exists():
        raise PolicyConfigError(
            f"no policy config {shown}: copy policy/config/dev.json (or the shipped stack yours "
            "is like) to it"
        )
    try:
        loaded = json.loads(path.read_text())
    except ValueError as error:
        raise PolicyConfigError(f"{shown}: not valid JSON: {error}") from None
    if not isinstance(loaded, dict):
        raise PolicyConfigError(f"{shown}: expected a JSON object of policy names")
    return dict(loaded)


@dataclass(frozen=True)
class Finding:
    policy: str
    level: str
    urn: str
    message: str

    def __str__(self) -> str:
        return f"[{self.level}] {self.policy}: {self.message}"


def _level(policy: Policy, config: Mapping[str, Any]) -> str:
    own = config.get(policy.name)
    if isinstance(own, str):
        return own
    if isinstance(own, Mapping) and "enforcementLevel" in own:
        return str(own["enforcementLevel"])
    if isinstance(config.get("all"), str):
        return str(config["all"])
    return (policy.enforcement_level or EnforcementLevel.MANDATORY).value


def _policy_config(policy: Policy, config: Mapping[str, Any]) -> dict[str, Any]:
    own = config.get(policy.name)
    if not isinstance(own, Mapping):
        return {}
    return {k: v for k, v in own.items() if k != "enforcementLevel"}


def options(
    protect: bool = False, ignore_changes: Sequence[str] = (), parent: Optional[str] = None
) -> PolicyResourceOptions:
    """The resource options CrossGuard hands a policy (no custom timeouts, aliases)."""
    return PolicyResourceOptions(
        protect=protect,
        ignore_changes=list(ignore_changes),
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=parent,
    )


def _options(resource: Registered) -> PolicyResourceOptions:
    return options(resource.protect, resource.ignore_changes, resource.parent or None)


# yaml/v2 (and v1) ConfigFile and ConfigGroup: components whose objects the provider creates
# as their children, which an offline run never sees. The runner reads the objects itself: a
# local file, inline `yaml`/`objs`, or for a URL the vendored copy named here.
MANIFEST_COMPONENTS = {
    "kubernetes:yaml/v2:ConfigFile",
    "kubernetes:yaml/v2:ConfigGroup",
    "kubernetes:yaml:ConfigFile",
    "kubernetes:yaml:ConfigGroup",
}
VENDORED_MANIFESTS = {
    "https://github.com/rabbitmq/cluster-operator/releases/download/v2.22.3/cluster-operator.yml": (
        ROOT / "schemas" / "manifests" / "rabbitmq-cluster-operator-v2.22.3.yaml"
    )
}


class UnseenManifest(Exception):
    """A ConfigFile/ConfigGroup whose objects the runner cannot read (a URL nothing vendors)."""


def _manifest_texts(inputs: Mapping[str, Any]) -> list[str]:
    files = [inputs["file"]] if inputs.get("file") else list(inputs.get("files") or [])
    texts = []
    for name in files:
        name = str(name)
        if name in VENDORED_MANIFESTS:
            texts.append(VENDORED_MANIFESTS[name].read_text())
        elif "://" in name:
            raise UnseenManifest(
                f"{name}: no vendored copy in tools/policy_check.py VENDORED_MANIFESTS"
            )
        else:
            texts.append((ROOT / name).read_text())
    inline = inputs.get("yaml")
    texts += [inline] if isinstance(inline, str) else [str(t) for t in inline or []]
    return texts


def manifest_children(component: Registered) -> list[Registered]:
    """The objects a ConfigFile/ConfigGroup applies, as the resources the provider would
    register under it (`kubernetes:<group>/<version>:<Kind>`, parented to the component)."""
    inputs = normalise(component.inputs, reveal=True)
    objects = [o for text in _manifest_texts(inputs) for o in yaml.safe_load_all(text) if o]
    objects += [o for o in inputs.get("objs") or [] if o]
    children = []
    for obj in objects:
        version = str(obj.get("apiVersion", ""))
        group = version if "/" in version else f"core/{version}"
        meta = obj.get("metadata") or {}
        name = f"{component.name}:{meta.get('namespace', '')}/{meta.get('name', '')}"
        typ = f"kubernetes:{group}:{obj.get('kind')}"
        urn = f"{component.urn}${typ}::{name}"
        # protect is inherited from the parent (pulumi SDK resource.py: "Infer protection from
        # parent"), as the component's children are registered with it as their parent.
        children.append(
            Registered(typ, name, urn, component.urn, True, dict(obj), protect=component.protect)
        )
    return children


def checked(run: StackRun, unseen: Optional[list[str]] = None) -> list[Registered]:
    """The custom resources the engine would hand the pack, the objects of every
    ConfigFile/ConfigGroup included; what cannot be read is added to `unseen`."""
    found = []
    for resource in run.resources:
        if resource.type in MANIFEST_COMPONENTS:
            try:
                found += manifest_children(resource)
            except UnseenManifest as error:
                if unseen is None:
                    raise
                unseen.append(f"{resource.name}: {error}")
        # Providers and components carry no properties the rules read.
        elif resource.custom and not resource.type.startswith("pulumi:providers:"):
            found.append(resource)
    return found


def _reporter(
    findings: list[Finding], policy: str, level: str, default_urn: str = ""
) -> ReportViolation:
    """A `report_violation` callback collecting into `findings` (the resource's URN by default)."""

    def report(message: str, urn: Optional[str] = None) -> None:
        findings.append(Finding(policy, level, urn or default_urn, message))

    return report


def check(
    run: StackRun, config: Mapping[str, Any], pack: Optional[list[Policy]] = None
) -> list[Finding]:
    findings: list[Finding] = []
    unseen: list[str] = []
    resources = checked(run, unseen)
    # Not seen is not passed: a manifest the pack cannot read blocks like a violation.
    findings += [Finding("offline-runner", "mandatory", "", f"cannot see {u}") for u in unseen]
    # Wrapped as the analyzer wraps them: Mapping/Sequence proxies, not dict/list.
    props = {r.urn: unknown_checking_proxy(normalise(r.inputs, reveal=True)) for r in resources}
    stack_resources = [
        PolicyResource(r.type, props[r.urn], r.urn, r.name, _options(r), None, None, [], {})
        for r in resources
    ]
    for policy in pack if pack is not None else policies():
        level = _level(policy, config)
        if level == "disabled":
            continue
        policy_config = _policy_config(policy, config)
        if isinstance(policy, ResourceValidationPolicy):
            for r in resources:
                args = ResourceValidationArgs(
                    r.type, props[r.urn], r.urn, r.name, _options(r), None, policy_config
                )
                policy.validate(args, _reporter(findings, policy.name, level, r.urn))
        elif isinstance(policy, StackValidationPolicy):
            args_stack = StackValidationArgs(stack_resources, policy_config)
            policy.validate(args_stack, _reporter(findings, policy.name, level))
    return findings


def main(argv: Optional[list[str]] = None) -> int:
    from .golden import stacks
    from .render import run_or_report

    parser = argparse.ArgumentParser(description="run the policy pack over offline stack runs")
    parser.add_argument("stacks", nargs="*")
    parser.add_argument("--all", action="store_true", help="every shipped stack")
    parser.add_argument(
        "--pack",
        type=Path,
        default=PACK,
        help="the pack's directory (CI: the base branch's checkout, so a change is judged by "
        "the pack it cannot edit); default policy/",
    )
    args = parser.parse_args(argv)
    pack = policies(args.pack.resolve())
    names = stacks() if args.all or not args.stacks else args.stacks
    blocking, broken = 0, 0
    for stack in names:
        # The stack's own problems first: they are the ones `pulumi preview` would stop at.
        run = run_or_report(stack)
        if run is None:
            broken += 1
            continue
        try:
            config = load_config(stack, args.pack.resolve())
        except PolicyConfigError as error:
            print(f"stack {stack}: {error}", file=sys.stderr)
            broken += 1
            continue
        findings = check(run, config, pack)
        print(f"stack {stack}: {len(findings)} finding(s)")
        print(f"  ({OUTPUTS_NOTE})")
        for finding in findings:
            print(f"  {finding}")
        blocking += sum(f.level == "mandatory" for f in findings)
    return 2 if broken else 1 if blocking else 0


if __name__ == "__main__":
    sys.exit(main())
