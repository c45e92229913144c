"""Agents: VoIPBin AIs (`/v1.0/ais`), the first kind of resource.

Normal form of the fields: every write field present, blanks as in `catalog.WRITE_FIELDS`,
`rag_id` None when unset (the API shows the zero UUID), `tool_names` a sorted tuple (order does
not matter to the platform), `parameter` as `normal.normal` stores it, `engine_key` a `Secret`
(or None when a response did not carry it). The API omits empty strings, lists and maps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..catalog import FIELD_IMPACT, WRITE_FIELDS, ZERO_UUID
from ..model import AGENT, DesiredResource, FieldChange, LiveResource, ManifestEntry
from ..normal import normal
from ..secret import Secret
from .base import Kind, Refs

_STRINGS = tuple(
    f for f, blank in WRITE_FIELDS.items() if isinstance(blank, str) and f != "engine_key"
)


def canonical(name: str, value: Any) -> Any:
    """The normal form of a (type-checked) value of write field `name`."""
    if value is None:
        return AGENT_KIND.blank(name)
    if name == "engine_key":
        return value if isinstance(value, Secret) else Secret(str(value))
    if name == "type":
        return value or "normal"
    if name == "rag_id":
        return None if value in ("", ZERO_UUID) else str(value).lower()
    if name == "tool_names":
        return tuple(sorted(value))
    if name == "parameter":
        return normal(dict(value))
    return value


def _expect(obj: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = obj.get(name)
    if value is not None and not isinstance(value, kind):
        raise ValueError(f"field '{name}' is {type(value).__name__}, expected {kind}")
    return value


def echoes_engine_key(live: Iterable[LiveResource]) -> bool:
    """Whether VoIPBin shows engine keys in these answers (it does at HEAD).

    It omits an empty key; so where it shows any key, an absent one is empty, not hidden.
    """
    return any(a.kind == AGENT and a.fields.get("engine_key") is not None for a in live)


class AgentKind(Kind):
    name = AGENT
    section = "agents"
    noun = "AI"
    path = "/ais"
    order = 0
    fields = tuple(WRITE_FIELDS)
    impacts = FIELD_IMPACT

    def blank(self, name: str) -> Any:
        if name == "engine_key":
            return Secret("")
        value = WRITE_FIELDS[name]
        if isinstance(value, list):
            return ()
        if isinstance(value, dict):
            return {}
        return value

    def sensitive_fields(self) -> frozenset[str]:
        return frozenset({"engine_key"})

    def from_api(self, obj: Any) -> LiveResource:
        if not isinstance(obj, Mapping):
            raise ValueError(f"expected an AI object, got {type(obj).__name__}")
        ai_id = obj.get("id")
        if not isinstance(ai_id, str) or not ai_id:
            raise ValueError("AI object without an 'id'")
        fields: dict[str, Any] = {}
        for name in _STRINGS:
            fields[name] = canonical(name, _expect(obj, name, str))
        try:
            fields["parameter"] = canonical("parameter", _expect(obj, "parameter", dict))
        except ValueError as exc:
            raise ValueError(f"field 'parameter': {exc}") from None
        fields["rag_id"] = canonical("rag_id", _expect(obj, "rag_id", str))
        tools = _expect(obj, "tool_names", list)
        if tools and not all(isinstance(t, str) for t in tools):
            raise ValueError("field 'tool_names' holds a non-string")
        fields["tool_names"] = canonical("tool_names", tools)
        fields["auto_aicall_audit_enabled"] = bool(_expect(obj, "auto_aicall_audit_enabled",
                                                           bool))
        key = _expect(obj, "engine_key", str)
        fields["engine_key"] = Secret(key) if key else None
        history = _expect(obj, "current_prompt_history_id", str) or ""
        return LiveResource(
            kind=AGENT,
            id=ai_id,
            fields=fields,
            direct_hash=_expect(obj, "direct_hash", str) or "",
            tm_create=_expect(obj, "tm_create", str),
            tm_update=_expect(obj, "tm_update", str),
            tm_delete=_expect(obj, "tm_delete", str),
            customer_id=_expect(obj, "customer_id", str) or "",
            extra={"prompt_history_id": "" if history == ZERO_UUID else history},
        )

    def write_fields(self, desired: DesiredResource, live: LiveResource | None
                     ) -> dict[str, Any]:
        """Normal-form fields for a full-replace write: desired values, live ones where the
        field is in `ignore_changes` (VoIPBin's PUT blanks whatever it is not sent)."""
        fields = dict(desired.fields)
        if live is not None:
            for name in desired.ignore_changes:
                fields[name] = live.fields[name]
        return fields

    def update_problem(self, desired: DesiredResource, live: LiveResource) -> str:
        if "engine_key" in desired.ignore_changes and live.fields.get("engine_key") is None:
            return (f"{desired.key}: engine_key is in ignore_changes, but VoIPBin does not show "
                    "the live key and a PUT replaces every field, so an update would blank it; "
                    "remove engine_key from ignore_changes and set it in the file")
        return ""

    def body(self, desired: DesiredResource, live: LiveResource | None,
             refs: Refs) -> dict[str, Any]:
        return request_body(self.write_fields(desired, live))

    def field_diff(self, name: str, desired: DesiredResource, live: LiveResource,
                   entry: ManifestEntry | None, echoes: bool) -> list[FieldChange] | None:
        if name != "engine_key":
            return None
        change = _key_change(desired.fields["engine_key"].fingerprint,
                             live.fields.get("engine_key"), entry, echoes)
        return [change] if change is not None else []

    def entry(self, live: LiveResource, desired: DesiredResource | None,
              previous: ManifestEntry | None, *, applied: bool, name: str,
              refs: Refs | None = None) -> ManifestEntry:
        """The engine key fingerprint is the live key's when VoIPBin shows it; otherwise the
        desired key's if this run `applied` it (or found it equal); otherwise what was recorded
        before."""
        base = super().entry(live, desired, previous, applied=applied, name=name)
        live_key = live.fields.get("engine_key")
        if live_key is not None:
            key_fp = live_key.fingerprint
        elif applied and desired is not None:
            key_fp = desired.fields["engine_key"].fingerprint
        else:
            key_fp = previous.engine_key_fingerprint if previous else ""
        return ManifestEntry(id=base.id, name=base.name, direct_hash=base.direct_hash,
                             engine_key_fingerprint=key_fp, fingerprint=base.fingerprint,
                             protect=base.protect,
                             prompt_history_id=str(live.extra.get("prompt_history_id", "")))


def request_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of POST/PUT /v1.0/ais for normal-form `fields` (every write field sent)."""
    body: dict[str, Any] = {}
    for name in WRITE_FIELDS:
        value = fields.get(name, AGENT_KIND.blank(name))
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


def _key_change(want: str, have: Any, entry: ManifestEntry | None,
                echoes: bool) -> FieldChange | None:
    if have is not None:
        have_fp = have.fingerprint
    elif echoes:
        have_fp = ""
    elif entry is not None and entry.engine_key_fingerprint:
        have_fp = entry.engine_key_fingerprint
    elif not want:
        return None
    else:
        have_fp = None  # unknown: the platform does not show it and nothing recorded it
    if have_fp == want:
        return None
    return FieldChange("engine_key", have_fp, want, FIELD_IMPACT["engine_key"], sensitive=True)


AGENT_KIND = AgentKind()
