"""``indgang catalogue export`` / ``import``: the catalogue as YAML, audited, a bad
file refused with the problem named and nothing changed."""

from __future__ import annotations

import copy
from datetime import date

import yaml
from sqlalchemy import func, select

from portal.models import AuditEntry, ServiceType
from portal.services import catalogue


def _exported(runner, tmp_path):
    path = tmp_path / "exported.yaml"
    result = runner.invoke(args=["catalogue", "export", str(path)])
    assert result.exit_code == 0, result.output
    return path, yaml.safe_load(path.read_text(encoding="utf-8"))


def test_export_then_import_changes_nothing(runner, session, tmp_path):
    path, doc = _exported(runner, tmp_path)
    assert {s["slug"] for s in doc["services"]} == set(catalogue.routing_service_types())
    assert all(s["explain"]["da"] and s["explain"]["en"] for s in doc["services"])
    before = {(r.slug, r.version): r.definition for r in session.scalars(select(ServiceType))}
    result = runner.invoke(args=["catalogue", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert f"Imported {len(before)} service versions" in result.output
    session.expire_all()
    assert {(r.slug, r.version): r.definition for r in session.scalars(select(ServiceType))} == before
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "catalogue.imported")).one()
    assert entry.details["changed"] == [] and entry.details["versions"] == len(before)


def test_an_imported_service_is_offered(runner, session, tmp_path):
    path, doc = _exported(runner, tmp_path)
    escort = copy.deepcopy(next(s for s in doc["services"] if s["slug"] == "home-care"))
    escort.update(
        slug="escort-scheme",
        version=1,
        valid_to=None,
        name={"da": "Ledsageordning", "en": "Escort scheme"},
        explain={"da": "ledsageordning", "en": "an escort scheme"},
    )
    doc["services"].append(escort)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(args=["catalogue", "import", str(path)])
    assert result.exit_code == 0, result.output
    offered = {s.slug: s for s in catalogue.services_on(session, date(2026, 11, 25))}
    assert offered["escort-scheme"].name("da") == "Ledsageordning"
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "catalogue.imported")).one()
    assert entry.details["changed"] == ["escort-scheme/1"]


def _count(session):
    return session.scalar(select(func.count()).select_from(ServiceType))


def test_a_bad_file_is_refused_with_the_problem_and_changes_nothing(runner, session, tmp_path):
    before = _count(session)
    cases = {
        "alias.yaml": "a: &x [1]\nb: *x\nlife_situations: []\n",
        "broken.yaml": "services: [\n",
        "python.yaml": "!!python/object/apply:os.system ['true']\n",
        "list.yaml": "- 1\n",
        "incomplete.yaml": yaml.safe_dump({"life_situations": [{"id": "housing"}], "services": [
            {"slug": "x", "explain": {"da": "x", "en": "x"}, "version": 1, "life_situation": "housing",
             "name": {"da": "X", "en": "X"}, "description": {"da": "X", "en": "X"},
             "keywords": {"da": ["x"], "en": ["x"]}, "steps": [{"id": "a", "questions": [{"type": "text"}]}]}]}),
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        result = runner.invoke(args=["catalogue", "import", str(path)])
        assert result.exit_code == 1, (name, result.output)
        assert "nothing was imported" in result.output, name
        assert "Traceback" not in result.output
    assert _count(session) == before
    assert not session.scalars(select(AuditEntry).where(AuditEntry.action == "catalogue.imported")).all()


def test_a_file_too_large_is_refused(runner, session, tmp_path, monkeypatch):
    monkeypatch.setattr(catalogue, "MAX_IMPORT_BYTES", 1024)
    path = tmp_path / "big.yaml"
    path.write_text("# " + "x" * 2000 + "\n", encoding="utf-8")
    result = runner.invoke(args=["catalogue", "import", str(path)])
    assert result.exit_code == 1
    assert "larger than" in result.output


def test_an_alias_an_impossible_date_or_deep_nesting_is_refused(runner, session, tmp_path):
    path, _ = _exported(runner, tmp_path)
    text = path.read_text(encoding="utf-8")
    before = _count(session)
    for bad, words in [
        ("x: &a [1, 2]\ny: [*a, *a]\n", "not allowed"),
        (text.replace("valid_from: ", "valid_from: 2026-13-45 #", 1), "not a real date"),
        ("services: " + "[" * 5000 + "\n", "nested more than"),
    ]:
        path.write_text(bad, encoding="utf-8")
        result = runner.invoke(args=["catalogue", "import", str(path)])
        assert result.exit_code == 1, result.output
        assert words in result.output and "nothing was imported" in result.output
    assert _count(session) == before
