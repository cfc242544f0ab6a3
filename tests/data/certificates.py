"""Certificates for the real-server tests, made with the `openssl` CLI in the shapes cert-manager
issues them from the rendered Certificates: a self-signed CA (`isCA`), and leafs it signs with the
Certificate's DNS names and usages, written as cert-manager writes a CA Issuer's Secret
(`tls.crt`, `tls.key`, `ca.crt`: cert-manager v1.19.1
pkg/controller/certificaterequests/ca/ca.go, the bundle's chain and CA)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from tests.support import program

USAGES = {
    "digital signature": ("keyUsage", "digitalSignature"),
    "key encipherment": ("keyUsage", "keyEncipherment"),
    "server auth": ("extendedKeyUsage", "serverAuth"),
    "client auth": ("extendedKeyUsage", "clientAuth"),
}
"""cert-manager's usage names, as openssl's extensions spell them."""


@dataclass(frozen=True)
class Authority:
    certificate: Path
    key: Path


def _openssl(*args: str) -> None:
    subprocess.run([program("openssl"), *args], check=True, capture_output=True, timeout=60)


def _key(path: Path) -> None:
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(path))


def authority(directory: Path, name: str) -> Authority:
    """A self-signed CA (P-256, as the rendered CA Certificate asks)."""
    directory.mkdir(parents=True, exist_ok=True)
    key, certificate = directory / f"{name}.key", directory / f"{name}.crt"
    _key(key)
    _openssl(
        "req", "-x509", "-new", "-key", str(key), "-out", str(certificate), "-days", "2",
        "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    )  # fmt: skip
    return Authority(certificate, key)


def leaf(
    directory: Path,
    ca: Authority,
    spec: Mapping[str, Any],
    ip_addresses: Sequence[str] = ("127.0.0.1",),
) -> Path:
    """A certificate for the rendered Certificate `spec` (its DNS names and usages; the tests dial
    the members on loopback, so `ip_addresses` too), signed by `ca`, in `directory` as the
    Secret's files. A new key each time (`rotationPolicy: Always`)."""
    directory.mkdir(parents=True, exist_ok=True)
    key, request = directory / "tls.key", directory / "request.csr"
    _key(key)
    _openssl("req", "-new", "-key", str(key), "-out", str(request), "-subj", "/CN=nats-route")
    names = [f"DNS:{name}" for name in spec["dnsNames"]] + [f"IP:{ip}" for ip in ip_addresses]
    extensions: dict[str, list[str]] = {}
    for usage in spec["usages"]:
        extension, value = USAGES[usage]
        extensions.setdefault(extension, []).append(value)
    lines = [f"subjectAltName={','.join(names)}", "basicConstraints=critical,CA:FALSE"]
    lines += [f"{extension}={','.join(values)}" for extension, values in extensions.items()]
    (directory / "extensions.cnf").write_text("\n".join(lines) + "\n")
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca.certificate), "-CAkey", str(ca.key),
        "-CAcreateserial", "-out", str(directory / "tls.crt"), "-days", "1",
        "-extfile", str(directory / "extensions.cnf"),
    )  # fmt: skip
    (directory / "ca.crt").write_bytes(ca.certificate.read_bytes())
    return directory
