"""Reading the live state without needless round trips (run/livestate): the kinds are listed at
once and the GETs by id go out side by side, for the plan and for the verification after an
apply. Request counts are pinned in `test_request_counts.py`; these tests pin the overlap.

Concurrency is proved without timing: a gate holds each request until the others it should
overlap with are in flight too (a `threading.Barrier`). A sequential read never gets there:
the barrier breaks after a few seconds and the test fails, so only a regression waits at all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from voipbin_iac.core.kinds import KINDS, Kind
from voipbin_iac.core.kinds.agent import AGENT_KIND
from voipbin_iac.core.model import LiveResource, Manifest, ManifestEntry
from voipbin_iac.emulator import EmulatorConfig, EmulatorServer
from voipbin_iac.errors import NotFoundError, PermissionDeniedError, RefusedError, ServerError
from voipbin_iac.run.livestate import READERS, listing_cost, read_live, refresh

from .conftest import Stack, agents_yaml
from .fakeapi import FakeApi

BROKEN = 3.0  # real seconds a barrier waits before it breaks: only a regression ever waits


class Rendezvous:
    """Holds each request it is asked about until `parties` of them are in flight at once,
    group after group. `missed` counts the requests that gave up waiting (they then go on, so
    a sequential read still ends, late, and the test fails on `missed`)."""

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=BROKEN)
        self.met = 0
        self.missed = 0
        self._lock = threading.Lock()

    def meet(self) -> None:
        try:
            self.barrier.wait()
            outcome = "met"
        except threading.BrokenBarrierError:
            outcome = "missed"
            self.barrier.reset()  # the next group may still meet
        with self._lock:
            setattr(self, outcome, getattr(self, outcome) + 1)


class Latch:
    """Holds the first `parties` requests until all of them are in flight at once; later ones
    pass at once. `peak` is the most ever in flight together (`enter` .. `leave`)."""

    def __init__(self, parties: int) -> None:
        self.parties = parties
        self.arrived = self.inflight = self.peak = self.missed = 0
        self._cond = threading.Condition()

    def enter(self) -> None:
        with self._cond:
            self.arrived += 1
            self.inflight += 1
            self.peak = max(self.peak, self.inflight)
            self._cond.notify_all()
            if self.arrived <= self.parties and not self._cond.wait_for(
                    lambda: self.arrived >= self.parties, timeout=BROKEN):
                self.missed += 1

    def leave(self) -> None:
        with self._cond:
            self.inflight -= 1


class GatedApp:
    """WSGI middleware: the requests `which(method, path, query)` picks meet at a
    `Rendezvous` (`latch=False`) or pass a `Latch` before the emulator answers them."""

    def __init__(self, app: Any, which: Callable[[str, str, str], bool], parties: int,
                 latch: bool) -> None:
        self.app, self.which = app, which
        self.rendezvous = Rendezvous(parties)
        self.latch = Latch(parties) if latch else None

    @property
    def config(self) -> EmulatorConfig:
        return self.app.config

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not self.which(environ["REQUEST_METHOD"], environ["PATH_INFO"],
                          environ.get("QUERY_STRING", "")):
            return self.app(environ, start_response)
        if self.latch is None:
            self.rendezvous.meet()
            return self.app(environ, start_response)
        self.latch.enter()
        try:
            return self.app(environ, start_response)
        finally:
            self.latch.leave()


@pytest.fixture
def gate(stack: Stack) -> Iterator[Callable[..., GatedApp]]:
    """Puts a `GatedApp` in front of the stack's emulator, on a second server the CLI uses."""
    servers: list[EmulatorServer] = []

    def install(which: Callable[[str, str, str], bool], parties: int,
                latch: bool = False) -> GatedApp:
        gated = GatedApp(stack.app, which, parties, latch)
        server = EmulatorServer(gated).start()  # type: ignore[arg-type]
        servers.append(server)
        stack.env["VOIPBIN_API_BASE_URL"] = server.base_url
        return gated

    yield install
    for server in servers:
        server.stop()


def first_page_of_a_kind(method: str, path: str, query: str) -> bool:
    return method == "GET" and path in ("/v1.0/ais", "/v1.0/teams") and "page_token" not in query


def one_ai(method: str, path: str, query: str) -> bool:
    return method == "GET" and path.startswith("/v1.0/ais/")


def test_the_verification_lists_the_kinds_at_once(stack: Stack, gate) -> None:
    path = stack.write("agents.yaml", agents_yaml({f"a{i}": {} for i in range(4)}))
    gated = gate(first_page_of_a_kind, parties=len(KINDS))
    result = stack.cli("apply", str(path), "--yes")
    assert result.code == 0 and "Verified" in result.out, result.err
    # The plan's listing (while the files were read) and the verification's: each time the
    # AI and the team listings were in flight together.
    assert (gated.rendezvous.met, gated.rendezvous.missed) == (2 * len(KINDS), 0)


def test_read_live_lists_the_kinds_at_once() -> None:
    api = FakeGate(FakeApi(), list_parties=len(KINDS))
    live = read_live(api, Manifest())
    assert live.of("agent") == ()
    assert (api.listed.met, api.listed.missed) == (len(KINDS), 0)


def test_the_verification_gets_the_written_agents_side_by_side(stack: Stack, gate) -> None:
    agents = {f"a{i:03d}": {} for i in range(250)}
    path = stack.write("agents.yaml", agents_yaml(agents))
    assert stack.cli("apply", str(path), "--yes").code == 0
    for key in ("a000", "a001", "a002"):
        agents[key] = {"detail": "edited"}
    path.write_text(agents_yaml(agents))
    gated = gate(one_ai, parties=3, latch=True)
    stack.app.request_log.clear_log()
    result = stack.cli("apply", str(path), "--yes")
    assert result.code == 0 and "Verified" in result.out, result.err
    gets = stack.app.request_log.requests(method="GET", path_prefix="/v1.0/ais/")
    assert len(gets) == 3  # one GET per written agent, as before; now all three at once
    assert gated.latch is not None
    assert (gated.latch.peak, gated.latch.missed) == (3, 0)


# -- the same, on the in-memory API: the GETs by id of `complete` and `refresh` -------------------


class FakeGate:
    """`FakeApi` whose listings meet at a `Rendezvous` and whose GETs by id pass a `Latch`;
    `fail` maps an id to the error its GET raises, `late` names an id whose GET answers only
    after every failing GET but its own has raised."""

    def __init__(self, inner: FakeApi, *, list_parties: int = 1, get_parties: int = 1,
                 fail: dict[str, Exception] | None = None, late: str = "") -> None:
        self.inner = inner
        self.listed = Rendezvous(list_parties)
        self.got = Latch(get_parties)
        self.fail = fail or {}
        self.late = late
        self.order: list[str] = []
        self.threads: set[int] = set()  # which threads sent a GET
        self._raised = threading.Condition()
        self._failed: set[str] = set()

    def list(self, kind: Kind) -> list[LiveResource]:
        if self.listed.barrier.parties > 1:
            self.listed.meet()
        return self.inner.list(kind)

    def get(self, kind: Kind, resource_id: str) -> LiveResource:
        self.got.enter()
        try:
            with self._raised:
                self.order.append(resource_id)
                self.threads.add(threading.get_ident())
                if resource_id == self.late:
                    others = set(self.fail) - {resource_id}
                    assert self._raised.wait_for(lambda: others <= self._failed, BROKEN)
            if resource_id in self.fail:
                with self._raised:
                    self._failed.add(resource_id)
                    self._raised.notify_all()
                raise self.fail[resource_id]
            return self.inner.get(kind, resource_id)
        finally:
            self.got.leave()


def fleet(count: int) -> tuple[FakeApi, list[str]]:
    api = FakeApi()
    ids = [api.create(AGENT_KIND, {"name": f"bot {i}"}).id for i in range(count)]
    return api, sorted(ids)


def owning(ids: list[str]) -> Manifest:
    """A manifest owning `ids` under keys k0, k1, ... in the order given."""
    return Manifest({"agent": {f"k{i}": ManifestEntry(rid, f"bot {i}")
                               for i, rid in enumerate(ids)}})


def test_owned_agents_the_listing_missed_are_fetched_side_by_side() -> None:
    inner, ids = fleet(6)
    inner.hidden.update(ids[:4])  # a cursor gap: the listing misses four owned agents
    api = FakeGate(inner, get_parties=4)
    live = read_live(api, owning(ids))
    assert {r.id for r in live.of("agent")} == set(ids)
    assert sorted(api.order) == sorted(ids[:4])  # the four missed, once each
    assert (api.got.peak, api.got.missed) == (4, 0)


def test_written_agents_are_re_read_side_by_side_at_most_readers_at_once() -> None:
    written_count = READERS + 4
    inner, ids = fleet(100 * written_count)  # listing would cost more requests than the GETs
    before = read_live(inner, Manifest())
    assert listing_cost(before) > written_count
    written = {rid: "agent" for rid in ids[:written_count]}
    inner.objects[ids[0]]["tm_delete"] = "2026-03-01T00:01:00.000001Z"  # deleted meanwhile
    api = FakeGate(inner, get_parties=READERS)
    after = refresh(api, before, Manifest(), written, full=False)
    assert {r.id for r in after.of("agent")} == set(ids[1:])
    assert sorted(api.order) == sorted(written)  # one GET each, no listing
    assert (api.got.peak, api.got.missed) == (READERS, 0)  # READERS at once...
    assert len(api.threads) == READERS  # ...by READERS threads, however many GETs there are


def test_the_first_failing_get_in_order_is_raised_even_when_it_answers_last() -> None:
    inner, ids = fleet(3)
    inner.hidden.update(ids)
    api = FakeGate(inner, get_parties=3, late=ids[0], fail={
        ids[0]: ServerError(method="GET", path="/ais/x", status=503, reason="UNAVAILABLE"),
        ids[1]: PermissionDeniedError(method="GET", path="/ais/y", status=403)})
    with pytest.raises(ServerError):  # k0's, as a loop would have raised it
        read_live(api, owning(ids))
    assert api.got.missed == 0


def test_a_refusal_names_the_key_of_its_get() -> None:
    inner, ids = fleet(3)
    inner.hidden.update(ids)
    api = FakeGate(inner, get_parties=3,
                   fail={ids[1]: PermissionDeniedError(method="GET", path="/ais/y", status=403)})
    with pytest.raises(RefusedError) as raised:
        read_live(api, owning(ids))
    assert "'k1'" in raised.value.message and ids[1] in raised.value.message


def test_a_gone_agent_still_reads_as_gone_when_read_side_by_side() -> None:
    inner, ids = fleet(3)
    inner.hidden.update(ids)
    api = FakeGate(inner, get_parties=3,
                   fail={ids[1]: NotFoundError(method="GET", path="/ais/z", status=404)})
    live = read_live(api, owning(ids))
    assert {r.id for r in live.of("agent")} == {ids[0], ids[2]}
