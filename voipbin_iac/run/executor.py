"""The executor: carries out a `Plan` through the client, change by change.

Creates first, then updates and adopts, deletes last; the changes of a phase are independent and
run with bounded concurrency (the client's token bucket paces them). Each change succeeds or
fails on its own. A create whose outcome is unknown (the connection dropped after the request
went out) is never blindly repeated: after the create phase the executor re-lists once and adopts
the AI such a create made (same name and content, created after the apply began, owned by
nobody); only where there is none does it create again. Every write is announced in the apply
log before it is sent. A stop event (Ctrl-C) lets the writes in flight finish and skips the rest.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..api.client import VoipbinClient
from ..core.clock import Clock
from ..core.fields import request_body
from ..core.model import Change, DesiredAgent, DesiredState, LiveAgent, Manifest, Outcome, Plan
from ..core.writes import CLOCK_SKEW, match_created, request_fields
from ..errors import IacError, OutcomeUnknownError, PlanError
from ..state.applylog import Journal

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ExecOptions:
    concurrency: int = 4
    create_rounds: int = 3  # tries for a create whose outcome stays unknown
    clock_skew: float = CLOCK_SKEW


class Executor:
    """Runs the changes of one plan; see the module docstring."""

    def __init__(self, client: VoipbinClient, desired: DesiredState, manifest: Manifest, *,
                 clock: Clock, journal: Journal | None = None,
                 stop: threading.Event | None = None, progress: Progress | None = None,
                 options: ExecOptions | None = None,
                 logger: logging.Logger | None = None) -> None:
        self.client = client
        self.desired = desired
        self.manifest = manifest
        self.clock = clock
        self.journal = journal or Journal(None)
        self.stop = stop or threading.Event()
        self.progress = progress
        self.options = options or ExecOptions()
        self.log = logger or logging.getLogger("voipbin_iac.run")
        self._done = 0
        self._total = 0
        self._count_lock = threading.Lock()
        self.started = clock.time()
        self.completed: list[Outcome] = []  # as they finish, for an apply cut short

    # -- entry point -----------------------------------------------------------------------

    def run(self, plan: Plan, live: Mapping[str, LiveAgent]) -> list[Outcome]:
        """Execute `plan`; `live` holds the objects the plan saw (by id)."""
        changes = list(plan.changes)
        self._total = len(changes)
        if self.progress is not None:
            self.progress(0, self._total)
        outcomes: list[Outcome] = []
        creates = [c for c in changes if c.action == "create"]
        outcomes += self._creates(creates, plan)
        middle = [c for c in changes if c.action in ("update", "adopt")]
        outcomes += self._phase(middle, lambda c: self._update(c, live.get(c.id or "")))
        deletes = [c for c in changes if c.action == "delete"]
        outcomes += self._phase(deletes, self._delete)
        return outcomes

    # -- phases ----------------------------------------------------------------------------

    def _phase(self, changes: Sequence[Change],
               work: Callable[[Change], Outcome]) -> list[Outcome]:
        if not changes:
            return []

        def guarded(change: Change) -> Outcome:
            if self.stop.is_set():
                return Outcome(change, "skipped", change.id, "interrupted before it started")
            try:
                outcome = work(change)
            except IacError as exc:
                reason = f"{exc.message}; {exc.hint}" if exc.hint else exc.message
                outcome = Outcome(change, "failed", change.id, reason)
            self._tick(outcome)
            return outcome

        workers = max(1, min(self.options.concurrency, len(changes)))
        if workers == 1:
            return [guarded(c) for c in changes]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apply") as pool:
            return list(pool.map(guarded, changes))

    def _tick(self, outcome: Outcome) -> None:
        with self._count_lock:
            self.completed.append(outcome)
            self._done += 1
            done = self._done
        if self.progress is not None:
            self.progress(done, self._total)

    def _creates(self, creates: list[Change], plan: Plan) -> list[Outcome]:
        results: dict[str, Outcome] = {}
        pending = creates
        for round_no in range(1, self.options.create_rounds + 1):
            outcomes = self._phase(pending, self._create)
            unknown = [o.change for o in outcomes if o.status == "unknown"]
            results.update({o.change.key: o for o in outcomes if o.status != "unknown"})
            if not unknown:
                break
            if self.stop.is_set():
                results.update({c.key: Outcome(c, "failed", None, "outcome unknown; interrupted"
                                               " before it could be checked") for c in unknown})
                break
            self.log.warning("%d create(s) had an unknown outcome; re-listing to find out",
                             len(unknown))
            try:
                found = self._find_created(unknown, plan, results)
            except IacError as exc:
                results.update({c.key: Outcome(c, "failed", None, "outcome unknown, and the "
                                               f"re-list failed: {exc.message}") for c in unknown})
                break
            for change in unknown:
                if change.key in found:
                    live = found[change.key]
                    self.journal.outcome("create", change.key, change.name, "done", live.id,
                                         "adopted after an unknown outcome")
                    results[change.key] = Outcome(change, "done", live.id,
                                                  "found after an unknown outcome", live)
                    with self._count_lock:
                        self.completed.append(results[change.key])
            pending = [c for c in unknown if c.key not in found]
            if not pending:
                break
            if round_no == self.options.create_rounds:
                results.update({c.key: Outcome(c, "failed", None, "outcome still unknown after "
                                               f"{round_no} tries; run apply again")
                                for c in pending})
        return [results[c.key] for c in creates]

    # -- single changes --------------------------------------------------------------------

    def _agent(self, change: Change) -> DesiredAgent:
        agent = self.desired.agents.get(change.key)
        if agent is None:
            raise PlanError(f"{change.key}: not in the desired state any more")
        return agent

    def _create(self, change: Change) -> Outcome:
        agent = self._agent(change)
        body = request_body(request_fields(agent, None))
        self.journal.intent("create", change.key, change.name)
        try:
            live = self.client.create_ai(body)
        except OutcomeUnknownError as exc:
            self.journal.outcome("create", change.key, change.name, "unknown", None, exc.cause)
            return Outcome(change, "unknown", None, exc.message)
        except IacError as exc:
            self.journal.outcome("create", change.key, change.name, "failed", None, exc.message)
            raise
        self.journal.outcome("create", change.key, change.name, "done", live.id)
        return Outcome(change, "done", live.id, "", live)

    def _update(self, change: Change, live: LiveAgent | None) -> Outcome:
        agent = self._agent(change)
        if not change.fields:  # an adopt that only records ownership
            self.journal.outcome(change.action, change.key, change.name, "done", change.id)
            return Outcome(change, "done", change.id, "", live)
        body = request_body(request_fields(agent, live))
        self.journal.intent(change.action, change.key, change.name, change.id)
        try:
            result = self.client.update_ai(change.id or "", body)
        except IacError as exc:
            self.journal.outcome(change.action, change.key, change.name, "failed", change.id,
                                 exc.message)
            raise
        self.journal.outcome(change.action, change.key, change.name, "done", result.id)
        return Outcome(change, "done", result.id, "", result)

    def _delete(self, change: Change) -> Outcome:
        self.journal.intent("delete", change.key, change.name, change.id)
        try:
            result = self.client.delete_ai(change.id or "")
        except IacError as exc:
            self.journal.outcome("delete", change.key, change.name, "failed", change.id,
                                 exc.message)
            raise
        self.journal.outcome("delete", change.key, change.name, "done", change.id)
        return Outcome(change, "done", change.id, "", result)

    # -- unknown outcomes -------------------------------------------------------------------

    def _find_created(self, unknown: list[Change], plan: Plan,
                      results: Mapping[str, Outcome]) -> dict[str, LiveAgent]:
        """The AIs that unknown-outcome creates made, by key (one re-list for all)."""
        taken = {e.id for e in self.manifest.agents.values()} | set(plan.bindings.values())
        taken |= {o.id for o in results.values() if o.id}
        return match_created([self._agent(c) for c in unknown], self.client.list_ais(), taken,
                             self.started - self.options.clock_skew)
