"""Long prompts in plans: shown around their change, never whole (issue #12, item 8).

A prompt may be 64 KB on one line or thousands of lines; the text and Markdown plans (a CI log,
a pull-request comment) show a window around the change and count the rest, while the JSON
plan keeps the whole value.
"""

from __future__ import annotations

import json

from voipbin_iac.core import render, textdiff
from voipbin_iac.core.model import Change, FieldChange, Plan

from .conftest import MODEL, Stack


def test_a_short_value_is_shown_whole() -> None:
    assert textdiff.value_text("hello") == '"hello"'
    assert textdiff.value_text(None) == "(none)"
    assert textdiff.value_text({"a": 1}) == '{"a": 1}'


def test_a_long_line_shows_the_window_around_its_change() -> None:
    old = "x" * 30_000 + "OLD-WORDING" + "y" * 30_000
    new = "x" * 30_000 + "NEW-WORDING" + "y" * 30_000
    shown_old, shown_new = textdiff.value_text(old, new), textdiff.value_text(new, old)
    assert "OLD-WORDING" in shown_old and "NEW-WORDING" in shown_new
    for shown in (shown_old, shown_new):
        assert len(shown) < textdiff.LINE_CHARS + 40
        assert shown.startswith('"…') and shown.endswith('…" (60,011 characters)')


def test_a_long_line_changed_at_its_start_or_end_keeps_the_window_inside_it() -> None:
    start = textdiff.value_text("A" + "z" * 500, "B" + "z" * 500)
    assert start.startswith('"Az') and start.endswith('…" (501 characters)')
    end = textdiff.value_text("z" * 500 + "A", "z" * 500 + "B")
    assert end.startswith('"…z') and end.endswith('zA" (501 characters)')
    assert len(json.loads(end.split(" (")[0])) == textdiff.LINE_CHARS + 1


def test_a_long_multi_line_prompt_is_a_clipped_diff() -> None:
    old = "\n".join(f"rule {i}: be kind" for i in range(2_000))
    new = old.replace("rule 1000: be kind", "rule 1000: be brief")
    lines = textdiff.line_diff(old, new)
    assert lines == ["  rule 999: be kind", "- rule 1000: be kind", "+ rule 1000: be brief",
                     "  rule 1001: be kind"]


def test_a_created_prompt_of_many_lines_shows_its_first_lines_and_counts_the_rest() -> None:
    new = "\n".join(f"line {i}" for i in range(500))
    lines = textdiff.line_diff(None, new)
    assert len(lines) == textdiff.DIFF_LINES + 1
    assert lines[0] == "+ line 0"
    assert lines[-1] == "  ... (460 more lines; `--format json` shows the whole text)"


def test_a_long_line_inside_a_multi_line_diff_is_clipped_around_its_change() -> None:
    body = "w" * 5_000
    lines = textdiff.line_diff(f"first\n{body}CHANGE-A{body}", f"first\n{body}CHANGE-B{body}")
    assert [line[:2] for line in lines] == ["  ", "- ", "+ "]
    assert "CHANGE-A" in lines[1] and "CHANGE-B" in lines[2]
    assert all(len(line) < textdiff.LINE_CHARS + 10 for line in lines)


def test_a_large_structured_value_is_clipped_around_its_change() -> None:
    old = {f"k{i:04d}": "v" for i in range(500)}
    new = {**old, "k0400": "changed"}
    shown = textdiff.value_text(new, old)
    assert '"k0400": "changed"' in shown
    assert len(shown) < textdiff.JSON_CHARS + 40 and shown.endswith(" characters)")


def _plan_with(old: str, new: str) -> Plan:
    field = FieldChange("init_prompt", old, new, "behaviour")
    change = Change("update", "bot", "Bot", "11111111-1111-1111-1111-111111111111",
                    (field,), "behaviour")
    return Plan(changes=(change,))


def test_text_and_markdown_plans_stay_small_and_json_keeps_the_whole_value() -> None:
    old = "p" * 60_000 + "before" + "q" * 4_000
    new = "p" * 60_000 + "after" + "q" * 4_000
    plan = _plan_with(old, new)
    for shown in (render.text(plan), render.markdown(plan)):
        assert len(shown) < 2_000
        assert "before" in shown and "after" in shown
    whole = render.json_text(plan)
    assert old in whole and new in whole


def test_a_plan_of_a_long_prompt_file_shows_a_window(stack: Stack) -> None:
    prompt = stack.write("prompt.txt", "Be helpful. " * 4_000 + "Never say no.")
    path = stack.write("agents.yaml", f"version: 1\nagents:\n  bot:\n    engine_model: {MODEL}\n"
                                      f"    init_prompt_file: {prompt.name}\n")
    first = stack.cli("plan", str(path), "--emulator", "--emulator-state",
                      stack.path("e.sqlite3"))
    assert first.code == 0, first.err
    assert len(first.out) < 3_000 and "(48,013 characters)" in first.out
