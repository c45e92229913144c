"""The team kind on its own: reading a team the API returns, translating its member ids back to
member keys, the PUT/POST body it writes (references resolved, ignored fields kept as live),
and the manifest entry it records. No API; the objects are built here."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from voipbin_iac.core.kinds.base import Refs
from voipbin_iac.core.kinds.team import TEAM_KIND, derived_member_id
from voipbin_iac.core.model import TEAM, DesiredResource, LiveResource, ManifestEntry
from voipbin_iac.errors import PlanError

TEAM_ID = "7e000000-0000-4000-8000-000000000001"
AI_GREETER = "a1000000-0000-4000-8000-000000000001"
AI_BOOKING = "a1000000-0000-4000-8000-000000000002"
ZERO = "00000000-0000-0000-0000-000000000000"
HELLO = derived_member_id("desk", "hello")
BOOK = derived_member_id("desk", "book")
AGENTS = {"greeter": AI_GREETER, "booking": AI_BOOKING}


def words(phrase: str, text: str | None) -> bool:
    """Whether `phrase` stands in `text` as whole words (not glued to other letters)."""
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text or "") is not None


def desired(ignore: frozenset[str] = frozenset(), protect: bool = False,
            **changes: Any) -> DesiredResource:
    fields: dict[str, Any] = {
        "name": "Front Desk", "detail": "reception", "start": "hello",
        "members": {
            "hello": {"agent": "greeter", "transitions": {
                "to_booking": {"to": "book", "description": "Caller wants to book"}}},
            "book": {"agent": "booking", "transitions": {}}},
        "parameter": {"language": "en"}}
    fields.update(changes)
    return DesiredResource(kind=TEAM, key="desk", fields=fields, protect=protect,
                           ignore_changes=ignore)


def api_team(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": TEAM_ID, "customer_id": "c0000000-0000-4000-8000-000000000001",
        "name": "Front Desk", "detail": "reception", "start_member_id": HELLO,
        "direct_hash": "abc123", "parameter": {"language": "en"},
        "members": [
            {"id": HELLO, "name": "hello", "ai_id": AI_GREETER, "transitions": [
                {"function_name": "to_booking", "next_member_id": BOOK,
                 "description": "Caller wants to book"}]},
            {"id": BOOK, "name": "book", "ai_id": AI_BOOKING, "transitions": []}],
        "tm_create": "2026-01-02T00:00:00Z", "tm_update": "2026-01-03T00:00:00Z",
        "tm_delete": None}
    obj.update(changes)
    return obj


def live(**changes: Any) -> LiveResource:
    return TEAM_KIND.from_api(api_team(**changes))


def bound(members: dict[str, str] | None = None, team: bool = True) -> Refs:
    """Refs as the planner builds them: the agents, the team (when bound) and its members."""
    ids = {**AGENTS, **({"desk": TEAM_ID} if team else {})}
    return Refs(ids=ids, members={"desk": members} if members is not None else {})


# -- reading a team ----------------------------------------------------------------------------


def test_a_team_from_the_api_keeps_every_field_and_server_fact() -> None:
    team = live(tm_delete="2026-01-04T00:00:00Z")
    assert team.fields == {
        "name": "Front Desk", "detail": "reception", "start": HELLO,
        "members": {
            HELLO: {"name": "hello", "agent": AI_GREETER, "transitions": {
                "to_booking": {"to": BOOK, "description": "Caller wants to book"}}},
            BOOK: {"name": "book", "agent": AI_BOOKING, "transitions": {}}},
        "parameter": {"language": "en"}}
    assert (team.id, team.direct_hash, team.customer_id) == (
        TEAM_ID, "abc123", "c0000000-0000-4000-8000-000000000001")
    assert (team.tm_create, team.tm_update, team.tm_delete) == (
        "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z")
    assert team.deleted


def test_a_team_with_only_an_id_reads_as_blanks() -> None:
    team = TEAM_KIND.from_api({"id": TEAM_ID})
    assert team.fields == {"name": "", "detail": "", "start": ZERO, "members": {},
                           "parameter": {}}
    assert (team.direct_hash, team.customer_id) == ("", "")
    assert (team.tm_create, team.tm_update, team.tm_delete) == (None, None, None)
    assert not team.deleted


def test_a_member_and_a_transition_without_fields_read_as_blanks() -> None:
    team = live(members=[{"transitions": [{}]}])
    assert team.fields["members"] == {
        ZERO: {"name": "", "agent": ZERO, "transitions": {"": {"to": ZERO, "description": ""}}}}


@pytest.mark.parametrize(("obj", "message"), [
    ([], "expected a team object, got list"),
    ({"name": "x"}, "team object without an 'id'"),
    ({"id": ""}, "team object without an 'id'"),
    ({"id": 7}, "team object without an 'id'"),
    ({"id": TEAM_ID, "name": 5}, "field 'name' is int, expected str"),
    ({"id": TEAM_ID, "members": ["x"]}, "a team member is not an object"),
    ({"id": TEAM_ID, "members": [{"transitions": [5]}]}, "a transition is not an object"),
    ({"id": TEAM_ID, "parameter": {"n": math.nan}}, "field 'parameter': not a finite number"),
])
def test_a_team_of_the_wrong_shape_is_refused_saying_what_is_wrong(obj: Any,
                                                                   message: str) -> None:
    with pytest.raises(ValueError) as caught:
        TEAM_KIND.from_api(obj)
    assert str(caught.value) == message


def test_each_blank_is_a_fresh_value_a_caller_may_change() -> None:
    members = TEAM_KIND.blank("members")
    members["x"] = {}
    assert TEAM_KIND.blank("members") == {}
    assert TEAM_KIND.blank("parameter") == {}
    assert TEAM_KIND.blank("start") == ""


# -- member ids and keys -----------------------------------------------------------------------


def test_a_member_the_manifest_does_not_know_gets_an_id_derived_from_team_and_member_keys() -> None:
    recorded = "m0000000-0000-4000-8000-000000000009"
    ids = TEAM_KIND.member_ids("desk", ["hello", "book"],
                               Refs(members={"desk": {"book": recorded}}))
    assert ids == {"hello": HELLO, "book": recorded}

def test_a_derived_member_id_never_changes_between_versions() -> None:
    assert derived_member_id("desk", "hello") == "9b2e9575-387d-5736-bb69-2267f30385a5"


def test_the_view_names_members_the_manifest_records_without_the_desired_team() -> None:
    recorded = {"hello": "m0000000-0000-4000-8000-000000000001",
                "book": "m0000000-0000-4000-8000-000000000002"}
    team = live(start_member_id=recorded["hello"], members=[
        {"id": recorded["hello"], "ai_id": AI_GREETER, "transitions": [
            {"function_name": "to_booking", "next_member_id": recorded["book"]}]},
        {"id": recorded["book"], "ai_id": "a1000000-0000-4000-8000-00000000ffff"}])
    view = TEAM_KIND.view(team, bound(recorded))
    assert view["start"] == "hello"
    assert view["members"] == {
        "hello": {"agent": "greeter", "transitions": {
            "to_booking": {"to": "book", "description": ""}}},
        "book": {"agent": "id:a1000000-0000-4000-8000-00000000ffff", "transitions": {}}}


def test_the_view_names_members_of_the_desired_team_and_those_the_manifest_still_records() -> None:
    gone = derived_member_id("desk", "gone")
    team = live(members=[*api_team()["members"], {"id": gone, "ai_id": AI_BOOKING}])
    only_hello = desired(members={"hello": {"agent": "greeter", "transitions": {}}})
    view = TEAM_KIND.view(team, bound({"book": BOOK, "gone": gone}), only_hello)
    assert set(view["members"]) == {"hello", "book", "gone"}


def test_the_view_of_a_team_not_yet_bound_derives_member_ids_from_the_desired_key() -> None:
    view = TEAM_KIND.view(live(), bound(team=False), desired())
    assert view["start"] == "hello"
    assert set(view["members"]) == {"hello", "book"}


def test_the_view_of_an_unbound_team_without_a_desired_one_shows_member_ids() -> None:
    view = TEAM_KIND.view(live(), bound(team=False))
    assert view["start"] == f"?{HELLO}"
    assert set(view["members"]) == {f"?{HELLO}", f"?{BOOK}"}


def test_a_team_references_the_agents_of_its_members() -> None:
    assert TEAM_KIND.references(desired()) == {"greeter", "booking"}
    assert TEAM_KIND.uses(live()) == {AI_GREETER, AI_BOOKING}


# -- the body ----------------------------------------------------------------------------------


def test_the_body_sends_member_ids_ai_ids_and_every_field() -> None:
    body = TEAM_KIND.body(desired(), None, bound())
    assert body == {
        "name": "Front Desk", "detail": "reception", "start_member_id": HELLO,
        "members": [
            {"id": HELLO, "name": "hello", "ai_id": AI_GREETER, "transitions": [
                {"function_name": "to_booking", "description": "Caller wants to book",
                 "next_member_id": BOOK}]},
            {"id": BOOK, "name": "book", "ai_id": AI_BOOKING, "transitions": []}],
        "parameter": {"language": "en"}}


def test_a_member_agent_given_by_id_is_sent_as_that_ai_id() -> None:
    team = desired(members={"hello": {"agent": f"id:{AI_BOOKING}", "transitions": {}}})
    [member] = TEAM_KIND.body(team, None, Refs())["members"]
    assert member["ai_id"] == AI_BOOKING


def test_a_member_whose_agent_has_no_ai_stops_the_plan_naming_team_member_and_agent() -> None:
    team = desired(members={"hello": {"agent": "ghost", "transitions": {}}})
    with pytest.raises(PlanError) as caught:
        TEAM_KIND.body(team, None, bound())
    message, hint = caught.value.message, caught.value.hint
    for phrase in ("team desk", "member hello", "agent 'ghost'", "has no AI",
                   "it was not created"):
        assert words(phrase, message), (phrase, message)
    assert words("apply the agents first", hint), hint
    assert words("fix the member's agent key", hint), hint


def test_an_ignored_field_is_sent_as_it_is_live() -> None:
    body = TEAM_KIND.body(desired(ignore=frozenset({"name", "parameter"}), name="New name",
                                  parameter={}),
                          live(name="Console name", parameter={"language": "de"}), bound())
    assert body["name"] == "Console name"
    assert body["parameter"] == {"language": "de"}


def test_ignored_members_are_sent_back_with_their_live_ids_when_only_the_file_names_them() -> None:
    body = TEAM_KIND.body(desired(ignore=frozenset({"members"})), live(), bound({}))
    assert [(m["id"], m["name"]) for m in body["members"]] == [(HELLO, "hello"), (BOOK, "book")]


def test_an_ignored_start_that_is_no_known_member_is_sent_as_its_live_id() -> None:
    stranger = "5e000000-0000-4000-8000-000000000001"
    body = TEAM_KIND.body(desired(ignore=frozenset({"start"})),
                          live(start_member_id=stranger), bound())
    assert body["start_member_id"] == stranger


def test_an_ignored_transition_to_no_known_member_is_sent_to_its_live_id() -> None:
    stranger = "5e000000-0000-4000-8000-000000000002"
    members = api_team()["members"]
    members[0]["transitions"][0]["next_member_id"] = stranger
    body = TEAM_KIND.body(desired(ignore=frozenset({"members"})), live(members=members),
                          bound())
    assert body["members"][0]["transitions"][0]["next_member_id"] == stranger


# -- the manifest entry ------------------------------------------------------------------------


def test_the_entry_records_the_members_found_live_by_their_recorded_ids() -> None:
    recorded = {"hello": "m0000000-0000-4000-8000-000000000001"}
    team = live(members=[{"id": recorded["hello"], "ai_id": AI_GREETER}])
    entry = TEAM_KIND.entry(team, desired(), None, applied=True, name="Front Desk",
                            refs=bound(recorded))
    assert entry.members == recorded


def test_the_entry_carries_fingerprint_and_protection_of_the_desired_team() -> None:
    team = live()
    want = desired(ignore=frozenset({"detail"}), protect=True)
    entry = TEAM_KIND.entry(team, want, None, applied=True, name="Front Desk", refs=bound())
    assert entry.protect
    assert entry.fingerprint == TEAM_KIND.content(team.fields, frozenset({"detail"}))
    assert entry.fingerprint != TEAM_KIND.content(team.fields)
    assert (entry.id, entry.name, entry.direct_hash) == (TEAM_ID, "Front Desk", "abc123")
    assert entry.members == {"book": BOOK, "hello": HELLO}


def test_an_entry_without_a_desired_team_keeps_the_previous_protection() -> None:
    previous = ManifestEntry(id=TEAM_ID, name="Front Desk", protect=True)
    entry = TEAM_KIND.entry(live(), None, previous, applied=False, name="Front Desk",
                            refs=bound())
    assert entry.protect


def test_an_entry_whose_members_cannot_be_named_keeps_the_previous_ones() -> None:
    previous = ManifestEntry(id=TEAM_ID, name="Front Desk", members={"old": "m-1"})
    entry = TEAM_KIND.entry(live(), None, previous, applied=False, name="Front Desk",
                            refs=bound(team=False))
    assert entry.members == {"old": "m-1"}


def test_an_entry_without_refs_or_a_previous_entry_records_no_members() -> None:
    entry = TEAM_KIND.entry(live(), desired(), None, applied=False, name="Front Desk")
    assert entry.members == {}


def test_ignored_members_keep_a_member_added_outside_the_tool_as_it_is_live() -> None:
    stranger = "5e000000-0000-4000-8000-000000000003"
    members = [*api_team()["members"],
               {"id": stranger, "name": "Console helper", "ai_id": AI_BOOKING,
                "transitions": [{"function_name": "back", "next_member_id": HELLO,
                                 "description": "Back to the greeting"}]}]
    members[1] = {**members[1], "transitions": [
        {"function_name": "help", "next_member_id": stranger, "description": "Needs help"}]}
    body = TEAM_KIND.body(desired(ignore=frozenset({"members"})), live(members=members),
                          bound())
    sent = {m["id"]: m for m in body["members"]}
    assert sent[stranger] == {"id": stranger, "name": "Console helper", "ai_id": AI_BOOKING,
                              "transitions": [{"function_name": "back",
                                               "description": "Back to the greeting",
                                               "next_member_id": HELLO}]}
    assert sent[BOOK]["transitions"] == [{"function_name": "help", "description": "Needs help",
                                          "next_member_id": stranger}]
    assert sorted(sent) == sorted([HELLO, BOOK, stranger])
