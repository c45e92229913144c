"""The `tests:` section: read with locations, every problem at once, checked against the agents;
ignored by plan and apply except for its schema (issue: declarative conversation tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voipbin_iac.core.catalog import TOOL_ALL, TOOL_NAMES
from voipbin_iac.desired import config, tests
from voipbin_iac.errors import ConfigError

from .conftest import ROOT, agents_yaml

AGENTS = agents_yaml({"support": {"init_prompt": "Hi", "tool_names": ["connect_call"]},
                      "bare": {"engine_model": "mistral.large"},
                      "everything": {"tool_names": ["all"]}})
ENV = {"OPENAI_API_KEY": "sk-test"}


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> tests.Suite:
    agents = tmp_path / "agents.yaml"
    agents.write_text(AGENTS)
    path = tmp_path / "agents.tests.yaml"
    path.write_text("version: 1\ntests:\n" + text)
    files = [str(agents), str(path)]
    env = {**ENV, **(env or {})}
    return tests.load(files, env, config.load(files, env).agents)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return caught.value.lines()


def test_a_test_is_read_with_defaults_and_locations(tmp_path: Path) -> None:
    suite = load(tmp_path, """  greets:
    agent: support
    turns:
      - say: "Hello ${env:WHO}"
        expect: {reply_matches: "(?i)hi", tool_called: connect_call,
                 arguments_match: {to: "^sales"}}
      - say: bye
    audit: {min_score: 4, language: de-DE}
  anything:
    agent: everything
    turns: [{say: hi, expect: {tool_called: send_email}}]
""", {"WHO": "Ada Lovelace"})
    greets = suite.tests["greets"]
    assert greets.reply_timeout_s == 35.0 and greets.audit is not None
    assert (greets.audit.min_score, greets.audit.language) == (4, "de-DE")
    first, second = greets.turns
    assert first.say == "Hello Ada Lovelace" and first.expect.reply_matches is not None
    assert first.expect.arguments_match == {"to": "^sales"}
    assert second.expect.needs_text and not first.expect.reply_not_contains
    assert str(first.location).endswith("agents.tests.yaml:6:9")
    assert "Ada Lovelace" in suite.env_values  # for the redactor
    assert list(suite.tests) == ["greets", "anything"]


def test_every_problem_at_once_each_at_its_place(tmp_path: Path) -> None:
    lines = problems(tmp_path, """  a:
    agent: suport
    turns: [{say: hi, expect: {reply_not_matches: "[z-a]"}}]
  b:
    agent: support
    turns:
      - say: hi
        expect: {tool_called: send_email, arguments_match: {x: "("}}
      - say: again
        expect: {arguments_match: {x: 1}, tool_not_called: case_create}
""")
    text = "\n".join(lines)
    assert ":4:5: tests.a.agent: 'suport' is not an agent key" in text
    assert "did you mean 'support'?" in text
    assert "tests.a.turns[0].expect.reply_not_matches: not a valid regular expression" in text
    assert "tests.b.turns[0].expect.tool_called: agent 'support' cannot call send_email" in text
    assert "tests.b.turns[0].expect.arguments_match.x: not a valid regular expression" in text
    assert "tests.b.turns[1].expect.arguments_match: goes with tool_called" in text
    assert "tests.b.turns[1].expect.tool_not_called: agent 'support' cannot call" in text
    assert len(lines) == 6


@pytest.mark.parametrize(("spec", "message"), [
    ("  t: {agent: support, turns: []}\n", "tests.t.turns:"),
    ("  t: {agent: support}\n", "missing required field 'turns'"),
    ("  t: {agent: support, turns: [{say: ''}]}\n", "tests.t.turns[0].say: must not be empty"),
    ("  t: {agent: support, turns: [{say: hi, expect: {reply_match: x}}]}\n",
     "unknown field (did you mean 'reply_matches'?)"),
    ("  t: {agent: support, turns: [{say: hi}], audit: {min_score: 6}}\n", "at most 5"),
    ("  t: {agent: support, turns: [{say: hi}], reply_timeout_s: 0}\n", "at least 1"),
    ("  t: {agent: support, turns: [{say: hi, expect: {tool_called: all}}]}\n", "'all'"),
    ("  bad name!: {agent: support, turns: [{say: hi}]}\n", "a test name is 1-63"),
])
def test_schema_problems(tmp_path: Path, spec: str, message: str) -> None:
    """The schema covers `tests:`; plan and apply refuse a file whose tests break it."""
    text = "\n".join(problems(tmp_path, spec))
    assert message in text and "agents.tests.yaml:" in text


def test_advice_that_does_not_stop_a_test(tmp_path: Path) -> None:
    suite = load(tmp_path, "  t:\n    agent: bare\n    turns: [{say: hi}]\n"
                           "    audit: {min_score: 1}\n")
    text = "\n".join(suite.warnings)
    assert "uses engine_model 'mistral.large'; VoIPBin runs only gemini, grok, openai" in text
    assert "has no init_prompt; VoIPBin fails audits of such agents" in text


def test_a_test_defined_twice_across_files(tmp_path: Path) -> None:
    (tmp_path / "more.yaml").write_text("version: 1\ntests:\n  t: {agent: support, turns: "
                                        "[{say: x}]}\n")
    agents, first = tmp_path / "agents.yaml", tmp_path / "t.yaml"
    agents.write_text(AGENTS)
    first.write_text("version: 1\ntests:\n  t: {agent: support, turns: [{say: y}]}\n")
    files = [str(agents), str(first), str(tmp_path / "more.yaml")]
    with pytest.raises(ConfigError) as caught:
        tests.load(files, ENV, config.load(files, ENV).agents)
    assert "tests.t: defined twice (first at" in caught.value.lines()[0]


def test_the_loader_ignores_tests_but_knows_the_files_that_hold_only_tests(
        tmp_path: Path) -> None:
    agents = tmp_path / "agents.yaml"
    agents.write_text(AGENTS + "tests:\n  inline: {agent: support, turns: [{say: hi}]}\n")
    only = tmp_path / "t.yaml"
    only.write_text("version: 1\ntests:\n  t: {agent: ghost, turns: [{say: '${env:NOPE}'}]}\n")
    empty = tmp_path / "e.yaml"
    empty.write_text("version: 1\ntests:\n")
    state = config.load([agents, only, empty], ENV)  # unknown agent, missing env: not its job
    assert state.tests_only == (str(only), str(empty))
    assert set(state.agents) == {"support", "bare", "everything"}


def test_schema_tool_names_match_the_catalogue() -> None:
    schema = json.loads((ROOT / "schemas" / "agents.schema.json").read_text())
    expect = schema["$defs"]["expect"]["properties"]
    for key in ("tool_called", "tool_not_called"):
        assert expect[key]["enum"] == [t for t in TOOL_NAMES if t != TOOL_ALL]
