"""Conversation tests as values: what a test says and expects, what happened, and the verdict.

Pure. `desired.tests` builds the specs from YAML, `run.convtest` runs them against VoIPBin's
text conversations and fills in the results, `core.testreport` renders them. `check_turn`
decides whether one answer meets its expectations, and says why not in words a person can act on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import Location

DEFAULT_REPLY_TIMEOUT_S = 35.0  # VoIPBin ends a text session 30 s after each message (§B2)
SILENCE_HINT = ("VoIPBin reports no error for a wrong `engine_key` or an unsupported vendor; "
                "check both")
PASSED, FAILED, ERROR = "passed", "failed", "error"


@dataclass(frozen=True)
class Expect:
    """What the answer to one turn must show. Empty: any reply passes."""

    reply_matches: re.Pattern[str] | None = None
    reply_not_matches: re.Pattern[str] | None = None
    reply_contains: tuple[str, ...] = ()
    reply_not_contains: tuple[str, ...] = ()
    tool_called: str | None = None
    arguments_match: Mapping[str, Any] = field(default_factory=dict)
    tool_not_called: str | None = None
    max_latency_s: float | None = None

    @property
    def needs_text(self) -> bool:
        """Whether the checks read the reply text (else a tool call alone answers the turn)."""
        return bool(self.reply_matches or self.reply_not_matches or self.reply_contains
                    or self.reply_not_contains or not self.tool_called)


@dataclass(frozen=True)
class Turn:
    say: str
    expect: Expect = Expect()
    location: Location = field(default_factory=lambda: Location("<memory>"))


@dataclass(frozen=True)
class AuditSpec:
    min_score: int
    language: str = ""


@dataclass(frozen=True)
class ConversationTest:
    """One test: a conversation with one agent (by key), turn after turn."""

    name: str
    agent: str
    turns: tuple[Turn, ...]
    reply_timeout_s: float = DEFAULT_REPLY_TIMEOUT_S
    audit: AuditSpec | None = None
    location: Location = field(default_factory=lambda: Location("<memory>"))


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: Any  # the decoded JSON arguments, or the raw text when it is not JSON

    def shown(self) -> str:
        text = json.dumps(self.arguments, ensure_ascii=False, sort_keys=True) \
            if not isinstance(self.arguments, str) else self.arguments
        return f"{self.name}({text})"


@dataclass(frozen=True)
class Answer:
    """What the agent did after one message: its text, its tool calls, how long it took."""

    text: str | None = None  # None: no text reply came
    tools: tuple[ToolCall, ...] = ()
    latency_s: float | None = None  # from the message to the first answer, server times


@dataclass(frozen=True)
class TurnResult:
    say: str
    answer: Answer
    failures: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuditResult:
    status: str  # completed | failed | timeout
    score: int | None = None
    min_score: int = 0
    summary: str = ""
    error: str = ""


@dataclass(frozen=True)
class TestResult:
    """How one test went. `status` is passed, failed (an expectation) or error (it could not
    run to the end: an API error, a lost conversation)."""

    name: str
    agent: str
    status: str
    turns: tuple[TurnResult, ...] = ()
    message: str = ""  # the first failure or the error, one line
    duration_s: float = 0.0
    aicall_id: str = ""
    audit: AuditResult | None = None
    location: str = ""

    __test__ = False  # not a pytest class


@dataclass(frozen=True)
class RunReport:
    """Every test's result, in the order the tests were given."""

    results: tuple[TestResult, ...]
    target: str = ""
    duration_s: float = 0.0
    warnings: tuple[str, ...] = ()

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def exit_code(self) -> int:
        """1 if a test could not run, else 3 if one failed, else 0."""
        if self.count(ERROR):
            return 1
        return 3 if self.count(FAILED) else 0


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def short(text: str, limit: int = 160) -> str:
    """One line, at most `limit` characters, no control characters (a reply cannot drive the
    terminal that shows it)."""
    line = _CONTROL.sub("\ufffd", " ".join(text.split()))
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _argument_matches(want: Any, have: Any) -> bool:
    if isinstance(want, str):
        text = have if isinstance(have, str) else json.dumps(have, ensure_ascii=False)
        return re.search(want, text) is not None
    return bool(want == have)


def check_turn(expect: Expect, answer: Answer, timeout_s: float) -> tuple[str, ...]:
    """Why `answer` does not meet `expect` (nothing: it does)."""
    if answer.text is None and not answer.tools:
        return (f"no reply in {timeout_s:g} s: {SILENCE_HINT}",)
    out: list[str] = []
    text = answer.text
    if text is None and expect.needs_text:
        called = ", ".join(t.name for t in answer.tools)
        out.append(f"no text reply in {timeout_s:g} s (the agent only called {called})")
        text = ""
    text = text or ""
    if expect.reply_matches and not expect.reply_matches.search(text):
        out.append(f"reply_matches {expect.reply_matches.pattern!r}: not found in the reply")
    if expect.reply_not_matches:
        found = expect.reply_not_matches.search(text)
        if found:
            out.append(f"reply_not_matches {expect.reply_not_matches.pattern!r}: found "
                       f"{short(found.group(0), 60)!r}")
    out += [f"reply_contains {want!r}: not in the reply"
            for want in expect.reply_contains if want not in text]
    out += [f"reply_not_contains {bad!r}: in the reply"
            for bad in expect.reply_not_contains if bad in text]
    names = [t.name for t in answer.tools]
    if expect.tool_called:
        calls = [t for t in answer.tools if t.name == expect.tool_called]
        if not calls:
            out.append(f"tool_called {expect.tool_called}: "
                       + (f"it called {', '.join(names)}" if names else "no tool was called"))
        elif expect.arguments_match and not any(
                isinstance(c.arguments, dict) and all(
                    k in c.arguments and _argument_matches(v, c.arguments[k])
                    for k, v in expect.arguments_match.items()) for c in calls):
            out.append(f"arguments_match: {expect.tool_called} was called with "
                       f"{short(calls[0].shown(), 120)}")
    if expect.tool_not_called and expect.tool_not_called in names:
        out.append(f"tool_not_called {expect.tool_not_called}: it was called")
    if expect.max_latency_s is not None and answer.latency_s is not None and \
            answer.latency_s > expect.max_latency_s:
        out.append(f"max_latency_s {expect.max_latency_s:g}: the reply took "
                   f"{answer.latency_s:.1f} s")
    return tuple(out)
