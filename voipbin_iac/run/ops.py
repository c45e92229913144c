"""Single-agent operations: `import` an existing AI, `rotate` its SIP URI, place a test `call`,
and `signup` for a new account. Each returns what happened; the CLI prints it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..api.client import VoipbinClient
from ..core.model import DesiredAgent, Manifest, ManifestEntry
from ..errors import IacError, NotFoundError, ResponseError, UsageError
from ..state import lock
from ..state import manifest as manifests

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class Imported:
    key: str
    entry: ManifestEntry
    already: bool


def import_ai(client: VoipbinClient, manifest_path: Path, key: str, ai_id: str,
              desired: DesiredAgent | None) -> Imported:
    """Record the existing AI `ai_id` as owned by `key` in the manifest."""
    if not _KEY.match(key):
        raise UsageError(f"'{key}' is not a valid agent key (1-63 letters, digits, _ . -)")
    if not _UUID.match(ai_id):
        raise UsageError(f"'{ai_id}' is not an AI id (a UUID such as the ones `plan` lists)")
    with lock.ApplyLock(lock.path_for(manifest_path)):
        manifest = manifests.read(manifest_path)
        owner = manifest.key_of(ai_id)
        if owner is not None and owner != key:
            raise UsageError(f"AI {ai_id} is already owned by '{owner}' in {manifest_path}",
                             hint=f"use `moved: {{{owner}: {key}}}` in the file to rename a key")
        current = manifest.agents.get(key)
        try:
            live = client.get_ai(ai_id)
        except NotFoundError:
            raise UsageError(f"there is no AI {ai_id} in this account",
                             hint="list the account's AIs with `voipbin-iac export`") from None
        if live.tm_delete is not None:
            raise UsageError(f"AI {ai_id} was deleted at {live.tm_delete}; it cannot be owned")
        if current is not None and current.id != ai_id:
            raise UsageError(
                f"'{key}' already owns AI {current.id} in {manifest_path}",
                hint="pick another key, or delete that entry first if it is wrong")
        entry = manifests.entry_for(live, desired, current)
        manifests.write(manifest_path, manifests.with_entries(manifest, {key: entry}))
    return Imported(key, entry, already=current is not None)


@dataclass(frozen=True)
class Rotated:
    key: str
    old_uri: str
    new_uri: str


def owned_entry(manifest: Manifest, manifest_path: Path, key: str) -> ManifestEntry:
    entry = manifest.agents.get(key)
    if entry is None:
        known = ", ".join(sorted(manifest.agents)) or "none"
        raise UsageError(f"'{key}' is not in {manifest_path} (owned keys: {known})",
                         hint="run `voipbin-iac apply` first, or check the key")
    return entry


def rotate(client: VoipbinClient, manifest_path: Path, key: str,
           account_lock: Callable[[], AbstractContextManager[object]] | None = None) -> Rotated:
    """Give `key`'s AI a new direct hash (a new SIP URI) and record it, holding the local lock
    and, when given, the account lock (it writes to the account like an apply)."""
    with lock.ApplyLock(lock.path_for(manifest_path)), \
            (account_lock or contextlib.nullcontext)():
        manifest = manifests.read(manifest_path)
        entry = owned_entry(manifest, manifest_path, key)
        live = client.regenerate_direct_hash(entry.id)
        if not live.direct_hash:
            raise ResponseError(f"POST /ais/{entry.id}/direct-hash-regenerate answered "
                                "without a direct_hash")
        new = ManifestEntry(entry.id, live.name, live.direct_hash, entry.engine_key_fingerprint,
                            entry.fingerprint, entry.protect)
        manifests.write(manifest_path, manifests.with_entries(manifest, {key: new}))
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


@dataclass(frozen=True)
class Called:
    key: str
    sip_uri: str
    call_id: str
    status: str
    hangup_reason: str


def call(client: VoipbinClient, manifest: Manifest, manifest_path: Path, key: str,
         source: str) -> Called:
    """Place a test call from `source` to `key`'s SIP URI through `POST /v1.0/calls`."""
    entry = owned_entry(manifest, manifest_path, key)
    if not entry.sip_uri:
        raise UsageError(f"'{key}' has no direct hash yet", hint="run `voipbin-iac apply`")
    body = {"source": address(source), "destinations": [{"type": "sip", "target": entry.sip_uri}]}
    data = client.create_call(body)
    calls = [c for c in data["calls"] if isinstance(c, dict)]
    if not calls:
        raise ResponseError("POST /calls answered an empty `calls` list")
    first = calls[0]
    return Called(key, entry.sip_uri, str(first.get("id", "")), str(first.get("status", "")),
                  str(first.get("hangup_reason", "")))


@dataclass(frozen=True)
class SignedUp:
    email: str
    customer_id: str
    accesskey: str


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
    return SignedUp(email, str(customer.get("id", key.get("customer_id", ""))), key["token"])
