"""The GitOps project's stack config, parsed once into frozen dataclasses (pure: no Pulumi calls).

Keys live under `gitops:` (`gitops/Pulumi.yaml` declares the scalars); every problem is collected
and reported together (`SettingsError`), each naming the key, the bad value and what is allowed,
before anything is declared. README "GitOps" documents every key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Optional

from components.config.quantities import is_dns_label
from components.config.reader import DNS_LABEL, Reader, Rule
from components.config.settings import SettingsError

PREFIX = "gitops:"
MAIN_STACKS = ("dev", "staging", "production")
"""The main program's environments a hand-over may name (its `Pulumi.<stack>.yaml` files)."""

Mode = Literal["install", "present"]
MODES: tuple[Mode, ...] = ("install", "present")
Cloud = Literal["aws", "azure"]
CLOUDS: tuple[Cloud, ...] = ("aws", "azure")

HTTPS_GIT = Rule(
    lambda value: re.fullmatch(r"https://[A-Za-z0-9.-]+(:\d+)?/[\w./-]+", value) is not None,
    "an https:// Git URL such as https://github.com/example/webapp-infra.git (the operator and "
    "Argo CD authenticate with a token over HTTPS)",
)
BRANCH = Rule(
    lambda value: (
        re.fullmatch(r"[A-Za-z0-9._/-]+", value) is not None
        and not value.startswith(("/", "-"))
        and ".." not in value
    ),
    "a branch name such as main",
)
SERVICE_BACKEND = Rule(
    lambda value: re.fullmatch(r"https://[A-Za-z0-9.-]+(:\d+)?/?", value) is not None,
    "a Pulumi Cloud URL such as https://api.pulumi.com (the operator's v2.9.0 workspace cannot "
    "run a local policy pack: agent/pkg/server/server.go has `// TODO:PolicyPack`; only a "
    "service backend enforces the pack, through a policy group)",
)
STORE_KEY = Rule(
    lambda value: re.fullmatch(r"[A-Za-z0-9/_+=.@-]{1,512}", value) is not None,
    "the name of an entry in the secret store, such as webapp/gitops/git-token",
)
ROLE_ARN = Rule(
    lambda value: (
        re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,64}", value) is not None
    ),
    "an IAM role ARN such as arn:aws:iam::123456789012:role/webapp-production-deployer",
)
GUID = Rule(
    lambda value: (
        re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", value) is not None
    ),
    "a client id (GUID) of a user-assigned managed identity",
)
POLICY_GROUP = Rule(
    is_dns_label,
    "the name of the Pulumi Cloud policy group (preventative) that enables the `webapp` pack with "
    "this stack's policy/config/<stack>.json and holds the stack: the operator v2.9.0 workspace "
    "cannot run a local pack (agent/pkg/server/server.go `// TODO:PolicyPack`), so without the "
    "group no policy guards a reconcile",
)
SECRETS_PROVIDER = Rule(
    lambda value: value.startswith(("awskms://", "azurekeyvault://", "gcpkms://")),
    "a cloud KMS secrets provider (awskms://..., azurekeyvault://..., gcpkms://...); leave it "
    "unset for the Pulumi Cloud default",
)


@dataclass(frozen=True, kw_only=True)
class Repository:
    """`gitops:repository`: where the main program's code is tracked."""

    url: str
    """`url`: the HTTPS clone URL."""
    branch: str = "main"
    """`branch`: the branch every handed-over environment deploys (default main)."""
    token_key: str
    """`tokenKey`: the store entry holding a read-only Git token (never in a stack file)."""


@dataclass(frozen=True, kw_only=True)
class PulumiService:
    """`gitops:pulumi`: the state backend the workspaces log in to, and how."""

    backend: str = "https://api.pulumi.com"
    """`backend`: the Pulumi Cloud URL (default https://api.pulumi.com)."""
    organization: str
    """`organization`: the Pulumi Cloud organization owning the main program's stacks."""
    token_key: str
    """`tokenKey`: the store entry holding the Pulumi access token the workspaces use."""


@dataclass(frozen=True, kw_only=True)
class Environment:
    """`gitops:environments.<stack>`: one main-program stack handed over to the operator."""

    stack: str
    """The main program's stack name (dev, staging or production)."""
    cloud: Cloud
    """`cloud`: aws or azure (which workload identity the workspace gets)."""
    role_arn: str = ""
    """`roleArn` (aws): the deploy role (README "IAM permissions the deployer needs")."""
    client_id: str = ""
    """`clientId` (azure): the deploy identity's client id (README "Roles the deployer needs")."""
    secrets_provider: str = ""
    """`secretsProvider`: the stack's secrets provider; empty: the Pulumi Cloud default."""
    after: str = ""
    """`after`: a stack handed over here that must have succeeded first (staging for
    production)."""
    policy_group: str
    """`policyGroup`: the Pulumi Cloud policy group (preventative) that enables the `webapp`
    pack with `policy/config/<stack>.json` and holds this stack: the only way the pack guards
    the workspace's updates (the operator v2.9.0 cannot run a local pack)."""


@dataclass(frozen=True, kw_only=True)
class GitopsSettings:
    """Everything the GitOps project reads from its stack config."""

    name: str
    """The GitOps stack's name (labels, the Argo CD project's name)."""
    context: str
    """`gitops:kubernetes.context`: the kubeconfig context of the cluster running the operator."""
    namespace: str = "webapp-gitops"
    """`gitops:namespace`: where the Stack objects and their workspaces live."""
    operator: Mode = "install"
    """`gitops:operator`: install (pinned chart) or present."""
    argocd: Mode = "install"
    """`gitops:argocd`: install (pinned chart) or present."""
    secret_store: str
    """`gitops:secretStore`: the External Secrets ClusterSecretStore holding the tokens."""
    resync_minutes: int = 15
    """`gitops:resyncMinutes`: how often each stack is refreshed and re-applied (drift)."""
    high_availability: bool = False
    """`gitops:highAvailability`: two replicas of each controller that supports it."""
    hand_over: bool = False
    """`gitops:handOver`: Argo CD syncs the environments' Stack objects (the operator deploys
    them, and the `deploy` workflow stops applying them). Off: everything is installed and
    prepared, nothing is reconciled, and CI keeps deploying."""
    repository: Repository
    pulumi: PulumiService
    environments: tuple[Environment, ...]
    """In deployment order (an environment's `after` comes before it)."""

    @property
    def stacks(self) -> tuple[str, ...]:
        return tuple(environment.stack for environment in self.environments)

    @property
    def handed_over(self) -> tuple[str, ...]:
        """The stacks the operator deploys (none until `handOver` is on)."""
        return self.stacks if self.hand_over else ()


def _repository(reader: Reader) -> Repository:
    section = reader.section("repository")
    url = section.opt_text("url", rule=HTTPS_GIT)
    token = section.opt_text("tokenKey", rule=STORE_KEY)
    for key, found, rule in (("url", url, HTTPS_GIT), ("tokenKey", token, STORE_KEY)):
        if found is None and not section.has(key):
            section.report(f"{section.key(key)}: required ({rule.expected})")
    repository = Repository(
        url=url or "", branch=section.text("branch", "main", rule=BRANCH), token_key=token or ""
    )
    section.finish()
    return repository


def _pulumi(reader: Reader) -> PulumiService:
    section = reader.section("pulumi")
    required = {
        "organization": Rule(is_dns_label, "the Pulumi Cloud organization name"),
        "tokenKey": STORE_KEY,
    }
    found: dict[str, str] = {}
    for key, rule in required.items():
        value = section.opt_text(key, rule=rule)
        if value is None and not section.has(key):
            section.report(f"{section.key(key)}: required ({rule.expected})")
        found[key] = value or ""
    service = PulumiService(
        backend=section.text("backend", "https://api.pulumi.com", rule=SERVICE_BACKEND),
        organization=found["organization"],
        token_key=found["tokenKey"],
    )
    section.finish()
    return service


def _environment(reader: Reader, stack: str) -> Environment:
    section = reader.section(stack)
    cloud = section.opt_choice("cloud", CLOUDS)
    if cloud is None and not section.has("cloud"):
        section.report(f"{section.key('cloud')}: required (one of {', '.join(CLOUDS)})")
    identity_key, rule = ("roleArn", ROLE_ARN) if cloud != "azure" else ("clientId", GUID)
    identity = section.opt_text(identity_key, rule=rule)
    if identity is None and not section.has(identity_key):
        section.report(
            f"{section.key(identity_key)}: required for cloud {cloud or 'aws'} ({rule.expected}); "
            "the workspace deploys with this identity, never with a static key"
        )
    group = section.opt_text("policyGroup", rule=POLICY_GROUP)
    if group is None and not section.has("policyGroup"):
        section.report(f"{section.key('policyGroup')}: required ({POLICY_GROUP.expected})")
    environment = Environment(
        stack=stack,
        cloud=cloud or "aws",
        role_arn=(identity or "") if cloud != "azure" else "",
        client_id=(identity or "") if cloud == "azure" else "",
        secrets_provider=section.text("secretsProvider", "", rule=SECRETS_PROVIDER),
        after=section.text("after", "", allowed=MAIN_STACKS),
        policy_group=group or "",
    )
    section.finish()
    return environment


def _environments(reader: Reader) -> tuple[Environment, ...]:
    section = reader.section("environments")
    found: list[Environment] = []
    for stack, _ in section.items():
        if stack not in MAIN_STACKS:
            continue
        found.append(_environment(section, stack))
    section.finish(known=MAIN_STACKS)
    if not found:
        reader.report(
            f"{reader.key('environments')}: at least one of {', '.join(MAIN_STACKS)} must be "
            "handed over"
        )
    names = {environment.stack for environment in found}
    for environment in found:
        if environment.after and environment.after not in names:
            section.report(
                f"{section.key(environment.stack)}.after: {environment.after!r} is not handed "
                f"over here; expected one of {', '.join(sorted(names - {environment.stack}))} "
                "(the operator's prerequisites name a Stack in the same namespace)"
            )
        if environment.after == environment.stack:
            section.report(
                f"{section.key(environment.stack)}.after: a stack cannot wait for itself"
            )
    _distinct_groups(section, found)
    order = {stack: index for index, stack in enumerate(MAIN_STACKS)}
    return tuple(sorted(found, key=lambda environment: order[environment.stack]))


def _distinct_groups(section: Reader, found: list[Environment]) -> None:
    """A policy group enables the pack with one config; the environments' thresholds differ
    (policy/config/<stack>.json), so two environments cannot share one."""
    owner: dict[str, str] = {}
    for environment in found:
        group = environment.policy_group
        if group and group in owner:
            section.report(
                f"{section.key(environment.stack)}.policyGroup: {group!r} is already "
                f"{owner[group]}'s; expected a group of its own (a policy group enables the pack "
                f"with one config, and policy/config/{environment.stack}.json differs)"
            )
        owner.setdefault(group, environment.stack)


def parse_gitops(
    config: Mapping[str, Any], stack: str, consulted: Optional[set[str]] = None
) -> GitopsSettings:
    """`gitops:*` config -> settings, or SettingsError listing every problem; `consulted`
    collects every key read (the README reference is checked against it)."""
    problems: list[str] = []
    values = {key[len(PREFIX) :]: value for key, value in config.items() if key.startswith(PREFIX)}
    reader = Reader(values, PREFIX, problems, consulted)
    kubernetes = reader.section("kubernetes")
    context = kubernetes.opt_text("context")
    if context is None:
        kubernetes.report(f"{kubernetes.key('context')}: required (a kubeconfig context name)")
    kubernetes.finish()
    settings = GitopsSettings(
        name=stack,
        context=context or "",
        namespace=reader.text("namespace", "webapp-gitops", rule=DNS_LABEL),
        operator=reader.choice("operator", "install", MODES),
        argocd=reader.choice("argocd", "install", MODES),
        secret_store=_required_text(reader, "secretStore", DNS_LABEL),
        resync_minutes=reader.integer(
            "resyncMinutes",
            15,
            minimum=5,
            maximum=1440,
            why="drift is corrected within this bound; below 5 a slow update overlaps the next",
        ),
        high_availability=reader.flag("highAvailability", False),
        hand_over=reader.flag("handOver", False),
        repository=_repository(reader),
        pulumi=_pulumi(reader),
        environments=_environments(reader),
    )
    reader.finish()
    if problems:
        raise SettingsError(problems)
    return settings


def _required_text(reader: Reader, key: str, rule: Rule) -> str:
    found: Optional[str] = reader.opt_text(key, rule=rule)
    if found is None and not reader.has(key):
        reader.report(f"{reader.key(key)}: required ({rule.expected})")
    return found or ""
