"""Each policy of the pack, without the engine: a resource that keeps the rule passes, and each
way of breaking it is reported. One class per policy (`NAME`), with `test_passes_*` and
`test_flags_*` cases; test_pack.py holds every policy to having both."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from .support import stack_violations, violations

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SERVICE = "kubernetes:core/v1:Service"
RDS = "aws:rds/instance:Instance"
FLEXIBLE = "azure-native:dbforpostgresql:Server"
LABELS = {"app.kubernetes.io/name": "api"}


def container(**changes: Any) -> dict[str, Any]:
    c: dict[str, Any] = {
        "name": "api",
        "image": "registry.example.com/webapp/api:1.0.0",
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"memory": "256Mi"},
        },
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
        "livenessProbe": {"httpGet": {"path": "/live", "port": 8080}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
        },
    }
    c.update(changes)
    return c


def deployment(replicas: Any = None, containers: Any = None, **spec: Any) -> dict[str, Any]:
    pod = {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": containers or [container()],
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
    }
    pod.update(spec)
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "web"},
        "spec": {
            "selector": {"matchLabels": LABELS},
            "template": {"metadata": {"labels": LABELS}, "spec": pod},
        },
    }
    if replicas is not None:
        obj["spec"]["replicas"] = replicas
    return obj


def with_container(**changes: Any) -> dict[str, Any]:
    return deployment(containers=[container(**changes)])


def hpa(minimum: Any, kind: str = "Deployment", name: str = "api") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": name},
        "maxReplicas": 10,
    }
    if minimum is not None:
        spec["minReplicas"] = minimum
    return {
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "web"},
        "spec": spec,
    }


def pdb(**spec: Any) -> dict[str, Any]:
    return {
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "api", "namespace": "web"},
        "spec": {"selector": {"matchLabels": LABELS}, **spec},
    }


def netpol(selector: Any, types: list[str], namespace: str = "web") -> dict[str, Any]:
    return {
        "kind": "NetworkPolicy",
        "metadata": {"name": "p", "namespace": namespace},
        "spec": {"podSelector": selector, "policyTypes": types},
    }


class TestPodSecurity:
    NAME = "pods-restricted-security"

    def test_passes_restricted_pod(self) -> None:
        assert violations(self.NAME, DEPLOYMENT, deployment()) == []

    def test_passes_container_level_settings_and_net_bind(self) -> None:
        d = deployment(
            containers=[
                container(
                    securityContext={
                        "allowPrivilegeEscalation": False,
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"},
                        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                    }
                )
            ]
        )
        d["spec"]["template"]["spec"]["securityContext"] = {}
        assert violations(self.NAME, DEPLOYMENT, d) == []

    @pytest.mark.parametrize(
        "change,expected",
        [
            (
                {
                    "securityContext": {
                        "privileged": True,
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    }
                },
                "privileged",
            ),
            ({"securityContext": {"capabilities": {"drop": ["ALL"]}}}, "allowPrivilegeEscalation"),
            ({"securityContext": {"allowPrivilegeEscalation": False}}, "capabilities.drop"),
            (
                {
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]},
                    }
                },
                "SYS_ADMIN",
            ),
            (
                {
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "runAsUser": 0,
                    }
                },
                "runAsUser is 0",
            ),
            (
                {
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "runAsNonRoot": False,
                    }
                },
                "runAsNonRoot",
            ),
            (
                {
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "seccompProfile": {"type": "Unconfined"},
                    }
                },
                "Unconfined",
            ),
            ({"ports": [{"containerPort": 80, "hostPort": 80}]}, "hostPort 80"),
        ],
    )
    def test_flags_container_setting(self, change: dict[str, Any], expected: str) -> None:
        found = violations(self.NAME, DEPLOYMENT, with_container(**change))
        assert any(expected in v for v in found), found

    @pytest.mark.parametrize(
        "change,expected",
        [
            ({"hostNetwork": True}, "hostNetwork"),
            ({"hostPID": True}, "hostPID"),
            ({"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}, "hostPath"),
            (
                {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                        "sysctls": [{"name": "kernel.msgmax", "value": "1"}],
                    }
                },
                "kernel.msgmax",
            ),
            ({"securityContext": {"runAsNonRoot": True}}, "seccompProfile is unset"),
        ],
    )
    def test_flags_pod_setting(self, change: dict[str, Any], expected: str) -> None:
        found = violations(self.NAME, DEPLOYMENT, deployment(**change))
        assert any(expected in v for v in found), found

    def test_flags_init_container_of_cronjob(self) -> None:
        pod = copy.deepcopy(deployment()["spec"]["template"])
        pod["spec"]["initContainers"] = [container(name="init", securityContext={})]
        cron = {
            "kind": "CronJob",
            "metadata": {"name": "c"},
            "spec": {"jobTemplate": {"spec": {"template": pod}}},
        }
        found = violations(self.NAME, "kubernetes:batch/v1:CronJob", cron)
        assert any("initContainers[init]" in v for v in found), found

    def test_passes_objects_without_pods(self) -> None:
        assert (
            violations(self.NAME, SERVICE, {"kind": "Service", "spec": {"hostNetwork": True}}) == []
        )


class TestRequestsLimits:
    NAME = "containers-requests-limits"

    def test_passes_requests_and_memory_limit(self) -> None:
        assert violations(self.NAME, DEPLOYMENT, deployment()) == []

    def test_flags_missing_memory_limit(self) -> None:
        found = violations(
            self.NAME,
            DEPLOYMENT,
            with_container(resources={"requests": {"cpu": "1", "memory": "1Gi"}}),
        )
        assert found and "limits.memory" in found[0]

    def test_flags_missing_requests(self) -> None:
        found = violations(self.NAME, DEPLOYMENT, with_container(resources={}))
        assert found and "requests.cpu, requests.memory, limits.memory" in found[0]

    def test_flags_cpu_limit_when_the_stack_requires_it(self) -> None:
        assert violations(self.NAME, DEPLOYMENT, deployment()) == []
        found = violations(self.NAME, DEPLOYMENT, deployment(), {"requireCpuLimit": True})
        assert found and "limits.cpu" in found[0]


class TestProbes:
    NAME = "containers-probes"

    def test_passes_both_probes(self) -> None:
        assert violations(self.NAME, DEPLOYMENT, deployment()) == []

    def test_passes_jobs_without_probes(self) -> None:
        job = {
            "kind": "Job",
            "spec": {
                "template": {
                    "spec": {"containers": [container(readinessProbe=None, livenessProbe=None)]}
                }
            },
        }
        assert violations(self.NAME, "kubernetes:batch/v1:Job", job) == []

    def test_flags_missing_liveness(self) -> None:
        found = violations(self.NAME, STATEFULSET, with_container(livenessProbe=None))
        assert found == ["Deployment web/api: containers[api] has no livenessProbe"]


class TestImagesPinned:
    NAME = "images-pinned"

    @pytest.mark.parametrize(
        "image",
        [
            "nginx:1.27.3",
            "registry:5000/team/app:2.0",
            "app@sha256:" + "a" * 64,
            "app:1.0@sha256:" + "b" * 64,
        ],
    )
    def test_passes_pinned(self, image: str) -> None:
        assert violations(self.NAME, DEPLOYMENT, with_container(image=image)) == []

    @pytest.mark.parametrize(
        "image", ["nginx", "nginx:latest", "registry:5000/team/app", "app@sha256:abc", ""]
    )
    def test_flags_unpinned(self, image: str) -> None:
        assert len(violations(self.NAME, DEPLOYMENT, with_container(image=image))) == 1


class TestAllowedRegistries:
    NAME = "images-allowed-registries"

    def test_passes_without_a_list_and_from_a_listed_registry(self) -> None:
        assert violations(self.NAME, DEPLOYMENT, deployment()) == []
        assert (
            violations(
                self.NAME, DEPLOYMENT, deployment(), {"registries": ["registry.example.com/webapp"]}
            )
            == []
        )

    def test_flags_other_registry(self) -> None:
        found = violations(
            self.NAME,
            DEPLOYMENT,
            with_container(image="docker.io/evil/app:1"),
            {"registries": ["registry.example.com"]},
        )
        assert len(found) == 1 and "docker.io/evil/app:1" in found[0]


class TestReadOnlyRoot:
    NAME = "containers-read-only-root"

    def test_passes_read_only(self) -> None:
        assert violations(self.NAME, DEPLOYMENT, deployment()) == []

    def test_flags_writable_root(self) -> None:
        found = violations(
            self.NAME,
            DEPLOYMENT,
            with_container(securityContext={"allowPrivilegeEscalation": False}),
        )
        assert found == ["Deployment web/api: containers[api]: root filesystem is writable"]


class TestServices:
    NAME = "services-no-load-balancer"

    def service(self, kind: str) -> dict[str, Any]:
        return {
            "kind": "Service",
            "metadata": {"name": "edge", "namespace": "web"},
            "spec": {"type": kind},
        }

    def test_passes_cluster_ip_and_listed_load_balancer(self) -> None:
        assert violations(self.NAME, SERVICE, self.service("ClusterIP")) == []
        assert (
            violations(
                self.NAME,
                SERVICE,
                self.service("LoadBalancer"),
                {"allowedLoadBalancers": ["web/edge"]},
            )
            == []
        )

    def test_flags_load_balancer_and_node_port(self) -> None:
        assert len(violations(self.NAME, SERVICE, self.service("LoadBalancer"))) == 1
        assert (
            len(
                violations(
                    self.NAME,
                    SERVICE,
                    self.service("LoadBalancer"),
                    {"allowedLoadBalancers": ["other/edge"]},
                )
            )
            == 1
        )
        assert len(violations(self.NAME, SERVICE, self.service("NodePort"))) == 1


class TestSpread:
    NAME = "workloads-spread"

    def test_passes_spread_or_single(self) -> None:
        assert violations(self.NAME, DEPLOYMENT, deployment(replicas=3)) == []
        single = deployment(replicas=1, affinity=None)
        assert violations(self.NAME, DEPLOYMENT, single) == []

    def test_flags_unspread_replicas(self) -> None:
        assert len(violations(self.NAME, DEPLOYMENT, deployment(replicas=3, affinity=None))) == 1


class TestPdb:
    NAME = "pdb-allows-disruption"

    def test_passes_max_unavailable_and_min_below_floor(self) -> None:
        assert (
            stack_violations(self.NAME, [(DEPLOYMENT, deployment()), (PDB, pdb(maxUnavailable=1))])
            == []
        )
        assert (
            stack_violations(
                self.NAME, [(DEPLOYMENT, deployment()), (HPA, hpa(3)), (PDB, pdb(minAvailable=2))]
            )
            == []
        )
        assert (
            stack_violations(
                self.NAME, [(DEPLOYMENT, deployment(replicas=4)), (PDB, pdb(minAvailable="50%"))]
            )
            == []
        )

    def test_flags_max_unavailable_zero(self) -> None:
        assert (
            len(
                stack_violations(
                    self.NAME, [(DEPLOYMENT, deployment()), (PDB, pdb(maxUnavailable=0))]
                )
            )
            == 1
        )

    def test_flags_min_available_at_the_hpa_floor(self) -> None:
        found = stack_violations(
            self.NAME, [(DEPLOYMENT, deployment()), (HPA, hpa(3)), (PDB, pdb(minAvailable=3))]
        )
        assert len(found) == 1 and "HPA api minReplicas" in found[0]

    def test_flags_min_available_percent_of_a_singleton(self) -> None:
        found = stack_violations(
            self.NAME, [(DEPLOYMENT, deployment(replicas=1)), (PDB, pdb(minAvailable="50%"))]
        )
        assert len(found) == 1


class TestMinReplicas:
    NAME = "workloads-min-replicas"

    def test_passes_at_the_minimum(self) -> None:
        assert (
            stack_violations(
                self.NAME, [(DEPLOYMENT, deployment()), (HPA, hpa(3))], {"minReplicas": 3}
            )
            == []
        )
        assert (
            stack_violations(
                self.NAME,
                [(STATEFULSET, {**deployment(replicas=3), "kind": "StatefulSet"})],
                {"minReplicas": 3},
            )
            == []
        )

    def test_passes_exempted_singleton(self) -> None:
        assert (
            stack_violations(
                self.NAME,
                [(DEPLOYMENT, deployment(replicas=1))],
                {"minReplicas": 3, "exempt": {"web/api": "why"}},
            )
            == []
        )

    def test_flags_hpa_floor_below_minimum(self) -> None:
        found = stack_violations(
            self.NAME, [(DEPLOYMENT, deployment(replicas=5)), (HPA, hpa(2))], {"minReplicas": 3}
        )
        assert len(found) == 1 and "HPA api minReplicas" in found[0]

    def test_flags_unset_replicas_and_keda_zero(self) -> None:
        assert (
            len(stack_violations(self.NAME, [(DEPLOYMENT, deployment())], {"minReplicas": 2})) == 1
        )
        scaled = {
            "kind": "ScaledObject",
            "metadata": {"name": "api", "namespace": "web"},
            "spec": {"scaleTargetRef": {"name": "api"}},
        }
        found = stack_violations(
            self.NAME,
            [
                (DEPLOYMENT, deployment(replicas=3)),
                ("kubernetes:keda.sh/v1alpha1:ScaledObject", scaled),
            ],
            {"minReplicas": 2},
        )
        assert len(found) == 1 and "minReplicaCount" in found[0]


class TestNetworkPolicies:
    NAME = "networkpolicy-covers-workloads"

    def test_passes_default_deny_and_specific_policies(self) -> None:
        assert (
            stack_violations(
                self.NAME, [(DEPLOYMENT, deployment()), (NETPOL, netpol({}, ["Ingress", "Egress"]))]
            )
            == []
        )
        specific = (
            netpol({"matchLabels": LABELS}, ["Ingress"]),
            netpol(
                {
                    "matchExpressions": [
                        {"key": "app.kubernetes.io/name", "operator": "In", "values": ["api"]}
                    ]
                },
                ["Egress"],
            ),
        )
        assert (
            stack_violations(
                self.NAME,
                [(DEPLOYMENT, deployment()), (NETPOL, specific[0]), (NETPOL, specific[1])],
            )
            == []
        )

    def test_flags_uncovered_workload(self) -> None:
        assert stack_violations(self.NAME, [(DEPLOYMENT, deployment())]) == [
            "Deployment web/api: no NetworkPolicy selects its pods for Ingress and Egress: they accept or reach anything"
        ]

    def test_flags_missing_direction_other_namespace_and_other_selector(self) -> None:
        found = stack_violations(
            self.NAME, [(DEPLOYMENT, deployment()), (NETPOL, netpol({}, ["Ingress"]))]
        )
        assert len(found) == 1 and found[0].endswith("for Egress: they accept or reach anything")
        assert (
            len(
                stack_violations(
                    self.NAME,
                    [
                        (DEPLOYMENT, deployment()),
                        (NETPOL, netpol({}, ["Ingress", "Egress"], "other")),
                    ],
                )
            )
            == 1
        )
        other = netpol({"matchLabels": {"app.kubernetes.io/name": "web"}}, ["Ingress", "Egress"])
        assert len(stack_violations(self.NAME, [(DEPLOYMENT, deployment()), (NETPOL, other)])) == 1


RDS_GOOD = {
    "storageEncrypted": True,
    "publiclyAccessible": False,
    "backupRetentionPeriod": 14,
    "deletionProtection": True,
    "skipFinalSnapshot": False,
    "finalSnapshotIdentifier": "final",
}
FLEX_GOOD = {"network": {"publicNetworkAccess": "Disabled"}, "backup": {"backupRetentionDays": 14}}


class TestDatabaseEncrypted:
    NAME = "database-encrypted"

    def test_passes_encrypted(self) -> None:
        assert violations(self.NAME, RDS, RDS_GOOD) == []

    def test_flags_unencrypted(self) -> None:
        assert len(violations(self.NAME, RDS, {**RDS_GOOD, "storageEncrypted": False})) == 1
        assert (
            len(
                violations(
                    self.NAME, RDS, {k: v for k, v in RDS_GOOD.items() if k != "storageEncrypted"}
                )
            )
            == 1
        )


class TestDatabasePrivate:
    NAME = "database-private"

    def test_passes_private(self) -> None:
        assert (
            violations(self.NAME, RDS, RDS_GOOD) == []
            and violations(self.NAME, FLEXIBLE, FLEX_GOOD) == []
        )

    def test_flags_public(self) -> None:
        assert len(violations(self.NAME, RDS, {**RDS_GOOD, "publiclyAccessible": True})) == 1
        assert (
            len(violations(self.NAME, FLEXIBLE, {"network": {"publicNetworkAccess": "Enabled"}}))
            == 1
        )
        assert len(violations(self.NAME, FLEXIBLE, {})) == 1


class TestDatabaseBackups:
    NAME = "database-backups"

    def test_passes_at_the_minimum(self) -> None:
        assert violations(self.NAME, RDS, RDS_GOOD, {"minRetentionDays": 14}) == []
        assert violations(self.NAME, FLEXIBLE, FLEX_GOOD, {"minRetentionDays": 14}) == []

    def test_flags_short_retention(self) -> None:
        assert (
            len(
                violations(
                    self.NAME,
                    RDS,
                    {**RDS_GOOD, "backupRetentionPeriod": 3},
                    {"minRetentionDays": 14},
                )
            )
            == 1
        )
        assert (
            len(
                violations(
                    self.NAME,
                    FLEXIBLE,
                    {"backup": {"backupRetentionDays": 7}},
                    {"minRetentionDays": 14},
                )
            )
            == 1
        )
        assert len(violations(self.NAME, RDS, {"storageEncrypted": True})) == 1


class TestDatabaseDeletion:
    NAME = "database-deletion-protection"

    def test_passes_protected_or_not_required(self) -> None:
        assert violations(self.NAME, RDS, RDS_GOOD) == []
        assert (
            violations(
                self.NAME,
                RDS,
                {"deletionProtection": False, "skipFinalSnapshot": True},
                {"required": False},
            )
            == []
        )

    def test_flags_unprotected_and_no_final_snapshot(self) -> None:
        assert len(violations(self.NAME, RDS, {**RDS_GOOD, "deletionProtection": False})) == 1
        assert len(violations(self.NAME, RDS, {**RDS_GOOD, "skipFinalSnapshot": True})) == 1
        assert len(violations(self.NAME, RDS, {**RDS_GOOD, "finalSnapshotIdentifier": None})) == 1


SECRET = "aws:secretsmanager/secret:Secret"


class TestSecretsCustomerKey:
    NAME = "secretsmanager-customer-key"

    def test_passes_customer_key(self) -> None:
        assert (
            violations(
                self.NAME, SECRET, {"kmsKeyId": "arn:aws:kms:eu-central-1:123456789012:key/1234"}
            )
            == []
        )

    def test_flags_default_and_aws_managed_key(self) -> None:
        assert len(violations(self.NAME, SECRET, {"name": "s"})) == 1
        assert len(violations(self.NAME, SECRET, {"kmsKeyId": "alias/aws/secretsmanager"})) == 1
        assert (
            len(
                violations(
                    self.NAME,
                    SECRET,
                    {"kmsKeyId": "arn:aws:kms:eu-central-1:123456789012:alias/aws/secretsmanager"},
                )
            )
            == 1
        )


VAULT = "azure-native:keyvault:Vault"


class TestKeyVault:
    NAME = "keyvault-rbac-purge-protection"
    GOOD = {
        "properties": {
            "enableRbacAuthorization": True,
            "enablePurgeProtection": True,
            "enableSoftDelete": True,
        }
    }

    def test_passes_rbac_and_purge_protection(self) -> None:
        assert violations(self.NAME, VAULT, self.GOOD) == []
        relaxed = {"properties": {"enableRbacAuthorization": True}}
        assert violations(self.NAME, VAULT, relaxed, {"requirePurgeProtection": False}) == []

    def test_flags_access_policies_no_purge_protection_no_soft_delete(self) -> None:
        assert (
            len(
                violations(
                    self.NAME,
                    VAULT,
                    {"properties": {**self.GOOD["properties"], "enableRbacAuthorization": False}},
                )
            )
            == 1
        )
        assert (
            len(violations(self.NAME, VAULT, {"properties": {"enableRbacAuthorization": True}}))
            == 1
        )
        assert (
            len(
                violations(
                    self.NAME,
                    VAULT,
                    {"properties": {**self.GOOD["properties"], "enableSoftDelete": False}},
                )
            )
            == 1
        )


SECRET_ARN = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:webapp/production/api-abc123"
KEY_ARN = "arn:aws:kms:eu-central-1:123456789012:key/1234"
VAULT_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-webapp"
SECRETS_USER = "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/4633458b-17de-408a-b874-0445c86b69e6"
READER = "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"


def statement(action: Any, resource: Any) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}],
    }


class TestSecretGrants:
    NAME = "no-wildcard-secret-grants"
    ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"

    def test_passes_named_secrets_and_vault_scope(self) -> None:
        doc = statement(
            ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], [SECRET_ARN]
        )
        assert violations(self.NAME, self.ROLE_POLICY, {"policy": json.dumps(doc)}) == []
        assert (
            violations(self.NAME, self.ROLE_POLICY, {"policy": statement("s3:GetObject", "*")})
            == []
        )
        assign = "azure-native:authorization:RoleAssignment"
        assert (
            violations(self.NAME, assign, {"roleDefinitionId": SECRETS_USER, "scope": VAULT_ID})
            == []
        )
        assert (
            violations(
                self.NAME,
                assign,
                {"roleDefinitionId": SECRETS_USER, "scope": VAULT_ID + "/secrets/webapp-jwt"},
            )
            == []
        )
        assert (
            violations(self.NAME, assign, {"roleDefinitionId": READER, "scope": "/subscriptions/s"})
            == []
        )

    @pytest.mark.parametrize(
        "doc",
        [
            statement("secretsmanager:GetSecretValue", "*"),
            statement("secretsmanager:*", [SECRET_ARN]),
            statement("*", "*"),
            statement(
                ["secretsmanager:GetSecretValue"],
                "arn:aws:secretsmanager:eu-central-1:123456789012:secret:webapp/*",
            ),
            statement("kms:Decrypt", "*"),
            {"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]},
        ],
    )
    def test_flags_wildcards(self, doc: dict[str, Any]) -> None:
        assert violations(self.NAME, self.ROLE_POLICY, {"policy": json.dumps(doc)})
        assert violations(
            self.NAME,
            "aws:iam/role:Role",
            {"inlinePolicies": [{"name": "x", "policy": json.dumps(doc)}]},
        )

    def test_flags_broad_managed_policy_and_wide_azure_scope(self) -> None:
        attach = {"policyArn": "arn:aws:iam::aws:policy/SecretsManagerReadWrite", "role": "r"}
        assert (
            len(violations(self.NAME, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", attach))
            == 1
        )
        assign = "azure-native:authorization:RoleAssignment"
        assert (
            len(
                violations(
                    self.NAME,
                    assign,
                    {
                        "roleDefinitionId": SECRETS_USER,
                        "scope": "/subscriptions/s/resourceGroups/rg",
                    },
                )
            )
            == 1
        )
        assert (
            len(
                violations(
                    self.NAME,
                    assign,
                    {"roleDefinitionId": SECRETS_USER, "scope": "/subscriptions/s"},
                )
            )
            == 1
        )


ISSUER = "oidc.eks.eu-central-1.amazonaws.com/id/ABC"
PROVIDER = f"arn:aws:iam::123456789012:oidc-provider/{ISSUER}"
AKS_ISSUER = "https://westeurope.oic.prod-aks.azure.com/t/c/"


def trust(condition: dict[str, Any], principal: str = PROVIDER) -> dict[str, Any]:
    return {
        "assumeRolePolicy": json.dumps(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Principal": {"Federated": principal},
                        "Condition": condition,
                    }
                ]
            }
        )
    }


GOOD_CONDITION = {
    "StringEquals": {
        f"{ISSUER}:aud": "sts.amazonaws.com",
        f"{ISSUER}:sub": "system:serviceaccount:web:external-secrets",
    }
}


def fic(**changes: Any) -> dict[str, Any]:
    return {
        "issuer": AKS_ISSUER,
        "audiences": ["api://AzureADTokenExchange"],
        "subject": "system:serviceaccount:web:api",
        **changes,
    }


class TestFederatedCredentials:
    NAME = "federated-credentials"
    ROLE = "aws:iam/role:Role"
    FIC = "azure-native:managedidentity:FederatedIdentityCredential"

    def test_passes_exact_trust(self) -> None:
        assert (
            violations(
                self.NAME, self.ROLE, trust(GOOD_CONDITION), {"issuers": [f"https://{ISSUER}"]}
            )
            == []
        )
        assert violations(self.NAME, self.FIC, fic(), {"issuers": [AKS_ISSUER.rstrip("/")]}) == []
        service = {
            "assumeRolePolicy": json.dumps(
                {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "sts:AssumeRole",
                            "Principal": {"Service": "rds.amazonaws.com"},
                        }
                    ]
                }
            )
        }
        assert violations(self.NAME, self.ROLE, service) == []

    @pytest.mark.parametrize(
        "condition,expected",
        [
            (
                {
                    "StringLike": {f"{ISSUER}:sub": "system:serviceaccount:web:*"},
                    "StringEquals": {f"{ISSUER}:aud": "sts.amazonaws.com"},
                },
                "StringLike",
            ),
            ({"StringEquals": {f"{ISSUER}:aud": "sts.amazonaws.com"}}, "any ServiceAccount"),
            (
                {
                    "StringEquals": {
                        f"{ISSUER}:aud": "other",
                        f"{ISSUER}:sub": "system:serviceaccount:web:a",
                    }
                },
                ":aud",
            ),
            (
                {
                    "StringEquals": {
                        f"{ISSUER}:aud": "sts.amazonaws.com",
                        f"{ISSUER}:sub": "system:serviceaccount:web:*",
                    }
                },
                "not a Kubernetes name",
            ),
            (
                {
                    "StringEquals": {
                        f"{ISSUER}:aud": "sts.amazonaws.com",
                        f"{ISSUER}:sub": "web:api",
                    }
                },
                "is not system:serviceaccount",
            ),
            (
                {
                    **GOOD_CONDITION,
                    "StringEquals": {
                        **GOOD_CONDITION["StringEquals"],
                        "other.example.com:sub": "x",
                    },
                },
                "not of the trusted issuer",
            ),
        ],
    )
    def test_flags_loose_irsa_trust(self, condition: dict[str, Any], expected: str) -> None:
        found = violations(self.NAME, self.ROLE, trust(condition))
        assert any(expected in v for v in found), found

    def test_flags_other_issuer_and_principal(self) -> None:
        found = violations(
            self.NAME,
            self.ROLE,
            trust(GOOD_CONDITION),
            {"issuers": ["https://oidc.eks.eu-central-1.amazonaws.com/id/OTHER"]},
        )
        assert len(found) == 1 and "not this stack's cluster" in found[0]
        assert len(violations(self.NAME, self.ROLE, trust(GOOD_CONDITION, principal="*"))) == 1

    @pytest.mark.parametrize(
        "change,config",
        [
            ({"issuer": "http://insecure.example.com/"}, {}),
            ({"issuer": "https://other.example.com/"}, {"issuers": [AKS_ISSUER]}),
            ({"audiences": ["api://other"]}, {}),
            ({"audiences": ["api://AzureADTokenExchange", "api://other"]}, {}),
            ({"subject": "system:serviceaccount:web:*"}, {}),
            ({"subject": "repo:org/app:ref:refs/heads/main"}, {}),
        ],
    )
    def test_flags_loose_azure_credential(
        self, change: dict[str, Any], config: dict[str, Any]
    ) -> None:
        assert len(violations(self.NAME, self.FIC, fic(**change), config)) == 1


class TestStatefulProtected:
    NAME = "stateful-resources-protected"

    def test_passes_protected_or_not_required(self) -> None:
        assert violations(self.NAME, RDS, RDS_GOOD, protect=True) == []
        assert violations(self.NAME, RDS, RDS_GOOD, {"required": False}) == []
        assert violations(self.NAME, DEPLOYMENT, deployment()) == []
        assert violations(self.NAME, STATEFULSET, {"spec": {"replicas": 1}}) == []

    def test_flags_unprotected_data(self) -> None:
        for typ in (
            RDS,
            VAULT,
            FLEXIBLE,
            "kubernetes:core/v1:PersistentVolumeClaim",
            "kubernetes:core/v1:Namespace",
        ):
            assert len(violations(self.NAME, typ, {})) == 1, typ
        sts = {"spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"}}]}}
        assert len(violations(self.NAME, STATEFULSET, sts)) == 1
        assert violations(self.NAME, STATEFULSET, sts, protect=True) == []


GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"


def gateway(name: str) -> dict[str, Any]:
    return {"kind": "Gateway", "metadata": {"name": name, "namespace": "web"}, "spec": {}}


class TestGateways:
    NAME = "gateways-one-entry"

    def test_passes_one_gateway(self) -> None:
        assert stack_violations(self.NAME, [(GATEWAY, gateway("webapp"))]) == []

    def test_flags_a_second_gateway(self) -> None:
        found = stack_violations(self.NAME, [(GATEWAY, gateway("webapp")), (GATEWAY, gateway("x"))])
        assert len(found) == 2 and "2 Gateways" in found[0]


def namespace(labels: dict[str, str], name: str = "web") -> dict[str, Any]:
    return {"kind": "Namespace", "metadata": {"name": name, "labels": labels}}


class TestNamespacePodSecurity:
    NAME = "namespaces-pod-security"
    ENFORCE = "pod-security.kubernetes.io/enforce"
    NS = "kubernetes:core/v1:Namespace"
    PATCH = "kubernetes:core/v1:NamespacePatch"

    def test_passes_restricted_and_exempted_privileged(self) -> None:
        assert (
            stack_violations(self.NAME, [(self.NS, namespace({self.ENFORCE: "restricted"}))]) == []
        )
        privileged = namespace({self.ENFORCE: "privileged"}, "monitoring")
        exempt = {"privileged": {"monitoring": "x"}}
        assert stack_violations(self.NAME, [(self.NS, privileged)], exempt) == []

    def test_passes_a_patch_that_labels_an_unlabelled_namespace(self) -> None:
        labelled = namespace({self.ENFORCE: "restricted"})
        resources = [(self.PATCH, labelled), (self.NS, namespace({}))]
        assert stack_violations(self.NAME, resources) == []

    @pytest.mark.parametrize("labels", [{}, {ENFORCE: "privileged"}])
    def test_flags_unlabelled_or_privileged(self, labels: dict[str, str]) -> None:
        found = stack_violations(self.NAME, [(self.NS, namespace(labels))])
        assert len(found) == 1 and "Namespace web" in found[0], found

    def test_flags_a_namespace_helm_creates_unlabelled(self) -> None:
        release = {"name": "x", "namespace": "addons", "createNamespace": True}
        helm = "kubernetes:helm.sh/v3:Release"
        found = stack_violations(self.NAME, [(helm, release)])
        assert len(found) == 1 and "Namespace addons" in found[0]
        labelled = namespace({self.ENFORCE: "baseline"}, "addons")
        assert stack_violations(self.NAME, [(helm, release), (self.PATCH, labelled)]) == []

    def test_flags_a_patch_lowering_the_level(self) -> None:
        resources = [
            (self.NS, namespace({self.ENFORCE: "restricted"})),
            (self.PATCH, namespace({self.ENFORCE: "privileged"})),
        ]
        assert stack_violations(self.NAME, resources)
        assert stack_violations(self.NAME, [(self.PATCH, namespace({}))])
