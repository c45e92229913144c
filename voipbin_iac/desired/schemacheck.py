"""JSON Schema checks with messages people can act on, each at a `file:line:column`.

jsonschema's own messages quote whole instances (a secret among them) and speak in schema terms;
this module turns each error into one short sentence about the field, with a "did you mean" for
near misses, and places it with the document's locations. Schemas ship inside the package.

`pattern` is checked as JSON Schema means it (ECMA-262: `$` is the end of the text). Python's
`re` lets `$` match before a final newline, which let `rag_id: |` (a UUID plus a newline, which
VoIPBin silently drops) and an agent key `"bot\n"` through.
Valid data is recognised by the schema compiled to plain Python (`fastschema`, once per
schema); jsonschema is imported and run only when that cannot vouch for the data.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Container, Iterable, Iterator
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from ..core.catalog import ENGINE_MODELS, ENGINE_VENDORS, SENSITIVE_FIELDS
from ..core.visible import visible
from ..errors import Problem
from .fastschema import Check, compile_schema, matches
from .yamlsrc import Document, Path_, dotted

if TYPE_CHECKING:
    import jsonschema

_SENSITIVE = SENSITIVE_FIELDS


@cache
def schema_text(name: str) -> str:
    """The text of a packaged schema (`agents` or `manifest`)."""
    return resources.files("voipbin_iac").joinpath(f"schemas/{name}.schema.json").read_text()


@cache
def validator(name: str) -> Any:
    """A compiled validator for a packaged schema (Draft 2020-12, strict `$`)."""
    return _validator_class()(json.loads(schema_text(name)))


@cache
def _validator_class() -> Any:
    """jsonschema's Draft 2020-12 validator with ECMA-262's `$` (imported only when needed)."""
    import jsonschema

    def pattern(validator: Any, pattern: str, instance: Any, schema: Any
                ) -> Iterator[jsonschema.ValidationError]:
        if validator.is_type(instance, "string") and not matches(pattern, instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")

    return jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": pattern})


@cache
def fast(name: str) -> Check | None:
    """A packaged schema compiled to plain Python: True means valid (None: not compilable)."""
    return compile_schema(json.loads(schema_text(name)))


def check(name: str, doc: Document, data: Any, from_env: frozenset[str] = frozenset(),
          skip: Container[Path_] = ()) -> list[Problem]:
    """Validate `data` (the document's data, maybe env-expanded) against schema `name`.

    Strings in `from_env` came from the environment and may be secrets: messages describe
    them, never quote them. Errors at a path in `skip` (a value whose `${env:...}` could not be
    expanded, already reported) are left out.
    """
    quick = fast(name)
    if quick is not None and quick(data):
        return []
    problems: list[Problem] = []
    for error in validator(name).iter_errors(data):
        if tuple(error.absolute_path) in skip:
            continue
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
    return f"'{visible(text[:60])}{'...' if len(text) > 60 else ''}'"


def _model_hint(value: Any) -> str:
    """"Did you mean" for an `engine_model` whose vendor VoIPBin does not accept."""
    if not isinstance(value, str):
        return ""
    vendor, dot, model = value.partition(".")
    if not dot:
        known = [m for m in ENGINE_MODELS if m.partition(".")[2] == value]
        return f" (did you mean '{known[0]}'?)" if known else ""
    if vendor in ENGINE_VENDORS:
        return ""
    close = difflib.get_close_matches(vendor.lower(), sorted(ENGINE_VENDORS), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}.{visible(model[:40])}'?)" if close else ""


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
        return [Problem(doc.where((*path, value)), f"{field}: key '{visible(str(value))}' is not "
                        f"allowed: {schema.get('x-error', error.message)}")]
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
        env = isinstance(value, str) and value in from_env  # no hint derived from a secret
        if isinstance(value, str) and value and (env or not _suggest(value, expected)):
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
        hint = ""
        if path and path[-1] == "engine_model" and value not in from_env:
            hint = _model_hint(value)
        return [Problem(where, f"{field}: {_show(path, value, from_env)} {reason}{hint}")]
    if kind == "required":
        missing = [r for r in expected if isinstance(value, dict) and r not in value]
        start = " (start the file with `version: 1`)" if path == () else ""
        return [Problem(where, f"{field}: missing required field '{m}'{start}")
                for m in missing]
    if kind == "uniqueItems" and isinstance(value, list):
        seen: set[str] = set()
        dups = [_unique_shown(v, from_env) for v in value
                if json.dumps(v) in seen or seen.add(json.dumps(v))]  # type: ignore[func-returns-value]
        return [Problem(where, f"{field}: lists {', '.join(dups)} more than once")]
    if kind in ("minimum", "maximum"):
        word = "at least" if kind == "minimum" else "at most"
        return [Problem(where, f"{field}: must be {word} {expected}, got {value}")]
    if kind == "minLength":
        return [Problem(where, f"{field}: must not be empty")]
    if kind == "maxLength":
        return [Problem(where, f"{field}: longer than {expected} characters")]
    hidden = _SENSITIVE.intersection(p for p in path if isinstance(p, str)) or \
        (isinstance(value, str) and value in from_env)
    return [Problem(where, f"{field}: {'invalid value' if hidden else visible(error.message)}")]


def _unique_shown(value: Any, from_env: frozenset[str]) -> str:
    if isinstance(value, str) and value in from_env:
        return "the value from ${env:...}"
    return visible(json.dumps(value))
