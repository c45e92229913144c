"""The `/v1.0/ais` handlers: binding, validation and rendering of AI objects (fact sheet §1b).

Binding mirrors Go's JSON binding: a wrong JSON type is 400 `INVALID_JSON_BODY`, `null` and
missing keys leave the zero value, unknown keys are ignored. Validation then follows the
platform's order and answers: a bad `engine_model` vendor, `type`, `tts_type` or `stt_type`
is 500 `INTERNAL` (an untyped error upstream), bad `tool_names` is 400 `INVALID_TOOL_NAMES`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..core.catalog import AI_TYPES, ENGINE_VENDORS, STT_TYPES, TOOL_NAMES, TTS_TYPES, ZERO_UUID
from .paging import page_body, parse_page
from .protocol import (
    ApiFailure,
    Context,
    Response,
    bad_request,
    json_object_body,
    json_response,
    parse_uuid,
    permission_denied,
)
from .records import AiFields, AiRecord
from .timefmt import format_time

_STRING_FIELDS = (
    "name", "detail", "type", "engine_model", "engine_key", "init_prompt", "tts_type",
    "tts_voice_id", "stt_type", "stt_language",
)
_VAD_KEYS = ("confidence", "start_secs", "stop_secs", "min_volume")


def _binding_error(key: str, expected: str) -> ApiFailure:
    return bad_request("INVALID_JSON_BODY", f"The field {key} must be {expected}.")


def internal_error() -> ApiFailure:
    """The platform's answer to an untyped upstream error: no field is named."""
    return ApiFailure("INTERNAL", "INTERNAL_ERROR", "An internal error occurred.")


def _go_number(value: int | float) -> int | float:
    """A JSON number as Go's `interface{}` holds it (float64) and prints it again."""
    number = float(value)  # OverflowError for huge integers, as Go fails on them
    if not math.isfinite(number):
        raise ValueError("number out of range")
    if number.is_integer() and abs(number) < 1e21:
        return int(number)
    return number


def _go_any(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return _go_number(value)
    if isinstance(value, list):
        return [_go_any(v) for v in value]
    return {key: _go_any(value[key]) for key in sorted(value)}


def bind_ai_body(body: dict[str, Any]) -> AiFields:
    """The write fields of a POST/PUT body; omitted or null fields take their zero value."""
    values: dict[str, Any] = {}
    for key in _STRING_FIELDS:
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            raise _binding_error(key, "a string")
        values[key] = value or ""
    values["type"] = values["type"] or "normal"
    parameter = body.get("parameter")
    if parameter is not None and not isinstance(parameter, dict):
        raise _binding_error("parameter", "an object")
    try:
        values["parameter_json"] = json.dumps(_go_any(parameter or {}), separators=(",", ":"),
                                              ensure_ascii=False)
    except (ValueError, OverflowError, RecursionError):
        raise _binding_error("parameter", "an object of representable JSON values") from None
    rag_id = body.get("rag_id")
    if rag_id is not None and not isinstance(rag_id, str):
        raise _binding_error("rag_id", "a UUID string")
    values["rag_id"] = ZERO_UUID
    if rag_id:
        values["rag_id"] = parse_uuid(rag_id) or ""
        if not values["rag_id"]:
            raise _binding_error("rag_id", "a UUID string")
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
    _check_vad_config(body.get("vad_config"))  # bound, then dropped by the handler (§1b)
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


def validate_ai(fields: AiFields) -> None:
    """The platform's checks, in its order (fact sheet §1b)."""
    vendor, dot, _model = fields.engine_model.partition(".")
    if not dot or vendor not in ENGINE_VENDORS:
        raise internal_error()
    if fields.type not in AI_TYPES:
        raise internal_error()
    if fields.tts_type not in TTS_TYPES or fields.stt_type not in STT_TYPES:
        raise internal_error()
    unknown = [name for name in fields.tool_names if name not in TOOL_NAMES]
    if unknown:
        raise bad_request("INVALID_TOOL_NAMES",
                          f"Unknown tool names: {', '.join(repr(n) for n in unknown)}.")


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
    out["current_prompt_history_id"] = ZERO_UUID
    put("tts_type", f.tts_type)
    put("tts_voice_id", f.tts_voice_id)
    put("stt_type", f.stt_type)
    put("stt_language", f.stt_language)
    put("auto_aicall_audit_enabled", f.auto_aicall_audit_enabled)
    put("tool_names", list(f.tool_names))
    put("direct_hash", record.direct_hash)
    out["tm_create"] = format_time(record.tm_create)
    out["tm_update"] = format_time(record.tm_update)
    out["tm_delete"] = format_time(record.tm_delete)
    return out


def _owned(ctx: Context, invalid_reason: str) -> AiRecord:
    """The AI named by the path, if it exists and is the caller's (400, 404, 403 otherwise)."""
    ai_id = parse_uuid(ctx.params[0])
    if ai_id is None or ai_id == ZERO_UUID:
        raise bad_request(invalid_reason, "The id in the path is not a valid UUID.")
    record = ctx.store.get_ai(ai_id)
    if record is None:
        raise _not_found()
    if record.customer_id != ctx.customer_id:
        raise permission_denied()
    return record


def _not_found() -> ApiFailure:
    return ApiFailure("NOT_FOUND", "AI_NOT_FOUND", "The AI was not found.")


def _render(ctx: Context, record: AiRecord) -> dict[str, Any]:
    return render_ai(record, ctx.echo_engine_key)


def list_ais(ctx: Context) -> Response:
    page = parse_page(ctx.request)
    records = ctx.store.list_ais(ctx.customer_id, page.before, page.size)
    return json_response(200, page_body(records, lambda r: _render(ctx, r)))


def create_ai(ctx: Context) -> Response:
    fields = bind_ai_body(json_object_body(ctx.request))
    validate_ai(fields)
    return json_response(200, _render(ctx, ctx.store.create_ai(ctx.customer_id, fields, ctx.now)))


def get_ai(ctx: Context) -> Response:
    return json_response(200, _render(ctx, _owned(ctx, "INVALID_ID")))


def put_ai(ctx: Context) -> Response:
    ai_id = parse_uuid(ctx.params[0])
    if ai_id is None or ai_id == ZERO_UUID:
        raise bad_request("INVALID_ID", "The id in the path is not a valid UUID.")
    fields = bind_ai_body(json_object_body(ctx.request))
    record = _owned(ctx, "INVALID_ID")
    if record.deleted:
        raise _not_found()
    validate_ai(fields)
    updated = ctx.store.replace_ai(record.id, fields, ctx.now)
    if updated is None:
        raise _not_found()
    return json_response(200, _render(ctx, updated))


def delete_ai(ctx: Context) -> Response:
    record = _owned(ctx, "INVALID_ID")
    deleted = ctx.store.delete_ai(record.id, ctx.now)
    if deleted is None:
        raise _not_found()
    return json_response(200, _render(ctx, deleted))


def regenerate_direct_hash(ctx: Context) -> Response:
    record = _owned(ctx, "INVALID_REQUEST_PARAMETER")
    updated = None if record.deleted else ctx.store.regenerate_direct_hash(record.id, ctx.now)
    if updated is None:
        raise _not_found()
    return json_response(200, _render(ctx, updated))
