"""`validate` is true to the platform: the limits and rules VoIPBin applies (or silently breaks
on) are checked offline, with defaults merged, at the place in the file that causes them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from voipbin_iac.cli import app as cli
from voipbin_iac.core import catalog
from voipbin_iac.core.catalog import PROMPT_MAX_BYTES
from voipbin_iac.core.model import Manifest, ManifestEntry
from voipbin_iac.desired import config
from voipbin_iac.errors import ConfigError, ManifestError
from voipbin_iac.state import manifest as manifests

SECRET = "sk-platform-rules-secret-77"
ENV = {"OPENAI_API_KEY": SECRET}
HEAD = ("version: 1\ndefaults:\n  engine_model: openai.gpt-5-mini\n"
        "  engine_key: ${env:OPENAI_API_KEY}\n")


def _path(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agents.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _errors(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    path = _path(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config.load([path], ENV if env is None else env)
    lines = info.value.lines()
    assert all(SECRET not in line for line in lines)
    return [line.replace(f"{path}:", "", 1) for line in lines]


def _warnings(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    path = _path(tmp_path, text)
    state = config.load([path], ENV if env is None else env)
    return [w.replace(f"{path}:", "", 1) for w in state.warnings]


# -- tool names by AI type (part 2 §D1) -----------------------------------------------------


def test_every_tool_of_its_type_and_all_are_accepted(tmp_path: Path) -> None:
    normal = ", ".join(("all", *catalog.NORMAL_TOOL_NAMES))
    insight = ", ".join(("all", *catalog.INSIGHT_TOOL_NAMES))
    assert _warnings(tmp_path, HEAD + f"agents:\n  n:\n    tool_names: [{normal}]\n"
                     f"  i:\n    type: insight\n    tool_names: [{insight}]\n") == []


def test_a_tool_of_the_other_type_is_an_error_at_the_tool(tmp_path: Path) -> None:
    lines = _errors(tmp_path, HEAD + (
        "agents:\n  analyst:\n    type: insight\n"
        "    tool_names: [all, get_case_notes, connect_call]\n"
        "  voice:\n    tool_names: [connect_call, get_related_cases]\n"
    ))
    assert lines == [
        "8:39: agents.analyst.tool_names[2]: 'connect_call' is a tool of normal AIs, and this "
        "agent is type insight (VoIPBin answers 400 INVALID_TOOL_NAMES); a insight AI may use "
        "only: all, get_contact_interactions, get_conversation_content, get_related_cases, "
        "get_case_notes",
        "10:32: agents.voice.tool_names[1]: 'get_related_cases' is a tool of insight AIs, and "
        "this agent is type normal (VoIPBin answers 400 INVALID_TOOL_NAMES); a normal AI may use "
        "only: all, connect_call, create_call, get_variables, get_aicall_messages, send_email, "
        "send_message, set_variables, stop_flow, stop_media, stop_service, search_knowledge, "
        "get_correlation, get_resource, describe_action, case_create",
    ]


def test_the_type_and_the_tools_are_checked_after_defaults_are_merged(tmp_path: Path) -> None:
    lines = _errors(tmp_path, HEAD + (
        "  tool_names: [send_email]\n"
        "agents:\n"
        + "".join(f"  insight-{i}:\n    type: insight\n" for i in range(5))
        + "  fine: {}\n  own-tools:\n    type: insight\n    tool_names: [get_case_notes]\n"
    ))
    assert lines == [
        "5:16: defaults.tool_names[0]: 'send_email' is a tool of normal AIs, and agents.insight-0,"
        " agents.insight-1, agents.insight-2 and 2 more are type insight (VoIPBin answers 400 "
        "INVALID_TOOL_NAMES); a insight AI may use only: all, get_contact_interactions, "
        "get_conversation_content, get_related_cases, get_case_notes"
    ]
    lines = _errors(tmp_path,
                    HEAD + "  type: insight\nagents:\n  a:\n    tool_names: [stop_flow]\n")
    assert lines[0].startswith("8:18: agents.a.tool_names[0]: 'stop_flow' is a tool of normal "
                               "AIs, and this agent is type insight")


# -- vendors (part 2 §B3, §D9) --------------------------------------------------------------


@pytest.mark.parametrize("vendor", sorted(catalog.ENGINE_VENDORS - catalog.RUNNABLE_VENDORS))
def test_an_accepted_vendor_that_never_replies_is_a_warning(tmp_path: Path, vendor: str) -> None:
    warnings = _warnings(tmp_path, HEAD + f"agents:\n  a:\n    engine_model: {vendor}.model-x\n")
    assert warnings == [
        f"7:5: agents.a.engine_model: '{vendor}.model-x': VoIPBin accepts the vendor {vendor}, "
        "but its runner implements only gemini, grok, openai: such an AI is created and never "
        "replies (silently, no error anywhere); use a model of one of those vendors"
    ]


def test_a_model_from_the_environment_is_warned_about_without_naming_it(tmp_path: Path) -> None:
    warnings = _warnings(tmp_path, HEAD + "agents:\n  a:\n    engine_model: ${env:MODEL}\n",
                         env={**ENV, "MODEL": "mistral.secret-deployment-7"})
    assert warnings == [
        "7:5: agents.a.engine_model: the value from ${env:...}: VoIPBin accepts its vendor, but "
        "its runner implements only gemini, grok, openai: such an AI is created and never "
        "replies (silently, no error anywhere); use a model of one of those vendors"
    ]


def test_a_default_model_that_never_replies_is_warned_once(tmp_path: Path) -> None:
    warnings = _warnings(tmp_path, HEAD.replace("openai.gpt-5-mini", "anthropic.claude-x")
                         + "agents:\n  a: {}\n  b: {}\n")
    assert len(warnings) == 1 and warnings[0].startswith("3:3: defaults.engine_model: ")


@pytest.mark.parametrize(("model", "hint"), [
    ("opneai.gpt-5", " (did you mean 'openai.gpt-5'?)"),
    ("OpenAI.gpt-5", " (did you mean 'openai.gpt-5'?)"),
    ("gemeni.gemini-2.5-pro", " (did you mean 'gemini.gemini-2.5-pro'?)"),
    ("gpt-5-mini", " (did you mean 'openai.gpt-5-mini'?)"),
    ("dialogflow.cx", ""),
])
def test_an_unknown_vendor_is_an_error_with_a_suggestion(tmp_path: Path, model: str,
                                                        hint: str) -> None:
    lines = _errors(tmp_path, HEAD + f"agents:\n  a:\n    engine_model: {model}\n")
    assert lines == [
        f"7:5: agents.a.engine_model: '{model}' must be `<vendor>.<model>` with a vendor VoIPBin "
        "supports (for example `openai.gpt-5-mini`); VoIPBin answers 500 to anything else" + hint
    ]


def test_no_suggestion_is_derived_from_a_value_from_the_environment(tmp_path: Path) -> None:
    lines = _errors(tmp_path, HEAD + "agents:\n  a:\n    engine_model: ${env:MODEL}\n",
                    env={**ENV, "MODEL": "opneai.secret-model-name"})
    assert lines == ["7:5: agents.a.engine_model: the value from ${env:...} must be "
                     "`<vendor>.<model>` with a vendor VoIPBin supports (for example "
                     "`openai.gpt-5-mini`); VoIPBin answers 500 to anything else"]


# -- values the platform silently drops: `$` in patterns is the end of the text ---------------


@pytest.mark.parametrize("text", [
    "agents:\n  a:\n    rag_id: |\n      3F2504E0-4F89-11D3-9A0C-0305E82C3301\n",
    "agents:\n  a:\n    rag_id: \"3F2504E0-4F89-11D3-9A0C-0305E82C3301\\n\"\n",
    "agents:\n  a:\n    rag_id: kb-1234\n",
    "agents:\n  a:\n    stt_language: \"en-US\\n\"\n",
    "agents:\n  \"a\\n\": {}\n",
    "agents:\n  a: {}\nmoved:\n  old: \"a\\n\"\n",
])
def test_a_value_with_a_trailing_newline_does_not_pass_a_pattern(tmp_path: Path,
                                                                 text: str) -> None:
    lines = _errors(tmp_path, HEAD + text)
    assert len(lines) == 1 and ("must be" in lines[0] or "is not allowed" in lines[0]), lines
    assert "\n" not in lines[0]  # shown escaped: one line


def test_a_uuid_and_the_nil_uuid_pass(tmp_path: Path) -> None:
    state = config.load([_path(tmp_path, HEAD + (
        "agents:\n  a:\n    rag_id: 3F2504E0-4F89-11D3-9A0C-0305E82C3301\n"
        f"  b:\n    rag_id: '{catalog.ZERO_UUID}'\n  c:\n    rag_id: ''\n"))], ENV)
    assert [a.fields["rag_id"] for a in state.agents.values()] == [
        "3f2504e0-4f89-11d3-9a0c-0305e82c3301", None, None]


# -- the prompt's size (part 2 §D5) ---------------------------------------------------------


def test_an_inline_prompt_at_the_limit_passes_and_one_byte_more_is_an_error(
        tmp_path: Path) -> None:
    fits = "€" * (PROMPT_MAX_BYTES // 3)  # 3 bytes each: 65,535 bytes, 21,845 characters
    assert len(fits.encode()) == PROMPT_MAX_BYTES
    _warnings(tmp_path, HEAD + f"agents:\n  a:\n    init_prompt: '{fits}'\n")
    lines = _errors(tmp_path, HEAD + f"agents:\n  a:\n    init_prompt: '{fits}x'\n")
    assert lines == [
        "7:5: agents.a.init_prompt: 65,536 bytes of UTF-8, over VoIPBin's limit of 65,535 bytes "
        "for init_prompt (a MySQL TEXT column: a longer prompt fails at apply with 500 INTERNAL)"
    ]


def test_a_prompt_over_the_limit_after_expansion_is_an_error_that_hides_the_value(
        tmp_path: Path) -> None:
    big = "sk-canary-" + "p" * PROMPT_MAX_BYTES
    lines = _errors(tmp_path, HEAD + "  init_prompt: 'Intro: ${env:BIG}'\nagents:\n  a: {}\n"
                    "  b: {}\n", env={**ENV, "BIG": big})
    assert lines == [
        f"5:3: defaults.init_prompt: {len(big) + 7:,} bytes of UTF-8, over VoIPBin's limit of "
        "65,535 bytes for init_prompt (a MySQL TEXT column: a longer prompt fails at apply with "
        "500 INTERNAL) (after ${env:...} expansion)"
    ]


# -- names and keys: invisible characters, variables in `manifest --format env` -------------


def test_invisible_characters_in_names_and_parameter_keys_are_warnings(tmp_path: Path) -> None:
    warnings = _warnings(tmp_path, HEAD + (
        "  parameter: {\"zero\\u200bwidth\": 1}\n"
        "agents:\n  a:\n    name: \"Support\\u202eBot\"\n"
        "  b:\n    name: ${env:NAME}\n    parameter: {ok: {\"\\x1b[2J\": x}}\n"
    ), env={**ENV, "NAME": "env\u2066name"})
    assert warnings == [
        "5:15: defaults.parameter.zero\\u200bwidth: the key holds invisible or control "
        "characters (\\u200b): a reviewer sees something other than what VoIPBin stores; "
        "remove them",
        "8:5: agents.a.name: 'Support\\u202eBot' holds invisible or control characters "
        "(\\u202e): a reviewer sees something other than what VoIPBin stores; remove them",
        "10:5: agents.b.name: the value from ${env:...} holds invisible or control characters "
        "(\\u2066): a reviewer sees something other than what VoIPBin stores; remove them",
        "11:22: agents.b.parameter.ok.\\x1b[2J: the key holds invisible or control characters "
        "(\\x1b): a reviewer sees something other than what VoIPBin stores; remove them",
    ]
    assert all("\u202e" not in w and "\x1b" not in w for w in warnings)


def test_an_unknown_field_with_an_invisible_character_is_shown_escaped(tmp_path: Path) -> None:
    lines = _errors(tmp_path, HEAD + "agents:\n  a:\n    \"init_prompt\\u200b\": x\n")
    assert lines == ["7:5: agents.a.init_prompt\\u200b: unknown field (did you mean "
                     "'init_prompt'?)"]


def test_keys_that_become_one_env_variable_are_a_warning(tmp_path: Path) -> None:
    warnings = _warnings(tmp_path, HEAD + (
        "agents:\n  a-b: {}\n  a_b: {}\n  a.b:\n    name: other\n  A-B:\n    name: third\n"
        "  c: {}\n"))
    assert [w.split(":")[0] for w in warnings if "VOIPBIN_SIP_URI_A_B" in w] == ["7", "8", "10"]
    assert warnings[0] == (
        "7:3: agents.a_b: becomes VOIPBIN_SIP_URI_A_B in `manifest --format env`, like "
        "agents.a-b; that format will refuse both: rename one (`moved:` keeps its AI)")


def test_manifest_env_format_refuses_colliding_keys() -> None:
    def entry(n: int) -> ManifestEntry:
        return ManifestEntry(id=f"id-{n}", name=f"n{n}", direct_hash=f"direct.00000000000{n}")

    fine = Manifest({"agent": {"a-b": entry(1), "c": entry(2)}})
    assert manifests.render(fine, "env") == (
        "VOIPBIN_SIP_URI_A_B=sip:direct.000000000001@sip.voipbin.net\n"
        "VOIPBIN_SIP_URI_C=sip:direct.000000000002@sip.voipbin.net\n")
    clash = Manifest({"agent": {"a-b": entry(1), "a_b": entry(2), "a.b": entry(3), "x": entry(4),
                                "X": entry(5)}})
    with pytest.raises(ManifestError) as info:
        manifests.render(clash, "env")
    assert info.value.message == (
        "keys 'a-b', 'a.b', 'a_b' all become VOIPBIN_SIP_URI_A_B in --format env (and 1 more "
        "such names): one SIP URI would hide the other")
    assert "moved:" in (info.value.hint or "")
    assert "a_b" in manifests.render(clash, "json")  # the other formats carry every key


# -- overlays: validate an environment, not a fragment ----------------------------------------


def _validate(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["validate", *argv], stdout=out, stderr=err, env=env or {})
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def envs(tmp_path: Path) -> Path:
    (tmp_path / "base.yaml").write_text(
        "version: 1\ndefaults:\n  engine_model: openai.gpt-5-mini\n"
        "  engine_key: ${env:OPENAI_API_KEY}\nagents:\n  bot: {}\n")
    (tmp_path / "prod.yaml").write_text(  # incomplete alone: its agent's model is in the base
        "version: 1\nagents:\n  escalation:\n    name: Escalation\n  bot:\n"
        "    engine_model: openai.gpt-5\n")
    (tmp_path / "dev.yaml").write_text("version: 1\nagents:\n  dev-only: {}\n")
    return tmp_path


def test_each_overlay_is_validated_over_the_base_beside_it(envs: Path) -> None:
    base, prod, dev = (str(envs / f) for f in ("base.yaml", "prod.yaml", "dev.yaml"))
    code, out, err = _validate("--each", "--allow-missing-env", base, prod, dev)
    assert code == 0, err
    assert out == f"ok: {base}, {prod}: 2 agents, 1 warning\nok: {base}, {dev}: 2 agents, " \
                  "1 warning\n"
    assert err.count("OPENAI_API_KEY is not set") == 1  # the base's warning once


def test_an_explicit_base_and_a_base_alone(envs: Path) -> None:
    (envs / "envs").mkdir()
    moved = envs / "envs" / "prod.yaml"
    (envs / "prod.yaml").rename(moved)
    base, key = str(envs / "base.yaml"), {"OPENAI_API_KEY": "k"}
    code, _, err = _validate("--each", str(moved), env=key)  # no base beside it: the old bug
    assert code == 1 and f"{moved}:3:3: agents.escalation: engine_model is required" in err
    code, out, _ = _validate("--each", "--base", base, base, str(moved), env=key)
    assert (code, out) == (0, f"ok: {base}, {moved}: 2 agents, 0 warnings\n")
    code, out, _ = _validate("--each", base, env=key)  # only the base changed
    assert (code, out) == (0, f"ok: {base}: 1 agent, 0 warnings\n")


def test_without_each_the_bases_come_first(envs: Path) -> None:
    code, out, _ = _validate("--base", str(envs / "base.yaml"), str(envs / "prod.yaml"),
                             env={"OPENAI_API_KEY": "k"})
    assert (code, out) == (0, f"ok: {envs / 'base.yaml'}, {envs / 'prod.yaml'}: 2 agents, "
                              "0 warnings\n")


def test_the_pre_commit_hook_checks_overlays_over_their_base(envs: Path) -> None:
    """The issue: the hook said `prod.yaml:3:3: engine_model is required` for the README's own
    layout. The hook's command, as pre-commit runs it, on what pre-commit passes."""
    import yaml

    root = Path(__file__).resolve().parent.parent
    (hook,) = yaml.safe_load((root / ".pre-commit-hooks.yaml").read_text())
    argv = hook["entry"].split()[2:]  # after `voipbin-iac validate`
    base, prod, dev = (str(envs / f) for f in ("base.yaml", "prod.yaml", "dev.yaml"))
    for changed in ([base, prod], [prod], [dev, prod], [base]):
        code, out, err = _validate(*argv, *changed)
        assert code == 0, (changed, err)
        assert out.count("ok: ") == len([f for f in changed if f != base]) or changed == [base]
    # the README's recipe for a base that is incomplete alone: every environment, each time
    (envs / "base.yaml").write_text(
        "version: 1\ndefaults:\n  engine_key: ${env:OPENAI_API_KEY}\nagents:\n  bot: {}\n")
    (envs / "dev.yaml").write_text("version: 1\ndefaults:\n  engine_model: openai.gpt-5-mini\n")
    (envs / "prod.yaml").write_text("version: 1\ndefaults:\n  engine_model: openai.gpt-5\n")
    code, out, err = _validate(*argv, dev, prod)
    assert code == 0, err
    assert out == f"ok: {base}, {dev}: 1 agent, 1 warning\nok: {base}, {prod}: 1 agent, " \
                  "1 warning\n"
