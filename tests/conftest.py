"""Shared fixtures: an emulator on real loopback HTTP, and the CLI run in-process against it.

Time is a `FakeClock` shared by the CLI and the emulator, so pacing, backoff and latency never
sleep for real and the emulator's timestamps agree with the client's clock.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from voipbin_iac.cli import app as cli
from voipbin_iac.core.clock import FakeClock
from voipbin_iac.core.kinds.agent import AGENT_KIND
from voipbin_iac.emulator import EmulatorApp, EmulatorConfig, EmulatorServer, Store

from . import pages

ROOT = Path(__file__).resolve().parent.parent
KEY = "vb_test_owner_key_0123456789"
OTHER_KEY = "vb_test_other_customer_key"
ENGINE_KEY = "sk-test-engine-key-4f1c9a7e"
MODEL = "openai.gpt-5-mini"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + self.err


@dataclass
class Stack:
    """A running emulator, a work directory and a way to run the CLI against both."""

    app: EmulatorApp
    server: EmulatorServer
    store: Store
    clock: FakeClock
    workdir: Path
    env: dict[str, str]
    clients: list[httpx.Client] = field(default_factory=list)

    def cli(self, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> Result:
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(list(args), stdin=io.StringIO(stdin), stdout=out, stderr=err,
                        env={**self.env, **(env or {})}, clock=self.clock)
        return Result(code, out.getvalue(), err.getvalue())

    def api(self, key: str = KEY) -> httpx.Client:
        """A plain httpx client on the emulator, as another tool or the console would use."""
        client = httpx.Client(base_url=self.server.base_url, timeout=10,
                              headers={"Cookie": f"accesskey={key}"})
        self.clients.append(client)
        return client

    def live(self, key: str = KEY) -> list[dict[str, Any]]:
        """Every live AI of a customer, straight from the API."""
        api = self.api(key)

        def fetch(token: str) -> dict[str, Any]:
            params: dict[str, Any] = {"page_size": 100}
            if token:
                params["page_token"] = token
            body: dict[str, Any] = api.get("/ais", params=params).json()
            return body

        return pages.items(fetch)

    def write(self, name: str, text: str) -> Path:
        path = self.workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def path(self, name: str) -> str:
        return str(self.workdir / name)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_stack(tmp_path: Path, fake_clock: FakeClock) -> Iterator[Callable[..., Stack]]:
    made: list[Stack] = []

    def make(config: EmulatorConfig | None = None, state: Path | None = None) -> Stack:
        store = Store.open(state, clock=fake_clock)
        store.ensure_accesskey(KEY)
        store.ensure_accesskey(OTHER_KEY)
        app = EmulatorApp(store, config or EmulatorConfig(rate_limit=None,
                                                          auth_rate_limit=None), fake_clock)
        server = EmulatorServer(app).start()
        workdir = tmp_path / f"work{len(made)}"
        workdir.mkdir()
        env = {"VOIPBIN_API_BASE_URL": server.base_url, "VOIPBIN_API_KEY": KEY,
               "OPENAI_API_KEY": ENGINE_KEY, "NO_COLOR": "1"}
        stack = Stack(app, server, store, fake_clock, workdir, env)
        made.append(stack)
        return stack

    yield make
    for stack in made:
        for client in stack.clients:
            client.close()
        stack.server.stop()
        stack.store.close()


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack()


# The files git tracks under examples/ (tests/test_newcomer.py keeps this equal to
# `git ls-files examples`). Never the whole directory: the README's quick start leaves a
# manifest, an apply log, a lock and the emulator's state beside agents.yaml, and a copy of
# those would make every test that starts from the example start from "every AI gone".
EXAMPLE_FILES = ("agents.tests.yaml", "agents.yaml", "emulator-assistant.yaml",
                 "github-actions/voipbin-iac.yml", "prompts/booking.txt")


def copy_examples(dest: Path, root: Path = ROOT) -> Path:
    """Copy the tracked example files of `root` to `dest/examples`; return its agents.yaml."""
    for name in EXAMPLE_FILES:
        target = dest / "examples" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / "examples" / name, target)
    return dest / "examples" / "agents.yaml"


@pytest.fixture
def example(stack: Stack) -> Path:
    """The tracked files of examples/ in the stack's work directory; returns agents.yaml."""
    return copy_examples(stack.workdir)


def agents_yaml(agents: dict[str, dict[str, Any]], *, defaults: dict[str, Any] | None = None,
                extra: str = "") -> str:
    """A desired-state file for `agents`, with the standard model and engine key defaults."""
    import yaml

    doc: dict[str, Any] = {
        "version": 1,
        "defaults": {"engine_model": MODEL, "engine_key": "${env:OPENAI_API_KEY}",
                     **(defaults or {})},
        "agents": agents,
    }
    return yaml.safe_dump(doc, sort_keys=False) + extra


class HoldGate:
    """WSGI middleware that answers the first `allow` requests of `method` to `path` (by
    default the creates, `POST /v1.0/ais`) and holds every later one until `release()`: a
    separate CLI process can then be killed, interrupted or raced at an exact point, with no
    latency and no polling. A held POST is processed once released, so a POST held when its
    client dies is a write committed with nobody to hear the answer. Other requests (the
    account lock's) pass."""

    def __init__(self, app: EmulatorApp, allow: int, *, method: str = "POST",
                 path: str = "/v1.0/ais") -> None:
        import threading

        self.app = app
        self.allow = allow
        self.method, self.path = method, path
        self._lock = threading.Lock()
        self._seen = 0
        self._open = threading.Event()
        self.holding = threading.Event()

    @property
    def config(self) -> EmulatorConfig:  # what the server reads from the app it serves
        return self.app.config

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ["REQUEST_METHOD"] == self.method and environ["PATH_INFO"] == self.path:
            with self._lock:
                self._seen += 1
                held = self._seen > self.allow
            if held:
                self.holding.set()
                assert self._open.wait(60), "the test never released the gate"
        return self.app(environ, start_response)

    def release(self) -> None:
        self._open.set()


@dataclass
class Process:
    """An emulator behind a `HoldGate`, for tests that run the CLI as a separate process and
    act on it mid-apply (kill it, interrupt it, race it)."""

    app: EmulatorApp
    gate: HoldGate
    server: EmulatorServer
    store: Store
    workdir: Path

    @property
    def env(self) -> dict[str, str]:
        import os

        return {**os.environ, "PYTHONPATH": str(ROOT), "VOIPBIN_API_BASE_URL":
                self.server.base_url, "VOIPBIN_API_KEY": KEY, "OPENAI_API_KEY": ENGINE_KEY}

    def argv(self, *args: str) -> list[str]:
        import sys

        return [sys.executable, "-m", "voipbin_iac", *args]

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), env=self.env, capture_output=True, text=True,
                              timeout=120)

    def wait_until_held(self, proc: subprocess.Popen[str]) -> None:
        """Block (on an event, not a sleep) until the process sends a POST past the gate."""
        if not self.gate.holding.wait(60):
            proc.kill()
            raise AssertionError(f"no POST reached the gate: {proc.communicate()}")

    def posts(self) -> int:
        """Creates sent (`POST /v1.0/ais`)."""
        return len([r for r in self.app.request_log.requests(method="POST")
                    if r.path == "/v1.0/ais"])

    def live_ids(self) -> list[str]:
        from voipbin_iac.api.client import Connection, VoipbinClient
        from voipbin_iac.core.secret import Secret

        with VoipbinClient(Connection(self.server.base_url, Secret(KEY)),
                           rate_limit=None) as client:
            return sorted(a.id for a in client.list(AGENT_KIND))


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[Callable[[int], Process]]:
    """`gated(n)`: an emulator that answers n POSTs, then holds the rest until released."""
    made: list[Process] = []

    def make(allow: int) -> Process:
        store = Store.open(tmp_path / f"emulator{len(made)}.sqlite3")
        store.ensure_accesskey(KEY)
        app = EmulatorApp(store, EmulatorConfig(rate_limit=None, auth_rate_limit=None))
        gate = HoldGate(app, allow)
        server = EmulatorServer(gate).start()  # type: ignore[arg-type]
        made.append(Process(app, gate, server, store, tmp_path))
        return made[-1]

    yield make
    for process in made:
        process.gate.release()
        process.server.stop()
        process.store.close()
