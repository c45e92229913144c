"""The manifest's own layout: written and read back without PyYAML's general machinery.

A manifest of 10,000 agents is 80,000 lines of `key: value`. The careful reader
(`desired.yamlsrc`: every value with its `file:line:column`, duplicate keys refused) spends
most of a second on it, although nearly every manifest it reads is one this tool wrote itself,
in one fixed layout: the header line, then block mappings indented by two spaces, one `files:`
list, and scalars that are plain or single-quoted on one line. `parse` reads exactly that
layout and nothing else: for anything it does not recognise with certainty (a comment, a
double-quoted or folded scalar, flow collections other than `{}` and `[]`, a tab, a CR, a
duplicate key, a plain scalar YAML would not read as text, true, false or a whole number) it
returns None, and the careful reader takes over, with its located messages. So the two readers
agree on every file `parse` accepts.

`emit` is the writing half: the text PyYAML's emitter (`CSafeDumper`, the manifest's settings)
writes for the same data, made with string joins, when every value is one it is certain how
PyYAML writes (short ASCII text without quotes or `: `, plain or, where YAML would read it as
something else, in single quotes; whole numbers, true and false, empty collections); otherwise
None, and PyYAML writes it. The tests
hold `emit` to PyYAML's text on random manifests.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_LINE = re.compile(r"( *)([A-Za-z0-9_][A-Za-z0-9_.-]*):(?: (.*))?")
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
_RESOLVED_FIRST = frozenset("yYnNtTfFoO~-+0123456789.<=")  # where YAML may read not-text
_STR = "tag:yaml.org,2002:str"
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_ ./:@+=-]*")
_WIDTH = 80  # lines this short are never folded by PyYAML's emitter (width 100)


class _Unsure(Exception):
    """Not this tool's layout, or not certainly: the careful reader decides."""


def parse(text: str, header: str) -> dict[str, Any] | None:
    """The data of a manifest in this tool's own layout (after `header`), or None."""
    if not text.startswith(header) or not text.endswith("\n"):
        return None
    try:
        return _Reader().read(text[len(header):-1].split("\n"))
    except _Unsure:
        return None


class _Reader:
    def __init__(self) -> None:
        self._resolver = yaml.resolver.Resolver()

    def read(self, lines: list[str]) -> dict[str, Any]:
        root: dict[str, Any] = {}
        levels: list[tuple[int, dict[str, Any]]] = [(0, root)]
        opened: tuple[int, dict[str, Any], str] | None = None  # `key:` waiting for its block
        items: list[Any] | None = None  # the `files:` list being read
        for line in lines:
            if line.startswith("- "):
                if items is None:
                    if opened is None or opened[0] != 0 or opened[2] != "files":
                        raise _Unsure
                    items = opened[1][opened[2]] = []
                    opened = None
                items.append(self._scalar(line[2:]))
                continue
            items = None
            match = _LINE.fullmatch(line)
            if match is None:
                raise _Unsure
            indent, key, raw = len(match.group(1)), match.group(2), match.group(3)
            if opened is not None:  # the first line of the block a `key:` opened
                if indent != opened[0] + 2:
                    raise _Unsure
                block: dict[str, Any] = {}
                opened[1][opened[2]] = block
                levels.append((indent, block))
                opened = None
            while levels[-1][0] > indent:
                levels.pop()
            if levels[-1][0] != indent:
                raise _Unsure
            parent = levels[-1][1]
            if key in parent:
                raise _Unsure  # a duplicate key: the careful reader says where
            if raw is None:
                parent[key] = None
                opened = (indent, parent, key)
            else:
                parent[key] = self._scalar(raw)
        if opened is not None:
            raise _Unsure
        return root

    def _scalar(self, raw: str) -> Any:
        if not raw or not raw.isprintable() or raw != raw.strip(" "):
            raise _Unsure
        if raw == "{}":
            return {}
        if raw == "[]":
            return []
        if raw[0] == "'":
            inner = raw[1:-1]
            if len(raw) < 2 or raw[-1] != "'" or "'" in inner.replace("''", ""):
                raise _Unsure
            return inner.replace("''", "'")
        if raw[0] in _INDICATORS or ": " in raw or " #" in raw or raw.endswith(":"):
            raise _Unsure
        if raw[0] not in _RESOLVED_FIRST:
            return raw
        tag = self._resolver.resolve(yaml.ScalarNode, raw, (True, False))
        if tag == _STR:
            return raw
        if raw in ("true", "false"):
            return raw == "true"
        if _INT.fullmatch(raw):
            return int(raw)
        raise _Unsure


def emit(data: dict[str, Any]) -> str | None:
    """PyYAML's block-style text for `data` (a mapping), or None when not certain of it."""
    lines: list[str] = []
    try:
        _Writer(lines).mapping(data, 0)
    except _Unsure:
        return None
    return "\n".join(lines) + "\n"


class _Writer:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self._resolver = yaml.resolver.Resolver()

    def mapping(self, data: dict[str, Any], indent: int) -> None:
        pad = " " * indent
        for key, value in data.items():
            if type(key) is not str or not _LINE.fullmatch(f"{key}:") or self._plain(key) != key:
                raise _Unsure  # (a key YAML would read as a number is quoted: not handled)
            if type(value) is dict and value:
                self.lines.append(f"{pad}{key}:")
                self.mapping(value, indent + 2)
            elif type(value) is list and value and indent == 0:
                self.lines.append(f"{pad}{key}:")  # PyYAML's lists are not indented
                self.lines.extend(f"- {self._scalar(item, 2)}" for item in value)
            else:
                self.lines.append(f"{pad}{key}: {self._scalar(value, indent + len(key) + 2)}")

    def _scalar(self, value: Any, column: int) -> str:
        if value is True or value is False:
            return "true" if value else "false"
        if type(value) is int:
            return str(value)
        if type(value) is dict and not value:
            return "{}"
        if type(value) is list and not value:
            return "[]"
        if type(value) is not str or column + len(value) > _WIDTH:
            raise _Unsure
        return self._plain(value)

    def _plain(self, text: str) -> str:
        """`text` as PyYAML writes it: plain, or in single quotes when YAML would read the
        plain form as something else (`'123'`, `'true'`, `'5e12'`); or _Unsure."""
        if not _PLAIN.fullmatch(text) or text.endswith(" ") or ": " in text \
                or text.endswith(":") or "  " in text:
            raise _Unsure
        if text[0] in _RESOLVED_FIRST and \
                self._resolver.resolve(yaml.ScalarNode, text, (True, False)) != _STR:
            return f"'{text}'"
        return text
