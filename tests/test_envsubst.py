"""envsubst: `${env:NAME}`, `${env:NAME:-default}` and the `$${env:NAME}` escape."""

from __future__ import annotations

import pytest

from voipbin_iac.desired import envsubst
from voipbin_iac.desired.yamlsrc import parse
from voipbin_iac.errors import Location

ENV = {"HOME_DIR": "/home/bot", "EMPTY": "", "KEY": "sk-envsubst-secret-31337", "N": "5"}


@pytest.mark.parametrize(("text", "expanded"), [
    ("${env:HOME_DIR}", "/home/bot"),
    ("dir=${env:HOME_DIR}/x", "dir=/home/bot/x"),
    ("${env:HOME_DIR}${env:N}", "/home/bot5"),
    ("${env:EMPTY}", ""),
    ("${env:EMPTY:-fallback}", ""),  # set but empty is set: no default
    ("${env:UNSET:-fallback}", "fallback"),
    ("${env:UNSET:-}", ""),
    ("${env:UNSET:-a b:c-d}", "a b:c-d"),
    ("${env:HOME_DIR:-unused}", "/home/bot"),
    ("$${env:HOME_DIR}", "${env:HOME_DIR}"),
    ("$${env:UNSET}", "${env:UNSET}"),
    ("cost: $5 and ${name} and {{var}}", "cost: $5 and ${name} and {{var}}"),
    ("${ENV:HOME_DIR}", "${ENV:HOME_DIR}"),  # only the lower-case `env:` prefix is ours
    ("no references", "no references"),
])
def test_expand_text(text: str, expanded: str) -> None:
    assert envsubst.expand_text(text, ENV)[:2] == (expanded, [])


def test_expand_text_reports_missing_names_in_order() -> None:
    text, missing, _ = envsubst.expand_text("${env:B}-${env:A}-${env:HOME_DIR}", ENV)
    assert text == "--/home/bot"
    assert missing == ["B", "A"]


def test_environment_values_are_never_expanded_again() -> None:
    env = {"OUTER": "${env:INNER}", "INNER": "boom"}
    assert envsubst.expand_text("${env:OUTER}", env) == ("${env:INNER}", [], True)


@pytest.mark.parametrize(("text", "expected"), [
    ("${env:KEY}", True), ("prefix-${env:KEY}", True), ("${env:UNSET:-x}", True),
    ("$${env:KEY}", False), ("sk-literal", False), ("${KEY}", False), ("", False),
])
def test_has_reference(text: str, expected: bool) -> None:
    assert envsubst.has_reference(text) is expected


def test_expand_document_walks_every_string_and_keeps_other_values() -> None:
    doc = parse(
        "version: 1\n"
        "agents:\n"
        "  bot:\n"
        "    engine_key: ${env:KEY}\n"
        "    tool_names: [a, '${env:N}']\n"
        "    protect: true\n"
        "    parameter: {depth: {home: '${env:HOME_DIR}', n: 3}}\n"
        "    ${env:N}: key names are not expanded\n",
        "f.yaml",
    )
    result = envsubst.expand(doc, ENV)
    data, problems = result.data, result.problems
    assert problems == []
    assert data == {
        "version": 1,
        "agents": {"bot": {
            "engine_key": "sk-envsubst-secret-31337",
            "tool_names": ["a", "5"],
            "protect": True,
            "parameter": {"depth": {"home": "/home/bot", "n": 3}},
            "${env:N}": "key names are not expanded",
        }},
    }
    assert doc.data["agents"]["bot"]["engine_key"] == "${env:KEY}"  # the input is not changed


def test_an_environment_value_is_text_not_yaml() -> None:
    doc = parse("a: ${env:V}\n", "f.yaml")
    data = envsubst.expand(doc, {"V": "[1, 2]\nb: true"}).data
    assert data == {"a": "[1, 2]\nb: true"}


def test_missing_variable_names_variable_and_place() -> None:
    doc = parse("version: 1\ndefaults:\n  engine_key: ${env:OPENAI_API_KEY}\n", "dir/a.yaml")
    result = envsubst.expand(doc, {})
    data, problems = result.data, result.problems
    assert data["defaults"]["engine_key"] == ""
    assert [str(p) for p in problems] == [
        "dir/a.yaml:3:3: defaults.engine_key: environment variable OPENAI_API_KEY is not set "
        "(set it, or write ${env:OPENAI_API_KEY:-default})"
    ]
    assert problems[0].severity == "error"


def test_every_missing_variable_is_reported() -> None:
    doc = parse("a: ${env:ONE}/${env:TWO}\nb:\n  - ${env:THREE}\n", "f.yaml")
    problems = envsubst.expand(doc, {}).problems
    assert [(p.location.line, p.location.column, p.message.split(":")[0]) for p in problems] == [
        (1, 1, "a"), (1, 1, "a"), (3, 5, "b[0]"),
    ]
    assert ["ONE" in problems[0].message, "TWO" in problems[1].message] == [True, True]
    assert "variable THREE is not set" in problems[2].message


@pytest.mark.parametrize("reference", ["${env:BAD-NAME}", "${env:}", "${env:1ST}", "${env:A B}"])
def test_invalid_references(reference: str) -> None:
    doc = parse(f"agents:\n  bot:\n    detail: 'x {reference}'\n", "f.yaml")
    problems = envsubst.expand(doc, ENV).problems
    assert [str(p) for p in problems] == [
        f"f.yaml:3:5: agents.bot.detail: '{reference}' is not a valid reference: "
        "use ${env:NAME} or ${env:NAME:-default} (write $${env: for the literal text)"
    ]


def test_invalid_reference_in_engine_key_is_not_quoted() -> None:
    doc = parse("agents:\n  bot:\n    engine_key: ${env:sk-pasted-the-key-here-9}\n", "f.yaml")
    problems = envsubst.expand(doc, ENV).problems
    assert len(problems) == 1
    assert problems[0].location == Location("f.yaml", 3, 5)
    assert "not a valid reference" in problems[0].message
    assert "sk-pasted-the-key-here-9" not in str(problems[0])


def test_aliased_containers_are_expanded_once_and_stay_shared() -> None:
    doc = parse("a: &a {x: '${env:N}'}\nb: *a\nc: [*a, *a]\n", "f.yaml")
    result = envsubst.expand(doc, ENV)
    data, problems = result.data, result.problems
    assert problems == []
    assert data == {"a": {"x": "5"}, "b": {"x": "5"}, "c": [{"x": "5"}, {"x": "5"}]}
    assert data["b"] is data["a"] and data["c"][1] is data["a"]


def test_alias_bomb_of_missing_variables_is_reported_once_per_place() -> None:
    lines = ["s: &s '${env:MISSING}'", "l0: &l0 [" + ", ".join(["*s"] * 9) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 6)]
    doc = parse("\n".join(lines) + "\n", "f.yaml")  # ~600,000 strings once expanded
    problems = envsubst.expand(doc, {}).problems
    # Once for the anchor, once for each of the nine aliases of it; never once per copy.
    assert len(problems) == 10
    assert {p.location.line for p in problems} == {1, 2}


def test_values_from_the_environment_are_reported_for_redaction() -> None:
    doc = parse("a: ${env:A}\nb: ${env:MISSING:-fallback}\nc: plain\n", "f.yaml")
    result = envsubst.expand(doc, {"A": "sk-from-env"})
    data, problems, from_env = result.data, result.problems, result.from_env
    assert data == {"a": "sk-from-env", "b": "fallback", "c": "plain"} and problems == []
    assert from_env == frozenset({"sk-from-env"})


def test_missing_variables_can_be_warnings() -> None:
    doc = parse("a: x${env:NOPE}y\n", "f.yaml")
    result = envsubst.expand(doc, {}, missing_ok=True)
    data, problems = result.data, result.problems
    assert data == {"a": "xy"}
    assert [p.severity for p in problems] == ["warning"] and "NOPE" in problems[0].message


# -- escapes and nesting (issue: `$${env:X}` refused, nested defaults taken literally) -------


@pytest.mark.parametrize(("text", "expanded"), [
    ("$${env:bad-name}", "${env:bad-name}"),  # an escape is literal whatever follows it
    ("$${env:}", "${env:}"),
    ("$${env:A:-${x}}", "${env:A:-${x}}"),
    ("$${env:", "${env:"),  # even unclosed
    ("$$${env:HOME_DIR}", "$${env:HOME_DIR}"),  # `$` then an escape (how export writes `$${`)
    ("$$$${env:N}", "$$${env:N}"),
    ("$ ${env:N}", "$ 5"),
    ("${env:UNSET:-${env:HOME_DIR}}", "/home/bot"),
    ("${env:N:-${env:HOME_DIR}}", "5"),  # the default is not used
    ("${env:UNSET:-${env:ALSO_UNSET:-deep}}", "deep"),
    ("${env:UNSET:-a ${env:N} b}", "a 5 b"),
    ("${env:UNSET:-$${env:N}}", "${env:N}"),
    ("${env:UNSET:-{braces\\}", "{braces\\"),  # the first `}` ends a default
    ("x ${env:UNSET:-} y", "x  y"),
])
def test_escapes_and_nested_defaults(text: str, expanded: str) -> None:
    assert envsubst.expand_text(text, ENV)[:2] == (expanded, [])


def test_a_reference_in_an_unused_default_is_never_looked_up() -> None:
    assert envsubst.expand_text("${env:N:-${env:MISSING}}", ENV) == ("5", [], True)
    assert envsubst.expand_text("${env:UNSET:-${env:MISSING}}", ENV) == ("", ["MISSING"], False)


@pytest.mark.parametrize("text", [
    "plain", "${env:KEY}", "$${env:KEY}", "${env:bad-name} and ${env:", "${env:A:-${env:B}}",
    "$$${env:X}", "cost $5 ${name} {{x}} $", "${env:A:-x", "}}}${env:}",
])
def test_text_escaped_as_export_does_reads_back_unchanged(text: str) -> None:
    """`export` writes every `${env:` of a live value as `$${env:`: reading that back must give
    the live text exactly, with nothing taken from the environment and no problem."""
    doc = parse(f"a: {json_quote(text.replace('${env:', '$${env:'))}\n", "f.yaml")
    result = envsubst.expand(doc, ENV)
    assert result.problems == []
    assert result.data == {"a": text}
    assert result.env_values == frozenset()


def json_quote(text: str) -> str:
    import json

    return json.dumps(text)


@pytest.mark.parametrize(("text", "message"), [
    ("${env:A", "'${env:A' is not closed: end it with `}`"),
    ("x ${env:A:-default", "'${env:A:-default' is not closed"),
    ("${env:A:-${env:B}", "'${env:A:-${env:B}' is not closed"),
    ("${env:A:x}", "'${env:A:x}' is not a valid reference"),
    ("${env:" + "A:-${env:" * 9 + "B" + "}" * 10, "nested more than 8 deep"),
])
def test_malformed_references_are_errors(text: str, message: str) -> None:
    doc = parse(f"agents:\n  bot:\n    detail: {json_quote(text)}\n", "f.yaml")
    result = envsubst.expand(doc, ENV)
    assert len(result.problems) == 1, result.problems
    problem = result.problems[0]
    assert (problem.location.line, problem.location.column) == (3, 5)
    assert problem.message.startswith("agents.bot.detail: ") and message in problem.message
    assert problem.severity == "error"
    assert ("agents", "bot", "detail") in result.unresolved


def test_deep_nesting_does_not_overflow_the_stack() -> None:
    text = "${env:A:-" * 100_000 + "x" + "}" * 100_000
    _, _, used = envsubst.expand_text(text, {})
    assert used is False  # refused cleanly (reported by `expand`), no RecursionError


def test_env_values_are_the_values_substituted_not_the_defaults() -> None:
    doc = parse("a: ${env:A}\nb: '${env:MISSING:-fallback} ${env:B}'\nc: ${env:N:-${env:C}}\n"
                "d: $${env:D}\n", "f.yaml")
    env = {"A": "sk-a-value", "B": "b-value", "N": "n-value", "C": "never-used", "D": "d"}
    result = envsubst.expand(doc, env)
    assert result.env_values == frozenset({"sk-a-value", "b-value", "n-value"})
    assert result.from_env == frozenset({"sk-a-value", "fallback b-value", "n-value"})


def test_unresolved_paths_follow_aliases() -> None:
    doc = parse("a: &x {k: '${env:MISSING}', ok: fine}\nb: *x\nc: [*x]\n", "f.yaml")
    result = envsubst.expand(doc, {}, missing_ok=True)
    assert ("a", "k") in result.unresolved
    assert ("b", "k") in result.unresolved and ("c", 0, "k") in result.unresolved
    assert ("a", "ok") not in result.unresolved and ("b", "ok") not in result.unresolved


def test_takes_env_and_has_reference() -> None:
    assert envsubst.takes_env("Hello ${env:N}", ENV)
    assert not envsubst.takes_env("Hello ${env:UNSET:-you}", ENV)  # only the default
    assert not envsubst.takes_env("$${env:N}", ENV)
    assert envsubst.has_reference("${env:UNSET:-you}")
