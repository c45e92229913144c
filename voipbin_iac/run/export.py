"""`export`: the account's live AIs as a desired-state file plus its manifest.

Keys come from names (`Support Bot` -> `support-bot`, made unique); every field that is not the
platform's blank value is written, prompts as block scalars; engine keys become `${env:...}`
placeholders (one variable per distinct key, listed so the user can set them), never values.
With those variables set to the live keys, `plan` on the result is empty.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from ..core.catalog import WRITE_FIELDS
from ..core.fields import blank, echoes_engine_key, shown
from ..core.model import LiveAgent, Manifest
from ..state.manifest import entry_for


@dataclass(frozen=True)
class Exported:
    text: str  # the desired-state file
    manifest: Manifest
    variables: dict[str, list[str]]  # env var -> keys that use it
    unknown_keys: tuple[str, ...]  # agents whose engine_key VoIPBin did not show


def slug(name: str) -> str:
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return (text or "agent")[:56].rstrip("-") or "agent"


def _keys(agents: Sequence[LiveAgent]) -> dict[str, LiveAgent]:
    out: dict[str, LiveAgent] = {}
    for agent in sorted(agents, key=lambda a: (a.tm_create or "", a.id)):
        base = slug(agent.name)
        key, n = base, 2
        while key in out:
            key, n = f"{base}-{n}", n + 1
        out[key] = agent
    return out


class _Dumper(yaml.SafeDumper):
    """Block scalars for multi-line text, no aliases."""

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


def _variables(by_key: dict[str, LiveAgent]) -> tuple[dict[str, str | None], bool, list[str]]:
    """Which env variable holds each agent's engine key (one per distinct key)."""
    var_of_fp: dict[str, str] = {}
    uses: dict[str, str | None] = {}
    unknown: list[str] = []
    echoes = echoes_engine_key(by_key.values())
    for key, agent in by_key.items():
        secret = agent.fields.get("engine_key")
        if secret is None and not echoes:
            uses[key] = _env_name(key)
            unknown.append(key)
        elif not secret:
            uses[key] = None  # no key at all
        else:
            uses[key] = var_of_fp.setdefault(secret.fingerprint, _env_name(key))
    shared = bool(uses) and not unknown and len(set(uses.values())) == 1 and \
        None not in uses.values()
    if shared:
        uses = dict.fromkeys(uses, "ENGINE_KEY")
    return uses, shared, unknown


def export(agents: Sequence[LiveAgent], source: str) -> Exported:
    """The desired-state text and manifest for `agents`."""
    by_key = _keys(agents)
    uses, shared, unknown = _variables(by_key)
    data: dict[str, Any] = {"version": 1}
    if shared:
        data["defaults"] = {"engine_key": "${env:ENGINE_KEY}"}
    body: dict[str, Any] = {}
    for key, agent in by_key.items():
        fields: dict[str, Any] = {}
        for name in WRITE_FIELDS:
            value = agent.fields[name]
            if name == "engine_key":
                if uses[key] and not shared:
                    fields[name] = f"${{env:{uses[key]}}}"
            elif name == "name" or value != blank(name):
                fields[name] = _escape(shown(value))
        body[key] = fields
    data["agents"] = body
    variables: dict[str, list[str]] = {}
    for key, var in uses.items():
        if var:
            variables.setdefault(var, []).append(key)
    header = (f"# Exported by voipbin-iac from {source}: {len(by_key)} AIs.\n"
              "# Editor support: `voipbin-iac schema > agents.schema.json`, then make the first "
              "line\n# `# yaml-language-server: $schema=agents.schema.json`.\n")
    if variables:
        header += "# Set these environment variables to the live engine keys before `plan`:\n"
        header += "".join(f"#   {var}: {', '.join(keys)}\n"
                          for var, keys in sorted(variables.items()))
    text = header + yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                              default_flow_style=False, width=100)
    manifest = Manifest({key: entry_for(agent, None, None) for key, agent in by_key.items()})
    return Exported(text, manifest, variables, tuple(unknown))
