"""`/v1.0/aimessages` and the stand-in assistant: asynchronous replies, the send cooldown, the
30-s session, silence, tool calls (fact sheet part 2 §B2, §B3)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from voipbin_iac.emulator import EmulatorConfig
from voipbin_iac.emulator import assistant as stand_in
from voipbin_iac.errors import ConfigError

from .conftest import Emulator, create_ai, error_of
from .test_aicalls import messages, start

UNKNOWN = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
MESSAGE_KEYS = ["id", "customer_id", "aicall_id", "activeflow_id", "active_ai_id", "role",
                "content", "direction", "tm_create"]


def send(api: httpx.Client, aicall_id: str, content: str, **extra: str) -> httpx.Response:
    return api.post("/aimessages", json={"aicall_id": aicall_id, "content": content, **extra})


def ready(emu: Emulator, api: httpx.Client, **fields: object) -> dict:
    """A conversation with a new AI, past the cooldown of its creation."""
    call = start(api, create_ai(api, **fields)["id"])
    emu.clock.advance(3.1)
    return call


def after(api: httpx.Client, call: dict, message_id: str) -> list[dict]:
    """The messages newer than `message_id`, oldest first."""
    newer = []
    for m in messages(api, call["id"]):
        if m["id"] == message_id:
            return newer[::-1]
        newer.append(m)
    raise AssertionError("message not found")


def test_reply_is_never_in_the_post_response_and_appears_later(api: httpx.Client,
                                                               emu: Emulator) -> None:
    """§B2: the POST answers the stored user message (role forced to `user`); the assistant's
    reply is stored asynchronously: not there 1 s later, there at REPLY_DELAY_S."""
    call = ready(emu, api, name="Greeter")
    response = send(api, call["id"], "Hello there", role="assistant")
    assert response.status_code == 200
    mine = response.json()
    assert list(mine) == MESSAGE_KEYS
    assert (mine["role"], mine["direction"], mine["content"]) == ("user", "outgoing",
                                                                  "Hello there")
    emu.clock.advance(1.0)
    assert after(api, call, mine["id"]) == []
    emu.clock.advance(stand_in.REPLY_DELAY_S - 1.0)
    [reply] = after(api, call, mine["id"])
    assert (reply["role"], reply["direction"]) == ("assistant", "incoming")
    assert reply["content"] == stand_in.DEFAULT_REPLY.format(agent="Greeter",
                                                             message="Hello there")


def test_send_cooldown_is_a_plain_500(api: httpx.Client, emu: Emulator) -> None:
    """§B2: a send within 3 s of the aicall's tm_update (creation, the last send, terminate)
    is 500 INTERNAL with no hint and no Retry-After; after 3 s it is accepted."""
    call = start(api, create_ai(api)["id"])
    emu.clock.advance(2.9)
    early = send(api, call["id"], "too soon")
    assert early.status_code == 500 and "Retry-After" not in early.headers
    assert error_of(early)["reason"] == "INTERNAL"
    emu.clock.advance(0.2)
    assert send(api, call["id"], "now").status_code == 200
    emu.clock.advance(2.0)
    assert send(api, call["id"], "again too soon").status_code == 500
    emu.clock.advance(1.1)
    assert send(api, call["id"], "fine").status_code == 200
    emu.clock.advance(3.1)
    api.post(f"/aicalls/{call['id']}/terminate")
    assert send(api, call["id"], "right after terminate").status_code == 500


def test_terminated_and_deleted_conversations_still_accept_messages(api: httpx.Client,
                                                                    emu: Emulator) -> None:
    """§B1, §B2: nothing checks the status, so both accept a send (after the cooldown)."""
    ended, deleted = ready(emu, api), ready(emu, api)
    api.post(f"/aicalls/{ended['id']}/terminate")
    api.delete(f"/aicalls/{deleted['id']}")
    emu.clock.advance(3.1)
    assert send(api, ended["id"], "hi").status_code == 200
    assert send(api, deleted["id"], "hi").status_code == 200


def test_a_new_send_interrupts_the_previous_session(scripted) -> None:
    """§B2: each send interrupts the previous pipecat session: a reply not yet given is lost."""
    emu, api = scripted("agents:\n  Slow:\n    rules:\n"
                        "      - {match: first, reply: late, delay_s: 10}\n")
    call = ready(emu, api, name="Slow")
    send(api, call["id"], "first")
    emu.clock.advance(3.1)
    second = send(api, call["id"], "second").json()
    emu.clock.advance(20)
    contents = [m["content"] for m in after(api, call, second["id"])]
    assert "late" not in contents and len(contents) == 1


def test_the_session_ends_after_30_s(scripted) -> None:
    """§B2: the text session is terminated 30 s after the send: a later reply never comes."""
    emu, api = scripted("agents:\n  Slow:\n    rules:\n"
                        "      - {match: '', reply: never, delay_s: 31}\n")
    call = ready(emu, api, name="Slow")
    mine = send(api, call["id"], "hello").json()
    emu.clock.advance(60)
    assert after(api, call, mine["id"]) == []


@pytest.mark.parametrize("model", ["anthropic.claude-x", "groq.llama", "mistral.large"])
def test_unsupported_vendor_is_silence(api: httpx.Client, emu: Emulator, model: str) -> None:
    """§B3: a vendor the runner does not implement: 200 on the send, then no reply ever."""
    call = ready(emu, api, engine_model=model)
    mine = send(api, call["id"], "hello")
    assert mine.status_code == 200
    emu.clock.advance(60)
    assert after(api, call, mine.json()["id"]) == []


def test_tool_call_and_its_result_message(api: httpx.Client, emu: Emulator) -> None:
    """§B2 tool calls: an assistant message with empty content and `tool_calls`, a `tool`
    message answering it; connect_call fails outside a phone call (`tool.go:161-163`)."""
    call = ready(emu, api, tool_names=["connect_call", "send_email"])
    mine = send(api, call["id"], "Please Connect Call me to a person").json()
    emu.clock.advance(5)
    tool_call, result, text = after(api, call, mine["id"])
    assert (tool_call["role"], tool_call["content"], tool_call["direction"]) == \
        ("assistant", "", "incoming")
    [made] = tool_call["tool_calls"]
    assert made["type"] == "function" and made["function"] == {"name": "connect_call",
                                                               "arguments": "{}"}
    assert (result["role"], result["direction"], result["tool_call_id"]) == \
        ("tool", "outgoing", made["id"])
    content = json.loads(result["content"])
    assert list(content) == ["tool_call_id", "result", "message", "resource_type",
                             "resource_id"]
    assert content["result"] == "failed" and "call reference type" in content["message"]
    assert text["role"] == "assistant" and text["content"]


def test_a_tool_the_agent_lacks_is_never_called(api: httpx.Client, emu: Emulator) -> None:
    """§B2 tool calls, §D1: the LLM is offered only the agent's `tool_names`."""
    call = ready(emu, api, tool_names=["send_email"])
    mine = send(api, call["id"], "connect_call please").json()
    emu.clock.advance(5)
    assert [m.get("tool_calls") for m in after(api, call, mine["id"])] == [None]


@pytest.fixture
def scripted(make_emulator, tmp_path: Path):
    """`scripted(text)`: an emulator whose stand-in assistant follows this script."""

    def make(text: str) -> tuple[Emulator, httpx.Client]:
        path = tmp_path / f"script{len(list(tmp_path.iterdir()))}.yaml"
        path.write_text("version: 1\n" + text)
        emu = make_emulator(EmulatorConfig(rate_limit=None, auth_rate_limit=None,
                                           assistant=stand_in.load(path)))
        return emu, emu.client()

    return make


def test_script_rules_reply_and_call_tools_with_arguments(scripted) -> None:
    """The emulator's own assistant script (not a platform behaviour): the first matching rule
    of the agent (by AI name) decides; `*` covers other agents; `silent` models a wrong
    engine_key (§B3)."""
    emu, api = scripted("""agents:
  Booker:
    rules:
      - match: (?i)table
        reply: Booked a table for {message}
        tool_calls: [{name: set_variables, arguments: {party: 2}}]
  Mute: {silent: true}
  "*":
    rules: [{match: '', reply: Anyone here}]
""")
    booker = ready(emu, api, name="Booker", tool_names=["set_variables"])
    mine = send(api, booker["id"], "A TABLE please").json()
    emu.clock.advance(5)
    tool_call, _, text = after(api, booker, mine["id"])
    assert tool_call["tool_calls"][0]["function"] == {"name": "set_variables",
                                                      "arguments": '{"party":2}'}
    assert text["content"] == "Booked a table for A TABLE please"
    for name, expected in (("Mute", []), ("Other", ["Anyone here"])):
        call = ready(emu, api, name=name)
        mine = send(api, call["id"], "hi").json()
        emu.clock.advance(5)
        assert [m["content"] for m in after(api, call, mine["id"])] == expected


def test_script_problems_are_all_located(tmp_path: Path) -> None:
    """The emulator's own assistant script: every problem at file:line:column."""
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\nagents:\n  A:\n    rules:\n      - match: '('\n"
                    "        tool_calls: [{name: fly}]\n        delay_s: -1\n    colour: red\n")
    with pytest.raises(ConfigError) as caught:
        stand_in.load(path)
    text = "\n".join(caught.value.lines())
    assert re.search(r"bad.yaml:5:\d+: .*match: not a valid regular expression", text)
    assert "'fly' is not a VoIPBin tool" in text and "delay_s" in text and "colour" in text


@pytest.mark.parametrize(("query", "status", "reason"), [
    ("", 400, "MISSING_REQUEST_PARAMETER"),
    ("?aicall_id=", 400, "MISSING_REQUEST_PARAMETER"),
    ("?aicall_id=nope", 400, "INVALID_ID"),
    (f"?aicall_id={UNKNOWN}", 404, "AICALL_NOT_FOUND"),
])
def test_list_errors(api: httpx.Client, query: str, status: int, reason: str) -> None:
    """§B2 list: `aicall_id` required and a UUID; an unknown conversation is 404."""
    call = start(api, create_ai(api)["id"])
    response = api.get("/aimessages" + query.replace("{call}", call["id"]))
    assert response.status_code == status and error_of(response)["reason"] == reason


def test_get_delete_and_scoping(api: httpx.Client, other_api: httpx.Client,
                                emu: Emulator) -> None:
    """§B2: get unknown → MESSAGE_NOT_FOUND; another customer's → 403; DELETE of one's own
    message is always 404 RESOURCE_NOT_FOUND (no such route in ai-manager)."""
    call = ready(emu, api)
    mine = send(api, call["id"], "hi").json()
    assert api.get(f"/aimessages/{mine['id']}").json() == mine
    assert error_of(api.get(f"/aimessages/{UNKNOWN}"))["reason"] == "MESSAGE_NOT_FOUND"
    assert error_of(api.get("/aimessages/nope"))["reason"] == "INVALID_ID"
    assert other_api.get(f"/aimessages/{mine['id']}").status_code == 403
    assert other_api.get("/aimessages", params={"aicall_id": call["id"]}).status_code == 403
    assert other_api.post("/aimessages", json={"aicall_id": call["id"]}).status_code == 403
    deleted = api.delete(f"/aimessages/{mine['id']}")
    assert deleted.status_code == 404 and error_of(deleted)["reason"] == "RESOURCE_NOT_FOUND"
    assert api.get(f"/aimessages/{mine['id']}").status_code == 200
    assert error_of(api.post("/aimessages", json={"aicall_id": "x"}))["reason"] == \
        "INVALID_ARGUMENT"
