"""The `webapp:services.<name>` sections and container sizes (pure; part of `parsing`).

One section per catalogued service: image (release images where the stack requires them),
replicas or autoscaling bounds (a key the other mode would ignore is an error), resources, and
plain environment (never a secret, never a variable the program sets).
"""

from __future__ import annotations

import re
from typing import Optional

from components.config import catalogue
from components.config import quantities as q
from components.config.reader import CPU, IMAGE, MEMORY, Reader
from components.config.settings import (
    AUTOSCALERS,
    DELIVERIES,
    Autoscaling,
    Environment,
    Profile,
    Resources,
    ServiceSettings,
)


def parse_resources(reader: Reader, default: Resources) -> Resources:
    req, lim = reader.section("requests"), reader.section("limits")
    res = Resources(
        cpu_request=req.text("cpu", default.cpu_request, rule=CPU),
        memory_request=req.text("memory", default.memory_request, rule=MEMORY),
        cpu_limit=lim.text("cpu", default.cpu_limit, rule=CPU),
        memory_limit=lim.text("memory", default.memory_limit, rule=MEMORY),
    )
    req.finish()
    lim.finish()
    reader.finish()
    if (
        q.is_cpu(res.cpu_request)
        and q.is_cpu(res.cpu_limit)
        and q.cpu_millis(res.cpu_request) > q.cpu_millis(res.cpu_limit)
    ):
        reader.problem("requests.cpu", res.cpu_request, f"at most limits.cpu ({res.cpu_limit})")
    if (
        q.is_memory(res.memory_request)
        and q.is_memory(res.memory_limit)
        and q.memory_bytes(res.memory_request) > q.memory_bytes(res.memory_limit)
    ):
        reader.problem(
            "requests.memory", res.memory_request, f"at most limits.memory ({res.memory_limit})"
        )
    return res


SECRET_LIKE = re.compile(
    r"PASSWORD|PASSWD|SECRET|TOKEN|APIKEY|PRIVATEKEY|CREDENTIAL|CONNECTIONSTRING|DSN", re.I
)
"""Variable names that hold secrets by convention (separators removed before matching)."""
STANDIN_ENV = "WHOAMI_PORT_NUMBER"

CREDENTIAL_VALUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a URL with a password", re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@")),
    ("a JSON Web Token", re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.")),
    ("a GitHub token", re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})")),
    ("an AWS access key id", re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a long hex string (a key or token)", re.compile(r"[0-9A-Fa-f]{32,}")),
    # Base64 of 30+ random bytes: letters and digits mixed, no spaces. Prose and paths have
    # separators; a random key does not.
    (
        "a long base64 string (a key or token)",
        re.compile(r"(?=.*\d)(?=.*[a-z])(?=.*[A-Z])[A-Za-z0-9+/_-]{40,}={0,2}"),
    ),
)
"""Values shaped like credentials: the value is refused whatever the variable is called, since
`env` becomes a plain-text ConfigMap (and the stack file a commit)."""


def credential_value_kind(value: str) -> Optional[str]:
    """What credential `value` looks like (never the value itself), or None."""
    for kind, pattern in CREDENTIAL_VALUES:
        if pattern.fullmatch(value) if "long" in kind else pattern.search(value):
            return kind
    return None


def _in_words(template: str, contract: catalogue.AppService) -> str:
    """A catalogue env template as a reader understands it: the service's ports as numbers, the
    stack-wide fields in words (the stack's values are not parsed yet)."""
    ports = {"port": str(contract.port), "metrics_port": str(contract.metrics_port)}
    return template.format(**catalogue.ENV_FIELD_WORDS, **ports)


def _check_env_name(reader: Reader, contract: catalogue.AppService, key: str) -> bool:
    """Whether `env.<key>` may be set; the problem is reported otherwise (never the value: it may
    be a secret that must not reach a terminal or a CI log)."""
    where = reader.key(key)
    owned = {**catalogue.RUNTIME_ENV[contract.runtime], **contract.env}
    if key in contract.all_secret_env:
        ref = contract.all_secret_env[key]
        reader.report(
            f"{where}: {key} is read from Secret {ref.secret} (key {ref.key}); it cannot be set "
            "in env, where it would be a plain-text ConfigMap value"
        )
    elif key in owned or key == STANDIN_ENV:
        template = owned.get(key, "{port}")
        words = _in_words(template, contract)
        if "port}" in template:
            said = f"({words}), which keeps the port, probes, Service and NetworkPolicy in step"
        else:
            said = f"from the stack's settings ({words}), which are where to change it"
        reader.report(f"{where}: {key} is set by the program {said}; remove it from env")
    elif SECRET_LIKE.search(re.sub(r"[_.]", "", key)):
        reader.report(
            f"{where}: {key} looks like a secret, and env becomes a plain-text ConfigMap; keep "
            "the value in the secret store and read it by reference (a SecretEnv in "
            "components/config/catalogue.py)"
        )
    else:
        return True
    return False


def _env(reader: Reader, contract: catalogue.AppService) -> tuple[tuple[str, str], ...]:
    """`webapp:services.<name>.env`: plain, non-secret variables the program does not own."""
    env: list[tuple[str, str]] = []
    for key, value in reader.items():
        if not q.is_env_name(key):
            reader.problem(key, key, "an environment variable name ([A-Za-z_][A-Za-z0-9_.]*)")
        elif not _check_env_name(reader, contract, key):
            continue
        elif not isinstance(value, (str, int, float, bool)):
            reader.problem(key, value, "a plain string value (secrets go in the secret store)")
        elif (kind := credential_value_kind(str(value))) is not None:
            reader.report(
                f"{reader.key(key)}: the value (not shown) looks like {kind}, and env becomes a "
                "plain-text ConfigMap; expected a non-secret value (keep the credential in the "
                "secret store and read it by reference, a SecretEnv in "
                "components/config/catalogue.py)"
            )
        else:
            env.append((key, str(value).lower() if isinstance(value, bool) else str(value)))
    return tuple(sorted(env))


def _image(reader: Reader, contract: catalogue.AppService, release_images: bool) -> str:
    image = reader.text("image", contract.default_image, rule=IMAGE)
    if release_images and not reader.has("image"):
        reader.report(
            f"{reader.key('image')}: missing; this stack runs release images only and the "
            f"default {contract.default_image} is a public stand-in; set it with "
            f"pulumi config set --path '{reader.key('image')}' <registry>/<image>:<tag>"
        )
    return image


def _autoscaling(
    reader: Reader, contract: catalogue.AppService, profile: Profile, environment: str
) -> tuple[int, Optional[Autoscaling]]:
    """`replicas` for a fixed count, or `minReplicas`/`maxReplicas` under the HPA; a key the
    other mode would ignore is an error."""
    replicas = reader.integer("replicas", profile.replicas, minimum=1, maximum=100)
    default_bounds = profile.autoscaling
    if default_bounds and environment == "production" and contract.production_max_replicas:
        default_bounds = (default_bounds[0], contract.production_max_replicas)
    enabled = reader.flag("autoscaling", default_bounds is not None)
    low = reader.integer(
        "minReplicas", default_bounds[0] if default_bounds else replicas, minimum=1, maximum=100
    )
    high = reader.integer(
        "maxReplicas",
        default_bounds[1] if default_bounds else max(replicas, 3),
        minimum=1,
        maximum=200,
    )
    if enabled and reader.has("replicas"):
        reader.report(
            f"{reader.key('replicas')}: {replicas} would be ignored while autoscaling is on (the "
            "HPA owns the count); set minReplicas/maxReplicas, or autoscaling: false for a "
            "fixed count"
        )
    for bound in ("minReplicas", "maxReplicas"):
        if not enabled and reader.has(bound):
            reader.report(
                f"{reader.key(bound)}: would be ignored while autoscaling is off; set replicas, "
                "or autoscaling: true"
            )
    autoscaler = reader.choice("autoscaler", "hpa", AUTOSCALERS)
    threshold = _load_threshold(reader, contract, autoscaler)
    if not enabled:
        if reader.has("autoscaler"):
            reader.report(
                f"{reader.key('autoscaler')}: would be ignored while autoscaling is off; set "
                "autoscaling: true, or remove it"
            )
        return replicas, None
    if high < low:
        reader.problem("maxReplicas", high, f"at least minReplicas ({low})")
    return replicas, Autoscaling(
        min_replicas=low,
        max_replicas=max(low, high),
        autoscaler=autoscaler,
        load_threshold=threshold,
    )


def _load_threshold(
    reader: Reader, contract: catalogue.AppService, autoscaler: str
) -> Optional[int]:
    """`loadThreshold`: the per-replica value of the service's KEDA load trigger. Only KEDA reads
    it: with the HPA, a second scaler on the same workload would fight the HPA over replicas
    (KEDA scales through an HPA of its own), so setting it there is an error."""
    trigger = catalogue.LOAD_TRIGGERS.get(contract.name)
    if trigger is None:
        if reader.value("loadThreshold") is not None:
            reader.report(
                f"{reader.key('loadThreshold')}: {contract.name} has no load trigger (only "
                f"{', '.join(sorted(catalogue.LOAD_TRIGGERS))} do); KEDA scales it on CPU and "
                "memory"
            )
        return None
    threshold = reader.integer("loadThreshold", trigger.threshold, minimum=1, maximum=1_000_000)
    if autoscaler != "keda":
        if reader.has("loadThreshold"):
            reader.report(
                f"{reader.key('loadThreshold')}: is a KEDA trigger, and autoscaler is hpa; an "
                "HPA and a KEDA ScaledObject on one workload would fight over its replicas (KEDA "
                "scales through an HPA of its own); set autoscaler: keda, or remove loadThreshold"
            )
        return None
    return threshold


def _service(
    reader: Reader, name: str, profile: Profile, environment: str, release_images: bool
) -> ServiceSettings:
    contract = catalogue.service(name)
    image = _image(reader, contract, release_images)
    replicas, autoscaling = _autoscaling(reader, contract, profile, environment)
    resources = parse_resources(reader.section("resources"), profile.app_resources)
    env = _env(reader.section("env"), contract)
    delivery = reader.choice("delivery", "rolling", DELIVERIES)
    reader.finish()
    return ServiceSettings(
        name=name,
        image=image,
        replicas=replicas,
        autoscaling=autoscaling,
        resources=resources,
        env=env,
        delivery=delivery,
    )


def parse_services(
    reader: Reader, profile: Profile, environment: Environment, release_images: bool
) -> dict[str, ServiceSettings]:
    """One `webapp:services.<name>` section per catalogued service."""
    services = {
        name: _service(reader.section(name), name, profile, environment, release_images)
        for name in catalogue.APP_SERVICES
    }
    reader.finish()
    return services


def release_images(reader: Reader, environment: Environment) -> bool:
    """`webapp:requireReleaseImages`: refuse the public stand-in images (always in production)."""
    required = reader.flag("requireReleaseImages", environment == "production")
    if environment == "production" and not required:
        reader.problem(
            "requireReleaseImages", False, "true in production (production never runs a stand-in)"
        )
    return required
