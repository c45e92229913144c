"""A change to a value that took text from the environment shows fingerprints, never values:
the live value's fingerprint is that of its JSON text (a live number 7 and the text "7" look
the same), and an empty value shows as empty, not as a fingerprint."""

from __future__ import annotations

from typing import Any

from voipbin_iac.core.kinds.base import Refs
from voipbin_iac.core.kinds.team import TEAM_KIND
from voipbin_iac.core.model import TEAM, DesiredResource, FieldChange
from voipbin_iac.core.secret import fingerprint

TEAM_ID = "7e000000-0000-4000-8000-000000000001"


def parameter_change(live_value: Any, env_value: str) -> FieldChange:
    """The one change of `parameter.x`, written as `${env:X}` and expanded to `env_value`."""
    desired = DesiredResource(
        kind=TEAM, key="desk", templates={"parameter.x": "${env:X}"},
        fields={"name": "", "detail": "", "start": "", "members": {},
                "parameter": {"x": env_value}})
    live = TEAM_KIND.from_api({"id": TEAM_ID, "parameter": {"x": live_value}})
    [change] = [c for c in TEAM_KIND.diff(desired, live, None, Refs())
                if c.field.startswith("parameter")]
    assert change.field == "parameter['x']" and change.sensitive
    return change


def test_a_live_number_shows_the_fingerprint_of_its_text() -> None:
    change = parameter_change(7, "5")
    assert (change.old, change.new) == (fingerprint("7"), fingerprint("5"))
    assert change.template == "${env:X}"


def test_an_empty_live_value_shows_as_empty() -> None:
    change = parameter_change("", "hello")
    assert (change.old, change.new) == ("", fingerprint("hello"))
