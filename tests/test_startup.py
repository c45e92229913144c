"""Start-up cost (issue: performance): `--help` and `validate` import only what they use.

Pinned by what a fresh interpreter has imported, never by a timing: `--help` loads no YAML,
HTTP, JSON Schema or emulator code, and `validate` of a good file no HTTP, JSON Schema or
emulator code. The benchmarks measure the time itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from voipbin_iac.api.concurrency import DEFAULT_CEILING
from voipbin_iac.cli import app
from voipbin_iac.state.manifest import FORMATS

from .conftest import MODEL, ROOT

HEAVY = ("httpx", "jsonschema", "yaml", "voipbin_iac.emulator", "voipbin_iac.run",
         "voipbin_iac.api.client", "voipbin_iac.desired", "voipbin_iac.state")


def imported_by(*argv: str, cwd: Path = ROOT) -> tuple[int, set[str], str]:
    """Exit code, imported module names and stderr of `voipbin-iac ARGV` in a fresh process."""
    code = ("import io, json, sys\n"
            "from voipbin_iac.cli import main\n"
            f"rc = main({list(argv)!r}, stdout=io.StringIO(), stderr=io.StringIO())\n"
            "print(json.dumps([rc, sorted(sys.modules)]))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=cwd, env={"PYTHONPATH": str(ROOT), "NO_COLOR": "1"})
    assert run.returncode == 0, run.stderr
    rc, modules = json.loads(run.stdout.splitlines()[-1])
    return rc, set(modules), run.stderr


def loaded(modules: set[str], prefix: str) -> bool:
    return any(m == prefix or m.startswith(prefix + ".") for m in modules)


@pytest.mark.parametrize("argv", [["--help"], ["plan", "--help"], ["--version"], []])
def test_help_imports_nothing_heavy(argv: list[str]) -> None:
    _, modules, _ = imported_by(*argv)
    assert [p for p in HEAVY if loaded(modules, p)] == []


def test_validate_of_a_good_file_loads_no_http_schema_library_or_emulator(
        tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(f"version: 1\nagents:\n  bot:\n    engine_model: {MODEL}\n")
    rc, modules, _ = imported_by("validate", str(path))
    assert rc == 0
    heavy = ("httpx", "jsonschema", "voipbin_iac.emulator", "voipbin_iac.run",
             "voipbin_iac.api.client")
    assert [p for p in heavy if loaded(modules, p)] == []


def test_validate_of_a_bad_file_still_words_its_problems(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(f"version: 1\nagents:\n  bot:\n    engine_model: {MODEL}\n    nme: x\n")
    rc, modules, _ = imported_by("validate", str(path))
    assert rc == 1 and loaded(modules, "jsonschema")  # the careful check, for its words


def test_the_parsers_constants_agree_with_their_sources() -> None:
    assert app.MANIFEST_FORMATS == FORMATS
    assert app.DEFAULT_CONCURRENCY == DEFAULT_CEILING
    from voipbin_iac.cli.testcmd import SMOKE_FROM_DEFAULT

    assert app.SMOKE_FROM_DEFAULT == SMOKE_FROM_DEFAULT
    assert json.loads(json.dumps(FORMATS)) == list(FORMATS)
