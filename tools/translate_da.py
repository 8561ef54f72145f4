"""Fill Danish translations into the catalogue from a simple mapping file.

    python tools/translate_da.py FILE.yaml

FILE maps English msgid -> Danish text. Existing translations are replaced only for
the ids listed. Lets several people add translations without editing .po by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from i18n import _po, _read, _write  # noqa: E402


def main(path: str) -> None:
    mapping = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    catalog = _read(_po("da"), "da")
    unknown = []
    for msgid, text in mapping.items():
        message = catalog.get(msgid)
        if message is None:
            unknown.append(msgid)
            continue
        # A list gives the plural forms of a ngettext message.
        message.string = tuple(text) if isinstance(text, list) else text
        message.flags.discard("fuzzy")
    _write(_po("da"), catalog)
    for msgid in unknown:
        print(f"not in the catalogue (run i18n.py update first?): {msgid!r}")


if __name__ == "__main__":
    main(sys.argv[1])
