"""Run the Pulumi program offline under recording mocks and collect what it declares.

`run_stack("dev")` reads `Pulumi.yaml` defaults and `Pulumi.dev.yaml`, runs `__main__.py` under
Pulumi's mock monitor, and returns every registered resource with its inputs and options
(protect, retain_on_delete, depends_on, parent) plus the stack outputs and whether each is secret.
Used by the whole-stack tests, `make render` and `make bench`.

The mocks return realistic outputs for what the program reads back (random passwords) and raise on
any invoke they do not know, so a new provider call cannot pass silently.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional
from unittest import mock

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parent.parent
SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270"
SECRET_PLACEHOLDER = "<secret>"


@dataclass
class Registered:
    """One resource the program registered, as the engine would have seen it."""

    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    protect: bool = False
    retain_on_delete: bool = False
    depends_on: list[str] = field(default_factory=list)
    provider: str = ""
    ignore_changes: list[str] = field(default_factory=list)
    timeouts: dict[str, str] = field(default_factory=dict)
    """`customTimeouts` (create, update, delete) where the program sets them."""
    transforms: list[Callable[..., Any]] = field(default_factory=list)
    """The resource transforms in its options (the engine applies them to the resource and its
    children, a chart's objects included; the mocks do not run them)."""

    @property
    def is_kubernetes_object(self) -> bool:
        return (
            self.custom
            and self.type.startswith("kubernetes:")
            and not self.type.startswith(("kubernetes:helm.sh", "pulumi:providers"))
        )


@dataclass
class StackRun:
    stack: str
    resources: list[Registered]
    outputs: dict[str, Any]
    secret_outputs: set[str]

    def by_urn(self) -> dict[str, Registered]:
        return {r.urn: r for r in self.resources}

    def kubernetes_objects(self, reveal: bool = False) -> list[dict[str, Any]]:
        """Every Kubernetes object as a manifest; `reveal` shows secret values (mock
        values only).
        """
        return [normalise(r.inputs, reveal) for r in self.resources if r.is_kubernetes_object]

    def find(self, kind: str, name: str, namespace: Optional[str] = None) -> dict[str, Any]:
        for obj in self.kubernetes_objects():
            meta = obj.get("metadata", {})
            if (
                obj.get("kind") == kind
                and meta.get("name") == name
                and (namespace is None or meta.get("namespace") == namespace)
            ):
                return obj
        raise KeyError(f"no {kind} {namespace}/{name}")


def mock_password(name: str, length: int, keepers: Optional[Mapping[str, Any]] = None) -> str:
    """The value the mocks give a RandomPassword: recognisable, so a test can look for leaks, and
    distinct per resource and per `keepers` (a new rotation label is a new value, as the provider
    gives), whatever the truncation to `length` leaves of the name."""
    seed = name + (json.dumps(dict(keepers), sort_keys=True) if keepers else "")
    digest = hashlib.sha256(seed.encode()).hexdigest()[:6]
    return ("mock" + digest + name.replace("-", ""))[:length].ljust(length, "x")


class UnknownInvokeError(Exception):
    pass


class RecordingMocks(pulumi.runtime.Mocks):
    """Resources echo their inputs as state plus the realistic outputs the program reads back.

    Cloud outputs (ARNs, ids, endpoints) are shaped like the real ones, in the region and account
    of the stack's config, so format checks in tests mean something.
    """

    def __init__(
        self,
        region: str = "eu-central-1",
        account: str = "123456789012",
        subscription: str = "00000000-0000-0000-0000-000000000000",
        tenant: str = "00000000-0000-0000-0000-000000000000",
    ):
        super().__init__()
        self.region, self.account = region, account
        self.subscription, self.tenant = subscription, tenant

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[Optional[str], dict[str, Any]]:
        state = dict(args.inputs)
        typ, name = args.typ, args.name
        digest = hashlib.sha256(name.encode()).hexdigest()
        if typ in (
            "random:index/randomPassword:RandomPassword",
            "random:index/randomString:RandomString",
        ):
            length = int(state.get("length", 16))
            state["result"] = mock_password(name, length, state.get("keepers"))
        elif typ == "random:index/randomId:RandomId":
            state["hex"] = digest[: 2 * int(state.get("byteLength", 4))]
        elif typ.startswith("kubernetes:") and isinstance(state.get("metadata"), dict):
            state["metadata"] = {**state["metadata"], "uid": f"uid-{name}"}
        elif typ.startswith("aws:"):
            return self._aws(typ, name, state, digest)
        elif typ.startswith("azure-native:"):
            return self._azure(typ, name, state, digest)
        return f"{name}-id", state

    def _azure(
        self, typ: str, name: str, state: dict[str, Any], digest: str
    ) -> tuple[str, dict[str, Any]]:
        """ARM ids under the configured subscription and resource group, GUIDs for identities."""

        def guid(seed: str) -> str:
            h = hashlib.sha256(seed.encode()).hexdigest()
            return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"

        group = state.get("resourceGroupName", "rg")
        prefix = f"/subscriptions/{self.subscription}/resourceGroups/{group}/providers"
        if typ == "azure-native:resources:ResourceGroup":
            state.update(
                id=f"/subscriptions/{self.subscription}/resourceGroups/{state['resourceGroupName']}",
                name=state["resourceGroupName"],
            )
        elif typ == "azure-native:keyvault:Vault":
            state.update(
                id=f"{prefix}/Microsoft.KeyVault/vaults/{state['vaultName']}",
                name=state["vaultName"],
            )
            state["properties"] = {
                **state["properties"],
                "vaultUri": f"https://{state['vaultName']}.vault.azure.net/",
            }
        elif typ == "azure-native:keyvault:Secret":
            state.update(
                id=f"{prefix}/Microsoft.KeyVault/vaults/{state['vaultName']}/secrets/{state['secretName']}",
                name=state["secretName"],
            )
        elif typ == "azure-native:managedidentity:UserAssignedIdentity":
            state.update(
                id=f"{prefix}/Microsoft.ManagedIdentity/userAssignedIdentities/{state['resourceName']}",
                name=state["resourceName"],
                clientId=guid("client" + name),
                principalId=guid("principal" + name),
                tenantId=self.tenant,
            )
        elif typ == "azure-native:managedidentity:FederatedIdentityCredential":
            state["name"] = state["federatedIdentityCredentialResourceName"]
        elif typ == "azure-native:dbforpostgresql:Server":
            state.update(
                id=f"{prefix}/Microsoft.DBforPostgreSQL/flexibleServers/{state['serverName']}",
                name=state["serverName"],
                fullyQualifiedDomainName=f"{state['serverName']}.postgres.database.azure.com",
                state="Ready",
            )
        elif typ == "azure-native:authorization:RoleAssignment":
            state.update(
                id=f"{state['scope']}/providers/Microsoft.Authorization/roleAssignments/{guid(name)}",
                name=guid(name),
            )
        else:
            state.setdefault("name", name)
        return state.get("id", f"{prefix}/{name}"), state

    def _aws(
        self, typ: str, name: str, state: dict[str, Any], digest: str
    ) -> tuple[str, dict[str, Any]]:
        region, account = self.region, self.account
        if typ == "aws:kms/key:Key":
            key_id = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
            state.update(keyId=key_id, arn=f"arn:aws:kms:{region}:{account}:key/{key_id}")
            return key_id, state
        if typ == "aws:kms/alias:Alias":
            state["arn"] = f"arn:aws:kms:{region}:{account}:{state['name']}"
            return state["name"], state
        if typ == "aws:secretsmanager/secret:Secret":
            state["arn"] = (
                f"arn:aws:secretsmanager:{region}:{account}:secret:{state['name']}-{digest[:6]}"
            )
            return state["arn"], state
        if typ == "aws:iam/role:Role":
            state.update(
                arn=f"arn:aws:iam::{account}:role/{state['name']}",
                uniqueId=f"AROA{digest[:17].upper()}",
            )
            return state["name"], state
        if typ == "aws:ec2/securityGroup:SecurityGroup":
            group_id = f"sg-{digest[:17]}"
            state.update(
                arn=f"arn:aws:ec2:{region}:{account}:security-group/{group_id}", ownerId=account
            )
            return group_id, state
        if typ in ("aws:rds/subnetGroup:SubnetGroup", "aws:rds/parameterGroup:ParameterGroup"):
            kind = "subgrp" if "subnet" in typ else "pg"
            state["arn"] = f"arn:aws:rds:{region}:{account}:{kind}:{state['name']}"
            return state["name"], state
        if typ == "aws:rds/instance:Instance":
            identifier = state["identifier"]
            address = f"{identifier}.c{digest[:11]}.{region}.rds.amazonaws.com"
            uuid = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
            state.update(
                arn=f"arn:aws:rds:{region}:{account}:db:{identifier}",
                address=address,
                endpoint=f"{address}:{int(state.get('port', 5432))}",
                port=int(state.get("port", 5432)),
                resourceId=f"db-{digest[:26].upper()}",
                masterUserSecrets=[
                    {
                        "kmsKeyId": state.get("masterUserSecretKmsKeyId"),
                        "secretStatus": "active",
                        "secretArn": (
                            f"arn:aws:secretsmanager:{region}:{account}"
                            f":secret:rds!db-{uuid}-{digest[32:38]}"
                        ),
                    }
                ],
            )
            return identifier, state
        return f"{name}-{digest[:8]}", state

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], Optional[list[tuple[str, str]]]]:
        if args.token == "azure-native:authorization:getClientConfig":
            # The deploying principal, as `az account show` / the provider would report it.
            return {
                "clientId": "11111111-2222-3333-4444-555555555555",
                "objectId": "66666666-7777-8888-9999-000000000000",
                "subscriptionId": self.subscription,
                "tenantId": self.tenant,
            }, []
        if args.token == "aws:iam/getPolicyDocument:getPolicyDocument":
            document = aws_policy_document(args.args)
            return {
                "id": hashlib.sha256(document.encode()).hexdigest()[:10],
                "json": document,
                "minifiedJson": json.dumps(json.loads(document), separators=(",", ":")),
            }, []
        raise UnknownInvokeError(
            f"the mocks do not know invoke {args.token}; add a realistic result to tools/offline.py"
        )


def _provider_string_list(values: list[str]) -> Any:
    """What the AWS provider writes for a list: one item as a plain string, more in reverse order
    (`policyDecodeConfigStringList` in terraform-provider-aws, internal/service/iam/policy_model.go,
    which pulumi-aws embeds)."""
    return values[0] if len(values) == 1 else sorted(values, reverse=True)


def aws_policy_document(invoke_args: Mapping[str, Any]) -> str:
    """The JSON the AWS provider's `getPolicyDocument` returns, for the fields the program uses.

    The shape follows the provider's `IAMPolicyDoc`/`IAMPolicyStatement` model: statement keys in
    the order Sid, Effect, Action, Resource, Principal, Condition (empty ones omitted), Effect
    `Allow` by default, single values flattened, indented by two spaces (`json.MarshalIndent`).
    """
    supported = {"version", "statements"}
    unknown = set(invoke_args) - supported
    if unknown:
        raise UnknownInvokeError(f"getPolicyDocument: the mocks do not model {sorted(unknown)}")
    statements = []
    for given in invoke_args.get("statements") or []:
        unmodelled = set(given) - {
            "sid",
            "effect",
            "actions",
            "resources",
            "principals",
            "conditions",
        }
        if unmodelled:
            raise UnknownInvokeError(
                f"getPolicyDocument: the mocks do not model {sorted(unmodelled)}"
            )
        statement: dict[str, Any] = {}
        if given.get("sid"):
            statement["Sid"] = given["sid"]
        statement["Effect"] = given.get("effect") or "Allow"
        if given.get("actions"):
            statement["Action"] = _provider_string_list(list(given["actions"]))
        if given.get("resources"):
            statement["Resource"] = _provider_string_list(list(given["resources"]))
        if given.get("principals"):
            statement["Principal"] = {
                principal["type"]: _provider_string_list(list(principal["identifiers"]))
                for principal in sorted(given["principals"], key=lambda item: item["type"])
            }
        if given.get("conditions"):
            conditions: dict[str, dict[str, Any]] = {}
            for condition in given["conditions"]:
                values = list(condition["values"])
                conditions.setdefault(condition["test"], {})[condition["variable"]] = (
                    values[0] if len(values) == 1 else values
                )
            statement["Condition"] = {
                test: dict(sorted(variables.items()))
                for test, variables in sorted(conditions.items())
            }
        statements.append(statement)
    document = {"Version": invoke_args.get("version") or "2012-10-17", "Statement": statements}
    return json.dumps(document, indent=2)


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: RecordingMocks):
        super().__init__(mocks)
        self.registered: list[Registered] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registered.append(
                Registered(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    custom=bool(request.custom),
                    inputs=pulumi.runtime.rpc.deserialize_properties(request.object),
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    depends_on=list(request.dependencies),
                    provider=request.provider,
                    ignore_changes=list(request.ignoreChanges),
                    timeouts={
                        key: value
                        for key in ("create", "update", "delete")
                        if (value := getattr(request.customTimeouts, key, ""))
                    },
                    transforms=pulumi_mocks._resolve_callbacks(request.transforms),
                )
            )
        return response


class StackFileError(Exception):
    """A stack file that is missing or is not valid YAML (one line: file, line, column)."""


class UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping. PyYAML keeps the last one
    silently, so a second `webapp:redis:` block would replace the first without a word."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key {key!r} (first at line {seen[key]}); expected each key "
                        "once per mapping",
                        key_node.start_mark,
                    )
                seen[key] = line
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]


def read_stack_file(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(), Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"{path.name}:{mark.line + 1}:{mark.column + 1}" if mark else path.name
        raise StackFileError(f"{where}: not valid YAML: {error.problem}") from None
    except yaml.YAMLError as error:
        raise StackFileError(f"{path.name}: not valid YAML: {error}") from None


def stack_names(root: Path = ROOT) -> list[str]:
    """The stacks that have a `Pulumi.<stack>.yaml` here."""
    return sorted(path.name[len("Pulumi.") : -len(".yaml")] for path in root.glob("Pulumi.*.yaml"))


def require_stack_file(stack: str, root: Path = ROOT) -> None:
    if not (root / f"Pulumi.{stack}.yaml").is_file():
        raise StackFileError(
            f"no stack file Pulumi.{stack}.yaml in {root}; the stacks here are "
            f"{', '.join(stack_names(root))}"
        )


ESC_EXPORT_ENV = "WEBAPP_ESC_CONFIG"
"""A file holding what `esc env open <org>/<project>/<env> --format json` printed (for each
environment the stack imports, merged in order): the offline tools cannot open environments."""


def _esc_names(environment: Any) -> list[str]:
    if isinstance(environment, dict):
        environment = environment.get("imports")
    if isinstance(environment, str):
        return [environment]
    return [str(e) for e in environment or []]


def esc_config(stack_file: Path, environment: Any, project: str) -> dict[str, Any]:
    """The stack configuration the ESC environments a stack file imports provide (their
    `pulumiConfig`, keys without a namespace in the project's), read from ESC_EXPORT_ENV."""
    names = _esc_names(environment)
    if not names:
        return {}
    export = os.environ.get(ESC_EXPORT_ENV)
    if not export:
        raise StackFileError(
            f"{stack_file.name} imports ESC environment(s) {', '.join(names)}, which the offline "
            f"tools cannot open: run `esc env open {names[-1]} --format json > esc.json` "
            f"(merged in order when there are several) and set {ESC_EXPORT_ENV}=esc.json"
        )
    try:
        opened = json.loads(Path(export).read_text())
    except (OSError, ValueError) as error:
        raise StackFileError(
            f"{ESC_EXPORT_ENV}={export}: not an `esc env open` JSON file ({error})"
        ) from None
    values = opened.get("pulumiConfig") if isinstance(opened, dict) else None
    if not isinstance(values, dict):
        raise StackFileError(f"{ESC_EXPORT_ENV}={export}: no pulumiConfig object in it")
    return {key if ":" in key else f"{project}:{key}": value for key, value in values.items()}


def load_stack_config(
    stack: str, overrides: Optional[Mapping[str, Any]] = None, root: Path = ROOT
) -> dict[str, Any]:
    """Pulumi.yaml defaults, then Pulumi.<stack>.yaml, then overrides (dotted
    `webapp:key` names).
    """
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    name = project["name"]
    config: dict[str, Any] = {}
    for key, decl in (project.get("config") or {}).items():
        if isinstance(decl, dict) and "default" in decl:
            config[key if ":" in key else f"{name}:{key}"] = decl["default"]
    stack_file = root / f"Pulumi.{stack}.yaml"
    if stack_file.exists():
        settings = read_stack_file(stack_file) or {}
        if not isinstance(settings, dict) or not isinstance(settings.get("config") or {}, dict):
            raise StackFileError(
                f"{stack_file.name}: expected a mapping with a `config:` mapping of "
                "webapp:<key>: <value> (README: Config reference)"
            )
        # Pulumi ESC: the environments' `pulumiConfig` comes under the stack file's own config,
        # as the CLI merges them (the stack file's values win).
        config.update(esc_config(stack_file, settings.get("environment"), name))
        config.update(settings.get("config") or {})
    for key, value in (overrides or {}).items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    return config


def _fresh_runtime() -> None:
    """Forget what a previous run left behind (as `@pulumi.runtime.test` does), so that one run's
    failure (an unknown invoke, a config error) never leaks into the next."""
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()
    pulumi_settings.ROOT.set(None)


def _cloud_identity(config: Mapping[str, Any]) -> dict[str, str]:
    """Region and account for the mocks' ARNs (from `webapp:aws`), subscription and tenant for Azure
    ids.
    """
    found = {}
    azure = config.get("webapp:azure")
    if isinstance(azure, dict):
        for key, arg in (("subscriptionId", "subscription"), ("tenantId", "tenant")):
            if isinstance(azure.get(key), str):
                found[arg] = azure[key]
    aws = config.get("webapp:aws")
    if not isinstance(aws, dict):
        return found
    if isinstance(aws.get("region"), str):
        found["region"] = aws["region"]
    match = re.search(r":iam::(\d{12}):", str(aws.get("oidcProviderArn", "")))
    if match:
        found["account"] = match.group(1)
    return found


@dataclass(frozen=True)
class SecretConfig:
    """A config value the runtime holds as a secret, as `pulumi config set --secret` (or a
    `--secret --path` value inside it) leaves it."""

    value: Any


def _encode(value: Any) -> str:
    if isinstance(value, SecretConfig):
        return _encode(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


_last: list[Registered] = []


def last_registrations() -> list[Registered]:
    """What the most recent run registered, also when it raised (bad config must declare
    nothing).
    """
    return list(_last)


LOCK = "webapp:dataLock"


def _relocked(values: Mapping[str, Any], stack: str) -> Any:
    """Overrides describe another config of the stack, not a change to the deployed one: its data
    lock is the one `make lock` would write (a test of a change passes the old lock itself). A
    config the settings refuse keeps its lock, and the run reports the settings' problems."""
    from components.config.settings import SettingsError

    from .lock import current_lock

    try:
        return current_lock(values, stack)
    except SettingsError:
        return values.get(LOCK)


def run_stack(
    stack: str,
    overrides: Optional[Mapping[str, Any]] = None,
    root: Path = ROOT,
    config: Optional[Mapping[str, Any]] = None,
    offline: bool = True,
) -> StackRun:
    """Run `__main__.py` for `stack` under the mocks. Raises what the program raises.

    `offline` tells the program it runs here (`WEBAPP_OFFLINE`), so the shipped production file's
    placeholders pass; False runs it as a real preview would judge them.

    A value wrapped in `SecretConfig` is handed over as a secret (as `pulumi config set --secret`).
    """
    values = dict(config) if config is not None else load_stack_config(stack, overrides, root)
    if overrides and LOCK not in overrides:
        values[LOCK] = _relocked(values, stack)
    secret_keys = [key for key, value in values.items() if isinstance(value, SecretConfig)]
    pulumi.runtime.set_all_config({k: _encode(v) for k, v in values.items()}, secret_keys)
    _fresh_runtime()
    mocks = RecordingMocks(**_cloud_identity(values))
    monitor = RecordingMonitor(mocks)
    monitor.registered = _last
    _last.clear()
    pulumi.runtime.set_mocks(mocks, project="webapp", stack=stack, preview=False, monitor=monitor)
    exports: dict[str, Any] = {}
    resolved: dict[str, Any] = {}
    secret: set[str] = set()

    async def collect() -> None:
        for key, value in exports.items():
            out = pulumi.Output.from_input(value)
            resolved[key] = await out.future()
            if await out.is_secret():
                secret.add(key)

    def program() -> Any:
        with (
            mock.patch.object(pulumi, "export", lambda k, v: exports.__setitem__(k, v)),
            # The shipped stack files' placeholders are fine here (`parse_settings`).
            mock.patch.dict(os.environ, {"WEBAPP_OFFLINE": "1" if offline else "0"}),
        ):
            runpy.run_path(str(root / "__main__.py"), run_name="__main__")
        return collect()

    _sync_await(run_pulumi_func(program))
    return StackRun(
        stack=stack, resources=list(monitor.registered), outputs=resolved, secret_outputs=secret
    )


def run_components(build: Callable[[], Any], stack: str = "test") -> StackRun:
    """Run `build()` (which declares components) under the recording mocks; for component tests.

    Like `@pulumi.runtime.test`, this waits for every registration and output before returning, so
    assertions see everything that was declared; they are plain asserts on the returned records.
    """
    pulumi.runtime.set_all_config({}, [])
    _fresh_runtime()
    mocks = RecordingMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="webapp", stack=stack, preview=False, monitor=monitor)
    _sync_await(run_pulumi_func(build))
    return StackRun(stack=stack, resources=monitor.registered, outputs={}, secret_outputs=set())


def normalise(value: Any, reveal: bool = False, _inside_secret: bool = False) -> Any:
    """Mock inputs -> plain manifest data, whole floats as ints.

    Secret values keep their structure (the keys of a Secret's stringData stay visible) but every
    scalar inside is shown as `<secret>`, unless `reveal` (schema validation needs real types).
    """
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_VALUE:
            return normalise(value.get("value"), reveal, True)
        return {k: normalise(v, reveal, _inside_secret) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, reveal, _inside_secret) for v in value]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if _inside_secret and not reveal and value is not None:
        return SECRET_PLACEHOLDER
    return value


def contains_secret(value: Any) -> bool:
    if isinstance(value, dict):
        return value.get(SECRET_SIG) == SECRET_VALUE or any(
            contains_secret(v) for v in value.values()
        )
    if isinstance(value, list):
        return any(contains_secret(v) for v in value)
    return False
