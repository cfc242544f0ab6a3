"""Shared Kubernetes building blocks: labels, metadata, secure pod and container contexts,
NetworkPolicy peers, ServiceAccounts, claim templates and child options (`objects`).

Generic: it knows nothing of the application, the secret stores or any cloud.

May import: (no other package of components)
"""
