"""Installing voipbin-iac as a user would, offline: a copy of the repository's tracked files, and
a virtual environment in which `pip` and `voipbin-iac` are what the README's commands run.

Each test gets a new environment. It has no pip of its own: `pip` on its PATH is a
shim that runs this interpreter's pip for that environment with `--no-index --no-deps
--no-build-isolation`, so `pip install .` and `pip install ./some.whl` build and install from
local files only (nothing leaves the machine), and the dependencies come from this
interpreter's site-packages through a `.pth` file instead of being downloaded.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..conftest import ROOT

NESTED = "VOIPBIN_IAC_NESTED_TEST_RUN"  # set in a suite that a test runs: no third level


def tracked_files(root: Path = ROOT) -> list[str]:
    """The files git tracks in `root` (as they are in the working tree), or skip the test."""
    if not (root / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout: the repository's tracked files are unknown")
    out = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True,
                         check=True).stdout.decode()
    return [name for name in out.split("\0") if name]


def copy_repository(dest: Path, root: Path = ROOT) -> Path:
    """A git repository holding the tracked files of this one, as a fresh clone has them, with
    the working tree's edits (so the code under test is this checkout's)."""
    for name in tracked_files(root):
        source = root / name
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        elif source.is_file():
            shutil.copyfile(source, target)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "copy")
    return dest


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` with a fixed identity; its output."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
           "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com"}
    return subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True,
                          text=True, check=True).stdout


@dataclass(frozen=True)
class ToolEnv:
    """A virtual environment with a `pip` shim, ready to install voipbin-iac into."""

    venv: Path
    shims: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment a user's shell has once the venv is active (no API key)."""
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("VOIPBIN_", "PYTEST_", "OPENAI_")) and k != "PYTHONPATH"}
        path = os.pathsep.join([str(self.shims), str(self.venv / "bin"), keep.get("PATH", "")])
        return {**keep, "PATH": path, "VIRTUAL_ENV": str(self.venv), "NO_COLOR": "1",
                NESTED: "1", **extra}

    def run(self, script: str, cwd: Path, timeout: float = 240,
            **extra: str) -> subprocess.CompletedProcess[str]:
        """Run `script` with bash in `cwd`, as a user would type it."""
        return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd,
                              env=self.env(**extra), capture_output=True, text=True,
                              timeout=timeout)


@pytest.fixture
def tool_env(tmp_path_factory: pytest.TempPathFactory) -> ToolEnv:
    """A fresh environment for each test (it takes a second): what one test installed must
    not make another's install look as if it worked."""
    if os.environ.get(NESTED):
        pytest.skip("already inside a suite run by a test")
    base = tmp_path_factory.mktemp("toolenv")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = subprocess.run([str(venv / "bin" / "python"), "-c",
                              "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # This interpreter's packages (PyYAML, httpx, pytest, ...), after the venv's own: the
    # voipbin-iac the venv installs wins over whatever this interpreter has.
    (Path(purelib) / "_voipbin_iac_test_deps.pth").write_text(
        "".join(f"{p}\n" for p in site.getsitepackages()))
    shims = base / "shims"
    shims.mkdir()
    pip = shims / "pip"
    pip.write_text("#!/bin/sh\n"
                   f"exec '{sys.executable}' -m pip --python '{venv / 'bin' / 'python'}' "
                   "\"$@\" --no-index --no-deps --no-build-isolation --quiet "
                   "--disable-pip-version-check\n")
    pip.chmod(0o755)
    return ToolEnv(venv, shims)
