"""`${env:NAME}` and `${env:NAME:-default}` in desired-state strings.

Expansion happens after parsing, so an environment value is always plain text and never YAML,
and it is never expanded again. The grammar, read left to right:

- `$${env:` is the literal text `${env:`, whatever follows it (this is exactly what `export`
  writes for a live `${env:`, so an exported file reads back unchanged);
- `${env:NAME}` is the variable's value; a variable that is set but empty is set;
- `${env:NAME:-default}` is the value, or `default` when the variable is unset. The default runs
  to the matching `}` and may itself hold references (`${env:A:-${env:B:-x}}`: A, else B, else
  x), up to `MAX_NESTING` deep; a reference inside an unused default is never looked up;
- any other `${...}` (VoIPBin's own prompt variables, for instance) is left alone.

A malformed reference (`${env:BAD-NAME}`, `${env:}`, `${env:A` never closed) is an error, and so
is a missing variable without a default (a warning with `missing_ok`). Messages never quote an
environment value: strings that took text from the environment are listed in `from_env`, the
values themselves in `env_values` (for redaction).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.catalog import SENSITIVE_FIELDS
from ..core.visible import visible
from ..errors import Problem
from .yamlsrc import Document, Path_, dotted

MAX_NESTING = 8
_OPEN = "${env:"
_ESCAPE = "$" + _OPEN
_TOP = re.compile(r"\$?\$\{env:")  # an escape or a reference
_IN_DEFAULT = re.compile(r"\$?\$\{env:|\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_USAGE = "use ${env:NAME} or ${env:NAME:-default} (write $${env: for the literal text)"


class _Malformed(Exception):
    """A reference that cannot be read; the rest of the string is not expanded."""


@dataclass
class _Run:
    """What expanding one string found."""

    env: Mapping[str, str]
    missing: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)
    used: dict[str, str] = field(default_factory=dict)  # variable name -> the value taken
    errors: list[str] = field(default_factory=list)
    references: int = 0  # valid references read (used or not)


def _shown(text: str, start: int, end: int) -> str:
    piece = text[start:end]
    if len(piece) > 60:
        piece = piece[:57] + "..."
    return f"'{visible(piece)}'"


def _reference(text: str, start: int, run: _Run, depth: int, active: bool) -> tuple[str, int]:
    """Read the reference at `text[start:]` (it starts with `${env:`); its value and the end."""
    pos = start + len(_OPEN)
    name_match = _NAME.match(text, pos)
    if name_match is not None:
        name, pos = name_match.group(), name_match.end()
        if text.startswith("}", pos):
            run.references += 1
            return _resolve(name, None, run, active), pos + 1
        if text.startswith(":-", pos):
            if depth >= MAX_NESTING:
                run.errors.append(f"{_shown(text, start, start + 40)}: references nested more "
                                  f"than {MAX_NESTING} deep in defaults")
                raise _Malformed
            default, pos = _default(text, pos + 2, run, depth, active and name not in run.env)
            run.references += 1
            return _resolve(name, default, run, active), pos
    close = text.find("}", start)
    if close < 0:
        run.errors.append(f"{_shown(text, start, len(text))} is not closed: end it with `}}`; "
                          + _USAGE)
        raise _Malformed
    run.errors.append(f"{_shown(text, start, close + 1)} is not a valid reference: {_USAGE}")
    return "", close + 1


def _default(text: str, pos: int, run: _Run, depth: int, active: bool) -> tuple[str, int]:
    """Read a default up to its matching `}`; its value and the position after the `}`."""
    start = pos - len(":-")
    out: list[str] = []
    while True:
        match = _IN_DEFAULT.search(text, pos)
        if match is None:
            run.errors.append(f"{_shown(text, text.rfind(_OPEN, 0, start), len(text))} is not "
                              "closed: end it with `}`; " + _USAGE)
            raise _Malformed
        out.append(text[pos:match.start()])
        token = match.group()
        if token == "}":
            return "".join(out), match.end()
        if token == _ESCAPE:
            out.append(_OPEN)
            pos = match.end()
        else:
            value, pos = _reference(text, match.start(), run, depth + 1, active)
            out.append(value)


def _resolve(name: str, default: str | None, run: _Run, active: bool) -> str:
    if name in run.env:
        value = run.env[name]
        if active:
            run.values.append(value)
            run.used[name] = value
        return value
    if default is not None:
        return default
    if active:
        run.missing.append(name)
    return ""


def _expand(text: str, env: Mapping[str, str]) -> tuple[str, _Run]:
    run = _Run(env)
    if _OPEN not in text:
        return text, run
    out: list[str] = []
    pos = 0
    try:
        while (match := _TOP.search(text, pos)) is not None:
            out.append(text[pos:match.start()])
            if match.group() == _ESCAPE:
                out.append(_OPEN)
                pos = match.end()
            else:
                value, pos = _reference(text, match.start(), run, 1, True)
                out.append(value)
    except _Malformed:  # the string stays as written: nothing was taken, nothing is missing
        run.missing.clear()
        run.values.clear()
        run.used.clear()
        return text, run
    out.append(text[pos:])
    return "".join(out), run


def expand_text(text: str, env: Mapping[str, str]) -> tuple[str, list[str], bool]:
    """Expand one string; return it, the names of missing variables, and whether anything
    came from the environment. (Malformed references are reported by `expand`.)"""
    expanded, run = _expand(text, env)
    return expanded, run.missing, bool(run.values)


def has_reference(text: str) -> bool:
    """Whether `text` holds a `${env:...}` reference (used or not), not only escapes."""
    return _expand(text, {})[1].references > 0


def takes_env(text: str, env: Mapping[str, str]) -> bool:
    """Whether expanding `text` substitutes any environment value (a default does not count)."""
    return bool(_expand(text, env)[1].values)


class PathSet:
    """Document paths of strings that expansion marked. A container shared through YAML aliases
    is walked once; its other paths map to the first."""

    def __init__(self) -> None:
        self.paths: set[Path_] = set()
        self.aliases: dict[Path_, Path_] = {}

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, tuple):
            return False
        for _ in range(64):
            if path in self.paths:
                return True
            for cut in range(len(path), 0, -1):
                original = self.aliases.get(path[:cut])
                if original is not None:
                    path = original + path[cut:]
                    break
            else:
                return False
        return False


@dataclass(frozen=True)
class Expanded:
    """A document's data with every string expanded, and what the expansion found."""

    data: Any
    problems: list[Problem]
    from_env: frozenset[str]  # whole strings that took text from the environment: never quote
    env_values: frozenset[str]  # every value substituted from the environment
    env_used: Mapping[str, str]  # variable name -> the value substituted (no defaults, no "")
    # Strings whose value is not known (a variable was missing, a reference malformed): later
    # checks skip them, as the problem was reported already.
    unresolved: PathSet
    took_env: PathSet  # strings that took text from the environment


def expand(doc: Document, env: Mapping[str, str], *, missing_ok: bool = False) -> Expanded:
    """A copy of `doc.data` with every string expanded, and the problems found.

    A mapping or list that YAML aliases share is expanded once and stays shared in the copy, so
    an alias-heavy file costs what its text costs, and its problems are reported once (at the
    first place the shared value appears), not once per alias. With `missing_ok` a missing
    variable is a warning and expands to "" (for offline checks without the secrets at hand).
    """
    problems: list[Problem] = []
    from_env: set[str] = set()
    values: set[str] = set()
    used: dict[str, str] = {}
    unresolved, took_env = PathSet(), PathSet()
    done: dict[int, tuple[Any, Path_]] = {}  # id of a container expanded -> its copy, its path

    def walk(value: Any, path: Path_) -> Any:
        if isinstance(value, str):
            if _OPEN not in value:
                return value
            text, run = _expand(value, env)
            if run.errors:
                if SENSITIVE_FIELDS.intersection(p for p in path if isinstance(p, str)):
                    messages = [f"its ${{env:...}} is not a valid reference: {_USAGE}"]
                else:
                    messages = run.errors
                problems.extend(Problem(doc.where(path), f"{dotted(path)}: {m}")
                                for m in messages)
            if run.values:
                took_env.paths.add(path)
                from_env.add(text)
                values.update(v for v in run.values if v)
                used.update((k, v) for k, v in run.used.items() if v)
            for name in run.missing:
                problems.append(Problem(
                    doc.where(path),
                    f"{dotted(path)}: environment variable {name} is not set "
                    f"(set it, or write ${{env:{name}:-default}})",
                    "warning" if missing_ok else "error",
                ))
            if run.errors or run.missing:
                unresolved.paths.add(path)
            return text
        if isinstance(value, dict | list):
            seen = done.get(id(value))
            if seen is not None:
                if seen[1] != path:
                    unresolved.aliases.setdefault(path, seen[1])
                    took_env.aliases.setdefault(path, seen[1])
                return seen[0]
            copy: Any = {} if isinstance(value, dict) else []
            done[id(value)] = (copy, path)
            if isinstance(value, dict):
                for k, v in value.items():
                    copy[k] = walk(v, (*path, k))
            else:
                copy.extend(walk(v, (*path, i)) for i, v in enumerate(value))
            return copy
        return value

    data = walk(doc.data, ())
    return Expanded(data, problems, frozenset(from_env), frozenset(values), used, unresolved,
                    took_env)
