"""Safe YAML reading with a location for every value.

PyYAML's loaders keep the last of two duplicate keys and forget where values came from. This
module builds plain Python values straight from the parser's event stream (libyaml when present),
so it can reject duplicate keys, record `file:line:column` for every mapping key and list item,
and refuse hostile input quickly: alias bombs (an expansion budget of values and of characters),
deep nesting (a depth limit), huge, binary or non-UTF-8 files. Only the YAML core types are
produced (str, int, float, bool, None, list, dict); timestamps stay strings, other tags are
refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..core.visible import visible
from ..errors import ConfigError, Location, Problem
from . import readfile

Path_ = tuple[str | int, ...]

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 2_000_000
MAX_CHARS = MAX_BYTES  # aliases may not expand the text beyond what the largest file holds

_CORE = "tag:yaml.org,2002:"


@dataclass(frozen=True)
class Document:
    """A parsed YAML document: its data and where each part of it is in the file."""

    file: str
    data: Any
    locations: dict[Path_, Location] = field(repr=False)

    def where(self, path: Path_) -> Location:
        """The location of `path`, or of its nearest parent that has one."""
        path = tuple(path)
        while path:
            loc = self.locations.get(path)
            if loc is not None:
                return loc
            path = path[:-1]
        return self.locations.get((), Location(self.file, 1, 1))


def dotted(path: Path_) -> str:
    """`('agents', 'bot', 'tool_names', 2)` -> `agents.bot.tool_names[2]`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{visible(part)}" if text else visible(part)
    return text or "the document"


def read_text(path: Path, display: str, *, max_bytes: int = MAX_BYTES) -> str:
    """Read a YAML file as text, refusing what is not a reasonable UTF-8 text file.

    Only a regular file is read, never blocking and never more than `max_bytes` (+1): a FIFO,
    a device such as `/dev/zero` or a directory is refused at once (see `readfile`).
    """
    raw = readfile.read_bounded(path, display, max_bytes)
    return decode(raw, display)


def decode(raw: bytes, display: str, what: str = "YAML") -> str:
    """UTF-8 text (a BOM is dropped), or `ConfigError` for binary or non-UTF-8 bytes."""
    if b"\x00" in raw[:8192]:
        raise _one(Location(display), f"looks like a binary file (it contains NUL bytes), "
                                      f"not {what}")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise _one(
            Location(display, line, column), "not valid UTF-8 text; save the file as UTF-8"
        ) from None


def load_file(path: Path, display: str | None = None) -> Document:
    """Read and parse one YAML file into a `Document`."""
    name = visible(display or str(path))
    text = read_text(path, name)
    return parse(text, name)


@dataclass(frozen=True)
class Budget:
    """How much a document may expand to, aliases counted each time they are used."""

    nodes: int = MAX_NODES
    chars: int = MAX_CHARS


def parse(text: str, file: str, budget: Budget = Budget()) -> Document:
    """Parse YAML text into a `Document`, or raise `ConfigError` with one located problem."""
    if not text.strip() or all(
        not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()
    ):
        raise _one(Location(file), "the file is empty: start with `version: 1` and `agents:`")
    builder = _Builder(file, budget)
    loader = _Loader(text)
    try:
        while True:
            event = loader.get_event()
            if isinstance(event, yaml.StreamEndEvent):
                break
            builder.feed(event)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = exc.problem or exc.context or "invalid YAML"
        lines = text.splitlines()
        if mark and mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]:
            reason += " (a tab: YAML indents with spaces only)"
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        raise _one(loc, f"invalid YAML: {visible(reason)}") from None
    except yaml.YAMLError as exc:
        raise _one(Location(file), f"invalid YAML: {visible(str(exc))}") from None
    except RecursionError:
        raise _one(Location(file), f"nesting deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()
    return Document(file, builder.result, builder.locations)


def _one(loc: Location, message: str) -> ConfigError:
    return ConfigError([Problem(loc, message)])


@dataclass
class _Frame:
    """A mapping or sequence being built."""

    container: dict[str, Any] | list[Any]
    path: Path_
    start: yaml.Event
    anchor: str | None
    key: str | None = None
    key_location: Location | None = None
    merging: bool = False  # the key is a plain `<<` (a quoted '<<' is an ordinary key)
    merged: set[str] = field(default_factory=set)
    nodes: int = 1
    chars: int = 0


class _Builder:
    """Turns parser events into Python values, checking as it goes."""

    def __init__(self, file: str, budget: Budget) -> None:
        self.file = file
        self.budget = budget
        self.locations: dict[Path_, Location] = {}
        self.result: Any = None
        self._documents = 0
        self._nodes = 0
        self._chars = 0
        self._anchors: dict[str, tuple[Any, int, int]] = {}  # value, nodes, characters
        self._stack: list[_Frame] = []
        self._resolver = yaml.resolver.Resolver()
        self._constructor = yaml.constructor.SafeConstructor()

    def _loc(self, event: yaml.Event) -> Location:
        mark = event.start_mark
        return Location(self.file, mark.line + 1, mark.column + 1)

    def _fail(self, event: yaml.Event, message: str) -> ConfigError:
        return _one(self._loc(event), message)

    def _count(self, event: yaml.Event, nodes: int, chars: int = 0) -> None:
        self._nodes += nodes
        self._chars += chars
        if self._nodes > self.budget.nodes:
            raise self._fail(event, f"the document expands to more than {self.budget.nodes} "
                                    "values (an alias bomb?)")
        if self._chars > self.budget.chars:
            raise self._fail(event, f"the document expands to more than {self.budget.chars} "
                                    "characters (an alias bomb?)")
        for frame in self._stack:
            frame.nodes += nodes
            frame.chars += chars

    def _awaiting_key(self) -> bool:
        if not self._stack:
            return False
        frame = self._stack[-1]
        return isinstance(frame.container, dict) and frame.key is None

    def feed(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.DocumentStartEvent):
            self._documents += 1
            if self._documents > 1:
                raise self._fail(event, "expected one YAML document, found a second `---`")
        elif isinstance(event, yaml.ScalarEvent):
            self._count(event, 1, len(event.value))
            if self._awaiting_key():
                self._set_key(event)
                return
            value = self._scalar(event)
            if event.anchor:
                self._anchors[event.anchor] = (value, 1, len(event.value))
            self._place(event, value)
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in self._anchors:
                raise self._fail(event, f"unknown alias *{visible(event.anchor)}")
            if self._awaiting_key():
                raise self._fail(event, "an alias cannot be used as a mapping key")
            value, nodes, chars = self._anchors[event.anchor]
            self._count(event, nodes, chars)
            self._place(event, value)
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            is_seq = isinstance(event, yaml.SequenceStartEvent)
            self._check_tag(event, "seq" if is_seq else "map")
            if self._awaiting_key():
                raise self._fail(event, "a mapping key must be a plain value, not a collection")
            if len(self._stack) >= MAX_DEPTH:
                raise self._fail(event, f"nesting deeper than {MAX_DEPTH} levels")
            self._count(event, 1)
            container: Any = [] if is_seq else {}
            self._stack.append(_Frame(container, self._child_path(), event, event.anchor))
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            frame = self._stack.pop()
            if frame.anchor:
                self._anchors[frame.anchor] = (frame.container, frame.nodes, frame.chars)
            self._place(frame.start, frame.container)

    def _child_path(self) -> Path_:
        if not self._stack:
            return ()
        frame = self._stack[-1]
        if isinstance(frame.container, list):
            return (*frame.path, len(frame.container))
        return (*frame.path, frame.key or "")

    def _set_key(self, event: yaml.ScalarEvent) -> None:
        frame = self._stack[-1]
        if event.tag not in (None, "!", _CORE + "str"):
            raise self._fail(event, f"a mapping key must be text, not {visible(event.tag)}")
        if event.value == "" and event.implicit[0]:
            raise self._fail(event, "a mapping key cannot be empty")
        frame.key, frame.key_location = event.value, self._loc(event)
        frame.merging = event.value == "<<" and event.implicit[0]

    def _place(self, event: yaml.Event, value: Any) -> None:
        loc = self._loc(event)
        if not self._stack:
            self.result = value
            self.locations[()] = loc
            return
        frame = self._stack[-1]
        container = frame.container
        if isinstance(container, list):
            self.locations[(*frame.path, len(container))] = loc
            container.append(value)
            return
        key, key_loc = frame.key or "", frame.key_location or loc
        frame.key = frame.key_location = None
        if frame.merging:
            frame.merging = False
            self._merge(event, frame, value)
            return
        if key in container and key not in frame.merged:
            first = self.locations.get((*frame.path, key))
            where = f" (first at line {first.line})" if first else ""
            raise _one(key_loc, f"duplicate key '{visible(key)}'{where}: YAML would keep only "
                                "the last")
        frame.merged.discard(key)
        container[key] = value
        self.locations[(*frame.path, key)] = key_loc

    def _merge(self, event: yaml.Event, frame: _Frame, value: Any) -> None:
        assert isinstance(frame.container, dict)
        for source in value if isinstance(value, list) else [value]:
            if not isinstance(source, dict):
                raise self._fail(event, "`<<` merges only mappings")
            for key, item in source.items():
                if key not in frame.container:
                    frame.container[key] = item
                    frame.merged.add(key)

    def _check_tag(self, event: yaml.Event, kind: str) -> None:
        tag = getattr(event, "tag", None)
        if tag and tag not in ("!", _CORE + kind):
            raise self._fail(event, f"YAML tag {visible(tag)} is not supported here")

    def _scalar(self, event: yaml.ScalarEvent) -> Any:
        tag = event.tag
        if tag in (None, "!"):
            if tag == "!" or not event.implicit[0]:
                return event.value
            tag = self._resolver.resolve(yaml.ScalarNode, event.value, event.implicit)
        builder = _SCALARS.get(tag)
        if builder is None:
            raise self._fail(event, f"YAML tag {visible(tag)} is not supported here")
        try:
            return builder(self._constructor, yaml.ScalarNode(tag, event.value))
        except (ValueError, yaml.constructor.ConstructorError) as exc:
            frame = self._stack[-1] if self._stack else None
            secret = frame is not None and "engine_key" in (*frame.path, frame.key)
            shown = "the value" if secret else f"'{visible(event.value)}'"  # never an engine_key
            if isinstance(exc, _BeyondFloat64):
                raise self._fail(event, f"{shown} is beyond a 64-bit float, the largest number "
                                 "VoIPBin can store") from None
            raise self._fail(event, f"{shown} is not a valid {tag[len(_CORE):]}") from None


class _BeyondFloat64(ValueError):
    """An integer no JSON number of the platform can hold (it keeps them as float64)."""


def _int(constructor: Any, node: yaml.ScalarNode) -> int:
    value: int = constructor.construct_yaml_int(node)
    try:
        float(value)
    except OverflowError:
        raise _BeyondFloat64 from None
    return value


def _float(constructor: Any, node: yaml.ScalarNode) -> float:
    value = constructor.construct_yaml_float(node)
    if not math.isfinite(value):
        raise ValueError("not finite")
    return value


_SCALARS: dict[str, Callable[[Any, yaml.ScalarNode], Any]] = {
    _CORE + "str": lambda c, n: n.value,
    _CORE + "null": lambda c, n: None,
    _CORE + "bool": lambda c, n: c.construct_yaml_bool(n),
    _CORE + "int": _int,
    _CORE + "float": _float,
    _CORE + "timestamp": lambda c, n: n.value,
    _CORE + "merge": lambda c, n: n.value,
    _CORE + "value": lambda c, n: n.value,
}
