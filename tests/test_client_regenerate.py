"""A refused direct-hash regenerate names the request as sent (`POST`, upper case), in the error
and in the client's request counts."""

from __future__ import annotations

import httpx
import pytest

from voipbin_iac.core.kinds.agent import AGENT_KIND
from voipbin_iac.errors import NotFoundError

from .test_client_safety import AI_ID, REGENERATE, client_for


def test_a_refused_regenerate_names_its_post() -> None:
    client, _ = client_for(httpx.Response(404, json={"message": "not found"}))
    with pytest.raises(NotFoundError) as caught:
        client.regenerate(AGENT_KIND, AI_ID)
    assert str(caught.value).startswith(f"POST {REGENERATE} ")
    assert dict(client.requests) == {"POST /ais/{id}/direct-hash-regenerate": 1}
