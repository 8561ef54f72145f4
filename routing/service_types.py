"""Service types as data: the words the explanations need for each kind of request.

Nothing here lists the services. The portal's catalogue holds them (the shipped file
``portal/data/services.yaml`` and the versions administrators publish); each service
there carries an ``explain`` entry with its name as it reads inside a sentence and
the noun for the citizen's request. Routing takes the resulting mapping as part of its
snapshot, like the authority registry: ``parse_rule_set`` checks rule service ids
against it and the compiled rule set words its explanations from it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from routing import safe_yaml


@dataclass(frozen=True)
class ServiceType:
    """A kind of request a citizen can make.

    ``name_da``/``name_en`` are written to read inside a sentence ("because home care is
    handled by ..."); ``request_da`` is the Danish noun for the citizen's request
    ("ansøgning", "henvendelse", "klage").
    """

    id: str
    name_da: str
    name_en: str
    request_da: str = "ansøgning"
    request_en: str = "request"
    plural_en: bool = False  # "disability aids are handled", not "is"

    @property
    def handled_en(self) -> str:
        return f"{self.name_en} {'are' if self.plural_en else 'is'} handled"


ServiceTypes = Mapping[str, ServiceType]


class ServiceTypeError(ValueError):
    """A catalogue entry without the words routing needs."""


def service_type_from(slug: str, explain: Any) -> ServiceType:
    """The ``ServiceType`` for catalogue entry ``slug`` from its ``explain`` mapping
    (``da``, ``en``, optional ``request: {da, en}`` and ``plural_en``)."""
    if not isinstance(slug, str) or not slug:
        raise ServiceTypeError(f"service id must be a non-empty string, not {slug!r}")
    if not isinstance(explain, Mapping):
        raise ServiceTypeError(f"service {slug!r}: 'explain' needs 'da' and 'en'")
    name_da, name_en = explain.get("da"), explain.get("en")
    if not (isinstance(name_da, str) and name_da and isinstance(name_en, str) and name_en):
        raise ServiceTypeError(f"service {slug!r}: 'explain' needs 'da' and 'en'")
    request = explain.get("request") or {}
    if not isinstance(request, Mapping):
        raise ServiceTypeError(f"service {slug!r}: 'explain.request' needs 'da' and 'en'")
    plural = explain.get("plural_en", False)
    if not isinstance(plural, bool):
        raise ServiceTypeError(f"service {slug!r}: 'explain.plural_en' must be true or false")
    return ServiceType(
        slug,
        name_da,
        name_en,
        str(request.get("da") or "ansøgning"),
        str(request.get("en") or "request"),
        plural,
    )


def service_types_from(entries: Iterable[tuple[str, Any]]) -> ServiceTypes:
    """An immutable id -> ``ServiceType`` mapping from (slug, explain) pairs; a later
    pair for the same slug (a newer version) wins."""
    return MappingProxyType({slug: service_type_from(slug, explain) for slug, explain in entries})


def parse_service_types(doc: Any, source: str = "<catalogue>") -> ServiceTypes:
    """The service types of a catalogue document (its ``services`` list of entries with
    ``slug``, ``version`` and ``explain``)."""
    services = doc.get("services") if isinstance(doc, Mapping) else None
    if not isinstance(services, list):
        raise ServiceTypeError(f"{source}: a catalogue needs a 'services' list")
    entries = sorted(
        (s for s in services if isinstance(s, Mapping)),
        key=lambda s: s.get("version") if isinstance(s.get("version"), int) else 0,
    )
    try:
        return service_types_from((s.get("slug"), s.get("explain")) for s in entries)
    except ServiceTypeError as exc:
        raise ServiceTypeError(f"{source}: {exc}") from None


def default_catalogue_path() -> Path:
    """The catalogue shipped with Indgang (``portal/data/services.yaml``)."""
    return Path(__file__).parent.parent / "portal" / "data" / "services.yaml"


def load_service_types(path: str | Path) -> ServiceTypes:
    """The service types in the catalogue file at ``path``."""
    path = Path(path)
    return parse_service_types(safe_yaml.load(path.read_text(encoding="utf-8")), str(path))


@functools.lru_cache(maxsize=1)
def load_default_service_types() -> ServiceTypes:
    """The service types of the shipped catalogue, read once per process."""
    return load_service_types(default_catalogue_path())
