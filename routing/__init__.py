"""Indgang's routing engine: pure Python, no web or database imports.

The package takes facts about a request and snapshots of the authority registry and
the rule set valid on the filing date, and returns a ``RoutingDecision`` with a
plain-language explanation. It imports nothing from ``portal``, Flask or SQLAlchemy.
"""

from pathlib import Path


def default_rules_path() -> Path:
    """The rule set shipped with Indgang: ``routing/rules/default.yaml``."""
    return Path(__file__).parent / "rules" / "default.yaml"
