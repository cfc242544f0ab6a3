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


def test_managed_prometheus_labels_what_the_queries_group_by_and_scrapes_the_add_ons(
    staging: StackRun,
) -> None:
    """The dashboards' `service=` matchers and `by (service)` read the same on this datasource
    as in-cluster (the PodMonitors' relabeling), and the add-ons' pods the in-cluster PodMonitors
    scrape are scraped here too, with their own labels kept where the PodMonitor keeps them."""
    import yaml

    scrape = staging.find("ConfigMap", "ama-metrics-prometheus-config", "kube-system")["data"][
        "prometheus-config"
    ]
    jobs = {job["job_name"]: job for job in yaml.safe_load(scrape)["scrape_configs"]}
    pods = jobs["kubernetes-pods"]["relabel_configs"]
    assert {
        "source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"],
        "target_label": "service",
    } in pods
    monitors = {
        obj["metadata"]["name"].removeprefix("webapp-"): obj
        for obj in staging.kubernetes_objects()
        if obj["kind"] == "PodMonitor" and obj["metadata"]["name"].startswith("webapp-")
    }
    assert set(jobs) == {"kubernetes-pods", *(f"webapp-{name}" for name in monitors)}
    assert {"envoy-webapp-staging", "cert-manager", "argo-rollouts"} <= set(monitors)
    for name, monitor in monitors.items():
        job, endpoint = jobs[f"webapp-{name}"], monitor["spec"]["podMetricsEndpoints"][0]
        assert (
            job["kubernetes_sd_configs"][0]["namespaces"]["names"]
            == (monitor["spec"]["namespaceSelector"]["matchNames"])
        )
        assert job["metrics_path"] == endpoint["path"]
        assert job.get("honor_labels", False) == endpoint.get("honorLabels", False)
        keeps = {
            rule["source_labels"][0]: rule["regex"]
            for rule in job["relabel_configs"]
            if rule.get("action") == "keep"
        }
        assert keeps.pop("__meta_kubernetes_pod_container_port_name") == endpoint["port"]
        assert keeps == {
            "__meta_kubernetes_pod_label_"
            + key.replace(".", "_").replace("/", "_").replace("-", "_"): value
            for key, value in monitor["spec"]["selector"]["matchLabels"].items()
        }
