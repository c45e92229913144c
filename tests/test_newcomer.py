"""What a newcomer meets in the first hour, one test per finding: hints that keep the command's
context, saved plans that know their files, fast and clear connection failures, a quiet `-q`,
global flags anywhere, a Markdown plan that fits a PR comment, and the small things (plurals,
Ctrl-C at the prompt, where the emulator keeps its state, key completion)."""

from __future__ import annotations

import io
import os
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from voipbin_iac.api.client import Connection, VoipbinClient
from voipbin_iac.cli import app as cli
from voipbin_iac.core import render
from voipbin_iac.core.clock import FakeClock
from voipbin_iac.core.kinds.agent import AGENT_KIND
from voipbin_iac.core.secret import Secret
from voipbin_iac.emulator import EmulatorConfig, EmulatorServer
from voipbin_iac.errors import TransportError

from .conftest import KEY, MODEL, ROOT, Result, Stack, agents_yaml

# -- helpers ---------------------------------------------------------------------------------


def suggested(text: str, command: str) -> list[str]:
    """The arguments of the first backticked `voipbin-iac COMMAND ...` in `text`."""
    match = re.search(rf"`voipbin-iac ({command} [^`]*)`", text)
    assert match, f"no `voipbin-iac {command} ...` in:\n{text}"
    return shlex.split(match.group(1))


def environment(stack: Stack) -> tuple[Path, Path]:
    """A base + prod environment: base.yaml has the defaults and the greeter, prod.yaml the
    rest."""
    base = stack.write("env/base.yaml", agents_yaml({"greeter": {"name": "Greeter"}}))
    prod = stack.write("env/prod.yaml", "version: 1\nagents:\n  booking: {}\n")
    return base, prod


def run_in(stack: Stack, folder: Path, *args: str) -> Result:
    """The CLI with `folder` as the current directory (as a user who cd'ed there)."""
    before = Path.cwd()
    os.chdir(folder)
    try:
        return stack.cli(*args)
    finally:
        os.chdir(before)


# -- 4: hints keep the command's context -----------------------------------------------------


def test_the_printed_import_command_writes_the_environments_manifest(stack: Stack) -> None:
    base, prod = environment(stack)
    for _ in range(2):  # two live AIs named Greeter: the plan cannot tell which is greeter's
        stack.api().post("/ais", json={"name": "Greeter", "engine_model": MODEL})
    refused = stack.cli("plan", str(base), str(prod))
    assert refused.code == 1
    args = suggested(refused.err, "import")
    assert args[:2] == ["import", "greeter"] and args[3:] == ["-f", str(base), "-f", str(prod)]
    done = stack.cli(*args)
    assert done.code == 0, done.err
    assert "does not exist" not in done.err and "is not in" not in done.err
    assert yaml.safe_load(prod.with_name("prod.manifest.yaml").read_text())["agents"]["greeter"]
    assert not (stack.workdir / "agents.manifest.yaml").exists()
    assert stack.cli("plan", str(base), str(prod)).code == 0  # settled


def test_import_takes_several_files_and_a_manifest(stack: Stack) -> None:
    base, prod = environment(stack)
    made = stack.api().post("/ais", json={"name": "x", "engine_model": MODEL}).json()
    custom = stack.workdir / "out" / "prod.yaml.manifest"
    custom.parent.mkdir()
    done = stack.cli("import", "booking", made["id"], "-f", str(base), "-f", str(prod),
                     "--manifest", str(custom))
    assert done.code == 0 and done.err == ""  # booking is in prod.yaml: no warning
    assert yaml.safe_load(custom.read_text())["agents"]["booking"]["id"] == made["id"]


def test_plan_on_the_emulator_suggests_an_apply_on_the_emulator(stack: Stack) -> None:
    base, prod = environment(stack)
    state = stack.workdir / "elsewhere.sqlite3"
    out = stack.workdir / "plan.json"
    planned = stack.cli("plan", str(base), str(prod), "--emulator", "--emulator-state",
                        str(state), "--out", str(out))
    assert planned.code == 0, planned.err
    args = suggested(planned.err, "apply")
    assert args == ["apply", str(base), str(prod), "--plan", str(out), "--emulator",
                    "--emulator-state", str(state)]
    applied = stack.cli(*args, "--yes")
    assert applied.code == 0, applied.err
    assert "2 done" in applied.out and "the embedded emulator" in applied.out
    assert stack.app.requests("POST", "/v1.0/ais") == []  # not the server's account


def test_every_hint_of_a_failed_apply_repeats_files_and_manifest(stack: Stack) -> None:
    base, prod = environment(stack)
    custom = str(stack.workdir / "prod.manifest.yaml")
    assert stack.cli("apply", str(base), str(prod), "--manifest", custom, "--yes").code == 0
    # someone deletes greeter in the console: a saved plan that updates it goes stale
    prod.write_text("version: 1\nagents:\n  booking: {}\n  greeter: {detail: changed}\n")
    out = stack.workdir / "plan.json"
    assert stack.cli("plan", str(base), str(prod), "--manifest", custom, "--out",
                     str(out)).code == 0
    prod.write_text("version: 1\nagents:\n  booking: {detail: other}\n")
    stale = stack.cli("apply", "--plan", str(out), "--yes")
    assert stale.code == 1 and "desired state changed" in stale.err
    args = suggested(stale.err, "plan")  # paths from the plan: as seen from here
    assert args[0] == "plan" and args[3:5] == ["--out", str(out)] and args[5] == "--manifest"
    assert [Path(a).resolve() for a in (*args[1:3], args[6])] == [base, prod, Path(custom)]


# -- 4: a saved plan records its files -------------------------------------------------------


def test_apply_plan_needs_nothing_else_from_any_directory(stack: Stack, tmp_path: Path) -> None:
    base, _ = environment(stack)
    planned = run_in(stack, base.parent, "plan", "base.yaml", "prod.yaml", "--emulator",
                     "--out", "plan.json")
    assert planned.code == 0, planned.err
    elsewhere = tmp_path / "somewhere-else"
    elsewhere.mkdir()
    applied = run_in(stack, elsewhere, "apply", "--plan", str(base.parent / "plan.json"),
                     "--yes")
    assert applied.code == 0, applied.err
    assert "Verified" in applied.out
    assert (base.parent / "prod.manifest.yaml").exists()
    assert (base.parent / ".voipbin-emulator.sqlite3").exists()  # the plan's emulator
    assert not list(elsewhere.iterdir())


@pytest.mark.parametrize("extra, says", [
    (["{other}"], "was made from"),
    (["{prod}", "{base}"], "was made from"),  # the same files in another order
    (["--manifest", "{other}"], "was made with the manifest"),
    (["--emulator", "--emulator-state", "{other}"], "was made against the emulator state"),
])
def test_apply_plan_refuses_other_files_manifest_or_state(stack: Stack, extra: list[str],
                                                          says: str) -> None:
    base, prod = environment(stack)
    out = stack.workdir / "plan.json"
    assert stack.cli("plan", str(base), str(prod), "--emulator", "--out", str(out)).code == 0
    other = stack.write("other.yaml", agents_yaml({"z": {}}))
    names = {"{other}": str(other), "{base}": str(base), "{prod}": str(prod)}
    refused = stack.cli("apply", "--plan", str(out), "--yes", *[names.get(e, e) for e in extra])
    assert refused.code == 1 and says in refused.err, refused.err
    assert "give no FILE" in refused.err
    assert not prod.with_name("prod.manifest.yaml").exists()


def test_a_plan_of_the_api_is_not_applied_to_the_emulator(stack: Stack) -> None:
    base, prod = environment(stack)
    out = stack.workdir / "plan.json"
    assert stack.cli("plan", str(base), str(prod), "--out", str(out)).code == 0
    refused = stack.cli("apply", "--plan", str(out), "--emulator", "--yes")
    assert refused.code == 1 and "made against the VoIPBin API" in refused.err
    same = stack.cli("apply", "--plan", str(out), str(base), str(prod), "--yes")
    assert same.code == 0, same.err  # giving the same files is fine


# -- 5: connection failures fail fast and say where ------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _client(url: str, clock: FakeClock) -> VoipbinClient:
    return VoipbinClient(Connection(url, Secret(KEY)), clock=clock, rate_limit=None)


def test_a_closed_port_fails_at_once_naming_the_base_url() -> None:
    clock = FakeClock()
    url = f"http://127.0.0.1:{_closed_port()}/v1.0"
    with _client(url, clock) as client, pytest.raises(TransportError) as caught:
        client.list(AGENT_KIND)
    assert clock.slept == 0 and client.requests["GET /ais"] == 1  # no retry, no wait
    assert "connection refused" in caught.value.message
    assert "VOIPBIN_API_BASE_URL" in (caught.value.hint or "") and url in caught.value.hint


def test_https_to_a_plain_http_server_fails_at_once_suggesting_http(stack: Stack) -> None:
    clock = FakeClock()
    url = stack.server.base_url.replace("http://", "https://")
    with _client(url, clock) as client, pytest.raises(TransportError) as caught:
        client.list(AGENT_KIND)
    assert clock.slept == 0 and client.requests["GET /ais"] == 1
    assert "TLS" in caught.value.message and "http://" in (caught.value.hint or "")


def test_the_cli_reports_a_closed_port_in_one_line_and_a_hint(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    url = f"http://127.0.0.1:{_closed_port()}/v1.0"
    result = stack.cli("plan", str(path), env={"VOIPBIN_API_BASE_URL": url})
    assert result.code == 1 and result.out == ""
    lines = result.err.splitlines()
    assert lines[0].startswith("error: GET /ais got no answer: connection refused")
    assert lines[1].startswith("hint: check VOIPBIN_API_BASE_URL") and len(lines) == 2
    assert stack.clock.slept == 0


def test_a_base_url_without_v1_gets_a_hint_saying_so(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    root = stack.server.base_url.removesuffix("/v1.0")
    result = stack.cli("plan", str(path), env={"VOIPBIN_API_BASE_URL": root})
    assert result.code == 1
    assert "does not end in /v1.0" in result.err and "deleted elsewhere" not in result.err


class _Flaky:
    """WSGI middleware: the first `fail` list requests answer 503, the rest pass; or a
    redirect for every request."""

    def __init__(self, app: Any, fail: int = 0, redirect: str = "") -> None:
        self.app, self.fail, self.redirect = app, fail, redirect

    @property
    def config(self) -> EmulatorConfig:
        return self.app.config

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.redirect:
            start_response("301 Moved Permanently", [("Location", self.redirect),
                                                     ("Content-Length", "0")])
            return [b""]
        if self.fail and environ["PATH_INFO"] == "/v1.0/ais":
            self.fail -= 1
            start_response("503 Service Unavailable", [("Content-Type", "text/plain"),
                                                       ("Content-Length", "4")])
            return [b"busy"]
        return self.app(environ, start_response)


@pytest.fixture
def flaky(stack: Stack) -> Iterator[Callable[..., str]]:
    servers: list[EmulatorServer] = []

    def serve(**kw: Any) -> str:
        servers.append(EmulatorServer(_Flaky(stack.app, **kw)).start())  # type: ignore[arg-type]
        return servers[-1].base_url

    yield serve
    for server in servers:
        server.stop()


def test_retries_are_announced_unless_quiet(stack: Stack, flaky: Callable[..., str]) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    url = flaky(fail=2)
    result = stack.cli("plan", str(path), env={"VOIPBIN_API_BASE_URL": url})
    assert result.code == 0, result.err
    announced = re.findall(r"^retrying GET /ais \((\d)/6\) in \d+\.\d s: 503$", result.err,
                           re.MULTILINE)
    assert announced == ["2", "3"]
    quiet = stack.cli("plan", str(path), "-q", env={"VOIPBIN_API_BASE_URL": flaky(fail=2)})
    assert quiet.code == 0 and quiet.err == ""


def test_a_redirect_is_an_error_with_a_hint(stack: Stack, flaky: Callable[..., str]) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    url = flaky(redirect="https://api.example.invalid/v1.0/ais")
    result = stack.cli("plan", str(path), env={"VOIPBIN_API_BASE_URL": url})
    assert result.code == 1 and "answered 301, a redirect" in result.err
    assert "to https://api.example.invalid/v1.0/ais" in result.err


# -- 6: -q is quiet; global flags anywhere ---------------------------------------------------


def test_quiet_apply_of_many_creates_prints_the_summary_only(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({f"a{i:03}": {} for i in range(60)},
                                                  extra="safety: {max_change_percent: 100}\n"))
    result = stack.cli("apply", str(path), "--yes", "-q")
    assert result.code == 0 and result.err == ""
    assert result.out.splitlines() == [
        "Apply: 60 done, 0 failed, 0 skipped. Verified: the account matches the desired state. "
        f"Manifest: {path.with_name('agents.manifest.yaml')}"]
    again = stack.cli("-q", "apply", str(path), "--yes")  # before the command, too
    assert again.out.startswith("No changes.") and again.out.count("\n") == 1


def test_quiet_shows_what_failed(stack: Stack) -> None:
    rag = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"  # no such knowledge base: VoIPBin says 500
    path = stack.write("agents.yaml", agents_yaml({"fine": {}, "broken": {"rag_id": rag}}))
    result = stack.cli("apply", str(path), "--yes", "-q")
    assert result.code == 1 and result.err == ""
    lines = result.out.splitlines()
    assert lines[0] == "1 change did not go through:"
    assert lines[1].startswith("  broken: create failed: POST /ais answered 500")
    assert lines[2].startswith("Apply: 1 done, 1 failed, 0 skipped.") and len(lines) == 3


@pytest.mark.parametrize("where", ["before", "after"])
def test_global_flags_work_before_or_after_the_command(stack: Stack, where: str) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))

    def run(*flags: str) -> Result:
        args = [*flags, "plan", str(path)] if where == "before" else ["plan", str(path), *flags]
        return stack.cli(*args)

    quiet = run("-q", "--no-color")
    assert quiet.code == 0 and quiet.err == ""
    assert quiet.out.startswith("Plan: 1 to create") and quiet.out.count("\n") == 1
    loud = run("-vv")
    assert "debug: GET /ais" in loud.err


def test_verbosity_adds_up_across_positions(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    loud = stack.cli("-vv", "plan", str(path))
    assert "debug: GET /ais" in loud.err
    split = stack.cli("-v", "plan", str(path), "-v")
    assert "debug: GET /ais" in split.err


def test_top_level_help_lists_flags_environment_and_exit_codes(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"], stdout=io.StringIO(), stderr=io.StringIO(), env={}) == 0
    text = capsys.readouterr().out  # argparse prints help on sys.stdout
    for word in ("-q, --quiet", "-v, --verbose", "--no-color", "VOIPBIN_API_KEY",
                 "VOIPBIN_API_BASE_URL", "VOIPBIN_AUTH_TRANSPORT", "NO_COLOR", "exit codes:",
                 "2  plan --detailed-exitcode", "3  test"):
        assert word in text, word


# -- 7: the Markdown plan fits a pull-request comment ----------------------------------------


def test_three_hundred_creates_fit_a_comment_with_the_summary_first(stack: Stack) -> None:
    agents = {f"agent-{i:03}": {"init_prompt": f"You are agent {i}.\n" + "Be kind.\n" * 40}
              for i in range(300)}
    path = stack.write("agents.yaml", agents_yaml(agents))
    github = {"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com",
              "GITHUB_REPOSITORY": "acme/agents", "GITHUB_RUN_ID": "42"}
    result = stack.cli("plan", str(path), "--format", "markdown", env=github)
    assert result.code == 0, result.err
    text = result.out
    assert len(text) <= render.COMMENT_BUDGET
    lines = text.splitlines()
    assert lines[2] == "**300 to create, 0 to update, 0 to adopt, 0 to delete; 0 unchanged, " \
                       "0 unmanaged AIs**"
    assert "<details><summary>300 changes</summary>" in text  # the table is collapsed
    assert text.count("<details>") == text.count("</details>")
    assert text.count("```") % 2 == 0
    note = lines[-1]
    assert note.startswith("**Cut to fit a pull-request comment:** 300 of 300 changes listed")
    assert "`voipbin-iac-plan` artifact of [this workflow run]" in note
    assert "https://github.com/acme/agents/actions/runs/42" in note


def test_the_safety_warning_comes_first_and_deletions_are_called_out(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({f"a{i:02}": {} for i in range(12)}))
    assert stack.cli("apply", str(path), "--yes").code == 0
    path.write_text(agents_yaml({f"a{i:02}": {"detail": "x"} for i in range(2, 12)}))
    result = stack.cli("plan", str(path), "--prune", "--format", "markdown")
    lines = result.out.splitlines()
    assert lines[4].startswith("> :warning: **safety: this plan updates or deletes 12 of 12")
    assert lines[6].startswith("> :warning: **2 resources deleted**: `a00`, `a01`")
    assert "Cut to fit" not in result.out


def test_markdown_within_any_budget_keeps_its_tags_balanced(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({f"a{i:02}": {} for i in range(40)}))
    data = stack.cli("plan", str(path), "--out", str(stack.workdir / "p.json"))
    assert data.code == 0
    from voipbin_iac.state import savedplan

    the_plan = savedplan.load(stack.workdir / "p.json").plan
    for budget in (3_000, 5_000, 9_000, 20_000):
        text = render.markdown(the_plan, render.Context(full_plan="see the artifact"), budget)
        assert len(text) <= budget
        assert text.count("<details") == text.count("</details>"), budget
        assert text.count("```") % 2 == 0, budget
        assert ("Cut to fit" in text) == (budget < 20_000), budget
        if budget < 20_000:
            assert text.rstrip().endswith("see the artifact."), budget


# -- 8 and 10: the words -------------------------------------------------------------------------


def test_log_lines_say_warning_in_lower_case_and_the_second_manifest_warning_shows(
        stack: Stack) -> None:
    base, prod = environment(stack)
    assert stack.cli("apply", str(base), str(prod), "--yes").code == 0
    swapped = stack.cli("plan", str(prod), str(base))  # names base.manifest.yaml instead
    assert "warning: " in swapped.err and "WARNING" not in swapped.err
    assert "already belongs to these files" in swapped.err
    assert "give the files in that order" in swapped.err


def test_plurals_and_no_none_impact(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"solo": {"name": "Same Name"}},
                                                  extra="moved: {}\n"))
    live = stack.api().post("/ais", json={"name": "Same Name", "engine_model": MODEL,
                                          "engine_key": "sk-test-engine-key-4f1c9a7e"}).json()
    stack.api().post("/ais", json={"name": "stranger", "engine_model": MODEL})
    planned = stack.cli("plan", str(path))
    assert planned.code == 0, planned.err
    assert f"solo \"Same Name\" ({live['id']}): adopt" in planned.out
    assert "none impact" not in planned.out and "1 unmanaged AI." in planned.out
    checked = stack.cli("validate", str(path))
    assert checked.out.endswith(": 1 agent, 0 warnings\n")


def test_a_moved_agent_is_counted_once(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"old": {"name": "A"}, "other": {}}))
    assert stack.cli("apply", str(path), "--yes").code == 0
    path.write_text(agents_yaml({"new": {"name": "A"}, "other": {}},
                                extra="moved: {old: new}\n"))
    planned = stack.cli("plan", str(path))
    assert "1 moved, 1 unchanged" in planned.out  # other, and new once
    path.write_text(agents_yaml({"new": {"name": "A", "detail": "x"}, "other": {}},
                                extra="moved: {old: new}\n"))
    both = stack.cli("plan", str(path))
    assert "1 to update" in both.out and "moved, " not in both.out.splitlines()[-1]
    assert "1 unchanged" in both.out


def test_the_emulator_state_lives_beside_the_desired_file(stack: Stack,
                                                          tmp_path: Path) -> None:
    path = stack.write("project/agents.yaml", agents_yaml({"a": {}}))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    applied = run_in(stack, cwd, "apply", str(path), "--emulator", "--yes")
    assert applied.code == 0, applied.err
    assert (path.parent / ".voipbin-emulator.sqlite3").exists()
    assert not list(cwd.iterdir())
    rotated = run_in(stack, path.parent, "rotate", "a", "--yes", "--emulator")  # -f default
    assert rotated.code == 0, rotated.err
    assert not list(cwd.iterdir())


def test_completion_offers_the_keys_of_the_files_and_manifest(stack: Stack,
                                                              tmp_path: Path) -> None:
    base, prod = environment(stack)
    assert stack.cli("apply", str(base), str(prod), "--yes").code == 0
    keys = stack.cli("completion", "keys", str(base), str(prod))
    assert keys.out == "booking\ngreeter\n"
    script = stack.cli("completion", "bash").out
    shim = (f"voipbin-iac() {{ PYTHONPATH={shlex.quote(str(ROOT))} "
            f"{shlex.quote(sys.executable)} -m voipbin_iac \"$@\"; }}\n")
    probe = (script + shim +
             f"COMP_WORDS=(voipbin-iac rotate g -f {shlex.quote(str(prod))}); COMP_CWORD=2\n"
             "_voipbin_iac; echo \"rotate: ${COMPREPLY[*]}\"\n"
             f"COMP_WORDS=(voipbin-iac plan {shlex.quote(str(base))} --target ''); "
             "COMP_CWORD=4\n_voipbin_iac; echo \"target: ${COMPREPLY[*]}\"\n")
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=60,
                         cwd=tmp_path).stdout
    assert "rotate: greeter" in out and "target: greeter" in out


def test_readme_tells_users_what_to_ignore() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```gitignore\n(.*?)```", readme, re.DOTALL)
    assert block, "the README shows no .gitignore lines"
    patterns = [line for line in block.group(1).splitlines() if line.strip()]
    from fnmatch import fnmatch

    from voipbin_iac.cli.invocation import EMULATOR_STATE
    from voipbin_iac.state import applylog, lock

    manifest = Path("prod.manifest.yaml")
    written = [applylog.path_for(manifest).name, lock.path_for(manifest).name, EMULATOR_STATE,
               EMULATOR_STATE + "-wal", EMULATOR_STATE + "-journal"]
    for name in written:  # what an apply leaves beside the manifest, not to commit
        assert any(fnmatch(name, p) for p in patterns), f"{name} is not ignored"
    # the manifest is committed; lock files of other tools are not this tool's to ignore
    for name in (manifest.name, "poetry.lock", "uv.lock"):
        assert not any(fnmatch(name, p) for p in patterns), f"{name} would be ignored"


def test_quiet_conversation_tests_print_the_summary(stack: Stack, example: Path) -> None:
    state = stack.path("emulator.sqlite3")
    emulator = ["--emulator", "--emulator-state", state]
    assert stack.cli("apply", str(example), *emulator, "--yes", "-q").code == 0
    tests = str(example.parent / "agents.tests.yaml")
    result = stack.cli("test", str(example), tests, *emulator, "-q")
    assert result.code == 0 and result.err == ""
    assert result.out.startswith("Tests: 3 passed, 0 failed") and result.out.count("\n") == 1
