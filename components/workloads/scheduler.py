"""Scheduler: the todo generator CronJob of seed 001 (`todo-cron`), calling the api on a schedule.

Creates (parented to the component):
- ConfigMap `scheduler` with the job script; ServiceAccount `scheduler` (no API token)
- CronJob `scheduler`: Forbid concurrency, starting and active deadlines, history limits,
  restricted security context, no service account token
- NetworkPolicy: egress to the api and to HTTPS on the internet (Wikipedia) only; no ingress
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.config.quantities import image_tag
from components.config.settings import SchedulerSettings
from components.kube import objects as kx

# Picks a random Wikipedia article and asks the api to create a "Read <url>" todo.
SCRIPT = """#!/bin/sh
set -eu
url=$(curl -fsS -o /dev/null -w '%{redirect_url}' --max-time 20 "$RANDOM_ARTICLE_URL")
[ -n "$url" ] || { echo "no article URL returned" >&2; exit 1; }
body=$(printf '{"todo":"Read %s"}' "$url")
curl -fsS --max-time 20 --retry 3 --retry-connrefused -H 'Content-Type: application/json' \\
    -d "$body" "$API_URL$TODO_PATH"
echo "created todo for $url"
"""


@dataclass(frozen=True, kw_only=True)
class SchedulerArgs:
    namespace: str
    """The application namespace (created by NamespaceBaseline)."""
    instance: str
    """The stack name: `app.kubernetes.io/instance`, and part of the names of cloud resources."""
    settings: SchedulerSettings
    """Image, schedule, resources, and whether the job is suspended."""
    api_url: str
    """In-cluster base URL of the api, e.g. http://api:8080."""
    api_port: int
    """The api's port (the job's only in-cluster egress)."""
    todo_path: str = "/api/todos"
    """The api path the job posts to. Default /api/todos."""


CONFIG_KEYS = ("API_URL", "TODO_PATH", "RANDOM_ARTICLE_URL")


def _pod_spec(settings: SchedulerSettings) -> k8s.core.v1.PodSpecArgs:
    """One run of generate-todo.sh, its settings read from the ConfigMap by key."""
    env = [
        k8s.core.v1.EnvVarArgs(
            name=key,
            value_from=k8s.core.v1.EnvVarSourceArgs(
                config_map_key_ref=k8s.core.v1.ConfigMapKeySelectorArgs(name="scheduler", key=key)
            ),
        )
        for key in CONFIG_KEYS
    ]
    container = k8s.core.v1.ContainerArgs(
        name="scheduler",
        image=settings.image,
        image_pull_policy=settings.image_pull_policy,
        command=["/bin/sh", "/scripts/generate-todo.sh"],
        env=env,
        resources=kx.resources(settings.resources.as_dict()),
        security_context=kx.container_security(),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="scripts", mount_path="/scripts", read_only=True)
        ],
    )
    script = k8s.core.v1.ConfigMapVolumeSourceArgs(
        name="scheduler",
        default_mode=0o555,
        items=[k8s.core.v1.KeyToPathArgs(key="generate-todo.sh", path="generate-todo.sh")],
    )
    return k8s.core.v1.PodSpecArgs(
        service_account_name="scheduler",
        restart_policy="Never",
        automount_service_account_token=False,
        enable_service_links=False,
        security_context=kx.pod_security(65532),
        containers=[container],
        volumes=[k8s.core.v1.VolumeArgs(name="scripts", config_map=script)],
    )


class Scheduler(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: SchedulerArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:workloads:Scheduler", name, None, opts)
        settings = args.settings
        workload_labels = kx.labels(
            "scheduler", args.instance, "scheduler", image_tag(settings.image)
        )
        labels = kx.without_version(workload_labels)
        child = kx.child_options(self, opts)
        data = {
            "API_URL": args.api_url,
            "TODO_PATH": args.todo_path,
            "RANDOM_ARTICLE_URL": "https://en.wikipedia.org/wiki/Special:Random",
            "generate-todo.sh": SCRIPT,
        }
        k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=kx.metadata("scheduler", args.namespace, labels),
            data=data,
            opts=child,
        )
        # Its own ServiceAccount, without an API token: the job only calls the api over HTTP.
        kx.service_account(f"{name}-sa", "scheduler", args.namespace, labels, child)
        template = k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(
                labels=workload_labels, annotations={"checksum/config": kx.checksum(data)}
            ),
            spec=_pod_spec(settings),
        )
        k8s.batch.v1.CronJob(
            f"{name}-cronjob",
            metadata=kx.metadata("scheduler", args.namespace, workload_labels),
            spec=k8s.batch.v1.CronJobSpecArgs(
                schedule=settings.schedule,
                time_zone="Etc/UTC",
                concurrency_policy="Forbid",
                starting_deadline_seconds=300,
                successful_jobs_history_limit=3,
                failed_jobs_history_limit=3,
                suspend=not settings.enabled,
                job_template=k8s.batch.v1.JobTemplateSpecArgs(
                    spec=k8s.batch.v1.JobSpecArgs(
                        backoff_limit=2,
                        active_deadline_seconds=300,
                        ttl_seconds_after_finished=3600,
                        template=template,
                    )
                ),
            ),
            opts=child,
        )
        egress = [kx.Peer(app="api", ports=(args.api_port,)), kx.internet((443,))]
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol",
            metadata=kx.metadata("scheduler", args.namespace, labels),
            spec=kx.network_policy_spec("scheduler", args.instance, [], egress),
            opts=child,
        )
        self.register_outputs({})
