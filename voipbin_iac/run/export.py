"""`export`: the account's live AIs and AI teams as a desired-state file plus its manifest.

Keys come from names (`Support Bot` -> `support-bot`, made unique across agents and teams);
every field that is not the platform's blank value is written, prompts as block scalars; engine
keys become `${env:...}` placeholders (one variable per distinct key, listed so the user can set
them), never values. An AI without a key gets none: VoIPBin shows every key it holds (when no AI
shows one, the note says so). Team members are keyed by their names and reference agents by
key; the manifest records the member ids, so `plan` on the result is empty.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from ..core.kinds import Refs, shown
from ..core.kinds.agent import AGENT_KIND, echoes_engine_key
from ..core.kinds.team import TEAM_KIND
from ..core.model import AGENT, TEAM, LiveResource, LiveState, Manifest, ManifestEntry


@dataclass(frozen=True)
class Exported:
    text: str  # the desired-state file
    manifest: Manifest
    variables: dict[str, list[str]]  # env var -> keys that use it
    keys_hidden: bool  # no AI showed an engine key: VoIPBin may hide them
    skipped: tuple[str, ...]  # teams that cannot be written (why, one line each)


def slug(name: str) -> str:
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return (text or "agent")[:56].rstrip("-") or "agent"


def _keys(resources: Sequence[LiveResource], taken: set[str]) -> dict[str, LiveResource]:
    out: dict[str, LiveResource] = {}
    for res in sorted(resources, key=lambda a: (a.tm_create or "", a.id)):
        base = slug(res.name)
        key, n = base, 2
        while key in out or key in taken:
            key, n = f"{base}-{n}", n + 1
        out[key] = res
        taken.add(key)
    return out


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Block scalars for multi-line text, no aliases; libyaml's emitter where PyYAML has it
    (the same text, several times faster on a large account)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value.rstrip("\n") and not re.search(r"[ \t]\n|[ \t]$|\r|[^\S\n ]", value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def _env_name(key: str) -> str:
    return "ENGINE_KEY_" + re.sub(r"[^A-Z0-9]", "_", key.upper())


def _escape(value: Any) -> Any:
    """`${env:X}` in live text must stay literal when the file is read back."""
    if isinstance(value, str):
        return value.replace("${env:", "$${env:")
    if isinstance(value, list):
        return [_escape(v) for v in value]
    if isinstance(value, dict):
        return {k: _escape(v) for k, v in value.items()}
    return value


def _variables(by_key: Mapping[str, LiveResource]) -> tuple[dict[str, str | None], bool]:
    """Which env variable holds each agent's engine key (one per distinct key, none for an AI
    without a key); whether one shared variable serves all."""
    var_of_fp: dict[str, str] = {}
    uses: dict[str, str | None] = {}
    for key, agent in by_key.items():
        secret = agent.fields.get("engine_key")
        uses[key] = var_of_fp.setdefault(secret.fingerprint, _env_name(key)) if secret else None
    shared = bool(uses) and len(set(uses.values())) == 1 and None not in uses.values()
    if shared:
        uses = dict.fromkeys(uses, "ENGINE_KEY")
    return uses, shared


def _agent_fields(agent: LiveResource, var: str | None, shared: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in AGENT_KIND.fields:
        value = agent.fields[name]
        if name == "engine_key":
            if var and not shared:
                fields[name] = f"${{env:{var}}}"
        elif name == "name" or value != AGENT_KIND.blank(name):
            fields[name] = _escape(shown(value))
    return fields


def _team(team: LiveResource, agent_keys: Mapping[str, str]
          ) -> tuple[dict[str, Any], dict[str, str]] | str:
    """A team's fields and its member ids (member key -> id), or why it cannot be written."""
    members = team.fields["members"]
    member_keys: dict[str, str] = {}
    for mid, spec in sorted(members.items(), key=lambda item: item[1]["name"]):
        base = slug(spec["name"] or "member")
        key, n = base, 2
        while key in member_keys.values():
            key, n = f"{base}-{n}", n + 1
        member_keys[mid] = key
    spec_out: dict[str, Any] = {}
    for mid, spec in members.items():
        agent = agent_keys.get(spec["agent"])
        if agent is None:
            return (f"team '{team.name}' ({team.id}): member '{spec['name']}' uses AI "
                    f"{spec['agent']}, which is not a live AI of this account")
        transitions = {}
        for fn, t in sorted(spec["transitions"].items()):
            if t["to"] not in member_keys:
                return (f"team '{team.name}' ({team.id}): transition {fn} goes to member "
                        f"{t['to']}, which is not in the team")
            transitions[fn] = {"to": member_keys[t["to"]], **(
                {"description": t["description"]} if t["description"] else {})}
        spec_out[member_keys[mid]] = {"agent": agent, **(
            {"transitions": transitions} if transitions else {})}
    if team.fields["start"] not in member_keys:
        return f"team '{team.name}' ({team.id}): its start member is not in the team"
    fields: dict[str, Any] = {"name": team.name}
    if team.fields["detail"]:
        fields["detail"] = team.fields["detail"]
    fields["start"] = member_keys[team.fields["start"]]
    fields["members"] = spec_out
    if team.fields["parameter"]:
        fields["parameter"] = team.fields["parameter"]
    return _escape(fields), {mk: mid for mid, mk in member_keys.items()}


def export(live: LiveState, source: str, files: tuple[str, ...] = ()) -> Exported:
    """The desired-state text and manifest for the live state."""
    taken: set[str] = set()
    agents = _keys(live.of(AGENT), taken)
    uses, shared = _variables(agents)
    data: dict[str, Any] = {"version": 1}
    if shared:
        data["defaults"] = {"engine_key": "${env:ENGINE_KEY}"}
    data["agents"] = {key: _agent_fields(a, uses[key], shared) for key, a in agents.items()}
    agent_keys = {a.id: key for key, a in agents.items()}
    entries: dict[str, dict[str, ManifestEntry]] = {AGENT: {
        key: AGENT_KIND.entry(a, None, None, applied=False, name=a.name)
        for key, a in agents.items()}}
    teams_out: dict[str, Any] = {}
    skipped: list[str] = []
    for key, team in _keys(live.of(TEAM), taken).items():
        written = _team(team, agent_keys)
        if isinstance(written, str):
            skipped.append(written)
            continue
        teams_out[key], member_ids = written
        refs = Refs(ids={**{k: a.id for k, a in agents.items()}, key: team.id},
                    members={key: member_ids})
        entries.setdefault(TEAM, {})[key] = TEAM_KIND.entry(
            team, None, None, applied=False, name=team.name, refs=refs)
    if teams_out:
        data["teams"] = teams_out
    variables: dict[str, list[str]] = {}
    for key, var in uses.items():
        if var:
            variables.setdefault(var, []).append(key)
    count = f"{len(agents)} AIs" + (f" and {len(teams_out)} teams" if teams_out else "")
    header = (f"# Exported by voipbin-iac from {source}: {count}.\n"
              "# Editor support: `voipbin-iac schema > agents.schema.json`, then make the first "
              "line\n# `# yaml-language-server: $schema=agents.schema.json`.\n")
    if variables:
        header += "# Set these environment variables to the live engine keys before `plan`:\n"
        header += "".join(f"#   {var}: {', '.join(keys)}\n"
                          for var, keys in sorted(variables.items()))
    text = header + yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                              default_flow_style=False, width=100)
    manifest = Manifest(entries, account=live.account, files=files)
    hidden = bool(agents) and not echoes_engine_key(live.of(AGENT))
    return Exported(text, manifest, variables, hidden, tuple(skipped))
