"""The application's workloads: HttpService, the Deployment pattern every service shares
(`http_service`), its scaler and disruption budget (`scaling`), its progressive delivery
(`release` declares it: the Argo Rollout's strategy and timing in `rollout`, what a release is
judged by in `analysis`, how its traffic is split in `traffic`, and `release_gate`, the Job that
makes a failed release a failed `pulumi up`), the scheduled job (`scheduler`), and the
frontend's nginx.conf (`nginx`). Type tokens `webapp:workloads:*`.

Cloud-neutral: a workload reads Secrets by name and is wired by the `SecretStore` it is given.

May import: components.config, components.kube, components.secrets
"""
