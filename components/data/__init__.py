"""The in-cluster data services: PostgreSQL with its backup job and script (`postgres`,
`files/pg-backup.sh`), Redis (`redis`) and NATS (`nats`). Type tokens `webapp:data:*`.

Cloud-neutral; the managed databases live in the cloud packages.

May import: components.config, components.kube, components.secrets
"""
