"""`/v1.0/aiaudits`: the LLM judge's states, limits and objects (fact sheet part 2 §B4)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from voipbin_iac.emulator import EmulatorConfig, aiaudits, assistant

from .conftest import Emulator, create_ai, error_of, list_all
from .test_aicalls import start

UNKNOWN = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
ORDER = ["id", "customer_id", "aicall_id", "ai_id", "prompt_history_id", "status",
         "overall_score", "evaluation", "language", "tm_create", "tm_update", "tm_delete"]


def ended(api: httpx.Client, **fields: object) -> dict:
    """A terminated conversation with a new AI (with a prompt unless told otherwise)."""
    call = start(api, create_ai(api, **{"init_prompt": "Be kind.", **fields})["id"])
    return api.post(f"/aicalls/{call['id']}/terminate").json()


def audit(api: httpx.Client, aicall_id: str, **extra: str) -> httpx.Response:
    return api.post("/aiaudits", json={"aicall_id": aicall_id, **extra})


def test_audit_is_202_progressing_then_completed_with_a_score(api: httpx.Client,
                                                              emu: Emulator) -> None:
    """§B4: 202 `{"result":[audit]}` (not a list envelope), `progressing` with null score and
    evaluation; after the judge ran: `completed`, an integer 1-5 and the evaluation JSON."""
    call = ended(api, stt_language="de-DE")
    response = audit(api, call["id"])
    assert response.status_code == 202
    assert set(response.json()) == {"result"}
    [started] = response.json()["result"]
    assert list(started) == ORDER
    assert (started["status"], started["overall_score"], started["evaluation"]) == \
        ("progressing", None, None)
    assert started["language"] == "de-DE"  # request, then the aicall's stt_language, then en-US
    emu.clock.advance(aiaudits.AUDIT_DELAY_S)
    done = api.get(f"/aiaudits/{started['id']}").json()
    assert done["status"] == "completed" and done["overall_score"] == 3
    evaluation = done["evaluation"]
    assert evaluation["overall_score"] == 3 and evaluation["dimensions"]["tool_usage"] is None
    assert set(evaluation["dimensions"]) == {"helpfulness", "accuracy", "tone",
                                             "goal_completion", "tool_usage"}
    assert done["message_ids"] and done["tm_update"] is not None


def test_an_ai_without_prompt_fails_later(api: httpx.Client, emu: Emulator) -> None:
    """§B4: accepted with 202, then `failed` with `prompt_snapshot_has_no_history_id`."""
    call = ended(api, init_prompt="")
    [started] = audit(api, call["id"]).json()["result"]
    emu.clock.advance(aiaudits.AUDIT_DELAY_S)
    done = api.get(f"/aiaudits/{started['id']}").json()
    assert (done["status"], done["error"], done["overall_score"]) == \
        ("failed", "prompt_snapshot_has_no_history_id", None)


def test_the_score_comes_from_the_script(make_emulator, tmp_path: Path) -> None:
    """The emulator's judge scores what the assistant script says (default 3)."""
    path = tmp_path / "script.yaml"
    path.write_text("version: 1\nagents:\n  Judge me:\n    audit_score: 5\n")
    emu = make_emulator(EmulatorConfig(rate_limit=None, assistant=assistant.load(path)))
    api = emu.client()
    call = ended(api, name="Judge me")
    [started] = audit(api, call["id"]).json()["result"]
    emu.clock.advance(aiaudits.AUDIT_DELAY_S)
    assert api.get(f"/aiaudits/{started['id']}").json()["overall_score"] == 5


@pytest.mark.parametrize(("body", "status", "reason"), [
    ({"aicall_id": "{call}", "language": "english!"}, 400, "INVALID_ARGUMENT"),
    ({"aicall_id": "nope"}, 400, "INVALID_ARGUMENT"),
    ({"aicall_id": UNKNOWN}, 404, "AICALL_NOT_FOUND"),
    ({"aicall_id": "{live}"}, 400, "INVALID_ARGUMENT"),
])
def test_create_errors(api: httpx.Client, body: dict, status: int, reason: str) -> None:
    """§B4 create errors in check order: language, aicall id, not terminated."""
    call = ended(api)
    live = start(api, create_ai(api)["id"])
    body = {k: v.replace("{call}", call["id"]).replace("{live}", live["id"])
            for k, v in body.items()}
    response = api.post("/aiaudits", json=body)
    assert response.status_code == status and error_of(response)["reason"] == reason


def test_ten_progressing_audits_per_customer_then_429(api: httpx.Client,
                                                      other_api: httpx.Client,
                                                      emu: Emulator) -> None:
    """§B4: ≥ 10 of the customer's audits progressing → 429 RATE_LIMIT_EXCEEDED with no
    Retry-After and no details (§0); other customers are not affected; once they finish,
    audits are accepted again."""
    for _ in range(aiaudits.MAX_PROGRESSING):
        assert audit(api, ended(api)["id"]).status_code == 202
    refused = audit(api, ended(api)["id"])
    assert refused.status_code == 429 and "Retry-After" not in refused.headers
    error = error_of(refused)
    assert (error["status"], error["reason"]) == ("RESOURCE_EXHAUSTED", "RATE_LIMIT_EXCEEDED")
    assert "details" not in error
    assert audit(other_api, ended(other_api)["id"]).status_code == 202
    emu.clock.advance(aiaudits.AUDIT_DELAY_S)
    assert audit(api, ended(api)["id"]).status_code == 202


def test_same_pair_is_409_while_running_and_reset_after(api: httpx.Client,
                                                        emu: Emulator) -> None:
    """§B4: an audit of the same (aicall, AI) already progressing → 409 STATE_INVALID;
    re-auditing a finished pair resets the same row (same id, score cleared)."""
    call = ended(api)
    [first] = audit(api, call["id"]).json()["result"]
    again = audit(api, call["id"])
    assert again.status_code == 409 and error_of(again)["reason"] == "STATE_INVALID"
    emu.clock.advance(aiaudits.AUDIT_DELAY_S)
    [reset] = audit(api, call["id"], language="fr").json()["result"]
    assert reset["id"] == first["id"] and reset["status"] == "progressing"
    assert reset["overall_score"] is None and reset["language"] == "fr"


def test_get_list_delete(api: httpx.Client, other_api: httpx.Client) -> None:
    """§B4: GET of unknown/deleted → 404 RESOURCE_NOT_FOUND; DELETE answers the record as it
    was (tm_delete null); list filters by aicall_id/ai_id (UUID-typed); 403 for another's."""
    one, two = ended(api), ended(api)
    [a] = audit(api, one["id"]).json()["result"]
    [b] = audit(api, two["id"]).json()["result"]
    assert [x["id"] for x in list_all(api, "/aiaudits")] == [b["id"], a["id"]]
    only = api.get("/aiaudits", params={"aicall_id": one["id"]}).json()["result"]
    assert [x["id"] for x in only] == [a["id"]]
    by_ai = api.get("/aiaudits", params={"ai_id": two["assistance_id"]}).json()["result"]
    assert [x["id"] for x in by_ai] == [b["id"]]
    bad = api.get("/aiaudits", params={"aicall_id": "nope"})
    assert error_of(bad)["reason"] == "INVALID_REQUEST_PARAMETER"
    assert other_api.get(f"/aiaudits/{a['id']}").status_code == 403
    assert error_of(api.get(f"/aiaudits/{UNKNOWN}"))["reason"] == "RESOURCE_NOT_FOUND"
    assert error_of(api.get("/aiaudits/nope"))["reason"] == "INVALID_REQUEST_PARAMETER"
    deleted = api.delete(f"/aiaudits/{a['id']}")
    assert deleted.status_code == 200 and deleted.json()["tm_delete"] is None
    assert api.get(f"/aiaudits/{a['id']}").status_code == 404
    assert [x["id"] for x in list_all(api, "/aiaudits")] == [b["id"]]


def test_terminate_queues_the_auto_audit(api: httpx.Client) -> None:
    """§B1: terminate queues an audit when the AI has auto_aicall_audit_enabled."""
    call = ended(api, auto_aicall_audit_enabled=True)
    assert call["metadata"]["auto_audit_enabled"] is True
    [queued] = api.get("/aiaudits", params={"aicall_id": call["id"]}).json()["result"]
    assert queued["status"] == "progressing"
