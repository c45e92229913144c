"""Which files `validate` checks together: an environment is a base plus an overlay.

The README's environments are `base.yaml` + `prod.yaml` (later files override earlier ones), so
an overlay such as `prod.yaml` is incomplete on its own: checked alone it lacks what the base
gives it. `validate --each` (the pre-commit hook) therefore checks each file merged over its
base: the `--base FILE` files when given, otherwise a `base.yaml` (or `base.yml`) beside it. A
base is checked on its own only when no overlay of it is among the files (when the base alone
changed, say); with an overlay it is checked as part of that environment.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

BASE_NAMES = ("base.yaml", "base.yml")


def sibling_base(file: str) -> str | None:
    """The `base.yaml` (or `base.yml`) in the directory of `file`, if there is one."""
    for name in BASE_NAMES:
        candidate = Path(file).with_name(name)
        if candidate.is_file():
            return str(candidate)
    return None


def _same(path: str) -> str:
    return os.path.realpath(path)


def groups(files: Sequence[str], bases: Sequence[str], *, each: bool) -> list[list[str]]:
    """The file lists to check, each one environment, in the order the files were given.

    Without `each`: one list, the bases first. With `each`: one list per file, merged over its
    bases (`bases`, or the sibling `base.yaml`); a base alone only if no overlay covers it.
    """
    base_keys = {_same(b) for b in bases}
    if not each:
        return [[*bases, *(f for f in files if _same(f) not in base_keys)]]
    found: list[list[str]] = []
    alone: list[str] = []
    covered: set[str] = set()
    for file in files:
        under = list(bases) if bases else [b for b in [sibling_base(file)] if b is not None]
        if _same(file) in {_same(b) for b in under}:
            alone.append(file)  # it is a base itself
            continue
        found.append([*under, file])
        covered.update(_same(b) for b in under)
    found += [[file] for file in alone if _same(file) not in covered]
    unique: list[list[str]] = []
    for group in found:
        if group not in unique:
            unique.append(group)
    return unique
