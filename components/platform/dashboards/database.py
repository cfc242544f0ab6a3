"""Database: connections, transactions, slow queries, replication and storage (seed 000
dashboard 5).

In-cluster PostgreSQL: postgres_exporter v0.20.1, the sidecar of the `postgres` pod
(`pg_up`, `pg_stat_database_numbackends`, `pg_settings_max_connections`,
`pg_stat_database_xact_commit` / `_xact_rollback`, `pg_stat_activity_max_tx_duration`,
`pg_replication_lag_seconds`, `pg_database_size_bytes`) and the kubelet's volume stats of its claim.

A managed database publishes to its platform instead, so the dashboard shows the platform's own
metrics through the matching Grafana datasource, which an operator adds to Grafana (this program
does not provision it; README "Dashboards and alerts"): RDS through CloudWatch (`AWS/RDS`, by
`DBInstanceIdentifier`), the Flexible Server through Azure Monitor
(`Microsoft.DBforPostgreSQL/flexibleServers`). Those panels have no PromQL to check offline.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import azuremonitor, cloudwatch, timeseries
from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants
from grafana_foundation_sdk.models import common

from .panels import HEIGHT, NAMESPACE, RATE, WIDTH, DashboardContext, Query, board, graph

UID = "webapp-database"
POSTGRES = f'{NAMESPACE}, service="postgres"'
CLOUDWATCH = common.DataSourceRef(type_val="cloudwatch", uid="${cloudwatch}")
AZURE_MONITOR = common.DataSourceRef(type_val="grafana-azure-monitor-datasource", uid="${azure}")
RDS_METRICS = (
    ("Connections", "DatabaseConnections", "short"),
    ("CPU", "CPUUtilization", "percent"),
    ("Free storage", "FreeStorageSpace", "bytes"),
    ("Read latency", "ReadLatency", "s"),
    ("Write latency", "WriteLatency", "s"),
)
FLEXIBLE_METRICS = (
    ("Active connections", "active_connections", "short"),
    ("CPU", "cpu_percent", "percent"),
    ("Storage used", "storage_percent", "percent"),
    ("Transactions per second", "xact_commit", "short"),
    ("Longest transaction", "longest_transaction_time_sec", "s"),
)


def _in_cluster(builder: gd.Dashboard) -> gd.Dashboard:
    connections = f'sum(pg_stat_database_numbackends{{{POSTGRES}, datname!~"template.*"}})'
    return (
        builder.with_row(gd.Row("PostgreSQL (postgres_exporter)"))
        .with_panel(
            graph(
                "Connections against max_connections",
                "short",
                Query(connections, "connections"),
                Query(f"max(pg_settings_max_connections{{{POSTGRES}}})", "max_connections"),
            )
        )
        .with_panel(
            graph(
                "Pool saturation",
                "percentunit",
                Query(f"{connections} / max(pg_settings_max_connections{{{POSTGRES}}})", "used"),
            )
        )
        .with_panel(
            graph(
                "Transactions per second",
                "ops",
                Query(f"sum(rate(pg_stat_database_xact_commit{{{POSTGRES}}}[{RATE}]))", "commit"),
                Query(
                    f"sum(rate(pg_stat_database_xact_rollback{{{POSTGRES}}}[{RATE}]))", "rollback"
                ),
            )
        )
        .with_panel(
            graph(
                "Slowest active transaction",
                "s",
                Query(
                    "max by (datname) (pg_stat_activity_max_tx_duration"
                    f'{{{POSTGRES}, state="active"}})',
                    "{{datname}}",
                ),
            )
        )
        .with_panel(
            graph(
                "Replication lag",
                "s",
                Query(f"max(pg_replication_lag_seconds{{{POSTGRES}}})", "lag"),
            )
        )
        .with_panel(
            graph(
                "Storage",
                "bytes",
                Query(
                    "sum by (datname) "
                    f'(pg_database_size_bytes{{{POSTGRES}, datname!~"template.*"}})',
                    "{{datname}}",
                ),
                Query(
                    "max(kubelet_volume_stats_capacity_bytes"
                    f'{{{NAMESPACE}, persistentvolumeclaim=~"data-postgres-.*"}})',
                    "volume",
                ),
            )
        )
    )


def _platform_panel(
    title: str,
    unit: str,
    target: cogbuilder.Builder[variants.Dataquery],
    datasource: common.DataSourceRef,
) -> timeseries.Panel:
    """A panel of the managed database's platform metrics (no PromQL)."""
    return (
        timeseries.Panel()
        .title(title)
        .unit(unit)
        .datasource(datasource)
        .height(HEIGHT)
        .span(WIDTH)
        .with_target(target)
    )


def _rds(builder: gd.Dashboard, context: DashboardContext) -> gd.Dashboard:
    builder = builder.with_variable(
        gd.DatasourceVariable("cloudwatch").label("CloudWatch").type("cloudwatch")
    ).with_row(gd.Row(f"RDS {context.database_resource} (CloudWatch)"))
    for title, metric, unit in RDS_METRICS:
        query = (
            cloudwatch.CloudWatchMetricsQuery()
            .ref_id("A")
            .region(context.region)
            .namespace("AWS/RDS")
            .metric_name(metric)
            .dimensions({"DBInstanceIdentifier": context.database_resource})
            .statistic("Average")
            .match_exact(True)
            .datasource(CLOUDWATCH)
        )
        builder = builder.with_panel(_platform_panel(title, unit, query, CLOUDWATCH))
    return builder


def _flexible_server(builder: gd.Dashboard, context: DashboardContext) -> gd.Dashboard:
    _, _, subscription, _, group, *_, server = context.database_resource.split("/")
    builder = builder.with_variable(
        gd.DatasourceVariable("azure")
        .label("Azure Monitor")
        .type("grafana-azure-monitor-datasource")
    ).with_row(gd.Row(f"Flexible Server {server} (Azure Monitor)"))
    for title, metric, unit in FLEXIBLE_METRICS:
        query = (
            azuremonitor.AzureMonitorQuery()
            .ref_id("A")
            .query_type("Azure Monitor")
            .subscription(subscription)
            .azure_monitor(
                azuremonitor.AzureMetricQuery()
                .resources(
                    [
                        azuremonitor.AzureMonitorResource()
                        .subscription(subscription)
                        .resource_group(group)
                        .resource_name(server)
                        .metric_namespace("Microsoft.DBforPostgreSQL/flexibleServers")
                    ]
                )
                .metric_namespace("Microsoft.DBforPostgreSQL/flexibleServers")
                .metric_name(metric)
                .aggregation("Average")
                .time_grain("auto")
            )
            .datasource(AZURE_MONITOR)
        )
        builder = builder.with_panel(_platform_panel(title, unit, query, AZURE_MONITOR))
    return builder


def build(context: DashboardContext) -> gd.Dashboard:
    builder = board(UID, "WebApp Database", context, "Connections, transactions, storage.")
    if context.database == "rds":
        return _rds(builder, context)
    if context.database == "flexible-server":
        return _flexible_server(builder, context)
    return _in_cluster(builder)
