"""AWS: the stack's provider (`provider`), its KMS key (`kms`), IAM policy documents built by the
provider (`iam`), IRSA roles (`irsa`), Secrets Manager delivered by External Secrets (`secrets`),
RDS PostgreSQL (`rds`), and `AwsStore`, the `SecretStore` implementation that composes them
(`store`). Type tokens `webapp:aws:*`.

Never imports the Azure package or SDK.

May import: components.config, components.kube, components.secrets
"""
