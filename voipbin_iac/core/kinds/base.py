"""What every kind of resource has in common, and the generic parts of comparing one.

A kind (`agent`, `team`, ...) says where it lives in the file, the manifest and the API, which
fields it writes and how each change matters, how to read a live object and write a body, and
which other resources it references. The planner, executor, recovery, manifest and renderers
work through this interface only, so a new kind is a new module plus an entry in `KINDS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .. import normal
from ..model import DesiredResource, FieldChange, LiveResource, ManifestEntry
from ..secret import Secret, fingerprint


@dataclass(frozen=True)
class Refs:
    """How keys and ids of other resources map onto each other while planning or applying.

    `ids` maps every bound key (of any kind) to its id; `members` maps a team key to the member
    ids its manifest entry records (member key -> id).
    """

    ids: Mapping[str, str] = field(default_factory=dict)
    members: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def key_of(self, resource_id: str) -> str | None:
        for key, bound in self.ids.items():
            if bound == resource_id:
                return key
        return None

    def reverse(self) -> dict[str, str]:
        return {v: k for k, v in self.ids.items()}


def path_text(path: tuple[str, ...]) -> str:
    """`("parameter", "hours", "open")` -> `parameter['hours']['open']`."""
    head, *rest = path
    return head + "".join(f"[{part!r}]" for part in rest)


def _template_path(template: str) -> tuple[str, ...]:
    """`parameter.items[0]` -> `("parameter", "items")`: list items count as the whole list."""
    base = template.split("[", 1)[0]
    return tuple(base.split("."))


def nested_changes(path: tuple[str, ...], have: Any, want: Any,
                   impact: str) -> list[FieldChange]:
    """The leaf-level changes from `have` to `want` (mappings recursed, anything else whole)."""
    if isinstance(have, Mapping) and isinstance(want, Mapping):
        out: list[FieldChange] = []
        for key in sorted(set(have) | set(want), key=str):
            if key not in want:
                out.append(FieldChange(path_text((*path, key)), have[key], None, impact))
            elif key not in have:
                out.append(FieldChange(path_text((*path, key)), None, want[key], impact))
            elif not normal.same(have[key], want[key]):
                out.extend(nested_changes((*path, key), have[key], want[key], impact))
        return out
    return [FieldChange(path_text(path), have, want, impact)]


_PLAIN = frozenset({str, int, float, bool, type(None)})


def shown(value: Any) -> Any:
    """A value as plans and manifests show it: JSON types, secrets as fingerprints."""
    if type(value) in _PLAIN:  # most values: no ABC checks needed
        return value
    if isinstance(value, Secret):
        return value.fingerprint
    if isinstance(value, tuple):
        return [shown(v) for v in value]
    if isinstance(value, Mapping):
        return {k: shown(v) for k, v in value.items()}
    return value


class Kind(ABC):
    """One kind of resource. Subclasses fill in the class attributes and the abstract parts."""

    name: ClassVar[str]  # "agent": the word in messages, plans and the apply log
    section: ClassVar[str]  # "agents": the section in the file, the manifest and plan JSON
    noun: ClassVar[str]  # "AI": VoIPBin's word for it
    path: ClassVar[str]  # "/ais": the API collection
    order: ClassVar[int]  # creates run in ascending order, deletes in descending
    fields: ClassVar[tuple[str, ...]]  # write fields, in display order
    impacts: ClassVar[Mapping[str, str]]  # field -> routing | behaviour | cosmetic

    # -- to be provided by each kind ----------------------------------------------------------

    @abstractmethod
    def blank(self, name: str) -> Any:
        """The value the platform stores for an omitted field, in normal form."""

    @abstractmethod
    def from_api(self, obj: Any) -> LiveResource:
        """Read an API object; ValueError if its shape is not the documented one."""

    @abstractmethod
    def body(self, desired: DesiredResource, live: LiveResource | None,
             refs: Refs) -> dict[str, Any]:
        """The full-replace JSON body of a POST/PUT (references resolved through `refs`)."""

    def view(self, live: LiveResource, refs: Refs,
             desired: DesiredResource | None = None) -> Mapping[str, Any]:
        """The live fields in the desired file's terms (ids of other resources as keys)."""
        return live.fields

    def references(self, desired: DesiredResource) -> frozenset[str]:
        """Keys of other resources this one needs (created before it, deleted after it)."""
        return frozenset()

    def uses(self, live: LiveResource) -> frozenset[str]:
        """Ids of other resources a live object references (the in-use guard)."""
        return frozenset()

    def update_problem(self, desired: DesiredResource, live: LiveResource) -> str:
        """Why an update of `live` cannot be done safely ("" when it can)."""
        return ""

    # -- generic behaviour --------------------------------------------------------------------

    @property
    def a_noun(self) -> str:
        """`an AI`, `a team`."""
        return ("an " if self.noun[0].lower() in "aeiou" else "a ") + self.noun

    def content(self, fields: Mapping[str, Any], ignore: frozenset[str] = frozenset()) -> str:
        """A digest of stored fields in normal form (secrets by fingerprint, `ignore` left out):
        drift detection and recognising what a create with a lost answer made."""
        data = {}
        for name in self.fields:
            if name in ignore:
                continue
            value = fields.get(name, self.blank(name))
            if name in self.sensitive_fields():  # a secret: its fingerprint ("" when unknown)
                value = value.fingerprint if isinstance(value, Secret) else ""
            data[name] = normal.normal(shown(value))
        return normal.digest(data)

    def sensitive_fields(self) -> frozenset[str]:
        return frozenset()

    def diff(self, desired: DesiredResource, live: LiveResource, entry: ManifestEntry | None,
             refs: Refs, *, echoes: bool = True) -> tuple[FieldChange, ...]:
        """The field changes that turn `live` into `desired` (ignored fields left out)."""
        have_all = self.view(live, refs, desired)
        changes: list[FieldChange] = []
        for name in self.fields:
            if name in desired.ignore_changes:
                continue
            special = self.field_diff(name, desired, live, entry, echoes)
            if special is not None:
                changes.extend(special)
                continue
            want = desired.fields[name] if name in desired.fields else self.blank(name)
            have = have_all.get(name)
            if normal.identical(want, have) or normal.same(shown(want), shown(have)):
                continue
            changes.extend(nested_changes((name,), shown(have), shown(want), self.impacts[name]))
        return tuple(self._masked(changes, desired))

    def field_diff(self, name: str, desired: DesiredResource, live: LiveResource,
                   entry: ManifestEntry | None, echoes: bool) -> list[FieldChange] | None:
        """A kind's own comparison of one field (None: compare generically)."""
        return None

    def create_fields(self, desired: DesiredResource) -> tuple[FieldChange, ...]:
        """What a create sets, for the plan: every field that differs from the blank."""
        out = []
        for name in self.fields:
            value = desired.fields.get(name, self.blank(name))
            if name in self.sensitive_fields():
                if value:
                    out.append(FieldChange(name, None, shown(value), self.impacts[name], True))
            elif name == "name" or not normal.same(shown(value), shown(self.blank(name))):
                out.append(FieldChange(name, None, shown(value), self.impacts[name]))
        return tuple(self._masked(out, desired))

    @staticmethod
    def _masked(changes: list[FieldChange], desired: DesiredResource) -> list[FieldChange]:
        """Changes whose desired value took text from the environment show fingerprints and
        the text as written, never the values (old or new)."""
        if not desired.templates:
            return changes
        paths = {_template_path(t): t for t in desired.templates}
        out = []
        for change in changes:
            if change.sensitive:
                out.append(change)
                continue
            mine = _change_path(change.field)
            hits = [t for p, t in paths.items() if p[:len(mine)] == mine or mine[:len(p)] == p]
            if not hits:
                out.append(change)
                continue
            template = desired.templates[hits[0]] if len(hits) == 1 else ""
            out.append(FieldChange(change.field, _fp(change.old), _fp(change.new), change.impact,
                                   sensitive=True, template=template))
        return out

    def entry(self, live: LiveResource, desired: DesiredResource | None,
              previous: ManifestEntry | None, *, applied: bool, name: str,
              refs: Refs | None = None) -> ManifestEntry:
        """The manifest entry for an owned resource as it is live now (`name` as it may be
        shown: values from the environment masked)."""
        protect = desired.protect if desired is not None else bool(previous and previous.protect)
        ignore = desired.ignore_changes if desired is not None else frozenset()
        return ManifestEntry(id=live.id, name=name, direct_hash=live.direct_hash,
                             fingerprint=self.content(live.fields, ignore), protect=protect)


def _change_path(field_text: str) -> tuple[str, ...]:
    head, _, rest = field_text.partition("[")
    parts = [head]
    for part in ("[" + rest).split("][") if rest else []:
        part = part.strip("[]")
        parts.append(part[1:-1] if part[:1] in "'\"" else part)
    return tuple(parts)


def _fp(value: Any) -> str | None:
    if value is None:
        return None
    return fingerprint(normal.text(value) if not isinstance(value, str) else value) or ""
