"""Atomic writes of the files beside the configuration (manifest, saved plans, exports).

A crash at any point leaves the old file or the new one, never half of either: the text goes
to a temporary file in the same directory, is flushed and fsync'ed, and only then renamed over
the target. The crash is a real SIGKILL of a child process at the rename, and the order of
the system calls is observed through pytest's monkeypatch of `os` (the standard library).
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from voipbin_iac.core.model import Manifest, ManifestEntry
from voipbin_iac.errors import FileError
from voipbin_iac.state import files, manifest

from .conftest import ROOT

OLD = "version: 1\nagents: {}\n"
NEW = "version: 1\nagents:\n  bot: {id: x, name: Bötchen}\n" + "# padding\n" * 2000

_KILLED_AT_RENAME = """
import os, signal, sys
from pathlib import Path
from voipbin_iac.state import files

def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

os.replace = killed
files.write_atomic(Path(sys.argv[1]), Path(sys.argv[2]).read_text(encoding="utf-8"))
"""


def leftovers(directory: Path, target: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p != target and p.name != "new.txt")


def test_a_kill_between_write_and_rename_leaves_the_old_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "agents.manifest.yaml"
    target.write_text(OLD)
    new = tmp_path / "new.txt"
    new.write_text(NEW, encoding="utf-8")
    run = subprocess.run([sys.executable, "-c", _KILLED_AT_RENAME, str(target), str(new)],
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == -signal.SIGKILL, run.stderr
    assert target.read_text() == OLD
    # The new text was complete on disk before the rename was attempted.
    temps = leftovers(tmp_path, target)
    assert [p.name.startswith(".agents.manifest.yaml.") for p in temps] == [True]
    assert temps[0].read_text(encoding="utf-8") == NEW


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"),
                                     KeyboardInterrupt()])
def test_a_failed_rename_keeps_the_old_file_and_removes_the_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException) -> None:
    target = tmp_path / "agents.manifest.yaml"
    target.write_text(OLD)

    def fail(*args: object) -> None:
        raise failure

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(FileError if isinstance(failure, OSError) else KeyboardInterrupt) as caught:
        files.write_atomic(target, NEW)
    if isinstance(failure, OSError):
        assert str(caught.value) == f"cannot write {target}: No space left on device"
        assert caught.value.hint and "permissions" in caught.value.hint
    assert target.read_text() == OLD
    assert leftovers(tmp_path, target) == []


@pytest.mark.parametrize("text", [NEW, "version: 1\nagents: {}\n# short\n"])
def test_the_text_is_on_disk_before_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                text: str) -> None:
    target = tmp_path / "agents.manifest.yaml"
    target.write_text(OLD)
    events: list[tuple[str, object]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        status = os.fstat(fd)  # what the kernel has at that point
        events.append(("fsync", "directory" if stat.S_ISDIR(status.st_mode) else status.st_size))
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        # A hidden temporary file beside the target, named after it.
        name = Path(src).name
        assert name.startswith(".agents.manifest.yaml.") and name.endswith(".tmp"), name
        events.append(("replace", (Path(src).parent, Path(dst))))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    files.write_atomic(target, text)
    # the text is on disk before the rename, and the rename is on disk before the write returns
    assert events == [("fsync", len(text.encode("utf-8"))), ("replace", (tmp_path, target)),
                      ("fsync", "directory")]
    assert target.read_text(encoding="utf-8") == text
    assert leftovers(tmp_path, target) == []


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_the_file_gets_ordinary_permissions(tmp_path: Path, umask: int) -> None:
    """mkstemp makes a private file; the manifest is an ordinary one (committed, shared)."""
    old = os.umask(umask)
    try:
        files.write_atomic(tmp_path / "m.yaml", "x\n")
    finally:
        os.umask(old)
    assert (tmp_path / "m.yaml").stat().st_mode & 0o777 == 0o666 & ~umask
    assert os.umask(old) == old  # the process umask is left as it was


def test_text_is_written_exactly_in_utf8_with_unix_newlines(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "m.yaml"  # missing directories are made
    files.write_atomic(target, "a\nBötchen ☎\n")
    assert target.read_bytes() == "a\nBötchen ☎\n".encode()


def test_a_directory_in_the_way_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").mkdir()
    with pytest.raises(FileError, match=r"^cannot write .*m\.yaml: Is a directory$"):
        files.write_atomic(tmp_path / "m.yaml", "x\n")
    assert leftovers(tmp_path, tmp_path / "m.yaml") == []


def test_the_manifest_is_written_through_the_atomic_path(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "agents.manifest.yaml"
    target.write_text(OLD)
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError(5, "I/O error")))
    entry = ManifestEntry(id="5b1c1a2e-8f4b-4c57-9d0e-1f2a3b4c5d6e", name="bot",
                          direct_hash="direct.0123456789ab")
    with pytest.raises(FileError):
        manifest.write(target, Manifest({"bot": entry}))
    assert target.read_text() == OLD
