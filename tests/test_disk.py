"""A full or read-only disk (issue 12, item 10): refuse before the first write when nothing can
be saved; when saving fails mid-apply, finish the writes in flight, start nothing new, print
every result and the SIP URIs, say what could not be saved, exit 1, and let the next run
recover with no duplicates. Never a traceback.

The CLI runs in a subprocess so the operating system itself refuses the writes: a tmpfs that
fills up where the test may mount one (as root), otherwise a file-size limit (RLIMIT_FSIZE, a
real EFBIG from the kernel); a directory the CLI's user cannot write (as root: the CLI runs as
`nobody`).
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from voipbin_iac.emulator import EmulatorApp, EmulatorConfig, EmulatorServer, Store
from voipbin_iac.errors import FileError
from voipbin_iac.state import files

from .conftest import ENGINE_KEY, KEY, ROOT, agents_yaml


class FillAfter:
    """WSGI middleware: before answering the `n`th POST, run `fill` (the disk fills up)."""

    def __init__(self, app: EmulatorApp, n: int, fill: Callable[[], None]) -> None:
        self.app, self.n, self.fill, self.posts = app, n, fill, 0

    @property
    def config(self) -> EmulatorConfig:
        return self.app.config

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ["REQUEST_METHOD"] == "POST":
            self.posts += 1
            if self.posts == self.n:
                self.fill()
        return self.app(environ, start_response)


def _mount_tmpfs(where: Path, size: str) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, check=False)
    return done.returncode == 0


def _fill(where: Path) -> None:
    """Write a filler file until the file system refuses."""
    with (where / "filler.bin").open("wb") as handle:
        chunk = b"\0" * 65536
        try:
            while True:
                handle.write(chunk)
                handle.flush()
        except OSError:
            pass


@pytest.fixture
def account(tmp_path: Path) -> Iterator[tuple[Store, EmulatorApp]]:
    store = Store.open(tmp_path / "emulator.sqlite3")
    store.ensure_accesskey(KEY)
    yield store, EmulatorApp(store, EmulatorConfig(rate_limit=None, auth_rate_limit=None))
    store.close()


def _run(server: EmulatorServer, workdir: Path, *args: str,
         preexec: Callable[[], None] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VOIPBIN_API_BASE_URL": server.base_url,
           "VOIPBIN_API_KEY": KEY, "OPENAI_API_KEY": ENGINE_KEY, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "voipbin_iac", *args], env=env, cwd=workdir,
                          capture_output=True, text=True, timeout=120, preexec_fn=preexec,
                          check=False)


def _limit_file_size(limit: int) -> Callable[[], None]:
    def set_limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return set_limit


def _live(store: Store) -> int:
    with store.reading() as conn:
        return int(conn.execute("SELECT COUNT(*) FROM ais WHERE tm_delete IS NULL").fetchone()[0])


def test_a_disk_that_fills_up_mid_apply_loses_nothing(tmp_path: Path,
                                                      account: tuple[Store, EmulatorApp]) -> None:
    store, app = account
    work = tmp_path / "disk"
    mounted = _mount_tmpfs(work, "2m")
    work.mkdir(exist_ok=True)
    try:
        path = work / "agents.yaml"
        path.write_text(agents_yaml({f"k{i:02d}": {} for i in range(60)}))
        preexec = None
        if mounted:
            gate = FillAfter(app, 18, lambda: _fill(work))  # the disk is full from create 18
        else:
            gate = FillAfter(app, 10**9, lambda: None)
            preexec = _limit_file_size(6000)  # the apply log hits the limit mid-apply
        with EmulatorServer(gate) as server:  # type: ignore[arg-type]
            first = _run(server, work, "apply", str(path), "--yes", "--concurrency", "2",
                         preexec=preexec)
            assert first.returncode == 1
            assert "Traceback" not in first.stderr + first.stdout
            out = first.stdout
            created = _live(store)
            assert 0 < created < 60  # it stopped starting new changes
            assert out.count("ok      created") == created  # every result printed
            assert "skipped create" in out and "Not saved:" in out
            assert "apply log" in out or "manifest" in out  # what could not be saved
            if "The SIP URIs the account now has" in out:
                assert out.count("sip:direct.") >= created
            (work / "filler.bin").unlink(missing_ok=True)
            second = _run(server, work, "apply", str(path), "--yes")
            assert second.returncode == 0, second.stdout + second.stderr
            assert _live(store) == 60  # recovered: nothing created twice
            manifest = yaml.safe_load((work / "agents.manifest.yaml").read_text())
            assert len({e["id"] for e in manifest["agents"].values()}) == 60
    finally:
        if mounted:
            subprocess.run(["umount", str(work)], check=False)


def test_a_read_only_directory_is_refused_before_anything_changes(
        tmp_path: Path, account: tuple[Store, EmulatorApp]) -> None:
    store, app = account
    work = tmp_path / "readonly"
    mounted = _mount_tmpfs(work, "1m")  # root writes through permissions: a read-only mount
    work.mkdir(exist_ok=True)
    path = work / "agents.yaml"
    path.write_text(agents_yaml({f"k{i}": {} for i in range(10)}))
    if mounted:
        subprocess.run(["mount", "-o", "remount,ro", str(work)], check=True)
    else:
        work.chmod(0o555)
    try:
        with EmulatorServer(app) as server:
            result = _run(server, work, "apply", str(path), "--yes")
    finally:
        if mounted:
            subprocess.run(["umount", str(work)], check=False)
        else:
            work.chmod(0o755)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "nothing was changed" in result.stderr, result.stderr
    assert str(work) in result.stderr
    assert _live(store) == 0


def test_too_little_room_is_refused_before_anything_changes(tmp_path: Path) -> None:
    with pytest.raises(FileError, match=r"only 1000 bytes free"):
        files.check_writable(tmp_path, "the manifest", free=lambda _: 1000)
    files.check_writable(tmp_path, "the manifest", free=lambda _: 10 * 1024 * 1024)
    assert not list(tmp_path.iterdir())  # the probe leaves nothing behind
