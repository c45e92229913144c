"""The kinds of resource voipbin-iac manages, in dependency order.

`KINDS` is the table the planner, executor, recovery, manifest and renderers iterate: agents
first (created first, deleted last), then teams, which reference agents. A third kind is a new
module with a `Kind` subclass and an entry here.
"""

from __future__ import annotations

from .agent import AGENT_KIND
from .base import Kind, Refs, nested_changes, shown
from .team import TEAM_KIND

KINDS: tuple[Kind, ...] = (AGENT_KIND, TEAM_KIND)
BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}
BY_SECTION: dict[str, Kind] = {k.section: k for k in KINDS}


def kind(name: str) -> Kind:
    """The kind called `name` (`agent`, `team`)."""
    return BY_NAME[name]


__all__ = ["BY_NAME", "BY_SECTION", "KINDS", "Kind", "Refs", "kind", "nested_changes", "shown"]
