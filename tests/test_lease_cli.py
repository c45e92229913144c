"""The account lock through the CLI, in-process against the emulator over loopback: which
commands take it, the refusal, waiting, opting out, rotate, a lease lost in the middle of an
apply, release after a refusal, and records that never hold a secret or show up as agents."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

from voipbin_iac.cli import app as cli
from voipbin_iac.emulator import EmulatorConfig, EmulatorServer
from voipbin_iac.state.lease import AccountLease, LeaseSettings
from voipbin_iac.state.leaserecords import KEY as LOCK_KEY
from voipbin_iac.state.leaserecords import TAG_NAME, Records

from .conftest import ENGINE_KEY, KEY, Result, Stack, agents_yaml
from .test_lease import HookedClock, info, locks, make_client, tags

LEASE_ROUTES = ("/v1.0/tags", "/v1.0/contacts", "/v1.0/contact_addresses")


def lease_requests(stack: Stack) -> list[str]:
    return [f"{r.method} {r.path}" for r in stack.app.request_log.requests()
            if r.path.startswith(LEASE_ROUTES)]


def holder(stack: Stack, ttl: float = 60.0) -> AccountLease:
    """Another machine's apply holding the account lock (beats only when told to)."""
    lease = AccountLease(Records(make_client(stack)), info(), LeaseSettings(ttl=ttl),
                         clock=stack.clock, log=logging.getLogger("test.lease"),
                         background=False)
    lease.acquire()
    return lease


def test_apply_takes_the_lock_and_gives_it_back(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}, "b": {}}))
    result = stack.cli("apply", str(path), "--yes")
    assert result.code == 0, result.err
    done = lease_requests(stack)
    assert any(r.startswith("POST /v1.0/contact_addresses") for r in done)
    assert any(r.startswith("DELETE /v1.0/contact_addresses/") for r in done)
    assert locks(stack) == [] and tags(stack) == []
    assert "warning" not in result.err


def test_read_only_commands_never_touch_the_lock(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    assert stack.cli("apply", str(path), "--yes").code == 0
    stack.app.request_log.clear_log()
    for args in (("plan", str(path)), ("validate", str(path)), ("export",),
                 ("manifest", "-f", str(path)), ("plan", str(path), "--out",
                                                 stack.path("p.json"))):
        assert stack.cli(*args).code == 0, args
    assert lease_requests(stack) == []


def test_the_lock_records_are_never_agents_and_never_hold_a_secret(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    lease = holder(stack)
    lease.release()
    assert stack.cli("apply", str(path), "--yes").code == 0
    plan = stack.cli("plan", str(path))
    assert "0 unmanaged" in plan.out and "lease" not in plan.out
    exported = stack.cli("export")
    assert "lease" not in exported.out and "voipbin-iac lease" not in exported.out
    api = stack.api()
    everything = json.dumps([api.get("/tags").json(), api.get("/contacts").json(),
                             api.get("/contact_addresses").json()])
    assert TAG_NAME in everything and "agents.yaml" in everything
    assert ENGINE_KEY not in everything and KEY not in everything


def test_apply_is_refused_while_another_apply_holds_the_lock(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    lease = holder(stack)
    result = stack.cli("apply", str(path), "--yes")
    assert result.code == 1
    (line, hint) = [x for x in result.err.splitlines() if x.startswith(("error:", "hint:"))]
    assert line.startswith("error: the account is locked by another apply: apply of "
                           "agents.yaml by alice on host-a (pid 4242")
    assert "last heartbeat was 0 s ago" in line and "--lock-timeout" in hint
    assert not stack.app.request_log.requests(method="POST", path_prefix="/v1.0/ais")
    assert [t["id"] for t in tags(stack)] == [lease.tag.id]
    lease.release()


def test_lock_timeout_waits_for_the_holder_then_applies(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    lease = holder(stack)
    waits: list[float] = []

    def holder_finishes_after_three_polls() -> None:
        waits.append(stack.clock.time())
        if len(waits) == 3:
            lease.release()

    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["apply", str(path), "--yes", "--lock-timeout", "2m"], stdout=out,
                    stderr=err, env=stack.env, stdin=io.StringIO(),
                    clock=HookedClock(stack.clock, holder_finishes_after_three_polls))
    assert code == 0, err.getvalue()
    assert len(waits) == 3 and "1 done" in out.getvalue()


def test_no_account_lock_warns_and_goes_ahead(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    lease = holder(stack)
    stack.app.request_log.clear_log()
    result = stack.cli("apply", str(path), "--yes", "--no-account-lock")
    assert result.code == 0
    assert "warning: --no-account-lock" in result.err and "duplicate" in result.err
    assert lease_requests(stack) == []
    lease.release()


def test_rotate_holds_the_lock_too(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    assert stack.cli("apply", str(path), "--yes").code == 0
    lease = holder(stack)
    refused = stack.cli("rotate", "a", "-f", str(path), "--yes")
    assert refused.code == 1 and "the account is locked by another apply" in refused.err
    lease.release()
    stack.app.request_log.clear_log()
    rotated = stack.cli("rotate", "a", "-f", str(path), "--yes")
    assert rotated.code == 0, rotated.err
    assert any(r.startswith("POST /v1.0/contact_addresses") for r in lease_requests(stack))
    assert locks(stack) == []


def test_bad_durations_are_usage_errors(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    for flags in (("--lock-timeout", "soon"), ("--lock-ttl", "0s"), ("--lock-ttl", "2h"),
                  ("--lock-timeout", "-1")):
        result = stack.cli("apply", str(path), "--yes", *flags)
        assert result.code == 1 and "Traceback" not in result.err, flags
        assert result.err.startswith("error: ") and flags[0] in result.err, result.err


def test_the_lock_is_released_when_the_apply_is_refused_inside_it(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({f"k{i}": {} for i in range(10)}))
    assert stack.cli("apply", str(path), "--yes").code == 0
    path.write_text(agents_yaml({f"k{i}": {} for i in range(5)}))
    refused = stack.cli("apply", str(path), "--yes", "--prune")  # over the safety threshold
    assert refused.code == 1 and "--force" in refused.err
    assert locks(stack) == [] and tags(stack) == []


class TakeOver:
    """WSGI middleware: before the `at`-th create, another machine takes the account lock
    (deletes this apply's lock and heartbeat tag, as a takeover does)."""

    def __init__(self, stack: Stack, at: int) -> None:
        self.stack, self.at, self.seen = stack, at, 0

    @property
    def config(self) -> EmulatorConfig:
        return self.stack.app.config

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == "/v1.0/ais":
            self.seen += 1
            if self.seen == self.at:
                api = self.stack.api()
                for lock in locks(self.stack):
                    api.delete(f"/tags/{lock['detail']}")
                    api.delete(f"/contact_addresses/{lock['id']}")
        return self.stack.app(environ, start_response)


def test_a_lease_lost_mid_apply_stops_it_before_the_next_change(make_stack) -> None:
    stack = make_stack(EmulatorConfig(rate_limit=None, auth_rate_limit=None,
                                      latency_ms=2000))  # fake time: 2 s per request
    server = EmulatorServer(TakeOver(stack, at=3)).start()  # type: ignore[arg-type]
    try:
        path = stack.write("agents.yaml", agents_yaml({f"k{i:02d}": {} for i in range(12)}))
        result = stack.cli("apply", str(path), "--yes", "--concurrency", "1",
                           env={"VOIPBIN_API_BASE_URL": server.base_url})
    finally:
        server.stop()
    check(result)
    created = len(stack.app.request_log.requests(method="POST", path_prefix="/v1.0/ais"))
    assert 3 <= created <= 7, created  # stopped at the first heartbeat after the takeover
    manifest = Path(stack.path("agents.manifest.yaml")).read_text()
    assert manifest.count("sip_uri:") == created == len(stack.live())


def check(result: Result) -> None:
    assert result.code == 1
    assert "error: the account lock was lost: another apply took it over" in result.err
    assert "skipped create" in result.out and "Traceback" not in result.err
    assert LOCK_KEY not in result.out
