"""Vendor Det Fælles Designsystem (the npm package `dkfds`) into our static files.

    python tools/vendor_dkfds.py update 11.2.0         # npm pack, unpack, write manifest
    python tools/vendor_dkfds.py update 11.2.0 --tarball dkfds-11.2.0.tgz
    python tools/vendor_dkfds.py check                 # files match the manifest

The files are committed, so `make run` needs no Node.js; only `update` runs `npm pack`.
They keep the package's dist layout under portal/static/vendor/dkfds-<version>/ (the
version in the path, as with htmx, so a new version is never served from a stale cache):
the borger.dk theme's CSS, the JavaScript, every font and image the CSS refers to, the
whole icon set and the licences. The manifest (portal/static/vendor/dkfds.json) records
the version, the tarball's npm integrity and the sha256 of every file; `update` also
rewrites the versioned path in the templates that load the design system.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "portal" / "static" / "vendor"
MANIFEST = VENDOR / "dkfds.json"
TEMPLATES = ROOT / "templates"
PACKAGE = "dkfds"

# Taken whole from dist/; the CSS's url() references are added to these.
FILES = ("css/dkfds-borgerdk.min.css", "js/dkfds.min.js", "img/all-svg-icons.svg", "LICENSE.md")
DIRECTORIES = ("img/svg-icons",)
EXTRA = ("fonts/IBMPlexSans/complete/woff2/license.txt",)
_URL = re.compile(r"url\((?:'|\")?\.\./([^)'\"?#]+)")


def vendor_dir(version: str) -> Path:
    return VENDOR / f"{PACKAGE}-{version}"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _select(dist: Path) -> list[str]:
    """The dist files we serve: FILES, DIRECTORIES and everything the CSS loads."""
    chosen = set(FILES)
    for directory in DIRECTORIES:
        chosen.update(p.relative_to(dist).as_posix() for p in (dist / directory).rglob("*") if p.is_file())
    css = (dist / "css" / "dkfds-borgerdk.min.css").read_text(encoding="utf-8")
    chosen.update(_URL.findall(css))
    chosen.update(name for name in EXTRA if (dist / name).is_file())
    missing = sorted(name for name in chosen if not (dist / name).is_file())
    if missing:
        raise SystemExit(f"not in the package: {', '.join(missing)}")
    return sorted(chosen)


def _pack(version: str, workdir: Path) -> tuple[Path, str | None]:
    out = subprocess.run(
        ["npm", "pack", f"{PACKAGE}@{version}", "--json", "--pack-destination", str(workdir)],
        check=True, capture_output=True, text=True,
    )
    info = json.loads(out.stdout)[0]
    return workdir / info["filename"], info.get("integrity")


def _integrity(tarball: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()


def update(version: str, tarball: Path | None = None) -> dict:
    """Fetch `dkfds@version`, replace the vendored copy and write the manifest."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        expected = None
        if tarball is None:
            tarball, expected = _pack(version, workdir)
        integrity = _integrity(tarball)
        if expected and expected != integrity:
            raise SystemExit(f"tarball integrity {integrity} is not npm's {expected}")
        with tarfile.open(tarball) as archive:
            archive.extractall(workdir / "unpacked", filter="data")
        package = workdir / "unpacked" / "package"
        found = json.loads((package / "package.json").read_text(encoding="utf-8"))["version"]
        if found != version:
            raise SystemExit(f"the tarball holds {PACKAGE} {found}, not {version}")
        dist = package / "dist"
        names = _select(dist)
        old = json.loads(MANIFEST.read_text(encoding="utf-8")) if MANIFEST.exists() else None
        if old:
            shutil.rmtree(vendor_dir(old["version"]), ignore_errors=True)
        target = vendor_dir(version)
        shutil.rmtree(target, ignore_errors=True)
        for name in names:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(dist / name, target / name)
    manifest = {
        "package": PACKAGE,
        "version": version,
        "integrity": integrity,
        "path": target.relative_to(ROOT).as_posix(),
        "files": {name: sha256(target / name) for name in names},
    }
    MANIFEST.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if old and old["version"] != version:
        _rewrite_templates(old["version"], version)
    return manifest


def _rewrite_templates(old: str, new: str) -> None:
    needle, replacement = f"vendor/{PACKAGE}-{old}/", f"vendor/{PACKAGE}-{new}/"
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        if needle in text:
            template.write_text(text.replace(needle, replacement), encoding="utf-8")


def check() -> list[str]:
    """Problems with the vendored copy: files missing, changed or not in the manifest."""
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    target = ROOT / manifest["path"]
    problems = []
    for name, digest in sorted(manifest["files"].items()):
        path = target / name
        if not path.is_file():
            problems.append(f"missing: {name}")
        elif sha256(path) != digest:
            problems.append(f"changed: {name}")
    on_disk = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    problems.extend(f"not in the manifest: {name}" for name in sorted(on_disk - set(manifest["files"])))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("update", help="vendor a version with npm pack")
    up.add_argument("version")
    up.add_argument("--tarball", type=Path, help="a tarball from `npm pack` instead of fetching one")
    commands.add_parser("check", help="verify the vendored files against the manifest")
    args = parser.parse_args(argv)
    if args.command == "update":
        manifest = update(args.version, args.tarball)
        print(f"vendored {PACKAGE} {manifest['version']}: {len(manifest['files'])} files in {manifest['path']}")
        return 0
    problems = check()
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
