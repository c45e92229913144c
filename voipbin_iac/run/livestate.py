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

Nothing here waits for one answer before asking the next question when the two do not depend
on each other: the kinds are listed at once (a kind's pages still follow one another through
its cursor), and the `GET`s by id run up to `READERS` at once (`api.fanout`). The client is
thread-safe and its token bucket paces them all, so this changes how long a read takes, never
how many requests it makes; an error is raised as the sequential read would have raised it
(the first kind's, the first resource's, in order).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from ..api import fanout
from ..api.protocol import AiApi
from ..core.kinds import KINDS, Kind
from ..core.model import LiveResource, LiveState, Manifest
from ..errors import NotFoundError, PermissionDeniedError, RefusedError

PAGE = 100
# GETs by id in flight at once. By Little's law the platform's 16.7 requests/s at up to about
# 1 s per request needs 16 to 17 in flight; the token bucket, not this, bounds the rate.
READERS = 16


def list_kinds(api: AiApi, kinds: Sequence[Kind]) -> dict[str, list[LiveResource]]:
    """Every kind's listing, the kinds at once."""
    listed = fanout.each([lambda kind=kind: api.list(kind) for kind in kinds], name="kinds")
    return {kind.name: found for kind, found in zip(kinds, listed, strict=True)}


def read_live(api: AiApi, manifest: Manifest, kinds: Iterable[Kind] = KINDS) -> LiveState:
    """Every live resource of the account, owned ones the listing missed included."""
    kinds = tuple(kinds)
    return complete(api, list_kinds(api, kinds), manifest, kinds)


def complete(api: AiApi, listings: Mapping[str, Iterable[LiveResource]], manifest: Manifest,
             kinds: Iterable[Kind] = KINDS) -> LiveState:
    """The live state from listings of `kinds` (made earlier, perhaps while the files were
    read): the owned resources they missed are fetched by id, as `read_live` does."""
    kinds = tuple(kinds)
    listed = {kind.name: [r for r in listings[kind.name] if not r.deleted] for kind in kinds}
    missing: list[tuple[Kind, str, str]] = []
    for kind in kinds:
        seen = {r.id for r in listed[kind.name]}
        for key, entry in sorted(manifest.entries.get(kind.name, {}).items()):
            if entry.id not in seen:
                missing.append((kind, key, entry.id))
                seen.add(entry.id)  # one GET per id, the first key names it
    found = fanout.each([lambda item=item: fetch_owned(api, *item) for item in missing],
                        limit=READERS, name="read")
    for (kind, _, _), resource in zip(missing, found, strict=True):
        if resource is not None:
            listed[kind.name].append(resource)
    return _state(listed)


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
    re-read, or a fresh `read_live` when `full` or when that is cheaper.

    "Cheaper" counts requests: the GETs (one per written resource) against `listing_cost`.
    Requests are what the account's rate limit meters, and it is shared (other tools, another
    apply's heartbeat), so the verification spends as few as it can. Time follows: the GETs go
    out up to `READERS` at once and take about one round trip plus their share of the bucket,
    a listing takes one round trip per page of its largest kind, so whenever the GETs are
    fewer requests they are also never slower. Where the listing wins on requests but has more
    pages than one (say 100 creates on an empty account: 3 requests in 2 round trips, against
    100 GETs), the GETs would save at most a round trip per page and cost a token each beyond
    the listing's: 1/16.7 s apiece once the writes have emptied the bucket."""
    if full or len(written) >= listing_cost(before):
        return read_live(api, manifest)
    kinds = {k.name: k for k in KINDS}

    def reread(item: tuple[str, str]) -> LiveResource | None:
        resource_id, kind_name = item
        try:
            found = api.get(kinds[kind_name], resource_id)
        except NotFoundError:
            return None
        return None if found.deleted else found

    order = sorted(written.items())
    found = fanout.each([lambda item=item: reread(item) for item in order], limit=READERS,
                        name="read")
    fresh = dict(zip((resource_id for resource_id, _ in order), found, strict=True))
    resources: dict[str, list[LiveResource]] = {}
    for kind in KINDS:
        kept = [fresh.get(r.id, r) for r in before.of(kind.name)]
        seen = {r.id for r in before.of(kind.name)}
        kept += [r for rid, r in fresh.items() if rid not in seen and written[rid] == kind.name]
        resources[kind.name] = [r for r in kept if r is not None]
    return _state(resources)
