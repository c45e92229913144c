"""VoIPBin's text-mode AI conversations over `VoipbinClient.request` (fact sheet part 2 §B).

`/aicalls` (a conversation with one AI, `reference_type` ""), `/aimessages` (what was said) and
`/aiaudits` (the LLM judge), each answer checked for the shape the runner relies on. Pacing,
retries, `Retry-After` and redaction are the client's; this module adds no policy except which
POSTs are safe to repeat (terminate is idempotent; nothing else is).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import ResponseError
from .client import PAGE_SIZE, VoipbinClient

MAX_PAGES = 20  # a conversation longer than this many pages is not one the runner made
_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?$")


@dataclass(frozen=True)
class Message:
    """One `/aimessages` object, as much of it as the runner reads."""

    id: str
    role: str
    content: str
    tool_calls: tuple[dict[str, Any], ...]
    tm_create: str

    @property
    def created(self) -> float | None:
        return timestamp(self.tm_create)


def timestamp(text: str | None) -> float | None:
    """Epoch seconds of a VoIPBin time (RFC 3339, up to nine fractional digits), or None."""
    match = _TIME.match(text or "")
    if match is None:
        return None
    zone = match.group(3) or "Z"
    moment = datetime.fromisoformat(match.group(1) + ("+00:00" if zone == "Z" else zone))
    return moment.replace(tzinfo=moment.tzinfo or UTC).timestamp() + \
        float("0." + (match.group(2) or "0"))


def _object(data: Any, what: str, *keys: str) -> dict[str, Any]:
    if not isinstance(data, dict) or any(not isinstance(data.get(k), str) for k in keys):
        raise ResponseError(f"{what} answered something that is not the documented object")
    return data


def _message(data: Any, what: str) -> Message:
    obj = _object(data, what, "id", "role")
    calls = obj.get("tool_calls") or []
    if not isinstance(calls, list):
        raise ResponseError(f"{what} answered a message whose tool_calls is not a list")
    return Message(obj["id"], obj["role"], str(obj.get("content") or ""),
                   tuple(c for c in calls if isinstance(c, dict)), str(obj.get("tm_create")))


class Conversations:
    """The conversation routes of one client."""

    def __init__(self, client: VoipbinClient) -> None:
        self.client = client

    def start(self, ai_id: str) -> dict[str, Any]:
        """A new text conversation with the AI `ai_id` (`POST /aicalls`)."""
        body = {"assistance_type": "ai", "assistance_id": ai_id, "reference_type": ""}
        return _object(self.client.request("POST", "/aicalls", json=body), "POST /aicalls", "id")

    def send(self, aicall_id: str, text: str) -> Message:
        """Say `text`; the answer is the stored user message (never the reply, §B2)."""
        body = {"aicall_id": aicall_id, "role": "user", "content": text}
        return _message(self.client.request("POST", "/aimessages", json=body),
                        "POST /aimessages")

    def newest(self, aicall_id: str, until: str | None = None) -> list[Message]:
        """The conversation's messages newest first, down to the one with id `until` (left out)
        or, without `until`, one page of them."""
        out: list[Message] = []
        token = ""
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"aicall_id": aicall_id, "page_size": PAGE_SIZE}
            if token:
                params["page_token"] = token
            data = self.client.request("GET", "/aimessages", params=params)
            page = data.get("result") if isinstance(data, dict) else None
            if not isinstance(page, list):
                raise ResponseError("GET /aimessages answered without a `result` list")
            for item in page:
                message = _message(item, "GET /aimessages")
                if message.id == until:
                    return out
                out.append(message)
            token = str(data.get("next_page_token") or "")
            if until is None or not page or not token:
                return out
        return out

    def terminate(self, aicall_id: str) -> dict[str, Any]:
        """End the conversation; idempotent, so safe to repeat when an answer is lost."""
        path = f"/aicalls/{aicall_id}/terminate"
        return _object(self.client.request("POST", path, retry_unknown=True), f"POST {path}",
                       "id")

    def audit(self, aicall_id: str, language: str = "") -> list[dict[str, Any]]:
        """Start VoIPBin's judge on a terminated conversation: one audit per AI (202)."""
        body: dict[str, Any] = {"aicall_id": aicall_id}
        if language:
            body["language"] = language
        data = self.client.request("POST", "/aiaudits", json=body)
        result = data.get("result") if isinstance(data, dict) else None
        if not isinstance(result, list) or not result:
            raise ResponseError("POST /aiaudits answered without a `result` list of audits")
        return [_object(a, "POST /aiaudits", "id") for a in result]

    def audits_of(self, aicall_id: str) -> list[dict[str, Any]]:
        """The conversation's audits (`GET /aiaudits?aicall_id=`), newest first."""
        return [_object(a, "GET /aiaudits", "id")
                for a in self.client.list_all("/aiaudits", {"aicall_id": aicall_id})]

    def get_audit(self, audit_id: str) -> dict[str, Any]:
        path = f"/aiaudits/{audit_id}"
        return _object(self.client.request("GET", path), f"GET {path}", "id")
