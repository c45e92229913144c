"""A JSON Schema compiled once into plain Python checks, for the common case: valid input.

jsonschema takes a tenth of a second to import and about a second to check a manifest or a
desired file of 10,000 agents, all to find nothing wrong. `compile_schema` turns a schema into
one Python function per schema node, once; the function answers only "certainly valid" (True)
or "let jsonschema look" (False). So False is always safe (jsonschema then finds the problems
and words them, or finds none), and True is given only where the keyword's meaning is fully
implemented here. A schema with any keyword this module does not know compiles to None:
jsonschema is then always used. `schemacheck.check` asks here first.

Supported (draft 2020-12 meaning): type, enum, const, pattern, minLength, maxLength, minimum,
maximum, required, properties, additionalProperties, propertyNames, minProperties,
maxProperties, items (a single schema), uniqueItems, $ref to `#/$defs/...`, boolean schemas,
and the annotations (title, description, examples, $schema, $id, $comment, default, x-*).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

_ANNOTATIONS = frozenset({"title", "description", "examples", "$schema", "$id", "$comment",
                          "default", "$defs", "deprecated", "readOnly", "writeOnly"})
_TYPES: dict[str, Check] = {
    "object": lambda v: type(v) is dict,
    "array": lambda v: type(v) is list,
    "string": lambda v: type(v) is str,
    "boolean": lambda v: type(v) is bool,
    "null": lambda v: v is None,
    # 1.0 is an integer to JSON Schema; "certainly valid" is only claimed for a real int
    "integer": lambda v: type(v) is int,
    "number": lambda v: type(v) in (int, float),
}


class Unsupported(Exception):
    """The schema uses something this module does not implement."""


def compile_schema(schema: Any) -> Check | None:
    """A function that returns True only for instances valid against `schema` (None: the
    schema uses a keyword not implemented here)."""
    try:
        return _Compiler(schema).compile(schema)
    except Unsupported:
        return None


def _scalar_equal(value: Any, expected: Any) -> bool:
    """JSON equality where it is plain (strings, numbers, booleans, null; no containers)."""
    if type(expected) in (dict, list) or type(value) in (dict, list):
        return False  # not claimed: jsonschema decides
    if isinstance(expected, bool) or isinstance(value, bool):
        return type(value) is type(expected) and value == expected
    return value == expected and type(value) in (str, int, float, type(None)) \
        and (type(value) is str) == (type(expected) is str)


class _Compiler:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, Mapping):
            raise Unsupported(f"schema {schema!r}")
        checks: list[Check] = []
        for keyword, value in schema.items():
            if keyword in _ANNOTATIONS or keyword.startswith("x-"):
                continue
            if keyword in ("properties", "additionalProperties"):
                continue  # compiled together below
            maker = getattr(self, "_" + keyword.lstrip("$"), None)
            if maker is None:
                raise Unsupported(keyword)
            checks.append(maker(value, schema))
        if "properties" in schema or "additionalProperties" in schema:
            checks.append(self._object(schema))
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(check(v) for check in checks)

    # -- keywords ------------------------------------------------------------------------------

    def _ref(self, ref: Any, schema: Mapping[str, Any]) -> Check:
        if not isinstance(ref, str) or not ref.startswith("#/$defs/") or "/" in ref[8:]:
            raise Unsupported(f"$ref {ref!r}")
        name = ref[8:]
        defs = self.root.get("$defs", {}) if isinstance(self.root, Mapping) else {}
        if name not in defs:
            raise Unsupported(f"$ref {ref!r}")
        if ref not in self.refs:
            self.refs[ref] = lambda v: False  # a placeholder while compiling a recursion
            compiled = self.compile(defs[name])
            self.refs[ref] = compiled
        table = self.refs
        return lambda v: table[ref](v)

    def _type(self, expected: Any, schema: Mapping[str, Any]) -> Check:
        names = expected if isinstance(expected, list) else [expected]
        if not names or any(n not in _TYPES for n in names):
            raise Unsupported(f"type {expected!r}")
        tests = [_TYPES[n] for n in names]
        return tests[0] if len(tests) == 1 else (lambda v: any(t(v) for t in tests))

    def _enum(self, values: Any, schema: Mapping[str, Any]) -> Check:
        if not isinstance(values, list):
            raise Unsupported("enum")
        strings = frozenset(v for v in values if type(v) is str)
        others = [v for v in values if type(v) is not str]
        return lambda v: (v in strings if type(v) is str else
                          any(_scalar_equal(v, e) for e in others))

    def _const(self, value: Any, schema: Mapping[str, Any]) -> Check:
        return lambda v: _scalar_equal(v, value)

    def _pattern(self, pattern: Any, schema: Mapping[str, Any]) -> Check:  # ECMA-262 `$`
        try:
            re.compile(pattern)
        except (re.error, TypeError):
            raise Unsupported(f"pattern {pattern!r}") from None
        return lambda v: type(v) is not str or matches(pattern, v)

    def _minLength(self, n: Any, schema: Mapping[str, Any]) -> Check:
        return lambda v: type(v) is not str or len(v) >= n

    def _maxLength(self, n: Any, schema: Mapping[str, Any]) -> Check:
        return lambda v: type(v) is not str or len(v) <= n

    def _minimum(self, n: Any, schema: Mapping[str, Any]) -> Check:
        return lambda v: type(v) not in (int, float) or v >= n

    def _maximum(self, n: Any, schema: Mapping[str, Any]) -> Check:
        return lambda v: type(v) not in (int, float) or v <= n

    def _exclusiveMinimum(self, n: Any, schema: Mapping[str, Any]) -> Check:
        return lambda v: type(v) not in (int, float) or v > n

    def _exclusiveMaximum(self, n: Any, schema: Mapping[str, Any]) -> Check:
        return lambda v: type(v) not in (int, float) or v < n

    def _required(self, names: Any, schema: Mapping[str, Any]) -> Check:
        wanted = tuple(names)
        return lambda v: type(v) is not dict or all(n in v for n in wanted)

    def _minProperties(self, n: Any, schema: Mapping[str, Any]) -> Check:
        return lambda v: type(v) is not dict or len(v) >= n

    def _maxProperties(self, n: Any, schema: Mapping[str, Any]) -> Check:
        return lambda v: type(v) is not dict or len(v) <= n

    def _propertyNames(self, sub: Any, schema: Mapping[str, Any]) -> Check:
        check = self.compile(sub)
        return lambda v: type(v) is not dict or all(check(k) for k in v)

    def _items(self, sub: Any, schema: Mapping[str, Any]) -> Check:
        if "prefixItems" in schema:
            raise Unsupported("prefixItems")
        check = self.compile(sub)
        return lambda v: type(v) is not list or all(check(i) for i in v)

    def _minItems(self, n: Any, schema: Mapping[str, Any]) -> Check:
        return lambda v: type(v) is not list or len(v) >= n

    def _maxItems(self, n: Any, schema: Mapping[str, Any]) -> Check:
        return lambda v: type(v) is not list or len(v) <= n

    def _uniqueItems(self, unique: Any, schema: Mapping[str, Any]) -> Check:
        if not unique:
            return lambda v: True
        # Only lists of text are claimed (1 and true are different items to JSON Schema).
        return lambda v: type(v) is not list or (
            all(type(i) is str for i in v) and len(set(v)) == len(v))

    def _object(self, schema: Mapping[str, Any]) -> Check:
        if "patternProperties" in schema:
            raise Unsupported("patternProperties")
        props = {name: self.compile(sub) for name, sub in schema.get("properties", {}).items()}
        extra_schema = schema.get("additionalProperties", True)
        extra = None if extra_schema is True else self.compile(extra_schema)

        def check(v: Any) -> bool:
            if type(v) is not dict:
                return True
            for key, item in v.items():
                known = props.get(key)
                if known is not None:
                    if not known(item):
                        return False
                elif extra is not None and not extra(item):
                    return False
            return True

        return check


def matches(pattern: str, text: str) -> bool:
    """`pattern` as JSON Schema means it (ECMA-262): searched, and a `$` at its end is the very
    end of the text. Python's `re` also lets `$` match before a final newline, which would let
    `rag_id: |` (a UUID plus a newline, which VoIPBin silently drops) and a key `"bot\n"`
    through."""
    found = re.search(pattern, text)
    return found is not None and (not pattern.endswith("$") or found.end() == len(text))
