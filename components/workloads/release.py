"""The release machinery of a canary or blue-green HttpService, declared as the service's
children (the URNs are the service's: `<name>-analysis`, `<name>-rollout`, ...).

Creates, parented to the HttpService:
- AnalysisTemplate `<app>` (`workloads.analysis`), after the CRDs
- in the mesh, the VirtualService `<app>` the canary is split by (`workloads.traffic`); its
  weights are the controller's (`ignore_changes`, `pulumi.com/patchForce`)
- where the analysis runs a smoke Job: the ServiceAccount `<app>-smoke` (no API token) and the
  NetworkPolicy `<app>-smoke` (out to the tested pods' HTTP port only, nothing in); the tested
  service admits those pods (`HttpService`)
- the Rollout `<app>`, after its AnalysisTemplate, its Services and its routing: the Services and
  routes must exist before the controller reads them, or the Rollout is `InvalidSpec`
- ReleaseGate `<name>-release` (`workloads.release_gate`), whose Job waits for the Rollout

In time: the Rollout's await ends when it settles (Healthy or Degraded); its update timeout is the
whole healthy release plus margin (`rollout.update_seconds`); the gate's Job then passes or fails
the update. A first apply of a Rollout whose pods wait for a database being created allows its
create timeout, and the controller's progress deadline is as long (`rollout.progress_deadline`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.kube import objects as kx

from . import analysis as an
from . import rollout as ro
from . import traffic as tr
from .release_gate import ANYWHERE, ReleaseGate, ReleaseGateArgs

ROLLOUT_API = "argoproj.io/v1alpha1"
ISTIO_NETWORKING = "networking.istio.io/v1"
PATCH_FORCE = {"pulumi.com/patchForce": "true"}


def custom_resource(
    resource_name: str,
    kind: str,
    metadata: k8s.meta.v1.ObjectMetaArgs,
    spec: dict[str, Any],
    opts: pulumi.ResourceOptions,
    api_version: str = ROLLOUT_API,
    ignore: Sequence[str] = (),
) -> k8s.apiextensions.CustomResource:
    """A custom resource; what the controller also writes (`ignore`: fields in atomic lists) is
    forced back when Pulumi changes the object (`PATCH_FORCE` in its metadata,
    `workloads.rollout`)."""
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version=api_version,
        kind=kind,
        metadata=metadata,
        spec=spec,
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(ignore_changes=list(ignore) or None)
        ),
    )


@dataclass(frozen=True, kw_only=True)
class ReleaseArgs:
    """What the service hands its release: plain values, its pod template and its Services."""

    subject: an.Subject
    """What the analysis measures (app, namespace, delivery, signals)."""
    routing: tr.Routing
    """Where the canary's share of traffic is set."""
    prometheus: str
    """The Prometheus the analysis queries."""
    labels: Mapping[str, str]
    """Object labels (without the version)."""
    workload_labels: Mapping[str, str]
    """The Rollout's labels (with the version)."""
    replicas: int
    """The Rollout's count (the scaler's after the first apply)."""
    template: k8s.core.v1.PodTemplateSpecArgs
    """The service's pod template."""
    selector: k8s.meta.v1.LabelSelectorArgs
    """The Rollout's selector (the Service's labels; the controller adds the revision's hash)."""
    annotations: Mapping[str, str]
    """The Rollout's annotations besides its await (Reloader's)."""
    revision: str
    """A digest of the pod template (the release gate's Job name)."""
    services: Sequence[pulumi.Resource]
    """The Services the Rollout names (stable/active, canary/preview)."""
    create_timeout: Optional[str] = None
    """The first apply's await, when the pods wait for something slow (`HttpServiceArgs`)."""
    api_server: str = ANYWHERE
    """Where the release gate may reach the API server (`ReleaseGateArgs`)."""


def declare_release(
    parent: pulumi.ComponentResource,
    name: str,
    args: ReleaseArgs,
    child: pulumi.ResourceOptions,
    delivery_opts: pulumi.ResourceOptions,
    workload_opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    """Declare the release objects (module docstring); returns the Rollout."""
    subject = args.subject
    app, namespace = subject.app, subject.namespace

    release = ro.update_seconds(subject)
    before = _declare_references(name, args, child, delivery_opts)
    annotations = {
        **args.annotations,
        # Settled: Healthy (every step passed, the new pods are the stable ones) or Degraded
        # (aborted); the release gate turns which one into the update's result.
        "pulumi.com/waitFor": ro.SETTLED,
    }
    spec: dict[str, Any] = {
        "replicas": args.replicas,
        "revisionHistoryLimit": 5,
        "selector": args.selector,
        "template": args.template,
        # A first rollout that waits for a database being created may take as long as its
        # create timeout; the controller must not abort it before the provider would.
        "progressDeadlineSeconds": ro.progress_deadline(args.create_timeout),
        "progressDeadlineAbort": True,
        "strategy": ro.strategy(subject.delivery, app, args.routing, subject.smoke),
    }
    rollout = k8s.apiextensions.CustomResource(
        f"{name}-rollout",
        api_version=ROLLOUT_API,
        kind="Rollout",
        metadata=kx.metadata(app, namespace, dict(args.workload_labels), annotations),
        spec=spec,
        opts=pulumi.ResourceOptions.merge(
            workload_opts,
            pulumi.ResourceOptions(
                depends_on=before,
                custom_timeouts=pulumi.CustomTimeouts(
                    create=args.create_timeout or "10m", update=f"{release}s"
                ),
            ),
        ),
    )
    ReleaseGate(
        f"{name}-release",
        ReleaseGateArgs(
            app=app,
            namespace=namespace,
            instance=subject.instance,
            revision=args.revision,
            timeout_seconds=release,
            rollout=rollout,
            api_server=args.api_server,
        ),
        # Only its Job waits for the Rollout (its own depends_on); the rest is created at once.
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return rollout


def _declare_references(
    name: str,
    args: ReleaseArgs,
    child: pulumi.ResourceOptions,
    delivery_opts: pulumi.ResourceOptions,
) -> list[pulumi.Resource]:
    """What the Rollout names (its AnalysisTemplate, Services and VirtualService), which must
    exist before the controller reads it; and the smoke Job's identity where one runs."""
    subject = args.subject
    app, namespace = subject.app, subject.namespace
    labels = dict(args.labels)
    references: list[pulumi.Resource] = [
        custom_resource(
            f"{name}-analysis",
            "AnalysisTemplate",
            kx.metadata(app, namespace, labels),
            an.analysis_spec(subject, args.prometheus),
            delivery_opts,
        ),
        *args.services,
    ]
    if args.routing.router == "istio":
        references.append(
            custom_resource(
                f"{name}-virtualservice",
                "VirtualService",
                kx.metadata(app, namespace, labels, PATCH_FORCE),
                tr.virtual_service_spec(app, namespace, subject.port),
                delivery_opts,
                ISTIO_NETWORKING,
                tr.VIRTUAL_SERVICE_IGNORED,
            )
        )
    if subject.smoke:
        _declare_smoke(name, subject, labels, child)
    return references


def _declare_smoke(
    name: str, subject: an.Subject, labels: dict[str, str], child: pulumi.ResourceOptions
) -> None:
    """The smoke Job's identity and its one way out: the tested pods' HTTP port."""
    smoke = subject.smoke_app
    smoke_labels = {**labels, "app.kubernetes.io/name": smoke}
    kx.service_account(f"{name}-smoke-sa", smoke, subject.namespace, smoke_labels, child)
    k8s.networking.v1.NetworkPolicy(
        f"{name}-smoke-netpol",
        metadata=kx.metadata(smoke, subject.namespace, smoke_labels),
        spec=kx.network_policy_spec(
            smoke, subject.instance, [], [kx.Peer(app=subject.app, ports=(subject.port,))]
        ),
        opts=child,
    )
