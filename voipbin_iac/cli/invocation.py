"""What a command works on (its desired files, manifest and emulator state), and the commands it
suggests, which must work on the same.

A hint that suggests a command (`voipbin-iac import KEY ID`, `voipbin-iac apply --plan PLAN`) is
only right if it repeats the desired files, `--manifest` and `--emulator`/`--emulator-state` of
the command that printed it: in a base + prod environment, `voipbin-iac import greeter ID`
alone would write agents.manifest.yaml. `Invocation.complete` adds them to every backticked
`voipbin-iac ...` of a message, in the form the suggested command takes, so the layers that
word a hint (the planner, the use cases, the client) need not know the command line.
"""

from __future__ import annotations

import os
import re
import shlex
from argparse import Namespace
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:  # this module loads with the parser: the rest loads on use
    from ..state.savedplan import SavedPlan

DEFAULT_FILE = "agents.yaml"  # what `-f` means when it is not given
EMULATOR_STATE = ".voipbin-emulator.sqlite3"  # beside the desired file, by default

# How each command takes desired files, and which of the other flags it has.
POSITIONAL_FILES = frozenset({"validate", "plan", "apply", "test"})
OPTION_FILES = frozenset({"import", "rotate", "call", "manifest"})
TAKES_MANIFEST = frozenset({"plan", "apply", "test", "import", "rotate", "call", "manifest"})
TAKES_EMULATOR = frozenset({"plan", "apply", "test", "import", "rotate", "call", "export",
                            "signup"})

_COMMAND = re.compile(r"`voipbin-iac ([a-z]+)((?: [^`\n]*)?)`")


def _q(word: str) -> str:
    return shlex.quote(word)


@dataclass(frozen=True)
class Invocation:
    """The desired files, `--manifest` and emulator flags a command was given (as given)."""

    files: tuple[str, ...] = ()
    manifest: str | None = None
    emulator: bool = False
    emulator_state: str | None = None  # only when given (else derived from the files)
    saved_plan: str | None = None  # what `PLAN` in a suggested command stands for

    def command(self, name: str, *args: str) -> str:
        """`voipbin-iac NAME ARGS` with this invocation's files, manifest and emulator flags,
        in the form NAME takes them (positional files, or `-f FILE` for single-key commands)."""
        return self._complete(name, " ".join(args))

    def complete(self, text: str) -> str:
        """`text` with every backticked `voipbin-iac COMMAND ...` completed like `command`."""
        if "`voipbin-iac " not in text:
            return text
        return _COMMAND.sub(lambda m: f"`{self._complete(m.group(1), m.group(2).strip())}`",
                            text)

    def _complete(self, name: str, rest: str) -> str:
        given = rest.split()
        if self.saved_plan:
            given = [self.saved_plan if word == "PLAN" else word for word in given]
        words = ["voipbin-iac", name]
        named = {w for w in given if w.startswith("-")}
        files = list(self.files)
        if named & {"-f", "--file"} or {_q(f) for f in files} <= set(given):
            files = []  # the command names its files already (it was completed before)
        if name in POSITIONAL_FILES:
            words += [_q(f) for f in files]
        words += given
        if name in OPTION_FILES and list(files) != [DEFAULT_FILE]:
            for f in files:
                words += ["-f", _q(f)]
        if name in TAKES_MANIFEST and self.manifest and "--manifest" not in named:
            words += ["--manifest", _q(self.manifest)]
        if name in TAKES_EMULATOR and self.emulator and "--emulator" not in named:
            words.append("--emulator")
            if self.emulator_state:
                words += ["--emulator-state", _q(self.emulator_state)]
        return " ".join(words)


def of(args: Namespace, files: Sequence[str] = (), *, saved_plan: str | None = None) -> Invocation:
    """The invocation of parsed `args` working on `files`."""
    return Invocation(files=tuple(files), manifest=getattr(args, "manifest", None) or None,
                      emulator=bool(getattr(args, "emulator", False)),
                      emulator_state=getattr(args, "emulator_state", None),
                      saved_plan=saved_plan)


def option_files(args: Namespace) -> list[str]:
    """The `-f FILE` list of a single-key command (import, rotate, call, manifest)."""
    return list(args.file or [DEFAULT_FILE])


def resource_files(files: Sequence[str]) -> list[str]:
    """The files that hold more than `tests:` (they name the manifest), else all of them;
    each file is judged by its top-level keys, before it is parsed (`tests.only_tests`)."""
    from ..desired.tests import only_tests  # this module loads with the parser: keep it light

    return [f for f in files if not only_tests(Path(f))] or list(files)


def manifest_path(args: Namespace, files: Sequence[str]) -> Path:
    """`--manifest`, else beside the last file that holds more than `tests:` (a file of
    conversation tests never names the manifest)."""
    from ..state import manifest as manifests

    if getattr(args, "manifest", None):
        return Path(args.manifest)
    return manifests.path_for(resource_files(files)[-1])


def emulator_state(args: Namespace, files: Sequence[str]) -> str:
    """`--emulator-state`, else `.voipbin-emulator.sqlite3` in the directory of the desired
    file that names the manifest (the current directory for commands without files)."""
    if getattr(args, "emulator_state", None):
        return str(args.emulator_state)
    if not files:
        return EMULATOR_STATE
    folder = Path(resource_files(files)[-1]).parent
    return str(folder / EMULATOR_STATE) if str(folder) != "." else EMULATOR_STATE


def _shown(path: str) -> str:
    """A recorded (absolute) path as the user would type it here: relative to the current
    directory when inside it, else whole (a walk up through `..` is harder to read)."""
    relative = os.path.relpath(path)
    return path if relative.split(os.sep, 1)[0] == os.pardir else relative


def from_saved_plan(args: Namespace, saved: SavedPlan) -> list[str]:
    """`apply --plan PLAN`: the desired files, manifest and emulator the plan recorded, set on
    `args`; a FILE, `--manifest` or emulator flag given anyway must agree with the plan."""
    from ..state.savedplan import same_paths

    given = [*args.files, *args.more_files]
    recorded = saved.recorded
    if recorded is None:  # made by an older voipbin-iac
        if not given:
            raise UsageError(f"--plan {args.plan} does not record its desired files (an older "
                             "voipbin-iac made it)",
                             hint=f"give them: voipbin-iac apply FILE... --plan {args.plan}")
        return given
    files = [_shown(f) for f in recorded.files]
    remake = (f"give no FILE (the plan records its files and manifest), or make a new plan: "
              f"voipbin-iac plan FILE... --out {args.plan}")
    if given and not same_paths(given, recorded.files):
        raise UsageError(f"--plan {args.plan} was made from {', '.join(files)}, not "
                         f"{', '.join(given)}", hint=remake)
    if args.manifest and not same_paths([args.manifest], [recorded.manifest]):
        raise UsageError(f"--plan {args.plan} was made with the manifest "
                         f"{_shown(recorded.manifest)}, not {args.manifest}", hint=remake)
    if recorded.emulator_state is None and args.emulator:
        raise UsageError(f"--plan {args.plan} was made against the VoIPBin API, not the "
                         "emulator", hint="drop --emulator, or make a new plan with it")
    if recorded.emulator_state is not None:
        if args.emulator_state and not same_paths([args.emulator_state],
                                                  [recorded.emulator_state]):
            raise UsageError(f"--plan {args.plan} was made against the emulator state "
                             f"{_shown(recorded.emulator_state)}, not {args.emulator_state}",
                             hint=remake)
        args.emulator = True
        args.emulator_state = _shown(recorded.emulator_state)
    if not args.manifest:
        args.manifest = _shown(recorded.manifest)
    if given:  # they agree with the plan: shown as typed
        files = given
    args.files, args.more_files = files, []
    return files
