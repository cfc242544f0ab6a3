"""webapp-infra components: one module per concern (see each module's docstring)."""
