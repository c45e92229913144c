"""The plan and apply use cases: lock, recovery, listing, planning, executing, verifying, and
writing the manifest, in that order and with every failure leaving a true manifest behind.

The CLI builds the client and the desired state and calls `plan` or `apply` here; nothing in
this module prints or exits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import journal, lock, savedplan
from . import manifest as manifests
from .apply import ExecOptions, Executor, Progress
from .client import Connection, VoipbinClient
from .clock import Clock
from .errors import IacError, RefusedError, SafetyError
from .model import ApplyResult, DesiredState, LiveAgent, Manifest, ManifestEntry, Outcome, Plan
from .plan import PlanOptions, build_plan
from .redact import fingerprint
from .writes import CLOCK_SKEW, match_created


def account_of(connection: Connection) -> str:
    """Which account a plan is for, without the key: a fingerprint of URL and key."""
    return fingerprint(f"{connection.base_url}|{connection.accesskey.reveal()}")


def current_manifest(path: Path, log: logging.Logger | None = None
                     ) -> tuple[Manifest, journal.Recovery]:
    """The manifest, plus the bindings an interrupted apply made that it does not show yet."""
    recorded = manifests.read(path)
    recovery = journal.recover(journal.path_for(path))
    if recovery and log is not None:
        log.warning("an earlier apply was interrupted; recovering from %s",
                    journal.path_for(path))
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
    if recovery:
        manifest = resolve_pending(manifest, recovery, desired, live)
    return build_plan(desired, live, manifest, options), live, manifest


@dataclass(frozen=True)
class ApplyRequest:
    """Everything `apply` needs besides the client and the desired state."""

    manifest_path: Path
    options: PlanOptions
    saved: savedplan.SavedPlan | None = None
    force: bool = False
    execution: ExecOptions = field(default_factory=ExecOptions)


def apply(client: VoipbinClient, desired: DesiredState, request: ApplyRequest, *,
          clock: Clock, confirm: Callable[[Plan], bool], stop: threading.Event | None = None,
          progress: Progress | None = None,
          log: logging.Logger | None = None) -> tuple[Plan, ApplyResult]:
    """Plan (or take the saved plan), confirm, execute, verify, write the manifest."""
    log = log or logging.getLogger("voipbin_iac.apply")
    path = request.manifest_path
    with lock.ApplyLock(lock.path_for(path)) as held:
        if held.stale:
            log.warning("%s", held.stale)
        recorded = manifests.read(path)
        manifest, recovery = current_manifest(path, log)
        if request.saved is not None:
            if recovery.pending:
                manifest = resolve_pending(manifest, recovery, desired, client.list_ais())
            _save_recovered(path, recorded, manifest)
            savedplan.check(request.saved, desired, manifest, account_of(client.connection))
            the_plan, live = request.saved.plan, {}
            options = request.saved.options
        else:
            options = request.options
            the_plan, listed, manifest = plan(client, desired, manifest, options, recovery)
            _save_recovered(path, recorded, manifest)
            live = {a.id: a for a in listed}
        if the_plan.safety.exceeded and not request.force:
            s = the_plan.safety
            raise SafetyError(
                f"the plan updates or deletes {s.touched} of {s.owned} owned agents "
                f"({s.percent:.0f}%), over the {s.limit_percent:g}% safety limit",
                hint="review the plan; if it is what you want, run apply again with --force "
                     "(the limit is `safety.max_change_percent` in the file)")
        if not the_plan.has_changes:
            result = _finish(client, desired, manifest, the_plan, [], options, path, log,
                             journal.Journal(None),
                             listed=live if request.saved is None else None)
            return the_plan, result
        if not confirm(the_plan):
            raise RefusedError("apply cancelled; nothing was changed")
        log_file = journal.Journal(journal.path_for(path))
        log_file.begin(clock.time(), files=list(desired.files))
        executor = Executor(client, desired, manifest, clock=clock, journal=log_file,
                            stop=stop, progress=progress,
                            options=_exec_options(request))
        outcomes: list[Outcome] = []
        try:
            outcomes = executor.run(the_plan, live)
        finally:
            outcomes = outcomes or list(executor.completed)
            result = _finish(client, desired, manifest, the_plan, outcomes, options, path, log,
                             log_file, interrupted=bool(stop and stop.is_set()))
        return the_plan, result


def _save_recovered(path: Path, recorded: Manifest, manifest: Manifest) -> None:
    """Write what recovery found before anything else happens: it is true already."""
    if manifest != recorded:
        manifests.write(path, manifest)


def _exec_options(request: ApplyRequest) -> ExecOptions:
    e = request.execution
    return ExecOptions(concurrency=e.concurrency, create_rounds=e.create_rounds,
                       clock_skew=e.clock_skew, saved_plan=request.saved is not None)


def _bindings(manifest: Manifest, plan: Plan, outcomes: list[Outcome]) -> dict[str, str]:
    """Which key owns which id after the changes that went through."""
    bound = {k: e.id for k, e in manifest.agents.items()}
    for old, new in plan.moves.items():
        if old in bound:
            bound[new] = bound.pop(old)
    for key in plan.forgotten:
        bound.pop(key, None)
    bound.update(plan.bindings)
    for outcome in outcomes:
        change = outcome.change
        if change.action == "create" and outcome.status == "done" and outcome.id:
            bound[change.key] = outcome.id
        elif change.action == "delete" and outcome.status == "done":
            bound.pop(change.key, None)
    return bound


def _finish(client: VoipbinClient, desired: DesiredState, manifest: Manifest, the_plan: Plan,
            outcomes: list[Outcome], options: PlanOptions, path: Path, log: logging.Logger,
            log_file: journal.Journal, interrupted: bool = False,
            listed: Mapping[str, LiveAgent] | None = None) -> ApplyResult:
    """Re-list, fill in missing direct hashes, write the manifest, verify with a fresh plan.

    `listed` is the live state when nothing was written since it was read (no re-list then).
    """
    bound = _bindings(manifest, the_plan, outcomes)
    known: dict[str, LiveAgent] = {o.live.id: o.live for o in outcomes if o.live is not None}
    regenerated: list[str] = []
    verified, remaining = False, -1
    failed = {o.change.key for o in outcomes if o.status != "done"}
    new_manifest = _manifest_from(bound, known, desired, manifest, failed, partial=True)
    try:
        live = dict(listed) if listed is not None else {a.id: a for a in client.list_ais()}
        for key, ai_id in sorted(bound.items()):
            if ai_id in live and not live[ai_id].direct_hash:
                live[ai_id] = client.regenerate_direct_hash(ai_id)
                regenerated.append(key)
        new_manifest = _manifest_from(bound, live, desired, manifest, failed, partial=False)
        check = build_plan(desired, list(live.values()), new_manifest, options)
        remaining = len(check.changes)
        verified = not check.has_changes
    except IacError as exc:
        log.error("could not re-list to verify the apply: %s", exc.message)
    finally:
        if new_manifest != manifests.read(path) or not path.exists():
            manifests.write(path, new_manifest)
        log_file.end(verified=verified)
    return ApplyResult(tuple(outcomes), verified=verified, remaining=max(remaining, 0),
                       manifest_path=str(path), regenerated=tuple(regenerated),
                       interrupted=interrupted)


def _manifest_from(bound: Mapping[str, str], live: Mapping[str, LiveAgent],
                   desired: DesiredState, previous: Manifest, failed: set[str], *,
                   partial: bool) -> Manifest:
    """Entries for every bound key whose AI is live (or, when `partial`, not known gone)."""
    entries = {}
    old_by_id = {e.id: e for e in previous.agents.values()}
    for key, ai_id in bound.items():
        old = previous.agents.get(key) or old_by_id.get(ai_id)
        if ai_id in live:
            entries[key] = manifests.entry_for(live[ai_id], desired.agents.get(key), old,
                                               applied=key not in failed)
        elif partial and old is not None:
            entries[key] = old
    return Manifest(entries)
