"""An update of an agent that keeps its engine_key out of the plan (`ignore_changes`) is only
safe when VoIPBin shows the live key: a PUT replaces every field, so a key it does not show
would be blanked. The refusal says why and what to change."""

from __future__ import annotations

from typing import Any

from voipbin_iac.core.kinds.agent import AGENT_KIND
from voipbin_iac.core.model import DesiredResource, LiveResource
from voipbin_iac.core.secret import Secret

from .conftest import MODEL


def desired(*ignored: str) -> DesiredResource:
    return DesiredResource("agent", "support", {"name": "Support", "engine_model": MODEL,
                                                "engine_key": Secret("sk-new")},
                           ignore_changes=frozenset(ignored))


def live(**fields: Any) -> LiveResource:
    return AGENT_KIND.from_api({"id": "11111111-1111-1111-1111-111111111111", "name": "Support",
                                "engine_model": MODEL, **fields})


def test_an_ignored_engine_key_that_voipbin_does_not_show_refuses_the_update() -> None:
    assert AGENT_KIND.update_problem(desired("engine_key"), live()) == (
        "support: engine_key is in ignore_changes, but VoIPBin does not show the live key and a "
        "PUT replaces every field, so an update would blank it; remove engine_key from "
        "ignore_changes and set it in the file")


def test_an_ignored_engine_key_that_voipbin_shows_is_kept_by_the_update() -> None:
    assert AGENT_KIND.update_problem(desired("engine_key"), live(engine_key="sk-live")) == ""


def test_an_engine_key_set_in_the_file_is_sent_whether_or_not_voipbin_shows_it() -> None:
    assert AGENT_KIND.update_problem(desired("detail"), live()) == ""
