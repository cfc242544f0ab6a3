"""ExternalSecret objects for the catalogued Secrets, whichever cloud store backs them.

`catalogue_external_secret(...)` returns the spec of one ExternalSecret that produces a Secret of
`secret_catalog` with exactly its keys: `creationPolicy: Owner` (the Secret is ESO's and goes with
the ExternalSecret), the refresh interval from the catalogue (15 min for database credentials up to
24 h for rarely rotated keys), and a template where a key is composed from several remote values
(connection strings). `declare_external_secret(...)` declares one, named and labelled the same on
every cloud.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.kube import objects as kx
from components.secrets.catalogue import SecretSpec

API_VERSION = "external-secrets.io/v1"


@dataclass(frozen=True)
class Remote:
    """One value in the cloud store: the secret's key (name or ARN) and the JSON property in it."""

    key: pulumi.Input[str]
    property: Optional[str] = None


def catalogue_external_secret(
    spec: SecretSpec,
    store: str,
    store_kind: str,
    values: Mapping[str, Remote],
    template: Optional[Mapping[str, str]] = None,
) -> dict[str, Any]:
    """`values` are fetched as template variables; `template` (Go template per Secret key) defaults
    to passing each value through. The result must produce exactly the catalogue's keys."""
    produced = set(template) if template is not None else set(values)
    if produced != set(spec.keys):
        raise ValueError(
            f"{spec.name}: ExternalSecret would produce {sorted(produced)}, catalogue says "
            f"{sorted(spec.keys)}"
        )
    data = []
    for var, remote in sorted(values.items()):
        ref: dict[str, Any] = {"key": remote.key}
        if remote.property:
            ref["property"] = remote.property
        data.append({"secretKey": var, "remoteRef": ref})
    target: dict[str, Any] = {
        "name": spec.name,
        "creationPolicy": "Owner",
        "deletionPolicy": "Retain",
    }
    if template is not None:
        target["template"] = {
            "engineVersion": "v2",
            "type": "Opaque",
            "data": dict(sorted(template.items())),
        }
    return {
        "refreshInterval": spec.refresh,
        "secretStoreRef": {"name": store, "kind": store_kind},
        "target": target,
        "data": data,
    }


def declare_external_secret(
    resource_name: str,
    spec: SecretSpec,
    namespace: str,
    instance: str,
    body: Mapping[str, Any],
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    """The ExternalSecret that produces the catalogued Secret `spec` in `namespace`, awaited until
    `Ready` (its Secret exists): the workloads that read the Secret wait for it, so a broken store
    fails here, by name, instead of as a Deployment timeout later."""
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version=API_VERSION,
        kind="ExternalSecret",
        metadata=kx.metadata(
            spec.name,
            namespace,
            kx.labels(spec.name, instance, "secret", "v1"),
            {"webapp.io/description": spec.description, **kx.AWAIT_READY},
        ),
        spec=dict(body),
        opts=opts,
    )
