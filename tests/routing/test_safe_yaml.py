"""User-written YAML is read by one safe loader: no anchors or aliases (an alias bomb is
refused before it is expanded), a size and depth cap, impossible dates refused; the
messages never echo a value from the document."""

from __future__ import annotations

import pytest
import yaml

from routing import safe_yaml
from routing.decisions import parse_decision_rules
from routing.rules import RuleSetError, parse_rule_set

HEADER = 'version: "t1"\nvalid_from: 2026-01-01\n'


def _bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{','.join([prev] * 9)}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_it_is_expanded():
    text = HEADER + "conditions:\n" + "".join("  " + line + "\n" for line in _bomb().splitlines())
    assert len(text) < 1000
    with pytest.raises(RuleSetError) as caught:
        parse_rule_set(text)
    message = str(caught.value)
    assert "anchors (&name) are not allowed" in message
    assert "lol" not in message and len(message) < 500


@pytest.mark.parametrize("text", ["a: &x 1\nb: 2\n", "a: 1\nb: *x\n", "base: &b {x: 1}\nc:\n  <<: *b\n"])
def test_any_anchor_or_alias_is_refused(text):
    with pytest.raises(yaml.YAMLError, match="not allowed"):
        safe_yaml.load(text)


def test_a_plain_document_still_loads():
    assert safe_yaml.load("a: [1, 2]\nwhen: 2026-01-31\n") == {
        "a": [1, 2], "when": __import__("datetime").date(2026, 1, 31)}


@pytest.mark.parametrize("day", ["2026-13-45", "2026-02-30"])
def test_an_impossible_date_is_a_rule_set_error(day):
    with pytest.raises(RuleSetError) as caught:
        parse_rule_set(f'version: "t1"\nvalid_from: {day}\nrules: []\n')
    assert "not a real date" in str(caught.value)
    with pytest.raises(RuleSetError, match="not a real date"):
        parse_decision_rules(f"service: home-care\nversion: 1\nvalid_from: {day}\nrules: []\n")


def test_deep_nesting_is_a_rule_set_error_not_a_recursion_error():
    with pytest.raises(RuleSetError, match="nested more than"):
        parse_rule_set(HEADER + "rules: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(yaml.YAMLError):
        safe_yaml.load("[" * 5000)


def test_a_source_too_large_is_refused_unread():
    with pytest.raises(RuleSetError, match="larger than"):
        parse_rule_set(HEADER + "#" * (safe_yaml.MAX_SOURCE_BYTES + 1))
