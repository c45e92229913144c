"""Conversation-test results as text, JSON, JUnit XML and Markdown. Pure.

Text is for people at a terminal: each turn with the reply shortened and its latency. JSON is
stable (`format_version: 1`) for machines. JUnit XML (standard library `ElementTree`, with the
characters XML 1.0 cannot carry removed) is for CI test reports. Markdown is for a pull-request
comment: always under `MARKDOWN_LIMIT` characters whatever the replies hold, with text from the
agent escaped so it can neither format the comment, load an image nor mention anyone.
None of them redacts: the caller passes every rendering through its redactor.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from .conversation import ERROR, FAILED, PASSED, RunReport, TestResult, TurnResult, short

MARKDOWN_LIMIT = 60_000  # GitHub comments take 65,536; leave room for what CI adds
_WORD = {PASSED: "PASS", FAILED: "FAIL", ERROR: "ERROR"}
_ICON = {PASSED: "✅", FAILED: "❌", ERROR: "⚠️"}
_XML_BAD = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]|~])")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "@": "&#64;", "#": "&#35;"}
_KEYLIKE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,80}$")


def summary(report: RunReport) -> str:
    """`2 passed, 1 failed, 0 errors (3 tests, 24.0 s)`."""
    total = len(report.results)
    return (f"{report.count(PASSED)} passed, {report.count(FAILED)} failed, "
            f"{report.count(ERROR)} errors ({total} test{'s' if total != 1 else ''}, "
            f"{report.duration_s:.1f} s)")


def _answer_line(turn: TurnResult, limit: int) -> str:
    parts = [short(t.shown(), limit // 2) for t in turn.answer.tools[:5]]
    if len(turn.answer.tools) > 5:
        parts.append(f"(+{len(turn.answer.tools) - 5} tool calls)")
    if turn.answer.text is not None:
        parts.append(json.dumps(short(turn.answer.text, limit), ensure_ascii=False))
    if not parts:
        return "(no reply)"
    latency = turn.answer.latency_s
    return " ".join(parts) + (f" ({latency:.1f} s)" if latency is not None else "")


def text(report: RunReport) -> str:
    """The report for a terminal: every test, every turn, the failures under the turn."""
    count = len(report.results)
    lines = [f"voipbin-iac test: {count} test{'s' if count != 1 else ''} against "
             f"{report.target}", ""]
    for r in report.results:
        lines.append(f"{_WORD[r.status]:<5} {r.name} ({r.agent}, {r.duration_s:.1f} s)")
        for i, turn in enumerate(r.turns, 1):
            lines.append(f"      {i}> {short(turn.say, 100)}")
            lines.append(f"       < {_answer_line(turn, 160)}")
            lines += [f"       x {f}" for f in turn.failures]
        if r.audit is not None and r.audit.score is not None:
            lines.append(f"      audit: score {r.audit.score} (min {r.audit.min_score})"
                         + (f": {short(r.audit.summary, 120)}" if r.audit.summary else ""))
        if r.status == ERROR or (r.status == FAILED and not any(t.failures for t in r.turns)):
            lines.append(f"      ! {r.message}")
    lines += ["", f"Tests: {summary(report)}."]
    return "\n".join(lines) + "\n"


def _result_data(r: TestResult) -> dict[str, Any]:
    audit = None if r.audit is None else {
        "status": r.audit.status, "score": r.audit.score, "min_score": r.audit.min_score,
        "summary": r.audit.summary, "error": r.audit.error}
    return {
        "name": r.name, "agent": r.agent, "status": r.status, "message": r.message,
        "duration_s": round(r.duration_s, 3), "aicall_id": r.aicall_id, "location": r.location,
        "turns": [{"say": t.say, "reply": t.answer.text,
                   "tool_calls": [{"name": c.name, "arguments": c.arguments}
                                  for c in t.answer.tools],
                   "latency_s": None if t.answer.latency_s is None else round(
                       t.answer.latency_s, 3),
                   "failures": list(t.failures)} for t in r.turns],
        "audit": audit,
    }


def json_text(report: RunReport) -> str:
    data = {"format_version": 1, "target": report.target,
            "summary": {"tests": len(report.results), "passed": report.count(PASSED),
                        "failed": report.count(FAILED), "errors": report.count(ERROR),
                        "duration_s": round(report.duration_s, 3)},
            "warnings": list(report.warnings),
            "tests": [_result_data(r) for r in report.results]}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _xml(value: str) -> str:
    return _XML_BAD.sub("\ufffd", value)


def _transcript(r: TestResult) -> str:
    lines = []
    for i, t in enumerate(r.turns, 1):
        lines.append(f"{i}> {t.say}")
        lines.append(f"{i}< " + (t.answer.text if t.answer.text is not None else "(no text)"))
        lines += [f"   tool {c.shown()}" for c in t.answer.tools]
        lines += [f"   x {f}" for f in t.failures]
    return "\n".join(lines)


def junit(report: RunReport) -> str:
    """JUnit XML: one `testsuite`, one `testcase` per test, `failure`/`error` with reasons."""
    attrs = {"tests": str(len(report.results)), "failures": str(report.count(FAILED)),
             "errors": str(report.count(ERROR)), "time": f"{report.duration_s:.3f}"}
    root = ET.Element("testsuites", {"name": "voipbin-iac test", **attrs})
    suite = ET.SubElement(root, "testsuite", {"name": "voipbin-iac conversation tests",
                                              **attrs, "skipped": "0"})
    for r in report.results:
        case = ET.SubElement(suite, "testcase", {
            "name": _xml(r.name), "classname": _xml(f"voipbin-iac.{r.agent}"),
            "time": f"{r.duration_s:.3f}"})
        if r.status != PASSED:
            kind = "failure" if r.status == FAILED else "error"
            node = ET.SubElement(case, kind, {"message": _xml(short(r.message, 500)),
                                              "type": kind})
            reasons = [f for t in r.turns for f in t.failures] or [r.message]
            node.text = _xml("\n".join(reasons))
        out = ET.SubElement(case, "system-out")
        out.text = _xml(_transcript(r) + (f"\naicall {r.aicall_id}" if r.aicall_id else ""))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _md(value: str, limit: int = 200) -> str:
    """Agent or user text made inert in Markdown: one line, no emphasis, link, image, HTML,
    mention or issue reference."""
    line = re.sub("[&<>@#]", lambda m: _ENTITIES[m.group(0)], short(value, limit))
    return _MD_SPECIAL.sub(r"\\\1", line)


def _name(value: str) -> str:
    """A test name or agent key: as code when it looks like one (no markup inside)."""
    return f"`{value}`" if _KEYLIKE.match(value) else _md(value, 80)


def _details(r: TestResult, budget: int = 6_000) -> list[str]:
    """One test's collapsible block, its turns cut to fit `budget` characters."""
    name, agent = (re.sub("[&<>@#]", lambda m: _ENTITIES[m.group(0)], short(x, 80))
                   for x in (r.name, r.agent))  # HTML: Markdown escapes would show
    lines = [f"<details><summary>{_ICON[r.status]} {name} ({agent})</summary>", ""]
    if r.status == ERROR:
        lines.append(f"- ⚠️ {_md(r.message, 300)}")
    if r.audit is not None and r.audit.score is not None:
        lines.append(f"- audit score {r.audit.score} (min {r.audit.min_score})")
    size = sum(len(x) + 1 for x in lines)
    for i, t in enumerate(r.turns, 1):
        turn = [f"{i}. **user:** {_md(t.say)}  ", f"   **agent:** {_md(_answer_line(t, 200), 300)}",
                *(f"   - ❌ {_md(f, 300)}" for f in t.failures[:5])]
        cost = sum(len(x) + 1 for x in turn)
        if size + cost > budget:
            lines.append(f"- … {len(r.turns) - i + 1} more turns (see the JUnit or JSON report)")
            break
        lines += turn
        size += cost
    return [*lines, "", "</details>", ""]


def markdown(report: RunReport, limit: int = MARKDOWN_LIMIT) -> str:
    """A pull-request comment: the summary, a table, then details, failures first, cut to fit
    `limit` with a note of what was left out."""
    head = [f"### voipbin-iac test: {summary(report)}", ""]
    if report.warnings:
        head += [f"> ⚠️ {_md(w, 300)}" for w in report.warnings[:20]] + [""]
    rows = ["| | test | agent | result | time |", "|---|---|---|---|---|"]
    for r in report.results:
        outcome = r.status if r.status == PASSED else f"{r.status}: {_md(r.message, 120)}"
        rows.append(f"| {_ICON[r.status]} | {_name(r.name)} | {_name(r.agent)} | {outcome} "
                    f"| {r.duration_s:.1f} s |")
    budget = limit - 400  # room for the closing notes
    out = head
    unlisted = 0
    if sum(len(x) + 1 for x in head + rows) > budget // 2:
        rows = rows[:2] + [row for row, r in zip(rows[2:], report.results, strict=True)
                           if r.status != PASSED]
        unlisted = report.count(PASSED)
    left_out = 0
    for row in rows:
        if sum(len(x) + 1 for x in out) + len(row) + 1 > budget // 2:
            left_out += 1
            continue
        out.append(row)
    if unlisted:
        out.append(f"\n_{unlisted} passed tests not listed._")
    out.append("")
    ordered = sorted(report.results, key=lambda r: r.status == PASSED)
    shown = 0
    size = sum(len(x) + 1 for x in out)
    for r in ordered:
        block = _details(r)
        cost = sum(len(x) + 1 for x in block)
        if size + cost > budget:
            break
        out += block
        size += cost
        shown += 1
    if left_out or shown < len(ordered):
        out.append(f"_Not shown here: {left_out} table rows, {len(ordered) - shown} test "
                   "details (the comment limit). The full report: `--format junit` or "
                   "`--format json`._")
    text_out = "\n".join(out) + "\n"
    return text_out if len(text_out) <= limit else text_out[: limit - 2] + "\n"
