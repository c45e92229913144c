"""`EmulatorApp`, the WSGI application: routing, authentication, rate limits, faults, envelope.

Order of work for a `/v1.0` request, as the platform's middleware chain runs it (fact sheet §3;
part 2 §D12-§D13): request id (echoed when safe, on every route), route match (an unknown route
or method is 404 `ROUTE_NOT_FOUND` before anything else), per-IP limit (off by default),
authentication, per-customer rate limit (17/s, burst 33), then the fault draw, then the
handler. `/auth/*` is the legacy group: bare status codes, its own per-IP limit, whose 429 still
carries the full envelope (part 2 §D12). An unexpected exception is answered 500 `INTERNAL`
(part 2 §D8); the app never lets one escape except `DropConnection`, which means "close
without answering".
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
from . import (
    addresses,
    aiaudits,
    aicalls,
    aimessages,
    ais,
    calls,
    contacts,
    prompthistory,
    tags,
    teams,
)
from .config import EmulatorConfig
from .faults import DropConnection, FaultInjector, fault_failure
from .protocol import (
    REASON_PHRASES,
    ApiFailure,
    Context,
    Request,
    Response,
    envelope,
    internal_error,
    json_response,
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
        ("GET", f"/v1.0/ais/{_ID}/prompt_histories", prompthistory.list_histories),
        ("GET", f"/v1.0/ais/{_ID}/prompt_histories/{_ID}", prompthistory.get_history),
        ("GET", "/v1.0/teams", teams.list_teams_handler),
        ("POST", "/v1.0/teams", teams.create_team_handler),
        ("GET", f"/v1.0/teams/{_ID}", teams.get_team_handler),
        ("PUT", f"/v1.0/teams/{_ID}", teams.put_team_handler),
        ("DELETE", f"/v1.0/teams/{_ID}", teams.delete_team_handler),
        ("POST", f"/v1.0/teams/{_ID}/direct-hash-regenerate", teams.regenerate_team_hash_handler),
        ("GET", "/v1.0/calls", calls.list_calls),
        ("POST", "/v1.0/calls", calls.create_calls),
        ("GET", f"/v1.0/calls/{_ID}", calls.get_call),
        ("POST", "/v1.0/auth/signup", _signup_stub),
        ("GET", "/v1.0/aicalls", aicalls.list_aicalls),
        ("POST", "/v1.0/aicalls", aicalls.create_aicall),
        ("GET", f"/v1.0/aicalls/{_ID}", aicalls.get_aicall),
        ("DELETE", f"/v1.0/aicalls/{_ID}", aicalls.delete_aicall),
        ("POST", f"/v1.0/aicalls/{_ID}/terminate", aicalls.terminate_aicall),
        ("GET", "/v1.0/aimessages", aimessages.list_aimessages),
        ("POST", "/v1.0/aimessages", aimessages.create_aimessage),
        ("GET", f"/v1.0/aimessages/{_ID}", aimessages.get_aimessage),
        ("DELETE", f"/v1.0/aimessages/{_ID}", aimessages.delete_aimessage),
        ("GET", "/v1.0/aiaudits", aiaudits.list_aiaudits),
        ("POST", "/v1.0/aiaudits", aiaudits.create_aiaudit),
        ("GET", f"/v1.0/aiaudits/{_ID}", aiaudits.get_aiaudit),
        ("DELETE", f"/v1.0/aiaudits/{_ID}", aiaudits.delete_aiaudit),
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
    return ApiFailure("NOT_FOUND", "ROUTE_NOT_FOUND", "The requested endpoint does not exist.")


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
    cause: str | None = None  # which rule an error answer came from (never sent)


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
        limits = (_Buckets(config.customer_rate(), config.customer_burst(), self.clock),
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
            trace.cause = "emulator bug"
            response = envelope(internal_error(), request_id)
        self.request_log.add(LoggedRequest(
            method=method, path=path,
            query=redact_query(str(environ.get("QUERY_STRING") or "")),
            status=None if response is None else response.status,
            customer_id=trace.customer_id, fault=trace.fault, request_id=request_id,
            cause=trace.cause,
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
        if (request.method, request.path) == ("GET", "/ping"):  # `API lib/service/ping.go`
            return json_response(200, {"message": "pong"})
        try:
            if (request.method, request.path) in _LEGACY_ROUTES:
                return self._legacy_auth(request)
            return self._api(request, request_id, trace)
        except ApiFailure as failure:
            trace.cause = failure.cause or None
            return envelope(failure, request_id)

    def _legacy_auth(self, request: Request) -> Response:
        """`/auth/*`: the per-IP limit answers with the full envelope (`ratelimit.go:161-168`,
        part 2 §D12), the handlers themselves with bare status codes."""
        wait = self._auth_limit.wait(request.remote_addr)
        if wait > 0:
            raise rate_limited("ip", wait)
        if request.path == "/auth/signup":
            return signup(request, self.store, now_us(self.clock),
                          verify=not self.config.unverified_signups)
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
                      echo_engine_key=self.config.echo_engine_key,
                      assistant=self.config.assistant)
        try:
            response = handler(ctx)
        except ApiFailure as failure:
            trace.cause = failure.cause or None
            response = envelope(failure, request_id)
        if trace.fault == "lost":
            raise DropConnection()  # committed, but the answer never leaves
        return response

    def _authenticate(self, request: Request) -> str:
        """The caller's customer id, by the platform's credential order (fact sheet §3).

        The JWT sources come first: cookie `token`, query `token`, then the text after the
        exact, case-sensitive "Bearer " in `Authorization` (`authenticate.go:310-322`; so
        `bearer x` yields no token, part 2 §D15). The emulator has no JWTs, so any token is
        401 `INVALID_CREDENTIALS`. Then the accesskey: cookie, then query."""
        pieces = request.headers.get("authorization", "").split("Bearer ")
        jwt = (request.cookies.get("token") or request.query_value("token")
               or (pieces[1] if len(pieces) > 1 else ""))
        if jwt:
            raise _unauthenticated("INVALID_CREDENTIALS", "The provided credentials are invalid.")
        key = request.cookies.get("accesskey") or request.query_value("accesskey")
        if not key:
            raise _unauthenticated("AUTHENTICATION_REQUIRED", "Authentication is required.")
        customer_id = self.store.customer_for_token(key, now_us(self.clock))
        if customer_id is None:
            raise _unauthenticated("INVALID_CREDENTIALS", "The provided credentials are invalid.")
        return customer_id
