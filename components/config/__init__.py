"""Configuration: everything a stack file can say, parsed once into frozen, validated dataclasses.

Owns the settings dataclasses and per-environment profiles (`settings`), the per-cloud settings
(`aws`, `azure`), where the external credentials come from (`credentials`), the
problem-collecting reader and its rules (`reader`, `quantities`), the parser (`parsing`; the
service sections in `services`, the checks across sections in `capacity`), the service catalogue
every service's contract comes from (`catalogue`), and the one module that reads the Pulumi
runtime config (`source`). Pure but for `source`: no resource is declared here,
so bad config is reported before anything exists.

May import: (no other package of components)
"""
