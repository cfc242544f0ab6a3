"""`webapp:credentials`: where the external credentials come from (pure; part of parsing).

External credentials are the ones a third party issues: the OAuth client ids and secrets
(Google, GitHub, Microsoft), the SMTP login, and the alert receivers' endpoints (a Slack or
webhook URL, a PagerDuty routing key, per severity). The program cannot make them up, so each has
one of three sources, per group (`oauth`, `smtp`, `alerting`):

- `generated` (the default outside production): pulumi-random placeholders, so a dev stack runs
  with no account anywhere. Production refuses them, and so does any stack that sets
  `webapp:requireExternalCredentials`.
- `store`: the operator writes the values into the stack's cloud store (Secrets Manager or Key
  Vault) and rotates them there; the program declares no value for them, so no `pulumi up`, refresh
  included, ever writes over one. Not available with `cloud: none` (it has no store).
- a mapping of every key to its value, set as Pulumi secrets
  (`pulumi config set --secret --path 'webapp:credentials.smtp.password' ...`): the program writes
  them to the store, and a rotation is a config change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Collection, Literal, Mapping

from components.config.reader import Reader

CredentialSource = Literal["generated", "store", "config"]

KEYS: Mapping[str, tuple[str, ...]] = {
    "oauth": tuple(
        f"{provider}-{part}"
        for provider in ("google", "github", "microsoft")
        for part in ("client-id", "client-secret")
    ),
    "smtp": ("username", "password"),
    "alerting": ("critical", "warning", "info"),
}
"""Each group's keys: exactly the keys of its catalogued Secret (`webapp-oauth`, `webapp-smtp`,
`webapp-alerting`)."""

WHAT = {
    "oauth": "OAuth client credentials",
    "smtp": "SMTP login",
    "alerting": "alert receivers' endpoints",
}
SECTION = "webapp:credentials"

STORE_SPELLING = {
    "aws": (
        "Secrets Manager",
        {
            "oauth": "webapp/{stack}/oauth/<provider> (google, github, microsoft) as "
            '{{"client-id": "...", "client-secret": "..."}}',
            "smtp": 'webapp/{stack}/email/smtp as {{"username": "...", "password": "..."}}',
            "alerting": 'webapp/{stack}/alerting/receivers as {{"critical": "...", '
            '"warning": "...", "info": "..."}}',
        },
    ),
    "azure": (
        "Key Vault",
        {
            "oauth": "webapp-oauth-<provider>-client-id and webapp-oauth-<provider>-client-secret "
            "(google, github, microsoft)",
            "smtp": "webapp-smtp-username and webapp-smtp-password",
            "alerting": "webapp-alerting-critical, webapp-alerting-warning and "
            "webapp-alerting-info",
        },
    ),
}
"""Per cloud: the store's name and, per group, where the operator writes the values (`{stack}`
is filled in)."""


@dataclass(frozen=True)
class Credential:
    """One group's source and, for `config`, its values (never shown: repr off)."""

    source: CredentialSource
    values: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class CredentialSettings:
    oauth: Credential
    smtp: Credential
    required: bool
    """`webapp:requireExternalCredentials`: generated placeholders are refused."""
    alerting: Credential = Credential("generated")
    """The receivers' endpoints of `webapp:monitoring.alerting`, one key per severity."""

    def by_group(self) -> dict[str, Credential]:
        return {"oauth": self.oauth, "smtp": self.smtp, "alerting": self.alerting}


PLACEHOLDERS = CredentialSettings(
    oauth=Credential("generated"), smtp=Credential("generated"), required=False
)
"""Every group generated: what a dev stack gets when it says nothing."""


def _how_to_set(group: str, cloud: str, stack: str) -> str:
    """Both ways to give a group its real values, spelled for the stack's cloud."""
    config = (
        f"as Pulumi secrets, one per key: pulumi config set --secret --path "
        f"'{SECTION}.{group}.{KEYS[group][-1]}' <value> (keys: {', '.join(KEYS[group])})"
    )
    if cloud not in STORE_SPELLING:
        return config
    store, where = STORE_SPELLING[cloud]
    return (
        f"either in {store}: pulumi config set --path '{SECTION}.{group}' store, then write "
        f"{where[group].format(stack=stack)} (README: External credentials); or {config}"
    )


def _credential(reader: Reader, group: str, context: _Context) -> Credential:
    """One group: `generated`, `store`, or a mapping of every key (the values are not echoed)."""
    key = reader.key(group)
    value = reader.value(group)
    if value is None or value == "generated":
        if context.required:
            reader.report(
                f"{key}: generated placeholders are refused {context.why}; set the real "
                f"{WHAT[group]} " + context.how_to_set(group)
            )
        return Credential("generated")
    if value == "store":
        if context.cloud not in STORE_SPELLING:
            reader.report(
                f"{key}: 'store' needs a cloud secret store, and cloud is none; give the values "
                + context.how_to_set(group)
            )
        return Credential("store")
    if not isinstance(value, Mapping):
        reader.problem(group, value, "generated, store, or a mapping of " + ", ".join(KEYS[group]))
        return Credential("generated")
    return Credential("config", _values(reader, group, value))


def _values(reader: Reader, group: str, value: Mapping[str, Any]) -> dict[str, str]:
    """Every key of the group, each a non-empty string; unknown keys are errors (not echoed)."""
    key = reader.key(group)
    missing = [name for name in KEYS[group] if name not in value]
    if missing:
        reader.report(f"{key}: missing {', '.join(missing)} (a mapping must give every key)")
    unknown = sorted(set(value) - set(KEYS[group]))
    if unknown:
        reader.report(
            f"{key}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(KEYS[group])}"
        )
    empty = [name for name in KEYS[group] if name in value and not _non_empty_text(value[name])]
    if empty:
        reader.report(f"{key}: {', '.join(empty)} must be non-empty strings (values not shown)")
    return {name: value[name] for name in KEYS[group] if _non_empty_text(value.get(name))}


def _non_empty_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


@dataclass(frozen=True)
class _Context:
    stack: str
    cloud: str
    required: bool
    why: str

    def how_to_set(self, group: str) -> str:
        return _how_to_set(group, self.cloud, self.stack)


def parse_credentials(
    root: Reader, stack: str, environment: str, cloud: str, secret_keys: Collection[str]
) -> CredentialSettings:
    """`webapp:credentials` and `webapp:requireExternalCredentials` (always on in production).

    Values given in config must be Pulumi secrets: `secret_keys` are the config keys the runtime
    marks secret (a key holding any secure value is secret as a whole).
    """
    required = root.flag("requireExternalCredentials", environment == "production")
    if environment == "production" and not required:
        root.problem(
            "requireExternalCredentials",
            False,
            "true in production (production never runs placeholder credentials)",
        )
    reader = root.section("credentials")
    why = (
        "in production"
        if environment == "production"
        else "here (webapp:requireExternalCredentials is true)"
    )
    context = _Context(stack=stack, cloud=cloud, required=required, why=why)
    found = {group: _credential(reader, group, context) for group in KEYS}
    reader.finish()
    plain = [group for group, credential in found.items() if credential.source == "config"]
    if plain and SECTION not in secret_keys:
        root.report(
            f"{SECTION}: {', '.join(plain)} values are in plain text; set each with "
            f"pulumi config set --secret --path '{SECTION}.<group>.<key>' <value>"
        )
    return CredentialSettings(
        oauth=found["oauth"], smtp=found["smtp"], alerting=found["alerting"], required=required
    )
