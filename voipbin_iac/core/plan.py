"""The planner: desired state + live AIs + manifest -> `Plan`. Pure: no I/O, no clock.

Matching (design §3): a key owns the AI its manifest entry records, if that AI is live;
otherwise the one unowned live AI with exactly its name (adopt); otherwise it is created. An AI
owned by a key that left the file is found by name too (a key rename: a move, never a
re-create, since re-creating changes the SIP URI). Owned AIs whose key left the file are deleted
only with `prune` and never when protected; every other live AI is unmanaged and untouched.
Fields compare as canonical values; `parameter` through deepdiff, `engine_key` by fingerprint.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from deepdiff import DeepDiff

from ..errors import PlanError
from .catalog import FIELD_IMPACT, WRITE_FIELDS
from .fields import blank, content_fingerprint, echoes_engine_key, shown
from .model import (
    Change,
    DesiredAgent,
    DesiredState,
    FieldChange,
    LiveAgent,
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

    def in_scope(self, key: str) -> bool:
        return (not self.targets or key in self.targets) and key not in self.excludes


def build_plan(desired: DesiredState, live: Sequence[LiveAgent], manifest: Manifest,
               options: PlanOptions | None = None) -> Plan:
    """Compare the desired state with the live AIs; raise `PlanError` if no safe plan exists."""
    return _Planner(desired, live, manifest, options or PlanOptions()).run()


class _Planner:
    def __init__(self, desired: DesiredState, live: Sequence[LiveAgent], manifest: Manifest,
                 options: PlanOptions) -> None:
        self.desired = desired
        self.live = {agent.id: agent for agent in live}
        self.options = options
        self.entries: dict[str, ManifestEntry] = dict(manifest.agents)
        self.moves: dict[str, str] = {}
        self.bindings: dict[str, str] = {}
        self.changes: list[Change] = []
        self.unchanged: list[str] = []
        self.warnings: list[str] = []
        self.problems: list[str] = []
        self.echoes = echoes_engine_key(live)

    def run(self) -> Plan:
        self._check_scope()
        self._apply_moved()
        forgotten = sorted(k for k, e in self.entries.items()
                           if e.id not in self.live and k not in self.desired.agents)
        for key in forgotten:
            del self.entries[key]
        owned_before = {k for k, e in self.entries.items() if e.id in self.live}
        # Indexes, so matching stays linear in the number of agents.
        self.claimed = {e.id for e in self.entries.values()}
        self.by_name: dict[str, list[str]] = {}
        for ai in self.live.values():
            self.by_name.setdefault(ai.name, []).append(ai.id)
        self.desired_names = Counter(a.name for a in self.desired.agents.values())
        self.leftovers: dict[str, list[str]] = {}  # name -> owned keys that left the file
        for k, e in sorted(self.entries.items()):
            if k not in self.desired.agents and e.id in self.live:
                self.leftovers.setdefault(self.live[e.id].name, []).append(k)
        for key in sorted(self.desired.agents):
            self._match(key)
        kept = self._left_the_file()
        if self.problems:
            raise PlanError(self.problems[0] if len(self.problems) == 1 else
                            f"{len(self.problems)} agents cannot be planned:\n  "
                            + "\n  ".join(self.problems),
                            hint="settle each as it says, then run plan again")
        bound = set(self.bindings.values()) | {c.id for c in self.changes if c.id}
        unmanaged = sum(1 for ai_id in self.live if ai_id not in bound)
        changes = tuple(sorted((c for c in self.changes if self.options.in_scope(c.key)),
                               key=lambda c: (_PHASE[c.action], c.key)))
        touched = sum(1 for c in changes if c.key in owned_before
                      and (c.action == "delete" or (c.action == "update" and c.fields)))
        return Plan(
            changes=changes,
            bindings=dict(sorted(self.bindings.items())),
            moves=dict(sorted(self.moves.items())),  # bookkeeping only: never out of scope
            unchanged=tuple(sorted(k for k in self.unchanged if self.options.in_scope(k))),
            kept=tuple(kept),
            forgotten=tuple(forgotten),
            unmanaged=unmanaged,
            live_count=len(self.live),
            safety=SafetyCheck(len(owned_before), touched,
                               self.desired.safety.max_change_percent,
                               self.desired.safety.min_owned),
            warnings=tuple(self.warnings),
        )

    def _check_scope(self) -> None:
        known = set(self.desired.agents) | set(self.entries)
        for key in sorted(self.options.targets | self.options.excludes):
            if key not in known:
                raise PlanError(f"--target/--exclude {key}: no such key in the desired file "
                                "or the manifest")

    def _apply_moved(self) -> None:
        for old, new in sorted(self.desired.moved.items()):
            if old not in self.entries:
                continue  # already moved by an earlier apply
            if new in self.entries and self.entries[new].id in self.live:
                self.problems.append(
                    f"moved {old} -> {new}: the manifest records an AI for both keys "
                    f"({self.entries[old].id} and {self.entries[new].id}); remove the move "
                    "or one of the manifest entries")
                continue
            self.entries[new] = self.entries.pop(old)
            self.moves[old] = new

    def _match(self, key: str) -> None:
        agent = self.desired.agents[key]
        entry = self.entries.get(key)
        if entry is not None and entry.id in self.live:
            self._compare(agent, self.live[entry.id], entry, "update")
            return
        name = agent.name
        free = sorted(i for i in self.by_name.get(name, ()) if i not in self.claimed)
        if len(free) > 1 or (free and self.desired_names[name] > 1):
            commands = "; ".join(f"voipbin-iac import {key} {ai_id}" for ai_id in free)
            why = "several live AIs are" if len(free) > 1 else "another agent in the file is"
            self.problems.append(
                f"{key}: {why} named '{name}' and none is recorded in the manifest "
                f"({', '.join(free)}); say which one is {key}'s: {commands}")
            return
        if free:
            self.claimed.add(free[0])
            self._compare(agent, self.live[free[0]], None, "adopt")
            return
        olds = self.leftovers.get(name, [])
        if len(olds) == 1:
            renamed = olds.pop()
            old_entry = self.entries.pop(renamed)
            self.entries[key] = old_entry
            self.moves[renamed] = key
            self.warnings.append(
                f"{key}: the AI of '{renamed}' (which left the file) has the same name, so it "
                f"moves to '{key}' with its SIP URI; add `moved: {{{renamed}: {key}}}` to say so")
            self._compare(agent, self.live[old_entry.id], old_entry, "update",
                          note=f"key renamed from '{renamed}' (matched by name)")
            return
        notes = ()
        if entry is not None:
            notes = (f"its AI {entry.id} is gone (deleted outside voipbin-iac); the new one "
                     "gets a new SIP URI",)
        self.changes.append(Change(
            action="create", key=key, name=name, impact="routing",
            fields=_create_fields(agent), notes=notes))

    def _compare(self, agent: DesiredAgent, live: LiveAgent, entry: ManifestEntry | None,
                 action: str, note: str = "") -> None:
        if action == "adopt" and not self.options.in_scope(agent.key):
            return  # out of scope: not ours yet, and not touched
        self.bindings[agent.key] = live.id
        changes = diff_fields(agent, live, entry, echoes=self.echoes)
        drift = bool(entry and entry.fingerprint and changes and
                     content_fingerprint(live.fields, agent.ignore_changes) != entry.fingerprint)
        notes = (note,) if note else ()
        if action == "adopt":
            notes += (f"an AI named '{live.name}' exists and no key owns it: "
                      f"{agent.key} takes it over (same id, same SIP URI)",)
        elif not changes:
            self.unchanged.append(agent.key)
            return
        if drift:
            notes += ("changed outside voipbin-iac since the last apply (drift)",)
        self.changes.append(Change(
            action=action, key=agent.key, name=agent.name, id=live.id, fields=changes,
            impact=max_impact([c.impact for c in changes]), drift=drift,
            sip_uri=live.sip_uri, tm_update=live.tm_update, notes=notes))

    def _left_the_file(self) -> list[str]:
        kept: list[str] = []
        for key, entry in sorted(self.entries.items()):
            if key in self.desired.agents or entry.id not in self.live:
                continue
            live = self.live[entry.id]
            self.bindings[key] = live.id
            if not (self.options.prune and self.options.in_scope(key)):
                kept.append(key)
                continue
            if entry.protect:
                self.problems.append(
                    f"{key} is protected (protect: true at the last apply) and left the file, "
                    "so --prune would delete it. To delete it: put it back with protect: false, "
                    f"apply, then remove it. To keep it: run without --prune or --exclude {key}")
                continue
            del self.bindings[key]
            self.changes.append(Change(
                action="delete", key=key, name=live.name, id=live.id, impact="routing",
                sip_uri=live.sip_uri, tm_update=live.tm_update,
                notes=(f"its SIP URI {live.sip_uri or '(none)'} stops working",)))
        return kept


def diff_fields(agent: DesiredAgent, live: LiveAgent, entry: ManifestEntry | None,
                *, echoes: bool = True) -> tuple[FieldChange, ...]:
    """The field changes that turn `live` into `agent` (ignored fields left out)."""
    changes: list[FieldChange] = []
    for name in WRITE_FIELDS:
        if name in agent.ignore_changes:
            continue
        want, have = agent.fields[name], live.fields[name]
        if name == "engine_key":
            change = _key_change(want.fingerprint, have, entry, echoes)
            if change is not None:
                changes.append(change)
        elif want == have:
            continue
        elif name == "parameter":
            changes.extend(_parameter_changes(have, want))
        else:
            changes.append(FieldChange(name, shown(have), shown(want), FIELD_IMPACT[name]))
    return tuple(changes)


def _key_change(want: str, have: Any, entry: ManifestEntry | None,
                echoes: bool) -> FieldChange | None:
    if have is not None:
        have_fp = have.fingerprint
    elif echoes:
        have_fp = ""
    elif entry is not None and entry.engine_key_fingerprint:
        have_fp = entry.engine_key_fingerprint
    elif not want:
        return None
    else:
        have_fp = None  # unknown: the platform does not show it and nothing recorded it
    if have_fp == want:
        return None
    return FieldChange("engine_key", have_fp, want, FIELD_IMPACT["engine_key"], sensitive=True)


def _parameter_changes(have: Mapping[str, Any], want: Mapping[str, Any]) -> list[FieldChange]:
    diff = DeepDiff(dict(have), dict(want), verbose_level=2)
    impact = FIELD_IMPACT["parameter"]
    out: list[FieldChange] = []
    for kind in ("values_changed", "type_changes"):
        for path, change in diff.get(kind, {}).items():
            out.append(FieldChange(_param_path(path), change["old_value"], change["new_value"],
                                   impact))
    for kind, old in (("dictionary_item_added", False), ("iterable_item_added", False),
                      ("dictionary_item_removed", True), ("iterable_item_removed", True)):
        for path, value in diff.get(kind, {}).items():
            out.append(FieldChange(_param_path(path), value if old else None,
                                   None if old else value, impact))
    if not out:  # deepdiff found nothing the == did (e.g. 1 vs 1.0): show the whole object
        out.append(FieldChange("parameter", dict(have), dict(want), impact))
    return sorted(out, key=lambda c: c.field)


def _param_path(path: str) -> str:
    return "parameter" + path[len("root"):] if path.startswith("root") else f"parameter{path}"


def _create_fields(agent: DesiredAgent) -> tuple[FieldChange, ...]:
    out = []
    for name in WRITE_FIELDS:
        value = agent.fields[name]
        if name == "engine_key":
            if value:
                out.append(FieldChange(name, None, value.fingerprint, FIELD_IMPACT[name], True))
        elif value != blank(name) or name in ("name", "engine_model"):
            out.append(FieldChange(name, None, shown(value), FIELD_IMPACT[name]))
    return tuple(out)

