"""webapp-infra: the microservice web application on Kubernetes, one stack per environment.

Reads and validates the stack's settings (nothing is declared when they are wrong), builds the
application and exports what an operator needs. See README.md.
"""

import os

import pulumi

from components.app.application import WebApp, WebAppArgs
from components.config.parsing import parse_settings
from components.config.settings import SettingsError
from components.config.source import read_secret_keys, read_stack_config

# The offline tools (tools/offline.py) run the shipped stack files, placeholders and all; a real
# preview or up of production refuses them.
OFFLINE = os.environ.get("WEBAPP_OFFLINE") == "1"

try:
    settings = parse_settings(
        read_stack_config(),
        pulumi.get_stack(),
        secret_keys=read_secret_keys(),
        refuse_placeholders=not OFFLINE,
    )
except SettingsError as error:
    # RunError prints the message alone, without a Python traceback.
    raise pulumi.RunError(str(error)) from None

app = WebApp("webapp", WebAppArgs(settings=settings))

pulumi.export("url", app.url)
pulumi.export("namespace", app.namespace)
pulumi.export("environment", settings.environment)
pulumi.export("cloud", settings.cloud)
pulumi.export("secretNames", app.secret_names)
for key, value in app.store_outputs.items():  # e.g. keyVaultName on Azure: names, never values
    pulumi.export(key, value)
