"""What the benchmarks share: generated fleets of agents, seeded emulator state, clients over
the in-process emulator, an emulator over loopback HTTP that notes when each request came and
went, timers, and the run's context (the figures and the table are in `report`).

A *fleet* of N agents is a desired-state file (`agents.yaml`, N agents with 2 KB prompts written
as YAML literal blocks), an emulator state file holding the same N AIs under the `--emulator`
accesskey, and a manifest that owns them, so a plan of the fleet has no changes. Everything is
deterministic: agent i always has the same key, name and prompt.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from voipbin_iac.api.client import Connection, VoipbinClient
from voipbin_iac.cli.commands import EMULATOR_KEY, EMULATOR_URL
from voipbin_iac.core.kinds.agent import AGENT_KIND
from voipbin_iac.core.model import AGENT, LiveResource, LiveState, Manifest
from voipbin_iac.core.secret import Secret
from voipbin_iac.emulator import EmulatorApp, EmulatorConfig, EmulatorTransport, Store
from voipbin_iac.emulator.ais import render_ai
from voipbin_iac.emulator.records import AiFields, AiRecord
from voipbin_iac.state import manifest as manifests

T = TypeVar("T")

MODEL = "openai.gpt-5-mini"
ENGINE_KEY_VAR = "BENCH_ENGINE_KEY"
ENGINE_KEY = "sk-bench-engine-key-0123456789abcdef"
VOICE = "21m00Tcm4TlvDq8ikWAM"
PARAMETER_JSON = '{"temperature":0.3}'
PROMPT_BYTES = 2048
PAGE = 100  # the client's page size, and the API's maximum
BASE_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in microseconds

_WORDS = (
    "answer", "caller", "politely", "briefly", "account", "billing", "order", "status",
    "transfer", "human", "agent", "never", "always", "confirm", "spell", "name", "email",
    "address", "refund", "policy", "within", "thirty", "days", "shipping", "tracking", "number",
    "opening", "hours", "weekend", "holiday", "escalate", "manager", "summarise", "request",
    "repeat", "clearly", "speak", "slowly", "apologise", "delay", "offer", "callback",
)


def _lines(count: int = 97) -> tuple[str, ...]:
    """Deterministic prompt lines of 60 to 78 characters, words from `_WORDS`."""
    lines, state = [], 12345
    for _ in range(count):
        words: list[str] = []
        limit = 60 + state % 19
        while len(" ".join(words)) < limit:
            state = (state * 1103515245 + 12345) % 2**31
            words.append(_WORDS[state % len(_WORDS)])
        lines.append(" ".join(words)[:limit].rstrip().capitalize() + ".")
    return tuple(lines)


LINES = _lines()


# -- the fleet's agents ------------------------------------------------------------------------

def agent_key(i: int) -> str:
    return f"agent-{i:05d}"


def agent_name(i: int) -> str:
    return f"Bench Agent {i:05d}"


def prompt_for(i: int, size: int = PROMPT_BYTES, *, edited: bool = False) -> str:
    """Agent i's multi-line prompt of exactly `size` characters (ASCII), newline-terminated."""
    lines = [f"You are bench agent {i:05d}{' (edited)' if edited else ''}, a voice assistant."]
    used, j = len(lines[0]) + 1, 0
    while True:
        line = LINES[(i * 31 + j * 7) % len(LINES)]
        if used + len(line) + 1 > size - 2:  # keep room for a closing line of 1+ characters
            break
        lines.append(line)
        used, j = used + len(line) + 1, j + 1
    rest = size - used - 1
    lines.append(("Thanks" + "." * rest)[:rest])
    return "\n".join(lines) + "\n"


def desired_yaml(n: int, *, prompt_bytes: int = PROMPT_BYTES, start: int = 0) -> str:
    """A desired-state file of agents `start` .. `start + n - 1`, written by hand (fast)."""
    head = (
        "version: 1\n"
        "defaults:\n"
        f"  engine_model: {MODEL}\n"
        f"  engine_key: ${{env:{ENGINE_KEY_VAR}}}\n"
        "  tts_type: elevenlabs\n"
        "  stt_type: deepgram\n"
        "  stt_language: en-US\n"
        "  tool_names: [connect_call]\n"
        "agents:\n"
    )
    parts = [head]
    for i in range(start, start + n):
        body = "".join(f"      {line}\n" for line in prompt_for(i, prompt_bytes).splitlines())
        parts.append(
            f"  {agent_key(i)}:\n"
            f"    name: {agent_name(i)}\n"
            f"    detail: Benchmark agent {i}\n"
            f"    tts_voice_id: {VOICE}\n"
            "    parameter:\n"
            "      temperature: 0.3\n"
            "    init_prompt: |\n" + body
        )
    return "".join(parts)


def ai_fields(i: int, prompt_bytes: int = PROMPT_BYTES, *, edited: bool = False) -> AiFields:
    """Agent i as the emulator stores it after a create from `desired_yaml`."""
    return AiFields(
        name=agent_name(i), detail=f"Benchmark agent {i}", engine_model=MODEL,
        parameter_json=PARAMETER_JSON, engine_key=ENGINE_KEY,
        init_prompt=prompt_for(i, prompt_bytes, edited=edited), tts_type="elevenlabs",
        tts_voice_id=VOICE, stt_type="deepgram", stt_language="en-US",
        tool_names=("connect_call",),
    )


def api_objects(n: int, *, prompt_bytes: int = PROMPT_BYTES,
                edited: Callable[[int], bool] = lambda i: False) -> list[dict[str, Any]]:
    """N `/ais` objects exactly as `GET /v1.0/ais` renders them (the emulator's renderer)."""
    customer = str(uuid.UUID(int=7, version=4))
    out = []
    for i in range(n):
        record = AiRecord(
            id=str(uuid.UUID(int=(0xB3 << 120) | i, version=4)), customer_id=customer,
            fields=ai_fields(i, prompt_bytes, edited=edited(i)), direct_hash=f"direct.{i:012x}",
            tm_create=BASE_US + i, tm_update=None, tm_delete=None)
        out.append(render_ai(record))
    return out


def live_agents(objects: Sequence[dict[str, Any]]) -> list[LiveResource]:
    """The objects as the client reads them (`AGENT_KIND.from_api`)."""
    return [AGENT_KIND.from_api(obj) for obj in objects]


def live_state(live: Sequence[LiveResource]) -> LiveState:
    """A live state holding these AIs and no teams, as `read_live` returns it."""
    return LiveState({AGENT: tuple(live), "team": ()},
                     account=live[0].customer_id if live else "")


def owning_manifest(live: Sequence[LiveResource]) -> Manifest:
    """The manifest an apply of agents 0..N-1 would have written for these AIs (i-th -> key i)."""
    entries = {agent_key(i): AGENT_KIND.entry(ai, None, None, applied=True, name=ai.name)
               for i, ai in enumerate(live)}
    return Manifest({AGENT: entries}, account=live[0].customer_id if live else "")


def env() -> dict[str, str]:
    """The environment the CLI runs with: only the engine key the file references."""
    return {ENGINE_KEY_VAR: ENGINE_KEY, "NO_COLOR": "1"}


# -- seeded emulator state ---------------------------------------------------------------------

@dataclass(frozen=True)
class Fleet:
    """N agents on disk: desired file, its manifest (owning them all), emulator state."""

    n: int
    config: Path
    manifest: Path
    state: Path


def seed_store(store: Store, customer_id: str, n: int, *, start: int = 0,
               prompt_bytes: int = PROMPT_BYTES) -> list[AiRecord]:
    """Insert agents `start`.. as AIs straight through the store (no HTTP, no rate limit)."""
    return [store.create_ai(customer_id, ai_fields(i, prompt_bytes), BASE_US + i)
            for i in range(start, start + n)]


def build_fleet(directory: Path, n: int) -> Fleet:
    """Write the desired file, seed a fresh state file and write the owning manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "agents.yaml"
    config.write_text(desired_yaml(n))
    state = directory / "emulator.sqlite3"
    with Store.open(state) as store:
        customer = store.ensure_accesskey(EMULATOR_KEY)
        records = seed_store(store, customer, n)
    manifest = owning_manifest(live_agents([render_ai(r) for r in records]))
    path = manifests.path_for(config)
    manifests.write(path, manifest)
    return Fleet(n, config, path, state)


def copy_fleet(fleet: Fleet, directory: Path) -> Fleet:
    """A copy of a fleet's files (to apply to without touching the original)."""
    shutil.copytree(fleet.config.parent, directory)
    return Fleet(fleet.n, directory / fleet.config.name, directory / fleet.manifest.name,
                 directory / fleet.state.name)


def unlimited() -> EmulatorConfig:
    """An emulator that never answers 429 (for counting and CPU figures)."""
    return EmulatorConfig(rate_limit=None, auth_rate_limit=None)


@contextlib.contextmanager
def in_process(state: Path | None, config: EmulatorConfig | None = None, *,
               rate_limit: float | None = None) -> Iterator[tuple[EmulatorApp, VoipbinClient]]:
    """An emulator app on `state` and a client that talks to it in-process, as `--emulator`
    does; the client paces at `rate_limit` (None: not at all)."""
    with Store.open(state) as store:
        store.ensure_accesskey(EMULATOR_KEY)
        app = EmulatorApp(store, config or unlimited())
        client = VoipbinClient(Connection(EMULATOR_URL, Secret(EMULATOR_KEY)),
                               transport=EmulatorTransport(app), rate_limit=rate_limit)
        with client:
            yield app, client


def list_requests(n: int) -> int:
    """Requests to list n AIs in pages of 100 up to the empty page."""
    return math.ceil(n / PAGE) + 1


# -- timing ------------------------------------------------------------------------------------

def best_cpu(fn: Callable[[], T], repeats: int = 1) -> tuple[float, T]:
    """The least CPU time (`time.process_time`) of `repeats` calls, and the last result."""
    best, result = math.inf, None
    for _ in range(max(1, repeats)):
        started = time.process_time()
        result = fn()
        best = min(best, time.process_time() - started)
    return best, result  # type: ignore[return-value]


ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def as_the_cli() -> Iterator[None]:
    """The cyclic collector's thresholds as the CLI sets them while a command runs, so CPU
    figures measured outside the CLI are those of a command."""
    from voipbin_iac.cli.app import GC_THRESHOLDS

    before = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, **env(), "PYTHONPATH": str(ROOT), **(extra or {})}


def least_wall(command: list[str], repeats: int, cwd: Path = ROOT,
               extra_env: dict[str, str] | None = None) -> float:
    """The least wall time of `repeats` runs of `command` in a child process (the least is
    the figure least disturbed by whatever else the machine does)."""
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, env=child_env(extra_env),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        elapsed = time.perf_counter() - started
        if done.returncode not in (0, 2):
            raise RuntimeError(f"{command} exited {done.returncode}")
        best = min(best, elapsed)
    return best


def python() -> list[str]:
    return [sys.executable]


def timed(fn: Callable[[], T]) -> tuple[float, float, T]:
    """Wall seconds, CPU seconds and the result of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


@dataclass
class RunContext:
    """Settings and shared, cached inputs of one run."""

    quick: bool
    workdir: Path
    sections: list[tuple[str, str]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    _fleets: dict[int, Fleet] = field(default_factory=dict)

    @property
    def large(self) -> int:
        """The large fleet: 10,000 agents (2,000 with --quick)."""
        return 2_000 if self.quick else 10_000

    def fleet(self, n: int) -> Fleet:
        """The fleet of n agents, built once per run."""
        if n not in self._fleets:
            self._fleets[n] = build_fleet(self.workdir / f"fleet-{n}", n)
        return self._fleets[n]

    def section(self, title: str, markdown: str) -> None:
        self.sections.append((title, markdown))


# -- the emulator over loopback HTTP, timed -----------------------------------------------------

@dataclass(frozen=True)
class Seen:
    """One request as the emulator saw it: arrival and answer (perf_counter seconds)."""

    method: str
    path: str
    arrived: float
    answered: float


class TimedApp:
    """WSGI middleware noting when each request arrived at the emulator and when its answer
    left (the emulator's latency is slept inside, so arrival is when the client sent it)."""

    def __init__(self, app: EmulatorApp) -> None:
        self.app = app
        self.seen: list[Seen] = []
        self._lock = threading.Lock()

    @property
    def config(self) -> EmulatorConfig:
        return self.app.config

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        arrived = time.perf_counter()
        try:
            return self.app(environ, start_response)
        finally:
            with self._lock:
                self.seen.append(Seen(environ["REQUEST_METHOD"], environ["PATH_INFO"],
                                      arrived, time.perf_counter()))
