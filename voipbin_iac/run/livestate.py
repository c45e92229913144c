"""Reading the live state: the one place that decides what the account holds.

`read_live` lists every kind in pages of 100 and then fetches by id the owned resources the
listing did not show (normally none): before the plan re-creates one (a new SIP URI for every
caller) or the end of an apply drops it from the manifest, only a `GET` answering 404 or
`tm_delete` says it is gone. A `GET` answering 403 means the manifest records another
account's resource: the manifest is not this account's, and nothing goes on. Plan, the end of
apply and the saved-plan check all read through here.

`refresh` re-reads after an apply at the cost of what changed: one `GET` per written resource
when that is cheaper than listing, a full `read_live` when an outcome was unknown or something
was deleted (then only a listing shows what the account really holds).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from ..api.protocol import AiApi
from ..core.kinds import KINDS, Kind
from ..core.model import LiveResource, LiveState, Manifest
from ..errors import NotFoundError, PermissionDeniedError, RefusedError

PAGE = 100


def read_live(api: AiApi, manifest: Manifest, kinds: Iterable[Kind] = KINDS) -> LiveState:
    """Every live resource of the account, owned ones the listing missed included."""
    kinds = tuple(kinds)
    return complete(api, {kind.name: api.list(kind) for kind in kinds}, manifest, kinds)


def complete(api: AiApi, listings: Mapping[str, Iterable[LiveResource]], manifest: Manifest,
             kinds: Iterable[Kind] = KINDS) -> LiveState:
    """The live state from listings of `kinds` (made earlier, perhaps while the files were
    read): the owned resources they missed are fetched by id, as `read_live` does."""
    resources: dict[str, list[LiveResource]] = {}
    for kind in kinds:
        listed = [r for r in listings[kind.name] if not r.deleted]
        seen = {r.id for r in listed}
        for key, entry in sorted(manifest.entries.get(kind.name, {}).items()):
            if entry.id not in seen:
                found = fetch_owned(api, kind, key, entry.id)
                if found is not None:
                    listed.append(found)
                    seen.add(found.id)
        resources[kind.name] = listed
    return _state(resources)


def fetch_owned(api: AiApi, kind: Kind, key: str, resource_id: str) -> LiveResource | None:
    """An owned resource by id; None when it is gone (404 or deleted)."""
    try:
        found = api.get(kind, resource_id)
    except NotFoundError:
        return None
    except PermissionDeniedError:
        raise RefusedError(
            f"the manifest records {kind.noun} {resource_id} for '{key}', but it belongs to "
            "another account (VoIPBin answers 403): this manifest is not this account's",
            hint="check VOIPBIN_API_KEY (and VOIPBIN_API_BASE_URL), or give this account its "
                 "own manifest with --manifest") from None
    return None if found.deleted else found


def _state(resources: Mapping[str, list[LiveResource]]) -> LiveState:
    account = next((r.customer_id for of_kind in resources.values() for r in of_kind
                    if r.customer_id), "")
    return LiveState({k: tuple(v) for k, v in resources.items()}, account=account)


def listing_cost(live: LiveState) -> int:
    """Requests a full `read_live` takes: the pages of every kind plus each empty last page."""
    return sum(math.ceil(len(live.of(k.name)) / PAGE) + 1 for k in KINDS)


def refresh(api: AiApi, before: LiveState, manifest: Manifest,
            written: Mapping[str, str], *, full: bool) -> LiveState:
    """The live state after an apply: `before` with every written resource (id -> kind)
    re-read, or a fresh `read_live` when `full` or when that is cheaper."""
    if full or len(written) >= listing_cost(before):
        return read_live(api, manifest)
    kinds = {k.name: k for k in KINDS}
    fresh: dict[str, LiveResource | None] = {}
    for resource_id, kind_name in sorted(written.items()):
        try:
            found = api.get(kinds[kind_name], resource_id)
        except NotFoundError:
            found = None
        fresh[resource_id] = None if found is None or found.deleted else found
    resources: dict[str, list[LiveResource]] = {}
    for kind in KINDS:
        kept = [fresh.get(r.id, r) for r in before.of(kind.name)]
        seen = {r.id for r in before.of(kind.name)}
        kept += [r for rid, r in fresh.items() if rid not in seen and written[rid] == kind.name]
        resources[kind.name] = [r for r in kept if r is not None]
    return _state(resources)
