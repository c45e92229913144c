"""Every bad input in tests/data/invalid/ fails `validate` cleanly, at the right place.

The cases and what each must print are in tests/data/invalid/expectations.yaml. Each run is the
CLI in-process: exit code 1 (0 for the cases that only warn), only `error:` (or `warning:`)
lines on stderr, each with its `file:line:column`, no traceback, and no secret anywhere.

Hostile input must also fail fast: every case runs again in a subprocess under a memory limit
(`RLIMIT_AS`) and a timeout, so a regression that hangs (a FIFO) or reads without bound
(`/dev/zero`, a 50 GiB sparse file) fails the test instead of the machine. The git-resident
cases share one such subprocess; the cases that cannot live in git (FIFOs, devices, symbolic
links, huge files: GENERATED) are built here and each runs in its own.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from voipbin_iac.cli import app as cli
from voipbin_iac.core.catalog import PROMPT_MAX_BYTES

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "invalid"
EXPECTATIONS = CORPUS / "expectations.yaml"
ENV_SECRET = "sk-corpus-env-secret-0042"
ENV = {
    "OPENAI_API_KEY": ENV_SECRET,
    "CORPUS_CANARY": "sk-corpus-canary-7731",
    "CORPUS_CANARY_MODEL": "opneai.canary-model",
    "CORPUS_BIG_CANARY": "sk-corpus-big-canary-" + "x" * 70_000,
}
MEMORY_LIMIT = 768 * 1024 * 1024  # the CLI needs ~60 MiB; reading /dev/zero whole needs all
TIMEOUT = 60.0  # seconds for a whole batch; a blocked FIFO waits forever


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


def _expected_lines(shown: str | None, spec: dict[str, Any], kind: str) -> list[tuple[str, str]]:
    """(prefix, message substring) for each expected `error:` or `warning:` line."""
    lines = []
    for at, message in spec.get(kind, []):
        word = kind[:-1]
        if shown is None:
            prefix = f"{word}: "
        else:
            prefix = f"{word}: {shown}:{at}: " if at is not None else f"{word}: {shown}: "
        lines.append((prefix, message))
    return lines


def _check(spec: dict[str, Any], shown: str | None, code: int, out: str, err: str) -> None:
    """The output of one run is what `spec` says, cleanly."""
    assert "Traceback" not in err, err
    for secret in [ENV_SECRET, *(v for k, v in ENV.items() if "CANARY" in k),
                   *spec.get("absent", [])]:
        assert secret not in out + err
    kind = "errors" if spec.get("errors") else "warnings"
    if kind == "errors":
        assert code == 1, err
        assert out == ""
    else:
        assert code == 0, err
        assert out.startswith("ok: ") and out.count("\n") == 1, out
    lines = [line for line in err.splitlines() if not line.startswith("hint: ")]
    assert all(line.startswith(f"{kind[:-1]}: ") for line in lines), f"other lines:\n{err}"
    expected = _expected_lines(shown, spec, kind)
    assert len(lines) == len(expected), err
    for line, (prefix, message) in zip(lines, expected, strict=True):
        assert line.startswith(prefix), f"{line!r} does not start with {prefix!r}"
        assert message in line[len(prefix):], f"{message!r} not in {line!r}"


# -- the cases that live in git ---------------------------------------------------------------


def test_corpus_is_big_enough() -> None:
    assert len(_cases()) >= 50
    assert len([s for s in _expectations().values() if s.get("made_by_test")]) >= 10


def test_every_case_has_an_expectation_and_vice_versa() -> None:
    expectations = _expectations()
    in_git = sorted(k for k, v in expectations.items() if not v.get("made_by_test"))
    assert in_git == _cases()
    assert sorted(k for k, v in expectations.items() if v.get("made_by_test")) == \
        sorted(GENERATED)
    for name, spec in expectations.items():
        assert set(spec) <= {"errors", "warnings", "absent", "made_by_test", "prefix"}, name
        assert bool(spec.get("errors")) != bool(spec.get("warnings")), \
            f"{name}: errors (exit 1) or warnings (exit 0)"
        for entry in spec.get("errors", []) + spec.get("warnings", []):
            assert len(entry) == 2 and isinstance(entry[1], str) and entry[1], name
            assert entry[0] is None or (isinstance(entry[0], str) and entry[0].count(":") == 1), \
                f"{name}: location {entry[0]!r} is not line:column (quote it in the YAML)"


def test_binary_cases_hold_the_bytes_they_claim() -> None:
    """The cases that cannot carry a comment are what their names say; the others hold no
    invisible character themselves (they write it as an escape)."""
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
    for name in _cases():
        if name not in ("binary.yaml", "latin1.yaml"):
            assert (CORPUS / name).read_bytes().isascii(), name


@pytest.mark.parametrize("name", _cases())
def test_invalid_input_is_reported(name: str) -> None:
    path = CORPUS / name
    code, out, err = _validate(path)
    _check(_expectations()[name], str(path), code, out, err)


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


# -- bounded subprocesses ---------------------------------------------------------------------


def _limits() -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _bounded(args: list[str], cwd: Path, timeout: float = TIMEOUT
             ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOIPBIN", "OPENAI"))}
    env.update(ENV)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    try:
        return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=timeout, check=False, preexec_fn=_limits)
    except subprocess.TimeoutExpired as exc:  # the child is killed; say what it was doing
        pytest.fail(f"still running after {timeout} s: {args}\n{exc.stderr!r}")


_DRIVER = """
import io, json, sys
from voipbin_iac.cli import app
for path in sys.argv[1:]:
    print("running", path, file=sys.stderr, flush=True)  # the last one named hung
    out, err = io.StringIO(), io.StringIO()
    code = app.main(["validate", path], stdout=out, stderr=err)
    print(json.dumps([path, code, out.getvalue(), err.getvalue()]), flush=True)
"""


def test_every_case_in_git_fails_fast_in_a_bounded_process() -> None:
    """One process, all git cases, under the memory limit: each is refused, none hangs."""
    relative = [str((CORPUS / name).relative_to(ROOT)) for name in _cases()]
    proc = _bounded(["-c", _DRIVER, *relative], ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r[0] for r in results] == relative
    expectations = _expectations()
    for path, code, out, err in results:
        _check(expectations[Path(path).name], path, code, out, err)


@pytest.mark.parametrize("name", ["alias_bomb.yaml", "yaml_tab_indentation.yaml",
                                  "engine_key_number.yaml"])
def test_process_level_exit_without_traceback(name: str) -> None:
    """`python -m voipbin_iac validate` as a real process: exit 1, one clean error line."""
    relative = (CORPUS / name).relative_to(ROOT)
    proc = _bounded(["-m", "voipbin_iac", "validate", str(relative)], ROOT)
    _check(_expectations()[name], str(relative), proc.returncode, proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1


# -- cases built by the test: special files, symbolic links, huge files -------------------------

HEAD = ("version: 1\ndefaults:\n  engine_model: openai.gpt-5-mini\n"
        "  engine_key: ${env:OPENAI_API_KEY}\nagents:\n  bot:\n")  # fields on line 7


def _repo(tmp: Path, line: str) -> Path:
    """A repository: tmp/repo/{.git/config, conf/agents.yaml, conf/prompts/}; tmp/outside/."""
    repo = tmp / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git" / "config").write_text("[remote]\n  url = https://x:TOKEN-GIT-42@example\n")
    (repo / "conf" / "prompts").mkdir(parents=True)
    (tmp / "outside").mkdir()
    (tmp / "outside" / "secret.txt").write_text("TOKEN-OUTSIDE-42")
    path = repo / "conf" / "agents.yaml"
    path.write_text(HEAD + f"    {line}\n", encoding="utf-8")
    return path


def _fifo_file(tmp: Path) -> tuple[list[str], str | None]:
    os.mkfifo(tmp / "agents.yaml")
    return ["validate", str(tmp / "agents.yaml")], str(tmp / "agents.yaml")


def _fifo_prompt(tmp: Path) -> tuple[list[str], str | None]:
    path = _repo(tmp, "init_prompt_file: prompts/fifo.txt")
    os.mkfifo(path.parent / "prompts" / "fifo.txt")
    return ["validate", str(path)], str(path)


def _symlink_prompt(target: str) -> Callable[[Path], tuple[list[str], str | None]]:
    def build(tmp: Path) -> tuple[list[str], str | None]:
        path = _repo(tmp, "init_prompt_file: prompts/innocent.txt")
        (path.parent / "prompts" / "innocent.txt").symlink_to(target)
        return ["validate", str(path)], str(path)
    return build


def _symlink_directory(tmp: Path) -> tuple[list[str], str | None]:
    path = _repo(tmp, "init_prompt_file: shared/secret.txt")
    (path.parent / "shared").symlink_to(tmp / "outside")
    return ["validate", str(path)], str(path)


def _git_config(tmp: Path) -> tuple[list[str], str | None]:
    path = _repo(tmp, "init_prompt_file: ../.git/config")
    return ["validate", str(path)], str(path)


def _sparse(tmp: Path) -> tuple[list[str], str | None]:
    path = _repo(tmp, "init_prompt_file: prompts/huge.txt")
    with (path.parent / "prompts" / "huge.txt").open("wb") as fh:
        fh.truncate(50 * 1024**3)  # no disk used; reading it whole would never end
    return ["validate", str(path)], str(path)


def _one_over(tmp: Path) -> tuple[list[str], str | None]:
    path = _repo(tmp, "init_prompt_file: prompts/long.txt")
    (path.parent / "prompts" / "long.txt").write_bytes(b"p" * (PROMPT_MAX_BYTES + 1))
    return ["validate", str(path)], str(path)


def _inline_5_mb(tmp: Path) -> tuple[list[str], str | None]:
    path = _repo(tmp, "init_prompt: " + "p" * (5 * 1024 * 1024))
    return ["validate", str(path)], str(path)


def _device(device: str, command: str = "validate") -> Callable[[Path],
                                                               tuple[list[str], str | None]]:
    def build(tmp: Path) -> tuple[list[str], str | None]:
        return [command, device], device
    return build


def _manifest_device(tmp: Path) -> tuple[list[str], str | None]:
    (tmp / "agents.yaml").write_text("version: 1\nagents: {}\n")
    return ["manifest", "--file", str(tmp / "agents.yaml"), "--manifest", "/dev/zero"], None


GENERATED: dict[str, Callable[[Path], tuple[list[str], str | None]]] = {
    "fifo_as_desired_file": _fifo_file,
    "dev_zero_as_desired_file": _device("/dev/zero"),
    "dev_urandom_as_desired_file": _device("/dev/urandom"),
    "plan_of_dev_zero": _device("/dev/zero", "plan"),
    "dev_zero_as_manifest": _manifest_device,
    "fifo_as_prompt_file": _fifo_prompt,
    "symlink_prompt_to_etc_passwd": _symlink_prompt("/etc/passwd"),
    "symlink_prompt_to_dev_zero": _symlink_prompt("/dev/zero"),
    "symlink_directory_out": _symlink_directory,
    "prompt_file_in_git_config": _git_config,
    "prompt_file_sparse_50_gib": _sparse,
    "prompt_file_one_byte_over": _one_over,
    "prompt_inline_5_mb": _inline_5_mb,
}


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_special_files_and_links_fail_fast_in_a_bounded_process(name: str,
                                                                 tmp_path: Path) -> None:
    argv, shown = GENERATED[name](tmp_path)
    spec = _expectations()[name]
    proc = _bounded(["-m", "voipbin_iac", *argv], tmp_path, timeout=20.0)
    _check(spec, shown if spec.get("prefix", True) else None, proc.returncode, proc.stdout,
           proc.stderr)
