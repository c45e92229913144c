"""CRUD semantics of `/v1.0/ais`: object shape, POST, GET, PUT full replace, soft delete
(fact sheet §1b, §2, §5)."""

from __future__ import annotations

import httpx

from voipbin_iac.emulator import EmulatorConfig

from .conftest import MODEL, Emulator, create_ai, error_of, list_all

ZERO = "00000000-0000-0000-0000-000000000000"
RAG = "6F9619FF-8B86-D011-B42D-00C04FC964FF"
FULL = {
    "name": "Support Bot",
    "detail": "Answers questions",
    "type": "normal",
    "engine_model": MODEL,
    "parameter": {"tone": "calm", "max": 3},
    "engine_key": "sk-secret",
    "rag_id": RAG,
    "init_prompt": "You are helpful.",
    "tts_type": "elevenlabs",
    "tts_voice_id": "21m00Tcm4TlvDq8ikWAM",
    "stt_type": "deepgram",
    "stt_language": "en-US",
    "tool_names": ["connect_call", "send_email"],
    "auto_aicall_audit_enabled": True,
}
ORDER = [
    "id", "customer_id", "name", "detail", "type", "is_insight_active", "engine_model",
    "parameter", "engine_key", "rag_id", "init_prompt", "current_prompt_history_id", "tts_type",
    "tts_voice_id", "stt_type", "stt_language", "auto_aicall_audit_enabled", "tool_names",
    "direct_hash", "tm_create", "tm_update", "tm_delete",
]


def test_post_answers_200_with_the_full_object_in_platform_order(api: httpx.Client) -> None:
    """§1b: POST answers 200 (not 201) with the full object, keys in the emitted order."""
    response = api.post("/ais", json=FULL)
    assert response.status_code == 200
    ai = response.json()
    assert list(ai) == ORDER
    assert ai["name"] == "Support Bot"
    assert ai["parameter"] == {"max": 3, "tone": "calm"}
    assert ai["rag_id"] == RAG.lower()
    assert ai["current_prompt_history_id"] != ZERO  # minted: the prompt is not empty
    assert ai["is_insight_active"] is False
    assert ai["tool_names"] == ["connect_call", "send_email"]
    assert ai["auto_aicall_audit_enabled"] is True
    assert ai["tm_update"] is None and ai["tm_delete"] is None


def test_engine_key_is_echoed(api: httpx.Client) -> None:
    """§1b, §7b: engine_key is returned in responses (no redaction in the code)."""
    ai = create_ai(api, engine_key="sk-live-123")
    assert ai["engine_key"] == "sk-live-123"
    assert api.get(f"/ais/{ai['id']}").json()["engine_key"] == "sk-live-123"


def test_minimal_object_omits_empty_fields(api: httpx.Client) -> None:
    """§1b: empty string/bool/map/slice fields are omitted; UUIDs, is_insight_active and tm_*
    are always present; a missing type becomes normal."""
    ai = api.post("/ais", json={"engine_model": MODEL}).json()
    assert list(ai) == [
        "id", "customer_id", "type", "is_insight_active", "engine_model", "rag_id",
        "current_prompt_history_id", "direct_hash", "tm_create", "tm_update", "tm_delete",
    ]
    assert ai["type"] == "normal"
    assert ai["rag_id"] == ZERO


def test_null_fields_take_zero_values(api: httpx.Client) -> None:
    """§1b: JSON null leaves the zero value, as Go binding does."""
    body = {key: None for key in FULL} | {"engine_model": MODEL}
    ai = api.post("/ais", json=body).json()
    assert "name" not in ai and "parameter" not in ai and "tool_names" not in ai
    assert ai["type"] == "normal" and ai["rag_id"] == ZERO


def test_unknown_keys_are_ignored(api: httpx.Client) -> None:
    """§1b, §6: unknown keys (the old engine_type/engine_data) are ignored."""
    ai = create_ai(api, engine_type="chatGPT", engine_data={"x": 1}, colour="blue")
    assert "engine_type" not in ai and "engine_data" not in ai and "colour" not in ai


def test_vad_config_and_smart_turn_are_never_emitted(api: httpx.Client) -> None:
    """§1b: vad_config and smart_turn_enabled are never passed through by the API handler."""
    ai = create_ai(api, vad_config={"confidence": 0.5, "start_secs": 0.2},
                   smart_turn_enabled=True)
    assert "vad_config" not in ai and "smart_turn_enabled" not in ai
    assert "vad_config" not in api.get(f"/ais/{ai['id']}").json()


def test_parameter_is_stored_like_go_does(api: httpx.Client) -> None:
    """§1b (Go JSON): map keys come back sorted, integral numbers print without a fraction."""
    ai = create_ai(api, parameter={"b": 1.0, "a": {"z": [2.5, 3.0], "y": "s"}, "c": True})
    assert ai["parameter"] == {"a": {"y": "s", "z": [2.5, 3]}, "b": 1, "c": True}
    assert list(ai["parameter"]) == ["a", "b", "c"]
    assert api.get(f"/ais/{ai['id']}").text.count('"b":1,') == 1


def test_get_returns_the_same_object(api: httpx.Client) -> None:
    """§1b: GET /ais/{id} returns the object POST answered."""
    ai = api.post("/ais", json=FULL).json()
    assert api.get(f"/ais/{ai['id']}").json() == ai


def test_names_need_not_be_unique(api: httpx.Client) -> None:
    """§1b, §5: no uniqueness rule on name."""
    first, second = create_ai(api, name="same"), create_ai(api, name="same")
    assert first["id"] != second["id"]


def test_put_is_a_full_replace(emu: Emulator, api: httpx.Client) -> None:
    """§1b, §5: PUT overwrites every write field; omitted ones become blank; tm_update is set."""
    ai = api.post("/ais", json=FULL).json()
    emu.clock.advance(2)
    response = api.put(f"/ais/{ai['id']}", json={"name": "Renamed", "engine_model": MODEL})
    assert response.status_code == 200
    updated = response.json()
    assert updated == {
        "id": ai["id"], "customer_id": ai["customer_id"], "name": "Renamed", "type": "normal",
        "is_insight_active": False, "engine_model": MODEL, "rag_id": ZERO,
        "current_prompt_history_id": ZERO, "direct_hash": ai["direct_hash"],
        "tm_create": ai["tm_create"], "tm_update": "2026-01-01T00:00:02Z", "tm_delete": None,
    }
    assert api.get(f"/ais/{ai['id']}").json() == updated


def test_put_validates_like_post_and_keeps_the_object(api: httpx.Client) -> None:
    """§1b: PUT runs the same checks (a bad vendor is 500) and changes nothing when refused."""
    ai = create_ai(api, name="keep")
    response = api.put(f"/ais/{ai['id']}", json={"name": "x", "engine_model": "gpt-4o"})
    assert response.status_code == 500
    assert api.get(f"/ais/{ai['id']}").json() == ai


def test_put_unknown_id_is_404(api: httpx.Client) -> None:
    """§3: unknown id → 404 AI_NOT_FOUND."""
    response = api.put("/ais/6f9619ff-8b86-4011-b42d-00c04fc964ff",
                       json={"engine_model": MODEL})
    assert response.status_code == 404
    assert error_of(response)["reason"] == "AI_NOT_FOUND"


def test_delete_is_soft(emu: Emulator, api: httpx.Client) -> None:
    """§1b, §2: DELETE sets tm_delete and tm_update and answers 200 with the object; the AI
    leaves lists but GET still answers 200 with tm_delete set."""
    ai = create_ai(api)
    emu.clock.advance(3)
    response = api.delete(f"/ais/{ai['id']}")
    assert response.status_code == 200
    deleted = response.json()
    assert deleted["id"] == ai["id"]
    assert deleted["tm_delete"] == "2026-01-01T00:00:03Z"
    assert deleted["tm_update"] == deleted["tm_delete"]
    assert api.get("/ais").json()["result"] == []
    fetched = api.get(f"/ais/{ai['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == deleted


def test_repeated_delete_restamps(emu: Emulator, api: httpx.Client) -> None:
    """Part 2 §D7 (settles §8): a repeated DELETE answers 200 and re-stamps tm_delete."""
    ai = create_ai(api)
    first = api.delete(f"/ais/{ai['id']}").json()
    emu.clock.advance(5)
    again = api.delete(f"/ais/{ai['id']}")
    assert again.status_code == 200
    assert again.json()["tm_delete"] == "2026-01-01T00:00:05Z"
    assert again.json()["tm_delete"] > first["tm_delete"]


def test_put_on_a_deleted_ai_edits_it_and_it_stays_deleted(emu: Emulator,
                                                            api: httpx.Client) -> None:
    """Part 2 §D7: PUT on a soft-deleted AI → 200; the fields change, tm_delete stays."""
    ai = create_ai(api)
    deleted = api.delete(f"/ais/{ai['id']}").json()
    emu.clock.advance(1)
    response = api.put(f"/ais/{ai['id']}", json={"engine_model": MODEL, "name": "ghost"})
    assert response.status_code == 200
    assert response.json()["name"] == "ghost"
    assert response.json()["tm_delete"] == deleted["tm_delete"]
    assert api.get("/ais").json()["result"] == []


def test_unknown_id_is_404_on_get_and_delete(api: httpx.Client) -> None:
    """§3: unknown id → 404 NOT_FOUND / AI_NOT_FOUND."""
    for response in (api.get("/ais/6f9619ff-8b86-4011-b42d-00c04fc964ff"),
                     api.delete("/ais/6f9619ff-8b86-4011-b42d-00c04fc964ff")):
        assert response.status_code == 404
        error = error_of(response)
        assert (error["status"], error["reason"]) == ("NOT_FOUND", "AI_NOT_FOUND")


def test_uuid_forms_go_accepts(api: httpx.Client) -> None:
    """§3: the path id is read like Go's uuid.FromString (upper case, braces, no hyphens)."""
    ai = create_ai(api)
    plain = ai["id"].replace("-", "")
    for form in (ai["id"].upper(), "{" + ai["id"] + "}", plain):
        assert api.get(f"/ais/{form}").json()["id"] == ai["id"]


def test_insight_type_and_google_stt_are_accepted(api: httpx.Client) -> None:
    """§1b: type insight and stt_type google (which the OAS omits) are accepted."""
    ai = create_ai(api, type="insight", stt_type="google", tts_type="nvidia-riva")
    assert (ai["type"], ai["stt_type"], ai["tts_type"]) == ("insight", "google", "nvidia-riva")
    assert ai["is_insight_active"] is False


def test_model_part_is_not_checked(api: httpx.Client) -> None:
    """§1b: only the vendor before the dot is checked; any model after it is accepted."""
    assert create_ai(api, engine_model="anthropic.whatever-9")["engine_model"] == \
        "anthropic.whatever-9"
    assert create_ai(api, engine_model="openai.")["engine_model"] == "openai."


def test_engine_key_can_be_write_only_as_the_docs_say(make_emulator) -> None:
    """§1b (CONFLICT): HEAD code echoes engine_key, docs call it write-only; both modelled."""
    emu = make_emulator(EmulatorConfig(rate_limit=None, auth_rate_limit=None,
                                       echo_engine_key=False))
    api = emu.client()
    made = create_ai(api, engine_key="sk-write-only")
    assert "engine_key" not in made
    assert "engine_key" not in api.get(f"/ais/{made['id']}").json()
    assert all("engine_key" not in ai for ai in list_all(api))
    assert emu.store.get_ai(made["id"]).fields.engine_key == "sk-write-only"  # still stored
