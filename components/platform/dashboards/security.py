"""Security: who is refused, and is the stack's trust material healthy (seed 000 dashboard 4).

Metrics, each from the component that really publishes it:
- authentication failures: 401/403 answers of the auth routes, from the Envoy proxies in front of
  them (`envoy_cluster_upstream_rq`, labels `envoy_cluster_name` = the route's cluster
  `httproute/<ns>/webapp/rule/<n>` and `envoy_response_code`);
- rate-limited requests: Envoy's local rate limit filter, which answers 429
  (`envoy_http_local_rate_limit_rate_limited`), per Gateway (the proxies' owning-gateway labels);
- certificate expiry: cert-manager (`certmanager_certificate_expiration_timestamp_seconds`);
- secret sync: External Secrets (`externalsecret_sync_calls_error`,
  `externalsecret_status_condition`), only where it delivers the stack's Secrets (a stack that
  mounts them with the CSI driver runs no External Secrets, whose series would never exist).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as gd

from .panels import NAMESPACE, RATE, DashboardContext, Query, board, graph

UID = "webapp-security"
GATEWAY = 'gateway_envoyproxy_io_owning_gateway_namespace="$namespace"'
"""The Envoy proxies of the namespace's Gateway (a pod label the PodMonitor copies)."""


def _cluster(context: DashboardContext, service: str) -> str:
    """The Envoy cluster of the service's route, for whichever namespace is picked."""
    cluster = context.route_clusters[service]
    return cluster.replace(f"/{context.namespace}/", "/$namespace/", 1)


def build(context: DashboardContext) -> gd.Dashboard:
    auth = _cluster(context, "auth")
    builder = (
        board(
            UID, "WebApp Security", context, "Refused logins, rate limits, certificates, secrets."
        )
        .with_row(gd.Row("At the Gateway"))
        .with_panel(
            graph(
                "Authentication failures (401/403 from auth)",
                "reqps",
                Query(
                    "sum by (envoy_response_code) (rate(envoy_cluster_upstream_rq"
                    f'{{envoy_cluster_name="{auth}", envoy_response_code=~"401|403"}}[{RATE}]))',
                    "{{envoy_response_code}}",
                ),
            )
        )
        .with_panel(
            graph(
                "Rate-limited requests (429)",
                "reqps",
                Query(
                    "sum by (pod) (rate(envoy_http_local_rate_limit_rate_limited"
                    f"{{{GATEWAY}}}[{RATE}]))",
                    "{{pod}}",
                ),
            )
        )
        .with_row(gd.Row("Certificates and secrets"))
        .with_panel(
            graph(
                "Certificate validity left (alert under 14 days)",
                "s",
                Query(
                    "min by (name) (certmanager_certificate_expiration_timestamp_seconds"
                    f"{{{NAMESPACE}}} - time())",
                    "{{name}}",
                ),
            )
        )
    )
    return _secret_sync(builder) if context.external_secrets else builder


def _secret_sync(builder: gd.Dashboard) -> gd.Dashboard:
    return builder.with_panel(
        graph(
            "ExternalSecret sync errors (1 h)",
            "short",
            Query(
                f"sum by (name) (increase(externalsecret_sync_calls_error{{{NAMESPACE}}}[1h]))",
                "{{name}}",
            ),
            Query(
                "sum by (name) (externalsecret_status_condition"
                f'{{{NAMESPACE}, condition="Ready", status="False"}})',
                "{{name}} not ready",
            ),
        )
    )
