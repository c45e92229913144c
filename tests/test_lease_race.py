"""Two machines, one account: real applies in separate processes from separate copies of one
repository, against one emulator over loopback.

Timing is staged, not slept: a WSGI gate in front of the emulator holds requests on events, in
an order drawn from each trial's seed. The lease runs with a short TTL (`--lock-ttl`) and no
client pacing, so a waiting run notices a release within a fraction of a second.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from voipbin_iac.emulator import EmulatorApp, EmulatorConfig, EmulatorServer, Store
from voipbin_iac.state.leaserecords import ANCHOR

from .conftest import ENGINE_KEY, KEY, ROOT, HoldGate, agents_yaml

AGENTS = {f"agent-{i:02d}": {"name": f"Agent {i:02d}"} for i in range(20)}
FAST = ("--lock-ttl", "3s", "--rate-limit", "0")


class RaceGate:
    """Stages one trial. "acquire": both runs' lock creates are in flight before either goes
    through (a run creates the lock without reading it first), then they are let through one
    at a time, in the seeded order.
    "mid-apply": the holder's `hold_at`-th agent create waits until the other run has read the
    holder's heartbeat tag (it found the account locked)."""

    def __init__(self, app: EmulatorApp, scenario: str, first: int, hold_at: int) -> None:
        self.app, self.scenario, self.first, self.hold_at = app, scenario, first, hold_at
        self.cond = threading.Condition()
        self.lock_posts = self.creates = 0
        self.turn = 0
        self.tag_read = threading.Event()

    @property
    def config(self) -> EmulatorConfig:
        return self.app.config

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        if method == "GET" and path.startswith("/v1.0/tags/"):
            self.tag_read.set()
        if self.scenario == "acquire" and method == "POST" and path == "/v1.0/contact_addresses":
            return self._in_turn(environ, start_response)
        if self.scenario == "mid-apply" and method == "POST" and path == "/v1.0/ais":
            with self.cond:
                self.creates += 1
                held = self.creates == self.hold_at
            if held:
                self.tag_read.wait(30)
        return self.app(environ, start_response)

    def _in_turn(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self.cond:
            mine = self.lock_posts
            self.lock_posts += 1
            self.cond.notify_all()
            if mine > 1:  # a later try (after a release): no staging
                return self.app(environ, start_response)
            self.cond.wait_for(lambda: self.lock_posts >= 2, timeout=30)
            order = (self.first, 1 - self.first)
            self.cond.wait_for(lambda: self.turn >= order.index(mine), timeout=30)
        try:
            return self.app(environ, start_response)
        finally:
            with self.cond:
                self.turn += 1
                self.cond.notify_all()


def spawn(base_url: str, workdir: Path, *args: str) -> subprocess.Popen[str]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "VOIPBIN_API_BASE_URL": base_url,
           "VOIPBIN_API_KEY": KEY, "OPENAI_API_KEY": ENGINE_KEY}
    return subprocess.Popen([sys.executable, "-m", "voipbin_iac", "apply", "agents.yaml",
                             "--yes", *FAST, *args], cwd=workdir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def repository_copies(tmp_path: Path, trial: int) -> list[Path]:
    copies = []
    for name in ("laptop", "ci-runner"):
        workdir = tmp_path / f"trial{trial}" / name
        workdir.mkdir(parents=True)
        (workdir / "agents.yaml").write_text(agents_yaml(AGENTS))
        copies.append(workdir)
    return copies


class Live:
    """One emulator on a real clock for the trial, behind its gate."""

    def __init__(self, path: Path, gate_args: tuple[str, int, int]) -> None:
        self.store = Store.open(path)
        self.store.ensure_accesskey(KEY)
        self.app = EmulatorApp(self.store, EmulatorConfig(rate_limit=None, auth_rate_limit=None))
        self.gate = RaceGate(self.app, *gate_args)
        self.server = EmulatorServer(self.gate).start()  # type: ignore[arg-type]

    def close(self) -> None:
        self.gate.tag_read.set()
        self.server.stop()
        self.store.close()


@pytest.mark.parametrize("seed", range(10))
def test_two_machines_applying_at_once_never_duplicate(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    scenario = ("acquire", "mid-apply")[seed % 2]
    wait = rng.choice(["0", "60s"])
    live = Live(tmp_path / "emulator.sqlite3", (scenario, rng.randrange(2),
                                                rng.randint(1, len(AGENTS))))
    try:
        procs = [spawn(live.server.base_url, copy, "--lock-timeout", wait)
                 for copy in repository_copies(tmp_path, seed)]
        results = [(p.returncode, out, err) for p in procs
                   for out, err in [p.communicate(timeout=120)]]
        requests = live.app.request_log.requests()
        ais = [ai for ai in live.store.list_ais(live.store.customer_for_token(KEY, 0) or "",
                                                None, 1000)]
    finally:
        live.close()
    winners = [r for r in results if r[0] == 0 and "20 done, 0 failed" in r[1]
               and "20 to create" in r[1]]
    assert len(winners) == 1, results
    (other,) = [r for r in results if r is not winners[0]]
    if wait == "0":  # refused, naming the holder
        assert other[0] == 1 and "error: the account is locked by another apply" in other[2]
    else:  # it waited, then found everything made: it adopts, it creates nothing
        assert other[0] == 0 and "20 to adopt" in other[1], other
    creates = Counter(r.status for r in requests if r.method == "POST" and r.path == "/v1.0/ais")
    assert creates == {200: 20}  # zero duplicates, nothing created twice
    assert sorted(ai.fields.name for ai in ais) == sorted(a["name"] for a in AGENTS.values())
    contacts = {r.path for r in requests if r.method == "POST" and r.path == "/v1.0/contacts"}
    assert contacts  # the first runs also raced to make the lease contact


def test_a_killed_holder_is_taken_over_after_the_ttl_not_before(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "emulator.sqlite3")
    store.ensure_accesskey(KEY)
    app = EmulatorApp(store, EmulatorConfig(rate_limit=None, auth_rate_limit=None))
    gate = HoldGate(app, allow=5)  # the sixth create is held
    server = EmulatorServer(gate).start()  # type: ignore[arg-type]
    (workdir, _) = repository_copies(tmp_path, 0)
    try:
        holder = spawn(server.base_url, workdir)
        assert gate.holding.wait(60), holder.communicate()
        holder.send_signal(signal.SIGKILL)  # a lost CI runner: no release, no goodbye
        holder.wait(30)
        gate.release()  # its create in flight commits, unanswered
        runs = {}
        for name, timeout in (("refused", "0"), ("impatient", "1s"), ("patient", "30s")):
            started = time.monotonic()
            proc = spawn(server.base_url, workdir, "--lock-timeout", timeout)
            out, err = proc.communicate(timeout=120)
            runs[name] = (proc.returncode, out, err, time.monotonic() - started)
        with httpx.Client(base_url=server.base_url,
                          headers={"Cookie": f"accesskey={KEY}"}) as api:
            left = api.get("/contact_addresses", params={"type": "email"}).json()
        live = store.list_ais(store.customer_for_token(KEY, 0) or "", None, 1000)
    finally:
        gate.release()
        server.stop()
        store.close()
    code, _, err, _ = runs["refused"]
    assert code == 1 and f"(pid {holder.pid}," in err and "locked by another apply" in err
    code, _, err, took = runs["impatient"]
    assert code == 1 and "unchanged for 1.0 s while this run waited" in err
    assert "taking over" not in err
    code, out, err, took = runs["patient"]
    assert code == 0, err
    assert "taking over the account lease from apply of agents.yaml" in err
    assert f"(pid {holder.pid}," in err and "(TTL 3 s)" in err
    stood = float(err.split("has not moved for ")[1].split(" s")[0])
    assert stood >= 3.0 and took > 3.0  # after the TTL, by the run that took over
    assert "recovering" in err and "Verified" in out
    assert sorted(ai.fields.name for ai in live) == sorted(a["name"] for a in AGENTS.values())
    assert [a["target"] for a in left] == [ANCHOR]  # the killed run's lock is gone
