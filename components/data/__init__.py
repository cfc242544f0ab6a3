"""The in-cluster data services: PostgreSQL with its backup job and script (`postgres`,
`files/pg-backup.sh`), Redis (`redis`), NATS (`nats`), and the optional RabbitMQ and
Elasticsearch run by their operators (`brokers`). Type tokens `webapp:data:*`.

Cloud-neutral; the managed databases live in the cloud packages.

May import: components.config, components.kube, components.secrets
"""
