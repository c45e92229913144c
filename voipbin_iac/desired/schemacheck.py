"""JSON Schema checks with messages people can act on, each at a `file:line:column`.

jsonschema's own messages quote whole instances (a secret among them) and speak in schema terms;
this module turns each error into one short sentence about the field, with a "did you mean" for
near misses, and places it with the document's locations. Schemas ship inside the package.
Valid data is recognised by the schema compiled to plain Python (`fastschema`, once per
schema); jsonschema is imported and run only when that cannot vouch for the data.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from ..core.catalog import SENSITIVE_FIELDS
from ..errors import Problem
from .fastschema import Check, compile_schema
from .yamlsrc import Document, Path_, dotted

if TYPE_CHECKING:
    import jsonschema

_SENSITIVE = SENSITIVE_FIELDS


@cache
def schema_text(name: str) -> str:
    """The text of a packaged schema (`agents` or `manifest`)."""
    return resources.files("voipbin_iac").joinpath(f"schemas/{name}.schema.json").read_text()


@cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    """A compiled validator for a packaged schema."""
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(schema_text(name)))


@cache
def fast(name: str) -> Check | None:
    """A packaged schema compiled to plain Python: True means valid (None: not compilable)."""
    return compile_schema(json.loads(schema_text(name)))


def check(name: str, doc: Document, data: Any,
          from_env: frozenset[str] = frozenset()) -> list[Problem]:
    """Validate `data` (the document's data, maybe env-expanded) against schema `name`.

    Strings in `from_env` came from the environment and may be secrets: messages describe
    them, never quote them.
    """
    quick = fast(name)
    if quick is not None and quick(data):
        return []
    problems: list[Problem] = []
    for error in validator(name).iter_errors(data):
        problems.extend(_problems(error, doc, from_env))
    return problems


def kind_of(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


_EXPECTED = {
    "string": "text", "boolean": "true or false", "object": "a mapping", "array": "a list",
    "number": "a number", "integer": "a whole number",
}


def _suggest(word: Any, choices: Iterable[Any]) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _unknown_hint(path: Path_, extra: str, allowed: Iterable[Any]) -> str:
    if path == ("defaults",) and extra == "name":
        return ": `name` belongs to each agent (it defaults to the agent's key)"
    return _suggest(extra, allowed)


def _show(path: Path_, value: Any, from_env: frozenset[str]) -> str:
    if _SENSITIVE.intersection(p for p in path if isinstance(p, str)):
        return "the value"
    if isinstance(value, str) and value in from_env:
        return "the value from ${env:...}"
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return f"'{text[:60]}{'...' if len(text) > 60 else ''}'"


def _problems(error: jsonschema.ValidationError, doc: Document,
              from_env: frozenset[str]) -> list[Problem]:
    path: Path_ = tuple(error.absolute_path)
    where = doc.where(path)
    field = dotted(path)
    kind, expected, value = error.validator, error.validator_value, error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    if kind == "additionalProperties" and isinstance(value, dict):
        allowed = schema.get("properties", {})
        return [
            Problem(doc.where((*path, extra)), f"{dotted((*path, extra))}: unknown field"
                                               f"{_unknown_hint(path, extra, allowed)}")
            for extra in value if extra not in allowed
        ]
    if "propertyNames" in error.relative_schema_path:
        return [Problem(doc.where((*path, value)), f"{field}: key '{value}' is not allowed: "
                        f"{schema.get('x-error', error.message)}")]
    if kind == "type":
        types = expected if isinstance(expected, list) else [expected]
        want = " or ".join(_EXPECTED.get(t, t) for t in types)
        hint = ""
        if isinstance(value, bool) and "string" in types:
            hint = " (unquoted yes/no/on/off/true/false are booleans in YAML: quote the text)"
        elif isinstance(value, int | float) and "string" in types:
            hint = " (quote it to make it text)"
        got = kind_of(value)
        if _SENSITIVE.intersection(p for p in path if isinstance(p, str)) and \
                isinstance(value, int | float) and not isinstance(value, bool):
            got = "a number"  # not "the number <the secret>"
        return [Problem(where, f"{field}: expected {want}, got {got}{hint}")]
    if kind == "enum":
        if isinstance(value, str) and value and not _suggest(value, expected):
            choices = ", ".join(repr(c) for c in expected if c != "")
            shown = _show(path, value, from_env)
            return [Problem(where, f"{field}: {shown} is not one of: {choices}")]
        return [Problem(where, f"{field}: {_show(path, value, from_env)} is not allowed"
                               f"{_suggest(value, expected)}")]
    if kind == "const":
        got = "" if type(value) is type(expected) else f", not {kind_of(value)}"
        return [Problem(where, f"{field}: must be {json.dumps(expected)}{got}")]
    if kind == "pattern":
        reason = schema.get("x-error", f"does not match {expected}")
        return [Problem(where, f"{field}: {_show(path, value, from_env)} {reason}")]
    if kind == "required":
        missing = [r for r in expected if isinstance(value, dict) and r not in value]
        start = " (start the file with `version: 1`)" if path == () else ""
        return [Problem(where, f"{field}: missing required field '{m}'{start}")
                for m in missing]
    if kind == "uniqueItems" and isinstance(value, list):
        seen: set[str] = set()
        dups = [v for v in map(json.dumps, value) if v in seen or seen.add(v)]  # type: ignore[func-returns-value]
        return [Problem(where, f"{field}: lists {', '.join(dups)} more than once")]
    if kind in ("minimum", "maximum"):
        word = "at least" if kind == "minimum" else "at most"
        return [Problem(where, f"{field}: must be {word} {expected}, got {value}")]
    if kind == "minLength":
        return [Problem(where, f"{field}: must not be empty")]
    if kind == "maxLength":
        return [Problem(where, f"{field}: longer than {expected} characters")]
    sensitive = _SENSITIVE.intersection(p for p in path if isinstance(p, str))
    return [Problem(where, f"{field}: {'invalid value' if sensitive else error.message}")]
