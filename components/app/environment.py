"""Each service's environment, from the service catalogue's templates and the stack's settings
(pure).

Plain values go into the service's ConfigMap; secret values are references to the catalogued
Secrets, never values.
"""

from __future__ import annotations

from components.config.catalogue import RUNTIME_ENV, STANDIN_IMAGE, AppService
from components.config.settings import Settings
from components.secrets import catalogue as cat

ASPNETCORE_ENVIRONMENTS = {"dev": "Development", "staging": "Staging", "production": "Production"}


def template_fields(service: AppService, settings: Settings) -> dict[str, str]:
    """The values a catalogue env template may use (`config.catalogue.ENV_FIELDS`)."""
    return {
        "origin": f"https://{settings.domain}",
        "port": str(service.port),
        "metrics_port": str(service.metrics_port),
        "log_level": settings.log_level,
        "log_level_lower": settings.log_level.lower(),
        "smtp_host": settings.smtp_host,
        "aspnetcore_environment": ASPNETCORE_ENVIRONMENTS[settings.environment],
        "node_env": "development" if settings.environment == "dev" else "production",
    }


def service_env(
    service: AppService, settings: Settings
) -> tuple[dict[str, str], dict[str, cat.SecretRef]]:
    """Plain and secret environment of a service (seed 000 names; secrets by reference only)."""
    fields = template_fields(service, settings)
    templates = {**RUNTIME_ENV[service.runtime], **service.env}
    plain = {variable: template.format(**fields) for variable, template in templates.items()}
    if settings.services[service.name].image == STANDIN_IMAGE:
        plain["WHOAMI_PORT_NUMBER"] = str(service.port)
    secret = {
        variable: cat.ref(ref.secret, ref.key) for variable, ref in service.all_secret_env.items()
    }
    # The optional services' clients read their URL (ECK's CA is the Secret
    # `elasticsearch-es-http-certs-public`).
    for broker, variable, spec in (
        (settings.rabbitmq, "RABBITMQ_URL", cat.RABBITMQ),
        (settings.elasticsearch, "ELASTICSEARCH_URL", cat.ELASTICSEARCH),
    ):
        if broker.enabled and service.name in broker.clients:
            secret[variable] = cat.SecretRef(secret=spec, key="url")
    return plain, secret
