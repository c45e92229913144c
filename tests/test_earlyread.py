"""Listing while the files are read (issue: performance): the live listing starts as soon as the
connection is known, a bad desired file is reported without waiting for it, a listing error
reads as before, and an apply lists only once it holds its lock.

The listing is held at a gate in front of the emulator (released by the test), so each case is
an exact interleaving, never a race against the clock.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from voipbin_iac.api.client import Connection, VoipbinClient
from voipbin_iac.core.clock import FakeClock
from voipbin_iac.core.model import DesiredState
from voipbin_iac.core.plan import PlanOptions
from voipbin_iac.core.secret import Secret
from voipbin_iac.desired.config import load
from voipbin_iac.emulator import EmulatorServer, Store
from voipbin_iac.run import workflow
from voipbin_iac.state import lock

from .conftest import ENGINE_KEY, KEY, MODEL, HoldGate, Stack, agents_yaml
from .waiting import spin

ENV = {"OPENAI_API_KEY": ENGINE_KEY}


@pytest.fixture
def gated(make_stack: Callable[..., Stack]) -> Iterator[tuple[Stack, HoldGate]]:
    """A stack whose CLI talks to a second server: the same app behind a `HoldGate`."""
    stack = make_stack()
    gate = HoldGate(stack.app, 0, method="GET")  # every listing of AIs is held
    server = EmulatorServer(gate).start()  # type: ignore[arg-type]
    stack.env["VOIPBIN_API_BASE_URL"] = server.base_url
    try:
        yield stack, gate
    finally:
        gate.release()
        server.stop()


def stacks() -> str:
    """Where every listing thread is now: what a failing `spin` shows."""
    frames = sys._current_frames()
    return "\n".join(f"{t.name}:\n" + "".join(traceback.format_stack(frames[t.ident]))
                     for t in listing_threads() if t.ident in frames)


def listing_threads(besides: frozenset[threading.Thread] = frozenset()) -> list[threading.Thread]:
    """The listing threads running now, but for `besides` (ones an earlier test left)."""
    return [t for t in threading.enumerate() if t.name.startswith("list:") and t not in besides]


def test_the_listing_is_under_way_before_the_desired_files_are_read(
        gated: tuple[Stack, HoldGate]) -> None:
    stack, gate = gated
    path = stack.write("agents.yaml", agents_yaml({"bot": {}}))

    def read() -> DesiredState:
        assert gate.holding.wait(30), "the listing had not started when the files were read"
        gate.release()
        return load([path], ENV)

    client = VoipbinClient(Connection(stack.env["VOIPBIN_API_BASE_URL"], Secret(KEY)),
                           clock=FakeClock(), rate_limit=None)
    with client:
        planned = workflow.plan(client, read, path.with_name("agents.manifest.yaml"),
                                PlanOptions())
    assert [c.action for c in planned.plan.changes] == ["create"]
    assert planned.desired is not None and "bot" in planned.desired.agents


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_bad_desired_file_is_reported_without_waiting_for_the_listing(
        gated: tuple[Stack, HoldGate], command: str) -> None:
    stack, gate = gated
    # The listing is held at the gate for the whole command: a command that waited for it
    # before reporting the bad file would still be running when the join below gives up.
    # (A FIFO would order the read after the listing's start, but the desired reader
    # refuses anything that is not a regular file.)
    # (The agents after the bad one make the read take long enough for the listing to reach
    # the gate first, however slow the machine: a listing that never sent has nothing to
    # wait for, and the test would prove nothing.)
    bulk = "".join(f"  a{i}:\n    engine_model: {MODEL}\n    detail: {'x' * 200}\n"
                   for i in range(2000))
    path = stack.write(
        "agents.yaml",
        f"version: 1\nagents:\n  bot:\n    engine_model: {MODEL}\n    nme: typo\n{bulk}")
    args = [command, str(path), *(["--yes"] if command == "apply" else [])]
    earlier = frozenset(listing_threads())
    results: list[Any] = []
    runner = threading.Thread(target=lambda: results.append(stack.cli(*args)))
    runner.start()
    runner.join(30)  # a command that waited for the listing would wait for the gate
    assert not runner.is_alive(), "the command waited for the listing"
    result = results[0]
    assert result.code == 1
    assert "agents.yaml:5:5: agents.bot.nme: unknown field (did you mean 'name'?)" in result.err
    assert "Traceback" not in result.err
    mine = listing_threads(earlier)  # this command's listing, still held at the gate
    assert mine and gate.holding.is_set(), "the listing had not reached the gate"
    gate.release()
    spin(lambda: not any(t.is_alive() for t in mine), "the abandoned listing ended", stacks)
    assert not (stack.workdir / "agents.manifest.yaml").exists()


def test_a_listing_error_reads_as_it_did(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"bot": {}}))
    result = stack.cli("plan", str(path), env={"VOIPBIN_API_KEY": "vb_wrong_key_0000000000"})
    assert result.code == 1
    assert "error: GET /ais answered 401 INVALID_CREDENTIALS" in result.err
    assert "hint: VoIPBin refused the accesskey" in result.err
    assert "Traceback" not in result.err


def test_a_bad_file_wins_over_a_missing_api_key(stack: Stack) -> None:
    path = stack.write("agents.yaml", "version: 1\nagents:\n  bot:\n    nme: typo\n")
    result = stack.cli("plan", str(path), env={"VOIPBIN_API_KEY": ""})
    assert result.code == 1
    assert "agents.bot.nme: unknown field" in result.err
    assert "VOIPBIN_API_KEY is not set" not in result.err


def test_an_apply_lists_only_once_it_holds_the_lock(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"bot": {}}))
    manifest = path.with_name("agents.manifest.yaml")
    stack.app.request_log.clear_log()
    with lock.ApplyLock(lock.path_for(manifest)):
        result = stack.cli("apply", str(path), "--yes")
    assert result.code == 1 and "another apply is running" in result.err
    assert len(stack.app.request_log) == 0  # not even a listing was sent
    again = stack.cli("apply", str(path), "--yes")
    assert again.code == 0, again.err


def test_an_emulator_plan_with_a_bad_file_ends_cleanly(tmp_path: Path) -> None:
    """`--emulator`: the abandoned listing runs in-process; the store closes only after it."""
    import io

    from voipbin_iac.cli import app as cli

    state = tmp_path / "state.sqlite3"
    with Store.open(state) as store:
        store.ensure_accesskey("vb_emulator_demo")
    path = tmp_path / "agents.yaml"
    path.write_text("version: 1\nagents:\n  bot:\n    nme: typo\n")
    out, err = io.StringIO(), io.StringIO()
    earlier = frozenset(listing_threads())
    code = cli.main(["plan", str(path), "--emulator", "--emulator-state", str(state)],
                    stdout=out, stderr=err, env={"NO_COLOR": "1"})
    assert code == 1 and "agents.bot.nme: unknown field" in err.getvalue()
    assert "Traceback" not in err.getvalue() and "unexpected error" not in err.getvalue()
    spin(lambda: not listing_threads(earlier), "the abandoned listing ended", stacks)
