"""Finding consent controls that a page shows already checked."""

from __future__ import annotations

import re

_INPUT = re.compile(r"<input\b[^>]*>", re.IGNORECASE | re.DOTALL)


def checked_consent_controls(html: str) -> list[str]:
    """Every checkbox or radio whose name or id speaks of consent and that is checked."""
    found = []
    for tag in _INPUT.findall(html):
        kind = re.search(r'type="(checkbox|radio)"', tag)
        about = re.search(r'(name|id)="[^"]*(consent|samtykke)[^"]*"', tag, re.IGNORECASE)
        if kind and about and re.search(r"\schecked(\s|>|=|/)", tag):
            found.append(tag)
    return found
