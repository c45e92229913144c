"""The planner and the renderers, table-driven from tests/data/plan/cases.yaml, with golden
files for the text, JSON and Markdown renderings (UPDATE_GOLDEN=1 rewrites them)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from voipbin_iac.core import render
from voipbin_iac.core.kinds.agent import AGENT_KIND
from voipbin_iac.core.kinds.team import TEAM_KIND
from voipbin_iac.core.model import LiveState, Manifest, ManifestEntry, Plan
from voipbin_iac.core.plan import Elsewhere, PlanOptions, build_plan
from voipbin_iac.core.secret import fingerprint
from voipbin_iac.core.serialize import plan_from_data, plan_to_data
from voipbin_iac.desired.config import load
from voipbin_iac.errors import PlanError

from .conftest import MODEL

DATA = Path(__file__).parent / "data" / "plan"
GOLDEN = Path(__file__).parent / "golden" / "plan"
CASES: dict[str, Any] = yaml.safe_load((DATA / "cases.yaml").read_text())
ENV = {"KEY_A": "sk-aaaa-1111-secret", "KEY_B": "sk-bbbb-2222-secret"}


def build(case: dict[str, Any], tmp_path: Path) -> Plan:
    doc = {"version": 1, "defaults": {"engine_model": MODEL, "engine_key": "${env:KEY_A}"},
           **case["desired"]}
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump(doc))
    desired = load([path], ENV)
    live = []
    for i, obj in enumerate(case.get("live", [])):
        obj = {"engine_model": MODEL, "tm_create": f"2026-01-01T00:00:{i:02d}Z",
               "rag_id": "00000000-0000-0000-0000-000000000000", **obj}
        if "engine_key" in obj:
            obj["engine_key"] = ENV[obj["engine_key"]]
        live.append(AGENT_KIND.from_api(obj))
    teams = [TEAM_KIND.from_api({"tm_create": f"2026-01-02T00:00:{i:02d}Z", **obj})
             for i, obj in enumerate(case.get("live_teams", []))]
    entries: dict[str, dict[str, ManifestEntry]] = {"agent": {}, "team": {}}
    for kind, section in (("agent", "manifest"), ("team", "manifest_teams")):
        for key, entry in (case.get(section) or {}).items():
            fp = entry.get("engine_key_fingerprint", "")
            if fp.startswith("FP_"):
                fp = fingerprint(ENV[fp[3:]])
            entries[kind][key] = ManifestEntry(
                id=entry["id"], name=entry["name"], direct_hash=entry.get("direct_hash", ""),
                engine_key_fingerprint=fp, fingerprint=entry.get("fingerprint", ""),
                protect=entry.get("protect", False), members=entry.get("members", {}))
    options = case.get("options", {})
    return build_plan(
        desired, LiveState({"agent": tuple(live), "team": tuple(teams)}), Manifest(entries),
        PlanOptions(prune=options.get("prune", False),
                    targets=frozenset(options.get("targets", [])),
                    excludes=frozenset(options.get("excludes", []))),
        Elsewhere(case.get("elsewhere", {})))


@pytest.mark.parametrize("name", sorted(CASES))
def test_plan_case(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    expect = case["expect"]
    if "error" in expect:
        with pytest.raises(PlanError) as caught:
            build(case, tmp_path)
        assert expect["error"] in str(caught.value)
        return
    plan = build(case, tmp_path)
    assert [[c.action, c.key] for c in plan.changes] == expect.get("actions", [])
    data = plan_to_data(plan)
    for key, value in expect.get("summary", {}).items():
        assert data["summary"][key] == value, key
    if "fields" in expect:
        assert sorted(f.field for c in plan.changes for f in c.fields) == expect["fields"]
    if "impact" in expect:
        assert [c.impact for c in plan.changes] == [expect["impact"]] * len(plan.changes)
    if "drift" in expect:
        assert all(c.drift is expect["drift"] for c in plan.changes)
    for key in ("kept", "forgotten"):
        if key in expect:
            assert list(getattr(plan, key)) == expect[key]
    if "moves" in expect:
        assert dict(plan.moves) == expect["moves"]
    if "warning" in expect:
        assert any(expect["warning"] in w for w in plan.warnings)
    if "note" in expect:
        assert any(expect["note"] in n for c in plan.changes for n in c.notes)
    if "safety_exceeded" in expect:
        assert plan.safety.exceeded is expect["safety_exceeded"]
    # Secrets never reach a plan, in any rendering.
    for rendering in (render.text(plan), render.json_text(plan), render.markdown(plan)):
        for secret in ENV.values():
            assert secret not in rendering
    # The JSON form round-trips (saved plans depend on it).
    assert plan_to_data(plan_from_data(json.loads(render.json_text(plan)))) == data


GOLDEN_CASES = ["creates_on_an_empty_account", "field_level_updates", "prune_deletes_owned_"
                "keeps_unmanaged", "nothing_to_do", "adopt_by_unique_name", "drift_is_marked",
                "moved_rekeys_the_manifest", "safety_threshold_exceeded",
                "team_created_after_the_agents_it_uses",
                "team_member_added_transition_changed_start_changed"]


@pytest.mark.parametrize("name", GOLDEN_CASES)
@pytest.mark.parametrize("fmt", ["txt", "json", "md"])
def test_rendering_matches_golden(name: str, fmt: str, tmp_path: Path) -> None:
    plan = build(CASES[name], tmp_path)
    ctx = render.Context(files=("agents.yaml",), target="https://api.voipbin.net/v1.0")
    text = {"txt": lambda: render.text(plan, ctx), "json": lambda: render.json_text(plan),
            "md": lambda: render.markdown(plan, ctx)}[fmt]()
    golden = GOLDEN / f"{name}.{fmt}"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"missing golden file {golden}: run with UPDATE_GOLDEN=1"
    assert text == golden.read_text()


def test_rendering_is_deterministic(tmp_path: Path) -> None:
    first = build(CASES["field_level_updates"], tmp_path)
    second = build(CASES["field_level_updates"], tmp_path)
    assert render.json_text(first) == render.json_text(second)
    assert render.text(first) == render.text(second)


def test_colour_codes_only_when_asked(tmp_path: Path) -> None:
    plan = build(CASES["field_level_updates"], tmp_path)
    assert "\x1b[" in render.text(plan, render.Context(color=True))
    assert "\x1b[" not in render.text(plan, render.Context(color=False))


def test_result_text_says_when_verification_could_not_run() -> None:
    from voipbin_iac.core.model import ApplyResult

    unknown = render.result_text(ApplyResult((), verified=False, remaining=None))
    assert "could not be re-read" in unknown and "0 changes remain" not in unknown
    left = render.result_text(ApplyResult((), verified=False, remaining=2))
    assert "2 changes remain" in left
    done = render.result_text(ApplyResult((), verified=True, remaining=0))
    assert "Verified" in done
