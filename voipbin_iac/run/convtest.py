"""The conversation-test runner: each test a text conversation with its agent (part 2 §B).

`resolve` maps each tested agent key to its AI through the manifest (an agent not applied yet is
an error that says to apply first) and warns when the live AI differs from the file. `run` then
runs the tests, up to `concurrency` at once, each one: open a conversation, send the turns in
order, never inside the platform's 3-s send cooldown (which would be a bare 500), poll the
messages (newest first) until the assistant's text or tool call appears or the reply timeout
passes, check the expectations, terminate the conversation, and have VoIPBin's judge audit it
when the test asks. All waiting goes through the injected clock; all requests through the
client, whose token bucket keeps the whole run within the rate limit.

A send whose answer is lost (a dropped connection, a 500) is looked up in the conversation
before it is sent again, so a message is never said twice.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from ..api.client import VoipbinClient
from ..api.conversations import Conversations, Message
from ..core.clock import Clock
from ..core.conversation import (
    ERROR,
    FAILED,
    PASSED,
    Answer,
    AuditResult,
    ConversationTest,
    RunReport,
    TestResult,
    ToolCall,
    Turn,
    TurnResult,
    check_turn,
)
from ..core.kinds import Refs
from ..core.kinds.agent import AGENT_KIND, echoes_engine_key
from ..core.model import DesiredResource, LiveResource, Manifest, ManifestEntry
from ..errors import ApiError, IacError, NotFoundError, RateLimitedError, ServerError, UsageError

COOLDOWN_S = 3.0  # the platform's send cooldown (part 2 §B2)
AUDIT_LIMIT = 10  # audits a customer may have running (part 2 §B4)
ATTEMPTS = 4  # tries of a POST whose answer was lost (each settled by looking first)
Done = Callable[[TestResult], None]


@dataclass(frozen=True)
class RunOptions:
    concurrency: int = 4
    cooldown_margin_s: float = 0.5  # beyond the 3 s: clock differences and transit
    polls_s: tuple[float, ...] = (0.5, 0.5, 1.0, 1.0, 1.0, 2.0)  # then the last, repeated
    audit_timeout_s: float = 300.0
    audit_poll_s: float = 3.0


def _drift(agent: DesiredResource, live: LiveResource, entry: ManifestEntry,
           echoes: bool) -> list[str]:
    """The fields in which the live AI differs from the file: the planner's own comparison
    (the one place this module calls it)."""
    changes = AGENT_KIND.diff(agent, live, entry, Refs(), echoes=echoes)
    return sorted({c.field.split(".")[0].split("[")[0] for c in changes})


def resolve(client: VoipbinClient, tests: Sequence[ConversationTest],
            agents: Mapping[str, DesiredResource], manifest: Manifest,
            manifest_path: Path) -> tuple[dict[str, str], list[str]]:
    """`{agent key: AI id}` for the tested agents, and warnings about drift."""
    keys = sorted({t.agent for t in tests})
    missing = [k for k in keys if k not in manifest.agents]
    if missing:
        raise UsageError(f"not applied yet (no id in {manifest_path}): {', '.join(missing)}",
                         hint="run `voipbin-iac apply` first (with the same files and "
                              "--manifest, if any)")
    lives: dict[str, LiveResource] = {}
    for key in keys:
        entry = manifest.agents[key]
        try:
            live = client.get(AGENT_KIND, entry.id)
        except NotFoundError:
            live = None
        if live is None or live.tm_delete is not None:
            raise UsageError(f"agent '{key}': its AI {entry.id} no longer exists",
                             hint="run `voipbin-iac apply` to create it again")
        lives[key] = live
    echoes = echoes_engine_key(lives.values())
    warnings = []
    for key, live in lives.items():
        fields = _drift(agents[key], live, manifest.agents[key], echoes)
        if fields:
            warnings.append(f"agent '{key}' differs from the file in {', '.join(fields)}: the "
                            "tests talk to the live AI; apply first to test the file's version")
    return {key: manifest.agents[key].id for key in keys}, warnings


def run(client: VoipbinClient, tests: Sequence[ConversationTest], ids: Mapping[str, str], *,
        clock: Clock, options: RunOptions | None = None, done: Done | None = None,
        target: str = "", stop: threading.Event | None = None) -> RunReport:
    """Run `tests` (agent keys resolved in `ids`); results in the order of `tests`. When `stop`
    is set, each test ends its conversation at the next step and reports an error."""
    options = options or RunOptions()
    runner = _Runner(Conversations(client), clock, options, threading.Semaphore(AUDIT_LIMIT),
                     stop or threading.Event())
    started = clock.monotonic()

    def one(test: ConversationTest) -> TestResult:
        result = runner.test(test, ids[test.agent])
        if done is not None:
            done(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, options.concurrency)) as pool:
        results = tuple(pool.map(one, tests))
    return RunReport(results, target, clock.monotonic() - started)


class _Failed(Exception):
    """A test cannot go on (an API error mid-conversation)."""


@dataclass
class _Runner:
    api: Conversations
    clock: Clock
    options: RunOptions
    audit_slots: threading.Semaphore
    stop: threading.Event

    def _pause(self, seconds: float) -> None:
        if self.stop.is_set():
            raise _Failed("interrupted")
        self.clock.sleep(seconds)

    def _wait_until(self, moment: float) -> None:
        while (left := moment - self.clock.monotonic()) > 0:
            self._pause(left)

    def test(self, test: ConversationTest, ai_id: str) -> TestResult:
        started = self.clock.monotonic()
        base = TestResult(test.name, test.agent, PASSED, location=str(test.location))
        if self.stop.is_set():
            return replace(base, status=ERROR, message="interrupted before it started")
        try:
            call = self._start(ai_id)
        except IacError as exc:
            return replace(base, status=ERROR, message=f"could not start the conversation: "
                                                       f"{exc.message}")
        base = replace(base, aicall_id=call["id"])
        turns: list[TurnResult] = []
        error = ""
        try:
            ready = self.clock.monotonic() + self._cooldown()
            last: Message | None = None
            for turn in test.turns:
                self._wait_until(ready)
                last = self._send(call["id"], turn.say, last)
                ready = self.clock.monotonic() + self._cooldown()
                answer = self._answer(call["id"], last, turn, test.reply_timeout_s)
                turns.append(TurnResult(turn.say, answer,
                                        check_turn(turn.expect, answer, test.reply_timeout_s)))
                if answer.text is None and not answer.tools:
                    break  # silence: the next turns would only wait out their timeouts too
        except (_Failed, IacError) as exc:
            error = str(exc) if isinstance(exc, _Failed) else exc.message
        ended = self._terminate(call["id"])
        failures = [f for t in turns for f in t.failures]
        result = replace(base, turns=tuple(turns))
        if error:
            result = replace(result, status=ERROR, message=error)
        elif failures:
            result = replace(result, status=FAILED, message=failures[0])
        elif not ended:
            result = replace(result, status=ERROR, message="could not terminate the "
                                                           "conversation")
        if test.audit is not None and result.status == PASSED:
            result = self._audit(result, test)
        return replace(result, duration_s=self.clock.monotonic() - started)

    def _cooldown(self) -> float:
        return COOLDOWN_S + self.options.cooldown_margin_s

    def _start(self, ai_id: str) -> dict:
        """Open the conversation. A lost or failed create is tried again: at worst an idle
        conversation is left behind (no LLM runs until a message is sent)."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return self.api.start(ai_id)
            except IacError as exc:
                if not _maybe_done(exc) or attempt == ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _send(self, aicall_id: str, text: str, last: Message | None) -> Message:
        """Send `text`; if the answer is lost, find it in the conversation or send once more."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return self.api.send(aicall_id, text)
            except IacError as exc:
                if not _maybe_done(exc) or attempt == ATTEMPTS:
                    raise _Failed(f"could not send turn {text!r}: {exc.message}") from None
            stored = self._find_sent(aicall_id, text, last)
            if stored is not None:
                return stored
            self._wait_until(self.clock.monotonic() + self._cooldown())
        raise AssertionError("unreachable")

    def _find_sent(self, aicall_id: str, text: str, last: Message | None) -> Message | None:
        newer = self.api.newest(aicall_id, last.id if last else None)
        return next((m for m in newer if m.role == "user" and m.content == text), None)

    def _answer(self, aicall_id: str, mine: Message, turn: Turn, timeout: float) -> Answer:
        """Poll until the assistant's text (or, when only a tool is expected, a tool call)."""
        deadline = self.clock.monotonic() + timeout
        polls = list(self.options.polls_s)
        while True:
            pause = polls.pop(0) if len(polls) > 1 else polls[0]
            self._pause(max(0.0, min(pause, deadline - self.clock.monotonic())))
            newer = self.api.newest(aicall_id, mine.id)[::-1]  # oldest first
            said = [m for m in newer if m.role == "assistant"]
            texts = [m for m in said if m.content and not m.tool_calls]
            tools = tuple(_tool(c) for m in said for c in m.tool_calls)
            if texts or (tools and not turn.expect.needs_text) or \
                    self.clock.monotonic() >= deadline:
                first = said[0].created if said else None
                sent = mine.created
                latency = first - sent if first is not None and sent is not None else None
                text = "\n".join(m.content for m in texts) if texts else None
                return Answer(text, tools, latency)

    def _terminate(self, aicall_id: str) -> bool:
        """End the conversation (idempotent, so a failure is simply tried again)."""
        for _ in range(ATTEMPTS):
            try:
                self.api.terminate(aicall_id)
                return True
            except IacError:
                continue
        return False

    def _audit(self, result: TestResult, test: ConversationTest) -> TestResult:
        spec = test.audit
        assert spec is not None
        deadline = self.clock.monotonic() + self.options.audit_timeout_s
        try:
            with self.audit_slots:
                audit = self._audit_started(result.aicall_id, spec.language, deadline)
                while audit.get("status") == "progressing" and \
                        self.clock.monotonic() < deadline:
                    self._pause(self.options.audit_poll_s)
                    audit = self.api.get_audit(audit["id"])
        except _Failed as exc:
            return replace(result, status=ERROR, message=f"audit: {exc}")
        except IacError as exc:
            return replace(result, status=ERROR, message=f"audit: {exc.message}")
        return _judged(result, audit, spec.min_score)

    def _audit_started(self, aicall_id: str, language: str, deadline: float) -> dict:
        """POST /aiaudits, waiting while 10 of the account's audits run (429, §B4). An answer
        lost (or a 409: this conversation's audit already runs) is settled by looking."""
        while True:
            try:
                return self.api.audit(aicall_id, language)[0]
            except RateLimitedError:  # after the client's own retries
                if self.clock.monotonic() >= deadline:
                    raise _Failed("VoIPBin kept refusing it: 10 audits of this account are "
                                  "running") from None
                self._pause(self.options.audit_poll_s)
            except IacError as exc:
                running = isinstance(exc, ApiError) and exc.status == 409
                if not (running or _maybe_done(exc)) or self.clock.monotonic() >= deadline:
                    raise
                found = self.api.audits_of(aicall_id)
                if found:
                    return found[0]
                self._pause(self.options.audit_poll_s)


def _judged(result: TestResult, audit: dict, min_score: int) -> TestResult:
    status = str(audit.get("status", ""))
    score = audit.get("overall_score")
    evaluation = audit.get("evaluation") if isinstance(audit.get("evaluation"), dict) else {}
    summary = str(evaluation.get("summary", ""))
    if status == "completed" and isinstance(score, int):
        outcome = AuditResult(status, score, min_score, summary)
        if score >= min_score:
            return replace(result, audit=outcome)
        return replace(result, audit=outcome, status=FAILED,
                       message=f"audit: score {score} is below min_score {min_score}")
    reason = str(audit.get("error") or "")
    if status == "progressing":
        return replace(result, audit=AuditResult("timeout", min_score=min_score),
                       status=ERROR, message="audit: no verdict in time")
    hint = {"prompt_snapshot_has_no_history_id": " (the agent has no init_prompt; VoIPBin "
            "audits only agents with a prompt)"}.get(reason, "")
    return replace(result, audit=AuditResult(status or "failed", None, min_score, "", reason),
                   status=ERROR, message=f"audit failed: {reason or 'no reason given'}{hint}")


def _tool(call: dict) -> ToolCall:
    function = call.get("function") if isinstance(call.get("function"), dict) else {}
    raw = function.get("arguments", "")
    try:
        arguments = json.loads(raw) if isinstance(raw, str) and raw else {}
    except ValueError:
        arguments = raw
    return ToolCall(str(function.get("name", "")), arguments)


def _maybe_done(exc: IacError) -> bool:
    """Whether a failed POST may have happened anyway, or was refused before anything (the
    send cooldown's bare 500): both are settled by looking, then trying once more."""
    if isinstance(exc, ServerError):
        return exc.status == 500
    return not isinstance(exc, ApiError)  # no answer at all (TransportError and kin)
