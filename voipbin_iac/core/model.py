"""The value types every other module speaks: desired and live agents, changes, plans, results.

All frozen dataclasses. Field values are canonical (see `fields.py`): the same Python value for
"the same thing" whether it came from YAML or from the API, so comparing is plain `==`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import Location
from .catalog import IMPACT_ORDER, sip_uri


@dataclass(frozen=True)
class DesiredAgent:
    """One agent as the desired-state file wants it, defaults merged, env expanded.

    `fields` holds every write field (omitted ones at the platform's blank value); `engine_key`
    inside it is a `redact.Secret`.
    """

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
    """The threshold above which updates and deletes of owned agents need `--force`."""

    max_change_percent: float = 30.0
    min_owned: int = 10


@dataclass(frozen=True)
class DesiredState:
    """Everything the desired-state file(s) say."""

    agents: Mapping[str, DesiredAgent]
    moved: Mapping[str, str] = field(default_factory=dict)
    safety: Safety = Safety()
    files: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    # Every value substituted from the environment: secrets wherever they land (the CLI adds
    # them to its redactor).
    env_values: tuple[str, ...] = field(default=(), repr=False)
    # Files that hold nothing but `tests:` (conversation tests): they never name the manifest.
    tests_only: tuple[str, ...] = ()


@dataclass(frozen=True)
class LiveAgent:
    """One AI as the API returned it: canonical write fields plus server-side facts.

    `fields["engine_key"]` is a `Secret`, or None when the response did not carry the key.
    """

    id: str
    fields: Mapping[str, Any]
    direct_hash: str = ""
    tm_create: str | None = None
    tm_update: str | None = None
    tm_delete: str | None = None

    @property
    def name(self) -> str:
        return str(self.fields.get("name", ""))

    @property
    def sip_uri(self) -> str:
        return sip_uri(self.direct_hash) if self.direct_hash else ""


@dataclass(frozen=True)
class ManifestEntry:
    """What the manifest records for one owned agent."""

    id: str
    name: str
    direct_hash: str = ""
    engine_key_fingerprint: str = ""
    fingerprint: str = ""  # of the live fields after the last apply: drift detection
    protect: bool = False

    @property
    def sip_uri(self) -> str:
        return sip_uri(self.direct_hash) if self.direct_hash else ""


@dataclass(frozen=True)
class Manifest:
    """Which AI each key owns, and its SIP URI. Only AIs listed here are owned."""

    agents: Mapping[str, ManifestEntry] = field(default_factory=dict)

    def key_of(self, ai_id: str) -> str | None:
        for key, entry in self.agents.items():
            if entry.id == ai_id:
                return key
        return None


@dataclass(frozen=True)
class FieldChange:
    """One field's change. For a sensitive field `old`/`new` are fingerprints, never values."""

    field: str
    old: Any
    new: Any
    impact: str
    sensitive: bool = False


@dataclass(frozen=True)
class Change:
    """One action on one agent."""

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

    `bindings` maps every key that owns a live AI after this plan (except pending creates) to
    its id; `moves` are manifest re-keyings from `moved:` (or a detected key rename).
    """

    changes: tuple[Change, ...]
    bindings: Mapping[str, str] = field(default_factory=dict)
    moves: Mapping[str, str] = field(default_factory=dict)
    unchanged: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    forgotten: tuple[str, ...] = ()
    unmanaged: int = 0
    live_count: int = 0
    safety: SafetyCheck = SafetyCheck(0, 0, 30.0, 10)
    warnings: tuple[str, ...] = ()

    @property
    def has_changes(self) -> bool:
        """Whether apply would change the account or the manifest."""
        return bool(self.changes or self.moves or self.forgotten)

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)


@dataclass(frozen=True)
class Outcome:
    """How one change went."""

    change: Change
    status: str  # done | failed | skipped (| unknown: a create not yet resolved, transient)
    id: str | None = None
    reason: str = ""
    live: LiveAgent | None = None


@dataclass(frozen=True)
class ApplyResult:
    """Every change with its outcome, and whether the account now matches."""

    outcomes: tuple[Outcome, ...]
    verified: bool = False
    remaining: int | None = None  # changes a fresh plan still shows; None: could not check
    manifest_path: str = ""
    regenerated: tuple[str, ...] = ()
    interrupted: bool = False

    @property
    def failed(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.status == "failed")

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted and self.verified
