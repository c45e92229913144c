"""The README's quick start followed by the test command, in one tree.

The quick start leaves `agents.manifest.yaml`, `agents.apply.jsonl` and a lock beside
`examples/agents.yaml`. Tests that start from the example must still start from the files git
tracks (an empty account), not from that manifest (every AI gone: re-create).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from voipbin_iac.cli import app as cli
from voipbin_iac.core.clock import FakeClock

from .conftest import EXAMPLE_FILES, ROOT, Stack, copy_examples

pytestmark = pytest.mark.repository


def tracked(root: Path, under: str = "") -> list[str]:
    """The files git tracks in `root` (under a folder), relative to it."""
    run = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--", under or "."],
                         capture_output=True, text=True, timeout=60, check=True)
    return sorted(name for name in run.stdout.split("\0") if name)


def test_example_files_are_what_git_tracks() -> None:
    assert sorted(f"examples/{name}" for name in EXAMPLE_FILES) == tracked(ROOT, "examples")


def test_quick_start_then_tests_see_only_tracked_example_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stack: Stack) -> None:
    repo = tmp_path / "repo"
    for name in tracked(ROOT):
        source = ROOT / name
        if source.is_file():  # a tracked symlink to a folder (schemas) is not needed here
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, repo / name)
    # The quick start, as the README gives it (the package is installed already).
    monkeypatch.chdir(repo)
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["apply", "examples/agents.yaml", "--emulator", "--yes"],
                    stdout=out, stderr=err, env={"NO_COLOR": "1"}, clock=FakeClock())
    assert code == 0, err.getvalue()
    assert "3 done, 0 failed" in out.getvalue()
    left = sorted(p.name for p in (repo / "examples").iterdir() if p.is_file())
    assert "agents.manifest.yaml" in left and "agents.apply.jsonl" in left  # untracked now
    # What the `example` fixture copies from that tree: the tracked files only.
    copied = copy_examples(stack.workdir, root=repo)
    found = sorted(str(p.relative_to(stack.workdir)) for p in stack.workdir.rglob("*")
                   if p.is_file())
    assert found == tracked(ROOT, "examples")
    # ... so a test starting from it sees an empty account: three creates, nothing "gone".
    plan = stack.cli("plan", str(copied), "--format", "json")
    assert plan.code == 0, plan.err
    changes = json.loads(plan.out)["changes"]
    assert [c["action"] for c in changes] == ["create"] * 3
    assert not [note for c in changes for note in c.get("notes", [])]
