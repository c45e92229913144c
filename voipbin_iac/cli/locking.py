"""The account lock's wiring for the writing commands (`apply`, `rotate`): the flags become
`LeaseSettings`, the machine and the command become the `HolderInfo` the lease records show.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
from argparse import Namespace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .. import __version__
from ..api.client import VoipbinClient
from ..core.clock import SystemClock
from ..errors import UsageError
from ..state.lease import MAX_TTL, AccountLease, LeaseSettings
from ..state.leaserecords import HolderInfo, Records

if TYPE_CHECKING:
    from .app import Console


def lease_settings(args: Namespace) -> LeaseSettings:
    if not 0 <= args.lock_timeout <= 86_400:
        raise UsageError("--lock-timeout: give a duration between 0 and 24h")
    if not 0.5 <= args.lock_ttl <= MAX_TTL:
        raise UsageError("--lock-ttl: give a duration between 500ms and 1h")
    return LeaseSettings(ttl=args.lock_ttl, timeout=args.lock_timeout)


def account_lease(args: Namespace, settings: LeaseSettings, console: Console,
                   client: VoipbinClient, files: list[str]) -> AccountLease | None:
    """The lease on the account for a writing command, or None with `--no-account-lock`."""
    if args.no_account_lock:
        console.err("warning: --no-account-lock: the account is not locked; another machine "
                    "applying to it at the same time may duplicate agents")
        return None
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    clean = console.redactor  # the records are visible in the account: never a secret
    info = HolderInfo(host=clean(socket.gethostname()), user=clean(user), pid=os.getpid(),
                      started=datetime.fromtimestamp(console.clock.time(), UTC).strftime(
                          "%Y-%m-%dT%H:%M:%SZ"),
                      command=args.command, files=tuple(clean(f) for f in files),
                      ttl=settings.ttl, version=__version__)
    # A heartbeat thread waits on real time: only with the real clock (see `state.lease`).
    return AccountLease(Records(client), info, settings, clock=console.clock,
                        log=logging.getLogger("voipbin_iac.lease"),
                        background=isinstance(console.clock, SystemClock))
