"""The deploy timeline of a first `pulumi up`, from the resource graph the program declares.

    python -m tools.timeline production      # make timeline STACK=production

Exit status: 0, or 1 when an await could time out, or 2 when the stack cannot be run (no stack
file, YAML that does not parse, config the settings refuse: one line each, as `make render`).

Also each Rollout's release (a later up that changes its pod template): how long a healthy one
takes, from its steps, pauses and analysis, against how long the Rollout and its release gate are
awaited.

The engine creates a resource once everything it depends on (explicitly or through its inputs;
waiting on a component means waiting on all it contains) has finished, and finishes it after its
typical create time (`DURATIONS`, with sources) including the provider's await. The report is the
critical path, the total against the slowest single resource, and every awaited resource whose
wait could pass its await timeout.

A wait is counted from the resource's creation until what it really needs is ready: what it
declares, plus what happens inside the cluster that the graph may not show (`needs`): a pod
starts only once every Secret it reads exists, an ExternalSecret syncs only once its store is
ready, a CSI SecretProviderClass mounts only once the vault secrets it lists exist. If the program
declares a workload before those, its wait includes theirs, and the report says so. A pod whose
readiness checks the database (it reads `webapp-database`) starts without it and is Ready at the
first readiness probe after the database is (`readiness_needs`).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any, Optional

from components.config.quantities import seconds
from components.data.database_roles import POLL_SECONDS

from .offline import Registered, StackRun
from .render import run_or_report

# Typical create times in seconds, with the await the provider adds. Sources: the providers' and
# controllers' documentation and issue trackers, and what these resources take on EKS/AKS:
# - RDS PostgreSQL Multi-AZ: 15-20 minutes (AWS RDS docs, "Creating a DB instance"; Terraform's
#   aws_db_instance create timeout is 40 min); single-AZ about 10.
# - Azure Database for PostgreSQL Flexible Server: 5-10 minutes, zone-redundant HA 15-20 (Azure
#   docs, "Quickstart: create an instance").
# - Key Vault about a minute; RBAC role assignments up to a few minutes to propagate (Azure RBAC
#   docs, "Troubleshoot").
# - Helm releases: until their Deployments are ready and hooks ran (cert-manager's startupapicheck,
#   Envoy Gateway's certgen, kube-prometheus-stack's admission patch jobs): 1-5 minutes.
# - A chart applied object by object (helm.v4.Chart: Envoy Gateway's CRDs): the API server
#   accepts each CRD and reports it Established within seconds; about 15 s for its 20 CRDs.
# - A Deployment: image pull plus startup and readiness probes, about a minute; a StatefulSet
#   pod also waits for its volume to be provisioned and attached.
DURATIONS: dict[str, int] = {
    "aws:rds/instance:Instance": 1080,
    "azure-native:dbforpostgresql:Server": 600,
    "azure-native:keyvault:Vault": 60,
    "azure-native:authorization:RoleAssignment": 30,
    "azure-native:managedidentity:UserAssignedIdentity": 10,
    "azure-native:managedidentity:FederatedIdentityCredential": 5,
    "azure-native:dbforpostgresql:Database": 15,
    "azure-native:dbforpostgresql:Configuration": 15,
    "aws:kms/key:Key": 10,
    "aws:iam/role:Role": 5,
    "aws:rds/parameterGroup:ParameterGroup": 5,
    "kubernetes:apps/v1:Deployment": 60,
    # A Rollout's first deploy has no stable version: it goes to full size at once, without steps
    # or analysis, as a Deployment does (its releases are `workloads.rollout.release_seconds`).
    "kubernetes:argoproj.io/v1alpha1:Rollout": 60,
    "kubernetes:apps/v1:StatefulSet": 120,
    "kubernetes:external-secrets.io/v1:ExternalSecret": 10,
    "kubernetes:external-secrets.io/v1:ClusterSecretStore": 10,
    "kubernetes:cert-manager.io/v1:Certificate": 10,
    "kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass": 1,
    # A Job: its pod scheduled, a small image pulled and a short command run (the roles Job's
    # psql, a release gate's check).
    "kubernetes:batch/v1:Job": 15,
    "kubernetes:helm.sh/v4:Chart": 15,
}
RELEASES: dict[str, int] = {
    "cert-manager": 120,
    "envoy-gateway": 120,
    "external-secrets": 90,
    "kube-prometheus-stack": 300,
    "reloader": 30,
    "argo-rollouts": 60,
    "keda": 90,
    "base": 30,
    "cni": 60,
    "istiod": 90,
}
DEFAULT_DURATION = 2
"""Everything else (a ConfigMap, a Service, an IAM policy): a couple of seconds."""

JOB = "kubernetes:batch/v1:Job"
DEFAULT_AWAIT = 600
"""The Kubernetes provider's await for Deployments, StatefulSets and awaited custom resources."""
HELM_TIMEOUT = 300
"""A helm.v3.Release's default `timeout`."""

ACME_CERTIFICATE = 120
"""An ACME issuance once DNS points at the Gateway (HTTP-01) or the zone answers (DNS-01)."""


def duration(record: Registered) -> int:
    if record.type == "kubernetes:helm.sh/v3:Release":
        return RELEASES.get(record.inputs.get("chart", "").rsplit("/", 1)[-1], 120)
    if record.type == "kubernetes:cert-manager.io/v1:Certificate":
        issuer = record.inputs["spec"]["issuerRef"]
        # Self-signed, or a namespaced CA Issuer (the NATS route CA): signed in seconds.
        local = issuer["name"].endswith("-selfsigned") or issuer.get("kind") == "Issuer"
        return 5 if local else ACME_CERTIFICATE
    return DURATIONS.get(record.type, DEFAULT_DURATION)


def await_timeout(record: Registered) -> Optional[int]:
    """How long the provider waits for the resource before failing the update (None: it does not
    wait, or its wait is the resource's own API call)."""
    if "create" in record.timeouts:
        return seconds(record.timeouts["create"])
    if record.type == "kubernetes:helm.sh/v3:Release":
        return int(record.inputs.get("timeout") or HELM_TIMEOUT)
    if record.type in (
        "kubernetes:apps/v1:Deployment",
        "kubernetes:apps/v1:StatefulSet",
        # Awaited to completion: pulumi-kubernetes provider/pkg/await/job.go,
        # DefaultJobTimeoutMins = 10.
        JOB,
    ):
        return DEFAULT_AWAIT
    annotations = (record.inputs.get("metadata") or {}).get("annotations") or {}
    if record.is_kubernetes_object and "pulumi.com/waitFor" in annotations:
        return DEFAULT_AWAIT
    return None


@dataclass(frozen=True)
class Step:
    urn: str
    start: int
    finish: int
    wait: int
    """From its creation until it is ready: its own time, plus what it waited for inside the
    cluster."""
    timeout: Optional[int]
    own: int
    """Its own typical create time (`duration`)."""


@dataclass(frozen=True)
class Timeline:
    steps: dict[str, Step]
    path: list[str]
    """The critical path, first resource to last."""

    @property
    def total(self) -> int:
        return max(step.finish for step in self.steps.values())

    @property
    def slowest(self) -> Step:
        """The resource whose own create time is the longest."""
        return max(self.steps.values(), key=lambda step: (step.own, step.urn))

    def overruns(self) -> list[Step]:
        """Awaited resources whose wait could pass their await timeout."""
        return [
            step
            for step in self.steps.values()
            if step.timeout is not None and step.wait > step.timeout
        ]


def _custom_dependencies(run: StackRun) -> dict[str, set[str]]:
    """Each custom resource's dependencies, components expanded to the custom resources in them."""
    by_urn = run.by_urn()
    children: dict[str, list[str]] = {}
    for record in run.resources:
        children.setdefault(record.parent, []).append(record.urn)

    def expand(urn: str) -> set[str]:
        if urn not in by_urn:
            return set()
        if by_urn[urn].custom:
            return {urn}
        found: set[str] = set()
        for child in children.get(urn, []):
            found |= expand(child)
        return found

    return {
        record.urn: set().union(*(expand(dep) for dep in record.depends_on)) - {record.urn}
        for record in run.resources
        if record.custom
    }


ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
WORKLOADS = (
    "kubernetes:apps/v1:Deployment",
    ROLLOUT,
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:batch/v1:CronJob",
    JOB,
)
STARTED_WORKLOADS = (
    "kubernetes:apps/v1:Deployment",
    ROLLOUT,
    "kubernetes:apps/v1:StatefulSet",
    JOB,
)
"""What creates its pods at once: they pull their images while a Secret they read is still
missing (the kubelet pulls before it builds the container's environment)."""
KUBELET_RETRY = 10
"""A pod whose Secret is missing fails its sync (CreateContainerConfigError) and the kubelet
retries it 10 seconds later (kubernetes pkg/kubelet/kubelet.go, `backOffPeriod`, "the period to
back off when pod syncing results in an error"); the image was pulled before (pkg/kubelet/
kuberuntime/kuberuntime_container.go, `startContainer`: "Step 1: pull the image", then the
container's config, which reads the Secret)."""

ROLES_STEP = POLL_SECONDS + 2 + DEFAULT_DURATION + KUBELET_RETRY
"""What must follow the database before api and auth can start, whatever the order: the roles
Job's poll and script (`data.database_roles`), the clients' Secret written after it, and the
kubelet's retry of the pods that waited for that Secret."""


def pod_template(inputs: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of a Deployment, StatefulSet, Job or CronJob manifest."""
    spec = inputs["spec"]
    if inputs["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def secret_producers(run: StackRun) -> dict[tuple[str, str], set[str]]:
    """(namespace, Secret name) -> the resources that produce it: the Secret itself, the
    ExternalSecret whose target it is, the SecretProviderClass that syncs it, or the cert-manager
    Certificate that issues it (`spec.secretName`)."""
    found: dict[tuple[str, str], set[str]] = {}
    for record in run.resources:
        if not record.is_kubernetes_object:
            continue
        obj, kind = record.inputs, record.inputs.get("kind")
        namespace = obj["metadata"].get("namespace", "")
        names: list[str] = []
        if kind == "Secret":
            names = [obj["metadata"]["name"]]
        elif kind == "ExternalSecret":
            names = [obj["spec"]["target"]["name"]]
        elif kind == "SecretProviderClass":
            names = [synced["secretName"] for synced in obj["spec"]["secretObjects"]]
        elif kind == "Certificate":
            names = [obj["spec"]["secretName"]]
        for name in names:
            found.setdefault((namespace, name), set()).add(record.urn)
    return found


DATABASE_SECRET = "webapp-database"
DATABASE_APP_SECRET = "webapp-database-app"
"""The applications' login role (`data.database_roles`); their readiness checks the database."""
DATABASE_TYPES = (
    "aws:rds/instance:Instance",
    "azure-native:dbforpostgresql:Server",
    "azure-native:dbforpostgresql:Database",
    "azure-native:dbforpostgresql:Configuration",
)
"""A managed database and what it needs before the application can use it."""
IN_CLUSTER_DATABASE = "postgres"
"""The in-cluster database's StatefulSet."""
DEFAULT_READINESS_PERIOD = 10
"""A readiness probe's `periodSeconds` when the manifest leaves it out (Kubernetes' default)."""


def database(run: StackRun, namespace: str) -> set[str]:
    """What the database of the application in `namespace` is made of: the managed database's
    resources, or the in-cluster StatefulSet."""
    found = set()
    for record in run.resources:
        if record.type in DATABASE_TYPES:
            found.add(record.urn)
        elif record.type == "kubernetes:apps/v1:StatefulSet":
            metadata = record.inputs["metadata"]
            if metadata["name"] == IN_CLUSTER_DATABASE and metadata["namespace"] == namespace:
                found.add(record.urn)
    return found


def readiness_needs(run: StackRun) -> dict[str, set[str]]:
    """Deployments whose pods read the database's Secret -> the database their readiness
    checks; the roles Job (it reads the admin's) -> the database it polls for."""
    found: dict[str, set[str]] = {}
    for record in run.resources:
        if record.type not in ("kubernetes:apps/v1:Deployment", ROLLOUT, JOB):
            continue
        if {DATABASE_SECRET, DATABASE_APP_SECRET} & set(secrets_read(pod_template(record.inputs))):
            found[record.urn] = database(run, record.inputs["metadata"]["namespace"])
    return found


def readiness_period(inputs: dict[str, Any]) -> int:
    """The longest readiness probe period of a workload's containers; a Job's poll."""
    if inputs["kind"] == "Job":
        # The roles Job polls `pg_isready` and then runs its script (`data.database_roles`).
        return POLL_SECONDS + 2
    return max(
        int((container.get("readinessProbe") or {}).get("periodSeconds", DEFAULT_READINESS_PERIOD))
        for container in pod_template(inputs)["containers"]
    )


def _vault_objects(spc: dict[str, Any]) -> set[str]:
    """The Key Vault object names a SecretProviderClass lists (its `objects` parameter)."""
    objects = spc["spec"]["parameters"].get("objects", "")
    return {
        line.split(":", 1)[1].strip()
        for line in objects.splitlines()
        if line.strip().startswith("objectName:")
    }


def needs(run: StackRun) -> dict[str, set[str]]:
    """What each resource really needs before it can be ready, inside the cluster: the producers
    of the Secrets a workload's pods read (`secret_producers`), an ExternalSecret's store, and
    the vault secrets a SecretProviderClass lists."""
    producers = secret_producers(run)
    vault_secrets = {
        record.inputs["secretName"]: record.urn
        for record in run.resources
        if record.type == "azure-native:keyvault:Secret"
    }
    stores = {
        record.inputs["metadata"]["name"]: record.urn
        for record in run.resources
        if record.is_kubernetes_object and record.inputs.get("kind") == "ClusterSecretStore"
    }
    found: dict[str, set[str]] = {}
    for record in run.resources:
        obj = record.inputs
        if record.type in WORKLOADS:
            namespace = obj["metadata"]["namespace"]
            found[record.urn] = set().union(
                *(
                    producers.get((namespace, secret), set())
                    for secret in secrets_read(pod_template(obj))
                )
            )
        elif record.is_kubernetes_object and obj.get("kind") == "ExternalSecret":
            store = stores.get(obj["spec"]["secretStoreRef"]["name"])
            found[record.urn] = {store} if store else set()
        elif record.is_kubernetes_object and obj.get("kind") == "SecretProviderClass":
            found[record.urn] = {
                vault_secrets[name] for name in _vault_objects(obj) if name in vault_secrets
            }
    return found


def secrets_read(pod: dict[str, Any]) -> set[str]:
    """The Secrets a pod reads: env `secretKeyRef`s, `envFrom` and Secret volumes."""
    found = set()
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        for env in container.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                found.add(ref["name"])
        for source in container.get("envFrom") or []:
            if "secretRef" in source:
                found.add(source["secretRef"]["name"])
    for volume in pod.get("volumes") or []:
        if "secret" in volume:
            found.add(volume["secret"]["secretName"])
    return found


def timeline(run: StackRun) -> Timeline:
    by_urn = run.by_urn()
    dependencies = _custom_dependencies(run)
    required = needs(run)
    checks = readiness_needs(run)
    steps: dict[str, Step] = {}
    cause: dict[str, Optional[str]] = {}

    def schedule(urn: str) -> Step:
        if urn in steps:
            return steps[urn]
        record = by_urn[urn]
        declared = [schedule(dep) for dep in sorted(dependencies.get(urn, ()))]
        inside = [schedule(need) for need in sorted(required.get(urn, ()))]
        start = max((step.finish for step in declared), default=0)
        # Ready only once what it really needs is ready, declared or not; ties broken by URN
        # (registration order varies between runs, the report must not).
        gate = max([*declared, *inside], key=lambda step: (step.finish, step.urn), default=None)
        own = duration(record)
        finish = max(start, gate.finish if gate else 0) + own
        if record.type in STARTED_WORKLOADS and gate is not None and gate.finish > start:
            # Its pods pulled their image meanwhile: once the missing Secret exists, the
            # kubelet's next retry starts them, Ready at their first probe.
            late = gate.finish + KUBELET_RETRY + readiness_period(record.inputs)
            finish = max(start + own, late)
        # ... and at the first readiness probe after the database its readiness checks.
        checked = [schedule(need) for need in sorted(checks.get(urn, ()))]
        answered = max(checked, key=lambda step: (step.finish, step.urn), default=None)
        if answered and answered.finish + readiness_period(record.inputs) > finish:
            finish, gate = answered.finish + readiness_period(record.inputs), answered
        cause[urn] = gate.urn if gate else None
        steps[urn] = Step(urn, start, finish, finish - start, await_timeout(record), own)
        return steps[urn]

    for urn in dependencies:
        schedule(urn)
    last = max(steps.values(), key=lambda step: (step.finish, step.urn)).urn
    path: list[str] = []
    current: Optional[str] = last
    while current is not None:
        path.append(current)
        current = cause[current]
    return Timeline(steps=steps, path=list(reversed(path)))


@dataclass(frozen=True)
class Release:
    """A later `pulumi up` that changes a Rollout's pod template: how long a healthy release
    takes, from the Rollout's own steps and analysis, against how long it is awaited."""

    urn: str
    strategy: str
    healthy: int
    """Seconds: every step's new pods, pause and analysis (canary), or the preview's pods, the
    pre-promotion analysis and the scale-down delay (blue-green)."""
    awaited: int
    """The shorter of the Rollout's update timeout and its release gate Job's."""
    detail: str


def _analysis_seconds(run: StackRun, namespace: str, analysis: dict[str, Any]) -> int:
    """The longest metric of the referenced AnalysisTemplates (they run side by side)."""
    longest = 0
    for template in analysis["templates"]:
        spec = run.find("AnalysisTemplate", template["templateName"], namespace)["spec"]
        for metric in spec["metrics"]:
            if "job" in metric["provider"]:
                # A Job measurement lasts at most its deadline.
                span = int(metric["provider"]["job"]["spec"]["activeDeadlineSeconds"])
            else:
                span = seconds(metric["interval"]) * (metric["count"] - 1)
            longest = max(longest, span)
    return longest


def _release(run: StackRun, record: Registered) -> Release:
    spec, namespace = record.inputs["spec"], record.inputs["metadata"]["namespace"]
    pods = DURATIONS["kubernetes:apps/v1:Deployment"]
    if "canary" in spec["strategy"]:
        steps = spec["strategy"]["canary"]["steps"]
        weights = sum(1 for step in steps if "setWeight" in step)
        pauses = sum(seconds(step["pause"]["duration"]) for step in steps if "pause" in step)
        analyses = sum(
            _analysis_seconds(run, namespace, step["analysis"])
            for step in steps
            if "analysis" in step
        )
        healthy, strategy = weights * pods + pauses + analyses, "canary"
        detail = (
            f"{weights} steps: new pods {weights * pods} s, pauses {pauses} s, "
            f"analysis {analyses} s"
        )
    else:
        blue_green = spec["strategy"]["blueGreen"]
        analysis = _analysis_seconds(run, namespace, blue_green["prePromotionAnalysis"])
        delay = int(blue_green.get("scaleDownDelaySeconds", 30))
        healthy, strategy = pods + analysis + delay, "blue-green"
        detail = f"preview pods {pods} s, analysis {analysis} s, scale-down delay {delay} s"
    gates = [
        r
        for r in run.resources
        if r.type == "kubernetes:batch/v1:Job" and record.urn in r.depends_on
    ]
    timeouts = [seconds(record.timeouts["update"])] + [seconds(g.timeouts["create"]) for g in gates]
    return Release(record.urn, strategy, healthy, min(timeouts), detail)


def releases(run: StackRun) -> list[Release]:
    """Every Rollout's release, by URN."""
    return [
        _release(run, record)
        for record in sorted(run.resources, key=lambda r: r.urn)
        if record.type == ROLLOUT
    ]


def _name(urn: str) -> str:
    kind = urn.split("::")[-2].rsplit("$", 1)[-1]
    return f"{kind.rsplit(':', 1)[-1]} {urn.rsplit('::', 1)[-1]}"


def report(run: StackRun) -> str:
    plan = timeline(run)
    slowest = plan.slowest
    lines = [
        f"stack {run.stack}: {len(plan.steps)} resources, first up about "
        f"{plan.total // 60} min {plan.total % 60} s; slowest single resource "
        f"{_name(slowest.urn)} ({slowest.own} s); ratio {plan.total / slowest.own:.2f}",
        "critical path:",
    ]
    for urn in plan.path:
        step = plan.steps[urn]
        lines.append(f"  {step.start:>5}s -> {step.finish:>5}s  {_name(urn)}")
    for release in releases(run):
        lines.append(
            f"release of {_name(release.urn)} ({release.strategy}, a new pod template on a later "
            f"up): healthy in about {release.healthy} s ({release.detail}), awaited up to "
            f"{release.awaited} s"
        )
    overruns = plan.overruns()
    lines.append(
        "awaits that could time out: "
        + (", ".join(f"{_name(s.urn)} ({s.wait} s > {s.timeout} s)" for s in overruns) or "none")
    )
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="the first `pulumi up` of a stack, in time")
    parser.add_argument("stack")
    args = parser.parse_args(argv)
    run = run_or_report(args.stack)
    if run is None:
        return 2
    print(report(run))
    late = [release for release in releases(run) if release.healthy >= release.awaited]
    return 1 if timeline(run).overruns() or late else 0


if __name__ == "__main__":
    sys.exit(main())
