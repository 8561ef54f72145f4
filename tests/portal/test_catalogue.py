"""The service catalogue: data in both languages, versioned, synced idempotently,
browsed by life situation and searched in plain language."""

from __future__ import annotations

import re
from datetime import date

import pytest
import yaml
from sqlalchemy import func, select

from portal.models import ServiceType
from portal.services import catalogue
from routing import safe_yaml
from routing.service_types import load_default_service_types


def test_every_routing_service_type_is_in_the_catalogue_in_both_languages(session):
    services = {s.slug: s for s in catalogue.services_on(session, date(2026, 11, 25))}
    assert set(services) == set(load_default_service_types())
    for service in services.values():
        for lang in ("da", "en"):
            assert service.name(lang) and service.describe(lang)
            assert service.keywords[lang]
            for question in service.questions():
                assert question.text(lang)
                if question.required_error:
                    assert question.required_error[lang]
            for status in catalogue.STATUS_KEYS:
                assert service.status_text(status, lang)
        assert service.life_situation in {s["id"] for s in catalogue.life_situations()}


def test_every_date_question_shows_an_example_of_the_date_format(session):
    """Three boxes for day, month and year: the hint shows how (GOV.UK date pattern)."""
    dates = [(service.slug, q) for service in catalogue.services_on(session, date(2026, 11, 25))
             for q in service.questions() if q.type == "date"]
    assert dates
    for slug, question in dates:
        assert re.match(r"For eksempel \d{1,2} \d{1,2} \d{4}\.", question.hint_text("da")), (slug, question.id)
        assert re.match(r"For example, \d{1,2} \d{1,2} \d{4}\.", question.hint_text("en")), (slug, question.id)


def test_routing_attributes_come_from_questions(session):
    child = catalogue.get_service(session, "child-benefit")
    assert child.question("lived_abroad").routing == "lived_abroad"
    assert catalogue.get_service(session, "job-seeking").question("insured").routing == "insured"


def test_kle_is_only_an_optional_tag(session):
    assert catalogue.get_service(session, "home-care").kle == "27.36.04"
    assert catalogue.get_service(session, "tax-question").kle is None


def test_sync_is_idempotent(session):
    before = session.scalar(select(func.count()).select_from(ServiceType))
    assert catalogue.sync_service_types(session) == before == 13
    assert session.scalar(select(func.count()).select_from(ServiceType)) == before


def _write_catalogue(tmp_path, mutate) -> str:
    doc = yaml.safe_load(catalogue.CATALOGUE_FILE.read_text(encoding="utf-8"))
    mutate(doc)
    path = tmp_path / "services.yaml"
    path.write_text(safe_yaml.dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def test_a_new_version_closes_the_old_one_and_old_requests_keep_their_version(session, tmp_path):
    def add_version(doc):
        old = next(s for s in doc["services"] if s["slug"] == "home-care")
        new = dict(old, version=2, valid_from=date(2027, 1, 1))
        new["name"] = {"da": "Hjemmehjælp (ny)", "en": "Home care (new)"}
        doc["services"].append(new)

    catalogue.sync_service_types(session, _write_catalogue(tmp_path, add_version))
    assert catalogue.get_service(session, "home-care", day=date(2026, 12, 31)).version == 1
    assert catalogue.get_service(session, "home-care", day=date(2027, 1, 1)).name("da") == "Hjemmehjælp (ny)"
    assert catalogue.get_service(session, "home-care", version=1).valid_to == date(2027, 1, 1)


def test_a_session_reads_a_version_once_and_sees_what_a_sync_changes(session, tmp_path, sql_statements):
    first = catalogue.get_service(session, "home-care", version=1)
    sql_statements.clear()
    assert catalogue.get_service(session, "home-care", version=1) is first
    assert sql_statements == []

    def reword(doc):
        service = next(s for s in doc["services"] if s["slug"] == "home-care")
        service["name"] = {"da": "Hjemmehjælp og praktisk hjælp", "en": "Home care and practical help"}

    catalogue.sync_service_types(session, _write_catalogue(tmp_path, reword))
    assert catalogue.get_service(session, "home-care", version=1).name("da") == "Hjemmehjælp og praktisk hjælp"


def test_the_next_session_sees_a_changed_version(app, session, tmp_path):
    from portal.db import open_session

    with open_session(app) as earlier:
        assert catalogue.get_service(earlier, "tax-question", version=1).name("en") != "Ask about tax"

    def reword(doc):
        next(s for s in doc["services"] if s["slug"] == "tax-question")["name"]["en"] = "Ask about tax"

    catalogue.sync_service_types(session, _write_catalogue(tmp_path, reword))
    with open_session(app) as fresh:
        assert catalogue.get_service(fresh, "tax-question", version=1).name("en") == "Ask about tax"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["services"][0].pop("explain"), "'explain' needs 'da' and 'en'"),
        (lambda d: d["services"][0].update(life_situation="space"), "unknown life situation"),
        (lambda d: d["services"][0]["name"].pop("en"), "name needs Danish and English"),
        (lambda d: d["services"][0]["steps"][0]["questions"][0].update(type="colour"), "unknown type"),
        (lambda d: d["services"].append(dict(d["services"][0])), "once per slug"),
    ],
)
def test_a_bad_catalogue_is_refused_with_the_reason(session, tmp_path, mutate, message):
    with pytest.raises(catalogue.CatalogueError, match=message):
        catalogue.sync_service_types(session, _write_catalogue(tmp_path, mutate))


@pytest.mark.parametrize(
    ("query", "locale", "first"),
    [
        ("rengøring", "da", "home-care"),
        ("hjælp til rengøring", "da", "home-care"),
        ("cleaning", "en", "home-care"),
        ("husleje", "da", "housing-benefit"),
        ("rent", "en", "housing-benefit"),
        ("skilsmisse", "da", "family-law"),
        ("divorce", "en", "family-law"),
        ("rollator", "da", "disability-aids"),
        ("årsopgørelse", "da", "tax-question"),
        ("børnepenge", "da", "child-benefit"),
        ("klage", "da", "appeal"),
        ("hjemme", "da", "home-care"),  # a prefix finds hjemmehjælp
        ("cleaning", "da", "home-care"),  # English words work on the Danish page too
        # Inflections and compounds through the Danish and English Snowball stemmers
        ("min mor kan ikke klare sig selv efter hospitalet", "da", "hospital-discharge"),
        ("skilsmissen", "da", "family-law"),
        ("hjælpemidlerne", "da", "disability-aids"),
        ("huslejen", "da", "housing-benefit"),
        ("renting a flat", "en", "housing-benefit"),
        ("appeals", "en", "appeal"),
    ],
)
def test_search_in_plain_language(session, query, locale, first):
    results = catalogue.search(catalogue.services_on(session), query, locale)
    assert results and results[0].slug == first


def test_search_with_nothing_useful_finds_nothing(session):
    services = catalogue.services_on(session)
    assert catalogue.search(services, "xyzzy", "da") == []
    assert catalogue.search(services, "a", "da") == []


def test_browse_groups_by_life_situation_in_order(session):
    groups = catalogue.browse(catalogue.services_on(session), "en")
    assert [g["id"] for g in groups] == ["work-money", "housing", "health", "family", "help-at-home"]
    help_at_home = next(g for g in groups if g["id"] == "help-at-home")
    assert [s.slug for s in help_at_home["services"]] == ["disability-aids", "home-care"]
    assert sum(len(g["services"]) for g in groups) == 13
