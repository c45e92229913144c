"""init_prompt_file cannot be turned against the user: where it may read, what, and how much.

Each directory here is built by the test: a "repository" (a directory with a `.git`) holding a
desired-state file, its prompts, and things a hostile pull request would like to read. The
special files that could hang or exhaust memory (FIFO, devices) are in test_invalid_corpus.py,
which runs them in a bounded subprocess.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from voipbin_iac.core.catalog import PROMPT_MAX_BYTES
from voipbin_iac.desired import config
from voipbin_iac.errors import ConfigError

HEAD = (
    "version: 1\ndefaults:\n  engine_model: openai.gpt-5-mini\n"
    "  engine_key: ${env:OPENAI_API_KEY}\nagents:\n  bot:\n"
)  # the agent's fields start on line 7
ENV = {"OPENAI_API_KEY": "sk-prompt-files-secret-1"}
RULE = ("a prompt file must be a regular file inside the directory tree of the desired file that "
        "names it (or of the git repository that holds it)")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """tmp/outside/secret.txt, tmp/repo/{.git/config, .env, shared/p.txt, conf/...}."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("TOKEN-OUTSIDE-42")
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "config").write_text("[remote]\n  url = https://x:TOKEN-GIT-42@example\n")
    (root / ".env").write_text("TOKEN-DOTENV-42")
    (root / "shared").mkdir()
    (root / "shared" / "p.txt").write_text("shared prompt")
    (root / "conf" / "prompts").mkdir(parents=True)
    (root / "conf" / "prompts" / "ok.txt").write_text("a good prompt")
    return root


def _load(directory: Path, line: str) -> config.DesiredState:
    path = directory / "agents.yaml"
    path.write_text(HEAD + f"    {line}\n", encoding="utf-8")
    return config.load([path], ENV)


def _error(directory: Path, line: str) -> str:
    with pytest.raises(ConfigError) as info:
        _load(directory, line)
    (message,) = info.value.lines()
    assert "TOKEN" not in message
    return message


def test_a_prompt_beside_the_file_and_elsewhere_in_the_repository(repo: Path) -> None:
    conf = repo / "conf"
    assert _load(conf, "init_prompt_file: prompts/ok.txt").agents["bot"].fields[
        "init_prompt"] == "a good prompt"
    assert _load(conf, "init_prompt_file: ../shared/p.txt").agents["bot"].fields[
        "init_prompt"] == "shared prompt"
    # a symbolic link that stays inside is fine
    (conf / "prompts" / "link.txt").symlink_to(repo / "shared" / "p.txt")
    assert _load(conf, "init_prompt_file: prompts/link.txt").agents["bot"].fields[
        "init_prompt"] == "shared prompt"


@pytest.mark.parametrize("value", ["/etc/passwd", "../../outside/secret.txt",
                                   "prompts/../../../outside/secret.txt"])
def test_a_path_out_of_the_repository_is_refused(repo: Path, value: str) -> None:
    message = _error(repo / "conf", f"init_prompt_file: {value}")
    target = os.path.realpath(repo / "conf" / value)
    assert message.startswith(f"{repo / 'conf' / 'agents.yaml'}:7:5: init_prompt_file "
                              f"'{value}' ({target}): it is outside the git repository {repo}: ")
    assert RULE in message


def test_a_symbolic_link_out_of_the_repository_is_refused(repo: Path) -> None:
    link = repo / "conf" / "prompts" / "innocent.txt"
    link.symlink_to(repo.parent / "outside" / "secret.txt")
    message = _error(repo / "conf", "init_prompt_file: prompts/innocent.txt")
    assert f"({link} -> {repo.parent / 'outside' / 'secret.txt'}): a symbolic link leads out " \
           f"of the git repository {repo}" in message
    assert "symbolic links may not lead out of it" in message


def test_a_symbolic_directory_out_of_the_repository_is_refused(repo: Path) -> None:
    (repo / "conf" / "elsewhere").symlink_to(repo.parent / "outside")
    assert "a symbolic link leads out of" in _error(repo / "conf",
                                                    "init_prompt_file: elsewhere/secret.txt")


@pytest.mark.parametrize(("value", "hidden"), [
    ("../.git/config", ".git"), ("../.env", ".env"), ("prompts/.secret.txt", ".secret.txt"),
])
def test_hidden_files_are_never_read(repo: Path, value: str, hidden: str) -> None:
    message = _error(repo / "conf", f"init_prompt_file: {value}")
    assert f"'{hidden}' is hidden: hidden files and directories (.git, .env, ...) are never " \
           "read as prompts" in message


def test_a_link_into_git_is_refused_as_hidden(repo: Path) -> None:
    (repo / "conf" / "prompts" / "cfg.txt").symlink_to(repo / ".git" / "config")
    assert "'.git' is hidden" in _error(repo / "conf", "init_prompt_file: prompts/cfg.txt")


def test_a_desired_file_in_a_hidden_directory_may_read_beside_it(repo: Path) -> None:
    hidden = repo / ".voipbin"
    (hidden / "prompts").mkdir(parents=True)
    (hidden / "prompts" / "p.txt").write_text("from a hidden config directory")
    state = _load(hidden, "init_prompt_file: prompts/p.txt")
    assert state.agents["bot"].fields["init_prompt"] == "from a hidden config directory"


def test_without_a_repository_the_directory_of_the_file_is_the_limit(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "p.txt").write_text("one level up")
    message = _error(tmp_path / "conf", "init_prompt_file: ../p.txt")
    assert f"it is outside {tmp_path / 'conf'}, the directory of the desired file (in no git " \
           "repository)" in message


def test_a_git_file_marks_a_repository_too(repo: Path) -> None:
    """A worktree or submodule has a `.git` file, not a directory."""
    worktree = repo.parent / "worktree"
    (worktree / "conf").mkdir(parents=True)
    (worktree / ".git").write_text("gitdir: /elsewhere\n")
    (worktree / "shared.txt").write_text("worktree prompt")
    state = _load(worktree / "conf", "init_prompt_file: ../shared.txt")
    assert state.agents["bot"].fields["init_prompt"] == "worktree prompt"


def test_a_directory_is_refused(repo: Path) -> None:
    message = _error(repo / "conf", "init_prompt_file: prompts")
    assert message.endswith(f"({repo / 'conf' / 'prompts'}): is a directory, not a file")


def test_a_path_from_the_environment_is_confined_and_never_shown(repo: Path) -> None:
    path = repo / "conf" / "agents.yaml"
    path.write_text(HEAD + "    init_prompt_file: ${env:PROMPT_PATH}\n", encoding="utf-8")
    env = {**ENV, "PROMPT_PATH": "/etc/TOKEN-ENV-PATH-42/passwd"}
    with pytest.raises(ConfigError) as info:
        config.load([path], env)
    (message,) = info.value.lines()
    assert message.startswith(f"{path}:7:5: init_prompt_file '${{env:PROMPT_PATH}}': it is "
                              "outside the git repository")
    assert "TOKEN" not in message


def test_a_prompt_file_at_the_limit_is_read_and_one_byte_more_is_refused(repo: Path) -> None:
    prompts = repo / "conf" / "prompts"
    (prompts / "max.txt").write_bytes("é".encode() * (PROMPT_MAX_BYTES // 2) + b"x")
    state = _load(repo / "conf", "init_prompt_file: prompts/max.txt")
    assert len(state.agents["bot"].fields["init_prompt"].encode()) == PROMPT_MAX_BYTES
    (prompts / "bom.txt").write_bytes(b"\xef\xbb\xbf" + b"y" * PROMPT_MAX_BYTES)  # BOM not counted
    assert _load(repo / "conf", "init_prompt_file: prompts/bom.txt")
    (prompts / "over.txt").write_bytes(b"z" * (PROMPT_MAX_BYTES + 1))
    message = _error(repo / "conf", "init_prompt_file: prompts/over.txt")
    assert message.endswith(f"({prompts / 'over.txt'}): 65,536 bytes, over VoIPBin's limit of "
                            "65,535 bytes for init_prompt (a MySQL TEXT column: a longer prompt "
                            "fails at apply with 500 INTERNAL)")


def test_a_prompt_file_is_read_once_however_many_agents_use_it(repo: Path) -> None:
    """A default's prompt file: one read, one problem, not one per agent."""
    path = repo / "conf" / "agents.yaml"
    path.write_text(HEAD.replace("agents:\n  bot:\n", "  init_prompt_file: /etc/passwd\n"
                                 "agents:\n") + "".join(f"  a{i}: {{}}\n" for i in range(50)))
    with pytest.raises(ConfigError) as info:
        config.load([path], ENV)
    assert len(info.value.problems) == 1
