"""The executor: carries out a `Plan` through the API, change by change.

Creates first (agents, then the teams that use them), then updates and adopts, deletes last
(teams before the agents they used); the changes of a phase are independent and run
concurrently: each passes the adaptive gate (`api.concurrency`: about rate x latency in flight,
fewer after a 429, never more than `--concurrency`), and the client's token bucket paces them.
Each change succeeds or fails on its own. A create whose outcome is unknown (the request went
out, no answer came back) is never blindly repeated: after the create phase the executor
re-lists that kind once and binds the resource such a create made (see
`recovery.match_created`); only where there is none does it create again, and a create still
unknown after the last round stays `unknown` (the apply log keeps it for the next run). Every
write is announced in the apply log before it is sent; if the log cannot be written, no new
change starts. A stop event (Ctrl-C, a lost lease) lets the writes in flight finish and skips
the rest.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..api.concurrency import AdaptiveConcurrency
from ..api.protocol import AiApi
from ..core.clock import Clock
from ..core.kinds import BY_NAME, KINDS, Kind, Refs
from ..core.model import (
    Change,
    DesiredResource,
    DesiredState,
    LiveResource,
    Manifest,
    Outcome,
    Plan,
)
from ..errors import IacError, OutcomeUnknownError, PlanError
from ..state.applylog import ApplyLog, Pending
from .recovery import CLOCK_SKEW, match_created, pending_for

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ExecOptions:
    concurrency: int = 4  # writes in flight at most (the gate's ceiling without a `limiter`)
    create_rounds: int = 3  # tries for a create whose outcome stays unknown
    clock_skew: float = CLOCK_SKEW
    # The adaptive gate the client reports its answers to; None: `concurrency` at all times.
    limiter: AdaptiveConcurrency | None = None


class Executor:
    """Runs the changes of one plan; see the module docstring."""

    def __init__(self, api: AiApi, desired: DesiredState, manifest: Manifest, *,
                 clock: Clock, applylog: ApplyLog | None = None,
                 stop: threading.Event | None = None, progress: Progress | None = None,
                 options: ExecOptions | None = None, taken: frozenset[str] = frozenset(),
                 logger: logging.Logger | None = None) -> None:
        self.api = api
        self.desired = desired
        self.manifest = manifest
        self.clock = clock
        self.applylog = applylog or ApplyLog(None)
        self.stop = stop or threading.Event()
        self.progress = progress
        self.options = options or ExecOptions()
        self.gate = self.options.limiter or AdaptiveConcurrency(
            None, max(1, self.options.concurrency), clock=clock)
        self.taken = taken  # ids other manifests own: never bound to an unknown create
        self.log = logger or logging.getLogger("voipbin_iac.run")
        self._done = 0
        self._total = 0
        self._lock = threading.Lock()
        self.started = clock.time()
        self.completed: list[Outcome] = []  # as they finish, for an apply cut short
        self.pending: dict[str, Pending] = {}  # creates still unknown, by key
        self.stop_reason = ""
        self._ids: dict[str, str] = {}
        self._members = {k: e.members for k, e in manifest.teams.items()}

    # -- entry point -----------------------------------------------------------------------

    def run(self, plan: Plan, live: Mapping[str, LiveResource]) -> list[Outcome]:
        """Execute `plan`; `live` holds the resources the plan saw (by id)."""
        self._ids = dict(plan.bindings)
        self._total = len(plan.changes)
        if self.progress is not None:
            self.progress(0, self._total)
        outcomes: list[Outcome] = []
        for kind in KINDS:
            creates = [c for c in plan.changes if c.action == "create" and c.kind == kind.name]
            outcomes += self._creates(kind, creates, plan)
        for kind in KINDS:
            middle = [c for c in plan.changes
                      if c.action in ("update", "adopt") and c.kind == kind.name]
            outcomes += self._phase(middle, lambda c: self._update(c, live.get(c.id or "")))
        for kind in reversed(KINDS):
            deletes = [c for c in plan.changes if c.action == "delete" and c.kind == kind.name]
            outcomes += self._phase(deletes, self._delete)
        if plan.changes:
            self.log.info("apply: %s", self.gate.describe())
        return outcomes

    # -- phases ----------------------------------------------------------------------------

    def _halted(self) -> str:
        if self.applylog.failure and not self.stop_reason:
            self.stop_reason = f"{self.applylog.failure}; no new change was started"
            self.stop.set()
        if self.stop.is_set():
            return self.stop_reason or "interrupted before it started"
        return ""

    def _phase(self, changes: Sequence[Change],
               work: Callable[[Change], Outcome]) -> list[Outcome]:
        if not changes:
            return []

        def guarded(change: Change) -> Outcome:
            with self.gate.slot():  # waits while the adaptive limit is in flight
                halted = self._halted()
                if halted:
                    return Outcome(change, "skipped", change.id, halted)
                try:
                    outcome = work(change)
                except IacError as exc:
                    reason = f"{exc.message}; {exc.hint}" if exc.hint else exc.message
                    outcome = Outcome(change, "failed", change.id, reason)
            self._tick(outcome)
            return outcome

        workers = max(1, min(self.gate.ceiling, len(changes)))
        if workers == 1:
            return [guarded(c) for c in changes]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apply") as pool:
            return list(pool.map(guarded, changes))

    def _tick(self, outcome: Outcome) -> None:
        with self._lock:
            self.completed.append(outcome)
            self._done += 1
            done = self._done
        if self.progress is not None:
            self.progress(done, self._total)

    def _creates(self, kind: Kind, creates: list[Change], plan: Plan) -> list[Outcome]:
        results: dict[str, Outcome] = {}
        pending = creates
        for round_no in range(1, self.options.create_rounds + 1):
            outcomes = self._phase(pending, self._create)
            unknown = [o.change for o in outcomes if o.status == "unknown"]
            results.update({o.change.key: o for o in outcomes})
            if not unknown or self.stop.is_set():
                break
            self.log.warning("%d %s create(s) had an unknown outcome; re-listing to find out",
                             len(unknown), kind.name)
            try:
                found = self._find_created(kind, unknown, plan, results)
            except IacError as exc:
                for change in unknown:
                    results[change.key] = Outcome(change, "unknown", None, "no answer, and the "
                                                  f"re-list failed: {exc.message}")
                break
            for change in unknown:
                live = found.get(change.key)
                if live is None:
                    continue
                self._bind(change.key, live.id)
                self.pending.pop(change.key, None)
                self.applylog.outcome("create", kind.name, change.key, change.name, "done",
                                      live.id, "found after an unknown outcome",
                                      protect=self._desired(change).protect)
                results[change.key] = Outcome(change, "done", live.id,
                                              "found after an unknown outcome", live)
                with self._lock:
                    self.completed.append(results[change.key])
            pending = [c for c in unknown if c.key not in found]
            if not pending:
                break
            if round_no == self.options.create_rounds:
                for change in pending:
                    results[change.key] = Outcome(
                        change, "unknown", None, f"no answer after {round_no} tries; the next "
                        "apply looks for what it made before creating again")
        return [results[c.key] for c in creates]

    # -- single changes --------------------------------------------------------------------

    def _desired(self, change: Change) -> DesiredResource:
        res = self.desired.get(change.key)
        if res is None or res.kind != change.kind:
            raise PlanError(f"{change.key}: not in the desired state any more")
        return res

    def _bind(self, key: str, resource_id: str) -> None:
        with self._lock:
            self._ids[key] = resource_id

    def _refs(self) -> Refs:
        with self._lock:
            return Refs(ids=dict(self._ids), members=self._members)

    def _create(self, change: Change) -> Outcome:
        res = self._desired(change)
        kind = BY_NAME[change.kind]
        body = kind.body(res, None, self._refs())
        waiting = pending_for(kind, change.key, change.name, body, res.protect)
        self.applylog.intent("create", kind.name, change.key, change.name,
                             content=waiting.content, loose=waiting.loose, protect=res.protect)
        if self.applylog.failure:  # unrecorded, a kill could not be recovered: do not send it
            return Outcome(change, "skipped", None, self._halted())
        try:
            live = self.api.create(kind, body)
        except OutcomeUnknownError as exc:
            self.pending[change.key] = waiting
            self.applylog.outcome("create", kind.name, change.key, change.name, "unknown",
                                  None, exc.cause)
            return Outcome(change, "unknown", None, exc.message)
        except IacError as exc:
            self.applylog.outcome("create", kind.name, change.key, change.name, "failed", None,
                                  exc.message)
            raise
        self.pending.pop(change.key, None)
        self._bind(change.key, live.id)
        self.applylog.outcome("create", kind.name, change.key, change.name, "done", live.id,
                              protect=res.protect)
        return Outcome(change, "done", live.id, "", live)

    def _update(self, change: Change, live: LiveResource | None) -> Outcome:
        res = self._desired(change)
        kind = BY_NAME[change.kind]
        if not change.fields:  # an adopt that only records ownership
            self.applylog.outcome(change.action, kind.name, change.key, change.name, "done",
                                  change.id, protect=res.protect)
            return Outcome(change, "done", change.id, "", live)
        body = kind.body(res, live, self._refs())
        self.applylog.intent(change.action, kind.name, change.key, change.name, change.id,
                             protect=res.protect)
        if self.applylog.failure:
            return Outcome(change, "skipped", change.id, self._halted())
        try:
            result = self.api.update(kind, change.id or "", body)
        except IacError as exc:
            self.applylog.outcome(change.action, kind.name, change.key, change.name, "failed",
                                  change.id, exc.message)
            raise
        if result.deleted:  # VoIPBin edits a deleted resource and answers 200 (part 2 §D7, §A4)
            reason = (f"{kind.a_noun} {change.id} was deleted outside voipbin-iac since the plan "
                      f"(at {result.tm_delete}); run apply again to re-create it")
            self.applylog.outcome(change.action, kind.name, change.key, change.name, "failed",
                                  change.id, reason)
            return Outcome(change, "failed", change.id, reason)
        self.applylog.outcome(change.action, kind.name, change.key, change.name, "done",
                              result.id, protect=res.protect)
        return Outcome(change, "done", result.id, "", result)

    def _delete(self, change: Change) -> Outcome:
        kind = BY_NAME[change.kind]
        self.applylog.intent("delete", kind.name, change.key, change.name, change.id)
        if self.applylog.failure:
            return Outcome(change, "skipped", change.id, self._halted())
        try:
            result = self.api.delete(kind, change.id or "")
        except IacError as exc:
            self.applylog.outcome("delete", kind.name, change.key, change.name, "failed",
                                  change.id, exc.message)
            raise
        self.applylog.outcome("delete", kind.name, change.key, change.name, "done", change.id)
        return Outcome(change, "done", change.id, "", result)

    # -- unknown outcomes -------------------------------------------------------------------

    def _find_created(self, kind: Kind, unknown: list[Change], plan: Plan,
                      results: Mapping[str, Outcome]) -> dict[str, LiveResource]:
        """The resources that unknown-outcome creates made, by key (one re-list for all)."""
        taken = self.manifest.ids() | set(plan.bindings.values()) | set(self.taken)
        taken |= {o.id for o in results.values() if o.id}
        wanted = [self.pending[c.key] for c in unknown if c.key in self.pending]
        return match_created(wanted, self.api.list(kind), taken,
                             self.started - self.options.clock_skew)

