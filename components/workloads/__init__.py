"""The application's workloads: HttpService, the Deployment pattern every service shares
(`http_service`), the scheduled job (`scheduler`), and the frontend's nginx.conf (`nginx`). Type
tokens `webapp:workloads:*`.

Cloud-neutral: a workload reads Secrets by name and is wired by the `SecretStore` it is given.

May import: components.config, components.kube, components.secrets
"""
