"""The desired-state file(s): YAML with locations, env expansion, schema, offline checks.

`load([paths], env)` reads one or more files (later ones override earlier ones field by field,
so `base.yaml` + `prod.yaml` serve one environment), checks everything that can be checked
without the network, and returns a `DesiredState`, or raises one `ConfigError` listing every
problem at its `file:line:column`. Warnings (a literal engine_key, an unknown model, a shared
name) ride along in `DesiredState.warnings`.

Everything is reported in one run: each file's own problems (YAML, schema, `${env:...}`, prompt
files and sizes) are all found even when another file has some; the checks that need the agents
merged (`rules`) run when every file could be merged. A missing variable or an unreadable
prompt file does not stop the merge: its value is unknown, and checks that need it skip it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.catalog import WRITE_FIELDS
from ..core.kinds.agent import AGENT_KIND, canonical
from ..core.model import AGENT, TEAM, DesiredResource, DesiredState, Safety
from ..core.secret import Secret
from ..core.visible import visible
from ..errors import ConfigError, Location, Problem
from . import envsubst, prompts, rules, schemacheck, teams, yamlsrc
from .rules import Given
from .yamlsrc import Document, Path_, dotted

_TOP_MAPPINGS = ("defaults", "agents", "teams", "moved", "safety", "tests")  # tests: desired.tests
_PROMPTS = frozenset({"init_prompt", "init_prompt_file"})  # one field, two spellings


@dataclass
class _Source:
    """One field value, where it came from, and what the file-level checks found."""

    given: Given
    base: Path  # the directory of the file that holds it (for init_prompt_file)
    templates: dict[str, str] = field(default_factory=dict)  # path in the field -> as written
    prompt: str = ""  # for init_prompt_file: the text read ("" when it could not be read)

    @property
    def value(self) -> Any:
        return self.given.value


@dataclass
class _Merged:
    """The files merged: per-agent and default fields with their sources."""

    defaults: dict[str, _Source] = field(default_factory=dict)
    agents: dict[str, dict[str, _Source]] = field(default_factory=dict)
    agent_locations: dict[str, Location] = field(default_factory=dict)
    teams: dict[str, dict[str, teams.Sourced]] = field(default_factory=dict)
    team_locations: dict[str, Location] = field(default_factory=dict)
    moved: dict[str, _Source] = field(default_factory=dict)
    safety: dict[str, Any] = field(default_factory=dict)
    from_env: frozenset[str] = frozenset()  # strings that took text from the environment
    env_values: frozenset[str] = frozenset()  # the values taken from the environment
    env_used: dict[str, str] = field(default_factory=dict)  # variable -> value taken
    broken: bool = False  # a file could not be merged: skip the checks of merged agents
    tests_only: list[str] = field(default_factory=list)  # files with nothing but `tests:`


def load(paths: Sequence[str | Path], env: Mapping[str, str], *,
         missing_env_ok: bool = False) -> DesiredState:
    """Read, merge and check desired-state files; raise `ConfigError` with every problem.

    With `missing_env_ok` an unset `${env:...}` variable is a warning and reads as "" (for
    offline checks where the secrets are not at hand).
    """
    if not paths:
        raise ConfigError([Problem(Location("<command line>"), "no desired-state file given")])
    problems: list[Problem] = []
    merged = _Merged()
    reader = prompts.PromptReader()
    for path in paths:
        problems.extend(_read_into(Path(path), env, merged, missing_env_ok, reader))
    if merged.broken:
        raise ConfigError(sorted({p for p in problems if p.severity == "error"}))
    agents = {key: _agent(key, merged) for key in sorted(merged.agents)}
    problems.extend(_check_agents(agents, merged))
    team_list = {key: teams.build_team(key, merged.teams[key], merged.team_locations[key],
                                       agents, problems) for key in sorted(merged.teams)}
    for key in sorted(team_list.keys() & agents.keys()):
        problems.append(Problem(merged.team_locations[key], f"teams.{visible(key)}: "
                                f"'{visible(key)}' is also an agent key; keys are unique "
                                "across agents and teams"))
    moved = _moved(merged, {**agents, **team_list}, problems)
    problems.extend(rules.check_names(agents, merged.from_env))
    problems.extend(rules.check_names(team_list, merged.from_env, section="teams"))
    problems.extend(rules.check_env_names({**agents, **team_list}))
    unique = set(problems)  # a default's problem, once
    errors = [p for p in unique if p.severity == "error"]
    if errors:
        raise ConfigError(errors)
    safety = Safety(
        max_change_percent=float(merged.safety.get("max_change_percent", 30.0)),
        min_owned=int(merged.safety.get("min_owned", 10)),
        adopt=str(merged.safety.get("adopt", "unique-name")),
    )
    return DesiredState(
        resources={AGENT: agents, TEAM: team_list},
        moved=moved,
        safety=safety,
        files=tuple(str(p) for p in paths),
        warnings=tuple(str(p) for p in sorted(unique)),
        env_used=dict(sorted(merged.env_used.items())),
        tests_only=tuple(merged.tests_only),
    )


def _read_into(path: Path, env: Mapping[str, str], merged: _Merged, missing_env_ok: bool,
               reader: prompts.PromptReader) -> list[Problem]:
    """Parse, expand and check one file, then merge it into `merged` if its shape allows."""
    try:
        doc = yamlsrc.load_file(path, str(path))
    except ConfigError as exc:
        merged.broken = True
        return list(exc.problems)
    if not isinstance(doc.data, dict):
        merged.broken = True
        return [Problem(doc.where(()), "the top level must be a mapping with `version: 1` "
                                       f"and `agents:`, not {schemacheck.kind_of(doc.data)}")]
    raw = dict(doc.data)
    if "tests" in raw and set(raw) <= {"version", "tests"}:
        merged.tests_only.append(str(path))
    for name in _TOP_MAPPINGS:
        if name in raw and raw[name] is None:
            raw[name] = {}
    for section in ("agents", "teams"):
        if isinstance(raw.get(section), dict):
            raw[section] = {k: ({} if v is None else v) for k, v in raw[section].items()}
    tests = raw.pop("tests", None)  # checked against the schema only: `test` reads them
    doc = Document(doc.file, raw, doc.locations)
    expanded = envsubst.expand(doc, env, missing_ok=missing_env_ok)
    merged.from_env |= expanded.from_env
    merged.env_values |= expanded.env_values
    merged.env_used.update(expanded.env_used)
    data = expanded.data
    problems = list(expanded.problems)
    whole = data if tests is None else {**data, "tests": tests}
    schema = schemacheck.check("agents", doc, whole, expanded.from_env, expanded.unresolved)
    problems.extend(schema)
    problems.extend(rules.hidden_text(doc, data, expanded.from_env))
    sections = _sections(doc, data, expanded, path.parent, reader, problems)
    if schema:
        merged.broken = True
        return problems
    if any(p in _PROMPTS for p in sections.get(("defaults",), {})):
        merged.defaults.pop("init_prompt", None)
        merged.defaults.pop("init_prompt_file", None)
    merged.defaults.update(sections.get(("defaults",), {}))
    for agent_key in data.get("agents", {}):
        own = sections[("agents", agent_key)]
        target = merged.agents.setdefault(agent_key, {})
        merged.agent_locations.setdefault(agent_key, doc.where(("agents", agent_key)))
        if own.keys() & _PROMPTS:
            target.pop("init_prompt", None)
            target.pop("init_prompt_file", None)
        target.update(own)
    for team_key, spec in data.get("teams", {}).items():
        target_team = merged.teams.setdefault(team_key, {})
        merged.team_locations.setdefault(team_key, doc.where(("teams", team_key)))
        for name, value in spec.items():
            target_team[name] = (value, doc.where(("teams", team_key, name)), doc.where)
    for old, new in data.get("moved", {}).items():
        merged.moved[old] = _Source(Given(new, doc.where(("moved", old))), path.parent)
    merged.safety.update(data.get("safety", {}))
    return problems


def _sections(doc: Document, data: dict[str, Any], expanded: envsubst.Expanded, base: Path,
              reader: prompts.PromptReader,
              problems: list[Problem]) -> dict[Path_, dict[str, _Source]]:
    """The fields of `defaults` and of each agent as sources, after the checks of single
    values: prompt files read (once each), prompt sizes, `init_prompt` with `init_prompt_file`.
    Values of the wrong type (reported by the schema) are skipped."""
    levels: list[tuple[Path_, Any]] = [(("defaults",), data.get("defaults", {}))]
    agents = data.get("agents", {})
    if isinstance(agents, dict):
        levels += [(("agents", key), spec) for key, spec in agents.items()]
    sections: dict[Path_, dict[str, _Source]] = {}
    for level, spec in levels:
        if not isinstance(spec, dict):
            continue
        raw = _at(doc.data, level)
        sources: dict[str, _Source] = {}
        for name, value in spec.items():
            path = (*level, name)
            given = Given(value, doc.where(path), doc, path, raw.get(name),
                          path in expanded.unresolved,
                          isinstance(value, str) and value in expanded.from_env)
            sources[name] = _Source(given, base, _templates(given.literal, path,
                                                            expanded.took_env))
        if spec.keys() >= _PROMPTS:
            problems.append(Problem(sources["init_prompt_file"].given.location,
                                    "init_prompt and init_prompt_file are mutually exclusive"))
        inline = sources.get("init_prompt")
        if inline is not None and isinstance(inline.value, str) and not inline.given.unresolved:
            problem = prompts.check_inline(inline.value, dotted(inline.given.path),
                                           inline.given.location, inline.given.from_env)
            if problem is not None:
                problems.append(problem)
        named = sources.get("init_prompt_file")
        if named is not None and isinstance(named.value, str) and named.value and \
                not named.given.unresolved:
            written = named.given.literal if named.given.from_env else None
            named.prompt, problem = reader.read(named.value, base, named.given.location,
                                                written=written)
            if problem is not None:
                problems.append(problem)
        sections[level] = sources
    return sections


def _at(data: Any, path: Path_) -> dict[str, Any]:
    for part in path:
        data = data.get(part) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else {}


def _templates(literal: Any, path: Path_, took_env: envsubst.PathSet) -> dict[str, str]:
    """Paths in the field at `path` (as `parameter.items[0]`) whose string took text from the
    environment, each with the string as written."""
    found: dict[str, str] = {}
    todo: list[tuple[Any, Path_]] = [(literal, path)]
    while todo:
        value, here = todo.pop()
        if isinstance(value, str):
            if "${env:" in value and here in took_env:
                found[dotted(here[len(path) - 1:])] = value
        elif isinstance(value, dict):
            todo.extend((v, (*here, k)) for k, v in value.items())
        elif isinstance(value, list):
            todo.extend((v, (*here, i)) for i, v in enumerate(value))
    return found


def _agent(key: str, merged: _Merged) -> DesiredResource:
    """Merge defaults under one agent, take its prompt file's text, canonicalise its fields."""
    own = merged.agents[key]
    here = merged.agent_locations[key]
    sources: dict[str, _Source] = {}
    for name, source in merged.defaults.items():
        if name in _PROMPTS and own.keys() & _PROMPTS:
            continue
        sources[name] = source
    sources.update(own)
    if "init_prompt_file" in sources:
        src = sources.pop("init_prompt_file")
        sources["init_prompt"] = _Source(Given(src.prompt, src.given.location), src.base)
    ignore = set(merged.defaults["ignore_changes"].value if "ignore_changes" in merged.defaults
                 else [])
    ignore.update(own["ignore_changes"].value if "ignore_changes" in own else [])
    fields: dict[str, Any] = {}
    locations: dict[str, Location] = {}
    templates: dict[str, str] = {}
    for name in WRITE_FIELDS:
        src = sources.get(name)
        if src is None:
            fields[name] = canonical(name, key) if name == "name" else AGENT_KIND.blank(name)
            continue
        locations[name] = src.given.location
        templates.update(src.templates)
        value = Secret(src.value) if name == "engine_key" else src.value
        fields[name] = canonical(name, value)
    protect = sources.get("protect")
    return DesiredResource(
        kind=AGENT,
        key=key,
        fields=fields,
        protect=bool(protect.value) if protect else False,
        ignore_changes=frozenset(ignore),
        location=here,
        field_locations=locations,
        templates=templates,
    )


def _check_agents(agents: Mapping[str, DesiredResource], merged: _Merged) -> list[Problem]:
    """The platform's rules on each merged agent (see `rules`)."""
    problems: list[Problem] = []
    uses: list[rules.ToolUse] = []
    for key, agent in agents.items():
        own = merged.agents[key]

        def given(name: str, own: dict[str, _Source] = own) -> Given | None:
            src = own.get(name) or merged.defaults.get(name)
            return src.given if src is not None else None

        problems.extend(rules.check_model(key, agent.fields["engine_model"],
                                          given("engine_model"), agent.location))
        problems.extend(rules.check_literal_key(given("engine_key")))
        problems.extend(rules.check_numbers(given("parameter")))
        ai_type = given("type")
        uses.append(rules.ToolUse(key, agent.fields["type"], given("tool_names"),
                                  ai_type is None or not ai_type.unresolved))
    problems.extend(rules.check_tools(uses))
    return problems


def _moved(merged: _Merged, keys: Mapping[str, DesiredResource],
           problems: list[Problem]) -> dict[str, str]:
    """`old: new` renames, chains resolved (`a: b` left in place and `b: c` added mean `a` and
    `b` both moved to `c`); each old key maps to the key it ends at."""
    direct = {old: src.value for old, src in merged.moved.items()}
    moved: dict[str, str] = {}
    targets: dict[str, str] = {}
    for old, src in sorted(merged.moved.items()):
        new, where = src.value, src.given.location
        o = visible(old)
        if old == new:
            problems.append(Problem(where, f"moved.{o}: a key cannot move to itself"))
            continue
        if old in keys:
            problems.append(Problem(where, f"moved.{o}: '{o}' is still a key in the files; "
                                           "remove it there or from moved"))
            continue
        if new in targets:
            problems.append(Problem(where, f"moved.{o}: '{visible(new)}' is already the target "
                                           f"of '{visible(targets[new])}'"))
            continue
        targets[new] = old
        seen = [old]
        while new not in keys and new in direct and new not in seen:
            seen.append(new)
            new = direct[new]
        if new in seen:
            chain = " -> ".join(visible(k) for k in [*seen, new])
            problems.append(Problem(where, f"moved.{o}: the renames go round in a circle "
                                           f"({chain})"))
        elif new not in keys:
            problems.append(Problem(where, f"moved.{o}: target '{visible(new)}' is not an agent "
                                           "or team key in the files"))
        else:
            moved[old] = new
    return moved
