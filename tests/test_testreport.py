"""The conversation-test reports: text, JSON, JUnit XML a JUnit parser reads, and Markdown that
stays under the pull-request comment limit and inert whatever the agents say (pure renderers)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from voipbin_iac.core import testreport
from voipbin_iac.core.conversation import (
    ERROR,
    FAILED,
    PASSED,
    Answer,
    AuditResult,
    RunReport,
    TestResult,
    ToolCall,
    TurnResult,
)

HOSTILE = ("![pixel](https://evil.example/p.png) @octocat #1 </details> <script>x</script> "
           "| cell | `code` **bold** [link](https://evil.example) \x00\x01\x1b[31m ]]> &amp; "
           "\ud7ff\ufffe line\nbreak")


def result(name: str, status: str, reply: str = "fine", turns: int = 1) -> TestResult:
    failures = () if status == PASSED else ("reply_matches 'x': not found in the reply",)
    turn = TurnResult("hello " + reply, Answer(reply, (ToolCall("connect_call", {"to": reply}),),
                                               1.5), failures)
    return TestResult(name, "support", status, (turn,) * turns,
                      "" if status == PASSED else (failures[0] if status == FAILED
                                                   else "could not start: " + reply),
                      2.0, "9b1d7c4e-0000-4000-8000-000000000000",
                      AuditResult("completed", 4, 3, "ok") if status == PASSED else None)


def report(*results: TestResult) -> RunReport:
    return RunReport(results, "the emulator", 12.5, ("agent 'x' differs from the file",))


def test_text_shows_each_turn_reply_latency_and_the_summary() -> None:
    out = testreport.text(report(result("a", PASSED), result("b", FAILED, "x" * 500),
                                 result("c", ERROR)))
    assert "PASS  a (support, 2.0 s)" in out and "FAIL  b" in out and "ERROR c" in out
    assert '< connect_call({"to": "fine"}) "fine" (1.5 s)' in out
    assert "x reply_matches 'x': not found in the reply" in out
    assert "! could not start: fine" in out
    assert "audit: score 4 (min 3): ok" in out
    assert max(len(line) for line in out.splitlines()) < 300  # replies are shortened
    assert out.endswith("Tests: 1 passed, 1 failed, 1 errors (3 tests, 12.5 s).\n")


def test_json_is_complete_and_stable() -> None:
    data = json.loads(testreport.json_text(report(result("a", PASSED), result("b", ERROR))))
    assert data["format_version"] == 1
    assert data["summary"] == {"tests": 2, "passed": 1, "failed": 0, "errors": 1,
                               "duration_s": 12.5}
    turn = data["tests"][0]["turns"][0]
    assert turn == {"say": "hello fine", "reply": "fine", "latency_s": 1.5, "failures": [],
                    "tool_calls": [{"name": "connect_call", "arguments": {"to": "fine"}}]}
    assert data["tests"][0]["audit"]["score"] == 4


def test_junit_parses_with_hostile_replies() -> None:
    """JUnit XML a parser reads back, even when replies hold characters XML 1.0 forbids."""
    text = testreport.junit(report(result("ok", PASSED, HOSTILE), result("bad", FAILED, HOSTILE),
                                   result("broken", ERROR, HOSTILE)))
    root = ET.fromstring(text.encode())
    suite = root.find("testsuite")
    assert suite is not None
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == \
        {"tests": "3", "failures": "1", "errors": "1", "skipped": "0"}
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["ok"].find("failure") is None and cases["ok"].get("time") == "2.000"
    failure = cases["bad"].find("failure")
    assert failure is not None and "reply_matches" in (failure.get("message") or "")
    error = cases["broken"].find("error")
    assert error is not None and "could not start" in (error.get("message") or "")
    out = cases["ok"].findtext("system-out") or ""
    assert "</details>" in out and "\x00" not in out  # kept as text, invalid chars replaced


def test_markdown_is_inert_and_under_the_limit() -> None:
    md = testreport.markdown(report(result("bad", FAILED, HOSTILE), result("ok", PASSED)))
    assert md.startswith("### voipbin-iac test: 1 passed, 1 failed, 0 errors (2 tests")
    assert "![" not in md and "](" not in md.replace("\\](", "")  # no image, no link
    assert "@octocat" not in md and "<script>" not in md and "#1 " not in md
    assert md.count("</details>") == 2  # only the report's own blocks
    assert "\x00" not in md
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert all(len(re.findall(r"(?<!\\)\|", row)) == 6 for row in rows)  # no cell broken


def test_markdown_of_a_huge_run_fits_a_pull_request_comment() -> None:
    many = [result(f"test-{i}", FAILED if i % 3 else PASSED, "y" * 3000, turns=50)
            for i in range(3000)]
    md = testreport.markdown(report(*many))
    assert len(md) <= testreport.MARKDOWN_LIMIT
    assert "Not shown here" in md and "passed tests not listed" in md
    assert md.count("<details>") == md.count("</details>") >= 1
    small = testreport.markdown(report(result("a", PASSED)))
    assert "Not shown here" not in small and "<details>" in small
