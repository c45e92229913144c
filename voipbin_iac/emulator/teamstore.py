"""AI teams in the store: their records and SQL (part 2 §A; handlers in `teams`).

A team row keeps its members as JSON, its `direct_id` (never shown) and its `direct_hash`.
Creating a team creates a direct record of resource type `ai_team` (part 2 §A7); deleting it
hard-deletes that record and soft-deletes the row, which keeps its stale hash (§A6); a repeated
delete re-stamps. Regenerating replaces the hash of the record named by `direct_id`, which fails
once the record is gone (§A7). Other modules (calls; AI conversations with
`assistance_type: team`) read teams with `get_team` and `start_member`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from .newest import newest_first
from .store import Store

_COLUMNS = ("id, customer_id, name, detail, start_member_id, members, parameter, direct_id, "
            "direct_hash, tm_create, tm_update, tm_delete")


@dataclass(frozen=True)
class Transition:
    """An LLM function that hands the call to another member (`AM models/team/member.go`)."""

    function_name: str
    description: str
    next_member_id: str


@dataclass(frozen=True)
class Member:
    """A node of the team graph, backed by an AI; its id is chosen by the client."""

    id: str
    name: str
    ai_id: str
    transitions: tuple[Transition, ...] = ()


@dataclass(frozen=True)
class TeamFields:
    """What POST and PUT write (PUT replaces all of it, part 2 §A5)."""

    name: str
    detail: str
    start_member_id: str
    members: tuple[Member, ...]
    parameter_json: str  # canonical JSON text, "{}" when none

    @property
    def parameter(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.parameter_json)
        return value


@dataclass(frozen=True)
class TeamRecord:
    """One `/teams` object as stored."""

    id: str
    customer_id: str
    fields: TeamFields
    direct_id: str
    direct_hash: str
    tm_create: int
    tm_update: int | None
    tm_delete: int | None

    @property
    def deleted(self) -> bool:
        return self.tm_delete is not None


def _members_json(members: tuple[Member, ...]) -> str:
    return json.dumps([{"id": m.id, "name": m.name, "ai_id": m.ai_id,
                        "transitions": [t.__dict__ for t in m.transitions]} for m in members])


def _members(text: str) -> tuple[Member, ...]:
    return tuple(Member(m["id"], m["name"], m["ai_id"],
                        tuple(Transition(**t) for t in m["transitions"]))
                 for m in json.loads(text))


def _team(row: tuple) -> TeamRecord:
    fields = TeamFields(row[2], row[3], row[4], _members(row[5]), row[6])
    return TeamRecord(row[0], row[1], fields, row[7], row[8], row[9], row[10], row[11])


def create_team(store: Store, customer_id: str, fields: TeamFields, now: int) -> TeamRecord:
    """Insert a team and its `ai_team` direct record (raises `EmulatorError` when no unique hash
    comes up, which the handler answers with 500)."""
    with store.transaction() as conn:
        stamp = store.stamp(now)
        team_id = str(uuid.uuid4())
        direct_id, direct_hash = store.insert_direct(conn, customer_id, "ai_team", team_id,
                                                     stamp)
        conn.execute(f"INSERT INTO teams ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,NULL,NULL)",
                     (team_id, customer_id, fields.name, fields.detail, fields.start_member_id,
                      _members_json(fields.members), fields.parameter_json, direct_id,
                      direct_hash, stamp))
    return TeamRecord(team_id, customer_id, fields, direct_id, direct_hash, stamp, None, None)


def get_team(store: Store, team_id: str) -> TeamRecord | None:
    """The team, deleted or not (`AIV1TeamGet` has no deleted filter, part 2 §A6)."""
    with store.reading() as conn:
        row = conn.execute(f"SELECT {_COLUMNS} FROM teams WHERE id=?", (team_id,)).fetchone()
    return _team(row) if row else None


def start_member(store: Store, team_id: str) -> tuple[str, str] | None:
    """`(member_id, ai_id)` of the team's start member: who takes a call to the team (§A8)."""
    team = get_team(store, team_id)
    if team is None:
        return None
    for member in team.fields.members:
        if member.id == team.fields.start_member_id:
            return member.id, member.ai_id
    return None


def list_teams(store: Store, customer_id: str, before: int | None,
               limit: int) -> list[TeamRecord]:
    """Live teams of a customer with `tm_create < before`, newest first (part 2 §A6)."""
    with store.reading() as conn:
        rows = newest_first(conn, _COLUMNS, "teams",
                            "customer_id=? AND tm_delete IS NULL", (customer_id,), before, limit)
    return [_team(row) for row in rows]


def replace_team(store: Store, team_id: str, fields: TeamFields, now: int) -> TeamRecord | None:
    """Full replace, deleted or not (part 2 §A4, §A5); the direct hash is untouched."""
    with store.transaction() as conn:
        cursor = conn.execute(
            "UPDATE teams SET name=?, detail=?, start_member_id=?, members=?, parameter=?, "
            "tm_update=? WHERE id=?",
            (fields.name, fields.detail, fields.start_member_id, _members_json(fields.members),
             fields.parameter_json, store.stamp(now), team_id))
        if cursor.rowcount == 0:
            return None
    return get_team(store, team_id)


def delete_team(store: Store, team_id: str, now: int) -> TeamRecord | None:
    """Hard-delete the direct record (best effort), then soft-delete the row (part 2 §A6)."""
    with store.transaction() as conn:
        row = conn.execute("SELECT direct_id FROM teams WHERE id=?", (team_id,)).fetchone()
        if row is None:
            return None
        conn.execute("DELETE FROM directs WHERE id=?", (row[0],))
        stamp = store.stamp(now)
        conn.execute("UPDATE teams SET tm_update=?, tm_delete=? WHERE id=?",
                     (stamp, stamp, team_id))
    return get_team(store, team_id)


def regenerate_team_hash(store: Store, team_id: str, now: int) -> TeamRecord | None:
    """A new hash for the team's direct record; None when the record is gone (a deleted team:
    direct-manager then answers a bare 500, part 2 §A7)."""
    with store.transaction() as conn:
        row = conn.execute("SELECT direct_id FROM teams WHERE id=?", (team_id,)).fetchone()
        if row is None:
            return None
        stamp = store.stamp(now)
        direct_hash = store.new_direct_hash(conn)
        cursor = conn.execute("UPDATE directs SET hash=?, tm_update=? WHERE id=?",
                              (direct_hash, stamp, row[0]))
        if cursor.rowcount == 0:
            return None
        conn.execute("UPDATE teams SET direct_hash=?, tm_update=? WHERE id=?",
                     (direct_hash, stamp, team_id))
    return get_team(store, team_id)
