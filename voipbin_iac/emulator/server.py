"""`EmulatorServer` (the app over real loopback HTTP, threaded) and `run_emulator` for the CLI.

The HTTP layer is the standard library's `ThreadingHTTPServer` (listening with a backlog of
`BACKLOG`, as real servers do, not socketserver's 5) with a handler that speaks HTTP/1.1
keep-alive, reads `Content-Length` and chunked bodies (keeping at most the app's size limit,
draining the rest so the client still gets its 400), and turns a `DropConnection` from the app
into a closed socket with no response bytes at all.
"""

from __future__ import annotations

import contextlib
import io
import socket
import socketserver
import sys
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

from ..core.clock import Clock
from .app import EmulatorApp
from .config import EmulatorConfig
from .faults import DropConnection
from .schema import EmulatorError
from .signup import new_accesskey_token
from .store import Store

BACKLOG = 512  # connections the kernel queues before the server accepts them
DRAIN_LIMIT = 64 * 1024 * 1024  # bytes read and discarded past the size limit before closing
_PIECE = 65536


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: 32 clients connecting at once got resets.
    # Real servers listen with 128 or more (Linux's somaxconn caps it).
    request_queue_size = BACKLOG

    def __init__(self, address: tuple[str, int], app: EmulatorApp, family: int) -> None:
        self.address_family = family
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # no reverse DNS lookup of the host
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.0"  # so even a broken request line gets a status line
    server_version = "voipbin-iac-emulator"
    sys_version = ""
    timeout = 120  # an idle keep-alive connection is closed after this
    disable_nagle_algorithm = True  # headers and body go out without a delayed-ACK stall
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the app keeps a log
        return

    def version_string(self) -> str:
        return self.server_version

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline:
                self.close_connection = True
                return
            if len(self.raw_requestline) > 65536:
                self.requestline, self.request_version, self.command = "", "", ""
                self.send_error(414)
                return
            if not self.parse_request():
                return
            self._serve()
            self.wfile.flush()
        except (OSError, ValueError):  # the client went away or sent nonsense framing
            self.close_connection = True

    def _read_exact(self, count: int, keep: int, kept: list[bytes]) -> int:
        """Read `count` bytes, keeping up to `keep` of them; returns how many were kept."""
        got = 0
        while count > 0:
            piece = self.rfile.read(min(count, _PIECE))
            if not piece:
                raise ConnectionError("body ended early")
            count -= len(piece)
            if got < keep:
                kept.append(piece[: keep - got])
                got += len(kept[-1])
        return got

    def _read_body(self, limit: int) -> tuple[bytes, int]:
        """The body (at most limit + 1 bytes kept) and the length the app should see."""
        kept: list[bytes] = []
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            total = 0
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"x", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                if total + size > DRAIN_LIMIT:
                    self.close_connection = True
                    return b"", limit + 1
                self._read_exact(size, limit + 1 - sum(map(len, kept)), kept)
                total += size
                self.rfile.readline(1024)
            return b"".join(kept), total
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > DRAIN_LIMIT:
            self.close_connection = True
            return b"", length
        self._read_exact(length, limit + 1, kept)
        return b"".join(kept), length

    def _environ(self, body: bytes, length: int) -> dict[str, Any]:
        target = self.path
        if "://" in target.split("?", 1)[0]:
            parts = urlsplit(target)
            target = parts.path + ("?" + parts.query if parts.query else "")
        path, _, query = target.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path, encoding="latin-1"),
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(length),
            "REMOTE_ADDR": self.client_address[0],
            "SERVER_NAME": self.server.server_name,
            "SERVER_PORT": str(self.server.server_port),
            "SERVER_PROTOCOL": self.request_version,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                continue
            if key in environ:
                value = environ[key] + ("; " if key == "HTTP_COOKIE" else ",") + value
            environ[key] = value
        return environ

    def _serve(self) -> None:
        app = self.server.app
        try:
            body, length = self._read_body(app.config.max_body_bytes)
        except ValueError:
            self.close_connection = True
            self.send_error(400)
            return
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]],
                           exc_info: Any = None) -> Callable[[bytes], None]:
            answer["status"], answer["headers"] = status, headers
            return lambda _data: None

        try:
            payload = b"".join(app(self._environ(body, length), start_response))
        except DropConnection:
            self.close_connection = True  # nothing was written: the client sees a bare EOF
            return
        code, _, phrase = answer["status"].partition(" ")
        self.send_response(int(code), phrase)
        for name, value in answer["headers"]:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


class EmulatorServer:
    """The emulator served over HTTP on a loopback address; port 0 picks a free port."""

    def __init__(self, app: EmulatorApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        if not 0 <= port <= 65535:  # the socket layer would raise OverflowError
            raise EmulatorError(f"cannot listen on port {port}: a TCP port is 0 to 65535 "
                                "(0 picks a free one)")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self._httpd = _HTTPServer((host, port), app, family)
        except (OSError, OverflowError, UnicodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise EmulatorError(f"cannot listen on {host}:{port}: {reason}") from exc
        self._thread: threading.Thread | None = None
        self._serving = False
        self._closed = False
        self._lock = threading.Lock()

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def root_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.root_url + "/v1.0"

    def start(self) -> EmulatorServer:
        """Serve in a background thread."""
        self._serving = True
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.01},
                                        name=f"emulator:{self.port}", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self, ready: Callable[[], None] | None = None) -> None:
        """Serve in this thread until Ctrl-C or `stop()` from another thread.

        `ready` is called once the server counts as serving (so `stop()` may be called).
        """
        self._serving = True
        try:
            if ready is not None:
                ready()
            self._httpd.serve_forever(poll_interval=0.1)
        except KeyboardInterrupt:
            pass
        finally:
            self._serving = False
            self._close()

    def stop(self) -> None:
        """Stop serving and close the socket and every open connection (idempotent)."""
        if self._serving:
            self._serving = False
            self._httpd.shutdown()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._close()

    def _close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._httpd.close_connections()
        self._httpd.server_close()

    def __enter__(self) -> EmulatorServer:
        if not self._serving:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_emulator(
    host: str,
    port: int,
    state_path: str | None,
    accesskeys: list[str],
    config: EmulatorConfig,
    out: TextIO,
    *,
    clock: Clock | None = None,
    on_ready: Callable[[EmulatorServer], None] | None = None,
    rags: Sequence[str] = (),
) -> int:
    """`voipbin-iac emulator`: open the state, serve until Ctrl-C, close, return 0.

    With no `accesskeys` it serves the key it generated the first time this state was used
    (a new `vb_...` key for a new state), so agents created earlier stay visible. The keys are
    printed: this is the one place the tool shows an accesskey on purpose. `rags` are RAG ids
    made known as the first key's customer's (the emulator serves no RAG API; part 2 §D6).
    Raises `EmulatorStateError` for an unusable state file, `EmulatorError` when it cannot
    listen, `ValueError` for an unusable accesskey or RAG id.
    """
    if not 0 <= port <= 65535:
        raise EmulatorError(f"cannot listen on port {port}: a TCP port is 0 to 65535 "
                            "(0 picks a free one)")
    store = Store.open(state_path, clock=clock)
    try:
        keys = list(dict.fromkeys(accesskeys))
        for key in keys:
            store.ensure_accesskey(key)
        if not keys:
            keys = [store.default_accesskey(new_accesskey_token)]
        owner = store.ensure_accesskey(keys[0])
        known = [store.add_rag(owner, rag) for rag in dict.fromkeys(rags)]
        server = EmulatorServer(EmulatorApp(store, config, clock), host, port)
        out.write(f"VoIPBin emulator serving {server.base_url}\n")
        out.write(f"state: {state_path or 'in memory (lost on exit)'}\n")
        out.write("accepted accesskeys (one customer each):\n")
        for key in keys:
            out.write(f"  {key}\n")
        others = store.accesskey_count() - len(keys)
        if others > 0:
            out.write(f"  (and {others} other key{'s' if others != 1 else ''} stored in the "
                      "state, from earlier runs or signups)\n")
        if known:
            out.write(f"RAG knowledge bases of the first key's customer: {', '.join(known)}\n")
        out.write("new signups: " + (
            "unverified, as on the platform: calls fail (500) and the customer expires after "
            "an hour\n" if config.unverified_signups else
            "verified at once (the emulator sends no email; --unverified-signups for the "
            "platform's first hour)\n"))
        out.write(f"try: VOIPBIN_API_BASE_URL={server.base_url} VOIPBIN_API_KEY={keys[0]}\n")
        out.write("press Ctrl-C to stop\n")
        out.flush()
        server.serve_forever(ready=None if on_ready is None else lambda: on_ready(server))
        out.write("emulator stopped\n")
        out.flush()
    finally:
        store.close()
    return 0
