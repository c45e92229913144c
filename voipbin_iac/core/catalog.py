"""The VoIPBin `/v1.0/ais` field catalogue: write fields, enums and their defaults.

Pure data taken from the fact sheet (`voipbin-api.md` §1b, HEAD era). The desired-state checks,
the planner and the emulator all read it, so one table says what the platform accepts.
"""

from __future__ import annotations

import re
from typing import Final

ZERO_UUID: Final = "00000000-0000-0000-0000-000000000000"
# Every id of the platform: a UUID in its canonical 8-4-4-4-12 form (either case).
UUID: Final = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def is_uuid(value: object) -> bool:
    """Whether `value` is a whole UUID (no newline or anything else around it)."""
    return isinstance(value, str) and UUID.fullmatch(value) is not None


SIP_DOMAIN: Final = "sip.voipbin.net"
DIRECT_PREFIX: Final = "direct."

# Vendor part of `engine_model` (`<target>.<model>`); the server checks only this part.
ENGINE_VENDORS: Final = frozenset(
    {
        "anthropic", "aws", "azure", "cerebras", "deepseek", "fireworks", "gemini", "grok",
        "groq", "mistral", "nvidia", "ollama", "openai", "openrouter", "perplexity", "qwen",
        "sambanova", "together",
    }
)

# The OpenAPI enum at HEAD; models outside it are accepted by the server (only the vendor is
# checked), so the desired-state checks only warn about them.
ENGINE_MODELS: Final = (
    "gemini.gemini-2.5-flash", "gemini.gemini-2.5-pro", "gemini.gemini-2.0-flash",
    "gemini.gemini-pro-latest", "openai.gpt-5.2", "openai.gpt-5.1", "openai.gpt-5",
    "openai.gpt-5-mini", "openai.gpt-5-nano", "grok.grok-3", "grok.grok-3-mini",
)

# Vendors the platform's runner implements (part 2 §B3, §D9): an AI on any other accepted vendor
# is stored but never replies (silently).
RUNNABLE_VENDORS: Final = frozenset({"openai", "grok", "gemini"})

AI_TYPES: Final = ("normal", "insight")

TTS_TYPES: Final = (
    "", "async", "aws", "azure", "cartesia", "deepgram", "elevenlabs", "fish", "google", "groq",
    "hume", "inworld", "lmnt", "minimax", "neuphonic", "nvidia-riva", "openai", "piper", "playht",
    "rime", "sarvam", "xtts",
)

STT_TYPES: Final = ("", "cartesia", "deepgram", "elevenlabs", "google")

TOOL_NAMES: Final = (
    "all", "connect_call", "create_call", "get_aicall_messages", "get_variables",
    "search_knowledge", "send_email", "send_message", "set_variables", "stop_flow", "stop_media",
    "stop_service", "get_correlation", "get_resource", "describe_action", "case_create",
    "get_contact_interactions", "get_conversation_content", "get_related_cases", "get_case_notes",
)

# Tool names by AI type (part 2 §D1): `normal` AIs may use only the normal tools, `insight` AIs
# only the insight tools; `all` (a selector expanded at run time) is accepted for both. Anything
# else is 400 INVALID_TOOL_NAMES. The 15 normal names are also the reserved team transition names.
TOOL_ALL: Final = "all"
NORMAL_TOOL_NAMES: Final = (
    "connect_call", "create_call", "get_variables", "get_aicall_messages", "send_email",
    "send_message", "set_variables", "stop_flow", "stop_media", "stop_service",
    "search_knowledge", "get_correlation", "get_resource", "describe_action", "case_create",
)
INSIGHT_TOOL_NAMES: Final = (
    "get_contact_interactions", "get_conversation_content", "get_related_cases", "get_case_notes",
)
TOOLS_BY_TYPE: Final[dict[str, frozenset[str]]] = {
    "normal": frozenset({TOOL_ALL, *NORMAL_TOOL_NAMES}),
    "insight": frozenset({TOOL_ALL, *INSIGHT_TOOL_NAMES}),
}

# The `init_prompt` column is MySQL `text` (part 2 §D5): 65,535 bytes of UTF-8; longer is a 500.
PROMPT_MAX_BYTES: Final = 65_535

# Write fields of POST/PUT /v1.0/ais, in the order the API documents them, with the value the
# platform stores when the field is omitted (PUT is a full replace: omitted means this value).
# `rag_id` omitted is stored as the zero UUID; this tool represents that as None.
# `vad_config` is absent on purpose: the API handler never passes it through (fact sheet §1b).
WRITE_FIELDS: Final[dict[str, object]] = {
    "name": "",
    "detail": "",
    "type": "normal",
    "engine_model": "",
    "parameter": {},
    "engine_key": "",
    "rag_id": None,
    "init_prompt": "",
    "tts_type": "",
    "tts_voice_id": "",
    "stt_type": "",
    "stt_language": "",
    "tool_names": [],
    "auto_aicall_audit_enabled": False,
}

SENSITIVE_FIELDS: Final = frozenset({"engine_key"})

# What a change to each field means for callers: `routing` is reserved for the SIP URI itself.
FIELD_IMPACT: Final[dict[str, str]] = {
    "name": "cosmetic",
    "detail": "cosmetic",
    "type": "behaviour",
    "engine_model": "behaviour",
    "parameter": "behaviour",
    "engine_key": "behaviour",
    "rag_id": "behaviour",
    "init_prompt": "behaviour",
    "tts_type": "behaviour",
    "tts_voice_id": "behaviour",
    "stt_type": "behaviour",
    "stt_language": "behaviour",
    "tool_names": "behaviour",
    "auto_aicall_audit_enabled": "behaviour",
}

IMPACT_ORDER: Final = ("none", "cosmetic", "behaviour", "routing")


def sip_uri(direct_hash: str) -> str:
    """The SIP URI callers dial for a `direct_hash` (which already carries `direct.`)."""
    return f"sip:{direct_hash}@{SIP_DOMAIN}"


def env_name(key: str) -> str:
    """The variable `manifest --format env` gives a key's SIP URI: `support-bot` ->
    `VOIPBIN_SIP_URI_SUPPORT_BOT`. Not one-to-one: `a-b`, `a_b`, `a.b` and `A-B` all give
    `VOIPBIN_SIP_URI_A_B` (the env format refuses such clashes, `validate` warns)."""
    return "VOIPBIN_SIP_URI_" + re.sub(r"[^A-Z0-9]", "_", key.upper())
