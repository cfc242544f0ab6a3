"""The in-cluster platform: the namespace baseline (`namespace`), the cluster add-ons and the
Prometheus stack (`addons`), edge routing through the Gateway API or an Ingress (`edge`, with its
spec builders in `gateway_api`), the service mesh's policies (`mesh`), and alerts and dashboards
(`monitoring`). Type tokens
`webapp:platform:*`.

Cloud-neutral: it never imports a cloud package or SDK.

May import: components.config, components.kube, components.secrets
"""
