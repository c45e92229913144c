"""What a write sends, and how to recognise what a write whose answer was lost created.

`request_fields` builds the full-replace body of a POST or PUT: the desired values, with the
live ones kept for `ignore_changes` fields (VoIPBin's PUT blanks whatever it is not sent).
`match_created` is the one rule, shared by the executor and the recovery after a killed apply,
that finds the AI a create made when its answer never came back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import PlanError
from .fields import content_fingerprint, epoch
from .model import DesiredAgent, LiveAgent

CLOCK_SKEW = 300.0  # seconds tolerated between our clock and VoIPBin's tm_create


def request_fields(agent: DesiredAgent, live: LiveAgent | None) -> dict[str, Any]:
    """Canonical fields for a full-replace write: desired values, live ones where ignored."""
    fields = dict(agent.fields)
    if live is not None:
        for name in agent.ignore_changes:
            value = live.fields[name]
            if name == "engine_key" and value is None:
                raise PlanError(
                    f"{agent.key}: engine_key is in ignore_changes, but VoIPBin does not show "
                    "the live key, and a PUT replaces every field: it cannot be kept",
                    hint="remove engine_key from ignore_changes and set it in the file")
            fields[name] = value
    return fields



def match_created(agents: Sequence[DesiredAgent], live: Sequence[LiveAgent], taken: set[str],
                  since: float) -> dict[str, LiveAgent]:
    """The AIs that creates of unknown outcome made, by key.

    A candidate has the agent's name and content (engine_key left out where VoIPBin does not
    show it), was created at or after `since` and is owned by nobody (`taken` ids are skipped).
    Each AI goes to one agent, oldest first; agents with identical content are interchangeable,
    so which of them gets which AI does not matter.
    """
    found: dict[str, LiveAgent] = {}
    free = sorted((a for a in live if a.id not in taken and epoch(a.tm_create) >= since),
                  key=lambda a: (a.tm_create or "", a.id))
    for agent in agents:
        want = request_fields(agent, None)
        for cand in free:
            ignore = frozenset({"engine_key"}) if cand.fields.get("engine_key") is None \
                else frozenset()
            if cand.id not in taken and cand.name == agent.name and \
                    content_fingerprint(cand.fields, ignore) == content_fingerprint(want, ignore):
                found[agent.key] = cand
                taken.add(cand.id)
                break
    return found
