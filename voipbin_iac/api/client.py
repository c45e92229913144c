"""`VoipbinClient`: the only code that talks HTTP to VoIPBin.

It owns authentication (accesskey as cookie or `?accesskey=`, as the official client sends it),
cursor paging (`page_size=100` until the empty page), client-side pacing with a token bucket
(the platform's per-customer 16.7/s, burst 33), retries with exponential backoff and full jitter
for requests that are safe to repeat, `Retry-After`, and the translation of every failure into
the `errors` tree with method, path, status and request id, never the accesskey. The transport,
clock and random source are injected, so tests run over loopback or in-process and never sleep.
"""

from __future__ import annotations

import logging
import random
import re
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from .. import __version__
from ..core.catalog import UUID, is_uuid
from ..core.clock import Clock, SystemClock
from ..core.kinds import Kind
from ..core.model import LiveResource
from ..core.secret import Secret
from ..errors import (
    ApiError,
    AuthenticationError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitedError,
    ResponseError,
    ServerError,
    TransportError,
    UsageError,
)
from . import failures
from .concurrency import LatencyObserver
from .ratelimit import PLATFORM_RATE, TokenBucket, client_burst
from .redact import Redactor

DEFAULT_BASE_URL = "https://api.voipbin.net/v1.0"
PAGE_SIZE = 100

_ID = re.compile("/" + UUID.pattern)
# Statuses from a proxy in front of VoIPBin (502-504, and Cloudflare's 520-524): the request may
# or may not have reached VoIPBin. Safe to repeat for GET/PUT/DELETE; an unknown outcome for POST.
_GATEWAY = frozenset({502, 503, 504, 520, 521, 522, 523, 524})
_ERRORS: dict[int, type[ApiError]] = {
    401: AuthenticationError, 403: PermissionDeniedError, 404: NotFoundError,
    429: RateLimitedError,
}


@dataclass(frozen=True)
class Connection:
    """Where the API is and how to authenticate to it."""

    base_url: str
    accesskey: Secret = field(repr=False)
    auth_transport: str = "cookie"  # or "query"

    @property
    def root_url(self) -> str:
        """The server root, for the routes outside `/v1.0` (`/auth/signup`)."""
        base = self.base_url.rstrip("/")
        return base[: -len("/v1.0")] if base.endswith("/v1.0") else base


def connection_from_env(env: Mapping[str, str], *, need_key: bool = True) -> Connection:
    """The connection the official client's variables describe."""
    key = env.get("VOIPBIN_API_KEY", "").strip()
    if need_key and not key:
        raise UsageError(
            "VOIPBIN_API_KEY is not set",
            hint="export VOIPBIN_API_KEY=<accesskey> (from the VoIPBin console or "
                 "`voipbin-iac signup --email you@example.com --accept-tos`), or add --emulator "
                 "to try everything on the embedded emulator",
        )
    if key and not re.fullmatch(r"[!#-+\--:<-\[\]-~]+", key):  # RFC 6265 cookie octets
        raise UsageError("VOIPBIN_API_KEY holds characters an accesskey never has (spaces, "
                         "'\"', ';', ',', '\\' or non-ASCII)",
                         hint="copy the key again from the VoIPBin console; it looks like vb_...")
    transport = env.get("VOIPBIN_AUTH_TRANSPORT", "cookie").strip().lower() or "cookie"
    if transport not in ("cookie", "query"):
        raise UsageError(f"VOIPBIN_AUTH_TRANSPORT must be cookie or query, not {transport!r}")
    base = env.get("VOIPBIN_API_BASE_URL", "").strip() or DEFAULT_BASE_URL
    try:
        url = httpx.URL(base)
    except (httpx.InvalidURL, ValueError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise UsageError(f"VOIPBIN_API_BASE_URL {base!r} is not an http(s) URL",
                         hint=f"unset it for the real API ({DEFAULT_BASE_URL}), or give the "
                              "emulator's, such as http://127.0.0.1:8900/v1.0")
    return Connection(base.rstrip("/"), Secret(key), transport)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry requests that are safe to repeat."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_total_wait: float = 120.0


def route_of(path: str) -> str:
    """A path with ids replaced by `{id}`, for counting and logging."""
    return _ID.sub("/{id}", path)


class VoipbinClient:
    """A paced, retrying, redacting VoIPBin API client over one `httpx.Client`."""

    def __init__(
        self,
        connection: Connection,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
        rate_limit: float | None = PLATFORM_RATE,
        burst: int | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        redactor: Redactor | None = None,
        logger: logging.Logger | None = None,
        rng: random.Random | None = None,
        observer: LatencyObserver | None = None,
        connections: int = 0,
    ) -> None:
        """`observer` hears each answer's latency and each 429 (the adaptive concurrency of an
        apply); `connections` is how many may be open at once (0: httpx's defaults)."""
        self.connection = connection
        self.observer = observer
        self._clock = clock or SystemClock()
        self._retry = retry or RetryPolicy()
        self._bucket = (TokenBucket(rate_limit, burst or client_burst(rate_limit), self._clock)
                        if rate_limit else None)
        self._redact = redactor or Redactor()
        self._redact.add(connection.accesskey)
        self._log = logger or logging.getLogger("voipbin_iac.client")
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self._closed = threading.Event()
        self._sending = 0  # requests under way: the connections close when the last ends
        self._sending_lock = threading.Lock()
        limits = httpx.Limits(max_connections=max(100, connections),
                              max_keepalive_connections=max(20, connections))
        self._http = httpx.Client(
            transport=transport,
            limits=limits,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"User-Agent": f"voipbin-iac/{__version__}", "Accept": "application/json"},
            follow_redirects=False,
        )

    def close(self) -> None:
        """Send nothing more. A request still under way in another thread (a listing abandoned
        for a bad desired file) keeps its connection until its answer, then ends instead of
        retrying; the connections close when the last such request has ended. (Closing a
        socket another thread reads from could hand that thread a reused descriptor.)"""
        with self._sending_lock:
            self._closed.set()
            idle = self._sending == 0
        if idle:
            self._http.close()

    def __enter__(self) -> VoipbinClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the AI resource -------------------------------------------------------------------

    def list_all(self, path: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        """Every object of a list endpoint (`/ais`, `/teams`, `/tags`, ...), following the cursor
        (`page_size=100`) to the empty page that ends it. Objects come back as decoded JSON."""
        return [obj for page in self.pages(path, params) for obj in page]

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[list[Any]]:
        """`list_all` a page at a time, as each arrives."""
        token = ""
        while True:
            query: dict[str, Any] = {**(params or {}), "page_size": PAGE_SIZE}
            if token:
                query["page_token"] = token
            page, token_next = self._page(self.request("GET", path, params=query), "GET", path)
            if not page:
                return
            yield page
            if not token_next or token_next == token:
                return
            token = token_next

    # -- resources of every kind (the `AiApi` protocol) ------------------------------------

    def _resource(self, kind: Kind, obj: Any, method: str, path: str) -> LiveResource:
        try:
            res = kind.from_api(obj)
        except ValueError as exc:
            raise ResponseError(f"{method} {path} answered an unexpected {kind.noun} object: "
                                f"{exc}") from None
        self._redact.add(res.fields.get("engine_key"))  # live keys are secrets too
        return res

    def list(self, kind: Kind) -> list[LiveResource]:
        """Every live (not deleted) resource of `kind`."""
        found: list[LiveResource] = []
        seen: set[str] = set()
        for page in self.pages(kind.path):  # read while the next page is awaited
            for obj in page:
                res = self._resource(kind, obj, "GET", kind.path)
                if res.id not in seen and not res.deleted:
                    seen.add(res.id)
                    found.append(res)
        return found

    def get(self, kind: Kind, resource_id: str) -> LiveResource:
        path = _path(kind, resource_id)
        return self._resource(kind, self.request("GET", path), "GET", path)

    def create(self, kind: Kind, body: Mapping[str, Any]) -> LiveResource:
        try:
            return self._resource(kind, self.request("POST", kind.path, json=body), "POST",
                                  kind.path)
        except ResponseError as exc:  # a success we cannot read: the resource may well exist
            raise OutcomeUnknownError(method="POST", path=kind.path, cause=exc.message,
                                      hint="the create may have happened; the apply re-lists "
                                           "to find out") from None

    def update(self, kind: Kind, resource_id: str, body: Mapping[str, Any]) -> LiveResource:
        path = _path(kind, resource_id)
        return self._resource(kind, self.request("PUT", path, json=body), "PUT", path)

    def delete(self, kind: Kind, resource_id: str) -> LiveResource:
        path = _path(kind, resource_id)
        return self._resource(kind, self.request("DELETE", path), "DELETE", path)

    def regenerate(self, kind: Kind, resource_id: str) -> LiveResource:
        path = _path(kind, resource_id) + "/direct-hash-regenerate"
        return self._resource(kind, self.request("POST", path, retry_unknown=True), "POST", path)

    # -- calls and signup ------------------------------------------------------------------

    def create_call(self, body: Mapping[str, Any]) -> dict[str, Any]:
        data = self.request("POST", "/calls", json=body)
        if not isinstance(data, dict) or not isinstance(data.get("calls"), list):
            raise ResponseError("POST /calls answered without a `calls` list")
        return data

    def get_call(self, call_id: str) -> dict[str, Any]:
        data = self.request("GET", f"/calls/{call_id}")
        if not isinstance(data, dict):
            raise ResponseError(f"GET /calls/{call_id} answered something that is not a call")
        return data

    def signup(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """`POST /auth/signup` (outside /v1.0, no credentials, bare status codes)."""
        data = self.request("POST", "/auth/signup", json=body, root=True, auth=False)
        if not isinstance(data, dict):
            raise ResponseError("POST /auth/signup answered something that is not an object")
        return data

    # -- the request machinery -------------------------------------------------------------

    def _page(self, data: Any, method: str, path: str) -> tuple[list[Any], str]:
        if not isinstance(data, dict) or not isinstance(data.get("result"), list):
            raise ResponseError(f"{method} {path} answered without a `result` list")
        token = data.get("next_page_token") or ""
        if not isinstance(token, str):
            raise ResponseError(f"{method} {path} answered a non-text next_page_token")
        return data["result"], token

    def _count(self, method: str, path: str) -> None:
        with self._count_lock:
            self.requests[f"{method} {route_of(path)}"] += 1

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
        root: bool = False,
        auth: bool = True,
        retry_unknown: bool | None = None,
    ) -> Any:
        """One API call with pacing and retries; returns the decoded JSON body.

        GET, PUT and DELETE are retried when safe; a POST only with `retry_unknown` (an
        idempotent POST such as regenerate). Errors arrive as the `errors` tree, redacted.
        """
        repeatable = method in ("GET", "PUT", "DELETE") if retry_unknown is None else retry_unknown
        base = self.connection.root_url if root else self.connection.base_url
        headers: dict[str, str] = {}
        query = dict(params or {})
        if auth:
            key = self.connection.accesskey.reveal()
            if self.connection.auth_transport == "query":
                query["accesskey"] = key
            else:
                headers["Cookie"] = f"accesskey={key}"
        attempt, waited = 0, 0.0
        while True:
            attempt += 1
            if self._bucket is not None and not root:
                self._bucket.acquire()
            started = self._clock.monotonic()
            with self._sending_lock:
                if self._closed.is_set():
                    raise TransportError(method=method, path=path,
                                         cause="the client was closed",
                                         hint="nothing more is sent once a command has ended")
                self._sending += 1
            try:
                response = self._send(method, path, base + path, query, json, headers)
            except httpx.HTTPError as exc:
                failure = self._transport_failure(exc, method, path, repeatable)
                if failure is None and self._closed.is_set():
                    failure = self._no_answer(exc, method, path, repeatable)
                if failure is not None:
                    raise failure from None
                delay = self._backoff(attempt, waited, None)
                if delay is None:
                    raise self._no_answer(exc, method, path, repeatable) from None
                self._announce(method, path, attempt, delay, self._redact(type(exc).__name__))
                waited += self._sleep(delay)
                continue
            elapsed = self._clock.monotonic() - started
            request_id = response.headers.get("X-Request-Id", "")
            self._log.debug("%s %s -> %s in %.0f ms (request id %s)", method, path,
                            response.status_code, elapsed * 1000, request_id or "-")
            retry_after = _retry_after(response)
            if self.observer is not None and not root:
                if response.status_code == 429:
                    self.observer.throttled(retry_after)
                else:
                    self.observer.observe(elapsed)
            if 300 <= response.status_code < 400:
                raise ResponseError(f"{method} {path} answered {response.status_code}, a "
                                    "redirect", hint=failures.redirect_hint(
                                        response, self.connection.base_url))
            if response.status_code < 400:
                return self._json(response, method, path)
            error = self._api_error(response, method, path)
            if response.status_code == 429 and self._bucket is not None:
                self._bucket.drain(retry_after or 1.0)
            if self._retryable(response.status_code, method, repeatable):
                delay = self._backoff(attempt, waited, retry_after)
                if delay is not None:
                    self._announce(method, path, attempt, delay, str(response.status_code))
                    waited += self._sleep(delay)
                    continue
            if response.status_code in _GATEWAY and not repeatable:
                raise OutcomeUnknownError(
                    method=method, path=path,
                    cause=f"answered {response.status_code} after the request was sent",
                    hint="the write may or may not have happened; the apply re-lists to find out",
                ) from None
            raise error

    def _send(self, method: str, path: str, url: str, query: dict[str, Any],
              json: Mapping[str, Any] | None, headers: dict[str, str]) -> httpx.Response:
        """One attempt, counted as under way until its answer is read."""
        try:
            self._count(method, path)
            return self._http.request(method, url, params=query or None, json=json,
                                      headers=headers)
        finally:
            with self._sending_lock:
                self._sending -= 1
                last = self._closed.is_set() and self._sending == 0
            if last:  # closed meanwhile: this was the last request under way
                self._http.close()

    def _retryable(self, status: int, method: str, repeatable: bool) -> bool:
        if status == 429:
            return True  # refused before processing: safe for every method
        if status in _GATEWAY:
            return repeatable
        return status == 500 and method in ("GET", "DELETE")

    def _announce(self, method: str, path: str, attempt: int, delay: float, why: str) -> None:
        """Say that a retry is coming (on stderr at the default verbosity: a wait is never
        silent): `retrying GET /ais (2/6) in 1.5 s: 503`."""
        self._log.warning("retrying %s %s (%d/%d) in %.1f s: %s", method, path, attempt + 1,
                          self._retry.max_attempts, delay, why, extra={"plain": True})

    def _transport_failure(self, exc: httpx.HTTPError, method: str, path: str,
                           repeatable: bool) -> TransportError | None:
        """None if the request may be retried, else the error to raise."""
        hopeless = failures.hopeless(exc, self.connection.base_url)
        if hopeless is not None:  # nothing listens, or TLS cannot work: no retry mends it
            cause, hint = hopeless
            return TransportError(method=method, path=path, cause=self._redact(cause),
                                  hint=hint)
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return None  # never reached the server: safe to send again
        if repeatable and isinstance(exc, httpx.TransportError):
            return None
        return self._no_answer(exc, method, path, repeatable)

    def _no_answer(self, exc: httpx.HTTPError, method: str, path: str,
                   repeatable: bool) -> TransportError:
        cause = self._redact(f"{type(exc).__name__}: {exc}".rstrip(": "))
        if not repeatable and not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return OutcomeUnknownError(
                method=method, path=path, cause=cause,
                hint="the write may or may not have happened; the apply re-lists to find out",
            )
        return TransportError(
            method=method, path=path, cause=cause,
            hint=f"check the network and VOIPBIN_API_BASE_URL ({self.connection.base_url}), "
                 "then run again",
        )

    def _backoff(self, attempt: int, waited: float, retry_after: float | None) -> float | None:
        """Seconds to wait before the next attempt, or None when the budget is spent."""
        policy = self._retry
        if attempt >= policy.max_attempts:
            return None
        with self._rng_lock:
            jitter = self._rng.uniform(0, min(policy.max_delay, policy.base_delay * 2 ** attempt))
        delay = max(retry_after or 0.0, jitter)
        if waited + delay > policy.max_total_wait:
            return None
        return delay

    def _sleep(self, seconds: float) -> float:
        self._clock.sleep(seconds)
        return seconds

    def _json(self, response: httpx.Response, method: str, path: str) -> Any:
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            raise ResponseError(
                f"{method} {path} answered {response.status_code} with a body that is not JSON"
                f" ({len(response.content)} bytes)",
                hint="check VOIPBIN_API_BASE_URL: it should end in /v1.0 of a VoIPBin API",
            ) from None

    def _api_error(self, response: httpx.Response, method: str, path: str) -> ApiError:
        status = response.status_code
        reason = detail = ""
        request_id = response.headers.get("X-Request-Id", "")
        try:
            body = response.json()
        except ValueError:
            body = None
        envelope = body.get("error") if isinstance(body, dict) else None
        if isinstance(envelope, dict):
            reason = str(envelope.get("reason") or envelope.get("status") or "")
            detail = str(envelope.get("message") or "")
            request_id = str(envelope.get("request_id") or request_id)
        kind = _ERRORS.get(status) or (ServerError if status >= 500 else ApiError)
        base = self.connection.base_url
        hint = (failures.route_hint(base) if reason == "ROUTE_NOT_FOUND"
                else failures.status_hint(status, method, path, base))
        return kind(method=method, path=path, status=status, reason=self._redact(reason),
                    detail=self._redact(detail)[:300], request_id=request_id[:64], hint=hint)


def _path(kind: Kind, resource_id: str) -> str:
    """`/ais/<id>`, for a bare UUID only: an id from a tampered manifest such as
    `../../v1.0/agents/<uuid>` must never become another resource's URL."""
    if not is_uuid(resource_id):
        raise UsageError(f"{resource_id!r} is not {kind.a_noun} id (a UUID)",
                         hint="check the manifest: ids are written by `voipbin-iac apply`")
    return f"{kind.path}/{resource_id}"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
