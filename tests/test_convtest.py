"""`voipbin-iac test` against the emulator over loopback: expectations that pass and fail, tool
calls, silence, the send cooldown, audits and their 429, lost answers, the manifest rule, exit
codes, and `apply --smoke` (issue: declarative conversation tests). Time is a `FakeClock`."""

from __future__ import annotations

import itertools
import json
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from voipbin_iac.emulator import DropConnection, EmulatorApp, EmulatorConfig, assistant
from voipbin_iac.emulator.aiaudits import MAX_PROGRESSING
from voipbin_iac.emulator.timefmt import parse_token

from .conftest import Stack, agents_yaml

AGENTS = {
    "support": {"name": "Support", "init_prompt": "You are support.",
                "tool_names": ["connect_call", "send_email"]},
    "booker": {"name": "Booker", "init_prompt": "You book tables.",
               "tool_names": ["set_variables"]},
}


def setup(stack: Stack, tests: dict[str, Any], agents: dict | None = None) -> list[str]:
    """Write and apply the agents, write the tests file; returns the two paths."""
    path = stack.write("agents.yaml", agents_yaml(agents or AGENTS))
    assert stack.cli("apply", str(path), "--yes").code == 0
    tests_path = stack.write("agents.tests.yaml", yaml.safe_dump({"version": 1, "tests": tests},
                                                                 sort_keys=False))
    return [str(path), str(tests_path)]


def scripted(make_stack, tmp_path: Path, text: str) -> Stack:
    script = tmp_path / "script.yaml"
    script.write_text("version: 1\n" + text)
    return make_stack(EmulatorConfig(rate_limit=None, auth_rate_limit=None,
                                     assistant=assistant.load(script)))


def turn(say: str, **expect: Any) -> dict[str, Any]:
    return {"say": say, **({"expect": expect} if expect else {})}


def test_passing_and_failing_expectations_exit_3(stack: Stack) -> None:
    files = setup(stack, {
        "echoes": {"agent": "support", "turns": [
            turn("Hello there", reply_matches="(?i)hello", reply_contains=["Support"]),
            turn("Second turn", reply_not_matches="(?i)goodbye")]},
        "refuses": {"agent": "booker", "turns": [
            turn("I cannot wait", reply_not_contains=["I cannot"], reply_matches="^Nope")]},
    })
    result = stack.cli("test", *files)
    assert result.code == 3, result.err
    assert "PASS  echoes (support" in result.out and "FAIL  refuses (booker" in result.out
    assert "x reply_not_contains 'I cannot': in the reply" in result.out
    assert "x reply_matches '^Nope': not found in the reply" in result.out
    assert "Tests: 1 passed, 1 failed, 0 errors (2 tests" in result.out
    data = json.loads(stack.cli("test", *files, "--format", "json").out)
    assert [t["status"] for t in data["tests"]] == ["passed", "failed"]
    assert data["tests"][0]["turns"][0]["latency_s"] == assistant.REPLY_DELAY_S
    assert stack.cli("test", *files, "--only", "echoes").code == 0


def test_tool_calls_and_their_arguments(make_stack, tmp_path: Path) -> None:
    stack = scripted(make_stack, tmp_path, """agents:
  Booker:
    rules:
      - match: (?i)table
        tool_calls: [{name: set_variables, arguments: {party: 2, time: "19:00"}}]
        reply: Booked.
      - match: (?i)quiet
        tool_calls: [set_variables]
""")
    files = setup(stack, {
        "named": {"agent": "support", "turns": [
            turn("Could you connect my call to a person?", tool_called="connect_call",
                 tool_not_called="send_email")]},
        "args": {"agent": "booker", "turns": [
            turn("A table for two", tool_called="set_variables", reply_matches="Booked",
                 arguments_match={"party": 2, "time": "^19"})]},
        "tool-only": {"agent": "booker", "turns": [
            turn("quiet please", tool_called="set_variables")]},
        "wrong-args": {"agent": "booker", "turns": [
            turn("A table", tool_called="set_variables", arguments_match={"party": 4})]},
        "no-tool": {"agent": "support", "turns": [turn("Hi", tool_called="send_email")]},
    })
    data = json.loads(stack.cli("test", *files, "--format", "json").out)
    by = {t["name"]: t for t in data["tests"]}
    assert [by[n]["status"] for n in ("named", "args", "tool-only")] == ["passed"] * 3
    assert by["args"]["turns"][0]["tool_calls"] == [
        {"name": "set_variables", "arguments": {"party": 2, "time": "19:00"}}]
    assert by["tool-only"]["turns"][0]["reply"] is None  # a tool call alone answers it
    assert by["wrong-args"]["message"].startswith("arguments_match: set_variables was called")
    assert by["no-tool"]["message"] == "tool_called send_email: no tool was called"


@pytest.mark.parametrize("how", ["vendor", "script"])
def test_silence_is_diagnosed(make_stack, tmp_path: Path, how: str) -> None:
    """§B3: an unsupported vendor or a wrong engine_key is silence, never an error."""
    stack = scripted(make_stack, tmp_path, "agents:\n  Mute:\n    silent: true\n")
    agent = {"name": "Mute"} if how == "script" else {"name": "Quiet",
                                                      "engine_model": "anthropic.claude-x"}
    files = setup(stack, {"silent": {"agent": "mute", "reply_timeout_s": 20, "turns": [
        turn("hello"), turn("are you there?")]}}, {"mute": agent})
    result = stack.cli("test", *files)
    assert result.code == 3
    assert ("no reply in 20 s: VoIPBin reports no error for a wrong `engine_key` or an "
            "unsupported vendor; check both") in result.out
    assert result.out.count("> ") == 1  # after silence the next turns are not sent
    if how == "vendor":
        assert "VoIPBin runs only gemini, grok, openai, so it never replies" in result.err


def _sends(stack: Stack) -> dict[str, list[int]]:
    """The times of every conversation's creation and user messages, in microseconds."""
    times: dict[str, list[int]] = defaultdict(list)
    api = stack.api()
    for call in api.get("/aicalls").json()["result"]:
        times[call["id"]].append(parse_token(call["tm_create"]))
        for m in api.get("/aimessages", params={"aicall_id": call["id"]}).json()["result"]:
            if m["role"] == "user":
                times[call["id"]].append(parse_token(m["tm_create"]))
    return {k: sorted(v) for k, v in times.items()}


def test_the_cooldown_is_never_provoked(stack: Stack) -> None:
    """§B2: a send within 3 s of the conversation's last update is a bare 500; the runner
    waits it out (with the injected clock) before every send, with three tests at once."""
    files = setup(stack, {name: {"agent": "support", "turns": [turn(f"{name} {i}")
                                                               for i in range(3)]}
                          for name in ("a", "b", "c")})
    assert stack.cli("test", *files, "--concurrency", "3").code == 0
    assert [r.status for r in stack.app.requests() if r.status and r.status >= 500] == []
    for times in _sends(stack).values():
        assert len(times) == 4
        assert all(b - a >= 3_000_000 for a, b in itertools.pairwise(times))


class _LoseFirst:
    """WSGI middleware: the first `POST /aimessages` is answered by a dropped connection,
    after the app handled it (`committed`) or before (`lost before it arrived`)."""

    def __init__(self, app: EmulatorApp, committed: bool) -> None:
        self.app, self.committed, self.done = app, committed, False

    @property
    def config(self) -> EmulatorConfig:
        return self.app.config

    def __call__(self, environ: dict, start_response: Any) -> Any:
        hit = (environ["REQUEST_METHOD"], environ["PATH_INFO"]) == ("POST", "/v1.0/aimessages")
        if hit and not self.done:
            self.done = True
            if self.committed:
                list(self.app(environ, lambda *a: None))
            raise DropConnection()
        return self.app(environ, start_response)


@pytest.mark.parametrize("committed", [True, False])
def test_a_lost_send_is_never_said_twice(stack: Stack, committed: bool) -> None:
    files = setup(stack, {"t": {"agent": "support", "turns": [turn("once", reply_matches="once"),
                                                              turn("twice")]}})
    stack.server._httpd.app = _LoseFirst(stack.app, committed)  # type: ignore[assignment]
    result = stack.cli("test", *files)
    assert result.code == 0, result.out + result.err
    said = [t for times in _sends(stack).values() for t in times]
    assert len(said) == 3  # the creation and one message per turn, never a repeat


def test_audits_pass_fail_and_wait_out_the_429(make_stack, tmp_path: Path) -> None:
    """§B4: the judge's score against min_score; with 10 audits of the account running, the
    POST is refused with 429 until some finish, and the runner waits (fake time)."""
    stack = scripted(make_stack, tmp_path, "agents:\n  Support:\n    audit_score: 4\n"
                                           "  Slow judge:\n    audit_delay_s: 100\n")
    files = setup(stack, {
        "good": {"agent": "support", "turns": [turn("hi")], "audit": {"min_score": 4}},
        "strict": {"agent": "support", "turns": [turn("hi")], "audit": {"min_score": 5}},
    })
    api = stack.api()
    ai = api.post("/ais", json={"name": "Slow judge", "engine_model": "openai.gpt-5",
                                "init_prompt": "x"}).json()["id"]
    for _ in range(MAX_PROGRESSING):
        call = api.post("/aicalls", json={"assistance_type": "ai", "assistance_id": ai}).json()
        api.post(f"/aicalls/{call['id']}/terminate")
        assert api.post("/aiaudits", json={"aicall_id": call["id"]}).status_code == 202
    data = json.loads(stack.cli("test", *files, "--format", "json", "--concurrency", "1").out)
    assert [t["status"] for t in data["tests"]] == ["passed", "failed"]
    assert data["tests"][0]["audit"]["score"] == 4
    assert data["tests"][1]["message"] == "audit: score 4 is below min_score 5"
    refused = [r for r in stack.app.requests("POST", "/v1.0/aiaudits") if r.status == 429]
    assert refused, "the account's 10 running audits should have refused at least once"


def test_an_audit_of_an_agent_without_prompt_is_an_error_exit_1(stack: Stack) -> None:
    files = setup(stack, {"t": {"agent": "bare", "turns": [turn("hi")],
                                "audit": {"min_score": 1}}}, {"bare": {"name": "Bare"}})
    result = stack.cli("test", *files)
    assert result.code == 1
    assert "audit failed: prompt_snapshot_has_no_history_id (the agent has no init_prompt" \
        in result.out
    assert "VoIPBin fails audits of such agents" in result.err  # warned before running


def test_agent_not_applied_and_drift(stack: Stack) -> None:
    files = setup(stack, {"t": {"agent": "support", "turns": [turn("hi")]}})
    Path(files[0]).write_text(agents_yaml({**AGENTS, "support": {**AGENTS["support"],
                                                                 "init_prompt": "Changed."},
                                           "new": {}}))
    drifted = stack.cli("test", *files)
    assert drifted.code == 0
    assert "warning: agent 'support' differs from the file in init_prompt" in drifted.err
    tests = yaml.safe_load(Path(files[1]).read_text())
    tests["tests"]["t"]["agent"] = "new"
    Path(files[1]).write_text(yaml.safe_dump(tests))
    missing = stack.cli("test", *files)
    assert missing.code == 1
    assert "error: not applied yet" in missing.err and "new" in missing.err
    assert "run `voipbin-iac apply " in missing.err


def test_problems_in_the_tests_are_located_and_stop_the_run(stack: Stack) -> None:
    files = setup(stack, {"t": {"agent": "suport", "turns": [
        turn("hi", reply_matches="(", tool_called="case_create")]}})
    result = stack.cli("test", *files)
    assert result.code == 1 and stack.app.requests("POST", "/v1.0/aicalls") == []
    assert "did you mean 'support'?" in result.err
    assert "reply_matches: not a valid regular expression" in result.err
    assert "agents.tests.yaml:" in result.err
    assert stack.cli("test", *files, "--only", "nope").code == 1


def test_a_tests_only_file_names_no_manifest_and_plan_ignores_tests(stack: Stack) -> None:
    files = setup(stack, {"t": {"agent": "support", "turns": [turn("${env:NOT_SET_HERE}")]}})
    again = stack.cli("apply", *files, "--yes")
    assert again.code == 0 and "No changes." in again.out, again.err
    assert not Path(files[1]).with_name("agents.tests.manifest.yaml").exists()
    assert stack.cli("plan", *files, "--detailed-exitcode").code == 0
    assert "NOT_SET_HERE is not set" in stack.cli("test", *files).err


def test_reports_to_files_and_junit_parses(stack: Stack) -> None:
    files = setup(stack, {"ok": {"agent": "support", "turns": [turn("hi")]},
                          "bad": {"agent": "support", "turns": [
                              turn("hi", reply_matches="never")]}})
    out = stack.path("report.xml")
    result = stack.cli("test", *files, "--format", "junit", "--out", out)
    assert result.code == 3 and "FAIL  bad" in result.out  # the text report still shows
    suite = ET.parse(out).getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failure = suite.find("testcase[@name='bad']/failure")
    assert failure is not None and "reply_matches 'never'" in (failure.get("message") or "")
    md = stack.cli("test", *files, "--format", "markdown")
    assert md.out.startswith("### voipbin-iac test: 1 passed, 1 failed")
    clobber = stack.cli("test", *files, "--format", "junit", "--out", files[1])
    assert clobber.code == 1 and "is one of the files the tests read" in clobber.err
    assert "tests:" in Path(files[1]).read_text()


def test_apply_smoke_says_hello_to_each_created_or_changed_agent(make_stack,
                                                                 tmp_path: Path) -> None:
    stack = scripted(make_stack, tmp_path, "agents:\n  Mute:\n    silent: true\n")
    path = stack.write("agents.yaml", agents_yaml({"a": {}, "b": {}}))
    first = stack.cli("apply", str(path), "--yes", "--smoke")
    assert first.code == 0, first.err
    assert first.out.count("smoke pass ") == 2 and "smoke pass  a: replied in 1.5 s" in first.out
    assert stack.app.requests("POST", "/v1.0/calls") == []
    path.write_text(agents_yaml({"a": {"detail": "x"}, "b": {}, "mute": {"name": "Mute"}}))
    second = stack.cli("apply", str(path), "--yes", "--smoke")
    assert second.code == 3
    assert "smoke pass  a: replied" in second.out and " b:" not in second.out
    assert "smoke FAIL  mute: no reply in 35 s" in second.out
    path.write_text(agents_yaml({"a": {"detail": "y"}}))
    quiet = stack.cli("apply", str(path), "--yes", "--smoke", "--format", "json",
                      "--smoke-from", "sip:old@example.com")
    assert quiet.code == 0 and json.loads(quiet.out)["result"] and "smoke pass  a: replied" in \
        quiet.err
    assert "--smoke-from is ignored" in quiet.err


SECRET_ENGINE_KEY = "sk-live-SECRET-engine-key-5e1f0c"
SECRET_ACCESSKEY = "vb_SECRET_accesskey_feedface0123"
SECRET_IN_PROMPT = "PROMPT-SECRET-7a9b"
SECRET_SAID = "PIN-SECRET-3141"
FORMATS = ("text", "json", "junit", "markdown")


def test_secrets_never_appear_in_any_report_or_log(make_stack, tmp_path: Path) -> None:
    """The accesskey, the engine key and every environment value (in a prompt, which the
    conversation's system messages and snapshot carry, and in what a test says, which the
    stand-in echoes) stay out of stdout, stderr and every report, in every format."""
    stack = scripted(make_stack, tmp_path, "agents:\n  Support:\n    rules:\n"
                                           "      - {match: '', reply: 'Heard: {message}'}\n")
    stack.store.ensure_accesskey(SECRET_ACCESSKEY)
    stack.env.update({"VOIPBIN_API_KEY": SECRET_ACCESSKEY, "OPENAI_API_KEY": SECRET_ENGINE_KEY,
                      "PROMPT_SECRET": SECRET_IN_PROMPT, "PIN": SECRET_SAID})
    agents = {"support": {"name": "Support", "init_prompt": "Code ${env:PROMPT_SECRET}"}}
    files = setup(stack, {"leaky": {"agent": "support", "audit": {"min_score": 1}, "turns": [
        turn("my pin is ${env:PIN}", reply_matches="never")]}}, agents)
    api = stack.api(SECRET_ACCESSKEY)
    results = [stack.cli("test", *files, "-vv", "--format", fmt, "--out",
                         stack.path(f"report.{fmt}")) for fmt in FORMATS]
    results.append(stack.cli("test", *files, "-vv", "--format", "json"))
    results.append(stack.cli("apply", files[0], "-vv", "--yes", "--smoke"))
    said = api.get("/aimessages", params={"aicall_id": api.get("/aicalls").json()["result"][0]
                                          ["id"]}).json()["result"]
    assert any(SECRET_SAID in m["content"] for m in said)  # the platform did hear it
    for result in results:
        assert result.code in (0, 3), result.err
        for secret in (SECRET_ENGINE_KEY, SECRET_ACCESSKEY, SECRET_IN_PROMPT, SECRET_SAID):
            assert secret not in result.out and secret not in result.err
    for path in stack.workdir.rglob("*"):
        if path.is_file():
            data = path.read_text()
            for secret in (SECRET_ENGINE_KEY, SECRET_ACCESSKEY, SECRET_IN_PROMPT, SECRET_SAID):
                assert secret not in data, path
    assert "Heard: my pin is ***" in results[-2].out


@pytest.mark.parametrize("script", [False, True])
def test_the_examples_pass_after_the_quick_start(stack: Stack, example: Path,
                                                 script: bool) -> None:
    """README: `voipbin-iac apply examples/agents.yaml --emulator --yes`, then
    `voipbin-iac test examples/agents.yaml examples/agents.tests.yaml --emulator` passes, with
    the default stand-in and with examples/emulator-assistant.yaml."""
    state = stack.path("emulator.sqlite3")
    folder = example.parent
    applied = stack.cli("apply", str(example), "--emulator", "--emulator-state", state, "--yes")
    assert applied.code == 0, applied.err
    extra = ["--assistant-script", str(folder / "emulator-assistant.yaml")] if script else []
    result = stack.cli("test", str(example), str(folder / "agents.tests.yaml"), "--emulator",
                       "--emulator-state", state, *extra)
    assert result.code == 0, result.out + result.err
    assert "Tests: 3 passed, 0 failed, 0 errors" in result.out
    # The first turn's reply (a reply the turn waits for: the second only waits for its tool)
    assert ("Hold the reset button" in result.out) == script


def test_assistant_script_needs_the_emulator_and_is_checked(stack: Stack,
                                                            tmp_path: Path) -> None:
    files = setup(stack, {"t": {"agent": "support", "turns": [turn("hi")]}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nagents:\n  X:\n    rules: [{match: '('}]\n")
    without = stack.cli("test", *files, "--assistant-script", str(bad))
    assert without.code == 1 and "add --emulator" in without.err
    checked = stack.cli("test", *files, "--emulator", "--emulator-state",
                        stack.path("s.sqlite3"), "--assistant-script", str(bad))
    assert checked.code == 1 and "bad.yaml:4:" in checked.err and "regular expression" in \
        checked.err


def test_github_actions_example_tests_on_staging_and_publishes_junit() -> None:
    from .conftest import ROOT

    workflow = yaml.safe_load((ROOT / "examples" / "github-actions" / "voipbin-iac.yml")
                              .read_text())
    steps = workflow["jobs"]["test"]["steps"]
    runs = [" ".join(str(s.get("run", "")).split()) for s in steps]
    apply_at = next(i for i, r in enumerate(runs) if r.startswith("voipbin-iac apply"))
    test_at = next(i for i, r in enumerate(runs) if r.startswith("voipbin-iac test"))
    assert apply_at < test_at
    assert "--format junit --out test-report.xml" in runs[test_at]
    publish = steps[test_at + 1]
    assert publish["if"] == "always()" and publish["with"]["report_paths"] == "test-report.xml"
    assert "STAGING_VOIPBIN_API_KEY" in str(steps[test_at]["env"]["VOIPBIN_API_KEY"])
    from voipbin_iac.cli.app import build_parser

    build_parser().parse_args(runs[test_at].split()[1:])  # the CLI takes exactly these flags


def test_validate_checks_the_tests_offline(stack: Stack) -> None:
    files = setup(stack, {"t": {"agent": "ghost", "turns": [turn("hi")]}})
    before = len(stack.app.requests())
    result = stack.cli("validate", *files)
    assert result.code == 1 and "tests.t.agent: 'ghost' is not an agent key" in result.err
    assert stack.cli("validate", *files, "--each").code == 0  # a tests file alone has no agents
    assert len(stack.app.requests()) == before  # offline


SEED = 2  # a seed whose faults hit the sends in every way (any seed must pass the rest)


def test_under_faults_every_test_still_runs_and_nothing_is_said_twice(make_stack) -> None:
    """Seeded faults on every kind of request (500/502/503/429, dropped connections, writes
    committed with the answer lost): the tests pass, each turn is said exactly once."""
    stack = make_stack(EmulatorConfig(rate_limit=None, auth_rate_limit=None))
    files = setup(stack, {f"t{i}": {"agent": "support", "audit": {"min_score": 1},
                                    "turns": [turn(f"hello {i}"), turn(f"again {i}")]}
                          for i in range(4)})
    stack.app.config = EmulatorConfig(rate_limit=None, auth_rate_limit=None, fault_rate=0.2,
                                      seed=SEED)
    result = stack.cli("test", *files, "--concurrency", "1")
    assert result.code == 0, result.out + result.err
    sends = {r.fault for r in stack.app.requests("POST", "/v1.0/aimessages") if r.fault}
    assert {"lost", "500"} <= sends and sends & {"drop", "502", "503"}, sends
    stack.app.config = EmulatorConfig(rate_limit=None, auth_rate_limit=None)
    conversations = [times for times in _sends(stack).values() if len(times) > 1]
    assert sorted(len(times) for times in conversations)[-4:] == [3, 3, 3, 3]
    assert all(len(times) == 3 for times in conversations)
