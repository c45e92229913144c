"""Values taken from the environment are secrets wherever they land (issue 12, items 3 and 4).

Canaries sit in an engine key, in a prompt (`${env:...}` inside the text), in `parameter`, and
in the accesskey. Every command, at top verbosity, in every format, through the embedded
emulator (`--emulator`) and over loopback, must leave none of them in stdout, stderr or any file
it wrote: the manifest, the apply log, saved plans, exports, test reports and the embedded
emulator's own state file. Plans show a field that took text from the environment as written
(`${env:NAME}`), with fingerprints when it changes.
"""

from __future__ import annotations

import json
from pathlib import Path

from voipbin_iac.core.secret import fingerprint

from .conftest import Result, Stack

ENGINE = "sk-canary-ENGINE-4b1d9e"
PROMPT_SECRET = "canary-PROMPT-9f2c77a1"
PARAM_SECRET = "canary-PARAM-31e5d0bb"
ACCESSKEY = "vb_canary_ACCESSKEY_5a6b7c8d9e"
CANARIES = (ENGINE, PROMPT_SECRET, PARAM_SECRET, ACCESSKEY)
ENV = {"OPENAI_API_KEY": ENGINE, "PROMPT_SECRET": PROMPT_SECRET, "PARAM_SECRET": PARAM_SECRET}

DESIRED = """version: 1
defaults:
  engine_model: openai.gpt-5-mini
  engine_key: ${env:OPENAI_API_KEY}
agents:
  greeter:
    name: Greeter
    init_prompt: "Say the password ${env:PROMPT_SECRET} to nobody."
    parameter: {token: "${env:PARAM_SECRET}", region: eu}
  plain:
    name: Plain
    init_prompt: "Nothing secret here."
"""
TESTS = """version: 1
tests:
  says-hello:
    agent: greeter
    turns:
      - say: hello
"""


def _clean(results: list[Result], workdir: Path) -> None:
    for result in results:
        assert "Traceback" not in result.err, result.err
        for canary in CANARIES:
            assert canary not in result.out, (canary, result.out)
            assert canary not in result.err, (canary, result.err)
    for path in workdir.rglob("*"):
        if (path.is_file() and path.suffix != ".yaml") or path.name.endswith("manifest.yaml"):
            data = path.read_bytes()
            for canary in CANARIES:
                assert canary.encode() not in data, (canary, path)


def test_env_values_never_leave_through_the_embedded_emulator(stack: Stack) -> None:
    path = stack.write("agents.yaml", DESIRED)
    tests = stack.write("agents.tests.yaml", TESTS)
    state = stack.path(".voipbin-emulator.sqlite3")
    run = [*("--emulator", "--emulator-state", state, "-vv")]
    plan_file = stack.path("plan.json")
    results = [stack.cli("plan", str(path), *run, env=ENV),
               stack.cli("plan", str(path), *run, "--format", "markdown", "--out", plan_file,
                         env=ENV),
               stack.cli("apply", str(path), "--plan", plan_file, "--yes", *run, env=ENV),
               stack.cli("test", str(path), str(tests), *run, "--format", "junit", "--out",
                         stack.path("report.xml"), env=ENV),
               stack.cli("apply", str(path), "--yes", "--smoke", *run, env=ENV),
               stack.cli("manifest", "-f", str(path), "--format", "json")]
    assert [r.code for r in results] == [0] * len(results), [r.err for r in results]
    changed = {**ENV, "PROMPT_SECRET": PROMPT_SECRET + "-v2", "PARAM_SECRET": PARAM_SECRET + "-v2"}
    for fmt in ("text", "json", "markdown"):
        shown = stack.cli("plan", str(path), *run, "--format", fmt, env=changed)
        results.append(shown)
        assert shown.code == 0
        assert "${env:PROMPT_SECRET}" in shown.out  # the text as written
        assert "${env:PARAM_SECRET}" in shown.out
        new_prompt = f"Say the password {changed['PROMPT_SECRET']} to nobody."
        assert fingerprint(new_prompt) in shown.out  # the new value, by digest only
        assert PROMPT_SECRET + "-v2" not in shown.out and PARAM_SECRET + "-v2" not in shown.out
    # Last: an export writes a second manifest of the same AIs (a second owner from now on).
    results.append(stack.cli("export", "--out", stack.path("exported.yaml"), *run, env=ENV))
    assert results[-1].code == 0, results[-1].err
    _clean(results, stack.workdir)
    assert Path(state).exists()  # the state was searched too: it holds stand-ins only


def test_env_values_never_leave_over_http(stack: Stack) -> None:
    stack.store.ensure_accesskey(ACCESSKEY)
    path = stack.write("agents.yaml", DESIRED)
    env = {**ENV, "VOIPBIN_API_KEY": ACCESSKEY}
    plan_file = stack.path("plan.json")
    results = [stack.cli("plan", str(path), "-vv", "--format", "json", "--out", plan_file,
                         env=env),
               stack.cli("apply", str(path), "--plan", plan_file, "--yes", "-vv", env=env)]
    assert [r.code for r in results] == [0, 0], [r.err for r in results]
    saved = json.loads(Path(plan_file).read_text())
    assert saved["plan"]["changes"]  # there was something to hide
    _clean(results, stack.workdir)
