""".NET Performance: the api's runtime (seed 000 dashboard 3).

Metrics: prometheus-net.DotNetRuntime 4.x (`DotNetRuntimeStatsBuilder.Default()`, on the api's
metrics port): `dotnet_gc_collection_count_total` (label `gc_generation`), `dotnet_gc_pause_ratio`,
`dotnet_gc_heap_size_bytes` (`gc_generation`), `dotnet_threadpool_queue_length` (a histogram),
`dotnet_threadpool_num_threads` and `dotnet_exceptions_total`; and prometheus-net's process
metrics (`process_working_set_bytes`, `process_cpu_seconds_total`).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as gd

from .panels import NAMESPACE, RATE, DashboardContext, Query, board, graph

UID = "webapp-dotnet"
API = f'{NAMESPACE}, service="api"'


def build(context: DashboardContext) -> gd.Dashboard:
    return (
        board(UID, "WebApp .NET Performance", context, "Garbage collection, heap, thread pool.")
        .with_row(gd.Row("Garbage collection"))
        .with_panel(
            graph(
                "Collections per second",
                "ops",
                Query(
                    "sum by (pod, gc_generation) (rate(dotnet_gc_collection_count_total"
                    f"{{{API}}}[{RATE}]))",
                    "{{pod}} gen {{gc_generation}}",
                ),
            )
        )
        .with_panel(
            graph(
                "Time paused for GC",
                "percentunit",
                Query(f"max by (pod) (dotnet_gc_pause_ratio{{{API}}})", "{{pod}}"),
            )
        )
        .with_panel(
            graph(
                "Heap size",
                "bytes",
                Query(
                    f"sum by (pod, gc_generation) (dotnet_gc_heap_size_bytes{{{API}}})",
                    "{{pod}} {{gc_generation}}",
                ),
            )
        )
        .with_panel(
            graph(
                "Working set",
                "bytes",
                Query(f"sum by (pod) (process_working_set_bytes{{{API}}})", "{{pod}}"),
            )
        )
        .with_row(gd.Row("Thread pool and exceptions"))
        .with_panel(
            graph(
                "Thread-pool queue length (p95)",
                "short",
                Query(
                    "histogram_quantile(0.95, sum by (pod, le) (rate("
                    f"dotnet_threadpool_queue_length_bucket{{{API}}}[{RATE}])))",
                    "{{pod}}",
                ),
                Query(f"sum by (pod) (dotnet_threadpool_num_threads{{{API}}})", "{{pod}} threads"),
            )
        )
        .with_panel(
            graph(
                "Exceptions per second",
                "ops",
                Query(f"sum by (pod) (rate(dotnet_exceptions_total{{{API}}}[{RATE}]))", "{{pod}}"),
            )
        )
    )
