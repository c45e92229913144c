"""Canonical field values: one representation for YAML, API responses and request bodies.

The API omits empty strings, lists and maps, shows an unset `rag_id` as the zero UUID and stores
`tool_names` in the order given. Canonical form: every write field present, blanks as in
`catalog.WRITE_FIELDS`, `rag_id` None when unset, `tool_names` a sorted tuple, `engine_key` a
`Secret` (or None when a response did not carry it). Equal canonical values mean "no change".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from .catalog import WRITE_FIELDS, ZERO_UUID
from .model import LiveAgent
from .secret import Secret

_STRINGS = frozenset(
    f for f, blank in WRITE_FIELDS.items() if isinstance(blank, str) and f != "engine_key"
)


def blank(name: str) -> Any:
    """The value the platform stores for an omitted field, in canonical form."""
    if name == "engine_key":
        return Secret("")
    value = WRITE_FIELDS[name]
    if isinstance(value, list):
        return ()
    if isinstance(value, dict):
        return {}
    return value


def canonical(name: str, value: Any) -> Any:
    """The canonical form of a (type-checked) value of write field `name`."""
    if value is None:
        return blank(name)
    if name == "engine_key":
        return value if isinstance(value, Secret) else Secret(str(value))
    if name == "type":
        return value or "normal"
    if name == "rag_id":
        return None if value in ("", ZERO_UUID) else str(value).lower()
    if name == "tool_names":
        return tuple(sorted(value))
    if name == "parameter":
        return dict(value)
    return value


def _expect(obj: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = obj.get(name)
    if value is not None and not isinstance(value, kind):
        raise ValueError(f"field '{name}' is {type(value).__name__}, expected {kind}")
    return value


def live_from_api(obj: Any) -> LiveAgent:
    """Read an `/ais` object from a response; ValueError if its shape is not the documented one."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"expected an AI object, got {type(obj).__name__}")
    ai_id = obj.get("id")
    if not isinstance(ai_id, str) or not ai_id:
        raise ValueError("AI object without an 'id'")
    fields: dict[str, Any] = {}
    for name in _STRINGS:
        fields[name] = canonical(name, _expect(obj, name, str))
    fields["parameter"] = canonical("parameter", _expect(obj, "parameter", dict))
    fields["rag_id"] = canonical("rag_id", _expect(obj, "rag_id", str))
    tools = _expect(obj, "tool_names", list)
    if tools and not all(isinstance(t, str) for t in tools):
        raise ValueError("field 'tool_names' holds a non-string")
    fields["tool_names"] = canonical("tool_names", tools)
    fields["auto_aicall_audit_enabled"] = bool(_expect(obj, "auto_aicall_audit_enabled", bool))
    key = _expect(obj, "engine_key", str)
    fields["engine_key"] = Secret(key) if key else None
    return LiveAgent(
        id=ai_id,
        fields=fields,
        direct_hash=_expect(obj, "direct_hash", str) or "",
        tm_create=_expect(obj, "tm_create", str),
        tm_update=_expect(obj, "tm_update", str),
        tm_delete=_expect(obj, "tm_delete", str),
    )


def echoes_engine_key(live: Sequence[LiveAgent] | Iterable[LiveAgent]) -> bool:
    """Whether VoIPBin shows engine keys in these answers (it does at HEAD).

    It omits an empty key; so where it shows any key, an absent one is empty, not hidden.
    """
    return any(a.fields.get("engine_key") is not None for a in live)


def request_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of POST/PUT /v1.0/ais for canonical `fields` (every write field sent)."""
    body: dict[str, Any] = {}
    for name in WRITE_FIELDS:
        value = fields.get(name, blank(name))
        if name == "engine_key":
            body[name] = value.reveal() if isinstance(value, Secret) else ""
        elif name == "rag_id":
            if value:
                body[name] = value
        elif name == "tool_names":
            body[name] = list(value)
        else:
            body[name] = value
    return body


def shown(value: Any) -> Any:
    """A value as plans and manifests show it: JSON types, secrets as fingerprints."""
    if isinstance(value, Secret):
        return value.fingerprint
    if isinstance(value, tuple):
        return list(value)
    return value


def content_fingerprint(fields: Mapping[str, Any], ignore: frozenset[str] = frozenset()) -> str:
    """A digest of the write fields (secrets by fingerprint, `ignore` left out), to notice
    changes made elsewhere."""
    data = {name: shown(fields.get(name, blank(name))) for name in WRITE_FIELDS
            if name not in ignore}
    if "engine_key" in data and data["engine_key"] is None:
        data["engine_key"] = ""
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def epoch(stamp: str | None) -> float:
    """An API timestamp (RFC 3339, `Z`) as epoch seconds; 0 when absent or unreadable."""
    if not stamp:
        return 0.0
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
