"""A newcomer's first hour: the README's quick start, then its test command, in one tree.

The quick start leaves a manifest, an apply log, a lock and the emulator's state in the
repository; the tests must not care (they copy only tracked files). This runs both commands as
the README writes them, in a copy of the repository's tracked files, with `pip` installing
offline from that copy (see `conftest`).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..conftest import EXAMPLE_FILES, ROOT
from .conftest import ToolEnv, copy_repository, tracked_files

README = (ROOT / "README.md").read_text(encoding="utf-8")
TEST_COMMAND = "pip install '.[test]' && ruff check . && python -m pytest"


def quick_start() -> str:
    """The quick start's command line, exactly as the README shows it."""
    match = re.search(r"^pip install \. && voipbin-iac apply .*$", README, re.MULTILINE)
    assert match, "the README's quick start is gone"
    return match.group(0)


def test_the_example_fixture_copies_exactly_the_tracked_example_files() -> None:
    tracked = sorted(n.removeprefix("examples/") for n in tracked_files()
                     if n.startswith("examples/"))
    assert sorted(EXAMPLE_FILES) == tracked


def test_quick_start_then_the_test_command_in_the_same_tree(tool_env: ToolEnv,
                                                            tmp_path: Path) -> None:
    repo = copy_repository(tmp_path / "voipbin-iac")
    started = tool_env.run(quick_start(), repo)
    assert started.returncode == 0, started.stdout + started.stderr
    assert "Verified: the account matches the desired state" in started.stdout
    assert "sip_uri: sip:direct." in started.stdout  # the manifest the quick start cats
    left = {p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file()}
    assert {"examples/agents.manifest.yaml", "examples/agents.apply.jsonl"} <= left

    # The README's test command, in the same tree. `ruff check .` is left out: the quick start
    # writes no Python, so it cannot change ruff's verdict (.ci/run runs the whole command).
    # The suite is the part of it that reads the working tree (`tree`), not all of it.
    assert TEST_COMMAND in README
    command = TEST_COMMAND.replace(" && ruff check .", "")
    tested = tool_env.run(command, repo, PYTHONPATH=str(repo),
                          PYTEST_ADDOPTS="-p tests.install.tree -p no:cacheprovider")
    assert tested.returncode == 0, tested.stdout[-4000:] + tested.stderr[-2000:]
    assert re.search(r"\b\d+ passed", tested.stdout), tested.stdout[-2000:]
    # and it ran the tests that the quick start's files once broke
    assert "deselected" in tested.stdout


def test_ci_runs_the_quick_start_then_the_test_command_in_its_clone() -> None:
    lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
             if line and not line.startswith("#")]
    commands = [line for line in lines if line.startswith("pip install")]
    assert commands == [TEST_COMMAND, quick_start(), TEST_COMMAND]
    assert lines[-1] == TEST_COMMAND
    assert not any("cd " in line for line in lines[lines.index(quick_start()):])  # same clone
    # `set -e` ignores a failure inside an `&&` list: each but the last is checked after it
    for at, line in enumerate(lines[:-1]):
        if line in (TEST_COMMAND, quick_start()):
            assert lines[at + 1] == "[ $? -eq 0 ] || exit 1", line
