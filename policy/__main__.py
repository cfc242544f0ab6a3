"""Pack entry (`pulumi preview --policy-pack policy`); the rules are in webapp_policy/."""

from pulumi_policy import EnforcementLevel, PolicyPack
from webapp_policy import POLICIES

PolicyPack(name="webapp", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
