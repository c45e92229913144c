"""The client's list walk and resource URLs: `list_all` sends the caller's filter on every page
and returns the objects of every page in order; an id that is not a bare UUID never becomes a
URL, and the refusal says where such an id comes from."""

from __future__ import annotations

import httpx
import pytest

from voipbin_iac.core.kinds.agent import AGENT_KIND
from voipbin_iac.core.kinds.team import TEAM_KIND
from voipbin_iac.errors import UsageError

from .test_client_safety import client_for


def test_list_all_follows_the_cursor_with_the_filter_on_every_page() -> None:
    client, seen = client_for(
        httpx.Response(200, json={"result": [{"id": "a1"}, {"id": "a2"}],
                                  "next_page_token": "t1"}),
        httpx.Response(200, json={"result": [{"id": "a3"}], "next_page_token": "t2"}),
        httpx.Response(200, json={"result": [], "next_page_token": ""}))
    objects = client.list_all("/aiaudits", {"aicall_id": "call-1"})
    assert objects == [{"id": "a1"}, {"id": "a2"}, {"id": "a3"}]
    assert [r.url.path for r in seen] == ["/v1.0/aiaudits"] * 3
    assert [dict(r.url.params) for r in seen] == [
        {"aicall_id": "call-1", "page_size": "100"},
        {"aicall_id": "call-1", "page_size": "100", "page_token": "t1"},
        {"aicall_id": "call-1", "page_size": "100", "page_token": "t2"}]


def test_list_all_without_a_filter_sends_only_the_page_size() -> None:
    client, seen = client_for(httpx.Response(200, json={"result": []}))
    assert client.list_all("/tags") == []
    assert [(r.url.path, dict(r.url.params)) for r in seen] == [
        ("/v1.0/tags", {"page_size": "100"})]


@pytest.mark.parametrize("bad", ["../../v1.0/agents/11111111-1111-1111-1111-111111111111",
                                 "not-a-uuid", ""])
def test_an_id_that_is_not_a_uuid_is_refused_before_any_request(bad: str) -> None:
    client, seen = client_for()
    with pytest.raises(UsageError) as caught:
        client.get(AGENT_KIND, bad)
    assert str(caught.value) == f"{bad!r} is not an AI id (a UUID)"
    assert caught.value.hint == "check the manifest: ids are written by `voipbin-iac apply`"
    assert seen == []


def test_a_team_id_that_is_not_a_uuid_is_named_as_a_team_id() -> None:
    client, _ = client_for()
    with pytest.raises(UsageError, match=r"^'x' is not a team id \(a UUID\)$"):
        client.delete(TEAM_KIND, "x")
