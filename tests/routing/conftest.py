"""Fixtures for the pure routing tests: no database, no app."""

from __future__ import annotations

import pytest

from routing import default_rules_path
from routing.engine import compile_rule_set
from routing.registry import load_default_registry
from routing.rules import load_rule_set


@pytest.fixture(scope="session")
def registry():
    return load_default_registry()


@pytest.fixture(scope="session")
def default_rules():
    return load_rule_set(default_rules_path())


@pytest.fixture(scope="session")
def engine(default_rules, registry):
    return compile_rule_set(default_rules, registry)
