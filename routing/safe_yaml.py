"""The one way Indgang reads YAML that a user wrote (rule sets, decision and lead rules,
catalogue imports).

``SafeLoader`` refuses anchors and aliases while composing, so an alias bomb is refused
before anything is expanded; it caps the nesting depth (no ``RecursionError``) and
turns an impossible date (``2026-02-30``) into a YAML error instead of a ``ValueError``.
``load`` also caps the source's size. Error messages name the problem and its line,
never a value read from the document.
"""

from __future__ import annotations

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

# A rule file is tens of kilobytes; 2 MB is far above any real one (a catalogue import
# passes its own, larger cap).
MAX_SOURCE_BYTES = 2 * 1024 * 1024
# Rule files nest a few levels (conditions of conditions); 64 is far above any real one.
MAX_DEPTH = 64


class UnsafeYAMLError(yaml.YAMLError):
    """The source is refused before it is read (too large)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = None


class SafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` without anchors and aliases, with a depth cap and checked
    dates."""

    _depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise ComposerError(None, None, "aliases (*name) are not allowed", event.start_mark)
        if getattr(event, "anchor", None) is not None:
            raise ComposerError(None, None, "anchors (&name) are not allowed", event.start_mark)
        if self._depth >= MAX_DEPTH:
            raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            raise ConstructorError(None, None, "not a real date or time (YYYY-MM-DD)", node.start_mark) from None


SafeLoader.add_constructor("tag:yaml.org,2002:timestamp", SafeLoader.construct_yaml_timestamp)


def check_size(text: str | bytes, max_bytes: int = MAX_SOURCE_BYTES) -> None:
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise UnsafeYAMLError(f"larger than {max_bytes // 1024} KB, the most accepted")


def load(text: str | bytes, loader: type[SafeLoader] = SafeLoader, max_bytes: int = MAX_SOURCE_BYTES):
    """The YAML document ``text`` read with ``loader`` (``SafeLoader`` or a subclass);
    raises ``yaml.YAMLError`` for a source too large, not YAML, or refused."""
    if not issubclass(loader, SafeLoader):
        raise TypeError("loader must be a routing.safe_yaml.SafeLoader")
    check_size(text, max_bytes)
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - loader is a SafeLoader
    except RecursionError:
        raise UnsafeYAMLError("nested too deeply") from None


class _NoAliasDumper(yaml.SafeDumper):
    def ignore_aliases(self, data):
        return True


def dump(data, **options) -> str:
    """``data`` as YAML that ``load`` reads back: a value used twice is written twice,
    never as an anchor and alias."""
    return yaml.dump(data, Dumper=_NoAliasDumper, **options)
