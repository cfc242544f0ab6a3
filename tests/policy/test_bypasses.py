"""The sixteen ways past the pack an independent review found (issue 28), each as a crafted
resource the pack now reports; and the configs production and staging are held to.

Each case names the review's number. Where the case models an upstream object, the source is
cited at its tag.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tools.offline import load_stack_config
from tools.policy_check import CONFIG, policies

from .support import stack_violations, violations
from .test_analyzer import UNKNOWN, analyze, analyze_stack, servicer
from .test_rules import DEPLOYMENT, HPA, NETPOL, container, deployment, hpa, netpol

ARN = "arn:aws:iam::123456789012"
SECRET = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:webapp-db-AbCdEf"


def pod_of(obj: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(obj["spec"]["template"])


# --- 1. Production's and staging's config cannot weaken a mandatory policy.


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_every_mandatory_policy_stays_mandatory(stack: str) -> None:
    config = json.loads((CONFIG / f"{stack}.json").read_text())
    assert "all" not in config
    for policy in policies():
        if policy.enforcement_level and policy.enforcement_level.value == "mandatory":
            own = config.get(policy.name, {})
            level = own if isinstance(own, str) else own.get("enforcementLevel", "mandatory")
            assert level == "mandatory", (stack, policy.name, level)


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_exposure_allow_lists_are_empty(stack: str) -> None:
    config = json.loads((CONFIG / f"{stack}.json").read_text())
    services = config.get("services-no-load-balancer", {})
    assert services.get("allowedLoadBalancers", []) == []
    assert services.get("allowNodePort", False) is False
    assert config.get("stateful-resources-protected", {}).get("types", []) == []
    if stack == "production":
        assert config["stateful-resources-protected"]["required"] is True
        assert config["database-deletion-protection"]["required"] is True


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_secret_keys_are_the_stack_account(stack: str) -> None:
    arn = load_stack_config(stack)["webapp:aws"]["oidcProviderArn"]
    accounts = json.loads((CONFIG / f"{stack}.json").read_text())["secretsmanager-customer-key"]
    assert accounts == {"accounts": [arn.split(":")[4]]}


# --- 2. Unknowns: per resource, never hiding another resource's violation.


def test_2_unknown_replicas_do_not_hide_another_workloads_violation() -> None:
    unknown = deployment(replicas=UNKNOWN)
    unknown["metadata"]["name"] = "other"
    resources = [
        (DEPLOYMENT, "urn:a::d1", unknown, False),
        (DEPLOYMENT, "urn:a::d2", deployment(replicas=1), False),
    ]
    found = [
        (d.enforcementLevel, d.message)
        for d in analyze_stack(servicer("production"), resources)
        if d.policyName == "workloads-min-replicas"
    ]
    from pulumi.runtime import proto

    assert any(level == proto.MANDATORY and "web/api can run 1" in m for level, m in found), found


def test_2_unknown_namespace_does_not_abort_the_report() -> None:
    d = deployment()
    d["metadata"]["namespace"] = UNKNOWN
    d["spec"]["template"]["spec"]["hostNetwork"] = True
    found = [
        m.message
        for m in analyze(servicer("production"), DEPLOYMENT, d)
        if m.policyName == "pods-restricted-security"
    ]
    assert any("hostNetwork" in m for m in found), found


def test_2_an_unknown_security_setting_fails_closed() -> None:
    d = with_security(privileged=UNKNOWN)
    assert any("privileged" in v for v in violations("pods-restricted-security", DEPLOYMENT, d))
    rds = {"publiclyAccessible": UNKNOWN, "storageEncrypted": True}
    assert violations("database-private", "aws:rds/instance:Instance", rds)


def with_security(**settings: Any) -> dict[str, Any]:
    context = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, **settings}
    return deployment(containers=[container(securityContext=context)])


# --- 3. Every kind that runs a pod.

PRIVILEGED = with_security(privileged=True)


@pytest.mark.parametrize(
    "typ,obj",
    [
        (
            "kubernetes:core/v1:ReplicationController",
            {"kind": "ReplicationController", "spec": {"template": pod_of(PRIVILEGED)}},
        ),
        ("kubernetes:apps/v1:DeploymentPatch", {**PRIVILEGED, "kind": "Deployment"}),
        (
            # keda v2.x apis/keda/v1alpha1/scaledjob_types.go: jobTargetRef is a batch JobSpec
            "kubernetes:keda.sh/v1alpha1:ScaledJob",
            {"kind": "ScaledJob", "spec": {"jobTargetRef": {"template": pod_of(PRIVILEGED)}}},
        ),
        ("kubernetes:apps/v1beta2:Deployment", PRIVILEGED),
    ],
)
def test_3_pod_bearing_kinds_are_inspected(typ: str, obj: dict[str, Any]) -> None:
    found = violations("pods-restricted-security", typ, obj)
    assert any(v.endswith(": privileged") for v in found), found


def test_3_a_patch_is_held_to_what_it_sets_only() -> None:
    patch = {"kind": "Deployment", "spec": {"template": {"metadata": {"annotations": {"a": "b"}}}}}
    assert violations("pods-restricted-security", "kubernetes:apps/v1:DeploymentPatch", patch) == []


def test_3_helm_values_the_program_sets() -> None:
    release = {"name": "x", "values": {"controller": {"securityContext": {"privileged": True}}}}
    found = violations("pods-restricted-security", "kubernetes:helm.sh/v3:Release", release)
    assert found == ["Helm release x: values controller.securityContext.privileged: True"]


def test_3_namespace_psa_labels() -> None:
    ns = {"kind": "Namespace", "metadata": {"name": "addons", "labels": {}}}
    assert stack_violations("namespaces-pod-security", [("kubernetes:core/v1:Namespace", ns)])


# --- 4. Ways in past the Gateway.


@pytest.mark.parametrize(
    "typ,obj",
    [
        ("kubernetes:core/v1:ServicePatch", {"kind": "Service", "spec": {"type": "LoadBalancer"}}),
        ("kubernetes:core/v1:Service", {"kind": "Service", "spec": {"externalIPs": ["1.2.3.4"]}}),
        (
            "kubernetes:helm.sh/v3:Release",
            {"name": "x", "values": {"service": {"type": "LoadBalancer"}}},
        ),
    ],
)
def test_4_services(typ: str, obj: dict[str, Any]) -> None:
    assert violations("services-no-load-balancer", typ, obj)


def test_4_an_extra_gateway() -> None:
    gateway = {"kind": "Gateway", "metadata": {"name": "g", "namespace": "web"}}
    typ = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
    assert stack_violations("gateways-one-entry", [(typ, gateway), (typ, gateway)])


# --- 5. SELinux and AppArmor.


@pytest.mark.parametrize(
    "settings,expected",
    [
        ({"seLinuxOptions": {"type": "spc_t"}}, "spc_t"),
        ({"appArmorProfile": {"type": "Unconfined"}}, "Unconfined"),
    ],
)
def test_5_selinux_and_apparmor(settings: dict[str, Any], expected: str) -> None:
    found = violations("pods-restricted-security", DEPLOYMENT, with_security(**settings))
    assert any(expected in v for v in found), found


def test_5_apparmor_annotation() -> None:
    d = deployment()
    key = "container.apparmor.security.beta.kubernetes.io/api"
    d["spec"]["template"]["metadata"]["annotations"] = {key: "unconfined"}
    assert violations("pods-restricted-security", DEPLOYMENT, d)


# --- 6. Moving tags.


@pytest.mark.parametrize("image", ["nginx:stable", "nginx:1", "nginx:1-alpine", "nginx:mainline"])
def test_6_mutable_tags(image: str) -> None:
    d = deployment(containers=[container(image=image)])
    assert violations("images-pinned", DEPLOYMENT, d)


@pytest.mark.parametrize(
    "image", ["postgres:16.10-alpine", "quay.io/x/y:v1.9.0", "nginx:1.29-alpine"]
)
def test_6_release_tags_pass(image: str) -> None:
    assert (
        violations("images-pinned", DEPLOYMENT, deployment(containers=[container(image=image)]))
        == []
    )


# --- 7. Allow-all NetworkPolicies.


@pytest.mark.parametrize(
    "rules",
    [
        {"ingress": [{}], "egress": [{}]},
        {
            "ingress": [{"from": [{"namespaceSelector": {}}]}],
            "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}],
        },
    ],
)
def test_7_allow_all_is_no_cover(rules: dict[str, Any]) -> None:
    policy = netpol({}, ["Ingress", "Egress"])
    policy["spec"].update(rules)
    found = stack_violations(
        "networkpolicy-covers-workloads", [(DEPLOYMENT, deployment()), (NETPOL, policy)]
    )
    assert len(found) == 1 and "Ingress and Egress" in found[0], found


# --- 8. Minimum replicas.


def test_8_keda_idle_replica_count() -> None:
    scaled = {
        "kind": "ScaledObject",
        "metadata": {"name": "api", "namespace": "web"},
        "spec": {"scaleTargetRef": {"name": "api"}, "minReplicaCount": 3, "idleReplicaCount": 0},
    }
    found = stack_violations(
        "workloads-min-replicas",
        [(DEPLOYMENT, deployment()), ("kubernetes:keda.sh/v1alpha1:ScaledObject", scaled)],
        {"minReplicas": 3},
    )
    assert len(found) == 1 and "idleReplicaCount" in found[0], found


def test_8_replicaset_and_bare_exemption() -> None:
    rs = {**deployment(replicas=1), "kind": "ReplicaSet"}
    found = stack_violations(
        "workloads-min-replicas", [("kubernetes:apps/v1:ReplicaSet", rs)], {"minReplicas": 3}
    )
    assert len(found) == 1
    # An exemption names namespace/name: `api` in another namespace is not exempted.
    found = stack_violations(
        "workloads-min-replicas",
        [(DEPLOYMENT, deployment(replicas=1)), (HPA, hpa(3))],
        {"minReplicas": 3, "exempt": {"other/api": "why"}},
    )
    assert found == []  # the HPA floor is 3
    found = stack_violations(
        "workloads-min-replicas",
        [(DEPLOYMENT, deployment(replicas=1))],
        {"minReplicas": 3, "exempt": {"other/api": "why"}},
    )
    assert len(found) == 1


def test_8_bare_names_are_refused_by_the_schema() -> None:
    import jsonschema

    (policy,) = [p for p in policies() if p.name == "workloads-min-replicas"]
    assert policy.config_schema is not None
    schema = {"type": "object", "properties": dict(policy.config_schema.properties)}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"exempt": {"redis": "why"}}, schema)


# --- 9 to 15: the clouds.


def test_9_aurora_instance_public() -> None:
    typ = "aws:rds/clusterInstance:ClusterInstance"
    assert violations("database-private", typ, {"publiclyAccessible": True})


def grant(statement: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **statement}]})


@pytest.mark.parametrize(
    "typ,props",
    [
        (
            "aws:iam/role:Role",
            {"managedPolicyArns": ["arn:aws:iam::aws:policy/SecretsManagerReadWrite"]},
        ),
        (
            "aws:iam/userPolicyAttachment:UserPolicyAttachment",
            {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        ),
        (
            "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
            {"policyArn": "arn:aws:iam::aws:policy/administratoraccess"},
        ),
        (
            "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
            {"policyArns": ["arn:aws:iam::aws:policy/PowerUserAccess"]},
        ),
        (
            "aws:iam/policy:Policy",
            {"policy": grant({"Action": "secretsmanager:GetSecretValu?", "Resource": SECRET})},
        ),
        ("aws:iam/policy:Policy", {"policy": grant({"Action": "kms:De*", "Resource": "*"})}),
        (
            "aws:iam/policy:Policy",
            {"policy": grant({"Action": "SecretsManager:GetSecretValue", "Resource": "*"})},
        ),
        (
            "aws:secretsmanager/secretPolicy:SecretPolicy",
            {
                "policy": grant(
                    {"Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}
                )
            },
        ),
        (
            "aws:kms/key:Key",
            {
                "policy": grant(
                    {"Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*"}
                )
            },
        ),
    ],
)
def test_10_aws_secret_grants(typ: str, props: dict[str, Any]) -> None:
    assert violations("no-wildcard-secret-grants", typ, props)


def test_10_one_named_secret_passes() -> None:
    props = {"policy": grant({"Action": "secretsmanager:GetSecretValue", "Resource": SECRET})}
    assert violations("no-wildcard-secret-grants", "aws:iam/policy:Policy", props) == []


def test_10_an_unknown_document_is_a_note_after_the_violations() -> None:
    found = analyze(servicer("production"), "aws:iam/policy:Policy", {"policy": UNKNOWN})
    from pulumi.runtime import proto

    assert [d.enforcementLevel for d in found] == [proto.ADVISORY]


def test_11_azure_rbac_administrator_and_custom_role() -> None:
    assignment = {
        "roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/f58310d9-a9f6-439a-9e8d-f62e7b41a168",
        "scope": "/subscriptions/s",
    }
    typ = "azure-native:authorization:RoleAssignment"
    assert violations("no-wildcard-secret-grants", typ, assignment)
    role = {
        "assignableScopes": ["/subscriptions/s/resourceGroups/g"],
        "permissions": [{"dataActions": ["Microsoft.KeyVault/vaults/secrets/*"]}],
    }
    assert violations(
        "no-wildcard-secret-grants", "azure-native:authorization:RoleDefinition", role
    )


def trust(statement: dict[str, Any]) -> str:
    issuer = "oidc.eks.eu-central-1.amazonaws.com/id/X"
    base = {
        "Effect": "Allow",
        "Principal": {"Federated": f"{ARN}:oidc-provider/{issuer}"},
        "Condition": {
            "StringEquals": {
                f"{issuer}:aud": "sts.amazonaws.com",
                f"{issuer}:sub": "system:serviceaccount:web:api",
            }
        },
    }
    return json.dumps({"Statement": [{**base, **statement}]})


@pytest.mark.parametrize(
    "statement",
    [
        {"Action": "sts:AssumeRoleWith*"},
        {"Action": "sts:assumerolewithwebidentity"},
        {
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    "oidc.eks.eu-central-1.amazonaws.com/id/X:aud": "sts.amazonaws.com",
                    "oidc.eks.eu-central-1.amazonaws.com/id/X:sub": [
                        "system:serviceaccount:web:api",
                        "system:serviceaccount:web:other",
                    ],
                }
            },
        },
    ],
)
def test_12_federated_trust(statement: dict[str, Any]) -> None:
    role = {"assumeRolePolicy": trust(statement)}
    assert violations("federated-credentials", "aws:iam/role:Role", role)


def test_12_an_exact_trust_passes() -> None:
    role = {"assumeRolePolicy": trust({"Action": "sts:AssumeRoleWithWebIdentity"})}
    assert violations("federated-credentials", "aws:iam/role:Role", role) == []


def test_13_azure_tokens_with_an_api_version() -> None:
    vault = {"properties": {"enableRbacAuthorization": False}}
    assert violations(
        "keyvault-rbac-purge-protection", "azure-native:keyvault/v20230701:Vault", vault
    )
    server = {"network": {"publicNetworkAccess": "Enabled"}}
    typ = "azure-native:dbforpostgresql/v20240801:Server"
    assert violations("database-private", typ, server)


def test_14_a_key_of_another_account() -> None:
    secret = {"kmsKeyId": "arn:aws:kms:eu-central-1:999999999999:key/abc"}
    config = {"accounts": ["123456789012"]}
    typ = "aws:secretsmanager/secret:Secret"
    assert violations("secretsmanager-customer-key", typ, secret, config)
    own = {"kmsKeyId": "arn:aws:kms:eu-central-1:123456789012:key/abc"}
    assert violations("secretsmanager-customer-key", typ, own, config) == []


def test_15_persistent_volume_with_delete() -> None:
    typ = "kubernetes:core/v1:PersistentVolume"
    deleting = {"spec": {"persistentVolumeReclaimPolicy": "Delete"}}
    assert violations("stateful-resources-protected", typ, deleting)
    retained = {"spec": {"persistentVolumeReclaimPolicy": "Retain"}}
    assert violations("stateful-resources-protected", typ, retained) == []


def test_2_an_unknown_pdb_or_workload_is_a_note_not_a_lost_violation() -> None:
    """One workload with an unknown name and one PDB with an unknown spec are left out (one
    advisory note); the other PDB's violation (maxUnavailable 0) is still mandatory."""
    from pulumi.runtime import proto

    unknown = deployment()
    unknown["metadata"]["name"] = UNKNOWN
    pdb_type = "kubernetes:policy/v1:PodDisruptionBudget"
    blocking = {
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "a", "namespace": "web"},
        "spec": {"maxUnavailable": 0},
    }
    hidden = {
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "b", "namespace": "web"},
        "spec": UNKNOWN,
    }
    resources = [
        (DEPLOYMENT, "urn:a::d", unknown, False),
        (pdb_type, "urn:a::p1", hidden, False),
        (pdb_type, "urn:a::p2", blocking, False),
    ]
    found = [
        (d.enforcementLevel, d.message)
        for d in analyze_stack(servicer("production"), resources)
        if d.policyName == "pdb-allows-disruption"
    ]
    levels = sorted(level for level, _ in found)
    assert levels == sorted([proto.MANDATORY, proto.ADVISORY]), found
    assert any("maxUnavailable 0" in m for level, m in found if level == proto.MANDATORY)
