"""RabbitMQ and Elasticsearch (seed 004), each off by default, run by its upstream operator.

Why these sources: the RabbitMQ Cluster Operator (rabbitmq/cluster-operator) and Elastic's ECK are
maintained by the projects that make the software, and run the official images. Bitnami's charts,
the usual alternative, now ship only a small hardened set under a commercial subscription (since
August 2025) and moved the rest to `bitnamilegacy`, where images get no updates: a production
dependency on them would mean unpatched brokers.

Creates (parented to each component):
- InClusterRabbitmq: RabbitmqCluster `rabbitmq` (rabbitmq.com/v1beta1): `replicas` nodes with a
  volume each, requests and limits, the pinned image, the default user from the store's
  `webapp-rabbitmq` (`secretBackend.externalSecret`, never a generated Secret of the operator's);
  the operator's pods are already restricted (non-root, read-only root, no capabilities,
  RuntimeDefault seccomp; internal/resource/statefulset.go at v2.22.3). NetworkPolicy: the
  clients on 5672, the nodes to each other on 4369 and 25672.
- InClusterElasticsearch: Elasticsearch `elasticsearch` (elasticsearch.k8s.elastic.co/v1): one
  node set of `replicas` nodes with volumes, `node.store.allow_mmap: false` (no privileged
  `vm.max_map_count` init container under restricted Pod Security), ECK's restricted security
  context (ES 8 and later), HTTPS with ECK's CA, the application user from the store's
  `webapp-elasticsearch` (ECK's file realm); volumes kept when the cluster is deleted
  (`volumeClaimDeletePolicy: DeleteOnScaledownOnly`). NetworkPolicy: the clients and the ECK
  operator on 9200, the nodes to each other on 9300.

Both are created after the Secret they read and their operator. Both are `retain_on_delete`:
the operators delete a cluster's volumes with it (the RabbitMQ operator owns its claims), so
turning one off, or `pulumi destroy`, leaves the cluster and its data for an operator to remove
by hand; `protect` in production refuses even that. Switched on again, each is created through
the adopting provider (`BrokerArgs.adopt`), which takes over the retained object instead of
failing with AlreadyExists (`components.kube.lifecycle`). Both stay out of the mesh: their operators
reach them from outside it (ECK over 9200), so they carry `sidecar.istio.io/inject: "false"`;
callers in the mesh reach them in plain TCP (ES with its own TLS).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.config.settings import BrokerSettings
from components.kube import objects as kx
from components.kube.lifecycle import retained
from components.secrets import catalogue as cat

RABBITMQ = "rabbitmq"
"""The RabbitmqCluster, its client Service, and its pods' `app.kubernetes.io/name`."""
AMQP_PORT, EPMD_PORT, DISTRIBUTION_PORT = 5672, 4369, 25672
ELASTICSEARCH = "elasticsearch"
ELASTICSEARCH_HTTP = f"{ELASTICSEARCH}-es-http"
"""The HTTPS Service ECK creates for the cluster."""
HTTP_PORT, TRANSPORT_PORT = 9200, 9300
OUT_OF_MESH = {"sidecar.istio.io/inject": "false"}


@dataclass(frozen=True, kw_only=True)
class BrokerArgs:
    namespace: str
    """The application namespace."""
    instance: str
    """The stack name (labels, selectors)."""
    settings: BrokerSettings
    """Nodes, version, volume, resources and clients from config."""
    wait_for: Sequence[pulumi.Resource] = ()
    """The Secret it reads (what the store needs to deliver it)."""
    crd_dependencies: Sequence[pulumi.Resource] = ()
    """The operator, when this program installs it."""
    operator_namespace: str = ""
    """Elasticsearch only: the ECK operator's namespace, admitted on 9200 (it calls the API)."""
    protect: bool = False
    """Pulumi `protect` (production)."""
    adopt: Optional[pulumi.ProviderResource] = None
    """The Kubernetes provider that adopts an existing object (`upsertExistingObjects`): the
    cluster object is retained, so switching the broker off and on again finds it there.
    None (component tests): the inherited provider."""


def _pod_labels(app: str, instance: str) -> dict[str, str]:
    return {**kx.selector(app, instance), **OUT_OF_MESH}


def _options(
    component: pulumi.Resource, opts: Optional[pulumi.ResourceOptions], args: BrokerArgs
) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(
        retained(
            kx.child_options(component, opts, [*args.crd_dependencies, *args.wait_for]), args.adopt
        ),
        pulumi.ResourceOptions(protect=args.protect),
    )


def rabbitmq_spec(args: BrokerArgs) -> dict[str, Any]:
    settings = args.settings
    persistence: dict[str, Any] = {"storage": settings.storage_size}
    if settings.storage_class:
        persistence["storageClassName"] = settings.storage_class
    assert settings.resources is not None
    return {
        "replicas": settings.replicas,
        "image": settings.version,
        "persistence": persistence,
        "resources": settings.resources.as_dict(),
        "secretBackend": {"externalSecret": {"name": cat.RABBITMQ.name}},
        "override": {
            "statefulSet": {
                "spec": {"template": {"metadata": {"labels": _pod_labels(RABBITMQ, args.instance)}}}
            }
        },
    }


def elasticsearch_spec(args: BrokerArgs) -> dict[str, Any]:
    settings = args.settings
    claim: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": settings.storage_size}},
    }
    if settings.storage_class:
        claim["storageClassName"] = settings.storage_class
    assert settings.resources is not None
    return {
        "version": settings.version,
        "auth": {"fileRealm": [{"secretName": cat.ELASTICSEARCH.name}]},
        "volumeClaimDeletePolicy": "DeleteOnScaledownOnly",
        "nodeSets": [
            {
                "name": "default",
                "count": settings.replicas,
                "config": {"node.store.allow_mmap": False},
                "podTemplate": {
                    "metadata": {"labels": _pod_labels(ELASTICSEARCH, args.instance)},
                    "spec": {
                        "containers": [
                            {"name": "elasticsearch", "resources": settings.resources.as_dict()}
                        ]
                    },
                },
                "volumeClaimTemplates": [
                    {"metadata": {"name": "elasticsearch-data"}, "spec": claim}
                ],
            }
        ],
    }


def _declare(
    component: pulumi.ComponentResource,
    name: str,
    args: BrokerArgs,
    opts: Optional[pulumi.ResourceOptions],
    kind: tuple[str, str, str],
    labels: dict[str, str],
    spec: dict[str, Any],
    ingress: tuple[kx.Peer, ...],
    egress: tuple[kx.Peer, ...],
) -> None:
    """The operator's custom resource `app` (`kind`: app, apiVersion, kind) and its
    NetworkPolicy."""
    app, api_version, kind_name = kind
    k8s.apiextensions.CustomResource(
        f"{name}-cluster",
        api_version=api_version,
        kind=kind_name,
        metadata=kx.metadata(app, args.namespace, labels),
        spec=spec,
        opts=_options(component, opts, args),
    )
    k8s.networking.v1.NetworkPolicy(
        f"{name}-netpol",
        metadata=kx.metadata(app, args.namespace, kx.without_version(labels)),
        spec=kx.network_policy_spec(app, args.instance, ingress, egress),
        opts=kx.child_options(component, opts),
    )


class InClusterRabbitmq(pulumi.ComponentResource):
    """See the module docstring."""

    def __init__(self, name: str, args: BrokerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("webapp:data:InClusterRabbitmq", name, None, opts)
        tag = args.settings.version.split(":")[-1]
        clients = [kx.Peer(app=client, ports=(AMQP_PORT,)) for client in args.settings.clients]
        peers = kx.Peer(app=RABBITMQ, ports=(EPMD_PORT, DISTRIBUTION_PORT))
        self.ingress: dict[str, tuple[kx.Peer, ...]] = {RABBITMQ: (*clients, peers)}
        """What the NetworkPolicy admits."""
        _declare(
            self,
            name,
            args,
            opts,
            (RABBITMQ, "rabbitmq.com/v1beta1", "RabbitmqCluster"),
            kx.labels(RABBITMQ, args.instance, "messaging", tag),
            rabbitmq_spec(args),
            self.ingress[RABBITMQ],
            (peers,),
        )
        self.register_outputs({})


class InClusterElasticsearch(pulumi.ComponentResource):
    """See the module docstring."""

    def __init__(self, name: str, args: BrokerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("webapp:data:InClusterElasticsearch", name, None, opts)
        clients = [kx.Peer(app=client, ports=(HTTP_PORT,)) for client in args.settings.clients]
        nodes = kx.Peer(app=ELASTICSEARCH, ports=(TRANSPORT_PORT,))
        operator = kx.Peer(namespace=args.operator_namespace, ports=(HTTP_PORT,))
        self.ingress: dict[str, tuple[kx.Peer, ...]] = {ELASTICSEARCH: (*clients, nodes, operator)}
        """What the NetworkPolicy admits."""
        _declare(
            self,
            name,
            args,
            opts,
            (ELASTICSEARCH, "elasticsearch.k8s.elastic.co/v1", "Elasticsearch"),
            kx.labels(ELASTICSEARCH, args.instance, "search", args.settings.version),
            elasticsearch_spec(args),
            self.ingress[ELASTICSEARCH],
            (nodes,),
        )
        self.register_outputs({})
