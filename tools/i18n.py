"""Translation catalogues: extract, update, check and compile, with Babel's API.

    python tools/i18n.py update   # extract strings, merge into every catalogue (sorted)
    python tools/i18n.py check    # fail if a Danish string is missing or fuzzy
    python tools/i18n.py compile  # write the .mo files Flask-Babel reads

Source strings are English; Danish is translated in portal/translations/da. English
needs no catalogue: its msgids are the text. Catalogues are written sorted by msgid
and without source locations, so that two branches adding strings merge cleanly.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "portal" / "translations"
LOCALES = ("da",)


def _po(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def _read(path: Path, locale: str) -> Catalog:
    if not path.exists():
        return Catalog(locale=locale)
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def _write(path: Path, catalog: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        write_po(fh, catalog, sort_output=True, omit_header=False, no_location=True, width=100)


def extract() -> Catalog:
    pot = ROOT / "build" / "messages.pot"
    pot.parent.mkdir(exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(ROOT / "babel.cfg"),
         "-k", "_l", "-k", "lazy_gettext", "--no-location", "-o", str(pot), str(ROOT)],
        check=True, capture_output=True,
    )
    with pot.open("rb") as fh:
        return read_po(fh)


def update() -> None:
    template = extract()
    for locale in LOCALES:
        path = _po(locale)
        catalog = _read(path, locale)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        _write(path, catalog)
        print(f"{path.relative_to(ROOT)}: {len(catalog)} messages")


def missing(locale: str) -> list[str]:
    """Messages used in the code with no (or a fuzzy) translation in ``locale``."""
    template = extract()
    catalog = _read(_po(locale), locale)
    gaps = []
    for message in template:
        if not message.id:
            continue
        found = catalog.get(message.id, message.context)
        if found is None or found.fuzzy or not found.string or (
            isinstance(found.string, tuple) and not all(found.string)
        ):
            gaps.append(message.id if isinstance(message.id, str) else message.id[0])
    return gaps


def check() -> int:
    status = 0
    for locale in LOCALES:
        gaps = missing(locale)
        for gap in gaps:
            print(f"{locale}: untranslated: {gap!r}")
        status |= bool(gaps)
    return status


def compile_all() -> None:
    for locale in LOCALES:
        catalog = _read(_po(locale), locale)
        with _po(locale).with_suffix(".mo").open("wb") as fh:
            write_mo(fh, catalog)


if __name__ == "__main__":
    action = sys.argv[1] if len(sys.argv) > 1 else "check"
    if action == "update":
        update()
    elif action == "compile":
        compile_all()
    elif action == "check":
        sys.exit(check())
    else:
        sys.exit(f"unknown action {action!r}: use update, check or compile")
