"""Teams: VoIPBin AI teams (`/v1.0/teams`), several AIs behind one Direct Hash SIP URI.

A call starts with the start member; the LLM hands over by calling a member's transition
function (fact sheet part 2 §A). In the file, members are keyed and reference agents by key:

    members: {greeter: {agent: helpdesk, transitions: {to_booking: {to: booking, ...}}}}

Normal form of the desired fields: `name`, `detail`, `start` (a member key), `parameter`, and
`members` as above (transitions always present, `{}` when none). Live teams carry ids instead:
members keyed by member id, `agent` an AI id, `to` a member id, `start` the start member's id;
`view` translates them back through the bindings. Member ids are chosen by the client: the id
the manifest records for the member, else a UUIDv5 of the team and member keys, so a re-apply
sends the same ids and the plan speaks in member keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from ...errors import PlanError
from ..model import TEAM, DesiredResource, LiveResource, ManifestEntry
from ..normal import normal
from .base import Kind, Refs

MEMBER_NAMESPACE = uuid.UUID("e242935f-6ec8-549d-8f64-ec3528bc6a68")
_UUID_ZERO = "00000000-0000-0000-0000-000000000000"
_BLANKS: dict[str, Any] = {"name": "", "detail": "", "start": "", "parameter": {}, "members": {}}
_IMPACTS = {"name": "cosmetic", "detail": "cosmetic", "start": "behaviour",
            "parameter": "behaviour", "members": "behaviour"}


def derived_member_id(team_key: str, member_key: str) -> str:
    """The member id sent for a member the manifest does not know yet."""
    return str(uuid.uuid5(MEMBER_NAMESPACE, f"{team_key}/{member_key}"))


def _expect(obj: Mapping[str, Any], name: str, kind: type) -> Any:
    value = obj.get(name)
    if value is not None and not isinstance(value, kind):
        raise ValueError(f"field '{name}' is {type(value).__name__}, expected {kind.__name__}")
    return value


def _member(obj: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(obj, Mapping):
        raise ValueError("a team member is not an object")
    member_id = _expect(obj, "id", str) or _UUID_ZERO
    transitions: dict[str, Any] = {}
    for t in _expect(obj, "transitions", list) or []:
        if not isinstance(t, Mapping):
            raise ValueError("a transition is not an object")
        transitions[str(t.get("function_name") or "")] = {
            "to": _expect(t, "next_member_id", str) or _UUID_ZERO,
            "description": _expect(t, "description", str) or "",
        }
    return member_id, {"name": _expect(obj, "name", str) or "",
                       "agent": _expect(obj, "ai_id", str) or _UUID_ZERO,
                       "transitions": transitions}


class TeamKind(Kind):
    name = TEAM
    section = "teams"
    noun = "team"
    path = "/teams"
    order = 1
    fields = ("name", "detail", "start", "members", "parameter")
    impacts = _IMPACTS

    def blank(self, name: str) -> Any:
        value = _BLANKS[name]
        return dict(value) if isinstance(value, dict) else value

    def from_api(self, obj: Any) -> LiveResource:
        if not isinstance(obj, Mapping):
            raise ValueError(f"expected a team object, got {type(obj).__name__}")
        team_id = obj.get("id")
        if not isinstance(team_id, str) or not team_id:
            raise ValueError("team object without an 'id'")
        members = dict(_member(m) for m in _expect(obj, "members", list) or [])
        try:
            parameter = normal(_expect(obj, "parameter", dict) or {})
        except ValueError as exc:
            raise ValueError(f"field 'parameter': {exc}") from None
        fields = {
            "name": _expect(obj, "name", str) or "",
            "detail": _expect(obj, "detail", str) or "",
            "start": _expect(obj, "start_member_id", str) or _UUID_ZERO,
            "members": members,
            "parameter": parameter,
        }
        return LiveResource(
            kind=TEAM, id=team_id, fields=fields,
            direct_hash=_expect(obj, "direct_hash", str) or "",
            tm_create=_expect(obj, "tm_create", str), tm_update=_expect(obj, "tm_update", str),
            tm_delete=_expect(obj, "tm_delete", str),
            customer_id=_expect(obj, "customer_id", str) or "",
        )

    # -- ids and keys ------------------------------------------------------------------------

    @staticmethod
    def member_ids(team_key: str, member_keys: Any, refs: Refs) -> dict[str, str]:
        """Member key -> the id to send: the one the manifest records, else derived."""
        recorded = refs.members.get(team_key, {})
        return {mk: recorded.get(mk) or derived_member_id(team_key, mk) for mk in member_keys}

    def _member_keys(self, live: LiveResource, refs: Refs,
                     desired: DesiredResource | None) -> dict[str, str]:
        """Live member id -> member key, as far as the manifest and derivation know."""
        team_key = refs.key_of(live.id) or (desired.key if desired is not None else "")
        known = set(refs.members.get(team_key, {}))
        if desired is not None:
            known |= set(desired.fields.get("members", {}))
        return {mid: mk for mk, mid in self.member_ids(team_key, sorted(known), refs).items()}

    def view(self, live: LiveResource, refs: Refs,
             desired: DesiredResource | None = None) -> Mapping[str, Any]:
        keys = self._member_keys(live, refs, desired)
        agents = refs.reverse()

        def member(mid: str) -> str:
            return keys.get(mid) or f"?{mid}"

        members = {}
        for mid, spec in live.fields["members"].items():
            members[member(mid)] = {
                "agent": agents.get(spec["agent"]) or f"id:{spec['agent']}",
                "transitions": {fn: {"to": member(t["to"]), "description": t["description"]}
                                for fn, t in spec["transitions"].items()},
            }
        return {**live.fields, "start": member(live.fields["start"]), "members": members}

    def references(self, desired: DesiredResource) -> frozenset[str]:
        return frozenset(m["agent"] for m in desired.fields.get("members", {}).values())

    def uses(self, live: LiveResource) -> frozenset[str]:
        return frozenset(m["agent"] for m in live.fields["members"].values())

    def body(self, desired: DesiredResource, live: LiveResource | None,
             refs: Refs) -> dict[str, Any]:
        fields = dict(desired.fields)
        if live is not None:
            view = self.view(live, refs, desired)
            for name in desired.ignore_changes:
                fields[name] = view[name]
        members_spec: Mapping[str, Any] = fields["members"]
        # A member no key names (added outside this tool, kept by `ignore_changes: [members]`)
        # is `?<its id>` in the view: it is sent back as it is live, id and name.
        live_members: Mapping[str, Any] = live.fields["members"] if live is not None else {}
        ids = self.member_ids(desired.key, [k for k in members_spec if not k.startswith("?")],
                              refs)
        for mk in members_spec:
            if mk.startswith("?") and mk[1:] in live_members:
                ids[mk] = mk[1:]
        members = []
        for mk, spec in members_spec.items():
            agent = spec["agent"]
            ai_id = agent[3:] if agent.startswith("id:") else refs.ids.get(agent)
            if not ai_id:
                raise PlanError(f"team {desired.key}: member {mk} uses agent '{agent}', which "
                                "has no AI (it was not created)",
                                hint="apply the agents first, or fix the member's agent key")
            transitions = [{"function_name": fn, "description": t["description"],
                            "next_member_id": ids.get(t["to"], t["to"].lstrip("?"))}
                           for fn, t in sorted(spec["transitions"].items())]
            name = live_members[mk[1:]]["name"] if mk.startswith("?") else mk
            members.append({"id": ids[mk], "name": name, "ai_id": ai_id,
                            "transitions": transitions})
        start = fields["start"]
        return {"name": fields["name"], "detail": fields["detail"],
                "start_member_id": ids.get(start, start.lstrip("?")), "members": members,
                "parameter": fields["parameter"]}

    def entry(self, live: LiveResource, desired: DesiredResource | None,
              previous: ManifestEntry | None, *, applied: bool, name: str,
              refs: Refs | None = None) -> ManifestEntry:
        base = super().entry(live, desired, previous, applied=applied, name=name)
        keys = self._member_keys(live, refs or Refs(members={}), desired) if refs else {}
        members = {mk: mid for mid, mk in keys.items() if mid in live.fields["members"]}
        if not members and previous is not None:
            members = dict(previous.members)
        return ManifestEntry(id=base.id, name=base.name, direct_hash=base.direct_hash,
                             fingerprint=base.fingerprint, protect=base.protect,
                             members=dict(sorted(members.items())))


TEAM_KIND = TeamKind()
