"""Recognising what a create with a lost answer made (`run/recovery`): API timestamps read as
epoch seconds (0 when absent or unreadable), a candidate created before the apply began never
taken, the key compared only where VoIPBin shows it, and the oldest candidate taken first."""

from __future__ import annotations

from typing import Any

from voipbin_iac.core.kinds.agent import AGENT_KIND
from voipbin_iac.core.model import LiveResource
from voipbin_iac.run.recovery import epoch, match_created, pending_for

from .conftest import MODEL

STARTED = "2026-03-01T12:00:00Z"
LATER = "2026-03-01T12:00:05Z"
BODY = {"name": "Bot", "engine_model": MODEL, "engine_key": "sk-sent", "detail": "d"}


def candidate(ident: str, tm_create: str | None = LATER, **fields: Any) -> LiveResource:
    return AGENT_KIND.from_api({**BODY, "id": ident, "tm_create": tm_create, **fields})


def found(*live: LiveResource, since: str = STARTED, taken: set[str] | None = None,
          body: dict[str, Any] | None = None) -> str | None:
    """The id taken for the lost create of `body` (BODY by default), if any."""
    wanted = pending_for(AGENT_KIND, "bot", "Bot", body or BODY, False)
    match = match_created([wanted], live, set() if taken is None else taken, epoch(since))
    return match["bot"].id if "bot" in match else None


def test_an_api_timestamp_is_read_as_epoch_seconds() -> None:
    assert epoch("1970-01-01T00:01:40Z") == 100.0
    assert epoch("2026-03-01T12:00:00+01:00") == epoch("2026-03-01T11:00:00Z")


def test_a_missing_or_unreadable_timestamp_is_epoch_zero() -> None:
    assert epoch(None) == 0.0
    assert epoch("") == 0.0
    assert epoch("yesterday") == 0.0


def test_a_resource_created_as_the_apply_began_is_taken() -> None:
    assert found(candidate("a", tm_create=STARTED)) == "a"


def test_a_matching_resource_created_before_the_apply_began_is_not_taken() -> None:
    assert found(candidate("a", tm_create="2026-03-01T11:59:59Z")) is None


def test_a_matching_resource_already_owned_is_not_taken() -> None:
    assert found(candidate("a"), taken={"a"}) is None


def test_the_oldest_matching_resource_is_taken_first() -> None:
    newer = candidate("0-newer", tm_create="2026-03-01T12:00:09Z")
    older = candidate("9-older", tm_create="2026-03-01T12:00:01Z")
    assert found(newer, older) == "9-older"


def test_a_resource_whose_key_voipbin_hides_matches_by_the_rest_of_its_content() -> None:
    assert found(candidate("a", engine_key=None)) == "a"


def test_a_resource_whose_key_voipbin_hides_does_not_match_other_content() -> None:
    assert found(candidate("a", engine_key=None, detail="other")) is None


def test_a_resource_showing_another_key_is_not_the_one_created() -> None:
    assert found(candidate("a", engine_key="sk-someone-else")) is None
    assert found(candidate("a")) == "a"
