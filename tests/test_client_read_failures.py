"""A read that fails for a reason other than the network (an answer httpx cannot decode) is a
plain transport error pointing at the network settings, never an "unknown outcome" of a write:
a GET changes nothing."""

from __future__ import annotations

import httpx
import pytest

from voipbin_iac.core.kinds.agent import AGENT_KIND
from voipbin_iac.errors import OutcomeUnknownError, TransportError

from .test_client import AI, scripted


def test_an_undecodable_answer_to_a_get_is_not_an_unknown_outcome() -> None:
    client, seen, _ = scripted([httpx.DecodingError("bad gzip stream")])
    with pytest.raises(TransportError) as caught:
        client.get(AGENT_KIND, AI["id"])
    assert not isinstance(caught.value, OutcomeUnknownError)
    assert "check the network" in (caught.value.hint or "")
    assert len(seen) == 1  # no retry mends an answer that cannot be decoded
