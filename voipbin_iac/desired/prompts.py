"""The system prompt: `init_prompt_file` read safely, and the platform's size limit.

A desired-state file comes from a pull request, so the path it names is hostile input. A prompt
file must be a regular file inside the directory tree of the desired file that names it, or of
the git repository that holds that file (the nearest ancestor directory with a `.git`); symbolic
links may not lead out of it; and no part of its path below that directory may be hidden (a
name starting with `.`: `.git/config` holds checkout tokens, `.env` holds secrets). The file is
read without blocking and never beyond the limit (see `readfile`).

VoIPBin stores `init_prompt` in a MySQL `TEXT` column: at most `PROMPT_MAX_BYTES` (65,535) bytes
of UTF-8, and a longer prompt fails at apply with 500 INTERNAL (fact sheet part 2 §D5). Both an
inline prompt (after `${env:...}` expansion) and a prompt file are held to it here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..core.catalog import PROMPT_MAX_BYTES
from ..core.visible import visible
from ..errors import ConfigError, Location, Problem
from . import readfile, yamlsrc

_BOM = len("\ufeff".encode())
RULE = ("a prompt file must be a regular file inside the directory tree of the desired file that "
        "names it (or of the git repository that holds it), and symbolic links may not lead out "
        "of it")
_LIMIT = (f"over VoIPBin's limit of {PROMPT_MAX_BYTES:,} bytes for init_prompt (a MySQL TEXT "
          "column: a longer prompt fails at apply with 500 INTERNAL)")


def _clip(text: str, limit: int = 200) -> str:
    """`text` made visible and cut to `limit` characters, so a hostile path stays one line."""
    text = visible(text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def too_long(size: int) -> str | None:
    """The complaint about a prompt of `size` bytes of UTF-8, or None if it fits."""
    return f"{size:,} bytes of UTF-8, {_LIMIT}" if size > PROMPT_MAX_BYTES else None


def check_inline(text: str, where: str, location: Location, from_env: bool) -> Problem | None:
    """A problem if the inline prompt `text` (expanded) is over the platform's limit."""
    if len(text) * 4 <= PROMPT_MAX_BYTES:  # cannot be too long: skip the encoding
        return None
    complaint = too_long(len(text.encode("utf-8", "surrogatepass")))
    if complaint is None:
        return None
    after = " (after ${env:...} expansion)" if from_env else ""
    return Problem(location, f"{where}: {complaint}{after}")


@dataclass
class PromptReader:
    """Reads prompt files for one load; remembers each directory's confinement root."""

    _roots: dict[Path, tuple[Path, bool]] = field(default_factory=dict)

    def root(self, directory: Path) -> tuple[Path, bool]:
        """The confinement root for a desired file in `directory` (resolved), and whether it is
        a git repository (else it is the directory itself)."""
        real = Path(os.path.realpath(directory))
        if real not in self._roots:
            found = next((d for d in (real, *real.parents) if os.path.lexists(d / ".git")), None)
            self._roots[real] = (found, True) if found is not None else (real, False)
        return self._roots[real]

    def read(self, value: str, base: Path, location: Location, *,
             written: str | None = None) -> tuple[str, Problem | None]:
        """The prompt in file `value` (relative to `base`, the naming file's directory).

        `written` is the value as written in the file when it came from `${env:...}`: then it
        is shown instead, and no path derived from it is printed.
        """
        head = f"init_prompt_file '{_clip(value if written is None else written)}'"
        try:
            target, shown = self._confine(value, base, written is not None)
        except ConfigError as exc:
            return "", Problem(location, f"{head}{exc.problems[0].message}")
        head += shown
        try:
            raw = readfile.read_bounded(target, str(target), PROMPT_MAX_BYTES + _BOM,
                                        follow_symlinks=False)
            text = yamlsrc.decode(raw, str(target), "text")
        except readfile.TooBig as exc:
            size = f"{exc.size:,} bytes" if exc.size is not None else \
                f"more than {PROMPT_MAX_BYTES:,} bytes"
            return "", Problem(location, f"{head}: {size}, {_LIMIT}")
        except ConfigError as exc:
            problem = exc.problems[0]
            at = f" (at line {problem.location.line}, column {problem.location.column})" \
                if problem.location.line else ""
            return "", Problem(location, f"{head}: {problem.message}{at}")
        size = len(text.encode("utf-8"))
        if size > PROMPT_MAX_BYTES:
            return "", Problem(location, f"{head}: {size:,} bytes, {_LIMIT}")
        return text, None

    def _confine(self, value: str, base: Path, quiet: bool) -> tuple[Path, str]:
        """The resolved path of `value` and how to show it, or `ConfigError` (message only,
        starting with what to append to the head) if the rule refuses it."""
        if "\x00" in value:
            raise _refusal(": the path holds a NUL character")
        root, is_repo = self.root(base)
        here = Path(os.path.realpath(base))
        lexical = Path(os.path.normpath(here / value))
        target = Path(os.path.realpath(lexical))
        shown = "" if quiet else (f" ({_clip(str(target))})" if lexical == target else
                                  f" ({_clip(str(lexical))} -> {_clip(str(target))})")
        if not target.is_relative_to(root):
            where = (f"the git repository {visible(str(root))}" if is_repo else
                     f"{visible(str(root))}, the directory of the desired file (in no git "
                     "repository)")
            how = "a symbolic link leads out of" if lexical.is_relative_to(root) else \
                "it is outside"
            raise _refusal(f"{shown}: {how} {where}: {RULE}")
        below = target.relative_to(here if target.is_relative_to(here) else root)
        hidden = [part for part in below.parts if part.startswith(".")]
        if hidden:
            part = "a part of its path" if quiet else f"'{visible(hidden[0])}'"
            raise _refusal(f"{shown}: {part} is hidden: hidden files and "
                           "directories (.git, .env, ...) are never read as prompts, as they "
                           "hold credentials; move the prompt to a visible path")
        return target, shown


def _refusal(message: str) -> ConfigError:
    return ConfigError([Problem(Location(""), message)])
