"""The plan and apply use cases: locks, ownership checks, recovery, reading the live state,
planning, executing, verifying and writing the manifest, in that order, with every failure
leaving a true manifest behind (or, when even that cannot be written, the truth on stdout).

The CLI builds the API client and calls `plan` or `apply` here with the desired state, or with
a function that reads it: then the live listing starts first and goes on while the files are
read (`earlyread`; an apply starts it once its locks are held). Nothing in this module prints or
exits.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..api.protocol import AiApi
from ..core.clock import Clock
from ..core.kinds import BY_NAME, Refs
from ..core.model import (
    ApplyResult,
    DesiredState,
    LiveResource,
    LiveState,
    Manifest,
    ManifestEntry,
    Outcome,
    Plan,
)
from ..core.plan import PlanOptions, build_plan
from ..core.secret import fingerprint
from ..errors import FileError, IacError, RefusedError, SafetyError, StalePlanError
from ..state import applylog, files, lock, savedplan
from ..state import manifest as manifests
from . import ownership
from .earlyread import EarlyRead, while_listing
from .executor import ExecOptions, Executor, Progress
from .livestate import read_live, refresh
from .recovery import resolve_pending


def account_of(base_url: str, accesskey: str) -> str:
    """Which account a saved plan is for, without the key: a fingerprint of URL and key."""
    return fingerprint(f"{base_url}|{accesskey}")


@dataclass(frozen=True)
class Prepared:
    """Everything a plan is made from: the manifest with what an interrupted apply left, whose
    it is, and the live state."""

    live: LiveState
    manifest: Manifest  # the recorded one, recovery applied
    recorded: Manifest  # as it is on disk
    recovery: applylog.Recovery
    near: ownership.Neighbours


@dataclass(frozen=True)
class Planned:
    """A plan and what it was made from."""

    plan: Plan
    live: LiveState
    manifest: Manifest
    desired: DesiredState | None = None


Desired = DesiredState | Callable[[], DesiredState]  # the state, or a function that reads it


def _start(api: AiApi, desired: Desired) -> tuple[DesiredState, EarlyRead | None]:
    """The desired state; read while the account is listed when it is given as a function."""
    if isinstance(desired, DesiredState):
        return desired, None
    early = EarlyRead(api)
    return while_listing(early, desired), early


def prepare(api: AiApi, desired: DesiredState, manifest_path: Path, *,
            files_moved: bool = False, log: logging.Logger | None = None,
            early: EarlyRead | None = None) -> Prepared:
    """Read the manifest (with what an interrupted apply left), check whose it is, read the
    live state (or complete the `early` one) and bind what unknown creates made. Read-only."""
    log = log or logging.getLogger("voipbin_iac.run")
    recorded = manifests.read(manifest_path)
    recovery = applylog.read(applylog.path_for(manifest_path))
    if recovery:
        log.warning("recovering what an earlier apply left unsettled (interrupted, or creates "
                    "with no answer), from %s", applylog.path_for(manifest_path))
    manifest = recovery.apply_to(recorded)
    ownership.check_files(manifest, desired.resource_files, manifest_path, files_moved)
    near = ownership.neighbours(manifest_path)
    for path in near.unreadable:
        log.warning("%s looks like a manifest but cannot be read; its resources are not "
                    "protected from adoption here", path)
    warning = ownership.same_files_elsewhere(near, desired.resource_files, manifest_path)
    if warning:
        log.warning("%s", warning)
    live = early.live(manifest) if early is not None else read_live(api, manifest)
    ownership.check_account(manifest, live, manifest_path)
    manifest, _ = resolve_pending(manifest, recovery, live, near.elsewhere.owners)
    return Prepared(live, manifest, recorded, recovery, near)


def plan(api: AiApi, desired: Desired, manifest_path: Path, options: PlanOptions, *,
         files_moved: bool = False, log: logging.Logger | None = None) -> Planned:
    """The plan for `desired` against the account. Read-only."""
    state, early = _start(api, desired)
    ready = prepare(api, state, manifest_path, files_moved=files_moved, log=log, early=early)
    the_plan = build_plan(state, ready.live, ready.manifest, options, ready.near.elsewhere)
    return Planned(the_plan, ready.live, ready.manifest, state)


@dataclass(frozen=True)
class ApplyRequest:
    """Everything `apply` needs besides the API and the desired state."""

    manifest_path: Path
    options: PlanOptions
    saved: savedplan.SavedPlan | None = None
    account: str = ""  # `account_of` the connection, for a saved plan
    force: bool = False
    files_moved: bool = False
    execution: ExecOptions = field(default_factory=ExecOptions)
    # The account-wide lock (the lease kept on the VoIPBin account): entered after the local
    # lock and before the live state is read, left when the apply ends. None: no account lock.
    account_lock: Callable[[], AbstractContextManager[object]] | None = None


def apply(api: AiApi, desired: Desired, request: ApplyRequest, *,
          clock: Clock, confirm: Callable[[Plan], bool], stop: threading.Event | None = None,
          progress: Progress | None = None,
          log: logging.Logger | None = None) -> tuple[Plan, ApplyResult]:
    """Plan (or take the saved plan), confirm, execute, verify, write the manifest."""
    log = log or logging.getLogger("voipbin_iac.run")
    path = request.manifest_path
    stop = stop or threading.Event()
    try:
        files.check_writable(path.parent, "the manifest and the apply log")
    except FileError as exc:
        raise FileError(f"{exc.message}; nothing was changed", hint=exc.hint) from None
    with lock.ApplyLock(lock.path_for(path)) as held, \
            (request.account_lock or contextlib.nullcontext)():
        if held.stale:
            log.warning("%s", held.stale)
        desired, early = _start(api, desired)  # after the locks: see `earlyread`
        ready = prepare(api, desired, path, files_moved=request.files_moved, log=log,
                        early=early)
        _settle(path, ready)  # true already, whatever happens next
        if request.saved is not None:
            savedplan.check(request.saved, desired, ready.manifest, request.account)
            the_plan, options = request.saved.plan, request.saved.options
            _check_saved_live(the_plan, ready, desired)
        else:
            options = request.options
            the_plan = build_plan(desired, ready.live, ready.manifest, options,
                                  ready.near.elsewhere)
        if the_plan.safety.exceeded and not request.force:
            s = the_plan.safety
            raise SafetyError(
                f"the plan updates or deletes {s.touched} of {s.owned} owned resources "
                f"({s.percent:.0f}%), over the {s.limit_percent:g}% safety limit",
                hint="review the plan; if it is what you want, run apply again with --force "
                     "(the limit is `safety.max_change_percent` in the file)")
        finish = _Finish(api, desired, ready.manifest, the_plan, options, path, log,
                         ready.live, ready.near)
        if not the_plan.has_changes:
            return the_plan, finish.run([], applylog.ApplyLog(None), None)
        if not confirm(the_plan):
            raise RefusedError("apply cancelled; nothing was changed")
        alog = applylog.ApplyLog(applylog.path_for(path))
        alog.begin(clock.time(), files=list(desired.files))
        executor = Executor(api, desired, ready.manifest, clock=clock, applylog=alog,
                            stop=stop, progress=progress, options=request.execution,
                            taken=frozenset(ready.near.elsewhere.owners), logger=log)
        outcomes: list[Outcome] = []
        try:
            outcomes = executor.run(the_plan, ready.live.by_id())
        finally:
            result = finish.run(outcomes or list(executor.completed), alog, executor,
                                interrupted=stop.is_set() and not executor.stop_reason)
        return the_plan, result


def _settle(path: Path, ready: Prepared) -> None:
    """Write what recovery found before anything else happens (it is true already), then
    close the interrupted apply's log so it is not recovered again."""
    if ready.manifest != ready.recorded:
        manifests.write(path, ready.manifest)
    if ready.recovery:
        applylog.close_unfinished(applylog.path_for(path), [])


def _check_saved_live(the_plan: Plan, ready: Prepared, desired: DesiredState) -> None:
    """Refuse a saved plan whose live resources changed since it was made, before any write.

    Every resource it updates or deletes must still be live with the `tm_update` the plan saw;
    no unowned resource carrying a planned create's name may have appeared (it would now be
    adopted, not created beside)."""
    by_id = ready.live.by_id()
    stale: list[str] = []
    for change in the_plan.changes:
        if change.action == "create" or not change.id:
            continue
        live = by_id.get(change.id)
        if live is None:
            stale.append(f"{change.key} ({change.id}) was deleted")
        elif live.tm_update != change.tm_update:
            stale.append(f"{change.key} ({change.id}) changed at {live.tm_update}")
    known = set(the_plan.bindings.values()) | ready.manifest.ids()
    creates = {(c.kind, c.name): c.key for c in the_plan.changes if c.action == "create"}
    for res in by_id.values():
        key = creates.get((res.kind, desired.mask(res.name)))
        if key is not None and res.id not in known:
            stale.append(f"{BY_NAME[res.kind].a_noun} named '{desired.mask(res.name)}' "
                         f"({res.id}) appeared; "
                         f"{key} would now adopt it instead of creating another")
    if stale:
        raise StalePlanError(
            "the saved plan is stale: " + "; ".join(stale) + " since it was made",
            hint="run `voipbin-iac plan --out PLAN` again, review it, and apply the new plan")


@dataclass
class _Finish:
    """The end of every apply: re-read what changed, fill in missing direct hashes, write the
    manifest, verify with a fresh plan."""

    api: AiApi
    desired: DesiredState
    manifest: Manifest  # as it is on disk now
    plan: Plan
    options: PlanOptions
    path: Path
    log: logging.Logger
    before: LiveState
    near: ownership.Neighbours

    def run(self, outcomes: list[Outcome], alog: applylog.ApplyLog,
            executor: Executor | None, *, interrupted: bool = False) -> ApplyResult:
        final = {o.change.key: o for o in outcomes}  # a later outcome of a key wins
        bound = self._bindings(final)
        applied = {k for k, o in final.items() if o.status == "done"} | set(self.plan.unchanged)
        written = {o.id: o.change.kind for o in final.values()
                   if o.status in ("done", "failed") and o.id}
        full = any(o.status == "unknown" or (o.status == "done" and o.change.action == "delete")
                   for o in final.values())
        known = {o.live.id: o.live for o in final.values()
                 if o.live is not None and not o.live.deleted}
        regenerated: list[str] = []
        remaining: int | None = None
        new_manifest = self._manifest(bound, known, applied, partial=True)
        save_errors: list[str] = []
        try:
            live = refresh(self.api, self.before, new_manifest, written, full=full)
            by_id = live.by_id()
            halted = executor is not None and executor.stop.is_set()  # no new write then
            for key, (kind, res_id) in sorted(bound.items()):
                if res_id in by_id and not by_id[res_id].direct_hash and not halted:
                    by_id[res_id] = self.api.regenerate(BY_NAME[kind], res_id)
                    regenerated.append(key)
            new_manifest = self._manifest(bound, by_id, applied, partial=False,
                                          account=live.account)
            live = LiveState({k: tuple(by_id.get(r.id, r) for r in v)
                              for k, v in live.resources.items()}, live.account)
            check = build_plan(self.desired, live, new_manifest,
                               replace(self.options, strict_scope=False), self.near.elsewhere)
            remaining = len(check.changes) + len(check.moves) + len(check.forgotten)
        except IacError as exc:
            self.log.error("could not verify the apply: %s", exc.message)
        finally:
            try:
                if new_manifest != self.manifest or not self.path.exists():
                    manifests.write(self.path, new_manifest)
            except FileError as exc:
                save_errors.append(exc.message)
            unknown = [executor.pending[k] for k, o in sorted(final.items())
                       if o.status == "unknown" and executor is not None
                       and k in executor.pending]
            if not save_errors:  # else the log stays unfinished: the next run recovers from it
                alog.end(unknown, verified=remaining == 0)
            else:
                alog.close()
            if alog.failure:
                save_errors.append(alog.failure)
        return ApplyResult(tuple(final.values()), verified=remaining == 0,
                           remaining=remaining, manifest_path=str(self.path),
                           regenerated=tuple(regenerated), interrupted=interrupted,
                           targeted=self.plan.targeted,
                           sip_uris={k: e.sip_uri for _, k, e in sorted(
                               new_manifest.items(), key=lambda item: item[1])},
                           save_errors=tuple(save_errors),
                           stopped=executor.stop_reason if executor is not None else "")

    def _bindings(self, final: Mapping[str, Outcome]) -> dict[str, tuple[str, str]]:
        """Which key owns which resource after the changes that went through: key -> (kind,
        id), one id per key and one key per id."""
        bound = {key: (kind, e.id) for kind, key, e in self.manifest.items()}
        for old, new in self.plan.moves.items():
            if old in bound:
                bound[new] = bound.pop(old)
        for key in self.plan.forgotten:
            bound.pop(key, None)
        adopts = {c.key for c in self.plan.changes if c.action == "adopt"}
        for key, res_id in self.plan.bindings.items():
            if key in adopts and (key not in final or final[key].status != "done"):
                continue  # an adopt that did not happen does not own anything
            bound[key] = (self.plan.kind_of(key), res_id)
        for key, outcome in final.items():
            if outcome.change.action == "create" and outcome.status == "done" and outcome.id:
                bound[key] = (outcome.change.kind, outcome.id)
            elif outcome.change.action == "delete" and outcome.status == "done":
                bound.pop(key, None)
        owner: dict[str, str] = {}
        for key in sorted(bound, key=lambda k: (k not in self.plan.bindings, k)):
            owner.setdefault(bound[key][1], key)  # the plan's binding wins over a stale entry
        return {key: bound[key] for key in owner.values()}

    def _manifest(self, bound: Mapping[str, tuple[str, str]],
                  live: Mapping[str, LiveResource], applied: set[str], *, partial: bool,
                  account: str = "") -> Manifest:
        """Entries for every bound key whose resource is live (or, when `partial`, not known
        gone), with the account and the files this apply used."""
        old_by_key = {key: e for _, key, e in self.manifest.items()}
        old_by_id = {e.id: e for _, _, e in self.manifest.items()}
        refs = Refs(ids={k: v[1] for k, v in bound.items()},
                    members={k: e.members for k, e in self.manifest.teams.items()})
        entries: dict[str, dict[str, ManifestEntry]] = {}
        for key, (kind, res_id) in sorted(bound.items()):
            old = old_by_key.get(key) or old_by_id.get(res_id)
            res = live.get(res_id)
            if res is not None:
                entries.setdefault(kind, {})[key] = BY_NAME[kind].entry(
                    res, self.desired.get(key), old, applied=key in applied,
                    name=self.desired.mask(res.name), refs=refs)
            elif partial and old is not None:
                entries.setdefault(kind, {})[key] = old
        account = account or self.manifest.account or self.before.account
        return Manifest({k: dict(sorted(v.items())) for k, v in entries.items()},
                        account=account,
                        files=ownership.relative_files(self.desired.resource_files, self.path))
