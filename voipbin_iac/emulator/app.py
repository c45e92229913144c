"""`EmulatorApp`, the WSGI application: routing, authentication, rate limits, faults, envelope.

Order of work for a `/v1.0` request, as the platform's middleware chain runs it (fact sheet §3):
route match (an unknown route or method is 404 `ROUTE_NOT_FOUND` before anything else), per-IP
limit (off by default), authentication, per-customer rate limit, then the fault draw, then the
handler. `/auth/*` is the legacy group: bare status codes, its own per-IP limit. The app never
lets an exception escape except `DropConnection`, which means "close without answering".
"""

from __future__ import annotations

import contextlib
import re
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..api.ratelimit import TokenBucket
from ..core.clock import Clock, SystemClock
from . import addresses, ais, calls, contacts, tags
from .config import EmulatorConfig
from .faults import DropConnection, FaultInjector, fault_failure
from .protocol import (
    REASON_PHRASES,
    ApiFailure,
    Context,
    Request,
    Response,
    envelope,
    parse_cookies,
    parse_query,
    pick_request_id,
    rate_limited,
    redact_query,
)
from .requestlog import LoggedRequest, RequestLog
from .signup import signup
from .store import Store
from .timefmt import now_us

Handler = Callable[[Context], Response]
_ID = "([^/]+)"


def _signup_stub(ctx: Context) -> Response:
    """`/v1.0/auth/signup` exists only to say the route is elsewhere (fact sheet §3)."""
    raise _route_not_found()


ROUTES: tuple[tuple[str, re.Pattern[str], Handler], ...] = tuple(
    (method, re.compile(pattern), handler)
    for method, pattern, handler in (
        ("GET", "/v1.0/ais", ais.list_ais),
        ("POST", "/v1.0/ais", ais.create_ai),
        ("GET", f"/v1.0/ais/{_ID}", ais.get_ai),
        ("PUT", f"/v1.0/ais/{_ID}", ais.put_ai),
        ("DELETE", f"/v1.0/ais/{_ID}", ais.delete_ai),
        ("POST", f"/v1.0/ais/{_ID}/direct-hash-regenerate", ais.regenerate_direct_hash),
        ("GET", "/v1.0/calls", calls.list_calls),
        ("POST", "/v1.0/calls", calls.create_calls),
        ("GET", f"/v1.0/calls/{_ID}", calls.get_call),
        ("POST", "/v1.0/auth/signup", _signup_stub),
        ("GET", "/v1.0/tags", tags.list_tags),
        ("POST", "/v1.0/tags", tags.create_tag),
        ("GET", f"/v1.0/tags/{_ID}", tags.get_tag),
        ("PUT", f"/v1.0/tags/{_ID}", tags.put_tag),
        ("DELETE", f"/v1.0/tags/{_ID}", tags.delete_tag),
        ("GET", "/v1.0/contacts", contacts.list_contacts),
        ("POST", "/v1.0/contacts", contacts.create_contact),
        ("GET", "/v1.0/contacts/lookup", contacts.lookup_contact),  # before /contacts/{id}
        ("GET", f"/v1.0/contacts/{_ID}", contacts.get_contact),
        ("DELETE", f"/v1.0/contacts/{_ID}", contacts.delete_contact),
        ("GET", "/v1.0/contact_addresses", addresses.list_addresses),
        ("POST", "/v1.0/contact_addresses", addresses.create_address),
        ("GET", f"/v1.0/contact_addresses/{_ID}", addresses.get_address),
        ("DELETE", f"/v1.0/contact_addresses/{_ID}", addresses.delete_address),
    )
)


# The legacy public group (bare status codes, per-IP limit): signup, and login for JWTs.
_LEGACY_ROUTES = frozenset({("POST", "/auth/signup"), ("POST", "/auth/login")})


def _route_not_found() -> ApiFailure:
    return ApiFailure("NOT_FOUND", "ROUTE_NOT_FOUND", "The requested route does not exist.")


def _unauthenticated(reason: str, message: str) -> ApiFailure:
    return ApiFailure("UNAUTHENTICATED", reason, message)


def match_route(method: str, path: str) -> tuple[Handler, tuple[str, ...]] | None:
    for route_method, pattern, handler in ROUTES:
        found = pattern.fullmatch(path)
        if found and route_method == method:
            return handler, found.groups()
    return None


@dataclass
class _Trace:
    """What one request turned out to be, for the request log."""

    customer_id: str | None = None
    fault: str | None = None


class _Buckets:
    """Token buckets by key (customer id or client IP), created on first use."""

    def __init__(self, rate: float | None, burst: int | None, clock: Clock) -> None:
        self._rate = rate or 0.0
        self._burst = burst
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def wait(self, key: str) -> float:
        """0 if a token was taken, else the seconds until one is due; 0 when limiting is off."""
        if self._rate <= 0:
            return 0.0
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(self._rate, self._burst, self._clock)
        return bucket.try_acquire()


def _read_body(environ: dict[str, Any], headers: dict[str, str],
               limit: int) -> tuple[bytes, bool]:
    """At most `limit` bytes of body, and whether there was more.

    `CONTENT_LENGTH` bounds the read; without it, a chunked body (which `httpx.WSGITransport`
    hands over as a stream to its end) is read to its end, up to `limit` + 1 bytes.
    """
    try:
        length = max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        length = 0
    if not environ.get("CONTENT_LENGTH") and "chunked" in headers.get("transfer-encoding", ""):
        length = limit + 1
    elif length > limit:
        return b"", True
    stream = environ.get("wsgi.input")
    chunks, remaining = [], length
    while stream is not None and remaining > 0:
        try:
            chunk = stream.read(remaining)
        except OSError:  # the client went away mid-body: nobody is left to answer
            raise DropConnection() from None
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    body = b"".join(chunks)
    return body[:limit], len(body) > limit


def _read_request(environ: dict[str, Any], limit: int) -> Request:
    raw_path = str(environ.get("PATH_INFO") or "/")
    try:
        path = raw_path.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        path = raw_path
    headers = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items() if key.startswith("HTTP_")
    }
    body, too_large = _read_body(environ, headers, limit)
    query_string = str(environ.get("QUERY_STRING") or "")
    return Request(
        method=str(environ.get("REQUEST_METHOD") or "GET").upper(),
        path=path,
        query=parse_query(query_string),
        query_string=query_string,
        headers=headers,
        cookies=parse_cookies(headers.get("cookie", "")),
        body=body,
        body_too_large=too_large,
        remote_addr=str(environ.get("REMOTE_ADDR") or ""),
    )


class EmulatorApp:
    """The emulator as a WSGI callable. State lives in `store`; time comes from `clock`."""

    def __init__(self, store: Store, config: EmulatorConfig | None = None,
                 clock: Clock | None = None) -> None:
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.config = config or EmulatorConfig()
        self.request_log = RequestLog(self.config.log_limit)
        self.unexpected_errors: list[str] = []  # tracebacks of bugs answered with a 500
        self._bugs_lock = threading.Lock()

    @property
    def config(self) -> EmulatorConfig:
        return self._config

    @config.setter
    def config(self, config: EmulatorConfig) -> None:
        """Replace the configuration while serving: new fault draws (from the new seed) and
        fresh, full rate-limit buckets; the state and the request log stay."""
        faults = FaultInjector(config.fault_rate, config.fault_kinds, config.seed)
        limits = (_Buckets(config.rate_limit, config.burst, self.clock),
                  _Buckets(config.ip_rate_limit, config.ip_burst, self.clock),
                  _Buckets(config.auth_rate_limit, config.auth_burst, self.clock))
        self._config = config
        self._faults = faults
        self._customer_limit, self._ip_limit, self._auth_limit = limits

    def requests(self, method: str | None = None,
                 path_prefix: str | None = None) -> list[LoggedRequest]:
        """Handled requests, filtered (see `RequestLog.requests`)."""
        return self.request_log.requests(method, path_prefix)

    def clear_log(self) -> None:
        self.request_log.clear_log()

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        request_id = pick_request_id(environ.get("HTTP_X_REQUEST_ID"))
        trace = _Trace()
        method = str(environ.get("REQUEST_METHOD") or "GET").upper()
        path = str(environ.get("PATH_INFO") or "/")
        response: Response | None = None
        try:
            request = _read_request(environ, self.config.max_body_bytes)
            method, path = request.method, request.path
            if self.config.latency_ms > 0:
                self.clock.sleep(self.config.latency_ms / 1000.0)
            response = self._dispatch(request, request_id, trace)
        except DropConnection:
            response = None
        except Exception:  # never let a request crash the server: answer 500 instead
            self._record_bug(environ, traceback.format_exc())
            response = envelope(ApiFailure("INTERNAL", "INTERNAL_ERROR",
                                           "An internal error occurred."), request_id)
        self.request_log.add(LoggedRequest(
            method=method, path=path,
            query=redact_query(str(environ.get("QUERY_STRING") or "")),
            status=None if response is None else response.status,
            customer_id=trace.customer_id, fault=trace.fault, request_id=request_id,
        ))
        if response is None:
            raise DropConnection()
        headers = [*response.headers, ("Content-Length", str(len(response.body))),
                   ("X-Request-Id", request_id)]
        phrase = REASON_PHRASES.get(response.status, "Unknown")
        start_response(f"{response.status} {phrase}", headers)
        return [response.body]

    def _record_bug(self, environ: dict[str, Any], trace: str) -> None:
        """An exception a handler did not expect: kept for tests, written to wsgi.errors."""
        with self._bugs_lock:
            self.unexpected_errors.append(trace)
        stream = environ.get("wsgi.errors")
        with contextlib.suppress(Exception):
            stream.write(f"voipbin-iac emulator: unexpected error\n{trace}")

    def _dispatch(self, request: Request, request_id: str, trace: _Trace) -> Response:
        if (request.method, request.path) in _LEGACY_ROUTES:
            return self._legacy_auth(request)
        try:
            return self._api(request, request_id, trace)
        except ApiFailure as failure:
            return envelope(failure, request_id)

    def _legacy_auth(self, request: Request) -> Response:
        wait = self._auth_limit.wait(request.remote_addr)
        if wait > 0:
            return Response(429, b"", (("Retry-After", str(max(1, int(-(-wait // 1))))),))
        if request.path == "/auth/signup":
            return signup(request, self.store, now_us(self.clock))
        return Response(400)  # /auth/login: no password accounts here, every login is bad

    def _api(self, request: Request, request_id: str, trace: _Trace) -> Response:
        found = match_route(request.method, request.path)
        if found is None:
            raise _route_not_found()
        handler, params = found
        wait = self._ip_limit.wait(request.remote_addr)
        if wait > 0:
            raise rate_limited("ip", wait)
        trace.customer_id = self._authenticate(request)
        wait = self._customer_limit.wait(trace.customer_id)
        if wait > 0:
            raise rate_limited("customer", wait)
        trace.fault = self._faults.decide()
        if trace.fault == "drop":
            raise DropConnection()
        if trace.fault in ("500", "502", "503", "429"):
            raise fault_failure(trace.fault)
        ctx = Context(request, self.store, trace.customer_id, now_us(self.clock), params,
                      echo_engine_key=self.config.echo_engine_key)
        try:
            response = handler(ctx)
        except ApiFailure as failure:
            response = envelope(failure, request_id)
        if trace.fault == "lost":
            raise DropConnection()  # committed, but the answer never leaves
        return response

    def _authenticate(self, request: Request) -> str:
        """The caller's customer id, by the platform's credential order (fact sheet §3)."""
        scheme, _, bearer = request.headers.get("authorization", "").strip().partition(" ")
        jwt = (request.cookies.get("token") or request.query_value("token")
               or (bearer.strip() if scheme.lower() == "bearer" else ""))
        if jwt:
            raise _unauthenticated(
                "INVALID_CREDENTIALS",
                "The credentials are invalid. (The emulator accepts accesskeys only, "
                "by cookie `accesskey` or query `?accesskey=`; a Bearer token is a JWT.)",
            )
        key = request.cookies.get("accesskey") or request.query_value("accesskey")
        if not key:
            raise _unauthenticated("AUTHENTICATION_REQUIRED", "Authentication is required.")
        customer_id = self.store.customer_for_token(key, now_us(self.clock))
        if customer_id is None:
            raise _unauthenticated("INVALID_CREDENTIALS", "The credentials are invalid.")
        return customer_id
