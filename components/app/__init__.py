"""The composition: `WebApp` (`application`) builds the platform, the store, the data services
and every catalogued service; `create_store` (`stores`) picks the secret store of the stack's
cloud; `service_env` (`environment`) fills each service's environment from the catalogue.

The only package that composes across the others. Nothing in components imports it.

May import: components.config, components.kube, components.secrets, components.platform,
components.workloads, components.data, components.aws, components.azure
"""
