"""config.load: merged desired state, canonical values, offline checks, warnings.

Also the JSON Schema itself: valid Draft 2020-12, in step with `catalog.py`, and satisfied by
the shipped example.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from voipbin_iac.cli import app as cli
from voipbin_iac.core import catalog
from voipbin_iac.core.catalog import WRITE_FIELDS, ZERO_UUID
from voipbin_iac.core.model import DesiredState, Safety
from voipbin_iac.core.secret import Secret
from voipbin_iac.desired import config, envsubst, schemacheck, yamlsrc
from voipbin_iac.errors import ConfigError, Location

ROOT = Path(__file__).resolve().parent.parent
VALID = ROOT / "tests" / "data" / "valid"
SECRET = "sk-config-test-secret-5d2a"
ENV = {"OPENAI_API_KEY": SECRET}
HEAD = (  # four lines: an agent's key written after `agents:` is on line 6
    "version: 1\ndefaults:\n  engine_model: openai.gpt-5-mini\n"
    "  engine_key: ${env:OPENAI_API_KEY}\n"
)


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> DesiredState:
    return config.load([_write(tmp_path, "agents.yaml", text)], ENV if env is None else env)


def _problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    """The error lines of a file that must not load, without the file name."""
    path = _write(tmp_path, "agents.yaml", text)
    with pytest.raises(ConfigError) as info:
        config.load([path], ENV if env is None else env)
    return [line.replace(f"{path}:", "", 1) for line in info.value.lines()]


# -- canonical values -----------------------------------------------------------------------


def test_minimal_agent_has_every_write_field_at_its_blank(tmp_path: Path) -> None:
    state = _load(tmp_path, HEAD + "agents:\n  bot: {}\n")
    bot = state.agents["bot"]
    assert list(bot.fields) == list(WRITE_FIELDS)
    assert dict(bot.fields) == {
        "name": "bot",  # defaults to the key
        "detail": "",
        "type": "normal",
        "engine_model": "openai.gpt-5-mini",
        "parameter": {},
        "engine_key": Secret(SECRET),
        "rag_id": None,
        "init_prompt": "",
        "tts_type": "",
        "tts_voice_id": "",
        "stt_type": "",
        "stt_language": "",
        "tool_names": (),
        "auto_aicall_audit_enabled": False,
    }
    assert bot.key == "bot" and bot.name == "bot"
    assert bot.protect is False and bot.ignore_changes == frozenset()
    assert bot.location == Location(str(tmp_path / "agents.yaml"), 6, 3)
    assert state.safety == Safety(30.0, 10)
    assert state.moved == {} and state.warnings == ()


def test_canonical_values(tmp_path: Path) -> None:
    state = _load(tmp_path, HEAD + (
        "agents:\n"
        "  a:\n"
        "    tool_names: [get_related_cases, get_case_notes, all]\n"
        "    rag_id: 3F2504E0-4F89-11D3-9A0C-0305E82C3301\n"
        "    type: insight\n"
        "    parameter: {hours: 9-5, nested: {x: [1, 2]}}\n"
        "    auto_aicall_audit_enabled: yes\n"
        "  b:\n"
        "    rag_id: ''\n"
        "    tool_names: []\n"
        "  c:\n"
        f"    rag_id: '{ZERO_UUID}'\n"
    ))
    a, b, c = (state.agents[k].fields for k in "abc")
    assert a["tool_names"] == ("all", "get_case_notes", "get_related_cases")
    assert isinstance(a["tool_names"], tuple)
    assert a["rag_id"] == "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    assert a["type"] == "insight"
    assert a["parameter"] == {"hours": "9-5", "nested": {"x": [1, 2]}}
    assert a["auto_aicall_audit_enabled"] is True
    assert b["rag_id"] is None and c["rag_id"] is None
    assert b["tool_names"] == ()


def test_engine_key_is_a_secret_that_never_prints(tmp_path: Path) -> None:
    state = _load(tmp_path, HEAD + "agents:\n  bot: {}\n")
    key = state.agents["bot"].fields["engine_key"]
    assert isinstance(key, Secret)
    assert key.reveal() == SECRET
    for text in (str(key), repr(key), repr(state.agents["bot"]), repr(state), f"{key}"):
        assert SECRET not in text
    assert key.fingerprint in str(key)


def test_empty_and_null_sections(tmp_path: Path) -> None:
    assert _load(tmp_path, "version: 1\n").agents == {}
    state = _load(tmp_path, "version: 1\ndefaults:\nagents:\nmoved:\nsafety:\n")
    assert state.agents == {} and state.moved == {} and state.safety == Safety()
    state = _load(tmp_path, "version: 1\nagents:\n  bot:\n    engine_model: grok.grok-3\n")
    assert state.agents["bot"].fields["engine_key"] == Secret("")


def test_no_file_given() -> None:
    with pytest.raises(ConfigError) as info:
        config.load([], ENV)
    assert info.value.lines() == ["<command line>: no desired-state file given"]


# -- defaults, multi-file merge -------------------------------------------------------------


def test_defaults_are_merged_under_agents(tmp_path: Path) -> None:
    state = _load(tmp_path, HEAD + (
        "  tts_type: elevenlabs\n"
        "  stt_language: en-US\n"
        "  protect: true\n"
        "agents:\n"
        "  plain: {}\n"
        "  own:\n"
        "    tts_type: openai\n"
        "    engine_model: grok.grok-3\n"
        "    protect: false\n"
    ))
    plain, own = state.agents["plain"], state.agents["own"]
    assert (plain.fields["tts_type"], plain.fields["stt_language"]) == ("elevenlabs", "en-US")
    assert plain.fields["engine_model"] == "openai.gpt-5-mini" and plain.protect is True
    assert (own.fields["tts_type"], own.fields["stt_language"]) == ("openai", "en-US")
    assert own.fields["engine_model"] == "grok.grok-3" and own.protect is False
    assert own.field_locations["tts_type"].line == 11
    assert own.field_locations["stt_language"].line == 6  # from defaults


def test_ignore_changes_of_defaults_and_agent_add_up(tmp_path: Path) -> None:
    state = _load(tmp_path, HEAD + (
        "  ignore_changes: [detail, tts_voice_id]\n"
        "agents:\n"
        "  a:\n    ignore_changes: [init_prompt, detail]\n"
        "  b: {}\n"
    ))
    assert state.agents["a"].ignore_changes == frozenset({"detail", "tts_voice_id", "init_prompt"})
    assert state.agents["b"].ignore_changes == frozenset({"detail", "tts_voice_id"})


def test_multi_file_merge() -> None:
    base, prod = VALID / "base.yaml", VALID / "env" / "prod.yaml"
    state = config.load([base, prod], ENV)
    assert sorted(state.agents) == ["booking", "escalation", "support-line"]
    assert state.files == (str(base), str(prod))
    # prod overrides one field of an existing agent; the rest of it comes from base
    booking = state.agents["booking"]
    assert booking.fields["engine_model"] == "openai.gpt-5"
    assert booking.field_locations["engine_model"] == Location(str(prod), 7, 5)
    assert (booking.name, booking.fields["init_prompt"]) == ("Booking", "Book appointments.")
    assert booking.location == Location(str(base), 19, 3)
    # prod's default overrides base's default for every agent; the other defaults stay
    for agent in state.agents.values():
        assert agent.fields["tts_type"] == "openai"
        assert agent.fields["stt_type"] == "deepgram"
        assert agent.fields["engine_key"].reveal() == SECRET
    # an agent only prod has, its prompt file relative to prod.yaml (env/prompts/...)
    escalation = state.agents["escalation"]
    assert escalation.name == "Escalation Desk"
    assert escalation.fields["init_prompt"] == (
        "You take over calls the support line cannot answer.\n"
    )
    assert escalation.fields["rag_id"] == "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    assert escalation.location == Location(str(prod), 8, 3)
    # base's agent, its prompt relative to base.yaml (prompts/...)
    support = state.agents["support-line"]
    assert support.fields["init_prompt"] == "You are the support line (base prompt).\n"
    assert support.fields["tool_names"] == ("connect_call", "send_email")
    assert support.ignore_changes == frozenset({"detail", "init_prompt"})
    assert support.protect is True
    # safety merges key by key
    assert state.safety == Safety(max_change_percent=50.0, min_owned=3)
    assert state.warnings == ()


def test_later_file_wins_in_the_other_order_too() -> None:
    base, prod = VALID / "base.yaml", VALID / "env" / "prod.yaml"
    state = config.load([prod, base], ENV)
    assert state.agents["booking"].fields["engine_model"] == "openai.gpt-5"  # base has none
    assert state.agents["support-line"].fields["tts_type"] == "elevenlabs"


def test_init_prompt_file_is_relative_to_its_own_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "conf"
    _write(conf, "prompts/support/greeting.md", "Hello from the subdirectory.\n")
    path = _write(conf, "agents.yaml", HEAD + (
        "agents:\n  bot:\n    init_prompt_file: prompts/support/greeting.md\n"
    ))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    state = config.load([path], ENV)
    assert state.agents["bot"].fields["init_prompt"] == "Hello from the subdirectory.\n"
    assert state.agents["bot"].field_locations["init_prompt"] == Location(str(path), 7, 5)


def test_init_prompt_file_in_defaults_and_agent_prompts_win(tmp_path: Path) -> None:
    _write(tmp_path, "p/default.txt", "default prompt")
    state = _load(tmp_path, HEAD + (
        "  init_prompt_file: p/default.txt\n"
        "agents:\n  plain: {}\n  own:\n    init_prompt: own prompt\n"
    ))
    assert state.agents["plain"].fields["init_prompt"] == "default prompt"
    assert state.agents["own"].fields["init_prompt"] == "own prompt"


def test_a_later_file_may_switch_between_init_prompt_and_init_prompt_file(tmp_path: Path) -> None:
    _write(tmp_path, "p.txt", "from the file")
    base = _write(tmp_path, "base.yaml", HEAD + (
        "  init_prompt: default text\nagents:\n  a:\n    init_prompt: agent text\n  b: {}\n"
    ))
    prod = _write(tmp_path, "prod.yaml", (
        "version: 1\ndefaults:\n  init_prompt_file: p.txt\nagents:\n  a:\n"
        "    init_prompt_file: p.txt\n"
    ))
    state = config.load([base, prod], ENV)
    assert state.agents["a"].fields["init_prompt"] == "from the file"
    assert state.agents["b"].fields["init_prompt"] == "from the file"
    back = _write(tmp_path, "back.yaml", "version: 1\ndefaults:\n  init_prompt: text again\n")
    state = config.load([base, prod, back], ENV)
    assert state.agents["b"].fields["init_prompt"] == "text again"


def test_both_prompts_in_defaults_is_one_error_however_many_agents(tmp_path: Path) -> None:
    _write(tmp_path, "p.txt", "x")
    text = HEAD + "  init_prompt: x\n  init_prompt_file: p.txt\nagents:\n"
    expected = ["6:3: init_prompt and init_prompt_file are mutually exclusive"]
    assert _problems(tmp_path, text + "  a: {}\n  b: {}\n  c: {}\n") == expected
    assert _problems(tmp_path, text) == expected


def test_a_missing_default_prompt_file_is_one_error(tmp_path: Path) -> None:
    text = HEAD + "  init_prompt_file: nope.txt\nagents:\n  a: {}\n  b: {}\n"
    assert _problems(tmp_path, text) == [
        f"5:3: init_prompt_file 'nope.txt' ({tmp_path / 'nope.txt'}): file not found"
    ]


def test_prompt_file_must_be_utf8_text(tmp_path: Path) -> None:
    (tmp_path / "latin.txt").write_bytes(b"Gr\xfc\xdfe")
    assert _problems(tmp_path, HEAD + "agents:\n  a:\n    init_prompt_file: latin.txt\n") == [
        f"7:5: init_prompt_file 'latin.txt' ({tmp_path / 'latin.txt'}): not valid UTF-8 text; "
        "save the file as UTF-8 (at line 1, column 3)"
    ]


def test_anchors_and_merge_keys_in_a_desired_state_file() -> None:
    state = config.load([VALID / "anchors.yaml"], {})
    first, second, third = (state.agents[k] for k in ("first", "second", "third"))
    for agent in (first, second, third):
        assert agent.fields["engine_model"] == "grok.grok-3"
        assert agent.fields["engine_key"].reveal() == "grok-demo-key"
        assert agent.fields["tool_names"] == ("connect_call", "stop_media")
    assert (second.name, second.fields["tts_type"]) == ("Second", "google")
    assert (third.name, third.fields["tts_type"]) == ("third", "openai")
    assert third.fields["detail"] == "2024-01-31"  # a timestamp stays text
    assert state.warnings == ()


# -- warnings -------------------------------------------------------------------------------


def test_literal_engine_key_is_a_warning(tmp_path: Path) -> None:
    state = _load(tmp_path, (
        "version: 1\ndefaults:\n  engine_model: openai.gpt-5-mini\n"
        "  engine_key: sk-literal-in-file-1234\nagents:\n  a: {}\n  b: {}\n"
    ))
    assert state.warnings == (
        f"{tmp_path / 'agents.yaml'}:4:3: engine_key is a literal secret in the file: write it "
        "as ${env:NAME} and keep the value out of git",
    )
    assert all("sk-literal-in-file-1234" not in w for w in state.warnings)
    assert state.agents["a"].fields["engine_key"].reveal() == "sk-literal-in-file-1234"


@pytest.mark.parametrize(("value", "warned"), [
    ("${env:OPENAI_API_KEY}", False),
    ("${env:UNSET:-fallback-key}", False),
    ("prefix-${env:OPENAI_API_KEY}", False),
    ("'$${env:OPENAI_API_KEY}'", True),  # escaped: a literal text
    ("''", False),
    ("literal-key", True),
])
def test_literal_engine_key_detection(tmp_path: Path, value: str, warned: bool) -> None:
    state = _load(tmp_path, f"version: 1\nagents:\n  a:\n    engine_model: grok.grok-3\n"
                            f"    engine_key: {value}\n")
    assert any("literal secret" in w for w in state.warnings) is warned


def test_model_outside_the_documented_list_is_a_warning(tmp_path: Path) -> None:
    state = _load(tmp_path, HEAD + "agents:\n  a:\n    engine_model: openai.gpt-4o\n")
    assert state.warnings == (
        f"{tmp_path / 'agents.yaml'}:7:5: agents.a.engine_model: 'openai.gpt-4o' is not in "
        "VoIPBin's documented model list; VoIPBin checks only the vendor, so check the model "
        "name with your provider",
    )
    assert state.agents["a"].fields["engine_model"] == "openai.gpt-4o"


def test_duplicate_names_are_a_warning_not_an_error(tmp_path: Path) -> None:
    state = _load(tmp_path, HEAD + (
        "agents:\n  a:\n    name: Support\n  b:\n    name: Support\n  c:\n    name: Support\n"
        "  d:\n    name: support\n"
    ))
    assert sorted(state.agents) == ["a", "b", "c", "d"]
    assert [a.name for a in state.agents.values()] == ["Support", "Support", "Support", "support"]
    path = tmp_path / "agents.yaml"
    assert state.warnings == (
        f"{path}:9:5: agents.b: name 'Support' is also used by agents.a; VoIPBin allows it, but "
        "such agents can only be matched through the manifest, never adopted by name",
        f"{path}:11:5: agents.c: name 'Support' is also used by agents.a; VoIPBin allows it, but "
        "such agents can only be matched through the manifest, never adopted by name",
    )


def test_name_shared_through_the_key_default(tmp_path: Path) -> None:
    state = _load(tmp_path, HEAD + "agents:\n  a: {}\n  b:\n    name: a\n")
    assert len(state.warnings) == 1
    assert "agents.b: name 'a' is also used by a" in state.warnings[0]
    assert state.warnings[0].startswith(f"{tmp_path / 'agents.yaml'}:8:5: ")


# -- errors ---------------------------------------------------------------------------------


def test_all_problems_of_a_file_are_reported_at_once(tmp_path: Path) -> None:
    problems = _problems(tmp_path, HEAD + (
        "  tts_typ: openai\n"                 # 5
        "agents:\n"                           # 6
        "  bot:\n"                            # 7
        "    stt_type: whisper\n"             # 8
        "    tool_names: [connect_call, x]\n"  # 9
        "    protect: 'true'\n"               # 10
        "  Bad Key: {}\n"                     # 11
    ))
    assert problems == [
        "5:3: defaults.tts_typ: unknown field (did you mean 'tts_type'?)",
        "8:5: agents.bot.stt_type: 'whisper' is not one of: 'cartesia', 'deepgram', "
        "'elevenlabs', 'google'",
        "9:32: agents.bot.tool_names[1]: 'x' is not one of: "
        + ", ".join(f"'{name}'" for name in catalog.TOOL_NAMES),
        "10:5: agents.bot.protect: expected true or false, got text",
        "11:3: agents: key 'Bad Key' is not allowed: an agent key is 1-63 letters, digits, `_`, "
        "`.` or `-`, starting with a letter or digit",
    ]


def test_problems_of_every_file_are_reported(tmp_path: Path) -> None:
    one = _write(tmp_path, "one.yaml", "version: 1\nagents:\n  a:\n    tts_type: bad\n")
    two = _write(tmp_path, "two.yaml", "version: 2\n")
    with pytest.raises(ConfigError) as info:
        config.load([one, two], ENV)
    assert [(p.location.file, p.location.line) for p in info.value.problems] == [
        (str(one), 4), (str(two), 1),
    ]


def test_missing_variable_is_an_error_with_its_place(tmp_path: Path) -> None:
    assert _problems(tmp_path, HEAD + "agents:\n  a: {}\n", env={}) == [
        "4:3: defaults.engine_key: environment variable OPENAI_API_KEY is not set "
        "(set it, or write ${env:OPENAI_API_KEY:-default})"
    ]


def test_engine_model_is_required(tmp_path: Path) -> None:
    assert _problems(tmp_path, "version: 1\nagents:\n  a: {}\n  b:\n    name: B\n") == [
        "3:3: agents.a: engine_model is required (set it in the agent or in defaults)",
        "4:3: agents.b: engine_model is required (set it in the agent or in defaults)",
    ]


def test_moved(tmp_path: Path) -> None:
    state = _load(tmp_path, HEAD + "agents:\n  new: {}\n  other: {}\nmoved:\n  old: new\n")
    assert state.moved == {"old": "new"}
    assert _problems(tmp_path, HEAD + (
        "agents:\n  new: {}\n  other: {}\n"
        "moved:\n  gone: missing\n  other: new\n  new: new\n  old: new\n  older: new\n"
    )) == [
        "9:3: moved.gone: target 'missing' is not an agent or team key in the files",
        "10:3: moved.other: 'other' is still a key in the files; remove it there or from moved",
        "11:3: moved.new: a key cannot move to itself",
        "13:3: moved.older: 'new' is already the target of 'old'",
    ]


@pytest.mark.parametrize(("safety", "message"), [
    ("max_change_percent: 100.5", "safety.max_change_percent: must be at most 100, got 100.5"),
    ("max_change_percent: -1", "safety.max_change_percent: must be at least 0, got -1"),
    ("min_owned: 2.5", "safety.min_owned: expected a whole number, got the number 2.5"),
    ("max_changes: 3",
     "safety.max_changes: unknown field (did you mean 'max_change_percent'?)"),
])
def test_safety_errors(tmp_path: Path, safety: str, message: str) -> None:
    assert _problems(tmp_path, HEAD + f"agents: {{}}\nsafety:\n  {safety}\n") == [
        f"7:3: {message}"
    ]


def test_safety_values(tmp_path: Path) -> None:
    state = _load(tmp_path, HEAD + "safety:\n  max_change_percent: 0\n  min_owned: 0\n")
    assert state.safety == Safety(0.0, 0)
    assert isinstance(state.safety.max_change_percent, float)


@pytest.mark.parametrize(("value", "secret"), [
    ("12345678901234567", "12345678901234567"),
    ("1234.5678", "1234.5678"),
    ("[sk-in-a-list-12345678]", "sk-in-a-list-12345678"),
    ("{key: sk-in-a-map-12345678}", "sk-in-a-map-12345678"),
    ("${env:sk-inside-a-reference-12345678}", "sk-inside-a-reference-12345678"),
    ("!!int sk-tagged-12345678", "sk-tagged-12345678"),
    ("1.e+999", "1.e+999"),
])
def test_engine_key_values_never_appear_in_errors(tmp_path: Path, value: str,
                                                  secret: str) -> None:
    text = (
        "version: 1\n"
        "defaults:\n  engine_model: openai.gpt-5-mini\n  tts_type: wrong\n"
        f"agents:\n  bot:\n    engine_key: {value}\n    detail: [also wrong]\n"
    )
    path = _write(tmp_path, "agents.yaml", text)
    with pytest.raises(ConfigError) as info:
        config.load([path], ENV)
    lines = info.value.lines()
    assert any(line.startswith(f"{path}:7:") for line in lines)  # reported at engine_key ...
    assert all(secret not in line for line in lines)  # ... but without its value
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["validate", str(path)], stdout=out, stderr=err, env=ENV) == 1
    assert f"error: {path}:7:" in err.getvalue()
    assert secret not in err.getvalue()
    assert out.getvalue() == ""


def test_an_engine_key_from_the_environment_never_appears_in_errors(tmp_path: Path) -> None:
    path = _write(tmp_path, "agents.yaml", HEAD + "agents:\n  bot:\n    tts_type: wrong\n")
    err = io.StringIO()
    assert cli.main(["validate", str(path)], stdout=io.StringIO(), stderr=err, env=ENV) == 1
    assert SECRET not in err.getvalue()
    assert err.getvalue().startswith(f"error: {path}:7:5: agents.bot.tts_type: 'wrong'")


# -- the CLI's validate ---------------------------------------------------------------------


def test_validate_prints_ok_and_warnings(tmp_path: Path) -> None:
    path = _write(tmp_path, "agents.yaml", (
        "version: 1\ndefaults:\n  engine_model: openai.gpt-4o\n"
        "  engine_key: sk-literal-shown-nowhere\nagents:\n  a: {}\n  b: {}\n"
    ))
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["validate", str(path)], stdout=out, stderr=err, env={}) == 0
    assert out.getvalue() == f"ok: {path}: 2 agents, 2 warnings\n"  # a default's, once each
    lines = err.getvalue().splitlines()
    assert len(lines) == 2 and all(line.startswith(f"warning: {path}:") for line in lines)
    assert "sk-literal-shown-nowhere" not in out.getvalue() + err.getvalue()


def test_validate_several_files() -> None:
    out, err = io.StringIO(), io.StringIO()
    files = [str(VALID / "base.yaml"), str(VALID / "env" / "prod.yaml")]
    assert cli.main(["validate", *files], stdout=out, stderr=err, env=ENV) == 0
    assert out.getvalue() == f"ok: {files[0]}, {files[1]}: 3 agents, 0 warnings\n"
    assert err.getvalue() == ""


# -- the schema -----------------------------------------------------------------------------


def _schema() -> dict[str, Any]:
    return json.loads(schemacheck.schema_text("agents"))


def test_schema_is_valid_draft_2020_12_and_the_root_symlink_is_the_packaged_file() -> None:
    schema = _schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    at_root = ROOT / "schemas" / "agents.schema.json"
    assert at_root.resolve() == (ROOT / "voipbin_iac" / "schemas" / "agents.schema.json").resolve()
    assert json.loads(at_root.read_text(encoding="utf-8")) == schema


@pytest.mark.parametrize("section", ["agent", "defaults"])
def test_schema_enums_match_the_catalogue(section: str) -> None:
    props = _schema()["$defs"][section]["properties"]
    assert props["tts_type"]["enum"] == list(catalog.TTS_TYPES)
    assert props["stt_type"]["enum"] == list(catalog.STT_TYPES)
    assert props["type"]["enum"] == list(catalog.AI_TYPES)
    assert props["tool_names"]["items"]["enum"] == list(catalog.TOOL_NAMES)
    assert props["ignore_changes"]["items"]["enum"] == list(catalog.WRITE_FIELDS)
    assert props["engine_model"]["examples"] == list(catalog.ENGINE_MODELS)
    pattern = props["engine_model"]["pattern"]
    match = re.fullmatch(r"\^\(([a-z|]+)\)\\\.\\S\+\$", pattern)  # ^(a|b|...)\.\S+$
    assert match, pattern
    assert set(match.group(1).split("|")) == set(catalog.ENGINE_VENDORS)
    for vendor in catalog.ENGINE_VENDORS:
        assert re.fullmatch(pattern, f"{vendor}.some-model")
    assert not re.fullmatch(pattern, "dialogflow.cx")


def test_schema_fields_are_the_write_fields_plus_ours() -> None:
    defs = _schema()["$defs"]
    ours = {"init_prompt_file", "protect", "ignore_changes"}
    assert set(defs["agent"]["properties"]) == set(WRITE_FIELDS) | ours
    assert set(defs["defaults"]["properties"]) == (set(WRITE_FIELDS) | ours) - {"name"}
    # a defaults field is the same as the agent field of that name
    for name, spec in defs["defaults"]["properties"].items():
        assert spec == defs["agent"]["properties"][name], name


def test_the_example_satisfies_the_schema_and_loads() -> None:
    example = ROOT / "examples" / "agents.yaml"
    doc = yamlsrc.load_file(example)
    result = envsubst.expand(doc, {})
    data, problems = result.data, result.problems
    assert problems == []
    assert list(schemacheck.validator("agents").iter_errors(data)) == []
    assert schemacheck.check("agents", doc, data) == []
    state = config.load([example], {})
    assert sorted(state.agents) == ["booking-assistant", "helpdesk", "support-line"]
    assert state.agents["booking-assistant"].fields["init_prompt"] == (
        (ROOT / "examples" / "prompts" / "booking.txt").read_text(encoding="utf-8")
    )
    assert state.agents["support-line"].fields["engine_key"].reveal() == "demo-key-not-secret"
    assert state.warnings == ()


# -- values from the environment: templates and env_values ----------------------------------


def test_templates_map_each_field_path_that_took_env_text_to_the_text_as_written(
        tmp_path: Path) -> None:
    state = _load(tmp_path, (
        "version: 1\ndefaults:\n  engine_model: openai.gpt-5-mini\n"
        "  engine_key: ${env:OPENAI_API_KEY}\n"
        "  init_prompt: 'Hello ${env:GREETING}'\n"
        "agents:\n  bot:\n"
        "    name: ${env:BOT_NAME:-Bot}\n"
        "    detail: 'plain ${env:UNSET_DETAIL:-default only} $${env:LITERAL}'\n"
        "    parameter:\n      greeting: 'Hi ${env:GREETING}'\n      items: ['${env:ITEM}', x]\n"
        "      deep: {level: '${env:ITEM}'}\n"
        "  other:\n    init_prompt: no env here\n"
    ), env={**ENV, "GREETING": "hello-value", "ITEM": "item-value", "BOT_NAME": "Env Bot"})
    bot, other = state.agents["bot"], state.agents["other"]
    assert dict(bot.templates) == {
        "engine_key": "${env:OPENAI_API_KEY}",
        "init_prompt": "Hello ${env:GREETING}",
        "name": "${env:BOT_NAME:-Bot}",
        "parameter.greeting": "Hi ${env:GREETING}",
        "parameter.items[0]": "${env:ITEM}",
        "parameter.deep.level": "${env:ITEM}",
    }
    assert bot.fields["init_prompt"] == "Hello hello-value" and bot.name == "Env Bot"
    assert dict(other.templates) == {"engine_key": "${env:OPENAI_API_KEY}"}
    assert state.env_values == tuple(sorted({SECRET, "hello-value", "item-value", "Env Bot"}))


def test_a_default_from_the_file_is_not_an_env_value(tmp_path: Path) -> None:
    state = _load(tmp_path, HEAD + "agents:\n  bot:\n    name: ${env:UNSET_NAME:-Bot}\n")
    assert "name" not in state.agents["bot"].templates
    assert state.env_values == (SECRET,)


def test_templates_follow_the_later_file(tmp_path: Path) -> None:
    base = _write(tmp_path, "base.yaml", HEAD + "  detail: ${env:D}\nagents:\n  a: {}\n")
    prod = _write(tmp_path, "prod.yaml", "version: 1\nagents:\n  a:\n    detail: fixed\n")
    state = config.load([base, prod], {**ENV, "D": "from-env"})
    assert "detail" not in state.agents["a"].templates
    assert state.agents["a"].fields["detail"] == "fixed"


# -- everything in one run ------------------------------------------------------------------


def test_missing_env_missing_prompt_file_and_both_prompts_are_reported_together(
        tmp_path: Path) -> None:
    lines = _problems(tmp_path, HEAD + (
        "agents:\n"
        "  a:\n    detail: ${env:VOIPBIN_IAC_TEST_UNSET}\n"
        "  b:\n    init_prompt_file: prompts/missing.txt\n"
        "  c:\n    init_prompt: inline\n    init_prompt_file: prompts/also-missing.txt\n"
    ))
    assert lines == [
        "7:5: agents.a.detail: environment variable VOIPBIN_IAC_TEST_UNSET is not set (set it, "
        "or write ${env:VOIPBIN_IAC_TEST_UNSET:-default})",
        f"9:5: init_prompt_file 'prompts/missing.txt' ({tmp_path / 'prompts/missing.txt'}): "
        "file not found",
        "12:5: init_prompt and init_prompt_file are mutually exclusive",
        f"12:5: init_prompt_file 'prompts/also-missing.txt' "
        f"({tmp_path / 'prompts/also-missing.txt'}): file not found",
    ]


def test_schema_errors_and_prompt_file_problems_of_several_files_are_reported_together(
        tmp_path: Path) -> None:
    one = _write(tmp_path, "one.yaml", HEAD + "agents:\n  a:\n    tts_type: nope\n")
    two = _write(tmp_path, "two.yaml", "version: 1\nagents:\n  b:\n"
                 "    init_prompt_file: /etc/passwd\n")
    with pytest.raises(ConfigError) as info:
        config.load([one, two], ENV)
    lines = info.value.lines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{one}:7:5: agents.a.tts_type: 'nope'")
    assert lines[1].startswith(f"{two}:4:5: init_prompt_file '/etc/passwd' (/etc/passwd): it is "
                               "outside")


def test_a_missing_variable_is_not_also_a_schema_or_model_error(tmp_path: Path) -> None:
    text = ("version: 1\nagents:\n  a:\n    engine_model: ${env:MODEL}\n"
            "    tool_names: ['${env:TOOL}']\n    rag_id: ${env:RAG}\n")
    lines = _problems(tmp_path, text, env={})
    assert [line.split(": ", 1)[1] for line in lines] == [
        f"agents.a.{field}: environment variable {var} is not set (set it, or write "
        f"${{env:{var}:-default}})"
        for field, var in [("engine_model", "MODEL"), ("tool_names[0]", "TOOL"), ("rag_id", "RAG")]
    ]
    path = _write(tmp_path, "agents.yaml", text)
    state = config.load([path], {}, missing_env_ok=True)  # the pre-commit hook's way
    assert len(state.warnings) == 3


def test_a_missing_variable_does_not_hide_the_checks_of_merged_agents(tmp_path: Path) -> None:
    lines = _problems(tmp_path, (
        "version: 1\ndefaults:\n  engine_key: ${env:VOIPBIN_IAC_TEST_UNSET}\n"
        "agents:\n  a:\n    type: insight\n    tool_names: [send_email]\n"
    ), env={})
    assert [line.split(": ", 2)[1] for line in lines] == [
        "defaults.engine_key", "agents.a", "agents.a.tool_names[0]"]
    assert "engine_model is required" in lines[1]
