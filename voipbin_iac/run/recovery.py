"""Recognising what a create with a lost answer made, and binding it.

One rule, shared by the executor (a create whose answer never came back, checked by a re-list
in the same apply) and by the next run (creates a killed or failed apply left unknown, from the
apply log): a candidate is a live resource of the same kind, created at or after the apply
began (less a tolerance for clock skew), owned by nobody, whose content fingerprint equals the
one of the body that was sent (secret fields left out where VoIPBin does not show them). Each
resource goes to one create, oldest first; creates with identical content are interchangeable.
Names are part of the content, so agents that share a name are told apart by the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ..core.kinds import BY_NAME, Kind
from ..core.model import LiveResource, LiveState, Manifest, ManifestEntry
from ..state.applylog import Pending, Recovery

CLOCK_SKEW = 300.0  # seconds tolerated between our clock and VoIPBin's tm_create


def epoch(stamp: str | None) -> float:
    """An API timestamp (RFC 3339, `Z`) as epoch seconds; 0 when absent or unreadable."""
    if not stamp:
        return 0.0
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def pending_for(kind: Kind, key: str, name: str, body: Mapping[str, Any],
                protect: bool) -> Pending:
    """What to look for later if the create of `body` gets no answer."""
    fields = kind.from_api({**body, "id": "pending"}).fields
    return Pending(kind=kind.name, key=key, name=name, content=kind.content(fields),
                   loose=kind.content(fields, kind.sensitive_fields()), protect=protect)


def _matches(kind: Kind, cand: LiveResource, want: Pending) -> bool:
    hidden = any(cand.fields.get(f) is None for f in kind.sensitive_fields())
    if hidden:
        return kind.content(cand.fields, kind.sensitive_fields()) == want.loose
    return kind.content(cand.fields) == want.content


def match_created(wanted: Sequence[Pending], live: Iterable[LiveResource], taken: set[str],
                  since: float) -> dict[str, LiveResource]:
    """The live resources that the `wanted` creates made, by key. `taken` ids are skipped and
    the ones found are added to it."""
    found: dict[str, LiveResource] = {}
    free = sorted((r for r in live if r.id not in taken and epoch(r.tm_create) >= since),
                  key=lambda r: (r.tm_create or "", r.id))
    for want in wanted:
        kind = BY_NAME[want.kind]
        for cand in free:
            if cand.id not in taken and cand.kind == want.kind and _matches(kind, cand, want):
                found[want.key] = cand
                taken.add(cand.id)
                break
    return found


def resolve_pending(manifest: Manifest, recovery: Recovery, live: LiveState,
                    foreign: Iterable[str] = ()) -> tuple[Manifest, list[Pending]]:
    """Bind the resources that an earlier apply's unknown creates made, whatever the desired
    files say now (they are then updated, kept or pruned like any owned resource). Returns the
    manifest and the creates still unresolved (none made them: the listing is complete)."""
    if not recovery.pending or recovery.started is None:
        return manifest, []
    entries = {k: dict(v) for k, v in manifest.entries.items()}
    taken = manifest.ids() | set(foreign)
    owned_keys = {key for _, key, _ in manifest.items()}
    wanted = [p for p in recovery.pending if p.key not in owned_keys]
    all_live = [r for of_kind in live.resources.values() for r in of_kind]
    found = match_created(wanted, all_live, taken, recovery.started - CLOCK_SKEW)
    for pending in wanted:
        res = found.get(pending.key)
        if res is not None:
            entries.setdefault(pending.kind, {})[pending.key] = ManifestEntry(
                id=res.id, name=pending.name, direct_hash=res.direct_hash,
                protect=pending.protect)
    left = [p for p in recovery.pending if p.key not in found and p.key not in owned_keys]
    return Manifest(entries, account=manifest.account, files=manifest.files), left
