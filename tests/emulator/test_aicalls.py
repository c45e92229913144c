"""`/v1.0/aicalls`: text conversations, their objects, statuses, terminate and delete
(fact sheet part 2 §B1)."""

from __future__ import annotations

import httpx
import pytest

from .conftest import MODEL, Emulator, create_ai, error_of, list_all

ZERO = "00000000-0000-0000-0000-000000000000"
ORDER = ["id", "customer_id", "assistance_type", "assistance_id", "ai_engine_model",
         "parameter", "activeflow_id", "reference_id", "confbridge_id", "current_member_id",
         "status", "stt_language", "metadata", "tm_end", "tm_create", "tm_update", "tm_delete"]


def start(api: httpx.Client, ai_id: str, **extra: str) -> dict:
    response = api.post("/aicalls", json={"assistance_type": "ai", "assistance_id": ai_id,
                                          **extra})
    assert response.status_code == 200, response.text
    return response.json()


def messages(api: httpx.Client, aicall_id: str) -> list[dict]:
    """Every message of a conversation, newest first, following the cursor."""
    items: list[dict] = []
    token = ""
    while True:
        params = {"aicall_id": aicall_id, "page_size": 2, **({"page_token": token} if token
                                                            else {})}
        body = api.get("/aimessages", params=params).json()
        if not body["result"]:
            return items
        items.extend(body["result"])
        token = body["next_page_token"]


def test_text_conversation_is_progressing_at_once_with_its_system_messages(
        api: httpx.Client) -> None:
    """§B1: reference_type "" is a pure text session, `progressing` within the request, keys in
    the webhook struct's order, empty strings omitted; §B2: 1-3 system messages at creation."""
    ai = create_ai(api, init_prompt="You book tables.", parameter={"city": "Berlin"},
                   stt_language="en-GB", tts_type="elevenlabs")
    call = start(api, ai["id"], gender="female", language="de")  # both long gone: ignored
    assert list(call) == ORDER
    assert call["status"] == "progressing" and call["assistance_type"] == "ai"
    assert call["ai_engine_model"] == MODEL and call["stt_language"] == "en-GB"
    assert call["parameter"] == {"city": "Berlin"} and call["reference_id"] == ZERO
    assert "ai_tts_type" not in call and "reference_type" not in call
    assert call["tm_end"] is None and call["tm_update"] is not None
    assert call["metadata"]["auto_audit_enabled"] is False
    [snapshot] = call["metadata"]["prompt_snapshots"]
    assert snapshot["prompt"] == "You book tables." and snapshot["ai_id"] == ai["id"]
    system = [m for m in reversed(messages(api, call["id"]))]
    assert [(m["role"], m["direction"]) for m in system] == [("system", "outgoing")] * 3
    assert system[0]["content"].startswith("You are an AI assistant for VoIPBin.")
    assert system[1]["content"] == "You book tables."
    assert system[2]["content"] == '{"city":"Berlin"}'


def test_only_the_builtin_prompt_without_prompt_or_parameter(api: httpx.Client) -> None:
    """§B2: the prompt and the parameter messages are written only when non-empty."""
    call = start(api, create_ai(api)["id"])
    assert [m["role"] for m in messages(api, call["id"])] == ["system"]


@pytest.mark.parametrize(("body", "status", "reason"), [
    ({"assistance_type": "", "assistance_id": "{ai}"}, 400, "INVALID_ARGUMENT"),
    ({"assistance_type": "robot", "assistance_id": "{ai}"}, 400, "INVALID_ARGUMENT"),
    ({"assistance_type": "ai", "assistance_id": "not-a-uuid"}, 400, "INVALID_ARGUMENT"),
    ({"assistance_type": "ai", "assistance_id": "6f9619ff-8b86-d011-b42d-00c04fc964ff"}, 404,
     "AI_NOT_FOUND"),
    ({"assistance_type": "ai_team", "assistance_id": "6f9619ff-8b86-d011-b42d-00c04fc964ff"},
     404, "TEAM_NOT_FOUND"),
    ({"assistance_type": "ai", "assistance_id": "{ai}", "reference_type": "conversation"}, 500,
     "INTERNAL"),
    ({"assistance_type": "ai", "assistance_id": "{ai}", "reference_type": "task"}, 500,
     "INTERNAL"),
    ({"assistance_type": "ai", "assistance_id": "{ai}", "reference_type": "call",
      "reference_id": "6f9619ff-8b86-d011-b42d-00c04fc964ff"}, 500, "INTERNAL"),
    ({"assistance_type": "ai", "assistance_id": "{ai}", "reference_type": "bogus"}, 500,
     "INTERNAL"),
    ({"assistance_type": 5}, 400, "INVALID_JSON_BODY"),
])
def test_create_errors(api: httpx.Client, body: dict, status: int, reason: str) -> None:
    """§B1: the create body's handling table and the reference types that fail through the
    API (`ai_team` is rewritten to `team`; teams are not modelled, so no team is found)."""
    ai = create_ai(api)
    body = {k: v.replace("{ai}", ai["id"]) if isinstance(v, str) else v for k, v in body.items()}
    response = api.post("/aicalls", json=body)
    assert response.status_code == status, response.text
    assert error_of(response)["reason"] == reason


def test_another_customers_ai_and_aicall_are_403(api: httpx.Client,
                                                 other_api: httpx.Client) -> None:
    """§B1: another customer's AI or aicall is 403, not 404."""
    ai = create_ai(api)
    assert other_api.post("/aicalls", json={"assistance_type": "ai",
                                            "assistance_id": ai["id"]}).status_code == 403
    call = start(api, ai["id"])
    for response in (other_api.get(f"/aicalls/{call['id']}"),
                     other_api.post(f"/aicalls/{call['id']}/terminate"),
                     other_api.delete(f"/aicalls/{call['id']}")):
        assert response.status_code == 403


def test_get_unknown_and_malformed(api: httpx.Client) -> None:
    """§B1: unknown → 404 AICALL_NOT_FOUND; a bad id is INVALID_ID on GET/DELETE and
    INVALID_REQUEST_PARAMETER on terminate (uuid-typed)."""
    unknown = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
    assert error_of(api.get(f"/aicalls/{unknown}"))["reason"] == "AICALL_NOT_FOUND"
    assert error_of(api.get("/aicalls/nope"))["reason"] == "INVALID_ID"
    assert error_of(api.delete("/aicalls/nope"))["reason"] == "INVALID_ID"
    assert error_of(api.post("/aicalls/nope/terminate"))["reason"] == \
        "INVALID_REQUEST_PARAMETER"


def test_terminate_is_idempotent_and_sets_tm_end(api: httpx.Client, emu: Emulator) -> None:
    """§B1: terminate → 200 `terminated` with `tm_end`; again → the same object as it is."""
    call = start(api, create_ai(api)["id"])
    emu.clock.advance(1)
    first = api.post(f"/aicalls/{call['id']}/terminate")
    assert first.status_code == 200
    done = first.json()
    assert done["status"] == "terminated" and done["tm_end"] is not None
    emu.clock.advance(1)
    assert api.post(f"/aicalls/{call['id']}/terminate").json() == done


def test_delete_is_soft_and_does_not_terminate(api: httpx.Client) -> None:
    """§B1: DELETE sets tm_delete, keeps the status; GET still answers 200; lists skip it."""
    ai = create_ai(api)
    kept, deleted = start(api, ai["id"]), start(api, ai["id"])
    gone = api.delete(f"/aicalls/{deleted['id']}").json()
    assert gone["tm_delete"] is not None and gone["status"] == "progressing"
    assert api.get(f"/aicalls/{deleted['id']}").json()["tm_delete"] == gone["tm_delete"]
    assert [c["id"] for c in list_all(api, "/aicalls")] == [kept["id"]]


def test_list_is_newest_first_and_scoped(api: httpx.Client, other_api: httpx.Client) -> None:
    """§B1: only page_size/page_token; the caller's aicalls, newest first."""
    ai = create_ai(api)
    ids = [start(api, ai["id"])["id"] for _ in range(5)]
    assert [c["id"] for c in list_all(api, "/aicalls", page_size=2)] == ids[::-1]
    assert list_all(other_api, "/aicalls") == []


def test_contact_case_ai_speaks_first_and_one_per_case(api: httpx.Client, emu: Emulator) -> None:
    """§B1 notes on contact_case: text only, the first AI turn starts at creation, one active
    aicall per case (the existing one is returned), re-creating within 5 minutes of the
    termination is a 500."""
    ai = create_ai(api)
    case = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
    call = start(api, ai["id"], reference_type="contact_case", reference_id=case)
    assert call["reference_type"] == "contact_case" and call["reference_id"] == case
    assert start(api, ai["id"], reference_type="contact_case", reference_id=case)["id"] == \
        call["id"]
    emu.clock.advance(2)
    assert any(m["role"] == "assistant" for m in messages(api, call["id"]))
    api.post(f"/aicalls/{call['id']}/terminate")
    emu.clock.advance(60)
    again = api.post("/aicalls", json={"assistance_type": "ai", "assistance_id": ai["id"],
                                       "reference_type": "contact_case", "reference_id": case})
    assert again.status_code == 500
    emu.clock.advance(300)
    assert start(api, ai["id"], reference_type="contact_case", reference_id=case)["id"] != \
        call["id"]
