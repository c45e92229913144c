"""The account lease's records on VoIPBin, and the HTTP calls that read and write them.

Three kinds of record, chosen from the lease fact sheet (`voipbin-lease.md` §0, §4):

- the **lease contact** `voipbin-iac lease (do not delete)`, made once per account. It carries a
  permanent anchor address `contact@lease.voipbin-iac.invalid`, so it is found with one
  `GET /contacts/lookup` and two first runs racing to make it agree on one (the anchor's unique
  key picks the winner; the loser deletes its unused contact);
- the **lock**: the address `apply@lease.voipbin-iac.invalid` on that contact. Its unique key is
  VoIPBin's only compare-and-set: 201 taken, 409 held by someone else. Its `name` carries the
  holder's random token (so a create whose answer was lost is settled by reading), its `detail`
  the id of the holder's heartbeat tag. Deleting it by id frees the key at once (hard delete)
  and can never remove a newer holder's lock;
- one **heartbeat tag** `voipbin-iac lease` per holder. Its `detail` says who holds the lease
  (`HolderInfo`: host, user, pid, start, files; never a secret) and every PUT moves `tm_update`.

`.invalid` is a reserved domain: these addresses never match real traffic. None of the records
is an AI, so plan, export and the manifest never see them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..api.client import VoipbinClient
from ..core.catalog import is_uuid
from ..errors import (
    ApiError,
    IacError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    ResponseError,
    ServerError,
)

KEY = "apply@lease.voipbin-iac.invalid"
ANCHOR = "contact@lease.voipbin-iac.invalid"
CONTACT_NAME = "voipbin-iac lease (do not delete)"
CONTACT_NOTES = ("voipbin-iac keeps its apply lock here: the address " + KEY + " exists while "
                 "an apply runs. Deleting this contact breaks the lock (README: Locking).")
TAG_NAME = "voipbin-iac lease"
LOCK_NAME = "voipbin-iac lease "  # + the holder's token
REFUSED_HINT = ("the account lease keeps a tag and a contact address on the account and needs "
                "an accesskey with customer admin or manager rights; or pass --no-account-lock "
                "(then two machines applying at once may duplicate agents)")
_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$")
_UNPRINTABLE = re.compile(r"[^\x20-\x7e\u00a0-\uffff]")


def parse_time(text: str | None) -> float | None:
    """Epoch seconds of a VoIPBin timestamp (RFC3339Nano, UTC), or None."""
    match = _TIME.match(text or "")
    if match is None:
        return None
    moment = datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC)
    return moment.timestamp() + float("0." + (match.group(2) or "0"))


def _clean(value: Any, limit: int = 200) -> str:
    """Text from a record someone else wrote, safe to print on one line of a terminal."""
    return _UNPRINTABLE.sub("?", str(value))[:limit]


@dataclass(frozen=True)
class HolderInfo:
    """Who holds (or wants) the lease, as its heartbeat tag records it. Never a secret."""

    host: str = "?"
    user: str = "?"
    pid: int = 0
    started: str = "?"
    command: str = "apply"
    files: tuple[str, ...] = ()
    ttl: float = 0.0
    version: str = "?"

    def detail(self) -> str:
        return json.dumps({"tool": "voipbin-iac", "version": self.version, "host": self.host,
                           "user": self.user, "pid": self.pid, "started": self.started,
                           "command": self.command, "files": list(self.files)[:20],
                           "ttl": self.ttl}, ensure_ascii=False)[:4000]

    @classmethod
    def parse(cls, text: str) -> HolderInfo | None:
        """The info in a tag's detail; None when it is not ours (hostile input is cleaned)."""
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            return None
        if not isinstance(data, dict) or data.get("tool") != "voipbin-iac":
            return None
        files = data.get("files")
        ttl, pid = data.get("ttl"), data.get("pid")
        return cls(host=_clean(data.get("host", "?")), user=_clean(data.get("user", "?")),
                   pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else 0,
                   started=_clean(data.get("started", "?"), 40),
                   command=_clean(data.get("command", "?"), 20),
                   files=tuple(_clean(f) for f in files[:20]) if isinstance(files, list) else (),
                   ttl=float(ttl) if isinstance(ttl, int | float) and 0 < ttl < 86_400 else 0.0,
                   version=_clean(data.get("version", "?"), 40))

    def describe(self) -> str:
        files = ", ".join(self.files) or "no files"
        return (f"{self.command} of {files} by {self.user} on {self.host} (pid {self.pid}, "
                f"voipbin-iac {self.version}), started {self.started}")


@dataclass(frozen=True)
class Tag:
    id: str
    name: str
    detail: str
    tm_create: str | None
    tm_update: str | None
    tm_delete: str | None

    @property
    def stamp(self) -> str:
        """The heartbeat: `tm_update`, or `tm_create` before the first PUT."""
        return self.tm_update or self.tm_create or ""


@dataclass(frozen=True)
class Lock:
    """The lock address as read back: who holds it (`token`) and their heartbeat tag."""

    id: str
    contact_id: str
    name: str
    tag_id: str

    @property
    def token(self) -> str:
        return self.name[len(LOCK_NAME):] if self.name.startswith(LOCK_NAME) else ""


class Unsettled(Exception):
    """A lock create answered neither 201 nor 409 (a 500, or no answer): read to find out."""


def _uuid(value: Any) -> str | None:
    """A canonical UUID, or None: ids read from records go into request paths, so anything
    else (`../ais/...`) is never used."""
    return value.lower() if is_uuid(value) else None


def _text(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) else None


class Records:
    """The lease's HTTP calls, through the tool's one `VoipbinClient` (paced, retried)."""

    def __init__(self, client: VoipbinClient) -> None:
        self.client = client

    def _call(self, method: str, path: str, *, ok: tuple[int, ...] = (),
              **kwargs: Any) -> Any:
        """The decoded answer; None for an error status in `ok`; 403 and unserved routes
        become one clear error that says what to do."""
        try:
            return self.client.request(method, path, **kwargs)
        except ApiError as exc:
            if exc.status in ok and exc.reason != "ROUTE_NOT_FOUND":
                return None
            if isinstance(exc, PermissionDeniedError):
                raise IacError(exc.message, hint=REFUSED_HINT) from None
            if isinstance(exc, NotFoundError) and exc.reason == "ROUTE_NOT_FOUND":
                raise IacError(f"this VoIPBin does not serve {method} {path.split('?')[0]}, "
                               "which the account lease needs",
                               hint="pass --no-account-lock (then two machines applying at "
                                    "once may duplicate agents)") from None
            raise

    # -- the lease contact ---------------------------------------------------------------

    def lease_contact(self) -> str:
        """The id of the account's lease contact, made on first use."""
        for _ in range(3):
            found = self._owner_of(ANCHOR)
            if found:
                return found
            made = None
            try:
                made = self._object(self._call("POST", "/contacts", json={
                    "display_name": CONTACT_NAME, "notes": CONTACT_NOTES,
                    "addresses": [{"type": "email", "target": ANCHOR}]}), "POST /contacts")
                made = _uuid(made["id"])
            except (ServerError, OutcomeUnknownError):
                pass  # made or not: the lookup says who owns the anchor
            found = self._owner_of(ANCHOR)
            if found:
                if made and made != found:  # another run made one first: ours is unused
                    self._call("DELETE", f"/contacts/{made}", ok=(404,))
                return found
        raise IacError("could not make the lease contact: VoIPBin accepted it but its anchor "
                       f"address {ANCHOR} does not resolve", hint="run again")

    def _owner_of(self, email: str) -> str | None:
        found = self._call("GET", "/contacts/lookup", params={"email": email}, ok=(404,))
        return None if found is None else _uuid(self._object(found, "GET /contacts/lookup")["id"])

    # -- the lock ----------------------------------------------------------------------

    def holder(self, contact_id: str) -> Lock | None:
        """The lock on the lease contact, if someone holds it."""
        rows = self._call("GET", "/contact_addresses",
                          params={"contact_id": contact_id, "type": "email"})
        if not isinstance(rows, list):
            raise ResponseError("GET /contact_addresses answered something that is not a list")
        for row in rows:
            if isinstance(row, dict) and (_text(row, "target") or "").lower() == KEY:
                return self._lock(row)
        return None

    def holder_anywhere(self) -> Lock | None:
        """The lock on whichever contact holds it (a 500 on create means: not on ours)."""
        contact = self._owner_of(KEY)
        return None if contact is None else self.holder(contact)

    def take(self, contact_id: str, token: str, tag_id: str) -> Lock | None:
        """Create the lock: the lock on 201, None on 409; `Unsettled` otherwise."""
        try:
            made = self._call("POST", "/contact_addresses", ok=(409,), json={
                "contact_id": contact_id, "type": "email", "target": KEY,
                "name": LOCK_NAME + token, "detail": tag_id})
        except (ServerError, OutcomeUnknownError, ResponseError) as exc:
            raise Unsettled(str(exc)) from None
        return None if made is None else self._lock(made)

    def lock_by_id(self, lock_id: str) -> Lock | None:
        found = self._call("GET", f"/contact_addresses/{lock_id}", ok=(404,))
        return None if found is None else self._lock(found)

    def free(self, lock_id: str) -> bool:
        """Delete the lock by id (hard); False when it was already gone."""
        return self._call("DELETE", f"/contact_addresses/{lock_id}", ok=(404,)) is not None

    # -- heartbeat tags ------------------------------------------------------------------

    def new_tag(self, detail: str, tries: int = 3) -> Tag:
        """Make a heartbeat tag. A 500 or a lost answer is tried again: names need not be
        unique, and a tag made without an answer is a leftover the next holder sweeps."""
        for attempt in range(1, tries + 1):
            try:
                return self._tag(self._call("POST", "/tags",
                                            json={"name": TAG_NAME, "detail": detail}))
            except (ServerError, OutcomeUnknownError, ResponseError):
                if attempt == tries:
                    raise
        raise AssertionError("unreachable")

    def tag(self, tag_id: str) -> Tag | None:
        """A holder's tag; None when it is gone or the lock points at nothing readable."""
        found = self._call("GET", f"/tags/{tag_id}", ok=(400, 403, 404))
        return None if found is None else self._tag(found)

    def beat(self, tag_id: str, detail: str) -> Tag | None:
        """PUT the tag again (moves `tm_update`); None when it does not exist."""
        found = self._call("PUT", f"/tags/{tag_id}", ok=(404,),
                           json={"name": TAG_NAME, "detail": detail})
        return None if found is None else self._tag(found)

    def drop_tag(self, tag_id: str) -> None:
        self._call("DELETE", f"/tags/{tag_id}", ok=(400, 403, 404))

    def recent_tags(self) -> list[Tag]:
        """The newest 100 tags of the account, deleted ones included."""
        page = self._call("GET", "/tags", params={"page_size": 100})
        result = page.get("result") if isinstance(page, dict) else None
        if not isinstance(result, list):
            raise ResponseError("GET /tags answered without a `result` list")
        return [self._tag(t) for t in result]

    # -- shapes ------------------------------------------------------------------------

    @staticmethod
    def _object(value: Any, what: str) -> dict[str, Any]:
        """An object with a UUID `id`, as `what` should answer."""
        if not isinstance(value, dict) or _uuid(value.get("id")) is None:
            raise ResponseError(f"{what} answered something that is not an object with an id")
        return value

    def _tag(self, value: Any) -> Tag:
        obj = self._object(value, "a tag request")
        return Tag(str(_uuid(obj["id"])), _text(obj, "name") or "", _text(obj, "detail") or "",
                   _text(obj, "tm_create"), _text(obj, "tm_update"), _text(obj, "tm_delete"))

    def _lock(self, value: Any) -> Lock:
        obj = self._object(value, "a contact address request")
        return Lock(str(_uuid(obj["id"])), _uuid(obj.get("contact_id")) or "",
                    _text(obj, "name") or "", _uuid(obj.get("detail")) or "")
