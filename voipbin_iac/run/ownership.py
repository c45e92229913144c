"""Whose a manifest is, and who else owns what: the checks that keep two configurations, two
accounts or a copied manifest from taking each other's resources.

- A manifest records the account (customer id) it belongs to: used with another account, it is
  refused before anything is planned.
- It records the desired files it was applied from (relative to its directory): used with other
  files, it is refused unless the user says the files moved (`--files-moved`).
- Other manifests of the same repository (or directory) are read: a resource one of them records
  is never adopted by name here, and one recorded by both is an error, not a silent tug of war.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.model import LiveState, Manifest
from ..core.plan import Elsewhere
from ..errors import IacError, RefusedError
from ..state import manifest as manifests

_SKIP_DIRS = frozenset({"node_modules", "__pycache__", "venv", "site-packages"})
MAX_DIRS = 5_000  # a repository with more directories is scanned this far only


def repository_root(start: Path) -> Path:
    """The nearest ancestor holding `.git`, else `start` itself."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def _manifest_files(root: Path) -> Iterator[Path]:
    for seen, (folder, dirs, names) in enumerate(os.walk(root)):
        if seen >= MAX_DIRS:
            return
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
        for name in sorted(names):
            if name.endswith(".manifest.yaml"):
                yield Path(folder) / name


@dataclass(frozen=True)
class Neighbours:
    """The other manifests of the repository: what they own, and which files they serve."""

    elsewhere: Elsewhere
    files: tuple[tuple[Path, tuple[str, ...]], ...]  # (manifest, its files as absolute paths)
    unreadable: tuple[str, ...]


def neighbours(manifest_path: Path) -> Neighbours:
    """Read every other `*.manifest.yaml` under the repository root of `manifest_path`."""
    mine = manifest_path.resolve()
    owners: dict[str, str] = {}
    served: list[tuple[Path, tuple[str, ...]]] = []
    unreadable: list[str] = []
    for path in _manifest_files(repository_root(mine.parent)):
        if path.resolve() == mine:
            continue
        try:
            other = manifests.read(path)
        except IacError:
            unreadable.append(str(path))
            continue
        shown = os.path.relpath(path, Path.cwd())
        for resource_id in other.ids():
            owners.setdefault(resource_id, shown)
        served.append((path, tuple(str((path.parent / f).resolve()) for f in other.files)))
    return Neighbours(Elsewhere(owners), tuple(served), tuple(unreadable))


def relative_files(files: Sequence[str], manifest_path: Path) -> tuple[str, ...]:
    """The desired files as the manifest records them: relative to its directory, POSIX."""
    base = manifest_path.resolve().parent
    return tuple(Path(os.path.relpath(Path(f).resolve(), base)).as_posix() for f in files)


def check_files(manifest: Manifest, files: Sequence[str], manifest_path: Path,
                files_moved: bool) -> None:
    """Refuse a manifest recorded for other desired files (unless they moved)."""
    if not manifest.files or files_moved or not len(manifest):
        return
    now = relative_files(files, manifest_path)
    if set(now) == set(manifest.files):
        return
    raise RefusedError(
        f"{manifest_path} belongs to {', '.join(manifest.files)}, but this run reads "
        f"{', '.join(now)}; with another configuration's manifest, --prune would delete its "
        "resources",
        hint="if the files were renamed or reorganised, run again with --files-moved (the "
             "manifest then records the new list); if this is another configuration, give it "
             "its own manifest (--manifest PATH)")


def check_account(manifest: Manifest, live: LiveState, manifest_path: Path) -> None:
    """Refuse a manifest that belongs to another account than the one the key opens."""
    if manifest.account and live.account and manifest.account != live.account:
        raise RefusedError(
            f"{manifest_path} belongs to VoIPBin account {manifest.account}, but "
            f"VOIPBIN_API_KEY opens account {live.account}",
            hint="check VOIPBIN_API_KEY and VOIPBIN_API_BASE_URL; each account needs its own "
                 "manifest (--manifest PATH, or one desired file per environment)")


def same_files_elsewhere(near: Neighbours, files: Sequence[str],
                         manifest_path: Path) -> str:
    """A warning when the manifest does not exist yet but another one serves the same files
    (given in another order, the files name another manifest): "" otherwise."""
    if manifest_path.exists():
        return ""
    wanted = {str(Path(f).resolve()) for f in files}
    for path, served in near.files:
        if served and set(served) == wanted:
            return (f"{path} already belongs to these files (in the order "
                    f"{', '.join(Path(f).name for f in served)}); this run would start a second "
                    f"manifest, {manifest_path}, that owns nothing: give the files in that "
                    f"order, or --manifest {path}")
    return ""
