"""The vendored design system (dkfds): the files are the ones the manifest records."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tools import vendor_dkfds

MANIFEST = json.loads(vendor_dkfds.MANIFEST.read_text(encoding="utf-8"))
TARGET = vendor_dkfds.ROOT / MANIFEST["path"]


def test_the_manifest_pins_dkfds_11_2_0_with_the_tarballs_integrity():
    assert MANIFEST["package"] == "dkfds" and MANIFEST["version"] == "11.2.0"
    assert MANIFEST["path"] == "portal/static/vendor/dkfds-11.2.0"
    assert MANIFEST["integrity"].startswith("sha512-")


def test_every_vendored_file_has_the_checksum_in_the_manifest():
    assert vendor_dkfds.check() == []
    for name, digest in MANIFEST["files"].items():
        assert vendor_dkfds.sha256(TARGET / name) == digest, name


def test_the_check_notices_a_changed_file(tmp_path, monkeypatch):
    copy = tmp_path / "dkfds-11.2.0"
    copy.mkdir()
    for name in MANIFEST["files"]:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes((TARGET / name).read_bytes())
    (copy / "js" / "dkfds.min.js").write_text("tampered")
    (copy / "extra.js").write_text("stray")
    manifest = tmp_path / "dkfds.json"
    manifest.write_text(json.dumps({**MANIFEST, "path": str(copy)}))
    monkeypatch.setattr(vendor_dkfds, "MANIFEST", manifest)
    assert vendor_dkfds.check() == ["changed: js/dkfds.min.js", "not in the manifest: extra.js"]


def test_the_dist_layout_is_kept_and_everything_the_css_loads_is_there():
    files = set(MANIFEST["files"])
    for name in ("css/dkfds-borgerdk.min.css", "js/dkfds.min.js", "img/svg-icons/close.svg"):
        assert name in files
    assert any(name.startswith("fonts/IBMPlexSans/") and name.endswith(".woff2") for name in files)
    css = (TARGET / "css" / "dkfds-borgerdk.min.css").read_text(encoding="utf-8")
    for ref in set(re.findall(r"url\(\.\./([^)?#]+)", css)):
        assert ref in files, ref


def test_the_static_route_serves_the_design_system(client):
    response = client.get("/static/vendor/dkfds-11.2.0/css/dkfds-borgerdk.min.css")
    assert response.status_code == 200 and b".header" in response.data
    assert client.get("/static/vendor/dkfds-11.2.0/js/dkfds.min.js").status_code == 200


def test_the_command_line_check_passes():
    result = subprocess.run([sys.executable, "tools/vendor_dkfds.py", "check"], cwd=vendor_dkfds.ROOT)
    assert result.returncode == 0
