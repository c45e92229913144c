"""Reliability: applies converge under injected faults with no duplicates and a true manifest;
a killed apply is recovered; Ctrl-C stops cleanly; unknown-outcome creates are adopted."""

from __future__ import annotations

import collections
import json
import signal
from pathlib import Path

import httpx
import pytest
import yaml

from voipbin_iac import journal
from voipbin_iac.apply import Executor
from voipbin_iac.client import Connection, VoipbinClient
from voipbin_iac.config import load
from voipbin_iac.emulator import EmulatorConfig
from voipbin_iac.model import Manifest
from voipbin_iac.plan import build_plan
from voipbin_iac.redact import Secret

from .conftest import ENGINE_KEY, KEY, Stack, agents_yaml


def hundred() -> dict[str, dict[str, str]]:
    return {f"agent-{i:03d}": {"name": f"Agent {i:03d}", "init_prompt": f"You are agent {i}."}
            for i in range(100)}


def assert_converged(stack: Stack, path: Path, expected: int) -> None:
    live = stack.live()
    names = collections.Counter(ai["name"] for ai in live)
    assert len(live) == expected, f"{len(live)} live AIs: duplicates or losses"
    assert all(count == 1 for count in names.values()), names.most_common(3)
    manifest = yaml.safe_load(path.with_name("agents.manifest.yaml").read_text())["agents"]
    by_id = {ai["id"]: ai for ai in live}
    assert len(manifest) == expected
    for entry in manifest.values():
        ai = by_id[entry["id"]]
        assert entry["direct_hash"] == ai["direct_hash"]
        assert entry["name"] == ai["name"]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_apply_converges_under_faults_of_every_kind(make_stack, seed: int) -> None:
    stack = make_stack(EmulatorConfig(rate_limit=None, auth_rate_limit=None, fault_rate=0.2,
                                      seed=seed))
    path = stack.write("agents.yaml", agents_yaml(hundred()))
    results = []
    for _ in range(3):
        result = stack.cli("apply", str(path), "--yes", "--concurrency", "8")
        results.append(result)
        if result.code == 0:
            break
    assert results[-1].code == 0, "\n".join(r.err[-2000:] for r in results)
    faults = collections.Counter(r.fault for r in stack.app.request_log.requests() if r.fault)
    assert set(faults) == {"500", "502", "503", "429", "drop", "lost"}, faults
    stack.app.config = EmulatorConfig(rate_limit=None, auth_rate_limit=None)
    assert_converged(stack, path, 100)
    assert stack.cli("plan", str(path), "--detailed-exitcode").code == 0


class LosingTransport(httpx.HTTPTransport):
    """Forwards every request, but loses the answer of the first `lose` POSTs: the write is
    committed and the client sees a dropped connection."""

    def __init__(self, lose: int) -> None:
        super().__init__()
        self.lose = lose

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method == "POST" and self.lose > 0:
            self.lose -= 1
            response.read()
            response.close()
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.",
                                            request=request)
        return response


@pytest.mark.parametrize("lost", [1, 2])
def test_lost_create_response_is_adopted_not_duplicated(stack: Stack, lost: int) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {"name": "Only once"},
                                                   "b": {"name": "Also once"}}))
    desired = load([path], {"OPENAI_API_KEY": ENGINE_KEY})
    client = VoipbinClient(Connection(stack.server.base_url, Secret(KEY)), clock=stack.clock,
                           rate_limit=None, transport=LosingTransport(lost))
    plan = build_plan(desired, [], Manifest())
    outcomes = Executor(client, desired, Manifest(), clock=stack.clock).run(plan, {})
    client.close()
    assert [o.status for o in outcomes] == ["done", "done"]
    assert sum("unknown outcome" in o.reason for o in outcomes) == lost
    assert sorted(ai["name"] for ai in stack.live()) == ["Also once", "Only once"]
    assert len(stack.app.request_log.requests(method="POST")) == 2  # never sent twice


def test_unknown_create_that_did_not_happen_is_created_again(stack: Stack) -> None:
    class NeverSent(httpx.HTTPTransport):
        def __init__(self) -> None:
            super().__init__()
            self.failed = False

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "POST" and not self.failed:
                self.failed = True
                raise httpx.ReadTimeout("timed out", request=request)
            return super().handle_request(request)

    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    desired = load([path], {"OPENAI_API_KEY": ENGINE_KEY})
    client = VoipbinClient(Connection(stack.server.base_url, Secret(KEY)), clock=stack.clock,
                           rate_limit=None, transport=NeverSent())
    plan = build_plan(desired, [], Manifest())
    (outcome,) = Executor(client, desired, Manifest(), clock=stack.clock).run(plan, {})
    client.close()
    assert outcome.status == "done"
    assert len(stack.live()) == 1
    assert len(stack.app.request_log.requests(method="POST")) == 1


def test_killed_apply_is_recovered_without_duplicates(real_time) -> None:
    emulator = real_time(30)
    path = emulator.workdir / "agents.yaml"
    path.write_text(agents_yaml({f"k{i:02d}": {"name": "Same name"}  # shared on purpose
                                 for i in range(40)}))
    apply = ("apply", str(path), "--yes", "--concurrency", "2")
    proc = emulator.spawn(*apply)
    emulator.wait_for_posts(proc, 10)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    created = len(emulator.app.request_log.requests(method="POST"))
    assert 10 <= created < 40
    manifest_path = path.with_name("agents.manifest.yaml")
    assert not manifest_path.exists()
    assert journal.recover(journal.path_for(manifest_path)).bound  # the log knows
    emulator.app.config = EmulatorConfig(rate_limit=None, auth_rate_limit=None)
    rerun = emulator.run(*apply)
    assert rerun.returncode == 0, rerun.stderr
    assert "no longer running" in rerun.stderr and "recovering" in rerun.stderr
    live = emulator.live_ids()
    assert len(live) == 40  # shared names, yet nothing created twice
    manifest = yaml.safe_load(manifest_path.read_text())["agents"]
    assert sorted(e["id"] for e in manifest.values()) == live
    final = emulator.run("plan", str(path), "--detailed-exitcode")
    assert final.returncode == 0, final.stdout + final.stderr


def test_sigint_stops_after_writes_in_flight_and_writes_manifest(real_time) -> None:
    emulator = real_time(40)
    path = emulator.workdir / "agents.yaml"
    path.write_text(agents_yaml({f"k{i:02d}": {} for i in range(60)}))
    proc = emulator.spawn("apply", str(path), "--yes", "--concurrency", "2")
    emulator.wait_for_posts(proc, 5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "Interrupted" in out and "Traceback" not in err
    created = len(emulator.app.request_log.requests(method="POST"))
    assert created < 60
    manifest_path = path.with_name("agents.manifest.yaml")
    manifest = yaml.safe_load(manifest_path.read_text())["agents"]
    assert len(manifest) == created == len(emulator.live_ids())
    last = journal.path_for(manifest_path).read_text().splitlines()[-1]
    assert json.loads(last)["event"] == "end"


def test_partial_failure_lists_outcomes_and_manifest_tells_the_truth(make_stack) -> None:
    # 500 on a create is VoIPBin rejecting an argument: never retried, reported as failed.
    stack = make_stack(EmulatorConfig(rate_limit=None, auth_rate_limit=None, fault_rate=0.3,
                                      fault_kinds=("500",), seed=11))
    path = stack.write("agents.yaml", agents_yaml({f"k{i}": {} for i in range(12)}))
    first = stack.cli("apply", str(path), "--yes")
    assert first.code == 1
    failed = [line for line in first.out.splitlines() if line.startswith("FAILED")]
    assert failed and all("POST /ais answered 500" in line for line in failed)
    assert all("check those fields" in line for line in failed)  # what a 500 on create means
    stack.app.config = EmulatorConfig(rate_limit=None, auth_rate_limit=None)
    live = {ai["id"] for ai in stack.live()}
    manifest = yaml.safe_load(path.with_name("agents.manifest.yaml").read_text())["agents"]
    assert {e["id"] for e in manifest.values()} == live  # exactly what exists
    assert len(live) == 12 - len(failed)
    second = stack.cli("apply", str(path), "--yes")
    assert second.code == 0 and f"{len(failed)} done, 0 failed" in second.out
    assert_converged(stack, path, 12)


def test_one_failure_does_not_stop_independent_changes(make_stack) -> None:
    stack = make_stack(EmulatorConfig(rate_limit=None, auth_rate_limit=None))
    path = stack.write("agents.yaml", agents_yaml({"a": {}, "b": {}, "c": {}}))
    assert stack.cli("apply", str(path), "--yes").code == 0
    entries = yaml.safe_load(path.with_name("agents.manifest.yaml").read_text())["agents"]
    path.write_text(agents_yaml({"a": {"detail": "1"}, "b": {"detail": "1"},
                                 "c": {"detail": "1"}}))
    plan_file = stack.path("plan.json")
    assert stack.cli("plan", str(path), "--out", plan_file).code == 0
    # Another tool deletes b after the plan: its PUT now answers 404.
    stack.api().delete(f"/ais/{entries['b']['id']}")
    desired = load([path], {"OPENAI_API_KEY": ENGINE_KEY})
    client = VoipbinClient(Connection(stack.server.base_url, Secret(KEY)), clock=stack.clock,
                           rate_limit=None)
    live = {a.id: a for a in client.list_ais()}
    from voipbin_iac.manifest import read

    manifest = read(path.with_name("agents.manifest.yaml"))
    plan = build_plan(desired, list(live.values()), manifest)
    # Re-plan saw b as gone (create); force the stale update through the executor directly.
    from voipbin_iac.savedplan import load as load_plan

    saved = load_plan(Path(plan_file)).plan
    outcomes = Executor(client, desired, manifest, clock=stack.clock).run(saved, live)
    client.close()
    status = {o.change.key: o.status for o in outcomes}
    assert status == {"a": "done", "b": "failed", "c": "done"}
    reason = next(o.reason for o in outcomes if o.change.key == "b")
    assert "PUT /ais/" in reason and "404" in reason
    assert plan.count("create") == 1
