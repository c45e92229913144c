"""The `teams:` section: AI teams in the desired files, checked as VoIPBin would check them.

VoIPBin answers every structural mistake in a team with a bare 500 and accepts some wrong ones
silently (part 2 §A4), so the checks here catch them first, each at its `file:line:column`:
members non-empty, `start` a member, transition names non-empty, LLM-function shaped, unique
per member and not one of the 15 normal tool names, transition targets members; a member agent
must be an agent of the files, and not an `insight` one (VoIPBin refuses those).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..core.catalog import NORMAL_TOOL_NAMES
from ..core.model import TEAM, DesiredResource
from ..core.normal import normal
from ..errors import Location, Problem

Locator = Callable[[tuple[str | int, ...]], Location]  # a path in the file -> its place
Sourced = tuple[Any, Location, Locator]  # a value, where it was written, its file's locator


def build_team(key: str, spec: Mapping[str, Sourced], here: Location,
               agents: Mapping[str, DesiredResource], problems: list[Problem],
               templates: Mapping[str, str] | None = None) -> DesiredResource:
    """One team from its merged fields (schema-checked already)."""
    none: Locator = lambda path: here  # noqa: E731
    members_value, members_at, locate = spec.get("members", ({}, here, none))
    start, start_at, _ = spec.get("start", ("", here, none))
    members: dict[str, Any] = {}
    for member_key, member in (members_value or {}).items():
        transitions: dict[str, Any] = {}
        for name, target in (member.get("transitions") or {}).items():
            transitions[name] = {"to": target["to"], "description": target.get("description",
                                                                                "")}
        members[member_key] = {"agent": member["agent"], "transitions": transitions}
    _check(key, members, start, start_at, members_at, agents, problems,
           lambda *part: locate(("teams", key, "members", *part)))
    name, _, _ = spec.get("name", (key, here, none))
    detail, _, _ = spec.get("detail", ("", here, none))
    parameter, parameter_at, _ = spec.get("parameter", ({}, here, none))
    try:
        parameter = normal(parameter)
    except ValueError as exc:
        problems.append(Problem(parameter_at, f"teams.{key}.parameter: {exc}"))
    ignore, _, _ = spec.get("ignore_changes", ([], here, none))
    protect, _, _ = spec.get("protect", (False, here, none))
    return DesiredResource(
        kind=TEAM, key=key,
        fields={"name": name or key, "detail": detail, "start": start, "members": members,
                "parameter": parameter},
        protect=bool(protect), ignore_changes=frozenset(ignore), location=here,
        field_locations={f: at for f, (_, at, _) in spec.items()},
        templates=dict(templates or {}))


def _check(key: str, members: Mapping[str, Any], start: str, start_at: Location,
           members_at: Location, agents: Mapping[str, DesiredResource],
           problems: list[Problem], at: Callable[..., Location]) -> None:
    where = f"teams.{key}"
    names = ", ".join(sorted(members))
    if not members:
        problems.append(Problem(members_at, f"{where}.members: a team needs at least one "
                                            "member (VoIPBin refuses an empty team with a 500)"))
    elif start not in members:
        problems.append(Problem(start_at, f"{where}.start: '{start}' is not a member of the "
                                          f"team (members: {names})"))
    for member_key, member in sorted(members.items()):
        here = f"{where}.members.{member_key}"
        agent = agents.get(member["agent"])
        if agent is None:
            problems.append(Problem(at(member_key, "agent"), f"{here}.agent: '{member['agent']}' "
                                    "is not an agent key of the desired files"))
        elif agent.fields.get("type") == "insight":
            problems.append(Problem(at(member_key, "agent"), f"{here}.agent: '{agent.key}' is an "
                                    "insight agent; VoIPBin refuses insight AIs as team members "
                                    "(a 500)"))
        for name, target in sorted(member["transitions"].items()):
            if name in NORMAL_TOOL_NAMES:
                problems.append(Problem(at(member_key, "transitions", name),
                                        f"{here}.transitions.{name}: a transition cannot be "
                                        "named like a normal tool (VoIPBin refuses it with a "
                                        "500); rename it"))
            if target["to"] not in members:
                problems.append(Problem(at(member_key, "transitions", name, "to"),
                                        f"{here}.transitions.{name}.to: '{target['to']}' is not "
                                        f"a member of the team (members: {names})"))
