"""Start-up: `voipbin-iac --help` and `validate` of a small file, each in a fresh process,
against `python -c pass` measured in the same run.

Each figure is the least wall time of several runs (the least is the one least disturbed by
whatever else the machine is doing). The command is the installed `voipbin-iac` script beside
the interpreter when there is one (what a user runs), else `python -m voipbin_iac`. Which
modules these commands may import is pinned by `tests/test_startup.py`; this measures the time.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .common import RunContext, desired_yaml, least_wall, python
from .report import Figure

NAME = "start-up"
HELP_TARGET = 5.0
VALIDATE_TARGET_S = 0.1


def command() -> list[str]:
    script = Path(sys.executable).parent / "voipbin-iac"
    return [str(script)] if script.exists() else [*python(), "-m", "voipbin_iac"]


def run(ctx: RunContext) -> list[Figure]:
    repeats = 7 if ctx.quick else 15
    small = ctx.workdir / "small" / "agents.yaml"
    small.parent.mkdir(parents=True, exist_ok=True)
    small.write_text(desired_yaml(3))
    bare = least_wall([*python(), "-c", "pass"], repeats)
    helped = least_wall([*command(), "--help"], repeats)
    validated = least_wall([*command(), "validate", str(small)], repeats)
    ctx.data["startup"] = {"python_c_pass_s": bare, "help_s": helped, "validate_s": validated,
                           "command": command(), "repeats": repeats}
    return [
        Figure(NAME, "`voipbin-iac --help`", helped, "s", bare, "`python -c pass`",
               f"<= {HELP_TARGET:g}x", helped <= HELP_TARGET * bare,
               f"least of {repeats} runs"),
        Figure(NAME, "`voipbin-iac validate` of a file of 3 agents", validated, "s", bare,
               "`python -c pass`", f"< {VALIDATE_TARGET_S * 1000:.0f} ms",
               validated < VALIDATE_TARGET_S, f"least of {repeats} runs"),
    ]
