"""The executor and recovery against an in-memory `AiApi` (tests/fakeapi.py): lost answers,
refusals and unknown outcomes, with no HTTP and no emulator in between."""

from __future__ import annotations

from pathlib import Path

from voipbin_iac.core.clock import FakeClock
from voipbin_iac.core.kinds import Refs
from voipbin_iac.core.kinds.agent import AGENT_KIND
from voipbin_iac.core.model import DesiredState, LiveState, Manifest, ManifestEntry
from voipbin_iac.core.plan import build_plan
from voipbin_iac.desired.config import load
from voipbin_iac.run.executor import ExecOptions, Executor
from voipbin_iac.run.recovery import pending_for, resolve_pending
from voipbin_iac.state.applylog import Recovery

from .conftest import agents_yaml
from .fakeapi import FakeApi
from .test_identity import ENV


def _desired(tmp_path: Path, agents: dict) -> DesiredState:
    path = tmp_path / "agents.yaml"
    path.write_text(agents_yaml(agents))
    return load([path], ENV)


def test_a_lost_answer_is_found_by_one_re_list_and_never_sent_again(tmp_path: Path) -> None:
    desired = _desired(tmp_path, {"a": {"name": "Same"}, "b": {"name": "Same", "detail": "b"}})
    api = FakeApi(faults=[("create", "agent", "lose"), ("create", "agent", "lose")])
    plan = build_plan(desired, LiveState({}), Manifest())
    outcomes = Executor(api, desired, Manifest(), clock=FakeClock(),
                        options=ExecOptions(concurrency=1)).run(plan, {})
    assert [o.status for o in outcomes] == ["done", "done"]
    assert api.calls["create agent"] == 2 and api.calls["list agent"] == 1
    by_key = {o.change.key: api.objects[o.id] for o in outcomes}
    assert by_key["b"].get("detail") == "b" and not by_key["a"].get("detail")


def test_a_refusal_is_failed_and_the_others_go_on(tmp_path: Path) -> None:
    desired = _desired(tmp_path, {"a": {}, "b": {}, "c": {}})
    api = FakeApi(faults=[("create", "agent", "refuse")])
    plan = build_plan(desired, LiveState({}), Manifest())
    outcomes = Executor(api, desired, Manifest(), clock=FakeClock(),
                        options=ExecOptions(concurrency=1)).run(plan, {})
    assert sorted(o.status for o in outcomes) == ["done", "done", "failed"]
    assert len(api.live("agent")) == 2


def test_recovery_binds_by_content_and_never_takes_an_owned_or_foreign_ai(
        tmp_path: Path) -> None:
    desired = _desired(tmp_path, {"bot": {"name": "Bot"}})
    agent = desired.agents["bot"]
    body = AGENT_KIND.body(agent, None, Refs())
    api = FakeApi()
    mine, foreign, owned = (api.create(AGENT_KIND, body) for _ in range(3))
    waiting = pending_for(AGENT_KIND, "gone-from-the-file", "Bot", body, True)
    recovery = Recovery(pending=(waiting,), started=0.0)
    live = LiveState({"agent": tuple(api.list(AGENT_KIND))})
    manifest = Manifest({"agent": {"other": ManifestEntry(owned.id, "Bot")}})
    bound, left = resolve_pending(manifest, recovery, live, foreign=[foreign.id])
    entry = bound.agents["gone-from-the-file"]
    assert entry.id == mine.id and entry.protect  # whatever the file says now
    assert left == []
