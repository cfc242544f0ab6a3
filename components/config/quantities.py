"""Pure parsers and validators for Kubernetes-style values (no Pulumi import).

Used by the settings parser to reject bad input before any resource is declared, and by the
settings-level capacity check (ResourceQuota must hold every workload at its maximum scale).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Optional

_CPU = re.compile(r"^(\d+(\.\d+)?)(m)?$")
_MEMORY = re.compile(r"^(\d+(\.\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_MEMORY_FACTORS = {
    None: 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_HOSTNAME_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# registry/path:tag@digest; deliberately strict about what a tag may contain (Docker's grammar).
_IMAGE = re.compile(
    r"^(?:[a-z0-9.-]+(?::\d+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_SQL_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_DURATION = re.compile(r"^\d+(ms|s|m|h|d|w|y)$")


def cpu_millis(value: str) -> int:
    """`"250m"` -> 250, `"2"` -> 2000. Raises ValueError for anything else."""
    match = _CPU.match(value)
    if not match:
        raise ValueError(value)
    number = float(match.group(1))
    return int(round(number if match.group(3) else number * 1000))


def memory_bytes(value: str) -> int:
    """`"128Mi"` -> 134217728. Raises ValueError for anything else."""
    match = _MEMORY.match(value)
    if not match:
        raise ValueError(value)
    return int(float(match.group(1)) * _MEMORY_FACTORS[match.group(3)])


def is_cpu(value: str) -> bool:
    try:
        return cpu_millis(value) > 0
    except ValueError:
        return False


def is_memory(value: str) -> bool:
    try:
        return memory_bytes(value) > 0
    except ValueError:
        return False


def is_dns_label(value: str) -> bool:
    """RFC 1123 label as Kubernetes uses it for namespaces and most object names."""
    return len(value) <= 63 and bool(_DNS1123_LABEL.match(value))


def is_dns_subdomain(value: str) -> bool:
    """RFC 1123 subdomain: the name of most Kubernetes objects (Secrets, ClusterIssuers)."""
    return len(value) <= 253 and all(is_dns_label(part) for part in value.split("."))


def is_hostname(value: str) -> bool:
    """A fully qualified DNS name with at least two labels (no wildcard, no trailing dot)."""
    if len(value) > 253 or "." not in value:
        return False
    return all(len(part) <= 63 and _HOSTNAME_LABEL.match(part) for part in value.split("."))


def is_image(value: str) -> bool:
    return len(value) <= 255 and bool(_IMAGE.match(value))


def is_pinned_image(value: str) -> bool:
    """An image reference that names a version: a digest, or a tag other than `latest`."""
    if not is_image(value):
        return False
    if "@sha256:" in value:
        return True
    last = value.rsplit("/", 1)[-1]
    return ":" in last and last.split(":", 1)[1] != "latest"


def image_tag(image: str) -> str:
    """The tag of an image reference ("latest" when none), usable as a label value."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    return tag[:63].rstrip("-_.") or "latest"


def is_env_name(value: str) -> bool:
    return bool(_ENV_NAME.match(value))


def is_cron(value: str) -> bool:
    """Five-field cron expression with numeric fields (what a CronJob accepts, minus names)."""
    fields = value.split()
    if len(fields) != 5:
        return False
    for field, (low, high) in zip(fields, _CRON_RANGES, strict=True):
        if not _CRON_FIELD.match(field):
            return False
        for number in re.findall(r"\d+", re.sub(r"/\d+", "", field)):
            if not low <= int(number) <= high:
                return False
    return True


def is_sql_identifier(value: str) -> bool:
    """An unquoted PostgreSQL identifier that needs no quoting anywhere."""
    return bool(_SQL_IDENTIFIER.match(value))


def is_duration(value: str) -> bool:
    """Prometheus-style duration such as `30d` or `15m`."""
    return bool(_DURATION.match(value))


def seconds(value: str) -> int:
    """A duration of one unit (`30s`, `10m`, `1h`, as customTimeouts and Argo spell them) in
    seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    return int(float(value[:-1]) * units[value[-1]])


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def is_cidr(value: str) -> bool:
    """An IPv4 or IPv6 network in CIDR notation, its host bits zero (`10.30.0.0/16`)."""
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        return False
    return "/" in value


def is_email(value: str) -> bool:
    local, _, domain = value.partition("@")
    return bool(local) and is_hostname(domain)


# --- Why a value is refused ------------------------------------------------------------------
# Each returns the reason a value fails its check, in words a user can act on, or None when it
# has nothing more specific to say than the rule's "expected ...".

_CRON_NAMES = ("minute", "hour", "day of month", "month", "day of week")


def hostname_problem(value: str) -> Optional[str]:
    if value != value.lower() and is_hostname(value.lower()):
        return f"DNS names are lower case here: write {value.lower()!r}"
    if value.endswith("."):
        return "no trailing dot"
    if value.startswith("*"):
        return "a wildcard is not a host"
    if "://" in value or "/" in value:
        return "a host name only, without scheme or path"
    if "." not in value:
        return "at least two labels, such as app.example.com"
    for part in value.split("."):
        if len(part) > 63:
            return f"label {part[:20]!r}... is {len(part)} characters, at most 63"
        if not _HOSTNAME_LABEL.match(part.lower()):
            return (
                f"label {part!r} may hold only a-z, 0-9 and '-', and neither start nor end with '-'"
            )
    return None


def cron_problem(value: str) -> Optional[str]:
    fields = value.split()
    if len(fields) != 5:
        return f"{len(fields)} fields, not 5: {', '.join(_CRON_NAMES)}"
    for name, field, (low, high) in zip(_CRON_NAMES, fields, _CRON_RANGES, strict=True):
        if not _CRON_FIELD.match(field):
            return f"{name} {field!r} is not a number, range, list or step; names are not read"
        for number in re.findall(r"\d+", re.sub(r"/\d+", "", field)):
            if not low <= int(number) <= high:
                return f"{name} {number} is out of range {low}-{high}"
    return None


def ip_problem(value: str) -> Optional[str]:
    address, slash, _ = value.partition("/")
    if slash and is_ip(address):
        return f"an address, not a CIDR block: write {address!r}"
    return None


def cidr_problem(value: str) -> Optional[str]:
    if is_ip(value):
        return "an address, not a block: give the whole block with its prefix length"
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None
    if str(network) != value:
        return f"host bits are set: the block of {value} is {network}"
    if not network.is_private:
        return f"{network} is not private: use 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16"
    return None


def dns_label_problem(value: str) -> Optional[str]:
    if len(value) > 63:
        return f"{len(value)} characters, at most 63"
    if value != value.lower() or "_" in value:
        fixed = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")
        return f"lower case, digits and '-' only: such as {fixed!r}"
    return None
