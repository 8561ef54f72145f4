"""Checks on rendered pages shared by the tests."""

from __future__ import annotations

import re


def assert_error_links_resolve(html: str) -> list[str]:
    """Every link of the page's error summary leads to exactly one element of the
    page (GOV.UK pattern: the summary's links move focus to the field). Returns the
    link targets, so a test can also say which fields they name."""
    summary = re.search(r'<div class="error-summary".*?</div>', html, re.S)
    assert summary, "the page has no error summary"
    targets = re.findall(r'href="#([^"]+)"', summary.group(0))
    assert targets, "the error summary links nowhere"
    for target in targets:
        found = len(re.findall(rf'\bid="{re.escape(target)}"', html))
        assert found == 1, f'#{target}: {found} elements with that id'
    return targets
