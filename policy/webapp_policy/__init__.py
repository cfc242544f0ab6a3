"""The webapp policy pack: what every stack of the platform promises, checked by CrossGuard on
each `pulumi preview` and `pulumi up` (`--policy-pack policy --policy-pack-config
policy/config/<stack>.json`).

Mandatory policies block the update; advisory ones are reported. Each policy's thresholds come
from the stack's config file, with secure defaults when a key is absent.
"""

from __future__ import annotations

from pulumi_policy import Policy

from . import cloud, kubernetes, protection

POLICIES: list[Policy] = [*kubernetes.POLICIES, *cloud.POLICIES, *protection.POLICIES]

__all__ = ["POLICIES"]
