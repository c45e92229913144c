"""Customers and accesskeys in the store: signup, email verification, expiry, key lookup.

A mixin of `Store` (it uses the store's connection, lock, `transaction` and `stamp`), so the
store's public methods stay where callers know them. What it models (part 2 §D10-D11):

- A signed-up customer starts `status: initial`, `email_verified: false`,
  `identity_verification_status: none`; its accesskey (`default`, "Auto-provisioned API key")
  expires 365 days later and works at once.
- Following the verification link sets `email_verified` and `status: active`
  (`verify_email`; the emulator sends no email, see `EmulatorConfig.unverified_signups`).
- A customer still unverified an hour after signing up is expired: `status: expired` and
  `tm_delete` set (the platform's cron runs every 15 minutes; here it happens at the hour,
  whenever the customer is next looked at). Its key keeps authenticating, and its email is free
  for a new signup (only live customers' emails are unique).
- Customers made by `ensure_accesskey` are established accounts: active and verified.
- Only the SHA-256 of an accesskey is stored (`CU accesskeyhandler/db.go:125,159-160`); the
  token itself is answered once, by the signup.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager

from ..core.clock import Clock
from .records import AccessKeyRecord, CustomerRecord, SignupProfile
from .schema import token_hash
from .timefmt import now_us

UNVERIFIED_MAX_AGE_US = 3600 * 1_000_000  # CU customerhandler/cleanup.go:12-13
ACCESSKEY_LIFETIME_US = 365 * 24 * 3600 * 1_000_000  # CU customerhandler/signup.go:22
SIGNUP_KEY_NAME = "default"  # CU customerhandler/signup.go:98
SIGNUP_KEY_DETAIL = "Auto-provisioned API key"

_CUSTOMER_COLUMNS = (
    "id, email, name, detail, phone_number, address, webhook_method, webhook_uri, status, "
    "email_verified, identity_verification_status, tm_create, tm_update, tm_delete"
)


def _customer(row: tuple) -> CustomerRecord:
    profile = SignupProfile(email=row[1] or "", name=row[2], detail=row[3], phone_number=row[4],
                            address=row[5], webhook_method=row[6], webhook_uri=row[7])
    return CustomerRecord(id=row[0], profile=profile, status=row[8], email_verified=bool(row[9]),
                          identity_verification_status=row[10], tm_create=row[11],
                          tm_update=row[12], tm_delete=row[13])


class AccountsMixin:
    """Customers and accesskeys; mixed into `Store`."""

    _conn: sqlite3.Connection
    _lock: threading.RLock
    _clock: Clock
    transaction: Callable[[], AbstractContextManager[sqlite3.Connection]]
    reading: Callable[[], AbstractContextManager[sqlite3.Connection]]
    stamp: Callable[[int], int]

    def ensure_accesskey(self, token: str, email: str | None = None) -> str:
        """Make `token` a valid accesskey (idempotent) and return its customer's id.

        A new token gets a new, active and verified customer (or the live customer that has
        `email`, when given). Such keys never expire.
        """
        if not token or not token.isprintable() or any(c in token for c in " ;,\"\\"):
            raise ValueError("an accesskey must be non-empty printable text without ; , space")
        with self.transaction() as conn:
            row = conn.execute("SELECT customer_id FROM accesskeys WHERE token=?",
                               (token_hash(token),)).fetchone()
            if row:
                return str(row[0])
            stamp = now_us(self._clock)  # not a `stamp`: AI and call times follow the app clock
            found = email and conn.execute(
                "SELECT id FROM customers WHERE email=? AND tm_delete IS NULL",
                (email,)).fetchone()
            customer_id = str(found[0]) if found else self._insert_customer(
                conn, SignupProfile(email=email or ""), stamp, verified=True)
            self._insert_key(conn, customer_id, token, "", "", None, stamp)
            return customer_id

    def _insert_customer(self, conn: sqlite3.Connection, profile: SignupProfile, stamp: int, *,
                         verified: bool) -> str:
        customer_id = str(uuid.uuid4())
        conn.execute(
            f"INSERT INTO customers ({_CUSTOMER_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (customer_id, profile.email or None, profile.name, profile.detail,
             profile.phone_number, profile.address, profile.webhook_method, profile.webhook_uri,
             "active" if verified else "initial", int(verified), "none", stamp, None, None),
        )
        return customer_id

    def _insert_key(self, conn: sqlite3.Connection, customer_id: str, token: str, name: str,
                    detail: str, expire: int | None, stamp: int) -> AccessKeyRecord:
        key = AccessKeyRecord(id=str(uuid.uuid4()), customer_id=customer_id, name=name,
                              detail=detail, token=token, tm_expire=expire, tm_create=stamp)
        conn.execute("INSERT INTO accesskeys VALUES (?,?,?,?,?,?,?,NULL)",
                     (key.id, customer_id, token_hash(token), name, detail, expire, stamp))
        return key

    def customer_for_token(self, token: str, now: int) -> str | None:
        """The customer an accesskey belongs to, if the key is live and not expired.

        As `authenticate.go:196-213` checks it: the key's `tm_expire` must not be before now and
        its `tm_delete` unset; the customer's status is not looked at (an unverified or expired
        customer's key still works; the emulator has no frozen accounts)."""
        with self.reading() as conn:
            row = conn.execute(
                "SELECT customer_id, tm_expire FROM accesskeys WHERE token=? "
                "AND tm_delete IS NULL", (token_hash(token),)).fetchone()
        if row is None or (row[1] is not None and row[1] < now):
            return None
        return str(row[0])

    def signup(self, profile: SignupProfile, token: str, now: int, *,
               verify: bool = True) -> tuple[CustomerRecord, AccessKeyRecord] | None:
        """A new customer with its `default` accesskey; None when a live customer has the email.

        The customer returned is the one the platform answers with (unverified, `initial`).
        With `verify` the emulator then follows the verification link at once (there is no
        email to wait for), so the stored customer is active."""
        with self.transaction() as conn:
            self._expire_unverified(conn, now)
            if conn.execute("SELECT 1 FROM customers WHERE email=? AND tm_delete IS NULL",
                            (profile.email,)).fetchone():
                return None
            stamp = self.stamp(now)
            customer_id = self._insert_customer(conn, profile, stamp, verified=False)
            key = self._insert_key(conn, customer_id, token, SIGNUP_KEY_NAME, SIGNUP_KEY_DETAIL,
                                   stamp + ACCESSKEY_LIFETIME_US, stamp)
            customer = self._get_customer(conn, customer_id)
            if verify:
                self._verify(conn, customer_id, self.stamp(now))
        assert customer is not None
        return customer, key

    def verify_email(self, customer_id: str, now: int) -> bool:
        """Follow the customer's verification link: `email_verified` and `status: active`.
        False when there is no such live customer (an expired one can no longer verify: its
        link lived one hour, `signup.go:20-21`)."""
        with self.transaction() as conn:
            self._expire_unverified(conn, now)
            return self._verify(conn, customer_id, self.stamp(now))

    def _verify(self, conn: sqlite3.Connection, customer_id: str, stamp: int) -> bool:
        cursor = conn.execute(
            "UPDATE customers SET email_verified=1, status='active', tm_update=? "
            "WHERE id=? AND tm_delete IS NULL AND email_verified=0", (stamp, customer_id))
        return cursor.rowcount == 1

    def set_identity_verification(self, customer_id: str, status: str) -> None:
        """Set a customer's identity verification (none, pending, verified, rejected): the
        platform's is done by its staff, so only tests and Python callers change it here."""
        if status not in ("none", "pending", "verified", "rejected"):
            raise ValueError(f"unknown identity verification status {status!r}")
        with self.transaction() as conn:
            conn.execute("UPDATE customers SET identity_verification_status=? WHERE id=?",
                         (status, customer_id))

    def get_customer(self, customer_id: str, now: int) -> CustomerRecord | None:
        """The customer as it is at `now` (an unverified one expires at its hour)."""
        with self.transaction() as conn:
            self._expire_unverified(conn, now)
            return self._get_customer(conn, customer_id)

    @staticmethod
    def _get_customer(conn: sqlite3.Connection, customer_id: str) -> CustomerRecord | None:
        row = conn.execute(f"SELECT {_CUSTOMER_COLUMNS} FROM customers WHERE id=?",
                           (customer_id,)).fetchone()
        return _customer(row) if row else None

    @staticmethod
    def _expire_unverified(conn: sqlite3.Connection, now: int) -> None:
        """The platform's cleanup (`CU customerhandler/cleanup.go:28-47`), due at the hour."""
        conn.execute(
            "UPDATE customers SET status='expired', tm_delete=tm_create+?, tm_update=tm_create+? "
            "WHERE email_verified=0 AND tm_delete IS NULL AND tm_create+?<=?",
            (UNVERIFIED_MAX_AGE_US, UNVERIFIED_MAX_AGE_US, UNVERIFIED_MAX_AGE_US, now))

    def accesskey_count(self) -> int:
        """How many live accesskeys the state holds."""
        with self.reading() as conn:
            row = conn.execute("SELECT COUNT(*) FROM accesskeys WHERE tm_delete IS NULL").fetchone()
        return int(row[0])

    def default_accesskey(self, generate: Callable[[], str]) -> str:
        """The key the CLI serves when given none: the one made last time, or a new one."""
        with self._lock:
            row = self._conn.execute(
                "SELECT value FROM meta WHERE key='default_accesskey'").fetchone()
            if row:
                self.ensure_accesskey(str(row[0]))
                return str(row[0])
            token = generate()
            self.ensure_accesskey(token)
            with self.transaction() as conn:
                conn.execute("INSERT INTO meta VALUES ('default_accesskey', ?)", (token,))
            return token
