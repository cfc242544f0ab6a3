"""NATS and broadcaster: is the message bus carrying `todos.events` (seed 001).

Metrics: prometheus-nats-exporter 0.17.3 beside each server (`gnatsd_varz_connections`,
`gnatsd_varz_in_msgs`, `gnatsd_varz_out_msgs`, `gnatsd_varz_slow_consumers`, and `-connz`'s
`gnatsd_connz_in_msgs`, the client connections' only; no JetStream panel: JetStream is off and
the exporter runs without `-jsz`, README "NATS delivery"), and the broadcaster's
own (`broadcaster_messages_processed_total`, `broadcaster_webhook_requests_total` with `status`,
`broadcaster_nats_connected`).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as gd

from .panels import NAMESPACE, RATE, DashboardContext, Query, board, graph

UID = "webapp-messaging"


def build(context: DashboardContext) -> gd.Dashboard:
    return (
        board(UID, "WebApp NATS and broadcaster", context, "Connections, messages, consumers.")
        .with_row(gd.Row("NATS"))
        .with_panel(
            graph(
                "Client connections",
                "short",
                Query(f"sum by (pod) (gnatsd_varz_connections{{{NAMESPACE}}})", "{{pod}}"),
            )
        )
        .with_panel(
            graph(
                "Messages per second",
                "ops",
                # varz counts what the servers route to each other too; connz only what the
                # clients publish (the broadcaster's KEDA trigger reads that).
                Query(f"sum(rate(gnatsd_varz_in_msgs{{{NAMESPACE}}}[{RATE}]))", "in (all)"),
                Query(f"sum(rate(gnatsd_varz_out_msgs{{{NAMESPACE}}}[{RATE}]))", "out (all)"),
                Query(
                    f"sum(rate(gnatsd_connz_in_msgs{{{NAMESPACE}}}[{RATE}]))",
                    "published by clients",
                ),
            )
        )
        .with_panel(
            graph(
                "Slow consumers",
                "short",
                Query(f"sum by (pod) (gnatsd_varz_slow_consumers{{{NAMESPACE}}})", "{{pod}}"),
            )
        )
        .with_row(gd.Row("Broadcaster"))
        .with_panel(
            graph(
                "Events processed per second",
                "ops",
                Query(
                    "sum by (pod) (rate(broadcaster_messages_processed_total"
                    f"{{{NAMESPACE}}}[{RATE}]))",
                    "{{pod}}",
                ),
            )
        )
        .with_panel(
            graph(
                "Webhook failures",
                "percentunit",
                Query(
                    "sum(rate(broadcaster_webhook_requests_total"
                    f'{{{NAMESPACE}, status!~"2.."}}[{RATE}])) / '
                    f"sum(rate(broadcaster_webhook_requests_total{{{NAMESPACE}}}[{RATE}]))",
                    "failed",
                ),
            )
        )
        .with_panel(
            graph(
                "Connected to NATS",
                "bool",
                Query(f"min by (pod) (broadcaster_nats_connected{{{NAMESPACE}}})", "{{pod}}"),
            )
        )
    )
