"""Every bad input in tests/data/invalid/ fails `validate` cleanly, at the right place.

The cases and what each must print are in tests/data/invalid/expectations.yaml. Each run is the
CLI in-process (and one as a real subprocess): exit code 1, only `error:` lines on stderr, each
with its `file:line:column`, nothing on stdout, no traceback, and no secret anywhere.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from voipbin_iac.cli import app as cli

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "invalid"
EXPECTATIONS = CORPUS / "expectations.yaml"
ENV_SECRET = "sk-corpus-env-secret-0042"
ENV = {"OPENAI_API_KEY": ENV_SECRET}


def _expectations() -> dict[str, dict[str, Any]]:
    with EXPECTATIONS.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    assert isinstance(data, dict)
    return data


def _cases() -> list[str]:
    return sorted(p.name for p in CORPUS.iterdir() if p.is_file() and p != EXPECTATIONS)


def _validate(path: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["validate", str(path)], stdout=out, stderr=err, env=dict(ENV))
    return code, out.getvalue(), err.getvalue()


def _expected_lines(path: Path, spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(prefix, message substring) for each expected `error:` line."""
    lines = []
    for at, message in spec["errors"]:
        prefix = f"error: {path}:{at}: " if at is not None else f"error: {path}: "
        lines.append((prefix, message))
    return lines


def test_corpus_is_big_enough() -> None:
    assert len(_cases()) >= 30


def test_every_case_has_an_expectation_and_vice_versa() -> None:
    expectations = _expectations()
    assert sorted(expectations) == _cases()
    for name, spec in expectations.items():
        assert set(spec) <= {"errors", "absent"}, name
        assert spec["errors"], f"{name}: no expected error"
        for entry in spec["errors"]:
            assert len(entry) == 2 and isinstance(entry[1], str) and entry[1], name
            assert entry[0] is None or (isinstance(entry[0], str) and entry[0].count(":") == 1), \
                f"{name}: location {entry[0]!r} is not line:column (quote it in the YAML)"


def test_binary_cases_hold_the_bytes_they_claim() -> None:
    """The cases that cannot carry a comment are what their names say."""
    assert (CORPUS / "empty.yaml").read_bytes() == b""
    assert b"\x00" in (CORPUS / "binary.yaml").read_bytes()
    latin = (CORPUS / "latin1.yaml").read_bytes()
    assert b"Caf\xe9" in latin
    with pytest.raises(UnicodeDecodeError):
        latin.decode("utf-8")
    comments = (CORPUS / "comments_only.yaml").read_text(encoding="utf-8")
    assert comments.strip() and all(
        not line.strip() or line.strip().startswith("#") for line in comments.splitlines()
    )


@pytest.mark.parametrize("name", _cases())
def test_invalid_input_is_reported(name: str) -> None:
    spec = _expectations()[name]
    path = CORPUS / name
    code, out, err = _validate(path)

    assert code == 1, err
    assert out == ""
    assert err.startswith("error: ")
    assert "Traceback" not in err
    assert ENV_SECRET not in err
    for secret in spec.get("absent", []):
        assert secret not in err

    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert errors == err.splitlines(), f"lines other than errors:\n{err}"
    expected = _expected_lines(path, spec)
    assert len(errors) == len(expected), err
    for line, (prefix, message) in zip(errors, expected, strict=True):
        assert line.startswith(prefix), f"{line!r} does not start with {prefix!r}"
        assert message in line[len(prefix):], f"{message!r} not in {line!r}"


def test_a_bad_file_among_good_ones_is_named() -> None:
    """Several files: the problems are those of the bad one, at its own path."""
    good = ROOT / "tests" / "data" / "valid" / "minimal.yaml"
    bad = CORPUS / "bad_enum_type.yaml"
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["validate", str(good), str(bad)], stdout=out, stderr=err, env=dict(ENV))
    assert code == 1
    assert out.getvalue() == ""
    assert err.getvalue().splitlines() == [
        f"error: {bad}:8:5: agents.bot.type: 'assistant' is not one of: 'normal', 'insight'"
    ]


@pytest.mark.parametrize("name", ["alias_bomb.yaml", "yaml_tab_indentation.yaml",
                                  "engine_key_number.yaml"])
def test_process_level_exit_without_traceback(name: str) -> None:
    """`python -m voipbin_iac validate` as a real process: exit 1, one clean error line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOIPBIN", "OPENAI"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    relative = (CORPUS / name).relative_to(ROOT)
    proc = subprocess.run(
        [sys.executable, "-m", "voipbin_iac", "validate", str(relative)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    (prefix, message), = _expected_lines(relative, _expectations()[name])
    assert proc.stderr.startswith(prefix), proc.stderr
    assert message in proc.stderr
    assert proc.stderr.count("\n") == 1
    for secret in _expectations()[name].get("absent", []):
        assert secret not in proc.stderr
