"""Single-resource operations: `import` an existing AI or team, `rotate` its SIP URI, place a
test `call`, and `signup` for a new account. Each returns what happened; the CLI prints it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..api.client import VoipbinClient
from ..api.protocol import AiApi
from ..core.catalog import is_uuid
from ..core.clock import Clock
from ..core.kinds import BY_NAME, KINDS, Kind, Refs
from ..core.model import DesiredResource, LiveResource, Manifest, ManifestEntry
from ..errors import IacError, NotFoundError, ResponseError, ServerError, UsageError
from ..state import lock
from ..state import manifest as manifests

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class Imported:
    key: str
    kind: str
    entry: ManifestEntry
    already: bool


def _find(api: AiApi, res_id: str, kinds: list[Kind]) -> tuple[Kind, LiveResource]:
    for kind in kinds:
        try:
            return kind, api.get(kind, res_id)
        except NotFoundError:
            continue
    nouns = " or ".join(f"{k.noun}" for k in kinds)
    raise UsageError(f"there is no {nouns} {res_id} in this account",
                     hint="list the account's resources with `voipbin-iac export`")


def import_ai(api: AiApi, manifest_path: Path, key: str, res_id: str,
              desired: DesiredResource | None, mask: Callable[[str], str] = str) -> Imported:
    """Record the existing resource `res_id` (an AI or a team) as owned by `key`."""
    if not _KEY.fullmatch(key):
        raise UsageError(f"'{key}' is not a valid key (1-63 letters, digits, _ . -)")
    if not is_uuid(res_id):
        raise UsageError(f"'{res_id}' is not an id (a UUID such as the ones `plan` lists)")
    res_id = res_id.lower()
    with lock.ApplyLock(lock.path_for(manifest_path)):
        manifest = manifests.read(manifest_path)
        owner = manifest.key_of(res_id)
        if owner is not None and owner != key:
            raise UsageError(f"{res_id} is already owned by '{owner}' in {manifest_path}",
                             hint=f"use `moved: {{{owner}: {key}}}` in the file to rename a key")
        current = manifest.find(key)
        kinds = [BY_NAME[desired.kind]] if desired is not None else list(KINDS)
        if current is not None:
            kinds = [BY_NAME[current[0]]]
        kind, live = _find(api, res_id, kinds)
        if live.deleted:
            raise UsageError(f"{kind.noun} {res_id} was deleted at {live.tm_delete}; it cannot "
                             "be owned")
        if manifest.account and live.customer_id and live.customer_id != manifest.account:
            raise UsageError(f"{kind.noun} {res_id} belongs to another account than "
                             f"{manifest_path}")
        if current is not None and current[1].id != res_id:
            raise UsageError(
                f"'{key}' already owns {current[1].id} in {manifest_path}",
                hint="pick another key, or delete that entry first if it is wrong")
        previous = current[1] if current is not None else None
        entry = kind.entry(live, desired, previous, applied=False, name=mask(live.name),
                           refs=Refs(ids={key: live.id}))
        updated = manifests.with_entries(manifest, kind.name, {key: entry})
        if not updated.account and live.customer_id:
            updated = Manifest(updated.entries, account=live.customer_id, files=updated.files)
        manifests.write(manifest_path, updated)
    return Imported(key, kind.name, entry, already=previous is not None)


@dataclass(frozen=True)
class Rotated:
    key: str
    old_uri: str
    new_uri: str


def owned_entry(manifest: Manifest, manifest_path: Path, key: str) -> tuple[str, ManifestEntry]:
    """The kind and entry `key` owns, or a clear error."""
    found = manifest.find(key)
    if found is None:
        known = ", ".join(sorted(k for _, k, _ in manifest.items())) or "none"
        raise UsageError(f"'{key}' is not in {manifest_path} (owned keys: {known})",
                         hint="run `voipbin-iac apply` first, or check the key")
    return found


def rotate(api: AiApi, manifest_path: Path, key: str,
           account_lock: Callable[[], AbstractContextManager[object]] | None = None) -> Rotated:
    """Give `key`'s resource a new direct hash (a new SIP URI) and record it, holding the local
    lock and, when given, the account lock (it writes to the account like an apply)."""
    with lock.ApplyLock(lock.path_for(manifest_path)), \
            (account_lock or contextlib.nullcontext)():
        manifest = manifests.read(manifest_path)
        kind_name, entry = owned_entry(manifest, manifest_path, key)
        kind = BY_NAME[kind_name]
        live = api.regenerate(kind, entry.id)
        if not live.direct_hash:
            raise ResponseError(f"POST {kind.path}/{entry.id}/direct-hash-regenerate answered "
                                "without a direct_hash")
        new = replace(entry, direct_hash=live.direct_hash)
        manifests.write(manifest_path, manifests.with_entries(manifest, kind_name, {key: new}))
    return Rotated(key, entry.sip_uri, new.sip_uri)


def address(text: str) -> dict[str, str]:
    """`sip:alice@example.com` or `tel:+15551234567` (or `+15551234567`) as an Address."""
    text = text.strip()
    if re.fullmatch(r"sip:[^@\s]+@[^@\s]+", text):
        return {"type": "sip", "target": text}
    number = text.removeprefix("tel:")
    if re.fullmatch(r"\+[1-9][0-9]{6,14}", number):
        return {"type": "tel", "target": number}
    raise UsageError(f"'{text}' is not a caller address",
                     hint="use a SIP URI such as sip:tester@example.com or an E.164 number "
                          "such as tel:+15551234567")


CALL_WATCH_SECONDS = 15.0  # how long `call` follows a call that is still dialing
CALL_POLL_SECONDS = 1.0
_CALL_500_HINT = (
    "VoIPBin answers 500 when not one destination could start a call. A new account cannot "
    "place calls until its email is verified (status `initial`): follow the link VoIPBin "
    "emailed at signup; an account left unverified for an hour is expired. Otherwise the "
    "account may lack balance")


@dataclass(frozen=True)
class Called:
    """A test call as VoIPBin last reported it (voipbin-api-2.md §D11)."""

    key: str
    sip_uri: str
    call_id: str
    status: str  # dialing, ringing, progressing, terminating, canceling or hangup
    hangup_reason: str  # "", normal, failed, busy, cancel, timeout, noanswer, dialout, amd
    answered: bool  # VoIPBin reported an answer (tm_progressing)
    hangup_by: str = ""
    watched: float = 0.0  # seconds the call was followed after it was placed

    @property
    def ended(self) -> bool:
        return self.status == "hangup"


def call(client: VoipbinClient, manifest: Manifest, manifest_path: Path, key: str,
         source: str, *, clock: Clock | None = None,
         watch: float = CALL_WATCH_SECONDS) -> Called:
    """Place a test call from `source` to `key`'s SIP URI (an agent's or a team's) through
    `POST /v1.0/calls`.

    A new call is `dialing`; with a `clock` it is followed (`GET /calls/{id}` every second,
    for at most `watch` seconds) until VoIPBin reports its hangup. The call carries no flow,
    so once answered VoIPBin ends it at once."""
    _, entry = owned_entry(manifest, manifest_path, key)
    if not entry.sip_uri:
        raise UsageError(f"'{key}' has no direct hash yet", hint="run `voipbin-iac apply`")
    body = {"source": address(source), "destinations": [{"type": "sip", "target": entry.sip_uri}]}
    try:
        data = client.create_call(body)
    except ServerError as exc:
        if exc.status != 500:
            raise
        raise ServerError(method=exc.method, path=exc.path, status=exc.status,
                          reason=exc.reason, detail=exc.detail, request_id=exc.request_id,
                          hint=_CALL_500_HINT) from None
    calls = [c for c in data["calls"] if isinstance(c, dict)]
    if not calls:
        raise ResponseError("POST /calls answered an empty `calls` list")
    record, watched = calls[0], 0.0
    call_id = str(record.get("id", ""))
    answered = bool(record.get("tm_progressing"))
    while clock is not None and call_id and watched < watch and record.get("status") != "hangup":
        clock.sleep(CALL_POLL_SECONDS)
        watched += CALL_POLL_SECONDS
        record = client.get_call(call_id)
        answered = answered or bool(record.get("tm_progressing"))
    return Called(key, entry.sip_uri, call_id, str(record.get("status", "")),
                  str(record.get("hangup_reason", "")), answered,
                  str(record.get("hangup_by", "")), watched)


def call_notes(called: Called) -> list[str]:
    """What the call shows and what it cannot show, for the user (one line each)."""
    if called.answered:
        notes = [f"answered: VoIPBin routed {called.sip_uri} to a live agent (its direct hash "
                 "resolves)."]
        if called.ended and called.hangup_reason == "normal" and called.hangup_by == "local":
            notes.append("VoIPBin then hung up itself: a call placed through the API runs no "
                         "flow and carries no caller audio.")
        notes.append("This does not show that the agent speaks, that its prompt or engine key "
                     "work, or how it sounds: call the URI from a SIP phone for that.")
        return notes
    if called.ended:
        return [f"not answered ({called.hangup_reason or 'no reason given'}): nothing took the "
                f"call at {called.sip_uri}. If the agent was deleted or its URI rotated, run "
                "`voipbin-iac plan` and use the manifest's current URI."]
    return [f"still {called.status or 'unknown'} after {called.watched:g} s: VoIPBin has not "
            f"reported an answer yet; look again with GET /v1.0/calls/{called.call_id}."]


@dataclass(frozen=True)
class SignedUp:
    email: str
    customer_id: str
    accesskey: str
    status: str = ""  # initial until the email is verified (voipbin-api-2.md §D10)
    email_verified: bool = False
    key_expires: str = ""  # the accesskey's tm_expire


def signup(client: VoipbinClient, email: str, name: str | None) -> SignedUp:
    """Create an account; VoIPBin answers `{}` for any failure, a duplicate email included."""
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise UsageError(f"'{email}' is not an email address")
    body: dict[str, Any] = {"email": email, "accepted_tos": True}
    if name:
        body["name"] = name
    data = client.signup(body)
    key = data.get("accesskey") if isinstance(data.get("accesskey"), dict) else None
    if not data or key is None or not isinstance(key.get("token"), str):
        raise IacError(
            "VoIPBin created no account: the email may already be registered, or the signup "
            "was refused (VoIPBin gives the same empty answer in both cases, on purpose)",
            hint="sign in to the VoIPBin console with that email, or use another email")
    customer = data.get("customer") if isinstance(data.get("customer"), dict) else {}
    return SignedUp(email, str(customer.get("id", key.get("customer_id", ""))), key["token"],
                    str(customer.get("status", "")), customer.get("email_verified") is True,
                    str(key.get("tm_expire") or ""))
