"""The desired-state file(s): YAML with locations, env expansion, schema, offline checks.

`load([paths], env)` reads one or more files (later ones override earlier ones field by field,
so `base.yaml` + `prod.yaml` serve one environment), checks everything that can be checked
without the network, and returns a `DesiredState`, or raises one `ConfigError` listing every
problem at its `file:line:column`. Warnings (a literal engine_key, an unknown model, a shared
name) ride along in `DesiredState.warnings`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.catalog import ENGINE_MODELS, WRITE_FIELDS
from ..core.fields import blank, canonical
from ..core.model import DesiredAgent, DesiredState, Safety
from ..core.secret import Secret
from ..errors import ConfigError, Location, Problem
from . import envsubst, schemacheck, yamlsrc

_TOP_MAPPINGS = ("defaults", "agents", "moved", "safety", "tests")  # tests: see desired.tests
_PROMPTS = frozenset({"init_prompt", "init_prompt_file"})  # one field, two spellings


@dataclass
class _Source:
    """One field value and where it came from."""

    value: Any
    location: Location
    base: Path  # the directory of the file that holds it (for init_prompt_file)
    literal: Any = None  # the value before env expansion


@dataclass
class _Merged:
    """The files merged: per-agent and default fields with their sources."""

    defaults: dict[str, _Source] = field(default_factory=dict)
    agents: dict[str, dict[str, _Source]] = field(default_factory=dict)
    agent_locations: dict[str, Location] = field(default_factory=dict)
    moved: dict[str, _Source] = field(default_factory=dict)
    safety: dict[str, Any] = field(default_factory=dict)
    from_env: frozenset[str] = frozenset()  # values taken from the environment: never quoted
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
    for path in paths:
        problems.extend(_read_into(Path(path), env, merged, missing_env_ok))
    if any(p.severity == "error" for p in problems):
        raise ConfigError([p for p in problems if p.severity == "error"])
    if merged.defaults.keys() >= _PROMPTS:
        problems.append(_exclusive(merged.defaults))
    agents = {key: _agent(key, merged, problems) for key in sorted(merged.agents)}
    moved = _moved(merged, agents, problems)
    _check_names(agents, problems)
    errors = {p for p in problems if p.severity == "error"}  # a default's problem, once
    if errors:
        raise ConfigError(list(errors))
    safety = Safety(
        max_change_percent=float(merged.safety.get("max_change_percent", 30.0)),
        min_owned=int(merged.safety.get("min_owned", 10)),
    )
    return DesiredState(
        agents=agents,
        moved=moved,
        safety=safety,
        files=tuple(str(p) for p in paths),
        warnings=tuple(str(p) for p in sorted(set(problems))),
        tests_only=tuple(merged.tests_only),
    )


def _read_into(path: Path, env: Mapping[str, str], merged: _Merged,
               missing_env_ok: bool) -> list[Problem]:
    """Parse, expand and schema-check one file, then merge it into `merged`."""
    try:
        doc = yamlsrc.load_file(path, str(path))
    except ConfigError as exc:
        return list(exc.problems)
    if not isinstance(doc.data, dict):
        return [Problem(doc.where(()), "the top level must be a mapping with `version: 1` "
                                       f"and `agents:`, not {schemacheck.kind_of(doc.data)}")]
    raw = dict(doc.data)
    if "tests" in raw and set(raw) <= {"version", "tests"}:
        merged.tests_only.append(str(path))
    for name in _TOP_MAPPINGS:
        if name in raw and raw[name] is None:
            raw[name] = {}
    if isinstance(raw.get("agents"), dict):
        raw["agents"] = {k: ({} if v is None else v) for k, v in raw["agents"].items()}
    tests = raw.pop("tests", None)  # checked against the schema only: `test` reads them
    doc = yamlsrc.Document(doc.file, raw, doc.locations)
    data, problems, from_env = envsubst.expand(doc, env, missing_ok=missing_env_ok)
    merged.from_env |= from_env
    whole = data if tests is None else {**data, "tests": tests}
    problems.extend(schemacheck.check("agents", doc, whole, from_env))
    if any(p.severity == "error" for p in problems):
        return problems
    base = path.parent
    if data.get("defaults", {}).keys() & _PROMPTS:
        merged.defaults.pop("init_prompt", None)
        merged.defaults.pop("init_prompt_file", None)
    for key, value in data.get("defaults", {}).items():
        merged.defaults[key] = _Source(value, doc.where(("defaults", key)), base,
                                       raw["defaults"][key])
    for agent_key, spec in data.get("agents", {}).items():
        target = merged.agents.setdefault(agent_key, {})
        merged.agent_locations.setdefault(agent_key, doc.where(("agents", agent_key)))
        if spec.keys() & _PROMPTS:
            target.pop("init_prompt", None)
            target.pop("init_prompt_file", None)
        for key, value in spec.items():
            where = doc.where(("agents", agent_key, key))
            target[key] = _Source(value, where, base, raw["agents"][agent_key][key])
    for old, new in data.get("moved", {}).items():
        merged.moved[old] = _Source(new, doc.where(("moved", old)), base)
    merged.safety.update(data.get("safety", {}))
    return problems


def _agent(key: str, merged: _Merged, problems: list[Problem]) -> DesiredAgent:
    """Merge defaults under one agent, read its prompt file, canonicalise its fields."""
    own = merged.agents[key]
    here = merged.agent_locations[key]
    sources: dict[str, _Source] = {}
    for name, source in merged.defaults.items():
        if name in _PROMPTS and own.keys() & _PROMPTS:
            continue
        sources[name] = source
    sources.update(own)
    if own.keys() >= _PROMPTS:
        problems.append(_exclusive(own))
    if "init_prompt_file" in sources:
        src = sources.pop("init_prompt_file")
        sources["init_prompt"] = _Source(_read_prompt(src, problems), src.location, src.base)
    ignore = set(merged.defaults.get("ignore_changes", _Source([], here, Path())).value)
    ignore.update(own.get("ignore_changes", _Source([], here, Path())).value)
    fields: dict[str, Any] = {}
    locations: dict[str, Location] = {}
    for name in WRITE_FIELDS:
        src = sources.get(name)
        if src is None:
            fields[name] = canonical(name, key) if name == "name" else blank(name)
            continue
        locations[name] = src.location
        value = Secret(src.value) if name == "engine_key" else src.value
        fields[name] = canonical(name, value)
    _check_agent(key, fields, sources, here, problems, merged.from_env)
    protect = sources.get("protect")
    return DesiredAgent(
        key=key,
        fields=fields,
        protect=bool(protect.value) if protect else False,
        ignore_changes=frozenset(ignore),
        location=here,
        field_locations=locations,
    )


def _exclusive(level: Mapping[str, _Source]) -> Problem:
    return Problem(level["init_prompt_file"].location,
                   "init_prompt and init_prompt_file are mutually exclusive")


def _read_prompt(src: _Source, problems: list[Problem]) -> str:
    path = src.base / src.value
    try:
        return yamlsrc.read_text(path, str(path), max_bytes=1024 * 1024)
    except ConfigError as exc:
        reason = exc.problems[0].message if exc.problems else "cannot read"
        problems.append(Problem(src.location, f"init_prompt_file '{src.value}': {reason}"))
        return ""


def _check_agent(key: str, fields: Mapping[str, Any], sources: Mapping[str, _Source],
                 here: Location, problems: list[Problem], from_env: frozenset[str]) -> None:
    """Checks that need the merged agent: required model, known model, literal secrets."""
    model = fields["engine_model"]
    if not model:
        problems.append(Problem(here, f"agents.{key}: engine_model is required "
                                      "(set it in the agent or in defaults)"))
    elif model not in ENGINE_MODELS and "engine_model" in sources:
        shown = "the value from ${env:...}" if model in from_env else f"'{model}'"
        problems.append(Problem(  # located at the value, so a default's is reported once
            sources["engine_model"].location,
            f"engine_model {shown} is not in VoIPBin's documented model list; VoIPBin checks "
            "only the vendor, so check the model name with your provider",
            "warning",
        ))
    key_src = sources.get("engine_key")
    if key_src is not None and isinstance(key_src.literal, str) and key_src.literal and \
            not envsubst.has_reference(key_src.literal):
        problems.append(Problem(
            key_src.location,
            "engine_key is a literal secret in the file: write it as "
            "${env:NAME} and keep the value out of git",
            "warning",
        ))


def _moved(merged: _Merged, agents: Mapping[str, DesiredAgent],
           problems: list[Problem]) -> dict[str, str]:
    moved: dict[str, str] = {}
    targets: dict[str, str] = {}
    for old, src in sorted(merged.moved.items()):
        new = src.value
        if old == new:
            problems.append(Problem(src.location, f"moved.{old}: a key cannot move to itself"))
        elif old in agents:
            problems.append(Problem(src.location, f"moved.{old}: '{old}' is still an agent key; "
                                                  "remove it from agents or from moved"))
        elif new not in agents:
            problems.append(Problem(src.location, f"moved.{old}: target '{new}' is not an agent "
                                                  "key in agents"))
        elif new in targets:
            problems.append(Problem(src.location, f"moved.{old}: '{new}' is already the target of "
                                                  f"'{targets[new]}'"))
        else:
            moved[old] = new
            targets[new] = old
    return moved


def _check_names(agents: Mapping[str, DesiredAgent], problems: list[Problem]) -> None:
    by_name: dict[str, list[str]] = {}
    for key, agent in agents.items():
        by_name.setdefault(agent.name, []).append(key)
    for name, keys in sorted(by_name.items()):
        if len(keys) > 1:
            for key in keys[1:]:
                problems.append(Problem(
                    agents[key].field_locations.get("name", agents[key].location),
                    f"agents.{key}: name '{name}' is also used by {', '.join(keys[:1])}; "
                    "VoIPBin allows it, but such agents can only be matched through the "
                    "manifest, never adopted by name",
                    "warning",
                ))
