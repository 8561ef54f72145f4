"""Bad rule files are refused with a message naming the file, line and rule."""

from __future__ import annotations

import pytest

from routing.rules import RuleSetError, load_rule_set, parse_rule_set

HEADER = """\
version: "t1"
valid_from: 2026-01-01
fields:
  age: int
  insured: bool
rules:
"""

GOOD_RULE = """\
  - id: home-care
    service: home-care
    priority: 10
    assign:
      - to: residence-municipality
        role: decides
        target_days: 10
        limit_days: 20
        day_kind: working
"""


# Each bad file: its text, then (line, rule id, words the message must contain).
BAD = {
    "unknown authority": (
        HEADER + GOOD_RULE.replace("residence-municipality", "state-ministry-of-magic"),
        (11, "home-care", "unknown authority 'state-ministry-of-magic'"),
    ),
    "unknown field in rule": (
        HEADER + GOOD_RULE.replace("    priority: 10\n", "    priorty: 10\n"),
        (9, "home-care", "unknown field 'priorty'"),
    ),
    "unknown field in condition": (
        HEADER
        + GOOD_RULE.replace("    priority: 10\n", '    priority: 10\n    when: "height > 2"\n'),
        (10, "home-care", "unknown field 'height'"),
    ),
    "unknown field in assignment": (
        HEADER
        + GOOD_RULE.replace(
            "        day_kind: working\n", "        day_kind: working\n        deadline: 3\n"
        ),
        (16, "home-care", "unknown field 'deadline'"),
    ),
    "wrong type of priority": (
        HEADER + GOOD_RULE.replace("priority: 10", "priority: high"),
        (9, "home-care", "wrong type: 'priority' must be an integer"),
    ),
    "wrong type of days": (
        HEADER + GOOD_RULE.replace("target_days: 10", "target_days: ten"),
        (13, "home-care", "wrong type: 'target_days'"),
    ),
    "wrong type in condition": (
        HEADER
        + GOOD_RULE.replace("    priority: 10\n", "    priority: 10\n    when: \"age >= 'old'\"\n"),
        (10, "home-care", "wrong type: field 'age' is int"),
    ),
    "target above limit": (
        HEADER + GOOD_RULE.replace("target_days: 10", "target_days: 30"),
        (13, "home-care", "target_days (30) is above limit_days (20)"),
    ),
    "unknown service type": (
        HEADER + GOOD_RULE.replace("service: home-care", "service: dog-walking"),
        (8, "home-care", "unknown service type 'dog-walking'"),
    ),
    "unknown role": (
        HEADER + GOOD_RULE.replace("role: decides", "role: supervises"),
        (12, "home-care", "unknown role 'supervises'"),
    ),
    "cycle of extends": (
        HEADER
        + GOOD_RULE
        + "  - id: a\n    extends: b\n    priority: 20\n"
        + "  - id: b\n    extends: a\n    priority: 30\n",
        (17, "a", "cycle of references: a -> b -> a"),
    ),
    "cycle of named conditions": (
        HEADER.replace(
            "rules:\n",
            'conditions:\n  old: "age > 80 and frail"\n  frail: "old"\nrules:\n',
        )
        + GOOD_RULE,
        (7, None, "cycle of condition references: old -> frail -> old"),
    ),
    "duplicate rule id": (
        HEADER + GOOD_RULE + GOOD_RULE,
        (16, "home-care", "duplicate rule id"),
    ),
    "duplicate key": (
        HEADER + GOOD_RULE.replace("    priority: 10\n", "    priority: 10\n    priority: 20\n"),
        (10, None, "duplicate key 'priority'"),
    ),
    "invalid condition syntax": (
        HEADER + GOOD_RULE.replace("    priority: 10\n", '    priority: 10\n    when: "age >="\n'),
        (10, "home-care", "unexpected end of condition"),
    ),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_rule_file_is_refused_naming_file_line_and_rule(name, tmp_path):
    text, (line, rule_id, words) = BAD[name]
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RuleSetError) as caught:
        load_rule_set(path)
    message = str(caught.value)
    expected_prefix = f"{path}:{line}: " + (f"rule {rule_id!r}: " if rule_id else "")
    matching = [m for m in message.splitlines() if words in m]
    assert matching, message
    assert matching[0].startswith(expected_prefix), message


def test_good_file_parses(tmp_path):
    rule_set = parse_rule_set(HEADER + GOOD_RULE, "good.yaml")
    (rule,) = rule_set.rules
    assert (rule.id, rule.line, rule.priority) == ("home-care", 7, 10)


def test_every_problem_is_listed():
    text = HEADER + GOOD_RULE.replace("priority: 10", "priority: high").replace(
        "residence-municipality", "state-nowhere"
    )
    with pytest.raises(RuleSetError) as caught:
        parse_rule_set(text, "two.yaml")
    assert [
        (line, rule, message.split(":")[0]) for line, rule, message in caught.value.problems
    ] == [
        (9, "home-care", "wrong type"),
        (11, "home-care", "unknown authority 'state-nowhere'"),
    ]


def test_extends_inherits_and_overrides():
    text = (
        HEADER
        + GOOD_RULE
        + '  - id: old-people\n    extends: home-care\n    priority: 20\n    when: "age >= 80"\n'
    )
    rule_set = parse_rule_set(text, "x.yaml")
    child = rule_set.rule("old-people")
    assert child.service_type == "home-care"
    assert child.priority == 20
    assert child.assignments == rule_set.rule("home-care").assignments
    assert child.line == 16


def test_yaml_syntax_error_names_line():
    with pytest.raises(RuleSetError, match=r"^broken.yaml:3: not valid YAML"):
        parse_rule_set('version: "x"\nrules:\n  - id: a: b\n', "broken.yaml")


def test_unsafe_yaml_tags_are_refused():
    with pytest.raises(RuleSetError, match="not valid YAML"):
        parse_rule_set("!!python/object/apply:os.system ['true']\n", "evil.yaml")
