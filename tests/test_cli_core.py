"""The core end to end: validate, plan and apply through the CLI against the emulator over
loopback HTTP, and the manifest of SIP URIs (issue: the core)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import ENGINE_KEY, KEY, OTHER_KEY, ROOT, Stack, agents_yaml, copy_examples

SIP = re.compile(r"^sip:direct\.[0-9a-f]{12}@sip\.voipbin\.net$")


def manifest_of(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["agents"]


def test_apply_from_empty_writes_manifest_with_sip_uris(stack: Stack, example: Path) -> None:
    result = stack.cli("apply", str(example), "--yes")
    assert result.code == 0, result.err
    assert "4 done, 0 failed" in result.out and "Verified" in result.out  # 3 agents, 1 team
    manifest = manifest_of(example.with_name("agents.manifest.yaml"))
    assert sorted(manifest) == ["booking-assistant", "helpdesk", "support-line"]
    team = yaml.safe_load(example.with_name("agents.manifest.yaml").read_text())["teams"]
    assert SIP.match(team["front-desk"]["sip_uri"])
    live = {ai["id"]: ai for ai in stack.live()}
    for entry in manifest.values():
        assert SIP.match(entry["sip_uri"])
        ai = live[entry["id"]]
        # The SIP URI is the API's direct_hash, never derived from the id.
        assert entry["sip_uri"] == f"sip:{ai['direct_hash']}@sip.voipbin.net"
        assert entry["direct_hash"][len("direct."):] != entry["id"].replace("-", "")[:12]
    assert manifest["support-line"]["protect"] is True
    assert ENGINE_KEY not in example.with_name("agents.manifest.yaml").read_text()


def test_second_apply_changes_nothing_and_says_so(stack: Stack, example: Path) -> None:
    assert stack.cli("apply", str(example), "--yes").code == 0
    before = example.with_name("agents.manifest.yaml").read_text()
    writes = len(stack.app.request_log.requests(method="POST", path_prefix="/v1.0/ais"))
    again = stack.cli("apply", str(example), "--yes")
    assert again.code == 0
    assert "No changes" in again.out
    assert len(stack.app.request_log.requests(method="POST", path_prefix="/v1.0/ais")) == writes
    assert not stack.app.request_log.requests(method="PUT", path_prefix="/v1.0/ais")
    assert example.with_name("agents.manifest.yaml").read_text() == before
    plan = stack.cli("plan", str(example), "--detailed-exitcode")
    assert plan.code == 0 and "No changes" in plan.out


def test_edited_prompt_is_a_one_field_update(stack: Stack, example: Path) -> None:
    assert stack.cli("apply", str(example), "--yes").code == 0
    text = example.read_text().replace("Answer product questions concisely and politely.",
                                       "Answer product questions briefly.")
    example.write_text(text)
    plan = stack.cli("plan", str(example), "--format", "json", "--detailed-exitcode")
    assert plan.code == 2
    data = json.loads(plan.out)
    assert data["summary"]["update"] == 1 and data["summary"]["unchanged"] == 3  # and the team
    (change,) = data["changes"]
    assert change["key"] == "support-line" and change["impact"] == "behaviour"
    assert [f["field"] for f in change["fields"]] == ["init_prompt"]
    text_plan = stack.cli("plan", str(example))
    assert "- Answer product questions concisely and politely." in text_plan.out
    assert "+ Answer product questions briefly." in text_plan.out
    puts_before = len(stack.app.request_log.requests(method="PUT"))
    assert stack.cli("apply", str(example), "--yes").code == 0
    assert len(stack.app.request_log.requests(method="PUT")) == puts_before + 1
    assert stack.cli("plan", str(example), "--detailed-exitcode").code == 0


def test_renaming_name_keeps_id_and_sip_uri(stack: Stack, example: Path) -> None:
    assert stack.cli("apply", str(example), "--yes").code == 0
    manifest_path = example.with_name("agents.manifest.yaml")
    before = manifest_of(manifest_path)["helpdesk"]
    example.write_text(example.read_text().replace("name: Internal Helpdesk",
                                                   "name: IT Helpdesk"))
    plan = stack.cli("plan", str(example))
    assert "helpdesk" in plan.out and "cosmetic impact" in plan.out
    assert '"Internal Helpdesk" -> "IT Helpdesk"' in plan.out
    assert stack.cli("apply", str(example), "--yes").code == 0
    after = manifest_of(manifest_path)["helpdesk"]
    assert after["id"] == before["id"] and after["sip_uri"] == before["sip_uri"]
    assert after["name"] == "IT Helpdesk"
    assert len(stack.live()) == 3


def test_removed_agent_is_kept_without_prune(stack: Stack, example: Path) -> None:
    assert stack.cli("apply", str(example), "--yes").code == 0
    data = yaml.safe_load(example.read_text())
    del data["agents"]["booking-assistant"]
    del data["teams"]["front-desk"]["members"]["booking"]  # the team lets it go too
    del data["teams"]["front-desk"]["members"]["reception"]["transitions"]["to_booking"]
    example.write_text(yaml.safe_dump(data))
    plan = stack.cli("plan", str(example), "--detailed-exitcode")
    assert plan.code == 2, plan.out  # the team's update
    assert "kept: booking-assistant" in plan.out
    assert stack.cli("apply", str(example), "--yes").code == 0
    assert len(stack.live()) == 3
    assert "booking-assistant" in manifest_of(example.with_name("agents.manifest.yaml"))


def test_another_customers_ais_never_appear(stack: Stack, example: Path) -> None:
    other = stack.api(OTHER_KEY)
    for name in ("Support Line", "Stranger"):
        assert other.post("/ais", json={"name": name, "engine_model": "openai.gpt-5"}
                          ).status_code == 200
    plan = stack.cli("plan", str(example), "--format", "json")
    data = json.loads(plan.out)
    assert data["summary"]["create"] == 4 and data["summary"]["adopt"] == 0
    assert data["summary"]["unmanaged"] == 0 and data["summary"]["live"] == 0
    assert stack.cli("apply", str(example), "--yes").code == 0
    assert len(stack.live(OTHER_KEY)) == 2


def test_plan_lists_with_pages_of_100_never_per_agent(stack: Stack) -> None:
    agents = {f"a{i:03d}": {"name": f"Agent {i}"} for i in range(250)}
    path = stack.write("agents.yaml", agents_yaml(agents))
    assert stack.cli("apply", str(path), "--yes", "--concurrency", "8").code == 0
    stack.app.request_log.clear_log()
    assert stack.cli("plan", str(path), "--detailed-exitcode").code == 0
    requests = stack.app.request_log.requests()
    # ceil(250/100) + the empty last page of AIs, and one empty page of teams (listed at the
    # same time, so in any order); no GET by id.
    assert sorted(f"{r.method} {r.path}" for r in requests) == ["GET /v1.0/ais"] * 4 + [
        "GET /v1.0/teams"]
    assert all("page_size=100" in r.query for r in requests)


def test_validate_reports_located_errors_offline(stack: Stack, example: Path) -> None:
    path = stack.write("bad.yaml", "version: 1\nagents:\n  x:\n    engine_model: gpt-4o\n")
    result = stack.cli("validate", str(path))
    assert result.code == 1
    assert f"error: {path}:4:5: agents.x.engine_model: 'gpt-4o' must be" in result.err
    assert "Traceback" not in result.err and result.out == ""
    good = stack.cli("validate", str(example))
    assert good.code == 0 and good.out.startswith("ok: ")
    assert stack.app.request_log.requests() == []  # offline: not one request


def test_no_key_and_no_emulator_says_how(stack: Stack, example: Path) -> None:
    result = stack.cli("plan", str(example), env={"VOIPBIN_API_KEY": ""})
    assert result.code == 1
    assert "error: VOIPBIN_API_KEY is not set" in result.err
    assert "--emulator" in result.err and "signup" in result.err


def test_wrong_key_is_a_401_with_advice_and_no_key_in_output(stack: Stack,
                                                             example: Path) -> None:
    bad = "vb_wrong_key_that_must_not_leak"
    for transport in ("cookie", "query"):
        result = stack.cli("plan", str(example), env={"VOIPBIN_API_KEY": bad,
                                                      "VOIPBIN_AUTH_TRANSPORT": transport})
        assert result.code == 1
        assert "GET /ais answered 401 INVALID_CREDENTIALS" in result.err
        assert "request id req_" in result.err
        assert "check VOIPBIN_API_KEY" in result.err
        assert bad not in result.both


def test_apply_without_tty_and_without_yes_refuses(stack: Stack, example: Path) -> None:
    result = stack.cli("apply", str(example))
    assert result.code == 1
    assert "no terminal to confirm on" in result.err and "--yes" in result.err
    assert stack.live() == []


def test_manifest_path_option(stack: Stack, example: Path) -> None:
    custom = stack.workdir / "out" / "prod.manifest.yaml"
    assert stack.cli("apply", str(example), "--yes", "--manifest", str(custom)).code == 0
    assert sorted(manifest_of(custom)) == ["booking-assistant", "helpdesk", "support-line"]
    assert not example.with_name("agents.manifest.yaml").exists()


def test_cli_as_subprocess_against_loopback(stack: Stack, example: Path) -> None:
    env = {**os.environ, **stack.env, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "voipbin_iac", "apply", str(example), "--yes"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Verified" in run.stdout
    again = subprocess.run([sys.executable, "-m", "voipbin_iac", "plan", str(example),
                            "--detailed-exitcode"], capture_output=True, text=True, env=env,
                           timeout=120)
    assert again.returncode == 0 and "No changes" in again.stdout
    assert KEY not in run.stdout + run.stderr + again.stdout + again.stderr


def test_a_file_over_the_size_limit_is_refused_without_reading_it(stack: Stack) -> None:
    from voipbin_iac.desired.yamlsrc import MAX_BYTES

    path = stack.workdir / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: costs no disk and no time
    result = stack.cli("validate", str(path))
    assert result.code == 1
    assert f"error: {path}: file is {MAX_BYTES + 1} bytes, over the limit" in result.err


@pytest.mark.parametrize(("args", "needle"), [
    (["--rate-limit", "nan"], "--rate-limit nan"),
    (["--rate-limit", "inf"], "--rate-limit inf"),
    (["--rate-limit", "1e-300"], "between 0.01 and 10000"),
    (["--rate-limit", "-1"], "between 0.01 and 10000"),
    (["--timeout", "0"], "--timeout 0"),
    (["--timeout", "nan"], "--timeout nan"),
    (["--concurrency", "0"], "--concurrency must be at least 1"),
    (["--rate-limit", "fast"], "invalid float value"),
])
def test_bad_flags_are_one_clear_line(stack: Stack, example: Path, args: list[str],
                                      needle: str) -> None:
    result = stack.cli("apply", str(example), "--yes", *args)
    assert result.code == 1
    assert needle in result.err and result.err.startswith("error:")
    assert "Traceback" not in result.err and stack.app.request_log.requests() == []


@pytest.mark.parametrize("env", [
    {"VOIPBIN_API_BASE_URL": "http://[::1/v1.0"},
    {"VOIPBIN_API_BASE_URL": "api.voipbin.net/v1.0"},
    {"VOIPBIN_API_KEY": "vb_pasted\u200bkey"},
    {"VOIPBIN_AUTH_TRANSPORT": "bearer"},
])
def test_bad_environment_is_one_clear_line(stack: Stack, example: Path,
                                           env: dict[str, str]) -> None:
    result = stack.cli("plan", str(example), env=env)
    assert result.code == 1 and result.err.startswith("error: VOIPBIN_")
    assert "Traceback" not in result.err


def test_unwritable_places_are_one_clear_line(stack: Stack, example: Path) -> None:
    blocker = stack.workdir / "not-a-dir"
    blocker.write_text("a file where a directory is expected\n")
    cases = [
        ("apply", str(example), "--yes", "--manifest", str(blocker / "m.yaml")),
        ("plan", str(example), "--out", str(stack.workdir)),
        ("plan", str(example), "--out", str(blocker / "plan.json")),
        ("export", "--out", str(blocker / "agents.yaml")),
    ]
    for args in cases:
        result = stack.cli(*args)
        assert result.code == 1, args
        assert result.err.startswith("error: cannot "), result.err
        assert "Traceback" not in result.err
    nul = stack.write("nul.yaml", agents_yaml({"a": {"init_prompt_file": "a\u0000b"}}))
    result = stack.cli("validate", str(nul))
    assert result.code == 1 and "init_prompt_file" in result.err


@pytest.mark.parametrize("key", [b"\x03", b"\x04"], ids=["ctrl-c", "ctrl-d"])
def test_ctrl_c_or_d_at_the_confirmation_prompt_cancels_at_once(tmp_path: Path,
                                                                key: bytes) -> None:
    import os
    import pty
    import select
    import sys

    example = copy_examples(tmp_path)
    state = tmp_path / "emulator.sqlite3"
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI on a terminal, asking for confirmation
        os.environ["PYTHONPATH"] = str(ROOT)
        os.execv(sys.executable, [sys.executable, "-m", "voipbin_iac", "apply", str(example),
                                  "--emulator", "--emulator-state", str(state)])

    def read_until(needle: bytes) -> bytes:
        seen = b""
        while needle not in seen and len(seen) < 1_000_000:  # bounded: a flood fails too
            ready, _, _ = select.select([fd], [], [], 60)
            assert ready, f"timed out waiting for {needle!r}: {seen!r}"
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        return seen

    read_until(b"Only 'yes' goes ahead")
    os.write(fd, key)  # Ctrl-C or Ctrl-D at the prompt
    rest = read_until(b"nothing was changed")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 1
    # on a line of its own, not after the question
    assert b"\nerror: apply cancelled; nothing was changed" in rest, rest
    assert b"Traceback" not in rest
    assert not example.with_name("agents.manifest.yaml").exists()  # nothing was applied
