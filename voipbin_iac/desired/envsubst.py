"""`${env:NAME}` and `${env:NAME:-default}` in desired-state strings.

Expansion happens after parsing, so an environment value is always plain text and never YAML.
`$${env:NAME}` stands for a literal `${env:NAME}`. Other `${...}` text (VoIPBin's own prompt
variables, for instance) is left alone. A missing variable without a default is an error that
names the variable and the place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import Problem
from .yamlsrc import Document, Path_, dotted

_REF = re.compile(r"\$(\$?)\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_NAME = re.compile(r"\$\{env:([^}]*)\}")


def has_reference(text: str) -> bool:
    """Whether `text` takes anything from the environment."""
    return any(not m.group(1) for m in _REF.finditer(text))


def expand_text(text: str, env: Mapping[str, str]) -> tuple[str, list[str], bool]:
    """Expand one string; return it, the names of missing variables, and whether anything
    came from the environment."""
    missing: list[str] = []
    used = False

    def replace(match: re.Match[str]) -> str:
        nonlocal used
        escaped, name, default = match.groups()
        if escaped:
            return match.group(0)[1:]
        if name in env:
            used = True
            return env[name]
        if default is not None:
            return default
        missing.append(name)
        return ""

    if "${" not in text:
        return text, missing, used
    return _REF.sub(replace, text), missing, used


def expand(doc: Document, env: Mapping[str, str], *, missing_ok: bool = False
           ) -> tuple[Any, list[Problem], frozenset[str]]:
    """A copy of `doc.data` with every string expanded, the problems found, and the strings
    that took something from the environment (messages must not quote those: secrets).

    A mapping or list that YAML aliases share is expanded once and stays shared in the copy, so
    an alias-heavy file costs what its text costs, and its problems are reported once (at the
    first place the shared value appears), not once per alias. With `missing_ok` a missing
    variable is a warning and expands to "" (for offline checks without the secrets at hand).
    """
    problems: list[Problem] = []
    from_env: set[str] = set()
    done: dict[int, Any] = {}  # id of a container already expanded -> its copy

    def walk(value: Any, path: Path_) -> Any:
        if isinstance(value, str):
            if "${" not in value:
                return value
            for bad in _NAME.findall(value):
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?", bad):
                    shown = "its ${env:...}" if "engine_key" in path else f"'${{env:{bad}}}'"
                    problems.append(Problem(
                        doc.where(path),
                        f"{dotted(path)}: {shown} is not a valid reference: "
                        "use ${env:NAME} or ${env:NAME:-default}",
                    ))
            text, missing, used = expand_text(value, env)
            if used:
                from_env.add(text)
            for name in missing:
                problems.append(Problem(
                    doc.where(path),
                    f"{dotted(path)}: environment variable {name} is not set "
                    f"(set it, or write ${{env:{name}:-default}})",
                    "warning" if missing_ok else "error",
                ))
            return text
        if isinstance(value, dict | list):
            if id(value) not in done:
                done[id(value)] = (
                    {k: walk(v, (*path, k)) for k, v in value.items()}
                    if isinstance(value, dict)
                    else [walk(v, (*path, i)) for i, v in enumerate(value)]
                )
            return done[id(value)]
        return value

    return walk(doc.data, ()), problems, frozenset(from_env)
