"""The shipped GitHub Actions workflow works: its shell steps, run as written, against the
emulator over loopback HTTP, in a temporary GitOps repository.

A step's `run:` is executed by bash with the workflow's and the step's `env:` (secrets filled
in with test keys), `$GITHUB_OUTPUT` a file, and on PATH: the environment's `pip` shim (offline,
see `conftest`) and a `gh` that records the comment it would post. `uses:` steps are what
GitHub provides (checkout: the repository is the current directory; setup-python: the
environment's interpreter); the conversation-test step is left out, since its replies come on
the emulator's clock in real seconds (`tests/test_convtest.py` runs those tests on a fake
clock). The plan job needs no `--emulator`: VOIPBIN_API_BASE_URL points at the emulator, as a
repository variable would point at an API.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from voipbin_iac.core import render
from voipbin_iac.emulator import EmulatorApp, EmulatorConfig, EmulatorServer, Store

from ..conftest import ENGINE_KEY, KEY, OTHER_KEY, ROOT, copy_examples
from .conftest import ToolEnv, copy_repository, git

WORKFLOW = ROOT / "examples" / "github-actions" / "voipbin-iac.yml"
SECRETS = {"VOIPBIN_API_KEY": KEY, "STAGING_VOIPBIN_API_KEY": OTHER_KEY,
           "OPENAI_API_KEY": ENGINE_KEY}
CONTEXT = {"github.token": "gh-token-for-tests", "github.event.pull_request.number": "7"}
GH = """#!/bin/sh
# records `gh pr comment PR --body-file FILE [--edit-last]`; --edit-last fails (no comment yet)
echo "$@" >> "$GH_LOG"
case " $* " in *" --edit-last "*) exit 1;; esac
while [ $# -gt 0 ]; do
  if [ "$1" = "--body-file" ]; then cp "$2" "$GH_LOG.body"; fi
  shift
done
"""


def _expand(text: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name.startswith("secrets."):
            return SECRETS[name.removeprefix("secrets.")]
        assert name in CONTEXT, f"the test does not know ${{{{ {name} }}}}: add it"
        return CONTEXT[name]

    return re.sub(r"\$\{\{([^}]*)\}\}", value, text)


@dataclass
class Runner:
    """Runs a job's steps as a GitHub runner would, in `repo`."""

    tool: ToolEnv
    repo: Path
    base_url: str
    workflow: Mapping[str, Any]
    bin: Path

    def job(self, name: str, skip: tuple[str, ...] = ()) -> list[tuple[str, int, str]]:
        """Every run step of job `name`: (step name, exit code, output); it stops at the first
        failure, except for steps with `if: always()`."""
        ran: list[tuple[str, int, str]] = []
        failed = False
        outputs = self.repo.parent / f"{name}.github-output"
        for step in self.workflow["jobs"][name]["steps"]:
            if "run" not in step or step.get("name", "").startswith(skip):
                continue
            if failed and step.get("if") != "always()":
                continue
            env = {k: _expand(str(v)) for k, v in {**self.workflow.get("env", {}),
                                                   **step.get("env", {})}.items()}
            done = self.tool.run(
                step["run"], self.repo, VOIPBIN_API_BASE_URL=self.base_url,
                GITHUB_OUTPUT=str(outputs), GH_LOG=str(self.bin / "gh.log"),
                PATH=f"{self.bin}:{self.tool.env()['PATH']}", **env)
            ran.append((step.get("name", step["run"][:40]), done.returncode,
                        done.stdout + done.stderr))
            failed = failed or done.returncode != 0
        return ran


@pytest.fixture
def runner(tool_env: ToolEnv, tmp_path: Path) -> Iterator[Runner]:
    store = Store.open(tmp_path / "emulator.sqlite3")
    for key in (KEY, OTHER_KEY):
        store.ensure_accesskey(key)
    server = EmulatorServer(EmulatorApp(store, EmulatorConfig(rate_limit=None,
                                                              auth_rate_limit=None))).start()
    # The GitOps repository: the example's agents at its root, pushed to an origin; the runner
    # works in a clone of it, as actions/checkout makes one.
    origin = tmp_path / "origin.git"
    origin.mkdir()
    git(origin, "init", "-q", "--bare", "-b", "main")
    author = tmp_path / "author"
    author.mkdir()
    copy_examples(tmp_path / "from")
    for name in ("agents.yaml", "agents.tests.yaml", "prompts/booking.txt"):
        (author / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / "from" / "examples" / name, author / name)
    (author / ".gitignore").write_text("*.apply.jsonl\n*.lock\n")
    # The README's Install: the wheel, built in a clone of voipbin-iac, committed in vendor/.
    source = copy_repository(tmp_path / "voipbin-iac")
    built = tool_env.run(f"pip wheel --no-deps -w {author / 'vendor'} .", source)
    assert built.returncode == 0, built.stderr
    git(author, "init", "-q", "-b", "main")
    git(author, "add", "-A")
    git(author, "commit", "-q", "-m", "agents")
    git(author, "push", "-q", str(origin), "main")
    git(tmp_path, "clone", "-q", str(origin), "agents-repo")
    repo = tmp_path / "agents-repo"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(GH)
    (bin_dir / "gh").chmod(0o755)
    workflow = yaml.safe_load(WORKFLOW.read_text())
    try:
        yield Runner(tool_env, repo, server.base_url, workflow, bin_dir)
    finally:
        server.stop()
        store.close()


def test_the_pull_request_and_merge_jobs_run_as_written(runner: Runner) -> None:
    # The default install is the wheel the README says to build, not a PyPI requirement.
    default = runner.workflow["env"]["VOIPBIN_IAC"]
    assert (runner.repo / default).is_file(), sorted(p.name for p in runner.repo.rglob("*.whl"))
    assert "==" not in default

    # The pull request: validate, plan to Markdown, comment, no --emulator anywhere.
    plan = runner.job("plan")
    assert [code for _, code, _ in plan] == [0, 0, 0, 0], plan
    assert "--emulator" not in str(runner.workflow["jobs"]["plan"])
    body = (runner.bin / "gh.log.body").read_text()
    assert body.startswith("### voipbin-iac plan for `agents.yaml`")
    assert "**4 to create, 0 to update" in body and len(body) <= render.COMMENT_BUDGET
    assert (runner.bin / "gh.log").read_text().splitlines() == [
        "pr comment 7 --body-file plan.md --edit-last", "pr comment 7 --body-file plan.md"]
    output = (runner.repo.parent / "plan.github-output").read_text()
    assert output == "exitcode=2\n"
    for name in ("plan.txt", "plan.json", "plan.md"):  # what the artifact uploads
        assert (runner.repo / name).is_file(), name
    upload = next(s for s in runner.workflow["jobs"]["plan"]["steps"]
                  if "upload-artifact" in s.get("uses", ""))
    assert upload["with"]["name"] == render.ARTIFACT and upload["if"] == "always()"

    # Staging: the apply step (the conversation tests are left out: see the docstring).
    staging = runner.job("test", skip=("Test the agents",))
    assert [code for _, code, _ in staging] == [0, 0], staging
    assert "4 done" in staging[1][2]

    # The merge: apply, then commit the manifest and push it.
    merged = runner.job("apply")
    assert [code for _, code, _ in merged] == [0, 0, 0], merged
    assert "Verified: the account matches the desired state" in merged[1][2]
    log = git(runner.repo, "log", "--format=%s", "origin/main")
    assert log.splitlines()[0] == "Update agents.manifest.yaml after apply [skip ci]"
    shown = git(runner.repo, "show", "origin/main:agents.manifest.yaml")
    assert shown.count("sip_uri: sip:direct.") == 4
    # what apply leaves besides the manifest is ignored, as the README says to
    assert "apply.jsonl" not in git(runner.repo, "status", "--porcelain")

    # A second merge changes nothing and commits nothing; the next plan has no changes.
    again = runner.job("apply")
    assert [code for _, code, _ in again] == [0, 0, 0], again
    assert git(runner.repo, "log", "--format=%s", "origin/main").count("Update") == 1
    assert runner.job("plan")[2][1] == 0
    assert (runner.repo.parent / "plan.github-output").read_text().endswith("exitcode=0\n")


def test_the_install_step_says_what_to_do_when_the_wheel_is_missing(runner: Runner) -> None:
    shutil.rmtree(runner.repo / "vendor")
    plan = runner.job("plan")
    assert plan[0][1] == 1 and len(plan) == 1
    assert "pip wheel --no-deps -w vendor ." in plan[0][2] and "README: Install" in plan[0][2]
