"""The one exception tree of voipbin-iac.

Every failure the tool expects (bad input, API answers, the network) is an `IacError`; the CLI
turns each into `error: ...` lines and exit code 1. Anything else escaping is a bug.

    IacError
    ├── ConfigError            the desired-state file is invalid (all problems at once)
    ├── ManifestError          the manifest cannot be read or is not one of ours
    ├── PlanError              no safe plan: ambiguous match, protected prune, moved conflict
    ├── RefusedError           the tool will not go on without the user's say-so
    │   ├── SafetyError        too many owned agents touched without --force
    │   ├── StalePlanError     a saved plan no longer matches the file, manifest or live state
    │   └── LockError          another apply holds the lock
    ├── UsageError             bad command line or environment (no key, wrong flags)
    ├── FileError              a file beside the configuration cannot be written
    ├── ApiError               the API answered with an error status
    │   ├── AuthenticationError     401
    │   ├── PermissionDeniedError   403
    │   ├── NotFoundError           404
    │   ├── RateLimitedError        429 (after retries)
    │   └── ServerError             5xx
    ├── TransportError         no answer: connection refused, dropped, timed out
    │   └── OutcomeUnknownError     a write was sent and its outcome is unknown
    └── ResponseError          an answer that is not what the API documents

Messages never carry a secret: the client redacts before raising, and the CLI redacts again.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Location:
    """A place in a source file, 1-based, as editors show it."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, order=True)
class Problem:
    """One finding of the desired-state checks."""

    location: Location
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class IacError(Exception):
    """Base of every error the tool expects. `hint` says what to do about it."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def lines(self) -> list[str]:
        """The error as the lines the CLI prints (without the `error: ` prefix)."""
        return [self.message]


class ConfigError(IacError):
    """The desired-state file has problems; all of them are listed."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...], hint: str | None = None):
        self.problems = tuple(sorted(problems))
        count = len(self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the desired state",
                         hint=hint)

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


class ManifestError(IacError):
    """The manifest is unreadable, invalid, or not written by this tool."""


class PlanError(IacError):
    """No safe plan can be built without the user settling something first."""


class RefusedError(IacError):
    """The tool refuses to go on without an explicit decision by the user."""


class SafetyError(RefusedError):
    """A plan touches more owned agents than the safety threshold allows."""


class StalePlanError(RefusedError):
    """A saved plan no longer matches the desired file, the manifest or the live state."""


class LockError(RefusedError):
    """Another apply holds the lock beside the manifest."""


class UsageError(IacError):
    """The command line or environment does not make sense."""


class FileError(IacError):
    """A file the tool writes (manifest, lock, apply log, saved plan, export) cannot be written."""


class ApiError(IacError):
    """The API answered with an error status."""

    def __init__(
        self,
        *,
        method: str,
        path: str,
        status: int,
        reason: str = "",
        detail: str = "",
        request_id: str = "",
        hint: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.reason = reason
        self.detail = detail
        self.request_id = request_id
        what = f"{method} {path} answered {status}"
        if reason:
            what += f" {reason}"
        if detail:
            what += f": {detail}"
        if request_id:
            what += f" (request id {request_id})"
        super().__init__(what, hint=hint)


class AuthenticationError(ApiError):
    """401: the accesskey is missing, wrong, expired or deleted."""


class PermissionDeniedError(ApiError):
    """403: the object belongs to another customer, or the account is frozen."""


class NotFoundError(ApiError):
    """404: no such object or route."""


class RateLimitedError(ApiError):
    """429 after the retry budget was spent."""


class ServerError(ApiError):
    """5xx after the retry budget was spent, or at once for a 500 to a POST or PUT (VoIPBin's
    answer to a rejected argument, never retried)."""


class TransportError(IacError):
    """The request got no answer (connection refused, dropped, timed out)."""

    def __init__(self, *, method: str, path: str, cause: str, hint: str | None = None) -> None:
        self.method = method
        self.path = path
        self.cause = cause
        super().__init__(f"{method} {path} got no answer: {cause}", hint=hint)


class OutcomeUnknownError(TransportError):
    """A write was sent but its outcome is unknown: it may or may not have been committed."""


class ResponseError(IacError):
    """The API answered something that is not what it documents (not JSON, wrong shape)."""
