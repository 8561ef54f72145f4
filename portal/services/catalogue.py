"""The service catalogue: what citizens can ask for, kept as versioned data.

``portal/data/services.yaml`` is the source; ``sync_service_types`` copies it into the
``service_types`` table (idempotent), and the portal reads definitions back from the
table, so a request always knows the version of the questions it was filed with.
Browsing is by life situation; search is plain-language scoring over names,
descriptions and keywords in both languages.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import ServiceType
from portal.services.deadlines import danish_today
from routing import safe_yaml
from routing.service_types import (
    ServiceTypeError,
    ServiceTypes,
    parse_service_types,
    service_type_from,
)

CATALOGUE_FILE = Path(__file__).resolve().parent.parent / "data" / "services.yaml"
QUESTION_TYPES = ("text", "textarea", "yesno", "choice", "date", "number")
STATUS_KEYS = (
    "draft", "filed", "routed", "unroutable", "pending", "accepted", "in_progress",
    "awaiting_citizen", "decided", "closed",
)


class CatalogueError(ValueError):
    """The catalogue file describes a service the portal cannot offer."""


def text_in(value: Any, locale: str) -> str:
    """The ``locale`` text of a ``{da: ..., en: ...}`` mapping (Danish as fallback)."""
    if isinstance(value, dict):
        return value.get(locale) or value.get("da") or ""
    return value or ""


@dataclass(frozen=True)
class Option:
    value: str
    label: dict

    def text(self, locale: str) -> str:
        return text_in(self.label, locale)


@dataclass(frozen=True)
class Question:
    """One question of a step, with its type and validation."""

    id: str
    type: str
    label: dict
    hint: dict | None = None
    required: bool = True
    options: tuple[Option, ...] = ()
    min: float | None = None
    max: float | None = None
    max_length: int | None = None
    not_future: bool = False
    not_past: bool = False
    min_age: int | None = None
    max_age: int | None = None
    routing: str | None = None
    required_error: dict | None = None  # a specific "answer this" message, if given

    def text(self, locale: str) -> str:
        return text_in(self.label, locale)

    def hint_text(self, locale: str) -> str:
        return text_in(self.hint, locale) if self.hint else ""

    def option_text(self, value: str, locale: str) -> str:
        for option in self.options:
            if option.value == value:
                return option.text(locale)
        return value


@dataclass(frozen=True)
class Step:
    """One page of the form: one topic, usually one question."""

    id: str
    questions: tuple[Question, ...]
    title: dict | None = None

    def heading(self, locale: str) -> str:
        if self.title:
            return text_in(self.title, locale)
        return self.questions[0].text(locale)


@dataclass(frozen=True)
class AttachmentKind:
    id: str
    label: dict
    required: bool = False

    def text(self, locale: str) -> str:
        return text_in(self.label, locale)


@dataclass(frozen=True)
class ServiceDefinition:
    """One version of a service type, as citizens meet it."""

    slug: str
    version: int
    valid_from: date
    valid_to: date | None
    life_situation: str
    names: dict
    description: dict
    keywords: dict
    steps: tuple[Step, ...]
    attachments: tuple[AttachmentKind, ...]
    status_texts: dict
    next_steps: dict
    target_days: int
    target_day_kind: str
    kle: str | None = None

    def name(self, locale: str) -> str:
        return text_in(self.names, locale)

    def describe(self, locale: str) -> str:
        return text_in(self.description, locale)

    def status_text(self, status: str, locale: str) -> str:
        return text_in(self.status_texts.get(status), locale)

    def next_step(self, status: str, locale: str) -> str:
        return text_in(self.next_steps.get(status), locale)

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def questions(self) -> list[Question]:
        return [q for s in self.steps for q in s.questions]

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions() if q.id == question_id), None)

    @property
    def has_attachments(self) -> bool:
        return bool(self.attachments)

    @property
    def attachment_ids(self) -> set[str]:
        return {a.id for a in self.attachments}


def definition_from_dict(data: dict) -> ServiceDefinition:
    """A ``ServiceDefinition`` from the JSON stored in ``service_types.definition``."""
    steps = []
    for step in data["steps"]:
        questions = []
        for q in step["questions"]:
            questions.append(
                Question(
                    id=q["id"],
                    type=q["type"],
                    label=q["label"],
                    hint=q.get("hint"),
                    required=bool(q.get("required", True)),
                    options=tuple(Option(str(o["value"]), o["label"]) for o in q.get("options", ())),
                    min=q.get("min"),
                    max=q.get("max"),
                    max_length=q.get("max_length"),
                    not_future=bool(q.get("not_future", False)),
                    not_past=bool(q.get("not_past", False)),
                    min_age=q.get("min_age"),
                    max_age=q.get("max_age"),
                    routing=q.get("routing"),
                    required_error=q.get("required_error"),
                )
            )
        steps.append(Step(id=step["id"], questions=tuple(questions), title=step.get("title")))
    target = data.get("target") or {}
    return ServiceDefinition(
        slug=data["slug"],
        version=int(data["version"]),
        valid_from=_as_date(data["valid_from"]),
        valid_to=_as_date(data.get("valid_to")),
        life_situation=data["life_situation"],
        names=data["name"],
        description=data["description"],
        keywords=data.get("keywords") or {},
        steps=tuple(steps),
        attachments=tuple(
            AttachmentKind(a["id"], a["label"], bool(a.get("required", False)))
            for a in data.get("attachments") or ()
        ),
        status_texts=data.get("status_texts") or {},
        next_steps=data.get("next_steps") or {},
        target_days=int(target.get("days", 20)),
        target_day_kind=target.get("day_kind", "working"),
        kle=data.get("kle"),
    )


def _as_date(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


# --- the file -----------------------------------------------------------------------


@functools.cache
def _read_file(path: str) -> dict:
    return safe_yaml.load(Path(path).read_text(encoding="utf-8"))


def routing_service_types(path: Path | None = None) -> ServiceTypes:
    """The catalogue's service types as routing takes them (id -> the words its
    explanations use), from the catalogue file (read once)."""
    return _routing_service_types(str(path or CATALOGUE_FILE))


@functools.cache
def _routing_service_types(path: str) -> ServiceTypes:
    return parse_service_types(_read_file(path), path)


def life_situations(path: Path | None = None) -> list[dict]:
    """The life situations in display order: ``[{id, name: {da, en}}]``."""
    return list(_read_file(str(path or CATALOGUE_FILE))["life_situations"])


def load_catalogue_file(path: Path | None = None) -> list[dict]:
    """Every service version in the catalogue file, checked and as JSON-ready dicts.

    Status texts and next steps of each service are the file's defaults overlaid with
    the service's own. Raises ``CatalogueError`` naming the service and the problem.
    """
    return catalogue_items(_read_file(str(path or CATALOGUE_FILE)))


def catalogue_items(doc: Any) -> list[dict]:
    """``load_catalogue_file`` for a catalogue document already read."""
    if not isinstance(doc, dict) or not isinstance(doc.get("life_situations"), list) \
            or not isinstance(doc.get("services"), list):
        raise CatalogueError("a catalogue is a mapping with 'life_situations' and 'services' lists")
    situations = {s.get("id") for s in doc["life_situations"] if isinstance(s, dict)}
    defaults = doc.get("defaults") or {}
    seen: set[tuple[str, int]] = set()
    services = []
    for raw in doc["services"]:
        if not isinstance(raw, dict):
            raise CatalogueError(f"a service must be a mapping, not {raw!r}")
        slug = raw.get("slug")
        where = f"service {slug!r}"
        try:
            service_type_from(slug, raw.get("explain"))
        except ServiceTypeError as exc:
            raise CatalogueError(str(exc)) from None
        key = (slug, int(raw.get("version", 0)))
        if key[1] < 1 or key in seen:
            raise CatalogueError(f"{where}: version must be a positive number, once per slug")
        seen.add(key)
        if raw.get("life_situation") not in situations:
            raise CatalogueError(f"{where}: unknown life situation {raw.get('life_situation')!r}")
        for field in ("name", "description", "keywords"):
            if not all(raw.get(field, {}).get(lang) for lang in ("da", "en")):
                raise CatalogueError(f"{where}: {field} needs Danish and English")
        question_ids: set[str] = set()
        for step in raw.get("steps") or []:
            if not step.get("questions"):
                raise CatalogueError(f"{where}: step {step.get('id')!r} has no questions")
            for q in step["questions"]:
                if q.get("type") not in QUESTION_TYPES:
                    raise CatalogueError(f"{where}: question {q.get('id')!r} has unknown type {q.get('type')!r}")
                if q["id"] in question_ids:
                    raise CatalogueError(f"{where}: question id {q['id']!r} used twice")
                question_ids.add(q["id"])
                if q["type"] == "choice" and not q.get("options"):
                    raise CatalogueError(f"{where}: choice question {q['id']!r} has no options")
        if not question_ids:
            raise CatalogueError(f"{where}: no questions")
        item = dict(raw)
        item["valid_from"] = _as_date(raw["valid_from"]).isoformat()
        item["valid_to"] = _as_date(raw.get("valid_to")).isoformat() if raw.get("valid_to") else None
        item["status_texts"] = {**defaults.get("status_texts", {}), **raw.get("status_texts", {})}
        item["next_steps"] = {**defaults.get("next_steps", {}), **raw.get("next_steps", {})}
        missing = [k for k in STATUS_KEYS if k not in item["status_texts"]]
        if missing:
            raise CatalogueError(f"{where}: no status text for {', '.join(missing)}")
        services.append(item)
    return services


def sync_service_types(session: Session, path: Path | None = None) -> int:
    """Make the ``service_types`` table hold every version in the catalogue file.

    Rows are keyed on (slug, version): a new version is added, an existing one is
    updated in place only if its text changed, and each version's ``valid_to`` is closed
    at the next version's ``valid_from``. Idempotent. Returns the number of versions.
    Commits. Raises ``CatalogueError`` for a bad file (and changes nothing).
    """
    services = load_catalogue_file(path)
    store_catalogue(session, services)
    session.commit()
    return len(services)


# An imported catalogue file is read whole; a catalogue of borger.dk's size (about
# 2,000 services) is a few megabytes.
MAX_IMPORT_BYTES = 16 * 1024 * 1024


def import_catalogue(session: Session, text: str, source: str, *, actor=None) -> int:
    """Store every service version of the catalogue YAML ``text`` (read from ``source``)
    as ``sync_service_types`` stores the shipped file, audited. Commits. Raises
    ``CatalogueError`` for a file too large, not YAML, or describing a bad service (and
    then changes nothing). Returns the number of versions."""
    from portal.services import audit

    if len(text.encode("utf-8")) > MAX_IMPORT_BYTES:
        raise CatalogueError(f"{source}: larger than {MAX_IMPORT_BYTES // 1024} KB, the most an import may be")
    try:
        doc = safe_yaml.load(text, max_bytes=MAX_IMPORT_BYTES)
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{source}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    try:
        items = catalogue_items(doc)
    except CatalogueError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CatalogueError(f"{source}: a service is incomplete or malformed ({exc!r})") from None
    changed = store_catalogue(session, items)
    audit.record(session, actor=actor, action="catalogue.imported",
                 details={"source": source, "versions": len(items), "changed": changed})
    session.commit()
    return len(items)


def export_catalogue(session: Session) -> str:
    """The catalogue in the database as YAML that ``import_catalogue`` reads back: the
    shipped file's life situations and defaults, and every stored service version."""
    doc = _read_file(str(CATALOGUE_FILE))
    rows = session.scalars(select(ServiceType).order_by(ServiceType.slug, ServiceType.version))
    out = {
        "life_situations": doc["life_situations"],
        "defaults": doc.get("defaults") or {},
        "services": [dict(r.definition) for r in rows],
    }
    return safe_yaml.dump(out, allow_unicode=True, sort_keys=False, width=100)


def store_catalogue(session: Session, services: list[dict]) -> list[str]:
    """Add or update the rows for ``services`` (checked items); the caller commits.
    Returns "slug/version" of each row added or changed."""
    changed: list[str] = []
    session.info.pop(_READ_VERSIONS, None)
    existing = {(r.slug, r.version): r for r in session.scalars(select(ServiceType))}
    by_slug: dict[str, list[dict]] = {}
    for item in services:
        by_slug.setdefault(item["slug"], []).append(item)
    for versions in by_slug.values():
        versions.sort(key=lambda i: int(i["version"]))
        for current, following in zip(versions, versions[1:], strict=False):
            current["valid_to"] = current["valid_to"] or following["valid_from"]
    for item in services:
        key = (item["slug"], int(item["version"]))
        row = existing.get(key) or ServiceType(slug=key[0], version=key[1])
        values = {
            "life_situation": item["life_situation"],
            "name_da": item["name"]["da"],
            "name_en": item["name"]["en"],
            "kle": item.get("kle"),
            "valid_from": _as_date(item["valid_from"]),
            "valid_to": _as_date(item["valid_to"]),
            "definition": item,
        }
        differs = False
        for attr, value in values.items():
            if getattr(row, attr, None) != value:
                setattr(row, attr, value)
                differs = True
        if differs:
            changed.append(f"{key[0]}/{key[1]}")
        session.add(row)
    return changed


# --- reading back -------------------------------------------------------------------

# Key in ``Session.info``: the definitions (slug, version) -> ServiceDefinition | None
# that session has read.
_READ_VERSIONS = "catalogue.versions"


def services_on(session: Session, day: date | None = None) -> list[ServiceDefinition]:
    """The version of every service type valid on ``day`` (today by default), by name."""
    day = day or danish_today()
    rows = session.scalars(
        select(ServiceType).where(ServiceType.valid_from <= day).order_by(ServiceType.slug, ServiceType.version)
    )
    latest: dict[str, ServiceType] = {}
    for row in rows:
        if row.valid_to is None or day < row.valid_to:
            latest[row.slug] = row
    return [definition_from_dict(r.definition) for r in latest.values()]


def remember_version(session: Session, slug: str, version: int, stored: dict | None) -> None:
    """Keep the stored definition of version ``version`` of ``slug`` (``None``: no such
    row), read by the caller along with something else, for ``get_service`` in this
    session."""
    read = session.info.setdefault(_READ_VERSIONS, {})
    if (slug, version) not in read:
        read[slug, version] = definition_from_dict(stored) if stored else None


def get_service(
    session: Session, slug: str, *, version: int | None = None, day: date | None = None
) -> ServiceDefinition | None:
    """One service: a given version (for a filed request), else the one valid on ``day``.

    Returns None for an unknown slug or version, so a tampered slug finds nothing.
    """
    if not isinstance(slug, str) or not slug:
        return None
    if version is not None:
        # Read once per session: a filing asks for its version several times (view,
        # checks, routing preview). ``sync_service_types`` forgets what a session read.
        read = session.info.get(_READ_VERSIONS, {})
        if (slug, version) not in read:
            stored = session.scalar(
                select(ServiceType.definition).where(ServiceType.slug == slug, ServiceType.version == version))
            remember_version(session, slug, version, stored)
        return session.info[_READ_VERSIONS][slug, version]
    return next((s for s in services_on(session, day) if s.slug == slug), None)


def browse(services: list[ServiceDefinition], locale: str) -> list[dict]:
    """Services grouped by life situation, in the catalogue's order, names sorted."""
    groups = []
    for situation in life_situations():
        members = sorted(
            (s for s in services if s.life_situation == situation["id"]), key=lambda s: s.name(locale)
        )
        if members:
            groups.append({"id": situation["id"], "name": text_in(situation["name"], locale), "services": members})
    return groups


def _words(text: str) -> list[str]:
    text = unicodedata.normalize("NFC", text.casefold())
    return re.findall(r"[\wæøå]+", text)


# Words that say nothing about which service is meant.
_STOP_WORDS = frozenset(
    ["og", "i", "til", "af", "på", "for", "med", "om", "at", "en", "et", "jeg", "mig", "min", "mit", "har", "kan", "der", "den", "det", "de", "som", "fra", "efter", "and", "the", "for", "with", "from", "about", "can", "need", "want", "have", "get", "how", "what", "when", "where", "who"]
)


@functools.lru_cache(maxsize=1)
def _stemmers() -> dict:
    import snowballstemmer

    return {"da": snowballstemmer.stemmer("danish"), "en": snowballstemmer.stemmer("english")}


@functools.lru_cache(maxsize=200_000)
def _stem(lang: str, word: str) -> str:
    """``word``'s Snowball stem in ``lang`` ("hjemmet" -> "hjem", "renting" -> "rent")."""
    return _stemmers()[lang].stemWord(word)


def _match(word: str, stem: str, h: str, h_stem: str) -> float:
    """How well query word ``word`` (stem ``stem``) matches catalogue word ``h`` (stem
    ``h_stem``): the same word 1, the same stem 0.9 ("hjemmet", "hjem"), a compound
    starting with the word 0.8 ("hjemme", "hjemmehjælp"), one starting with its stem
    (or a word the query word starts with) 0.6, a part inside a compound 0.4
    ("hjælp", "hjemmehjælp")."""
    if word == h:
        return 1.0
    if stem == h_stem:
        return 0.9
    if h.startswith(word):
        return 0.8
    if h.startswith(stem) or (len(h) > 3 and word.startswith(h)):
        return 0.6
    if len(stem) > 3 and (stem in h or word in h):
        return 0.4
    return 0.0


def search(services: list[ServiceDefinition], query: str, locale: str) -> list[ServiceDefinition]:
    """Services matching ``query`` in either language, best first.

    Words are compared by their Snowball stems in each language ("hjemmet" finds
    "hjem", "renting" finds "rent"). A query word found in the name counts most, then
    in a keyword, then in the description; prefixes and parts of compound words count
    less (``hjemme`` and ``hjælp`` find ``hjemmehjælp``). A word found in many services
    (``hjælp``) weighs less than one found in few (``rengøring``). The citizen's own
    language weighs a little more. Short words and function words are ignored.
    """
    words = [w for w in _words(query) if len(w) > 2 and w not in _STOP_WORDS]
    if not words:
        return []
    stems = {lang: [_stem(lang, w) for w in words] for lang in ("da", "en")}
    points: dict[str, dict[str, float]] = {}
    for service in services:
        per_word = points.setdefault(service.slug, {})
        for lang in ("da", "en"):
            weight = 1.0 if lang == locale else 0.8
            fields = (
                (4.0, _words(text_in(service.names, lang))),
                (3.0, [w for k in service.keywords.get(lang, []) for w in _words(k)]),
                (1.0, _words(text_in(service.description, lang))),
            )
            for word, stem in zip(words, stems[lang], strict=True):
                best = 0.0
                for value, haystack in fields:
                    for h in haystack:
                        best = max(best, value * _match(word, stem, h, _stem(lang, h)))
                per_word[word] = max(per_word.get(word, 0.0), best * weight)
    spread = {w: sum(1 for p in points.values() if p.get(w)) for w in words}
    scored = []
    for service in services:
        score = sum(v / spread[w] for w, v in points[service.slug].items() if v)
        if score > 0:
            scored.append((score, service.name(locale), service))
    scored.sort(key=lambda t: (-t[0], t[1]))
    return [s for _, _, s in scored]
