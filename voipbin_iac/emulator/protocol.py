"""The HTTP vocabulary of the emulator: requests, responses, the error envelope, Go-like JSON.

A `Request` is what the app reads from a WSGI environ; a `Response` is what a handler returns.
Handlers raise `ApiFailure` for any `/v1.0` error, which becomes the platform's envelope
`{"error":{"details"?,"message","reason","request_id","status"}}`: a Go map, so its keys come
out in alphabetical order (part 2 §0; `details` only when non-empty). JSON is decoded and
encoded the way the Go platform does it: invalid UTF-8 and lone surrogates become U+FFFD,
output is compact and HTML-escaped like `encoding/json`.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import parse_qsl, unquote_plus

from ..core.catalog import ZERO_UUID

if TYPE_CHECKING:
    from .assistant import AssistantScript
    from .store import Store

# HTTP status of each envelope status (fact sheet §3, HTTPStatusFor).
STATUS_HTTP: dict[str, int] = {
    "INVALID_ARGUMENT": 400,
    "UNAUTHENTICATED": 401,
    "PAYMENT_REQUIRED": 402,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "FAILED_PRECONDITION": 409,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
}

REASON_PHRASES: dict[int, str] = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 402: "Payment Required",
    403: "Forbidden", 404: "Not Found", 409: "Conflict", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
}

# Part 2 §D13: a client's X-Request-Id is echoed only when it is 1-64 bytes of [A-Za-z0-9_-].
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SURROGATES = re.compile("[\ud800-\udfff]")
_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                 "\u2029": "\\u2029"}
_HTML_RE = re.compile("[<>&\u2028\u2029]")


def new_request_id() -> str:
    """`req_` + 26 base32 characters, the platform's request id shape."""
    return "req_" + base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=")


def pick_request_id(client_value: str | None) -> str:
    """Echo a client's `X-Request-Id` when it is safe to echo, otherwise make one (§D13)."""
    if client_value and _SAFE_REQUEST_ID.fullmatch(client_value):
        return client_value
    return new_request_id()


class ApiFailure(Exception):
    """A `/v1.0` error answer; the app turns it into the envelope.

    `cause` is never sent: it says which rule fired (all the platform's plain errors look the
    same on the wire, part 2 §0) and goes to the request log, for tests and debugging.
    """

    def __init__(
        self,
        status: str,
        reason: str,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        http_status: int | None = None,
        cause: str = "",
    ) -> None:
        super().__init__(f"{status}/{reason}: {message}")
        self._http_status = http_status
        self.status = status
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers
        self.cause = cause

    @property
    def http_status(self) -> int:
        if self._http_status is not None:
            return self._http_status
        return STATUS_HTTP.get(self.status, 500)


def bad_request(reason: str, message: str, *, cause: str = "") -> ApiFailure:
    return ApiFailure("INVALID_ARGUMENT", reason, message, cause=cause)


def internal_error(cause: str = "") -> ApiFailure:
    """A plain (untyped) upstream error: 500 `INTERNAL`/`INTERNAL`, no field named (part 2 §0,
    §D8). `cause` only reaches the request log."""
    return ApiFailure("INTERNAL", "INTERNAL", "An internal error occurred.", cause=cause)


def resource_not_found(cause: str = "") -> ApiFailure:
    """An untyped `dbhandler.ErrNotFound` upstream: 404 `RESOURCE_NOT_FOUND` (part 2 §0)."""
    return ApiFailure("NOT_FOUND", "RESOURCE_NOT_FOUND", "The requested resource was not found.",
                      cause=cause)


def invalid_id(message: str = "The provided id is not a valid UUID.",
               reason: str = "INVALID_ID") -> ApiFailure:
    """A malformed id in a string-typed path (fact sheet §3; part 2 §A1, §C)."""
    return ApiFailure("INVALID_ARGUMENT", reason, message)


def path_id(ctx: Context, message: str = "The provided id is not a valid UUID.") -> str:
    """The id of a string-typed path (`/ais/{id}`, `/teams/{id}`, ...), canonical: a malformed
    or nil one is 400 `INVALID_ID` (fact sheet §3; part 2 §A1, §C)."""
    found = parse_uuid(ctx.params[0])
    if found is None or found == ZERO_UUID:
        raise invalid_id(message)
    return found


def string_field(body: dict[str, Any], key: str) -> str:
    """A string field of a JSON body as Go binds it: absent or null is "", another JSON type
    is 400 `INVALID_JSON_BODY`."""
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise bad_request("INVALID_JSON_BODY", f"The field {key} must be a string.")
    return value or ""


def invalid_parameter(name: str) -> ApiFailure:
    """An oapi-codegen binding failure of a typed parameter: 400 `INVALID_REQUEST_PARAMETER`
    (`API server/error.go` classifyBindingError; part 2 §D14)."""
    return ApiFailure("INVALID_ARGUMENT", "INVALID_REQUEST_PARAMETER",
                      f'The parameter "{name}" has an invalid format.')


def permission_denied(cause: str = "") -> ApiFailure:
    """Another customer's object: 403, not 404 (fact sheet §3; part 2 §0)."""
    return ApiFailure("PERMISSION_DENIED", "PERMISSION_DENIED",
                      "You do not have permission to access this resource.", cause=cause)


class _Record(Protocol):
    @property
    def customer_id(self) -> str: ...


R = TypeVar("R", bound=_Record)


def owned(ctx: Context, record: R | None, not_found: Callable[[], ApiFailure]) -> R:
    """`record` if it exists (else `not_found()`, a 404) and is the caller's (else 403)."""
    if record is None:
        raise not_found()
    if record.customer_id != ctx.customer_id:
        raise permission_denied()
    return record


def rate_limited(limited_by: str, retry_after: float) -> ApiFailure:
    """429 RATE_LIMIT_EXCEEDED with `details:[{"limited_by":...}]` and a whole-second
    `Retry-After` of at least one, the only rate-limit header (part 2 §D12)."""
    seconds = max(1, int(-(-retry_after // 1)))
    return ApiFailure(
        "RESOURCE_EXHAUSTED",
        "RATE_LIMIT_EXCEEDED",
        "Too many requests. Please try again later.",
        details=[{"limited_by": limited_by}],
        headers=(("Retry-After", str(seconds)),),
    )


@dataclass(frozen=True)
class Request:
    """One request as the handlers see it; `body` is at most the configured size."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    query_string: str
    headers: dict[str, str]
    cookies: dict[str, str]
    body: bytes
    body_too_large: bool
    remote_addr: str

    def query_value(self, name: str) -> str | None:
        """The first value of a query parameter (as Gin's `c.Query` reads it)."""
        for key, value in self.query:
            if key == name:
                return value
        return None


@dataclass(frozen=True)
class Response:
    """A complete answer: status, headers and body bytes."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True)
class Context:
    """An authenticated `/v1.0` request handed to a handler."""

    request: Request
    store: Store
    customer_id: str
    now: int  # microseconds, from the app's clock
    params: tuple[str, ...] = ()  # path parameters, e.g. the raw `{id}`
    echo_engine_key: bool = True  # HEAD code echoes it; the docs say it is write-only
    assistant: AssistantScript | None = None  # what the stand-in assistant says (assistant.py)


def parse_cookies(header: str) -> dict[str, str]:
    """Cookie pairs, leniently like Go's `Request.Cookie`: the first of a name wins."""
    cookies: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if not sep or not name:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies.setdefault(name.strip(), value)
    return cookies


def parse_query(query_string: str) -> tuple[tuple[str, str], ...]:
    return tuple(parse_qsl(query_string, keep_blank_values=True, errors="replace"))


def redact_query(query_string: str) -> str:
    """The query string with credentials (`accesskey`, `token`) replaced by REDACTED."""
    parts = []
    for part in query_string.split("&") if query_string else []:
        name = part.split("=", 1)[0]
        secret = unquote_plus(name, errors="replace") in ("accesskey", "token")
        parts.append(f"{name}=REDACTED" if secret else part)
    return "&".join(parts)


def encode_json(value: Any) -> bytes:
    """Compact JSON escaped like Go's `encoding/json` (<, >, &, U+2028, U+2029)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _HTML_RE.sub(lambda m: _HTML_ESCAPES[m.group(0)], text).encode("utf-8")


def json_response(status: int, value: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(
        status,
        encode_json(value),
        (("Content-Type", "application/json; charset=utf-8"), *headers),
    )


def envelope(failure: ApiFailure, request_id: str) -> Response:
    """The error body: a Go map, so its keys are sorted (part 2 §0, `envelope.go:28-36`)."""
    error: dict[str, Any] = {
        "message": failure.message,
        "reason": failure.reason,
        "request_id": request_id,
        "status": failure.status,
    }
    if failure.details:
        error["details"] = failure.details
    return json_response(failure.http_status, {"error": dict(sorted(error.items()))},
                         failure.headers)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON constant {name}")


def _clean(value: Any) -> Any:
    """Replace lone surrogates (which Go turns into U+FFFD) so the text can be stored."""
    if isinstance(value, str):
        return _SURROGATES.sub("\ufffd", value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    return value


def decode_json(body: bytes) -> Any:
    """Parse a request body like Go does; raises ValueError on anything Go would reject."""
    text = body.decode("utf-8", errors="replace")
    try:
        return _clean(json.loads(text, parse_constant=_reject_constant))
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


def json_object_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object, or the 400 the platform gives (fact sheet §3)."""
    if request.body_too_large:
        raise bad_request(
            "REQUEST_BODY_TOO_LARGE", "The request body is larger than the server accepts."
        )
    try:
        value = decode_json(request.body)
    except ValueError as exc:
        raise bad_request("INVALID_JSON_BODY", "The request body is not valid JSON.") from exc
    if not isinstance(value, dict):
        raise bad_request("INVALID_JSON_BODY", "The request body must be a JSON object.")
    return value



_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_HEX_UUID = re.compile(r"[0-9a-fA-F]{32}")


def parse_uuid(text: str) -> str | None:
    """A UUID in any form Go's `uuid.FromString` reads, as canonical lowercase text."""
    body = text
    if body.startswith("urn:uuid:"):
        body = body[len("urn:uuid:"):]
    elif body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    if _CANONICAL_UUID.fullmatch(body):
        digits = body.replace("-", "")
    elif _HEX_UUID.fullmatch(body):
        digits = body
    else:
        return None
    d = digits.lower()
    return f"{d[:8]}-{d[8:12]}-{d[12:16]}-{d[16:20]}-{d[20:]}"
