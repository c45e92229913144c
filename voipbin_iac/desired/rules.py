"""The platform's rules that the JSON Schema cannot say: checks on agents with defaults merged.

- `engine_model` is required; a vendor VoIPBin accepts but does not run (anything but openai,
  grok and gemini: part 2 §B3, §D9) is a warning, since such an AI is created and never replies;
  a model outside the documented list is a warning.
- `tool_names` must fit the agent's type (part 2 §D1): normal AIs the 15 normal tools, insight
  AIs the 4 insight tools, both `all`. Anything else is VoIPBin's 400 INVALID_TOOL_NAMES.
- A literal `engine_key` is a warning. Shared names, keys that become the same variable in
  `manifest --format env`, and invisible characters in names and keys are warnings.

Every message shows user text through `visible` and never quotes a value from the environment.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..core import normal
from ..core.catalog import (
    ENGINE_MODELS,
    ENGINE_VENDORS,
    INSIGHT_TOOL_NAMES,
    NORMAL_TOOL_NAMES,
    RUNNABLE_VENDORS,
    TOOL_ALL,
    TOOLS_BY_TYPE,
    env_name,
)
from ..core.model import DesiredResource
from ..core.visible import hidden_characters, visible
from ..errors import Location, Problem
from .envsubst import has_reference
from .yamlsrc import Document, Path_, dotted

_TOOLS_OF = {"normal": NORMAL_TOOL_NAMES, "insight": INSIGHT_TOOL_NAMES}
_KNOWN = TOOLS_BY_TYPE["normal"] | TOOLS_BY_TYPE["insight"]


@dataclass(frozen=True)
class Given:
    """One merged field as the checks see it: value, place, and whether it is known."""

    value: Any
    location: Location
    doc: Document | None = None
    path: Path_ = ()
    literal: Any = None  # before ${env:...} expansion
    unresolved: bool = False  # a ${env:...} in it could not be expanded (reported already)
    from_env: bool = False  # it took text from the environment: never quote it

    def item(self, index: int) -> Location:
        """Where item `index` of a list value is (the value's place if unknown)."""
        return self.doc.where((*self.path, index)) if self.doc is not None else self.location


def check_model(key: str, model: str, given: Given | None, here: Location) -> list[Problem]:
    """`engine_model`: required, vendor runnable, model documented."""
    if given is not None and given.unresolved:
        return []
    if not model:
        return [Problem(here, f"agents.{visible(key)}: engine_model is required (set it in the "
                              "agent or in defaults)")]
    if given is None:
        return []
    shown = "the value from ${env:...}" if given.from_env else f"'{visible(model)}'"
    where = dotted(given.path) if given.path else "engine_model"
    vendor = model.partition(".")[0]
    if vendor in ENGINE_VENDORS and vendor not in RUNNABLE_VENDORS:
        runnable = ", ".join(sorted(RUNNABLE_VENDORS))
        named = "its vendor" if given.from_env else f"the vendor {vendor}"
        return [Problem(given.location, (
            f"{where}: {shown}: VoIPBin accepts {named}, but its runner implements "
            f"only {runnable}: such an AI is created and never replies (silently, no error "
            "anywhere); use a model of one of those vendors"), "warning")]
    if model not in ENGINE_MODELS:
        return [Problem(given.location, (
            f"{where}: {shown} is not in VoIPBin's documented model list; VoIPBin checks only the "
            "vendor, so check the model name with your provider"), "warning")]
    return []


def check_numbers(given: Given | None) -> list[Problem]:
    """Warnings for numbers in `parameter` that VoIPBin cannot keep: it stores JSON numbers as
    float64, so `2**53 + 1` comes back as `2**53` (the plan compares what it stores)."""
    if given is None or given.unresolved or not isinstance(given.value, dict):
        return []
    problems: list[Problem] = []
    todo: list[tuple[Any, Path_]] = [(given.value, given.path)]
    while todo:
        value, path = todo.pop()
        if isinstance(value, dict):
            todo.extend((v, (*path, k)) for k, v in value.items())
        elif isinstance(value, list):
            todo.extend((v, (*path, i)) for i, v in enumerate(value))
        elif not normal.survives(value):
            where = given.doc.where(path) if given.doc is not None else given.location
            problems.append(Problem(where, (
                f"{dotted(path)}: {value} cannot be stored exactly (VoIPBin keeps numbers as "
                f"64-bit floats: it becomes {normal.normal(value)}); write it as text if every "
                "digit matters"), "warning"))
    return problems


def check_literal_key(given: Given | None) -> list[Problem]:
    """A warning for an `engine_key` written into the file."""
    if given is None or not isinstance(given.literal, str) or not given.literal or \
            has_reference(given.literal):
        return []
    return [Problem(given.location, "engine_key is a literal secret in the file: write it as "
                                    "${env:NAME} and keep the value out of git", "warning")]


@dataclass(frozen=True)
class ToolUse:
    """One agent's tools and type, for `check_tools`."""

    key: str
    ai_type: str
    tools: Given | None
    ai_type_known: bool = True


def check_tools(uses: Sequence[ToolUse]) -> list[Problem]:
    """Tool names that the agent's type does not allow: one error per tool in the file, naming
    the agents (of one type) that get it there."""
    found: dict[tuple[Location, str, str, str], list[str]] = {}
    for use in uses:
        if use.tools is None or use.tools.unresolved or not use.ai_type_known:
            continue
        allowed = TOOLS_BY_TYPE.get(use.ai_type)
        if allowed is None or not isinstance(use.tools.value, list | tuple):
            continue
        for index, tool in enumerate(use.tools.value):
            if isinstance(tool, str) and tool not in allowed and tool in _KNOWN:
                place = (use.tools.item(index), dotted((*use.tools.path, index)))
                found.setdefault((*place, tool, use.ai_type), []).append(use.key)
    problems = []
    for (location, where, tool, ai_type), keys in sorted(found.items()):
        other = "insight" if tool in INSIGHT_TOOL_NAMES else "normal"
        who = "this agent is" if where.startswith("agents.") else \
            f"{_some(keys)} {'is' if len(keys) == 1 else 'are'}"
        allowed_list = ", ".join((TOOL_ALL, *_TOOLS_OF[ai_type]))
        problems.append(Problem(location, (
            f"{where}: '{tool}' is a tool of {other} AIs, and {who} type {ai_type} (VoIPBin "
            f"answers 400 INVALID_TOOL_NAMES); a {ai_type} AI may use only: {allowed_list}")))
    return problems


def _some(keys: Sequence[str]) -> str:
    shown = ", ".join(f"agents.{visible(k)}" for k in keys[:3])
    return shown + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


def check_names(agents: Mapping[str, DesiredResource], from_env: frozenset[str],
                section: str = "agents") -> list[Problem]:
    """Warnings: names shared by several agents (or teams), and invisible characters in
    names."""
    problems: list[Problem] = []
    by_name: dict[str, list[str]] = {}
    for key, agent in agents.items():
        by_name.setdefault(agent.name, []).append(key)
    for name, keys in sorted(by_name.items()):
        if len(keys) > 1:
            shown = "the name from ${env:...}" if name in from_env else f"name '{visible(name)}'"
            for key in keys[1:]:
                problems.append(Problem(
                    agents[key].field_locations.get("name", agents[key].location),
                    f"{section}.{visible(key)}: {shown} is also used by "
                    f"{section}.{visible(keys[0])}; VoIPBin allows it, but such {section} can "
                    "only be matched through the manifest, never adopted by name",
                    "warning",
                ))
    return problems


def check_env_names(agents: Mapping[str, DesiredResource]) -> list[Problem]:
    """Warnings: keys that become the same variable in `manifest --format env`."""
    by_var: dict[str, list[str]] = {}
    for key in sorted(agents, key=lambda k: (agents[k].location, k)):  # in file order
        by_var.setdefault(env_name(key), []).append(key)
    problems = []
    for var, keys in sorted(by_var.items()):
        for key in keys[1:]:
            problems.append(Problem(agents[key].location, (
                f"{_section(agents[key])}.{visible(key)}: becomes {var} in `manifest --format "
                f"env`, like {_section(agents[keys[0]])}.{visible(keys[0])}; that format will "
                "refuse both: rename one (`moved:` keeps its AI)"), "warning"))
    return problems


def hidden_text(doc: Document, data: Any, from_env: frozenset[str]) -> list[Problem]:
    """Warnings: invisible characters in agent names and in the keys of `parameter`, in the
    defaults and every agent of one document."""
    problems: list[Problem] = []
    sections: list[tuple[Path_, Any]] = []
    if isinstance(data, dict) and isinstance(data.get("defaults"), dict):
        sections.append((("defaults",), data["defaults"]))
    if isinstance(data, dict) and isinstance(data.get("agents"), dict):
        sections += [(("agents", k), v) for k, v in data["agents"].items() if isinstance(v, dict)]
    for path, spec in sections:
        name = spec.get("name")
        if isinstance(name, str) and hidden_characters(name):
            shown = "the value from ${env:...}" if name in from_env else f"'{visible(name)}'"
            problems.append(_hidden_warning(doc.where((*path, "name")), dotted((*path, "name")),
                                            f"{shown} holds", hidden_characters(name)))
        problems.extend(_hidden_keys(doc, spec.get("parameter"), (*path, "parameter"), set()))
    return problems


def _hidden_keys(doc: Document, value: Any, path: Path_, seen: set[int]) -> Iterator[Problem]:
    if isinstance(value, dict | list):
        if id(value) in seen:  # shared through an alias: checked where it first appears
            return
        seen.add(id(value))
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and hidden_characters(key):
                yield _hidden_warning(doc.where((*path, key)), dotted((*path, key)),
                                      "the key holds", hidden_characters(key))
            yield from _hidden_keys(doc, item, (*path, key), seen)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _hidden_keys(doc, item, (*path, index), seen)


def _hidden_warning(location: Location, where: str, what: str, chars: list[str]) -> Problem:
    return Problem(location, (
        f"{where}: {what} invisible or control characters ({', '.join(chars[:5])}): a reviewer "
        "sees something other than what VoIPBin stores; remove them"), "warning")


def _section(res: DesiredResource) -> str:
    return "teams" if res.kind == "team" else "agents"
