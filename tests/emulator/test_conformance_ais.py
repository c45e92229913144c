"""Conformance with voipbin-api-2.md §D1-§D7 and §D9 (`/v1.0/ais`), over loopback: one test per
fact, each naming its section. Sections on transport and accounts live in the sibling
`test_conformance_*` modules."""

from __future__ import annotations

import httpx
import pytest

from voipbin_iac.core.catalog import INSIGHT_TOOL_NAMES, NORMAL_TOOL_NAMES

from .conftest import ALICE_RAG, BOB_RAG, MODEL, Emulator, create_ai, error_of

ZERO = "00000000-0000-0000-0000-000000000000"
UNKNOWN = "6f9619ff-8b86-4011-b42d-00c04fc964ff"


def _reason(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, error_of(response)["reason"]


# §D1 tool_names per AI type -------------------------------------------------------------------

def test_d1_normal_ai_takes_the_15_normal_tools_and_all(api: httpx.Client) -> None:
    """§D1: type=normal allows exactly the 15 normal tools, and `all`."""
    assert len(NORMAL_TOOL_NAMES) == 15
    ai = create_ai(api, tool_names=[*NORMAL_TOOL_NAMES, "all"])
    assert ai["tool_names"] == [*NORMAL_TOOL_NAMES, "all"]


def test_d1_insight_ai_takes_the_4_insight_tools_and_all(api: httpx.Client) -> None:
    """§D1: type=insight allows exactly the 4 insight tools, and `all`."""
    ai = create_ai(api, type="insight", tool_names=[*INSIGHT_TOOL_NAMES, "all"])
    assert (ai["type"], ai["tool_names"]) == ("insight", [*INSIGHT_TOOL_NAMES, "all"])


@pytest.mark.parametrize(("ai_type", "tool"), [("normal", "get_case_notes"),
                                               ("insight", "case_create")])
def test_d1_the_other_types_tool_is_400_invalid_tool_names(api: httpx.Client, ai_type: str,
                                                           tool: str) -> None:
    """§D1: a tool of the other type's set → 400 INVALID_ARGUMENT / INVALID_TOOL_NAMES."""
    response = api.post("/ais", json={"engine_model": MODEL, "type": ai_type,
                                      "tool_names": [tool]})
    assert response.status_code == 400
    error = error_of(response)
    assert (error["status"], error["reason"]) == ("INVALID_ARGUMENT", "INVALID_TOOL_NAMES")


def test_d1_message_names_the_type_and_every_bad_name(api: httpx.Client) -> None:
    """§D1: the message is `invalid tool_names for type=<type>: [<bad names>] is not allowed`
    (Go's %v of a slice), listing every bad name in order."""
    response = api.post("/ais", json={"engine_model": MODEL,
                                      "tool_names": ["bogus", "connect_call", "get_case_notes"]})
    assert error_of(response)["message"] == \
        "invalid tool_names for type=normal: [bogus get_case_notes] is not allowed"


def test_d1_the_whole_list_is_checked(api: httpx.Client) -> None:
    """§D1: `all` does not excuse the rest: ["all","bogus"] fails."""
    assert _reason(api.post("/ais", json={"engine_model": MODEL,
                                          "tool_names": ["all", "bogus"]})) == \
        (400, "INVALID_TOOL_NAMES")


def test_d1_empty_or_missing_tool_names_is_valid(api: httpx.Client) -> None:
    """§D1: [] or no tool_names is valid for either type."""
    create_ai(api, tool_names=[])
    create_ai(api, type="insight")


# §D2 validation order -------------------------------------------------------------------------

def test_d2_post_checks_tool_names_before_tts(api: httpx.Client) -> None:
    """§D2: on POST, tool_names (400) is checked before tts_type (500)."""
    body = {"engine_model": MODEL, "tool_names": ["bogus"], "tts_type": "festival"}
    assert api.post("/ais", json=body).status_code == 400


def test_d2_put_checks_tts_before_tool_names(api: httpx.Client) -> None:
    """§D2: on PUT, tts_type (500) is checked before tool_names (400): the same bad body is
    400 on create and 500 on update."""
    ai = create_ai(api)
    body = {"engine_model": MODEL, "tool_names": ["bogus"], "tts_type": "festival"}
    assert _reason(api.put(f"/ais/{ai['id']}", json=body)) == (500, "INTERNAL")


def test_d2_post_checks_engine_model_before_type(emu: Emulator, api: httpx.Client) -> None:
    """§D2: POST: engine_model, then type, then tool_names, tts, stt (the log names the rule)."""
    api.post("/ais", json={"engine_model": "x", "type": "bogus", "tool_names": ["bogus"]})
    assert emu.app.requests("POST", "/v1.0/ais")[-1].cause.startswith("invalid engine model")
    api.post("/ais", json={"engine_model": MODEL, "type": "bogus", "tool_names": ["bogus"]})
    assert emu.app.requests("POST", "/v1.0/ais")[-1].cause.startswith("invalid type")


def test_d2_put_looks_the_ai_up_before_validating(api: httpx.Client) -> None:
    """§D2: PUT: path id (400), body (400), AI lookup (404) before any field check."""
    assert _reason(api.put("/ais/nope", json={"engine_model": "x"})) == (400, "INVALID_ID")
    assert _reason(api.put(f"/ais/{UNKNOWN}", content=b"{")) == (400, "INVALID_JSON_BODY")
    assert _reason(api.put(f"/ais/{UNKNOWN}", json={"engine_model": "x"})) == \
        (404, "AI_NOT_FOUND")


def test_d2_put_checks_the_type_after_tts_and_stt(emu: Emulator, api: httpx.Client) -> None:
    """§D2: on PUT the type is resolved and checked after tts and stt."""
    ai = create_ai(api)
    api.put(f"/ais/{ai['id']}", json={"engine_model": MODEL, "type": "bogus",
                                      "stt_type": "whisper"})
    assert emu.app.requests("PUT")[-1].cause.startswith("invalid stt_type")


# §D3 PUT without type -------------------------------------------------------------------------

@pytest.mark.parametrize("body", [{}, {"type": ""}, {"type": None}])
def test_d3_put_without_type_keeps_it(api: httpx.Client, body: dict) -> None:
    """§D3: an omitted, "" or null type keeps the stored type (here insight)."""
    ai = create_ai(api, type="insight", name="x")
    updated = api.put(f"/ais/{ai['id']}", json={"engine_model": MODEL, **body}).json()
    assert updated["type"] == "insight"
    assert "name" not in updated  # every other field is still replaced


def test_d3_tool_names_are_checked_against_the_kept_type(api: httpx.Client) -> None:
    """§D3 with §D2: a normal tool on a PUT that keeps type insight → 400 for type=insight."""
    ai = create_ai(api, type="insight")
    response = api.put(f"/ais/{ai['id']}", json={"engine_model": MODEL,
                                                 "tool_names": ["connect_call"]})
    assert error_of(response)["message"].startswith("invalid tool_names for type=insight")


def test_d3_put_may_change_the_type(api: httpx.Client) -> None:
    """§D3: a given type is written."""
    ai = create_ai(api, type="insight")
    assert api.put(f"/ais/{ai['id']}", json={"engine_model": MODEL, "type": "normal"}
                   ).json()["type"] == "normal"


# §D4 current_prompt_history_id ----------------------------------------------------------------

def test_d4_post_with_a_prompt_mints_an_id(api: httpx.Client) -> None:
    """§D4: POST with a non-empty init_prompt mints current_prompt_history_id."""
    assert create_ai(api, init_prompt="Hi.")["current_prompt_history_id"] != ZERO


def test_d4_post_without_a_prompt_has_the_nil_uuid(api: httpx.Client) -> None:
    """§D4: POST with an empty prompt → the nil UUID, still present."""
    assert create_ai(api)["current_prompt_history_id"] == ZERO


def test_d4_put_with_a_new_prompt_mints_a_new_id(api: httpx.Client) -> None:
    """§D4: PUT that changes the prompt to a non-empty value → a new id."""
    ai = create_ai(api, init_prompt="one")
    updated = api.put(f"/ais/{ai['id']}", json={"engine_model": MODEL, "init_prompt": "two"})
    assert updated.json()["current_prompt_history_id"] not in (ZERO,
                                                               ai["current_prompt_history_id"])


def test_d4_put_with_the_same_prompt_keeps_the_id(api: httpx.Client) -> None:
    """§D4: PUT with the same prompt → unchanged."""
    ai = create_ai(api, init_prompt="one")
    same = api.put(f"/ais/{ai['id']}", json={"engine_model": MODEL, "init_prompt": "one"})
    assert same.json()["current_prompt_history_id"] == ai["current_prompt_history_id"]


def test_d4_put_that_clears_the_prompt_resets_the_id(api: httpx.Client) -> None:
    """§D4: PUT with "" (or none) while a prompt was stored → nil UUID."""
    ai = create_ai(api, init_prompt="one")
    cleared = api.put(f"/ais/{ai['id']}", json={"engine_model": MODEL}).json()
    assert cleared["current_prompt_history_id"] == ZERO


# §D5 init_prompt length -----------------------------------------------------------------------

def test_d5_a_prompt_of_65535_bytes_fits(api: httpx.Client) -> None:
    """§D5: the text column holds 65,535 bytes."""
    assert create_ai(api, init_prompt="x" * 65_535)["init_prompt"] == "x" * 65_535


def test_d5_longer_is_500_and_nothing_is_created(api: httpx.Client) -> None:
    """§D5: one byte more fails the INSERT → 500 INTERNAL; no AI is left behind."""
    response = api.post("/ais", json={"engine_model": MODEL, "init_prompt": "x" * 65_536})
    assert _reason(response) == (500, "INTERNAL")
    assert api.get("/ais").json()["result"] == []


def test_d5_the_limit_is_in_bytes_not_characters(api: httpx.Client) -> None:
    """§D5: multi-byte text reaches the limit sooner (21,846 three-byte characters > 65,535)."""
    response = api.post("/ais", json={"engine_model": MODEL, "init_prompt": "語" * 21_846})
    assert response.status_code == 500
    create_ai(api, init_prompt="語" * 21_845)


def test_d5_a_put_over_the_limit_changes_nothing(api: httpx.Client) -> None:
    """§D5: the UPDATE fails the same way → 500 and the AI is as it was."""
    ai = create_ai(api, init_prompt="short")
    response = api.put(f"/ais/{ai['id']}", json={"engine_model": MODEL,
                                                 "init_prompt": "y" * 70_000})
    assert response.status_code == 500
    assert api.get(f"/ais/{ai['id']}").json() == ai


# §D6 rag_id -----------------------------------------------------------------------------------

@pytest.mark.parametrize("rag", [None, ZERO, ""])
def test_d6_absent_null_or_nil_rag_id_means_no_rag(api: httpx.Client, rag: str | None) -> None:
    """§D6: absent, null or the nil UUID → no RAG (the nil UUID shown)."""
    assert create_ai(api, rag_id=rag)["rag_id"] == ZERO


def test_d6_a_non_uuid_rag_id_is_silently_dropped(api: httpx.Client) -> None:
    """§D6: a non-UUID string becomes nil (uuid.FromStringOrNil) → 200 with no RAG."""
    assert create_ai(api, rag_id="my-knowledge-base")["rag_id"] == ZERO


def test_d6_an_unknown_rag_is_500(api: httpx.Client) -> None:
    """§D6: a valid UUID naming no RAG → 500 INTERNAL (RAG_NOT_FOUND is discarded)."""
    response = api.post("/ais", json={"engine_model": MODEL, "rag_id": UNKNOWN})
    assert _reason(response) == (500, "INTERNAL")


def test_d6_a_soft_deleted_rag_is_500(emu: Emulator, api: httpx.Client) -> None:
    """§D6: a soft-deleted RAG is as unknown → 500."""
    gone = emu.store.add_rag(emu.customer_id, deleted=True)
    assert api.post("/ais", json={"engine_model": MODEL, "rag_id": gone}).status_code == 500


def test_d6_another_customers_rag_is_403(api: httpx.Client) -> None:
    """§D6: a RAG of another customer → 403 PERMISSION_DENIED."""
    response = api.post("/ais", json={"engine_model": MODEL, "rag_id": BOB_RAG})
    assert _reason(response) == (403, "PERMISSION_DENIED")


def test_d6_ones_own_rag_is_kept(api: httpx.Client) -> None:
    """§D6: the caller's own RAG is stored."""
    assert create_ai(api, rag_id=ALICE_RAG.upper())["rag_id"] == ALICE_RAG


def test_d6_put_checks_the_rag_after_the_ai(api: httpx.Client, other_api: httpx.Client) -> None:
    """§D6: the same rules on PUT, checked after the AI lookup and permission check."""
    ai = create_ai(api)
    assert _reason(api.put(f"/ais/{ai['id']}", json={"engine_model": MODEL,
                                                     "rag_id": BOB_RAG})) == \
        (403, "PERMISSION_DENIED")
    assert api.put(f"/ais/{ai['id']}", json={"engine_model": MODEL,
                                             "rag_id": UNKNOWN}).status_code == 500
    assert _reason(api.put(f"/ais/{UNKNOWN}", json={"rag_id": UNKNOWN})) == (404, "AI_NOT_FOUND")


def test_d6_the_rag_is_checked_before_the_ai_fields(api: httpx.Client) -> None:
    """§D2/§D6: on POST the RAG check runs before ai-manager's checks (403 beats 400)."""
    response = api.post("/ais", json={"engine_model": MODEL, "rag_id": BOB_RAG,
                                      "tool_names": ["bogus"]})
    assert response.status_code == 403


# §D7 soft-deleted AIs -------------------------------------------------------------------------

def test_d7_put_on_a_deleted_ai_is_200_and_it_stays_deleted(api: httpx.Client) -> None:
    """§D7: PUT → 200; the fields change, tm_delete stays set."""
    ai = create_ai(api)
    gone = api.delete(f"/ais/{ai['id']}").json()
    updated = api.put(f"/ais/{ai['id']}", json={"engine_model": MODEL, "detail": "edited"})
    assert updated.status_code == 200
    assert (updated.json()["detail"], updated.json()["tm_delete"]) == ("edited", gone["tm_delete"])


def test_d7_put_on_a_deleted_ai_writes_prompt_history(api: httpx.Client) -> None:
    """§D7: a changed prompt on a deleted AI still writes a history row."""
    ai = create_ai(api)
    api.delete(f"/ais/{ai['id']}")
    api.put(f"/ais/{ai['id']}", json={"engine_model": MODEL, "init_prompt": "new"})
    assert [h["prompt"] for h in
            api.get(f"/ais/{ai['id']}/prompt_histories").json()["result"]] == ["new"]


def test_d7_regenerate_on_a_deleted_ai_is_500(api: httpx.Client) -> None:
    """§D7: the direct record was hard-deleted → direct-manager fails → 500 INTERNAL."""
    ai = create_ai(api)
    api.delete(f"/ais/{ai['id']}")
    assert _reason(api.post(f"/ais/{ai['id']}/direct-hash-regenerate")) == (500, "INTERNAL")


def test_d7_get_of_a_deleted_ai_shows_its_dead_hash(emu: Emulator, api: httpx.Client) -> None:
    """§D7: GET still shows the old direct_hash, which no longer routes."""
    ai = create_ai(api)
    api.delete(f"/ais/{ai['id']}")
    assert api.get(f"/ais/{ai['id']}").json()["direct_hash"] == ai["direct_hash"]
    call = api.post("/calls", json={"destinations": [
        {"type": "sip", "target": f"sip:{ai['direct_hash']}@sip.voipbin.net"}]}).json()
    assert call["calls"][0]["routed_to"] is None


def test_d7_repeated_delete_is_200_and_restamped(emu: Emulator, api: httpx.Client) -> None:
    """§D7: a repeated DELETE → 200 with tm_delete and tm_update re-stamped."""
    ai = create_ai(api)
    first = api.delete(f"/ais/{ai['id']}").json()
    emu.clock.advance(1)
    again = api.delete(f"/ais/{ai['id']}")
    assert again.status_code == 200
    assert again.json()["tm_delete"] == again.json()["tm_update"] > first["tm_delete"]


# §D9 other /ais points ------------------------------------------------------------------------

def test_d9_a_vendor_and_a_dot_are_enough(api: httpx.Client) -> None:
    """§D9: `openai.` (an empty model part) passes; so does a vendor that never runs."""
    create_ai(api, engine_model="openai.")
    create_ai(api, engine_model="anthropic.claude-x")


def test_d9_vad_config_is_accepted_and_discarded(api: httpx.Client) -> None:
    """§D9: vad_config binds but is never stored; vad_config and smart_turn_enabled never
    show."""
    ai = create_ai(api, vad_config={"confidence": 0.5, "start_secs": 1}, smart_turn_enabled=True)
    assert "vad_config" not in ai and "smart_turn_enabled" not in ai
