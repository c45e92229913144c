"""Whether `--prune` deletes a leftover resource or refuses: the live object must still look like
the one the manifest recorded (its SIP URI, and its name or its fields at the last apply), and a
refusal says what differs in words a user can check in the console."""

from __future__ import annotations

from typing import Any

import pytest

from voipbin_iac.core.kinds.agent import AGENT_KIND
from voipbin_iac.core.model import DesiredState, LiveResource, LiveState, Manifest, ManifestEntry
from voipbin_iac.core.plan import PlanOptions, build_plan
from voipbin_iac.errors import PlanError

from .conftest import MODEL

BOT_ID = "11111111-1111-1111-1111-111111111111"


def live_bot(**fields: Any) -> LiveResource:
    return AGENT_KIND.from_api({"id": BOT_ID, "name": "bot", "engine_model": MODEL,
                                "direct_hash": "abc", "tm_create": "2026-01-01T00:00:00Z",
                                **fields})


def recorded(name: str = "bot", direct_hash: str = "abc",
             fingerprint: str | None = None) -> Manifest:
    """The manifest entry of the last apply, whose fields were those of `live_bot()`."""
    fp = AGENT_KIND.content(live_bot().fields) if fingerprint is None else fingerprint
    return Manifest({"agent": {"bot": ManifestEntry(id=BOT_ID, name=name,
                                                    direct_hash=direct_hash, fingerprint=fp)}})


def pruned(live: LiveResource, manifest: Manifest) -> list[tuple[str, str]]:
    plan = build_plan(DesiredState(resources={"agent": {}, "team": {}}),
                      LiveState({"agent": (live,)}), manifest, PlanOptions(prune=True))
    return [(c.action, c.key) for c in plan.changes]


def refusal(live: LiveResource, manifest: Manifest) -> str:
    with pytest.raises(PlanError) as caught:
        pruned(live, manifest)
    return str(caught.value)


def test_a_leftover_as_recorded_is_deleted() -> None:
    assert pruned(live_bot(), recorded()) == [("delete", "bot")]


def test_a_leftover_recorded_under_another_name_is_deleted_when_its_fields_are_as_applied(
) -> None:
    """The name the manifest shows can differ (written as `${env:NAME}` when the variable is
    no longer set); fields exactly as at the last apply still identify the object."""
    assert pruned(live_bot(), recorded(name="${env:BOT_NAME}")) == [("delete", "bot")]


def test_a_renamed_leftover_whose_fields_changed_is_not_deleted() -> None:
    message = refusal(live_bot(name="someone else's bot", detail="theirs"), recorded())
    assert f"refusing to delete bot: its AI {BOT_ID} is named 'someone else's bot', " \
           "not the recorded 'bot', so it may not be the one this manifest created" in message


def test_a_renamed_leftover_is_not_deleted_when_no_fields_were_recorded() -> None:
    message = refusal(live_bot(name="renamed"), recorded(fingerprint=""))
    assert "is named 'renamed', not the recorded 'bot'" in message


def test_a_leftover_with_another_sip_uri_is_not_deleted_and_both_uris_are_shown() -> None:
    message = refusal(live_bot(direct_hash="xyz"), recorded())
    assert (f"its AI {BOT_ID} has the SIP URI sip:xyz@sip.voipbin.net, not the recorded "
            "sip:abc@sip.voipbin.net") in message


def test_a_leftover_without_a_sip_uri_shows_none_for_it() -> None:
    message = refusal(live_bot(direct_hash=""), recorded())
    assert "has the SIP URI (none), not the recorded sip:abc@sip.voipbin.net" in message
