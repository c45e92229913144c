"""The value types every other module speaks: desired and live resources, the manifest, changes,
plans and apply results.

All frozen dataclasses. A resource is of one *kind* (`agent`: a VoIPBin AI, `team`: an AI team;
see `core/kinds`); keys are unique across kinds, so a key alone names a resource. Field values
are in the normal form of their kind: the same Python value for "the same thing" whether it came
from YAML or from the API.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import Location
from .catalog import IMPACT_ORDER, sip_uri

AGENT = "agent"
TEAM = "team"


@dataclass(frozen=True)
class DesiredResource:
    """One resource as the desired-state files want it: defaults merged, env expanded.

    `fields` holds every write field of its kind in normal form (references to other resources
    by key; an agent's `engine_key` is a `Secret`).
    """

    kind: str
    key: str
    fields: Mapping[str, Any]
    protect: bool = False
    ignore_changes: frozenset[str] = frozenset()
    location: Location = field(default_factory=lambda: Location("<memory>"))
    field_locations: Mapping[str, Location] = field(default_factory=dict, repr=False)
    # Fields whose value took text from the environment: field path ("init_prompt",
    # "parameter.greeting", "parameter.items[0]") -> the text as written in the file
    # ("Hello ${env:GREETING}"). Plans show these as written, never the substituted text.
    templates: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return str(self.fields.get("name", ""))


@dataclass(frozen=True)
class Safety:
    """The guard against mass changes, and whether a same-named AI may be adopted."""

    max_change_percent: float = 30.0
    min_owned: int = 10
    adopt: str = "unique-name"  # or "never": a same-named resource is an error (use import)


@dataclass(frozen=True)
class DesiredState:
    """Everything the desired-state file(s) say, by kind."""

    resources: Mapping[str, Mapping[str, DesiredResource]]
    moved: Mapping[str, str] = field(default_factory=dict)
    safety: Safety = Safety()
    files: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    # Every variable substituted from the environment, name -> value: secrets wherever they
    # land. The CLI adds the values to its redactor; `mask` shows them as `${env:NAME}`.
    env_used: Mapping[str, str] = field(default_factory=dict, repr=False)
    # Files that hold nothing but `tests:` (conversation tests): they never name the manifest.
    tests_only: tuple[str, ...] = ()

    @property
    def resource_files(self) -> tuple[str, ...]:
        """The files that declare resources (not only `tests:`): what a manifest records."""
        return tuple(f for f in self.files if f not in self.tests_only)

    @property
    def env_values(self) -> tuple[str, ...]:
        return tuple(self.env_used.values())

    def mask(self, text: str) -> str:
        """`text` with every value from the environment shown as `${env:NAME}` (values of
        fewer than four characters are left: they would mask ordinary words)."""
        for name, value in sorted(self.env_used.items(), key=lambda kv: -len(kv[1])):
            if len(value) >= 4 and value in text:
                text = text.replace(value, f"${{env:{name}}}")
        return text

    @property
    def agents(self) -> Mapping[str, DesiredResource]:
        return self.resources.get(AGENT, {})

    @property
    def teams(self) -> Mapping[str, DesiredResource]:
        return self.resources.get(TEAM, {})

    def get(self, key: str) -> DesiredResource | None:
        for of_kind in self.resources.values():
            if key in of_kind:
                return of_kind[key]
        return None

    def all(self) -> Iterator[DesiredResource]:
        for of_kind in self.resources.values():
            yield from of_kind.values()


@dataclass(frozen=True)
class LiveResource:
    """One resource as the API returned it: normal-form write fields plus server-side facts.

    References are ids here (a team's member AIs). An agent's `fields["engine_key"]` is a
    `Secret`, or None when the response did not carry the key. `extra` holds facts the planner
    does not compare (an AI's `current_prompt_history_id`, a team's member ids).
    """

    kind: str
    id: str
    fields: Mapping[str, Any]
    direct_hash: str = ""
    tm_create: str | None = None
    tm_update: str | None = None
    tm_delete: str | None = None
    customer_id: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.fields.get("name", ""))

    @property
    def deleted(self) -> bool:
        return self.tm_delete is not None

    @property
    def sip_uri(self) -> str:
        """What callers dial; "" without a hash or once deleted (the hash no longer routes)."""
        return sip_uri(self.direct_hash) if self.direct_hash and not self.deleted else ""


@dataclass(frozen=True)
class LiveState:
    """What the account holds now: the live (not deleted) resources of every kind."""

    resources: Mapping[str, tuple[LiveResource, ...]]
    account: str = ""  # the customer id the objects carry ("" when the account shows none)

    def of(self, kind: str) -> tuple[LiveResource, ...]:
        return self.resources.get(kind, ())

    def by_id(self) -> dict[str, LiveResource]:
        return {r.id: r for of_kind in self.resources.values() for r in of_kind}

    def __len__(self) -> int:
        return sum(len(v) for v in self.resources.values())


@dataclass(frozen=True)
class ManifestEntry:
    """What the manifest records for one owned resource."""

    id: str
    name: str
    direct_hash: str = ""
    engine_key_fingerprint: str = ""  # agents: the key applied last (never the key)
    fingerprint: str = ""  # of the live fields after the last apply: drift detection
    protect: bool = False
    prompt_history_id: str = ""  # agents: the prompt version that is live
    members: Mapping[str, str] = field(default_factory=dict)  # teams: member key -> member id

    @property
    def sip_uri(self) -> str:
        return sip_uri(self.direct_hash) if self.direct_hash else ""


@dataclass(frozen=True)
class Manifest:
    """Which resource each key owns, and its SIP URI. Only resources listed here are owned.

    `account` is the customer id the manifest belongs to and `files` the desired files (relative
    to the manifest's directory) it was applied from; both are "" / () for a manifest that
    predates them, which the next apply fills in.
    """

    entries: Mapping[str, Mapping[str, ManifestEntry]] = field(default_factory=dict)
    account: str = ""
    files: tuple[str, ...] = ()

    @property
    def agents(self) -> Mapping[str, ManifestEntry]:
        return self.entries.get(AGENT, {})

    @property
    def teams(self) -> Mapping[str, ManifestEntry]:
        return self.entries.get(TEAM, {})

    def find(self, key: str) -> tuple[str, ManifestEntry] | None:
        """The kind and entry recorded for `key`, if any."""
        for kind, of_kind in self.entries.items():
            if key in of_kind:
                return kind, of_kind[key]
        return None

    def key_of(self, resource_id: str) -> str | None:
        for of_kind in self.entries.values():
            for key, entry in of_kind.items():
                if entry.id == resource_id:
                    return key
        return None

    def ids(self) -> set[str]:
        return {e.id for of_kind in self.entries.values() for e in of_kind.values()}

    def items(self) -> Iterator[tuple[str, str, ManifestEntry]]:
        """(kind, key, entry) for every entry."""
        for kind, of_kind in self.entries.items():
            for key, entry in of_kind.items():
                yield kind, key, entry

    def __len__(self) -> int:
        return sum(len(v) for v in self.entries.values())


@dataclass(frozen=True)
class FieldChange:
    """One field's change.

    For a sensitive field (an engine key, or text that came from the environment) `old`/`new`
    are fingerprints, never values; `template` then holds the text as written in the file
    (`Hello ${env:GREETING}`), if it has one.
    """

    field: str
    old: Any
    new: Any
    impact: str
    sensitive: bool = False
    template: str = ""


@dataclass(frozen=True)
class Change:
    """One action on one resource."""

    action: str  # create | update | adopt | delete
    key: str
    name: str
    id: str | None = None
    fields: tuple[FieldChange, ...] = ()
    impact: str = "none"
    drift: bool = False
    sip_uri: str = ""
    tm_update: str | None = None
    notes: tuple[str, ...] = ()
    kind: str = AGENT
    tm_create: str | None = None  # of the live resource (shown for an adopt)


def max_impact(impacts: list[str] | tuple[str, ...]) -> str:
    """The most serious of several impacts (`none` for none)."""
    return max(impacts, key=IMPACT_ORDER.index, default="none")


@dataclass(frozen=True)
class SafetyCheck:
    """How much of the owned fleet a plan touches, against the threshold."""

    owned: int
    touched: int
    limit_percent: float
    min_owned: int

    @property
    def percent(self) -> float:
        return 100.0 * self.touched / self.owned if self.owned else 0.0

    @property
    def exceeded(self) -> bool:
        return self.owned >= self.min_owned and self.percent > self.limit_percent


@dataclass(frozen=True)
class Plan:
    """What an apply would do, and the bookkeeping it rests on.

    `bindings` maps every key that owns a live resource after this plan (except pending
    creates) to its id, `kinds` gives the kind of every key the plan mentions; `moves` are
    manifest re-keyings from `moved:` (or a detected key rename). `unmanaged` counts live
    resources no key owns, by kind.
    """

    changes: tuple[Change, ...]
    bindings: Mapping[str, str] = field(default_factory=dict)
    moves: Mapping[str, str] = field(default_factory=dict)
    unchanged: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    forgotten: tuple[str, ...] = ()
    unmanaged: Mapping[str, int] = field(default_factory=dict)
    live_count: int = 0
    safety: SafetyCheck = SafetyCheck(0, 0, 30.0, 10)
    warnings: tuple[str, ...] = ()
    kinds: Mapping[str, str] = field(default_factory=dict)
    targeted: bool = False  # --target/--exclude narrowed it: other resources may still differ

    @property
    def has_changes(self) -> bool:
        """Whether apply would change the account or the manifest."""
        return bool(self.changes or self.moves or self.forgotten)

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)

    def kind_of(self, key: str) -> str:
        return self.kinds.get(key, AGENT)

    @property
    def unmanaged_total(self) -> int:
        return sum(self.unmanaged.values())


@dataclass(frozen=True)
class Outcome:
    """How one change went.

    `unknown`: a create whose request went out and whose answer never came back, not found by
    a re-list either; the apply log keeps it until a later run finds (or rules out) its AI.
    """

    change: Change
    status: str  # done | failed | skipped | unknown
    id: str | None = None
    reason: str = ""
    live: LiveResource | None = None


@dataclass(frozen=True)
class ApplyResult:
    """Every change with its outcome, and whether the account now matches."""

    outcomes: tuple[Outcome, ...]
    verified: bool = False
    remaining: int | None = None  # changes a fresh plan still shows; None: could not check
    manifest_path: str = ""
    regenerated: tuple[str, ...] = ()
    interrupted: bool = False
    targeted: bool = False
    sip_uris: Mapping[str, str] = field(default_factory=dict)  # every owned key -> its URI
    save_errors: tuple[str, ...] = ()  # files that could not be written (the truth is above)
    stopped: str = ""  # why the apply stopped early (the lease was lost, ...)

    @property
    def failed(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.status in ("failed", "unknown"))

    @property
    def ok(self) -> bool:
        return (not self.failed and not self.interrupted and self.verified
                and not self.save_errors and not self.stopped)
