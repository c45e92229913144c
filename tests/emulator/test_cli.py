"""The emulator's CLI surface and the commands that print what the platform means for the user:
`voipbin-iac emulator` (its port, `--rag`, `--unverified-signups`), `signup` and `call`
(voipbin-api-2.md §D10, §D11; the issue's port and message points)."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import httpx
import pytest
import yaml

from voipbin_iac.cli import app as cli
from voipbin_iac.core.clock import FakeClock
from voipbin_iac.emulator import (
    EmulatorApp,
    EmulatorConfig,
    EmulatorError,
    EmulatorServer,
    Store,
    run_emulator,
)

from ..conftest import Stack, agents_yaml
from .conftest import KEY, NO_LIMITS, TLS

RAG = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def _main(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(args), stdout=out, stderr=err, env={}, clock=FakeClock())
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
def test_an_impossible_port_is_one_clear_line(tmp_path: Path, port: str) -> None:
    """Issue: `--port 99999` ended in an OverflowError traceback; now one line, exit 1, and no
    state file is made."""
    state = tmp_path / "s.sqlite3"
    code, out, err = _main("emulator", "--port", port, "--state", str(state))
    assert code == 1 and out == ""
    assert err.splitlines()[0] == f"error: --port {port}: give a TCP port from 0 to 65535 " \
                                  "(0 picks a free one)"
    assert "Traceback" not in err and not state.exists()


def test_the_server_refuses_an_impossible_port_clearly() -> None:
    """The same check in EmulatorServer: an EmulatorError, never an OverflowError."""
    with Store.open(None) as store, pytest.raises(EmulatorError, match="0 to 65535"):
        EmulatorServer(EmulatorApp(store, NO_LIMITS, FakeClock()), "127.0.0.1", 99999)


def test_a_rag_that_is_not_a_uuid_is_refused(tmp_path: Path) -> None:
    """--rag takes RAG ids: anything else is a usage error with a hint."""
    code, _out, err = _main("emulator", "--rag", "faq", "--state", str(tmp_path / "s"))
    assert code == 1 and "--rag 'faq' is not a UUID" in err and "hint:" in err


def _serve(config: EmulatorConfig, rags: list[str], out: io.StringIO,
           work: list) -> int | None:
    """run_emulator in a thread; `work(server)` runs against it, then it stops."""
    result: dict[str, int] = {}

    def ready(server: EmulatorServer) -> None:
        def drive() -> None:
            try:
                work[0](server)
            finally:
                server.stop()
        threading.Thread(target=drive).start()

    def target() -> None:
        result["code"] = run_emulator("127.0.0.1", 0, None, [KEY], config, out,
                                      clock=FakeClock(), on_ready=ready, rags=rags)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive()
    return result.get("code")


def test_rag_and_unverified_signups_reach_the_served_emulator() -> None:
    """--rag makes a RAG the first key's customer's (part 2 §D6: an AI may then name it);
    --unverified-signups starts new customers unverified (part 2 §D10-D11: their calls fail);
    both are said in the banner."""
    seen: dict[str, int] = {}

    def work(server: EmulatorServer) -> None:
        with httpx.Client(base_url=server.base_url, verify=TLS, timeout=10,
                          headers={"Cookie": f"accesskey={KEY}"}) as api:
            seen["rag"] = api.post("/ais", json={"engine_model": "openai.gpt-5",
                                                 "rag_id": RAG}).status_code
        with httpx.Client(base_url=server.root_url, verify=TLS, timeout=10) as root:
            token = root.post("/auth/signup", json={"email": "n@example.com",
                                                    "accepted_tos": True}
                              ).json()["accesskey"]["token"]
        with httpx.Client(base_url=server.base_url, verify=TLS, timeout=10,
                          headers={"Cookie": f"accesskey={token}"}) as new:
            seen["call"] = new.post("/calls", json={"destinations": [
                {"type": "sip", "target": "sip:a@example.com"}]}).status_code

    out = io.StringIO()
    config = EmulatorConfig(rate_limit=None, auth_rate_limit=None, unverified_signups=True)
    assert _serve(config, [RAG], out, [work]) == 0
    assert seen == {"rag": 200, "call": 500}
    assert RAG in out.getvalue()
    assert "new signups: unverified" in out.getvalue()


def test_the_banner_says_signups_are_verified_by_default() -> None:
    """The default (the emulator sends no email) is said, with the flag that changes it."""
    out = io.StringIO()
    _serve(EmulatorConfig(rate_limit=None), [], out, [lambda server: None])
    assert "new signups: verified at once" in out.getvalue()
    assert "--unverified-signups" in out.getvalue()


# signup and call print what the user must do next ---------------------------------------------

def test_signup_says_verify_the_email(stack: Stack) -> None:
    """§D10: signup prints the key once, and on stderr that the email must be verified within
    the hour, that calls fail until then, and what phone numbers need."""
    result = stack.cli("signup", "--email", "next@example.com", "--accept-tos",
                       env={"VOIPBIN_API_KEY": ""})
    assert result.code == 0
    assert result.out.startswith("export VOIPBIN_API_KEY=vb_")
    assert "status initial" in result.err
    assert "verification email" in result.err and "within the hour" in result.err
    assert "every call fails" in result.err
    assert "identity verification" in result.err
    assert result.out.strip().split("=", 1)[1] not in result.err


def _applied(stack: Stack) -> Path:
    path = stack.write("agents.yaml", agents_yaml({"bot": {}}))
    assert stack.cli("apply", str(path), "--yes").code == 0
    return path


def test_call_follows_the_call_and_says_what_it_proves(stack: Stack) -> None:
    """§D11: `call` follows the new (dialing) call to its real outcome: answered, then hung up
    by VoIPBin; it says this shows the URI routes, not that the agent speaks; exit 0."""
    path = _applied(stack)
    result = stack.cli("call", "bot", "-f", str(path), "--from", "sip:me@example.com")
    assert result.code == 0, result.err
    assert ": hangup (normal), answered" in result.out
    assert "routed" in result.err and "does not show that the agent speaks" in result.err
    assert "from a SIP phone" in result.err


def test_call_is_followed_to_its_hangup_whatever_the_timing(stack: Stack) -> None:
    """§D11: placed when the clock sits exactly on a stamp (the answer then falls on a poll),
    the call is still followed past `progressing` to its hangup."""
    path = _applied(stack)
    stack.clock.advance(60)
    result = stack.cli("call", "bot", "-f", str(path), "--from", "sip:me@example.com")
    assert ": hangup (normal), answered" in result.out


def test_call_to_a_dead_uri_says_it_was_not_answered(stack: Stack) -> None:
    """§D11: a URI that no longer routes ends failed before any answer: exit 1 and advice."""
    path = _applied(stack)
    manifest = path.with_name("agents.manifest.yaml")
    data = yaml.safe_load(manifest.read_text())
    bot_id = data["agents"]["bot"]["id"]
    stack.api().post(f"/ais/{bot_id}/direct-hash-regenerate")  # the manifest's URI is now dead
    result = stack.cli("call", "bot", "-f", str(path), "--from", "sip:me@example.com")
    assert result.code == 1
    assert ": hangup (failed)" in result.out and "answered" not in result.out
    assert "not answered (failed)" in result.err and "voipbin-iac plan" in result.err


def test_call_of_an_unverified_account_explains_the_500(make_stack) -> None:
    """§D11: an account whose email is not verified gets 500 for every call; `call` says why."""
    stack = make_stack(EmulatorConfig(rate_limit=None, auth_rate_limit=None,
                                      unverified_signups=True))
    key = stack.cli("signup", "--email", "fresh@example.com", "--accept-tos",
                    env={"VOIPBIN_API_KEY": ""}).out.strip().split("=", 1)[1]
    path = stack.write("agents.yaml", agents_yaml({"bot": {}}))
    assert stack.cli("apply", str(path), "--yes", env={"VOIPBIN_API_KEY": key}).code == 0
    result = stack.cli("call", "bot", "-f", str(path), "--from", "sip:me@example.com",
                       env={"VOIPBIN_API_KEY": key})
    assert result.code == 1
    assert "POST /calls answered 500" in result.err
    assert "email is verified" in result.err and "Traceback" not in result.err
