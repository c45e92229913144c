"""The plan and apply use cases: lock, recovery, listing, planning, executing, verifying, and
writing the manifest, in that order and with every failure leaving a true manifest behind.

The CLI builds the client and the desired state and calls `plan` or `apply` here; nothing in
this module prints or exits.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from ..api.client import Connection, VoipbinClient
from ..core.clock import Clock
from ..core.model import (
    ApplyResult,
    DesiredState,
    LiveAgent,
    Manifest,
    ManifestEntry,
    Outcome,
    Plan,
)
from ..core.plan import PlanOptions, build_plan
from ..core.secret import fingerprint
from ..core.writes import CLOCK_SKEW, match_created
from ..errors import IacError, NotFoundError, RefusedError, SafetyError
from ..state import applylog as journal
from ..state import lock, savedplan
from ..state import manifest as manifests
from .executor import ExecOptions, Executor, Progress


def account_of(connection: Connection) -> str:
    """Which account a plan is for, without the key: a fingerprint of URL and key."""
    return fingerprint(f"{connection.base_url}|{connection.accesskey.reveal()}")


def current_manifest(path: Path, log: logging.Logger | None = None,
                     recorded: Manifest | None = None) -> tuple[Manifest, journal.Recovery]:
    """The manifest (`recorded`, when already read), plus the bindings an interrupted apply
    made that it does not show yet."""
    recorded = manifests.read(path) if recorded is None else recorded
    recovery = journal.recover(journal.path_for(path))
    if recovery and log is not None:
        log.warning("recovering what an earlier apply left unsettled (interrupted, or creates "
                    "with no answer), from %s", journal.path_for(path))
    return recovery.apply_to(recorded), recovery


def resolve_pending(manifest: Manifest, recovery: journal.Recovery, desired: DesiredState,
                    live: list[LiveAgent]) -> Manifest:
    """Bind the AIs that an interrupted apply's unanswered creates made (see `journal`)."""
    keys = [k for k in sorted(recovery.pending)
            if k in desired.agents and k not in manifest.agents]
    if not keys or recovery.started is None:
        return manifest
    taken = {e.id for e in manifest.agents.values()}
    found = match_created([desired.agents[k] for k in keys], live, taken,
                          recovery.started - CLOCK_SKEW)
    return manifests.with_entries(manifest, {
        key: ManifestEntry(id=ai.id, name=ai.name) for key, ai in found.items()})


def plan(client: VoipbinClient, desired: DesiredState, manifest: Manifest,
         options: PlanOptions, recovery: journal.Recovery | None = None
         ) -> tuple[Plan, list[LiveAgent], Manifest]:
    """List the live AIs (pages of 100) and build the plan; also return the manifest it used."""
    live = client.list_ais()
    live += _missing_from_listing(client, manifest, live)
    if recovery:
        manifest = resolve_pending(manifest, recovery, desired, live)
    return build_plan(desired, live, manifest, options), live, manifest


def _missing_from_listing(client: VoipbinClient, manifest: Manifest,
                          live: list[LiveAgent]) -> list[LiveAgent]:
    """Owned AIs the listing did not show, fetched one by one (normally none).

    Before planning a re-create (a new SIP URI for every caller) or forgetting an agent, make
    sure its AI is really gone: the cursor could skip a row, and only a `GET` says deleted.
    """
    seen = {a.id for a in live}
    found = []
    for entry in manifest.agents.values():
        if entry.id in seen:
            continue
        try:
            ai = client.get_ai(entry.id)
        except NotFoundError:
            continue
        if ai.tm_delete is None:
            found.append(ai)
    return found


@dataclass(frozen=True)
class ApplyRequest:
    """Everything `apply` needs besides the client and the desired state."""

    manifest_path: Path
    options: PlanOptions
    saved: savedplan.SavedPlan | None = None
    force: bool = False
    execution: ExecOptions = field(default_factory=ExecOptions)
    # The account-wide lock (the lease kept on the VoIPBin account): entered after the local
    # lock and before the live state is read, left when the apply ends. None: no account lock.
    account_lock: Callable[[], AbstractContextManager[object]] | None = None


def apply(client: VoipbinClient, desired: DesiredState, request: ApplyRequest, *,
          clock: Clock, confirm: Callable[[Plan], bool], stop: threading.Event | None = None,
          progress: Progress | None = None,
          log: logging.Logger | None = None) -> tuple[Plan, ApplyResult]:
    """Plan (or take the saved plan), confirm, execute, verify, write the manifest."""
    log = log or logging.getLogger("voipbin_iac.run")
    path = request.manifest_path
    with lock.ApplyLock(lock.path_for(path)) as held, \
            (request.account_lock or contextlib.nullcontext)():
        if held.stale:
            log.warning("%s", held.stale)
        recorded = manifests.read(path)
        manifest, recovery = current_manifest(path, log, recorded)
        listed: dict[str, LiveAgent] | None = None
        if request.saved is not None:
            if recovery.pending:
                manifest = resolve_pending(manifest, recovery, desired, client.list_ais())
            _settle_recovery(path, recorded, manifest, recovery)
            savedplan.check(request.saved, desired, manifest, account_of(client.connection))
            the_plan, options = request.saved.plan, request.saved.options
            live = savedplan.check_live(client, the_plan, manifest)
        else:
            options = request.options
            the_plan, found, manifest = plan(client, desired, manifest, options, recovery)
            _settle_recovery(path, recorded, manifest, recovery)
            live = listed = {a.id: a for a in found}
        if the_plan.safety.exceeded and not request.force:
            s = the_plan.safety
            raise SafetyError(
                f"the plan updates or deletes {s.touched} of {s.owned} owned agents "
                f"({s.percent:.0f}%), over the {s.limit_percent:g}% safety limit",
                hint="review the plan; if it is what you want, run apply again with --force "
                     "(the limit is `safety.max_change_percent` in the file)")
        finish = _Finish(client, desired, manifest, the_plan, options, path, log)
        if not the_plan.has_changes:
            return the_plan, finish.run([], journal.Journal(None), listed=listed)
        if not confirm(the_plan):
            raise RefusedError("apply cancelled; nothing was changed")
        log_file = journal.Journal(journal.path_for(path))
        log_file.begin(clock.time(), files=list(desired.files))
        executor = Executor(client, desired, manifest, clock=clock, journal=log_file,
                            stop=stop, progress=progress, options=request.execution)
        outcomes: list[Outcome] = []
        try:
            outcomes = executor.run(the_plan, live)
        finally:
            result = finish.run(outcomes or list(executor.completed), log_file,
                                interrupted=bool(stop and stop.is_set()))
        return the_plan, result


def _settle_recovery(path: Path, recorded: Manifest, manifest: Manifest,
                     recovery: journal.Recovery) -> None:
    """Write what recovery found before anything else happens (it is true already), then
    close the interrupted apply's log so it is not recovered again."""
    if manifest != recorded:
        manifests.write(path, manifest)
    if recovery:
        journal.close_unfinished(journal.path_for(path))


@dataclass
class _Finish:
    """The end of every apply: re-list, fill in missing direct hashes, write the manifest,
    verify with a fresh plan."""

    client: VoipbinClient
    desired: DesiredState
    manifest: Manifest  # as it is on disk now
    plan: Plan
    options: PlanOptions
    path: Path
    log: logging.Logger

    def run(self, outcomes: list[Outcome], log_file: journal.Journal, *,
            interrupted: bool = False, listed: Mapping[str, LiveAgent] | None = None
            ) -> ApplyResult:
        """`listed` is the live state when nothing was written since it was read."""
        final = {o.change.key: o for o in outcomes}  # a later outcome of a key wins
        done = {k for k, o in final.items() if o.status == "done"}
        bound = self._bindings(final)
        applied = done | set(self.plan.unchanged)
        known = {o.live.id: o.live for o in final.values() if o.live is not None}
        regenerated: list[str] = []
        remaining: int | None = None
        new_manifest = self._manifest(bound, known, applied, partial=True)
        try:
            live = dict(listed) if listed is not None else {
                a.id: a for a in self.client.list_ais()}
            for key, ai_id in sorted(bound.items()):
                if ai_id in live and not live[ai_id].direct_hash:
                    live[ai_id] = self.client.regenerate_direct_hash(ai_id)
                    regenerated.append(key)
            new_manifest = self._manifest(bound, live, applied, partial=False)
            check = build_plan(self.desired, list(live.values()), new_manifest, self.options)
            remaining = len(check.changes) + len(check.moves) + len(check.forgotten)
        except IacError as exc:
            self.log.error("could not verify the apply: %s", exc.message)
        finally:
            if new_manifest != self.manifest or not self.path.exists():
                manifests.write(self.path, new_manifest)
            unknown = sorted(k for k, o in final.items() if o.status == "unknown")
            log_file.end(verified=remaining == 0, pending=unknown)
        return ApplyResult(tuple(final.values()), verified=remaining == 0,
                           remaining=remaining, manifest_path=str(self.path),
                           regenerated=tuple(regenerated), interrupted=interrupted)

    def _bindings(self, final: Mapping[str, Outcome]) -> dict[str, str]:
        """Which key owns which id after the changes that went through: one id, one key."""
        bound = {k: e.id for k, e in self.manifest.agents.items()}
        for old, new in self.plan.moves.items():
            if old in bound:
                bound[new] = bound.pop(old)
        for key in self.plan.forgotten:
            bound.pop(key, None)
        adopts = {c.key for c in self.plan.changes if c.action == "adopt"}
        for key, ai_id in self.plan.bindings.items():
            if key in adopts and (key not in final or final[key].status != "done"):
                continue  # an adopt that did not happen does not own anything
            bound[key] = ai_id
        for key, outcome in final.items():
            if outcome.change.action == "create" and outcome.status == "done" and outcome.id:
                bound[key] = outcome.id
            elif outcome.change.action == "delete" and outcome.status == "done":
                bound.pop(key, None)
        owner: dict[str, str] = {}
        for key in sorted(bound, key=lambda k: (k not in self.plan.bindings, k)):
            owner.setdefault(bound[key], key)  # the plan's binding wins over a stale entry
        return {key: ai_id for ai_id, key in owner.items()}

    def _manifest(self, bound: Mapping[str, str], live: Mapping[str, LiveAgent],
                  applied: set[str], *, partial: bool) -> Manifest:
        """Entries for every bound key whose AI is live (or, when `partial`, not known gone)."""
        entries = {}
        old_by_id = {e.id: e for e in self.manifest.agents.values()}
        for key, ai_id in bound.items():
            old = self.manifest.agents.get(key) or old_by_id.get(ai_id)
            if ai_id in live:
                entries[key] = manifests.entry_for(live[ai_id], self.desired.agents.get(key),
                                                   old, applied=key in applied)
            elif partial and old is not None:
                entries[key] = old
        return Manifest(dict(sorted(entries.items())))
