"""The secret stores' common ground: the Secret-name catalogue (`catalogue`), the `SecretStore`
interface both clouds implement (`store`), the composed secret values built once (`values`),
External Secrets helpers (`external`), and the store for `cloud: none`, generated Kubernetes
Secrets (`generated`).

The cloud packages build on this one; the store factory that picks a cloud lives in `app`.

May import: components.config, components.kube
"""
