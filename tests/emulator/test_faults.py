"""Fault injection: seeded 5xx/429 answers, dropped connections, lost responses, latency
(design §8; the answers follow fact sheet §3)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from voipbin_iac.emulator import EmulatorApp, EmulatorConfig, EmulatorTransport

from .conftest import MODEL, TLS, Emulator, error_of


def _faulty(kinds: tuple[str, ...], rate: float = 1.0, **extra: object) -> EmulatorConfig:
    return EmulatorConfig(rate_limit=None, auth_rate_limit=None, fault_rate=rate,
                          fault_kinds=kinds, seed=7, **extra)  # type: ignore[arg-type]


def _live_count(emu: Emulator) -> int:
    return len(emu.store.list_ais(emu.customer_id, None, 100))


@pytest.mark.parametrize(("kind", "status", "envelope_status"), [
    ("500", 500, "INTERNAL"), ("502", 502, "UNAVAILABLE"), ("503", 503, "UNAVAILABLE"),
])
def test_status_faults_answer_an_envelope_and_commit_nothing(
    make_emulator: Callable[..., Emulator], kind: str, status: int, envelope_status: str
) -> None:
    """§3: a 5xx fault answers the error envelope with that status; the write is not done."""
    emu = make_emulator(_faulty((kind,)))
    response = emu.client().post("/ais", json={"engine_model": MODEL})
    assert response.status_code == status
    assert error_of(response)["status"] == envelope_status
    assert _live_count(emu) == 0
    [entry] = emu.app.requests("POST", "/v1.0/ais")
    assert (entry.fault, entry.status) == (kind, status)


def test_429_fault_looks_like_the_rate_limit(make_emulator: Callable[..., Emulator]) -> None:
    """§3: a 429 fault is RATE_LIMIT_EXCEEDED with Retry-After 1, nothing committed."""
    emu = make_emulator(_faulty(("429",)))
    response = emu.client().post("/ais", json={"engine_model": MODEL})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    error = error_of(response)
    assert (error["reason"], error["details"]) == ("RATE_LIMIT_EXCEEDED",
                                                   [{"limited_by": "customer"}])
    assert _live_count(emu) == 0


def test_drop_closes_without_an_answer_and_commits_nothing(
    make_emulator: Callable[..., Emulator]
) -> None:
    """design §8: "drop" closes the connection before anything is done."""
    emu = make_emulator(_faulty(("drop",)))
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        emu.client().post("/ais", json={"engine_model": MODEL})
    assert _live_count(emu) == 0
    [entry] = emu.app.requests("POST")
    assert (entry.fault, entry.status) == ("drop", None)


def test_lost_commits_but_the_answer_never_arrives(make_emulator: Callable[..., Emulator]) -> None:
    """design §8: "lost" commits the write, then closes the connection without answering."""
    emu = make_emulator(_faulty(("lost",)))
    with pytest.raises(httpx.RemoteProtocolError):
        emu.client().post("/ais", json={"name": "ghost", "engine_model": MODEL})
    [ai] = emu.store.list_ais(emu.customer_id, None, 100)
    assert ai.fields.name == "ghost"
    [entry] = emu.app.requests("POST")
    assert (entry.fault, entry.status) == ("lost", None)


def test_faults_come_after_routing_authentication_and_the_rate_limit(
    make_emulator: Callable[..., Emulator]
) -> None:
    """§3: faults hit only authenticated /v1.0 requests to real routes; /auth is spared."""
    emu = make_emulator(_faulty(("500",)))
    assert emu.client(None).get("/ais").status_code == 401
    assert emu.client().get("/nope").status_code == 404
    signup = emu.client(None, root=True).post(
        "/auth/signup", json={"email": "f@example.com", "accepted_tos": True})
    assert signup.status_code == 200
    assert [e.fault for e in emu.app.requests()] == [None, None, None]


def _outcomes(emu: Emulator, count: int) -> list[str]:
    api = emu.client()
    outcomes = []
    for _ in range(count):
        try:
            outcomes.append(str(api.get("/ais").status_code))
        except httpx.RemoteProtocolError:
            outcomes.append("closed")
    return outcomes


def test_faults_are_seeded_and_reproducible(make_emulator: Callable[..., Emulator]) -> None:
    """design §8: the same seed gives the same faults for the same request sequence."""
    first = _outcomes(make_emulator(_faulty(("500", "503", "drop", "429"), 0.5)), 60)
    second = _outcomes(make_emulator(_faulty(("500", "503", "drop", "429"), 0.5)), 60)
    other = _outcomes(make_emulator(EmulatorConfig(
        rate_limit=None, fault_rate=0.5, fault_kinds=("500", "503", "drop", "429"), seed=8)), 60)
    assert first == second
    assert first != other
    assert {"200", "500", "503", "429", "closed"} <= set(first)


def test_fault_rate_is_a_fraction(make_emulator: Callable[..., Emulator]) -> None:
    """design §8: about fault_rate of the requests get a fault."""
    outcomes = _outcomes(make_emulator(_faulty(("503",), 0.25)), 400)
    assert 70 <= outcomes.count("503") <= 130
    assert outcomes.count("503") + outcomes.count("200") == 400


def test_latency_goes_through_the_clock(make_emulator: Callable[..., Emulator]) -> None:
    """design §8: latency_ms is added to every request via clock.sleep (no real sleeping)."""
    emu = make_emulator(EmulatorConfig(rate_limit=None, auth_rate_limit=None, latency_ms=250))
    api = emu.client()
    for _ in range(4):
        api.get("/ais")
    api.get("/nope")
    assert emu.clock.sleeps == [0.25] * 5
    assert emu.clock.slept == pytest.approx(1.25)


def test_in_process_drop_is_a_remote_protocol_error(emu: Emulator) -> None:
    """design §8: through EmulatorTransport a dropped connection is the same
    httpx.RemoteProtocolError the network gives."""
    app = EmulatorApp(emu.store, _faulty(("drop",)), emu.clock)
    client = httpx.Client(transport=EmulatorTransport(app), base_url="http://emulator/v1.0",
                          headers={"Cookie": "accesskey=vb_test_alice"}, verify=TLS)
    with pytest.raises(httpx.RemoteProtocolError) as caught:
        client.get("/ais")
    assert str(caught.value) == "Server disconnected without sending a response."


def test_in_process_lost_commits(emu: Emulator) -> None:
    """design §8: "lost" in-process: committed, and the client sees a dropped connection."""
    app = EmulatorApp(emu.store, _faulty(("lost",)), emu.clock)
    client = httpx.Client(transport=EmulatorTransport(app), base_url="http://emulator/v1.0",
                          params={"accesskey": "vb_test_alice"}, verify=TLS)
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/ais", json={"engine_model": MODEL})
    assert _live_count(emu) == 1


def test_bad_fault_configuration_is_refused() -> None:
    """design §8: unknown fault kinds or a rate outside [0, 1] are configuration errors."""
    with pytest.raises(ValueError, match="unknown fault kinds"):
        EmulatorConfig(fault_kinds=("504",))
    with pytest.raises(ValueError, match="between 0 and 1"):
        EmulatorConfig(fault_rate=1.5)


def test_configuration_can_change_while_serving(make_emulator: Callable[..., Emulator]) -> None:
    """design §8: assigning app.config takes effect at the next request (faults off here);
    the state and the request log stay."""
    emu = make_emulator(_faulty(("503",)))
    api = emu.client()
    assert api.get("/ais").status_code == 503
    emu.app.config = EmulatorConfig(rate_limit=None, auth_rate_limit=None)
    assert api.get("/ais").status_code == 200
    assert [e.fault for e in emu.app.requests()] == ["503", None]
