"""webapp-infra components, one package per layer (each package's docstring says what it owns and
what it may import; `tests/test_imports.py` keeps it so):

    config, kube            pure configuration; generic Kubernetes helpers
    secrets                 the secret-store interface and catalogue
    platform, workloads,    the cloud-neutral components
    data
    aws, azure              one package per cloud, never importing each other
    app                     the composition of all of them
"""
