"""The planner: desired state + live state + manifest -> `Plan`. Pure: no I/O, no clock.

Matching, for every kind in dependency order (design §3): a key owns the resource its manifest
entry records, if that resource is live; otherwise the one unowned live resource of its kind
with exactly its name (adopt, unless `safety.adopt: never`, and never one that another manifest
of the repository records); otherwise it is created. A resource owned by a key that left the
file is found by name too (a key rename: a move, never a re-create, since re-creating changes
the SIP URI). Owned resources whose key left the file are deleted only with `prune`, never when
protected, never when the live resource no longer looks like the one recorded, and never while a
live team still uses an agent; every other live resource is unmanaged and untouched.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import PlanError
from .kinds import BY_NAME, KINDS, Kind, Refs
from .kinds.agent import echoes_engine_key
from .kinds.team import TEAM_KIND
from .model import (
    AGENT,
    TEAM,
    Change,
    DesiredResource,
    DesiredState,
    LiveResource,
    LiveState,
    Manifest,
    ManifestEntry,
    Plan,
    SafetyCheck,
    max_impact,
)

_PHASE = {"create": 0, "update": 1, "adopt": 1, "delete": 2}


@dataclass(frozen=True)
class PlanOptions:
    """What the user asked for on the command line."""

    prune: bool = False
    targets: frozenset[str] = frozenset()
    excludes: frozenset[str] = frozenset()
    # A --target/--exclude key that names nothing is an error; not for the plan that verifies
    # an apply, where a key the apply deleted (`--prune --target KEY`) names nothing any more.
    strict_scope: bool = True

    def in_scope(self, key: str) -> bool:
        return (not self.targets or key in self.targets) and key not in self.excludes

    @property
    def targeted(self) -> bool:
        return bool(self.targets or self.excludes)


@dataclass(frozen=True)
class Elsewhere:
    """Resources that other manifests of the repository own: id -> that manifest's path."""

    owners: Mapping[str, str] = field(default_factory=dict)


def build_plan(desired: DesiredState, live: LiveState, manifest: Manifest,
               options: PlanOptions | None = None, elsewhere: Elsewhere | None = None) -> Plan:
    """Compare the desired state with the live state; raise `PlanError` if no safe plan exists."""
    return _Planner(desired, live, manifest, options or PlanOptions(),
                    elsewhere or Elsewhere()).run()


def sort_key(change: Change) -> tuple[int, int, str]:
    """Creates, then updates, then deletes; within a phase, by kind in dependency order
    (deletes in reverse: a team goes before the agents it uses)."""
    order = next(k.order for k in KINDS if k.name == change.kind)
    return (_PHASE[change.action], -order if change.action == "delete" else order, change.key)


class _Planner:
    def __init__(self, desired: DesiredState, live: LiveState, manifest: Manifest,
                 options: PlanOptions, elsewhere: Elsewhere) -> None:
        self.desired = desired
        self.live = live.by_id()
        self.live_state = live
        self.options = options
        self.elsewhere = elsewhere.owners
        self.entries: dict[str, dict[str, ManifestEntry]] = {
            k.name: dict(manifest.entries.get(k.name, {})) for k in KINDS}
        self.moves: dict[str, str] = {}
        self.bindings: dict[str, str] = {}
        self.changes: list[Change] = []
        self.unchanged: list[str] = []
        self.kept: list[str] = []
        self.warnings: list[str] = []
        self.problems: list[str] = []
        self.echoes = echoes_engine_key(live.of(AGENT))

    # -- the whole plan ------------------------------------------------------------------------

    def run(self) -> Plan:
        if self.options.strict_scope:
            self._check_scope()
        self._apply_moved()
        forgotten = sorted(k for kind, of_kind in self.entries.items() for k, e in of_kind.items()
                           if not self._is_live(e.id, kind) and self.desired.get(k) is None)
        for of_kind in self.entries.values():
            for key in forgotten:
                of_kind.pop(key, None)
        owned_before = {k for kind, of_kind in self.entries.items() for k, e in of_kind.items()
                        if self._is_live(e.id, kind)}
        self._check_two_owners()
        self.claimed = {e.id for of_kind in self.entries.values() for e in of_kind.values()}
        for kind in KINDS:
            self._plan_kind(kind)
        changes = [c for c in self.changes if self.options.in_scope(c.key)]
        self._check_in_use(changes)
        if self.problems:
            raise PlanError(self.problems[0] if len(self.problems) == 1 else
                            f"{len(self.problems)} resources cannot be planned:\n  "
                            + "\n  ".join(self.problems),
                            hint="settle each as it says, then run plan again")
        bound = set(self.bindings.values()) | {c.id for c in changes if c.id}
        unmanaged = {k.name: sum(1 for r in self.live_state.of(k.name) if r.id not in bound)
                     for k in KINDS}
        touched = sum(1 for c in changes if c.key in owned_before
                      and (c.action == "delete" or (c.action == "update" and c.fields)))
        kinds = {r.key: r.kind for r in self.desired.all()}
        for kind_name, of_kind in self.entries.items():
            kinds.update(dict.fromkeys(of_kind, kind_name))
        return Plan(
            changes=tuple(sorted(changes, key=sort_key)),
            bindings=dict(sorted(self.bindings.items())),
            moves=dict(sorted(self.moves.items())),  # bookkeeping only: never out of scope
            unchanged=tuple(sorted(k for k in self.unchanged if self.options.in_scope(k))),
            kept=tuple(sorted(self.kept)),
            forgotten=tuple(forgotten),
            unmanaged=unmanaged,
            live_count=len(self.live),
            safety=SafetyCheck(len(owned_before), touched,
                               self.desired.safety.max_change_percent,
                               self.desired.safety.min_owned),
            warnings=tuple(self.warnings),
            kinds=dict(sorted(kinds.items())),
            targeted=self.options.targeted,
        )

    def _is_live(self, resource_id: str, kind: str) -> bool:
        found = self.live.get(resource_id)
        return found is not None and found.kind == kind

    def _refs(self) -> Refs:
        # The bindings themselves, not a copy: a diff reads them at once and keeps nothing, and
        # a copy for every resource made planning quadratic in the number of resources.
        return Refs(ids=self.bindings,
                    members={k: e.members for k, e in self.entries[TEAM].items()})

    def _check_scope(self) -> None:
        known = {r.key for r in self.desired.all()}
        known |= {k for of_kind in self.entries.values() for k in of_kind}
        for key in sorted(self.options.targets | self.options.excludes):
            if key not in known:
                raise PlanError(f"--target/--exclude {key}: no such key in the desired files "
                                "or the manifest")

    def _apply_moved(self) -> None:
        for old, new in sorted(self.desired.moved.items()):
            kind_name = next((k for k, of_kind in self.entries.items() if old in of_kind), None)
            if kind_name is None:
                continue  # already moved by an earlier apply
            target = self.desired.get(new)
            entries = self.entries[kind_name]
            a_noun = BY_NAME[kind_name].a_noun  # "an AI", "a team"
            if target is None or target.kind != kind_name:
                self.problems.append(f"moved {old} -> {new}: '{old}' is {a_noun} in the "
                                     f"manifest, but '{new}' is not {a_noun} in the file")
                continue
            if new in entries and self._is_live(entries[new].id, kind_name):
                self.problems.append(
                    f"moved {old} -> {new}: the manifest records {a_noun} for both keys "
                    f"({entries[old].id} and {entries[new].id}); remove the move "
                    "or one of the manifest entries")
                continue
            entries[new] = entries.pop(old)
            self.moves[old] = new

    def _check_two_owners(self) -> None:
        for kind_name, of_kind in sorted(self.entries.items()):
            for key, entry in sorted(of_kind.items()):
                other = self.elsewhere.get(entry.id)
                if other is not None:
                    self.problems.append(
                        f"{key}: its {kind_name} {entry.id} is also recorded in {other}; one "
                        "resource can have one owner: remove it from one of the two manifests "
                        "(and the key from that manifest's files)")

    # -- one kind ------------------------------------------------------------------------------

    def _plan_kind(self, kind: Kind) -> None:
        desired = self.desired.resources.get(kind.name, {})
        entries = self.entries[kind.name]
        self.by_name: dict[str, list[str]] = {}
        for res in self.live_state.of(kind.name):
            self.by_name.setdefault(res.name, []).append(res.id)
        self.desired_names = Counter(r.name for r in desired.values())
        self.leftovers: dict[str, list[str]] = {}  # name -> owned keys that left the file
        for k, e in sorted(entries.items()):
            if k not in desired and self._is_live(e.id, kind.name):
                self.leftovers.setdefault(self.live[e.id].name, []).append(k)
        for key in sorted(desired):
            self._match(kind, desired[key])
        self._left_the_file(kind)

    def _match(self, kind: Kind, res: DesiredResource) -> None:
        entries = self.entries[kind.name]
        key = res.key
        entry = entries.get(key)
        if entry is not None and self._is_live(entry.id, kind.name):
            self._compare(kind, res, self.live[entry.id], entry, "update")
            return
        name = res.name
        named = sorted(self.by_name.get(name, ()))
        free = [i for i in named if i not in self.claimed and i not in self.elsewhere]
        foreign = [i for i in named if i not in self.claimed and i in self.elsewhere]
        shown = self.desired.mask(name)
        if free and self.desired.safety.adopt == "never":
            self.problems.append(
                f"{key}: a live {kind.noun} named '{shown}' exists that no key owns "
                f"({', '.join(free)}), and adopting is off (safety.adopt: never): record it with "
                f"`voipbin-iac import {key} {free[0]}` or give {key} another name")
            return
        if len(free) > 1 or (free and self.desired_names[name] > 1):
            commands = "; ".join(f"`voipbin-iac import {key} {i}`" for i in free)
            why = (f"several live {kind.noun}s are" if len(free) > 1
                   else f"another {kind.name} in the file is")
            self.problems.append(
                f"{key}: {why} named '{shown}' and none is recorded in the manifest "
                f"({', '.join(free)}); say which one is {key}'s: {commands}")
            return
        if free:
            self.claimed.add(free[0])
            self._compare(kind, res, self.live[free[0]], None, "adopt")
            return
        olds = self.leftovers.get(name, [])
        if len(olds) == 1:
            renamed = olds.pop()
            old_entry = entries.pop(renamed)
            entries[key] = old_entry
            self.moves[renamed] = key
            self.warnings.append(
                f"{key}: the {kind.name} of '{renamed}' (which left the file) has the same name, "
                f"so it moves to '{key}' with its SIP URI; add `moved: {{{renamed}: {key}}}` to "
                "say so")
            self._compare(kind, res, self.live[old_entry.id], old_entry, "update",
                          note=f"key renamed from '{renamed}' (matched by name)")
            return
        notes: tuple[str, ...] = ()
        if entry is not None:
            notes += (f"its {kind.noun} {entry.id} is gone (deleted outside voipbin-iac); the "
                      "new one gets a new SIP URI",)
        if foreign:
            owners = sorted({self.elsewhere[i] for i in foreign})
            notes += (f"{kind.a_noun} named '{shown}' exists but {', '.join(owners)} owns it; "
                      f"{key} gets its own",)
        self.changes.append(Change(
            action="create", key=key, name=shown, impact="routing", kind=kind.name,
            fields=kind.create_fields(res), notes=notes))

    def _compare(self, kind: Kind, res: DesiredResource, live: LiveResource,
                 entry: ManifestEntry | None, action: str, note: str = "") -> None:
        if action == "adopt" and not self.options.in_scope(res.key):
            return  # out of scope: not ours yet, and not touched
        self.bindings[res.key] = live.id
        changes = kind.diff(res, live, entry, self._refs(), echoes=self.echoes)
        if changes:
            problem = kind.update_problem(res, live)
            if problem and self.options.in_scope(res.key):
                self.problems.append(problem)
        drift = bool(entry and entry.fingerprint and changes and
                     kind.content(live.fields, res.ignore_changes) != entry.fingerprint)
        notes = (note,) if note else ()
        if action == "adopt":
            created = live.tm_create or "at an unknown time"
            notes += (f"adopts {kind.noun} {live.id} (created {created}): {kind.a_noun} named "
                      f"'{self.desired.mask(live.name)}' exists and no key owns it; {res.key} "
                      "takes it over (same id, same SIP URI)",)
        elif not changes:
            self.unchanged.append(res.key)
            return
        if drift:
            notes += ("changed outside voipbin-iac since the last apply (drift)",)
        self.changes.append(Change(
            action=action, key=res.key, name=self.desired.mask(res.name), id=live.id,
            fields=changes, impact=max_impact([c.impact for c in changes]), drift=drift,
            sip_uri=live.sip_uri, tm_update=live.tm_update, notes=notes, kind=kind.name,
            tm_create=live.tm_create))

    def _left_the_file(self, kind: Kind) -> None:
        desired = self.desired.resources.get(kind.name, {})
        for key, entry in sorted(self.entries[kind.name].items()):
            if key in desired or not self._is_live(entry.id, kind.name):
                continue
            live = self.live[entry.id]
            self.bindings[key] = live.id
            if not (self.options.prune and self.options.in_scope(key)):
                self.kept.append(key)
                continue
            if entry.protect:
                self.problems.append(
                    f"{key} is protected (protect: true at the last apply) and left the file, "
                    "so --prune would delete it. To delete it: put it back with protect: false, "
                    f"apply, then remove it. To keep it: run without --prune or --exclude {key}")
                continue
            suspicious = self._not_as_recorded(kind, live, entry)
            if suspicious:
                self.problems.append(
                    f"refusing to delete {key}: its {kind.noun} {live.id} {suspicious}, so it "
                    "may not be the one this manifest created. If it is yours, run apply "
                    f"without --prune first (or `voipbin-iac import {key} {live.id}`); if not, "
                    f"remove {key} from the manifest")
                continue
            del self.bindings[key]
            self.changes.append(Change(
                action="delete", key=key, name=self.desired.mask(live.name), id=live.id,
                impact="routing", sip_uri=live.sip_uri, tm_update=live.tm_update,
                kind=kind.name, tm_create=live.tm_create,
                notes=(f"its SIP URI {live.sip_uri or '(none)'} stops working",)))

    def _not_as_recorded(self, kind: Kind, live: LiveResource, entry: ManifestEntry) -> str:
        """Why a live resource does not look like the one the manifest recorded ("" if it
        does): the direct hash must match, and the name or the fields at the last apply."""
        if entry.direct_hash and live.direct_hash != entry.direct_hash:
            return (f"has the SIP URI {live.sip_uri or '(none)'}, not the recorded "
                    f"{entry.sip_uri}")
        same_name = self.desired.mask(live.name) == entry.name
        same_fields = bool(entry.fingerprint) and kind.content(live.fields) == entry.fingerprint
        if not (same_name or same_fields):
            return (f"is named '{self.desired.mask(live.name)}', not the recorded "
                    f"'{entry.name}'")
        return ""

    def _check_in_use(self, changes: list[Change]) -> None:
        """An agent that a live team uses is not deleted unless the same plan deletes that
        team or updates it to stop using the agent (VoIPBin itself would keep calling it)."""
        by_key = {c.key: c for c in changes}
        reverse = {v: k for k, v in self.bindings.items()}
        for change in changes:
            if change.kind != AGENT or change.action != "delete":
                continue
            for team in self.live_state.of(TEAM):
                if change.id not in TEAM_KIND.uses(team):
                    continue
                team_key = reverse.get(team.id) or next(
                    (c.key for c in changes if c.id == team.id), None)
                plan = by_key.get(team_key or "")
                desired_team = self.desired.teams.get(team_key or "")
                if plan is not None and (plan.action == "delete" or (
                        desired_team is not None
                        and change.key not in TEAM_KIND.references(desired_team))):
                    continue
                owner = f"team {team_key}" if team_key else "a team no key owns"
                self.problems.append(
                    f"cannot delete {change.key}: {owner} ('{self.desired.mask(team.name)}', "
                    f"{team.id}) still uses its AI, and VoIPBin would keep calling a deleted "
                    f"AI; remove {change.key} from that team in the same apply, or delete the "
                    "team first")
