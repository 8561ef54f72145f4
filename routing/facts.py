"""The facts about one request that routing looks at."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the routing engine knows about a request.

    ``municipality_code`` is the official code of the citizen's residence municipality
    (from the identity/registry claims, never a postal code); ``attributes`` holds the
    answers that matter for routing, such as ``age`` or ``lived_abroad``.
    """

    service_type: str
    municipality_code: str
    filed_on: date
    attributes: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "service_type": self.service_type,
            "municipality_code": self.municipality_code,
            "filed_on": self.filed_on.isoformat(),
            "attributes": dict(self.attributes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RequestFacts:
        """The facts stored by ``to_dict``."""
        return cls(
            service_type=data["service_type"],
            municipality_code=str(data["municipality_code"]),
            filed_on=date.fromisoformat(data["filed_on"]),
            attributes=MappingProxyType(dict(data.get("attributes") or {})),
        )
