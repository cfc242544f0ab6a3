"""The application's Grafana dashboards, one module each, built with `grafana-foundation-sdk`.

- `overview`: WebApp Overview (requests, errors, latency, availability)
- `infrastructure`: CPU and memory against requests and limits, throttling, restarts, HPA,
  volume claims
- `dotnet`: .NET Performance (GC, heap, thread pool, exceptions) of the api
- `security`: authentication failures and rate limits at the Gateway, certificate expiry,
  secret sync errors
- `database`: PostgreSQL through postgres_exporter, or the managed database's platform metrics
- `messaging`: NATS and the broadcaster

Each has a stable uid and the `datasource` and `namespace` variables (`panels.board`).
"""

from __future__ import annotations

from types import ModuleType

from . import database, dotnet, infrastructure, messaging, overview, security
from .panels import DashboardContext, to_json

MODULES: tuple[ModuleType, ...] = (overview, infrastructure, dotnet, security, database, messaging)


def render(context: DashboardContext) -> dict[str, str]:
    """File name (`<uid>.json`) -> dashboard JSON, for the Grafana sidecar's ConfigMap."""
    return {f"{module.UID}.json": to_json(module.build(context)) for module in MODULES}


__all__ = ["MODULES", "DashboardContext", "render"]
