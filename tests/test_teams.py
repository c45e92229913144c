"""AI teams as code (issue 17), through the CLI and the emulator over loopback: create, update,
rename, prune in the right order, the in-use guard, export and import, recovery after a kill,
validate errors with file:line, a call to the team's SIP URI, and request counts."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from voipbin_iac.api.client import route_of
from voipbin_iac.core.kinds.team import TEAM_KIND
from voipbin_iac.desired.config import load
from voipbin_iac.errors import ConfigError, IacError

from .conftest import Stack, agents_yaml
from .killer import Killed
from .test_identity import ENV, Env, _env

AGENTS = {"greeter": {"name": "Greeter"}, "booking": {"name": "Booking"},
          "support": {"name": "Support"}}


def desk(**changes: Any) -> dict[str, Any]:
    team: dict[str, Any] = {
        "name": "Front Desk", "start": "hello",
        "members": {
            "hello": {"agent": "greeter", "transitions": {
                "to_booking": {"to": "book", "description": "Caller wants to book"}}},
            "book": {"agent": "booking"}}}
    team.update(changes)
    return team


def write(stack: Stack, teams: dict[str, Any], agents: dict[str, Any] | None = None,
          **extra: Any) -> Path:
    text = agents_yaml(AGENTS if agents is None else agents)
    text += yaml.safe_dump({"teams": teams, **extra}, sort_keys=False)
    return stack.write("agents.yaml", text)


def manifest(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.with_name("agents.manifest.yaml").read_text())


def live_teams(stack: Stack) -> list[dict[str, Any]]:
    return [t for t in stack.api().get("/teams").json()["result"]]


def test_create_then_nothing_to_do_and_the_uri_reaches_the_start_member(stack: Stack) -> None:
    path = write(stack, {"front-desk": desk()})
    result = stack.cli("apply", str(path), "--yes")
    assert result.code == 0, result.err
    assert "created front-desk (team)  sip:direct." in result.out
    data = manifest(path)
    team = data["teams"]["front-desk"]
    assert set(team["members"]) == {"hello", "book"}
    assert team["sip_uri"].startswith("sip:direct.")
    again = stack.cli("plan", str(path), "--detailed-exitcode")
    assert again.code == 0, again.out
    [live] = live_teams(stack)
    greeter = data["agents"]["greeter"]["id"]
    start = next(m for m in live["members"] if m["id"] == live["start_member_id"])
    assert start["ai_id"] == greeter and start["name"] == "hello"
    call = stack.cli("call", "front-desk", "-f", str(path), "--from", "sip:me@example.com")
    assert call.code == 0, call.err
    stack.clock.advance(2)
    routed = stack.api().get("/calls").json()["result"][0]["routed_to"]
    assert routed["type"] == "ai_team" and routed["id"] == data["teams"]["front-desk"]["id"]
    assert routed["ai_id"] == greeter  # the start member's AI answers
    assert routed["member_id"] == team["members"]["hello"]


def test_update_member_transition_and_start_in_one_put(stack: Stack) -> None:
    path = write(stack, {"front-desk": desk()})
    assert stack.cli("apply", str(path), "--yes").code == 0
    changed = desk(start="help")
    changed["members"]["help"] = {"agent": "support"}
    changed["members"]["hello"]["transitions"]["to_booking"]["description"] = "New words"
    changed["members"]["hello"]["transitions"]["handover"] = {"to": "help"}
    path = write(stack, {"front-desk": changed})
    plan = stack.cli("plan", str(path), "--format", "json")
    [change] = [c for c in __import__("json").loads(plan.out)["changes"]]
    assert change["kind"] == "team" and change["action"] == "update"
    assert {f["field"] for f in change["fields"]} == {
        "start", "members['help']", "members['hello']['transitions']['handover']",
        "members['hello']['transitions']['to_booking']['description']"}
    stack.app.request_log.clear_log()
    assert stack.cli("apply", str(path), "--yes").code == 0
    assert len(stack.app.request_log.requests(method="PUT", path_prefix="/v1.0/teams")) == 1
    assert stack.cli("plan", str(path), "--detailed-exitcode").code == 0


def test_a_renamed_team_key_keeps_its_sip_uri(stack: Stack) -> None:
    path = write(stack, {"front-desk": desk()})
    assert stack.cli("apply", str(path), "--yes").code == 0
    before = manifest(path)["teams"]["front-desk"]
    path = write(stack, {"reception": desk(name="Reception")},
                 moved={"front-desk": "reception"})
    assert stack.cli("apply", str(path), "--yes").code == 0
    after = manifest(path)["teams"]["reception"]
    assert (after["id"], after["sip_uri"]) == (before["id"], before["sip_uri"])
    assert stack.cli("plan", str(path), "--detailed-exitcode").code == 0


def test_prune_deletes_the_team_before_the_agents_it_used(stack: Stack) -> None:
    path = write(stack, {"front-desk": desk()})
    assert stack.cli("apply", str(path), "--yes").code == 0
    path = write(stack, {}, agents={"support": {"name": "Support"}})
    stack.app.request_log.clear_log()
    result = stack.cli("apply", str(path), "--yes", "--prune", "--force")
    assert result.code == 0, result.err
    deletes = [route_of(r.path) for r in stack.app.request_log.requests(method="DELETE")
               if r.path.startswith(("/v1.0/ais", "/v1.0/teams"))]  # not the lease's
    assert deletes == ["/v1.0/teams/{id}", "/v1.0/ais/{id}", "/v1.0/ais/{id}"]
    assert live_teams(stack) == []


def test_an_agent_a_live_team_uses_is_not_deleted(stack: Stack) -> None:
    path = write(stack, {}, agents=AGENTS)
    assert stack.cli("apply", str(path), "--yes").code == 0
    ids = {k: e["id"] for k, e in manifest(path)["agents"].items()}
    foreign = stack.api().post("/teams", json={  # made in the console: no key owns it
        "name": "Console team", "start_member_id": "33333333-0000-4000-8000-000000000001",
        "members": [{"id": "33333333-0000-4000-8000-000000000001", "name": "m",
                     "ai_id": ids["support"]}]})
    assert foreign.status_code == 200, foreign.text
    path = write(stack, {}, agents={"greeter": {"name": "Greeter"}, "booking": {"name": "Booking"}})
    result = stack.cli("apply", str(path), "--yes", "--prune", "--force")
    assert result.code == 1
    assert "cannot delete support: a team no key owns ('Console team'" in result.err
    assert not [r for r in stack.app.request_log.requests(method="DELETE")
                if r.path.startswith("/v1.0/ais")]


def test_validate_reports_team_mistakes_at_their_place(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(agents_yaml({"greeter": {}, "analyst": {"type": "insight",
                                                            "tool_names": ["all"]}}) + """\
teams:
  desk:
    start: nobody
    members:
      a:
        agent: ghost
        transitions:
          connect_call: {to: a}
          jump: {to: nowhere}
      b: {agent: analyst}
""")
    with pytest.raises(ConfigError) as caught:
        load([path], ENV)
    lines = caught.value.lines()
    expect = [
        "start: 'nobody' is not a member of the team",
        "members.a.agent: 'ghost' is not an agent key",
        "transitions.connect_call: a transition cannot be named like a normal tool",
        "transitions.jump.to: 'nowhere' is not a member of the team",
        "members.b.agent: 'analyst' is an insight agent",
    ]
    for text in expect:
        assert any(text in line and line.startswith(f"{path}:") for line in lines), (text, lines)
    assert all(":" in line.split(str(path))[1][:8] for line in lines)  # file:line:column


def test_export_and_import_round_trip_with_teams(stack: Stack) -> None:
    path = write(stack, {"front-desk": desk()})
    assert stack.cli("apply", str(path), "--yes").code == 0
    team_id = manifest(path)["teams"]["front-desk"]["id"]
    other = Path(stack.path("exported")) / "agents.yaml"
    other.parent.mkdir()
    exported = stack.cli("export", "--out", str(other))
    assert exported.code == 0, exported.err
    assert "and 1 team to" in exported.err and "teams:" in other.read_text()
    path.with_name("agents.manifest.yaml").unlink()  # one owner at a time
    keys = {"ENGINE_KEY": stack.env["OPENAI_API_KEY"]}  # the one variable the export names
    plan = stack.cli("plan", str(other), "--detailed-exitcode", env=keys)
    assert plan.code == 0, plan.out + plan.err
    other.with_name("agents.manifest.yaml").unlink()
    imported = stack.cli("import", "front-desk", team_id, "-f", str(path))
    assert imported.code == 0, imported.err
    assert "now owns team" in imported.out
    assert manifest(path)["teams"]["front-desk"]["id"] == team_id


def test_a_kill_mid_apply_never_duplicates_a_team(tmp_path: Path) -> None:
    env: Env = _env(tmp_path)
    text = agents_yaml(AGENTS) + yaml.safe_dump({"teams": {"front-desk": desk()}})
    for at in range(1, 9):  # every call of the apply: lists, creates of agents, of the team
        env.path.write_text(text)
        env.killed_apply(at)
        with contextlib.suppress(IacError, Killed):
            env.apply()
    result = env.apply()
    assert result.ok, result
    teams = env.client.list(TEAM_KIND)
    assert len(teams) == 1 and len(env.live()) == 3
    assert env.manifest().teams["front-desk"].id == teams[0].id


def test_teams_are_listed_in_pages_of_100(stack: Stack) -> None:
    teams = {f"t{i:03d}": desk(name=f"Desk {i}") for i in range(120)}
    path = write(stack, teams)
    assert stack.cli("apply", str(path), "--yes").code == 0
    stack.app.request_log.clear_log()
    assert stack.cli("plan", str(path), "--detailed-exitcode").code == 0
    routes = [f"{r.method} {r.path}" for r in stack.app.request_log.requests()
              if r.path.startswith("/v1.0/teams")]
    assert routes == ["GET /v1.0/teams"] * (math.ceil(120 / 100) + 1)
    assert all("page_size=100" in r.query for r in stack.app.request_log.requests()
               if r.path.startswith("/v1.0/teams"))
