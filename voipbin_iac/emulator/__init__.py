"""The embedded VoIPBin emulator: `/v1.0/ais` (with prompt histories), `/v1.0/teams`,
`/v1.0/calls` and `/auth/signup` on SQLite.

A faithful model of the parts of VoIPBin this tool touches, following `voipbin-api.md` and
`voipbin-api-2.md` (part 2 wins where they differ; `docs/emulator.md` lists what is knowingly
different): a WSGI app (`EmulatorApp`) over a thread-safe SQLite store (`Store`), served over
real HTTP by `EmulatorServer` (and `run_emulator` for the CLI) or in-process by
`EmulatorTransport`.

Modules: `app` (routing, auth, limits, faults, envelope), `ais`, `prompthistory`, `teams`,
`calls`, `signup` (handlers), `paging`, `protocol` (HTTP and JSON vocabulary), `faults`,
`config`, `requestlog`, `store` (AIs, directs, RAGs, calls), `accounts` (customers, keys),
`teamstore`, `schema`, `records`, `timefmt`, `server`, `transport`.
"""

from .app import EmulatorApp
from .config import EmulatorConfig
from .faults import FAULT_KINDS, DropConnection
from .requestlog import LoggedRequest, RequestLog
from .schema import EmulatorError, EmulatorStateError
from .server import EmulatorServer, run_emulator
from .store import Store
from .transport import EmulatorTransport

__all__ = [
    "FAULT_KINDS",
    "DropConnection",
    "EmulatorApp",
    "EmulatorConfig",
    "EmulatorError",
    "EmulatorServer",
    "EmulatorStateError",
    "EmulatorTransport",
    "LoggedRequest",
    "RequestLog",
    "Store",
    "run_emulator",
]
