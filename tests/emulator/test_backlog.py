"""The emulator's listen backlog (issue: performance): many clients connecting at once are all
queued by the kernel, as by a real server, instead of being dropped past socketserver's 5."""

from __future__ import annotations

import select
import socket
import time

from voipbin_iac.emulator import EmulatorApp, EmulatorServer, Store
from voipbin_iac.emulator.server import BACKLOG

CLIENTS = 64


def test_sixty_four_connections_wait_in_the_backlog_before_the_server_accepts() -> None:
    with Store.open(None) as store:
        server = EmulatorServer(EmulatorApp(store))  # listening, not yet accepting
        pending = []
        try:
            for _ in range(CLIENTS):
                client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                client.setblocking(False)
                client.connect_ex((server.host, server.port))
                pending.append(client)
            connected: set[socket.socket] = set()
            deadline = time.monotonic() + 10  # a failsafe: the kernel completes them at once
            while len(connected) < CLIENTS and time.monotonic() < deadline:
                _, writable, _ = select.select([], [c for c in pending if c not in connected],
                                               [], 0.5)
                connected.update(c for c in writable
                                 if c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0)
            assert len(connected) == CLIENTS  # with a backlog of 5, only 6 got through
        finally:
            for client in pending:
                client.close()
            server.stop()
    assert BACKLOG >= 128
