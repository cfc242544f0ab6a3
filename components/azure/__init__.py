"""Azure: the stack's provider (`provider`), Key Vault and its secrets (`key_vault`), the
user-assigned identity and its federated credentials (`identity`), workload identity's Kubernetes
side (`workload_identity`), delivery by the Secrets Store CSI driver or External Secrets
(`delivery`), Flexible Server (`postgres`), managed Prometheus scraping (`monitor`), and
`AzureStore`, the `SecretStore` implementation (`store`). Type tokens `webapp:azure:*`.

Never imports the AWS package or SDK.

May import: components.config, components.kube, components.secrets
"""
