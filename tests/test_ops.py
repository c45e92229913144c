"""Around the core: signup, test calls, URI rotation, manifest formats, schema, completion,
apply --smoke, colour and progress (issue: around the core)."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import jsonschema
import yaml

from voipbin_iac.cli import app as cli
from voipbin_iac.cli.progress import ProgressLine
from voipbin_iac.core.clock import FakeClock

from .conftest import ROOT, Stack, agents_yaml, copy_examples


def applied(stack: Stack, agents: dict) -> Path:
    path = stack.write("agents.yaml", agents_yaml(agents))
    assert stack.cli("apply", str(path), "--yes").code == 0
    return path


def entries(path: Path) -> dict:
    return yaml.safe_load(path.with_name("agents.manifest.yaml").read_text())["agents"]


def test_signup_returns_a_key_that_then_works(stack: Stack) -> None:
    result = stack.cli("signup", "--email", "new@example.com", "--accept-tos", "--name", "New",
                       env={"VOIPBIN_API_KEY": ""})
    assert result.code == 0, result.err
    assert result.out.startswith("export VOIPBIN_API_KEY=vb_")
    key = result.out.strip().split("=", 1)[1]
    assert "shown once" in result.err
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    assert stack.cli("apply", str(path), "--yes", env={"VOIPBIN_API_KEY": key}).code == 0
    assert len(stack.live(key)) == 1
    again = stack.cli("signup", "--email", "new@example.com", "--accept-tos")
    assert again.code == 1 and "may already be registered" in again.err
    no_tos = stack.cli("signup", "--email", "x@example.com")
    assert no_tos.code == 1 and "--accept-tos" in no_tos.err
    bad = stack.cli("signup", "--email", "not-an-email", "--accept-tos")
    assert bad.code == 1 and "not an email" in bad.err


def test_call_reaches_the_right_ai_by_its_hash(stack: Stack) -> None:
    path = applied(stack, {"support": {"name": "Support"}, "sales": {"name": "Sales"}})
    manifest = entries(path)
    result = stack.cli("call", "sales", "-f", str(path), "--from", "sip:tester@example.com")
    assert result.code == 0, result.err
    assert "answered" in result.out and manifest["sales"]["sip_uri"] in result.out
    assert "from a SIP phone" in result.err  # what a test call cannot show
    call_id = result.out.split()[1]
    record = stack.api().get(f"/calls/{call_id}").json()
    assert record["routed_to"]["id"] == manifest["sales"]["id"]
    assert record["destination"] == {"type": "sip", "target": manifest["sales"]["sip_uri"]}
    assert record["source"] == {"type": "sip", "target": "sip:tester@example.com"}
    tel = stack.cli("call", "support", "-f", str(path), "--from", "tel:+15551234567")
    assert tel.code == 0 and "answered" in tel.out
    bad = stack.cli("call", "support", "-f", str(path), "--from", "bob")
    assert bad.code == 1 and "not a caller address" in bad.err
    unknown = stack.cli("call", "nobody", "-f", str(path), "--from", "sip:t@example.com")
    assert unknown.code == 1 and "owned keys: sales, support" in unknown.err


def test_rotated_uri_no_longer_routes(stack: Stack) -> None:
    path = applied(stack, {"bot": {}})
    old = entries(path)["bot"]
    asked = stack.cli("rotate", "bot", "-f", str(path))
    assert asked.code == 1 and "--yes" in asked.err
    result = stack.cli("rotate", "bot", "-f", str(path), "--yes")
    assert result.code == 0
    new = entries(path)["bot"]
    assert new["id"] == old["id"] and new["sip_uri"] != old["sip_uri"]
    assert new["sip_uri"] in result.out
    assert "routing impact" in result.err and old["sip_uri"] in result.err
    api = stack.api()
    stale = api.post("/calls", json={"source": {"type": "sip", "target": "sip:t@example.com"},
                                     "destinations": [{"type": "sip",
                                                       "target": old["sip_uri"]}]}).json()
    stack.clock.advance(2)  # a new call is dialing; the emulator's calls run on its clock
    stale = api.get(f"/calls/{stale['calls'][0]['id']}").json()
    assert (stale["status"], stale["hangup_reason"]) == ("hangup", "failed")
    fresh = stack.cli("call", "bot", "-f", str(path), "--from", "sip:t@example.com")
    assert fresh.code == 0 and "answered" in fresh.out
    assert stack.cli("plan", str(path), "--detailed-exitcode").code == 0


def test_deleted_agent_uri_stops_routing(stack: Stack) -> None:
    path = applied(stack, {"a": {}, "b": {}})
    uri = entries(path)["b"]["sip_uri"]
    path.write_text(agents_yaml({"a": {}}))
    assert stack.cli("apply", str(path), "--yes", "--prune").code == 0
    call = stack.api().post("/calls", json={
        "source": {"type": "sip", "target": "sip:t@example.com"},
        "destinations": [{"type": "sip", "target": uri}]}).json()["calls"][0]
    stack.clock.advance(2)
    call = stack.api().get(f"/calls/{call['id']}").json()
    assert call["status"] == "hangup" and call["hangup_reason"] == "failed"


def test_apply_smoke_calls_each_created_or_changed_agent(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}, "b": {}}))
    result = stack.cli("apply", str(path), "--yes", "--smoke")
    assert result.code == 0, result.err
    assert result.out.count("smoke pass") == 2 and result.out.count("replied") == 2
    path.write_text(agents_yaml({"a": {"detail": "x"}, "b": {}}))
    second = stack.cli("apply", str(path), "--yes", "--smoke")
    assert second.code == 0, second.err
    assert second.out.count("smoke pass") == 1 and "smoke pass  a:" in second.out


def test_manifest_formats_and_schema(stack: Stack) -> None:
    path = applied(stack, {"support-bot": {"name": "Support Bot"}})
    data = json.loads(stack.cli("manifest", "-f", str(path), "--format", "json").out)
    schema = json.loads(stack.cli("schema", "--manifest").out)
    jsonschema.validate(data, schema)
    env_lines = stack.cli("manifest", "-f", str(path), "--format", "env").out.splitlines()
    assert env_lines == [f"VOIPBIN_SIP_URI_SUPPORT_BOT={data['agents']['support-bot']['sip_uri']}"]
    csv_lines = stack.cli("manifest", "-f", str(path), "--format", "csv").out.splitlines()
    assert csv_lines[0] == "key,kind,name,id,direct_hash,sip_uri" and len(csv_lines) == 2
    agents_schema = json.loads(stack.cli("schema").out)
    assert agents_schema["title"] == "voipbin-iac desired state"
    missing = stack.cli("manifest", "-f", stack.path("nothing.yaml"))
    assert missing.code == 1 and "no manifest" in missing.err


def test_example_starts_with_the_schema_line() -> None:
    first = (ROOT / "examples" / "agents.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/agents.schema.json"
    assert (ROOT / "examples" / first.split("=", 1)[1]).resolve().is_file()


def test_completion_scripts_are_valid_shell(stack: Stack, tmp_path: Path) -> None:
    for shell in ("bash", "zsh"):
        result = stack.cli("completion", shell)
        assert result.code == 0
        assert "complete -o default -F _voipbin_iac voipbin-iac" in result.out
        for word in ("validate", "plan", "apply", "--detailed-exitcode", "markdown"):
            assert word in result.out
    script = tmp_path / "c.bash"
    script.write_text(stack.cli("completion", "bash").out)
    check = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    words = subprocess.run(
        ["bash", "-c", f"source {script}; COMP_WORDS=(voipbin-iac plan --for); COMP_CWORD=2; "
         "_voipbin_iac; echo ${COMPREPLY[@]}"], capture_output=True, text=True)
    assert words.stdout.split() == ["--format"]


def test_colour_only_on_a_tty_and_never_with_no_color(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    env = {k: v for k, v in stack.env.items() if k != "NO_COLOR"}
    for extra, coloured in (({}, True), ({"NO_COLOR": "1"}, False)):
        out = Tty()
        code = cli.main(["plan", str(path)], stdout=out, stderr=io.StringIO(),
                        env={**env, **extra}, clock=stack.clock)
        assert code == 0
        assert ("\x1b[" in out.getvalue()) is coloured
    out, err = io.StringIO(), io.StringIO()  # not a terminal, and NO_COLOR unset
    assert cli.main(["plan", str(path)], stdout=out, stderr=err, env=env,
                    clock=stack.clock) == 0
    assert "+ a" in out.getvalue() and "\x1b[" not in out.getvalue() + err.getvalue()
    flag = Tty()
    cli.main(["plan", str(path), "--no-color"], stdout=flag, stderr=io.StringIO(), env=env,
             clock=stack.clock)
    assert "\x1b[" not in flag.getvalue()


def test_progress_line_counts_rate_and_eta() -> None:
    clock = FakeClock()
    out = io.StringIO()
    progress = ProgressLine(out, clock)
    progress.update(0, 8)
    for done in range(1, 9):
        clock.advance(0.5)
        progress.update(done, 8)
    lines = out.getvalue().splitlines()
    assert lines == ["apply: 2/8 done, 2.0/s, ETA 3s", "apply: 4/8 done, 2.0/s, ETA 2s",
                     "apply: 6/8 done, 2.0/s, ETA 1s", "apply: 8/8 done, 2.0/s, ETA 0s"]
    quiet = io.StringIO()
    small = ProgressLine(quiet, clock)
    small.update(1, 3)
    assert quiet.getvalue() == ""


def test_quiet_and_verbose(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({f"a{i}": {} for i in range(6)}))
    quiet = stack.cli("apply", str(path), "--yes", "-q")
    assert quiet.code == 0 and quiet.err == ""
    path.write_text(agents_yaml({f"a{i}": {"detail": "x"} for i in range(6)},
                                extra="safety:\n  max_change_percent: 100\n"))
    loud = stack.cli("apply", str(path), "--yes", "-vv")
    assert "debug: PUT /ais/" in loud.err and "apply: 6/6 done" in loud.err


def test_apply_json_result(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    result = stack.cli("apply", str(path), "--yes", "--format", "json")
    assert result.code == 0
    data = json.loads(result.out)
    assert data["result"]["ok"] is True and data["result"]["counts"]["done"] == 1
    (outcome,) = data["result"]["outcomes"]
    assert outcome["status"] == "done" and outcome["sip_uri"].startswith("sip:direct.")
    assert data["plan"]["summary"]["create"] == 1
    assert "+ a" in result.err  # the plan went to stderr, keeping stdout machine-readable


def test_emulator_command_serves_and_reports_bad_flags(stack: Stack) -> None:
    bad = stack.cli("emulator", "--fault-rate", "2")
    assert bad.code == 1 and "fault_rate" in bad.err
    busy = stack.cli("emulator", "--port", str(stack.server.port), "--state",
                     stack.path("e.sqlite3"))
    assert busy.code == 1 and "error: emulator:" in busy.err


def test_progress_shows_at_default_verbosity_on_stderr(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({f"a{i}": {} for i in range(6)}))
    result = stack.cli("apply", str(path), "--yes")
    assert result.code == 0
    assert "apply: 6/6 done" in result.err and "apply:" not in result.out


def test_quick_start_runs_on_the_embedded_emulator(tmp_path: Path) -> None:
    example = copy_examples(tmp_path)
    state = tmp_path / "emulator.sqlite3"
    env = {"NO_COLOR": "1"}  # no VOIPBIN_API_KEY, no OPENAI_API_KEY: the example's fallback
    args = ["--emulator", "--emulator-state", str(state)]
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["apply", str(example), "--yes", *args], stdout=out, stderr=err,
                    env=env, clock=FakeClock()) == 0, err.getvalue()
    assert "4 done, 0 failed" in out.getvalue() and "Verified" in out.getvalue()
    manifest = yaml.safe_load(example.with_name("agents.manifest.yaml").read_text())
    assert sorted(manifest["agents"]) == ["booking-assistant", "helpdesk", "support-line"]
    again = io.StringIO()
    assert cli.main(["plan", str(example), "--detailed-exitcode", *args], stdout=again,
                    stderr=io.StringIO(), env=env, clock=FakeClock()) == 0
    assert "No changes" in again.getvalue()


def test_apply_json_result_of_a_failing_apply(make_stack) -> None:
    from voipbin_iac.emulator import EmulatorConfig

    # Half the requests answer 500: listings retry it; a create takes it as a rejection.
    stack = make_stack(EmulatorConfig(rate_limit=None, auth_rate_limit=None, fault_rate=0.5,
                                      fault_kinds=("500",), seed=3))
    path = stack.write("agents.yaml", agents_yaml({f"a{i}": {} for i in range(6)}))
    # Without the account lock: its requests go side by side, in no fixed order, so which of
    # them the seeded faults hit would vary (three 500s to its tag create refuse the apply).
    result = stack.cli("apply", str(path), "--yes", "--format", "json", "--no-account-lock")
    assert result.code == 1
    data = json.loads(result.out)["result"]
    # Each create is one POST, never retried after a 500: the emulator's log says exactly
    # which failed, however the workers interleaved.
    posts = stack.app.request_log.requests(method="POST", path_prefix="/v1.0/ais")
    assert len(posts) == 6 and {p.status for p in posts} == {200, 500}
    rejected = sum(1 for p in posts if p.status == 500)
    assert data["ok"] is False
    assert data["counts"]["failed"] == rejected and data["counts"]["done"] == 6 - rejected
    failed = [o for o in data["outcomes"] if o["status"] == "failed"]
    assert len(failed) == rejected
    assert all("POST /ais answered 500" in o["reason"] for o in failed)
    stack.app.config = EmulatorConfig(rate_limit=None, auth_rate_limit=None)  # faults end
    assert len(stack.live()) == 6 - rejected
    owned = yaml.safe_load(path.with_name("agents.manifest.yaml").read_text())["agents"]
    assert sorted(owned) == sorted(o["key"] for o in data["outcomes"] if o["status"] == "done")
