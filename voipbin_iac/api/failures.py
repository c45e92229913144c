"""What a failed request means and what to do about it: the hints of the client's errors.

Pure words, no I/O: by status (`status_hint`), for an answer at a wrong place (a redirect, a
route that does not exist because `VOIPBIN_API_BASE_URL` lacks `/v1.0`), and for the transport
failures no retry can fix (`hopeless`: nothing listens at the address, or TLS spoken to a
server that does not speak it, or a certificate that cannot be verified), which fail at once
instead of retrying for half a minute. Which requests are safe to repeat is the client's
business, not this module's.
"""

from __future__ import annotations

import ssl

import httpx

HINTS = {
    401: "VoIPBin refused the accesskey: check VOIPBIN_API_KEY (create a key in the VoIPBin "
         "console or with `voipbin-iac signup`), or try the tool with --emulator",
    403: "the object belongs to another customer or the account is frozen: check that "
         "VOIPBIN_API_KEY is the key of the account this file manages",
    404: "it no longer exists (deleted elsewhere?): run `voipbin-iac plan` again",
    429: "VoIPBin's rate limit held: lower --rate-limit or --concurrency, or run again later",
    500: "VoIPBin answers a write with 500, naming no field, when it rejects an argument: an "
         "engine_model whose vendor it does not know, a type other than normal or insight, a "
         "tts_type or stt_type outside their lists, a rag_id of a knowledge base that does not "
         "exist (or was deleted), or an init_prompt over 65,535 bytes of UTF-8 (for a team: a "
         "member structure it refuses); check those fields (`voipbin-iac validate` checks "
         "most of them offline)",
    502: "VoIPBin or a proxy in front of it failed: run again; creates are never duplicated",
}
API_SUFFIX = "/v1.0"


def status_hint(status: int, method: str, path: str, base_url: str) -> str | None:
    """The hint for an error status of `method path` at `base_url`."""
    if status == 404 and (not base_url.rstrip("/").endswith(API_SUFFIX)
                          or path.count("/") <= 1):
        return route_hint(base_url)
    if status == 500 and method in ("GET", "DELETE"):
        return HINTS[502]
    return HINTS.get(status) or (HINTS[502] if status >= 500 else None)


def route_hint(base_url: str) -> str:
    """A 404 for a route, not for an object: the base URL is not VoIPBin's API root."""
    if not base_url.rstrip("/").endswith(API_SUFFIX):
        return (f"VOIPBIN_API_BASE_URL ({base_url}) does not end in {API_SUFFIX}: VoIPBin's API "
                f"is under {API_SUFFIX} (https://api.voipbin.net/v1.0; the emulator's: "
                "http://127.0.0.1:8900/v1.0)")
    return (f"there is no such route at {base_url}: check VOIPBIN_API_BASE_URL (it should be "
            "the root of a VoIPBin API, such as https://api.voipbin.net/v1.0)")


def redirect_hint(response: httpx.Response, base_url: str) -> str:
    """An API never redirects: the base URL is an old or a plain-HTTP address."""
    where = response.headers.get("Location", "")
    to = f" to {where}" if where else ""
    return (f"VoIPBin's API does not redirect, but {base_url} answered with a redirect{to}: "
            "put the address it should be (https://, and ending in /v1.0) into "
            "VOIPBIN_API_BASE_URL")


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in seen and len(seen) < 10:
        seen.append(cause)
        cause = cause.__cause__ or cause.__context__
    return seen


def _address(base_url: str) -> str:
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, ValueError):
        return base_url
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"{url.host}:{port}"


def hopeless(exc: httpx.HTTPError, base_url: str) -> tuple[str, str] | None:
    """`(cause, hint)` for a transport failure that retrying cannot mend, else None."""
    causes = _causes(exc)
    where = _address(base_url)
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return (f"connection refused: nothing listens at {where}",
                f"check VOIPBIN_API_BASE_URL ({base_url}); for the emulator, start "
                "`voipbin-iac emulator` first (or use --emulator)")
    tls = next((c for c in causes if isinstance(c, ssl.SSLError)), None)
    if tls is None:
        return None
    reason = str(getattr(tls, "reason", "") or tls)
    if isinstance(tls, ssl.SSLCertVerificationError) or "CERTIFICATE" in reason.upper():
        return (f"the TLS certificate of {where} could not be verified ({reason})",
                f"check VOIPBIN_API_BASE_URL ({base_url}) and the system's CA certificates")
    return (f"TLS failed with {where} ({reason}): it does not speak TLS, or not a version "
            "this client accepts",
            f"check VOIPBIN_API_BASE_URL ({base_url}): a plain-HTTP server such as the "
            "emulator needs http://, VoIPBin's API https://")
