"""The `/v1.0/teams` handlers: AI teams, a graph of member AIs (part 2 §A).

Binding (`API server/teams.go`): no `binding` tags, so unknown keys are ignored, missing ones
are zero values and a wrong JSON type is 400 `INVALID_JSON_BODY`; every id in the body is read
with `uuid.FromStringOrNil` (a non-UUID becomes the nil UUID, then fails validation). Member ids
are chosen by the client. Validation (`validateTeam`, §A4) checks the structure in a fixed order
and every failure is a plain error: 500 `INTERNAL`, never 400. The member AIs are then read in
member order with a getter that filters neither customer nor deletion: a missing AI is 404
`RESOURCE_NOT_FOUND`, another customer's or a soft-deleted AI is accepted, an insight AI is 500.
PUT is a full replace and works on a soft-deleted team; DELETE hard-deletes the direct record
and soft-deletes the row; regenerating a deleted team's hash is 500 (§A5-§A7).
"""

from __future__ import annotations

from typing import Any

from ..core.catalog import NORMAL_TOOL_NAMES, ZERO_UUID
from .ais import bind_parameter
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
    resource_not_found,
)
from .schema import EmulatorError
from .teamstore import (
    Member,
    TeamFields,
    TeamRecord,
    Transition,
    create_team,
    delete_team,
    get_team,
    list_teams,
    regenerate_team_hash,
    replace_team,
)
from .timefmt import format_time

_RESERVED = frozenset(NORMAL_TOOL_NAMES)  # `tool.AllToolNames`; `all` and insight names are not


def _binding_error(key: str, expected: str) -> ApiFailure:
    return bad_request("INVALID_JSON_BODY", "The request body is not valid JSON.",
                       cause=f"{key} must be {expected}")


def _string(value: dict[str, Any], key: str, where: str) -> str:
    field = value.get(key)
    if field is not None and not isinstance(field, str):
        raise _binding_error(f"{where}{key}", "a string")
    return field or ""


def _uuid_or_nil(text: str) -> str:
    return parse_uuid(text) or ZERO_UUID


def _objects(value: Any, where: str) -> list[dict[str, Any]]:
    """An array of objects (`null` entries bind as zero structs), or a binding error."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(v is None or isinstance(v, dict) for v in value):
        raise _binding_error(where, "an array of objects")
    return [v or {} for v in value]


def bind_team_body(body: dict[str, Any]) -> TeamFields:
    members = []
    for i, raw in enumerate(_objects(body.get("members"), "members")):
        where = f"members[{i}]."
        transitions = tuple(
            Transition(_string(t, "function_name", f"{where}transitions[{j}]."),
                       _string(t, "description", f"{where}transitions[{j}]."),
                       _uuid_or_nil(_string(t, "next_member_id", f"{where}transitions[{j}].")))
            for j, t in enumerate(_objects(raw.get("transitions"), f"{where}transitions")))
        members.append(Member(_uuid_or_nil(_string(raw, "id", where)), _string(raw, "name", where),
                              _uuid_or_nil(_string(raw, "ai_id", where)), transitions))
    return TeamFields(_string(body, "name", ""), _string(body, "detail", ""),
                      _uuid_or_nil(_string(body, "start_member_id", "")), tuple(members),
                      bind_parameter(body))


def validate_team(fields: TeamFields) -> None:
    """`AM pkg/teamhandler/validation.go:13-88`, in its order (part 2 §A4)."""
    members = fields.members
    if not members:
        raise internal_error("members list must not be empty")
    if fields.start_member_id == ZERO_UUID:
        raise internal_error("start_member_id must not be empty")
    ids: set[str] = set()
    for member in members:
        if member.id == ZERO_UUID:
            raise internal_error("member id must not be empty")
        if member.id in ids:
            raise internal_error(f"duplicate member id: {member.id}")
        ids.add(member.id)
    if fields.start_member_id not in ids:
        raise internal_error(f"start_member_id {fields.start_member_id} not found in members")
    for member in members:
        if not member.name:
            raise internal_error(f"member name must not be empty for member {member.id}")
        if member.ai_id == ZERO_UUID:
            raise internal_error(f"member ai_id must not be empty for member {member.id}")
        names: set[str] = set()
        for t in member.transitions:
            if not t.function_name:
                raise internal_error("transition function_name must not be empty")
            if t.function_name in _RESERVED:
                raise internal_error(f"transition function_name {t.function_name!r} collides "
                                     "with reserved tool name")
            if t.function_name in names:
                raise internal_error(f"duplicate transition function_name {t.function_name!r}")
            names.add(t.function_name)
            if t.next_member_id not in ids:
                raise internal_error(f"transition next_member_id {t.next_member_id} not found")


def check_member_ais(ctx: Context, fields: TeamFields) -> None:
    """`validateNoInsightMembers` (part 2 §A4): the raw getter, in member order."""
    for member in fields.members:
        ai = ctx.store.get_ai(member.ai_id)
        if ai is None:
            raise resource_not_found(f"member {member.id} references non-existent ai")
        if ai.fields.type == "insight":
            raise internal_error(f"member {member.id} references an insight ai")


def render_team(team: TeamRecord) -> dict[str, Any]:
    """`AM models/team/webhook.go:13-27` key order and omitempty (part 2 §A3)."""
    f = team.fields
    out: dict[str, Any] = {"id": team.id, "customer_id": team.customer_id}
    if f.name:
        out["name"] = f.name
    if f.detail:
        out["detail"] = f.detail
    out["start_member_id"] = f.start_member_id
    if f.members:
        out["members"] = [_render_member(m) for m in f.members]
    if f.parameter:
        out["parameter"] = f.parameter
    if team.direct_hash:
        out["direct_hash"] = team.direct_hash
    out["tm_create"] = format_time(team.tm_create)
    out["tm_update"] = format_time(team.tm_update)
    out["tm_delete"] = format_time(team.tm_delete)
    return out


def _render_member(member: Member) -> dict[str, Any]:
    out: dict[str, Any] = {"id": member.id}
    if member.name:
        out["name"] = member.name
    out["ai_id"] = member.ai_id
    if member.transitions:
        out["transitions"] = [_render_transition(t) for t in member.transitions]
    return out


def _render_transition(t: Transition) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if t.function_name:
        out["function_name"] = t.function_name
    if t.description:
        out["description"] = t.description
    out["next_member_id"] = t.next_member_id
    return out


def team_not_found() -> ApiFailure:
    return ApiFailure("NOT_FOUND", "TEAM_NOT_FOUND", "The team was not found.")


def _owned(ctx: Context, team_id: str) -> TeamRecord:
    return owned(ctx, get_team(ctx.store, team_id), team_not_found)


def list_teams_handler(ctx: Context) -> Response:
    page = parse_page(ctx.request)
    teams = list_teams(ctx.store, ctx.customer_id, page.before, page.size)
    return json_response(200, page_body(teams, render_team))


def create_team_handler(ctx: Context) -> Response:
    fields = bind_team_body(json_object_body(ctx.request))
    validate_team(fields)
    check_member_ais(ctx, fields)
    try:
        team = create_team(ctx.store, ctx.customer_id, fields, ctx.now)
    except EmulatorError as exc:
        raise internal_error(str(exc)) from None
    return json_response(200, render_team(team))


def get_team_handler(ctx: Context) -> Response:
    return json_response(200, render_team(_owned(ctx, path_id(ctx))))


def put_team_handler(ctx: Context) -> Response:
    """Order (part 2 §A4): id, body, team lookup, permission, validation, member AIs."""
    team_id = path_id(ctx)
    fields = bind_team_body(json_object_body(ctx.request))
    team = _owned(ctx, team_id)
    validate_team(fields)
    check_member_ais(ctx, fields)
    updated = replace_team(ctx.store, team.id, fields, ctx.now)
    if updated is None:
        raise team_not_found()
    return json_response(200, render_team(updated))


def delete_team_handler(ctx: Context) -> Response:
    team = _owned(ctx, path_id(ctx))
    deleted = delete_team(ctx.store, team.id, ctx.now)
    if deleted is None:
        raise team_not_found()
    return json_response(200, render_team(deleted))


def regenerate_team_hash_handler(ctx: Context) -> Response:
    """uuid-typed path (400 `INVALID_REQUEST_PARAMETER`); 500 on a deleted team (§A7)."""
    team_id = parse_uuid(ctx.params[0])
    if team_id is None:
        raise invalid_parameter("id")
    team = _owned(ctx, team_id)
    try:
        updated = regenerate_team_hash(ctx.store, team.id, ctx.now)
    except EmulatorError as exc:
        raise internal_error(str(exc)) from None
    if updated is None:
        raise internal_error("the team's direct record is gone (deleted)")
    return json_response(200, render_team(updated))
