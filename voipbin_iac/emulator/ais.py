"""The `/v1.0/ais` handlers: binding, validation and rendering of AI objects.

Binding mirrors Go's JSON binding (fact sheet §1b): a wrong JSON type is 400 `INVALID_JSON_BODY`,
`null` and missing keys leave the zero value, unknown keys are ignored, and `rag_id` is read
with `uuid.FromStringOrNil` (part 2 §D6: a non-UUID is silently dropped). Validation follows
the platform's order, which differs between POST and PUT (part 2 §D2): a bad `engine_model`
vendor, `type`, `tts_type` or `stt_type` is a plain error upstream, so 500 `INTERNAL` naming no
field (part 2 §0); `tool_names` that do not fit the AI's type is 400 `INVALID_TOOL_NAMES`
(part 2 §D1); a RAG of another customer is 403 and an unknown one 500 (part 2 §D6); a prompt
over the column's 65,535 bytes fails the database write, 500 (part 2 §D5).
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from ..core.catalog import (
    AI_TYPES,
    ENGINE_VENDORS,
    PROMPT_MAX_BYTES,
    STT_TYPES,
    TOOL_ALL,
    TOOLS_BY_TYPE,
    TTS_TYPES,
    ZERO_UUID,
)
from .paging import page_body, parse_page
from .protocol import (
    ApiFailure,
    Context,
    Response,
    bad_request,
    internal_error,
    invalid_parameter,
    json_object_body,
    json_response,
    owned,
    parse_uuid,
    path_id,
    permission_denied,
)
from .records import AiFields, AiRecord
from .schema import EmulatorError
from .timefmt import format_time

_STRING_FIELDS = (
    "name", "detail", "type", "engine_model", "engine_key", "init_prompt", "tts_type",
    "tts_voice_id", "stt_type", "stt_language",
)
_VAD_KEYS = ("confidence", "start_secs", "stop_secs", "min_volume")


def _binding_error(key: str, expected: str) -> ApiFailure:
    return bad_request("INVALID_JSON_BODY", "The request body is not valid JSON.",
                       cause=f"{key} must be {expected}")


def _go_number(value: int | float) -> int | float:
    """A JSON number as Go's `interface{}` holds it (float64) and prints it again."""
    number = float(value)  # OverflowError for huge integers, as Go fails on them
    if not math.isfinite(number):
        raise ValueError("number out of range")
    if number.is_integer() and abs(number) < 1e21:
        return int(number)
    return number


def go_any(value: Any) -> Any:
    """A JSON value as a Go `map[string]any` holds and prints it (sorted keys, float64)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return _go_number(value)
    if isinstance(value, list):
        return [go_any(v) for v in value]
    return {key: go_any(value[key]) for key in sorted(value)}


def bind_parameter(body: dict[str, Any]) -> str:
    """`parameter` as canonical JSON text ("{}" when absent); 400 when it is not an object."""
    parameter = body.get("parameter")
    if parameter is not None and not isinstance(parameter, dict):
        raise _binding_error("parameter", "an object")
    try:
        return json.dumps(go_any(parameter or {}), separators=(",", ":"), ensure_ascii=False)
    except (ValueError, OverflowError, RecursionError):
        raise _binding_error("parameter", "an object of representable JSON values") from None


def bind_ai_body(body: dict[str, Any]) -> AiFields:
    """The write fields of a POST/PUT body; omitted or null fields take their zero value
    (`type` stays "" so POST and PUT can each resolve it their way, part 2 §D3)."""
    values: dict[str, Any] = {}
    for key in _STRING_FIELDS:
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            raise _binding_error(key, "a string")
        values[key] = value or ""
    values["parameter_json"] = bind_parameter(body)
    rag_id = body.get("rag_id")
    if rag_id is not None and not isinstance(rag_id, str):
        raise _binding_error("rag_id", "a string")
    values["rag_id"] = parse_uuid(rag_id or "") or ZERO_UUID  # part 2 §D6: FromStringOrNil
    tool_names = body.get("tool_names")
    if tool_names is not None and not (
        isinstance(tool_names, list)
        and all(name is None or isinstance(name, str) for name in tool_names)
    ):
        raise _binding_error("tool_names", "an array of strings")
    values["tool_names"] = tuple(name or "" for name in tool_names or ())
    audit = body.get("auto_aicall_audit_enabled")
    if audit is not None and not isinstance(audit, bool):
        raise _binding_error("auto_aicall_audit_enabled", "a boolean")
    values["auto_aicall_audit_enabled"] = bool(audit)
    _check_vad_config(body.get("vad_config"))  # bound, then dropped by the handler (§D9)
    return AiFields(**values)


def _check_vad_config(vad: Any) -> None:
    if vad is None:
        return
    if not isinstance(vad, dict):
        raise _binding_error("vad_config", "an object")
    for key in _VAD_KEYS:
        value = vad.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise _binding_error(f"vad_config.{key}", "a number")


# The checks of `AM pkg/aihandler/chatbot.go`, one function each; POST and PUT run them in
# different orders (part 2 §D2).

def _check_engine_model(fields: AiFields) -> None:
    vendor, dot, _model = fields.engine_model.partition(".")
    if not dot or vendor not in ENGINE_VENDORS:
        raise internal_error(f"invalid engine model: {fields.engine_model}")


def _check_type(ai_type: str) -> None:
    if ai_type not in AI_TYPES:
        raise internal_error(f"invalid type: {ai_type}")


def _check_tools(ai_type: str, tool_names: tuple[str, ...]) -> None:
    """Part 2 §D1: the whole list is checked against the type's set; `all` fits both."""
    allowed = TOOLS_BY_TYPE.get(ai_type, frozenset({TOOL_ALL}))
    invalid = [name for name in tool_names if name not in allowed]
    if invalid:
        raise bad_request("INVALID_TOOL_NAMES", f"invalid tool_names for type={ai_type}: "
                                                f"[{' '.join(invalid)}] is not allowed")


def _check_tts_stt(fields: AiFields) -> None:
    if fields.tts_type not in TTS_TYPES:
        raise internal_error(f"invalid tts_type: {fields.tts_type}")
    if fields.stt_type not in STT_TYPES:
        raise internal_error(f"invalid stt_type: {fields.stt_type}")


def _check_rag(ctx: Context, rag_id: str) -> None:
    """Part 2 §D6: the API looks the RAG up after the permission check."""
    if rag_id == ZERO_UUID:
        return
    owner = ctx.store.rag_owner(rag_id)
    if owner is None:
        raise internal_error(f"could not validate knowledge base {rag_id}")
    if owner != ctx.customer_id:
        raise permission_denied("knowledge base does not belong to this customer")


def _check_prompt_fits(fields: AiFields) -> None:
    """Part 2 §D5: the `text` column holds 65,535 bytes; the INSERT/UPDATE fails beyond."""
    if len(fields.init_prompt.encode("utf-8")) > PROMPT_MAX_BYTES:
        raise internal_error("init_prompt does not fit the text column (65,535 bytes)")


def validate_create(fields: AiFields) -> AiFields:
    """POST order (part 2 §D2): engine_model, type ("" → normal), tool_names, tts, stt."""
    _check_engine_model(fields)
    ai_type = fields.type or "normal"
    _check_type(ai_type)
    _check_tools(ai_type, fields.tool_names)
    _check_tts_stt(fields)
    return _with_type(fields, ai_type)


def validate_update(fields: AiFields, stored: AiRecord) -> AiFields:
    """PUT order (part 2 §D2): engine_model, tts, stt, then the type ("" keeps the stored one,
    §D3), then tool_names against that type."""
    _check_engine_model(fields)
    _check_tts_stt(fields)
    ai_type = fields.type or stored.fields.type or "normal"
    _check_type(ai_type)
    _check_tools(ai_type, fields.tool_names)
    return _with_type(fields, ai_type)


def _with_type(fields: AiFields, ai_type: str) -> AiFields:
    return dataclasses.replace(fields, type=ai_type)


def render_ai(record: AiRecord, echo_engine_key: bool = True) -> dict[str, Any]:
    """The AI object in the platform's key order, with its omitempty rules (fact sheet §1b)."""
    f = record.fields
    out: dict[str, Any] = {"id": record.id, "customer_id": record.customer_id}

    def put(key: str, value: Any) -> None:
        if value:
            out[key] = value

    put("name", f.name)
    put("detail", f.detail)
    put("type", f.type)
    out["is_insight_active"] = False
    put("engine_model", f.engine_model)
    put("parameter", f.parameter)
    if echo_engine_key:
        put("engine_key", f.engine_key)
    out["rag_id"] = f.rag_id
    put("init_prompt", f.init_prompt)
    out["current_prompt_history_id"] = record.current_prompt_history_id  # part 2 §D4
    put("tts_type", f.tts_type)
    put("tts_voice_id", f.tts_voice_id)
    put("stt_type", f.stt_type)
    put("stt_language", f.stt_language)
    put("auto_aicall_audit_enabled", f.auto_aicall_audit_enabled)
    put("tool_names", list(f.tool_names))
    put("direct_hash", record.direct_hash)  # a deleted AI keeps its dead hash (part 2 §D7)
    out["tm_create"] = format_time(record.tm_create)
    out["tm_update"] = format_time(record.tm_update)
    out["tm_delete"] = format_time(record.tm_delete)
    return out


def ai_not_found() -> ApiFailure:
    return ApiFailure("NOT_FOUND", "AI_NOT_FOUND", "The AI was not found.")


def path_ai_id(ctx: Context) -> str:
    """The AI id of a string-typed path: a malformed or nil one is 400 `INVALID_ID`."""
    return path_id(ctx)


def owned_ai(ctx: Context, ai_id: str) -> AiRecord:
    """The AI, deleted or not, if it exists (404) and is the caller's (403)."""
    return owned(ctx, ctx.store.get_ai(ai_id), ai_not_found)


def _render(ctx: Context, record: AiRecord) -> dict[str, Any]:
    return render_ai(record, ctx.echo_engine_key)


def list_ais(ctx: Context) -> Response:
    page = parse_page(ctx.request)
    records = ctx.store.list_ais(ctx.customer_id, page.before, page.size)
    return json_response(200, page_body(records, lambda r: _render(ctx, r)))


def create_ai(ctx: Context) -> Response:
    fields = bind_ai_body(json_object_body(ctx.request))
    _check_rag(ctx, fields.rag_id)
    fields = validate_create(fields)
    _check_prompt_fits(fields)
    try:
        record = ctx.store.create_ai(ctx.customer_id, fields, ctx.now)
    except EmulatorError as exc:  # no unique direct hash: direct-manager fails, a plain 500
        raise internal_error(str(exc)) from None
    return json_response(200, _render(ctx, record))


def get_ai(ctx: Context) -> Response:
    return json_response(200, _render(ctx, owned_ai(ctx, path_ai_id(ctx))))


def put_ai(ctx: Context) -> Response:
    """Part 2 §D2 order; works on a soft-deleted AI too (§D7), which stays deleted."""
    ai_id = path_ai_id(ctx)
    fields = bind_ai_body(json_object_body(ctx.request))
    record = owned_ai(ctx, ai_id)
    _check_rag(ctx, fields.rag_id)
    fields = validate_update(fields, record)
    _check_prompt_fits(fields)
    updated = ctx.store.replace_ai(record.id, fields, ctx.now)
    if updated is None:
        raise ai_not_found()
    return json_response(200, _render(ctx, updated))


def delete_ai(ctx: Context) -> Response:
    """Soft delete, 200 with the object; repeated, 200 again with `tm_delete` re-stamped
    (part 2 §D7)."""
    record = owned_ai(ctx, path_ai_id(ctx))
    deleted = ctx.store.delete_ai(record.id, ctx.now)
    if deleted is None:
        raise ai_not_found()
    return json_response(200, _render(ctx, deleted))


def regenerate_direct_hash(ctx: Context) -> Response:
    """The path id is uuid-typed: a malformed one is 400 `INVALID_REQUEST_PARAMETER`, the nil
    UUID just finds nothing (fact sheet §3). A deleted AI's direct record is gone, so
    direct-manager fails: 500 (part 2 §D7)."""
    ai_id = parse_uuid(ctx.params[0])
    if ai_id is None:
        raise invalid_parameter("id")
    record = owned_ai(ctx, ai_id)
    try:
        updated = ctx.store.regenerate_direct_hash(record.id, ctx.now)
    except EmulatorError as exc:
        raise internal_error(str(exc)) from None
    if updated is None:
        raise internal_error("the AI has no direct record (deleted)")
    return json_response(200, _render(ctx, updated))
