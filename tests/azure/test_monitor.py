"""Azure Monitor managed Prometheus scraping."""

from __future__ import annotations

from pathlib import Path

from tools.offline import StackRun

# --- Managed Prometheus ---------------------------------------------------------------------------


def test_managed_prometheus_scrapes_only_the_stack_namespace(
    staging: StackRun, tmp_path: Path
) -> None:
    settings = staging.find("ConfigMap", "ama-metrics-settings-configmap", "kube-system")
    assert (
        settings["data"]["pod-annotation-based-scraping"]
        == 'podannotationnamespaceregex = "^webapp-staging$"'
    )
    scrape = staging.find("ConfigMap", "ama-metrics-prometheus-config", "kube-system")["data"][
        "prometheus-config"
    ]
    import yaml

    job = yaml.safe_load(scrape)["scrape_configs"][0]
    assert job["kubernetes_sd_configs"] == [
        {"role": "pod", "namespaces": {"names": ["webapp-staging"]}}
    ]
    keep = job["relabel_configs"][0]
    assert keep == {
        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
        "action": "keep",
        "regex": "true",
    }
    # (Debian's promtool is built without Kubernetes service discovery, so it cannot check this file.)
    import re

    for rule in job["relabel_configs"]:
        re.compile(rule.get("regex", ".*"))
