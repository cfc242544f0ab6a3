"""Azure workload identity's Kubernetes side: the label and annotations its webhook reads (pure).

A pod labelled `azure.workload.identity/use: "true"` whose ServiceAccount carries the identity's
client and tenant ids gets a projected token with the `api://AzureADTokenExchange` audience,
which a federated credential of that identity accepts.
"""

USE_LABEL = "azure.workload.identity/use"
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
TENANT_ID_ANNOTATION = "azure.workload.identity/tenant-id"
AUDIENCE = "api://AzureADTokenExchange"
