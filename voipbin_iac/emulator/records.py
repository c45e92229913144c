"""Value types of the emulator's state: the rows of the store as frozen dataclasses.

The store returns these, the handlers render them. Field names follow the platform's JSON
(fact sheet §1b for AIs, §3 for customers and accesskeys, §7 for calls; part 2 §A for teams,
§C for prompt histories, §D10 for customers, §D11 for calls); times are microsecond integers
(see `timefmt`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..core.catalog import ZERO_UUID


@dataclass(frozen=True)
class AiFields:
    """The write fields of an AI after binding and validation (fact sheet §1b).

    `parameter_json` is the canonical JSON text of `parameter` (sorted keys, Go number forms).
    `type` is "" when the body left it out: POST then means `normal`, PUT keeps the stored type
    (part 2 §D3); the store never holds "".
    """

    name: str = ""
    detail: str = ""
    type: str = "normal"
    engine_model: str = ""
    parameter_json: str = "{}"
    engine_key: str = ""
    rag_id: str = ZERO_UUID
    init_prompt: str = ""
    tts_type: str = ""
    tts_voice_id: str = ""
    stt_type: str = ""
    stt_language: str = ""
    tool_names: tuple[str, ...] = ()
    auto_aicall_audit_enabled: bool = False

    @property
    def parameter(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.parameter_json)
        return value


@dataclass(frozen=True)
class AiRecord:
    """One `/ais` object as stored."""

    id: str
    customer_id: str
    fields: AiFields
    direct_hash: str
    tm_create: int
    tm_update: int | None
    tm_delete: int | None
    current_prompt_history_id: str = ZERO_UUID

    @property
    def deleted(self) -> bool:
        return self.tm_delete is not None


@dataclass(frozen=True)
class PromptHistoryRecord:
    """One `/ais/{id}/prompt_histories` row (part 2 §C); rows are append-only."""

    id: str
    customer_id: str
    ai_id: str
    prompt: str
    proposal_id: str
    tm_create: int


@dataclass(frozen=True)
class Address:
    """The platform's address object (`type`, `target`, `target_name`, `name`, `detail`)."""

    type: str = ""
    target: str = ""
    target_name: str = ""
    name: str = ""
    detail: str = ""

    def to_json(self) -> dict[str, str]:
        """Go's `omitempty` on every field: empty strings are left out."""
        pairs = (("type", self.type), ("target", self.target), ("target_name", self.target_name),
                 ("name", self.name), ("detail", self.detail))
        return {key: value for key, value in pairs if value}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Address:
        return cls(**{key: str(value.get(key) or "") for key in
                      ("type", "target", "target_name", "name", "detail")})


@dataclass(frozen=True)
class Route:
    """Where a call's destination leads: a resource that answers, or nothing (part 2 §A8,
    §D11). `member_id`/`ai_id` name the team member (and its AI) a team call reaches."""

    answered: bool
    resource_type: str | None = None
    resource_id: str | None = None
    member_id: str | None = None
    ai_id: str | None = None


@dataclass(frozen=True)
class NewCall:
    """A call to record: one per destination of `POST /v1.0/calls` that started.

    `tm_progressing`/`tm_hangup` are how long after its creation (µs) the call will be answered
    and end (None: never); until then it reads `dialing` (see `calls.render_call`)."""

    flow_id: str
    source: Address
    destination: Address
    route: Route
    tm_progressing: int | None
    tm_hangup: int | None
    hangup_by: str
    hangup_reason: str


@dataclass(frozen=True)
class CallRecord:
    """One `/calls` object as stored."""

    id: str
    customer_id: str
    flow_id: str
    source: Address
    destination: Address
    direction: str
    status: str
    hangup_by: str
    hangup_reason: str
    routed_type: str | None
    routed_id: str | None
    tm_progressing: int | None  # planned: may lie in the future (the call is still dialing)
    tm_hangup: int | None  # planned, like tm_progressing
    tm_create: int
    tm_update: int | None
    routed_member_id: str | None = None
    routed_ai_id: str | None = None


@dataclass(frozen=True)
class SignupProfile:
    """The customer fields `POST /auth/signup` accepts besides `accepted_tos`."""

    email: str
    name: str = ""
    detail: str = ""
    phone_number: str = ""
    address: str = ""
    webhook_method: str = ""
    webhook_uri: str = ""


@dataclass(frozen=True)
class CustomerRecord:
    """A customer (an account). Part 2 §D10: `status` is one of initial, active, frozen,
    deleted, expired; `identity_verification_status` one of none, pending, verified, rejected."""

    id: str
    profile: SignupProfile
    status: str
    tm_create: int
    email_verified: bool = False
    identity_verification_status: str = "none"
    tm_update: int | None = None
    tm_delete: int | None = None


@dataclass(frozen=True)
class AccessKeyRecord:
    """An accesskey; `token` is the secret, `token_prefix` its first 11 characters."""

    id: str
    customer_id: str
    name: str
    detail: str
    token: str
    tm_expire: int | None
    tm_create: int

    @property
    def token_prefix(self) -> str:
        return self.token[:11]
