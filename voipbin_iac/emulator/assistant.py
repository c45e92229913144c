"""The emulator's stand-in assistant: deterministic answers in text conversations. Not an LLM.

On the platform an LLM answers each `POST /aimessages` asynchronously (part 2 §B2). The emulator
answers with this module instead, so tests of conversation tests are reproducible:

- by default, the fixed sentence `DEFAULT_REPLY`, which names the agent and echoes the user's
  words; and when the message names a tool of the agent's `tool_names` (`connect_call`, or
  each word of it: "could you connect my call"), a call of that tool with `{}` first;
- with an assistant script (`--assistant-script FILE`), the first rule of the agent (by the AI's
  `name`, or `"*"` for any agent) whose `match` regex is found in the message decides the reply
  text and the tool calls, and the agent's `audit_score` is what its audits score;
- nothing at all (silence, §B3) when the conversation's `engine_model` vendor is not one the
  runner implements (openai, grok, gemini), or when the script says `silent: true` (the way the
  platform behaves with a wrong `engine_key`, which the emulator cannot tell from a right one).

Timing (fact sheet part 2 §B2 leaves it to the LLM; the emulator fixes it): tool calls appear
`delay_s` (default `REPLY_DELAY_S`) after the send, the text reply `TOOL_FOLLOW_UP_S` later when
there were tool calls, else at `delay_s`. A message due after the 30-s session ends never comes.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.catalog import RUNNABLE_VENDORS, TOOL_ALL, TOOL_NAMES
from ..desired import yamlsrc
from ..errors import ConfigError, Problem

DEFAULT_REPLY = ("{agent} here: this is the VoIPBin emulator's stand-in assistant, not an LLM. "
                 "You said: {message}")
REPLY_DELAY_S = 1.5  # from the send to the assistant's first message
TOOL_FOLLOW_UP_S = 0.5  # from the tool calls to the text reply after them
SESSION_S = 30.0  # a send's text session ends after this (part 2 §B2, `send.go:144`)
DEFAULT_AUDIT_SCORE = 3
DEFAULT_AUDIT_DELAY_S = 5.0  # the emulator's judge takes this long (the real one up to 30 s)
ANY_AGENT = "*"
# The platform's answer to connect_call outside a call (`AM pkg/aicallhandler/tool.go:161-163`).
CONNECT_ONLY_IN_CALLS = "connect_call is only supported for call reference type"


@dataclass(frozen=True)
class ScriptedTool:
    """One tool call a rule makes, and what its result message says."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    result: str = ""  # "" = the emulator's default (success; failed for connect_call in text)
    message: str = ""


@dataclass(frozen=True)
class Rule:
    """A message pattern and the answer to it."""

    pattern: re.Pattern[str]
    reply: str | None = None  # None: no text reply (only the tool calls)
    tools: tuple[ScriptedTool, ...] = ()
    delay_s: float = REPLY_DELAY_S


@dataclass(frozen=True)
class AgentScript:
    """What one agent says: rules in order, its audit score, or silence."""

    rules: tuple[Rule, ...] = ()
    audit_score: int = DEFAULT_AUDIT_SCORE
    silent: bool = False
    audit_delay_s: float = DEFAULT_AUDIT_DELAY_S


@dataclass(frozen=True)
class AssistantScript:
    """Scripts by AI name (`"*"`: any other agent)."""

    agents: Mapping[str, AgentScript] = field(default_factory=dict)
    source: str = ""

    def for_agent(self, name: str) -> AgentScript:
        return self.agents.get(name) or self.agents.get(ANY_AGENT) or AgentScript()


@dataclass(frozen=True)
class Planned:
    """A message the assistant will store, `delay_s` after the send (part 2 §B2)."""

    role: str
    content: str
    direction: str
    delay_s: float
    tool_calls: tuple[Mapping[str, Any], ...] = ()
    tool_call_id: str = ""


def runnable(engine_model: str) -> bool:
    """Whether the platform's runner implements this model's vendor (part 2 §B3)."""
    return engine_model.partition(".")[0] in RUNNABLE_VENDORS


def names_tool(message: str, tool: str) -> bool:
    """Whether `message` names `tool`: its name as written, or every word of it, in any order
    and any case ("could you connect my call" names connect_call)."""
    if re.search(rf"(?<![A-Za-z0-9]){re.escape(tool)}(?![A-Za-z0-9])", message, re.IGNORECASE):
        return True
    words = set(re.findall(r"[a-z0-9]+", message.lower()))
    return all(part in words for part in tool.split("_"))


def answer(script: AssistantScript | None, *, agent_name: str, engine_model: str,
           tool_names: tuple[str, ...], message: str, reference_type: str) -> tuple[Planned, ...]:
    """The messages the assistant stores in answer to `message`, in order, with their delays."""
    agent = (script or AssistantScript()).for_agent(agent_name)
    if agent.silent or not runnable(engine_model):
        return ()  # §B3: the runner fails in the background; no assistant message is stored
    offered = set(TOOL_NAMES) - {TOOL_ALL} if TOOL_ALL in tool_names else set(tool_names)
    rule = next((r for r in agent.rules if r.pattern.search(message)), None)
    if rule is None:
        named = next((t for t in TOOL_NAMES if t in offered and names_tool(message, t)), None)
        rule = Rule(re.compile(""), DEFAULT_REPLY, (ScriptedTool(named),) if named else ())
    tools = [t for t in rule.tools if t.name in offered]  # the LLM is offered only these
    out: list[Planned] = []
    for tool in tools:
        call_id = "call_" + secrets.token_hex(12)
        arguments = json.dumps(dict(tool.arguments), separators=(",", ":"), ensure_ascii=False)
        call = {"id": call_id, "type": "function",
                "function": {"name": tool.name, "arguments": arguments}}
        out.append(Planned("assistant", "", "incoming", rule.delay_s, (call,)))
        out.append(Planned("tool", _tool_result(tool, call_id, reference_type), "outgoing",
                           rule.delay_s, (), call_id))
    if rule.reply:
        text = rule.reply.replace("{agent}", agent_name).replace("{message}", message)
        delay = rule.delay_s + (TOOL_FOLLOW_UP_S if tools else 0.0)
        out.append(Planned("assistant", text, "incoming", delay))
    return tuple(p for p in out if p.delay_s <= SESSION_S)


def _tool_result(tool: ScriptedTool, call_id: str, reference_type: str) -> str:
    """The tool message's content: Go's struct order (`AM pkg/aicallhandler/tool.go:100-143`)."""
    result, message = tool.result, tool.message
    if not result:
        if tool.name == "connect_call" and reference_type != "call":
            result, message = "failed", message or CONNECT_ONLY_IN_CALLS
        else:
            result = "success"
            message = message or f"emulated: {tool.name} was not executed"
    return json.dumps({"tool_call_id": call_id, "result": result, "message": message,
                       "resource_type": "", "resource_id": ""}, separators=(",", ":"),
                      ensure_ascii=False)


# -- loading a script ------------------------------------------------------------------------

_AGENT_KEYS = {"rules", "audit_score", "audit_delay_s", "silent"}
_RULE_KEYS = {"match", "reply", "tool_calls", "delay_s"}
_TOOL_KEYS = {"name", "arguments", "result", "message"}


def load(path: str | Path) -> AssistantScript:
    """Read an assistant script, or raise `ConfigError` with every problem at its place."""
    doc = yamlsrc.load_file(Path(path), str(path))
    problems: list[Problem] = []
    data = doc.data
    if not isinstance(data, dict):
        raise ConfigError([Problem(doc.where(()), "an assistant script is a mapping with "
                                                  "`version: 1` and `agents:`")],
                          hint="see examples/emulator-assistant.yaml")
    for key in data:
        if key not in ("version", "agents"):
            problems.append(Problem(doc.where((key,)), f"{key}: unknown field (the script has "
                                                       "`version` and `agents`)"))
    if data.get("version", 1) != 1:
        problems.append(Problem(doc.where(("version",)), "version: must be 1"))
    agents: dict[str, AgentScript] = {}
    raw_agents = data.get("agents") or {}
    if not isinstance(raw_agents, dict):
        problems.append(Problem(doc.where(("agents",)), "agents: expected a mapping of agent "
                                                        "names (the AI's `name`, or \"*\")"))
        raw_agents = {}
    for name, spec in raw_agents.items():
        agents[name] = _agent(doc, ("agents", name), spec or {}, problems)
    if problems:
        raise ConfigError(problems, hint="an assistant script maps AI names to `rules`, "
                                         "`audit_score` and `silent`; see "
                                         "examples/emulator-assistant.yaml")
    return AssistantScript(agents, str(path))


def _agent(doc: yamlsrc.Document, at: yamlsrc.Path_, spec: Any,
           problems: list[Problem]) -> AgentScript:
    if not isinstance(spec, dict):
        problems.append(Problem(doc.where(at), f"{yamlsrc.dotted(at)}: expected a mapping"))
        return AgentScript()
    _unknown(doc, at, spec, _AGENT_KEYS, problems)
    score = spec.get("audit_score", DEFAULT_AUDIT_SCORE)
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        problems.append(Problem(doc.where((*at, "audit_score")),
                                f"{yamlsrc.dotted((*at, 'audit_score'))}: a whole number 1-5"))
        score = DEFAULT_AUDIT_SCORE
    delay = spec.get("audit_delay_s", DEFAULT_AUDIT_DELAY_S)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or \
            not (math.isfinite(delay) and 0 <= delay <= 3600):
        problems.append(Problem(doc.where((*at, "audit_delay_s")),
                                f"{yamlsrc.dotted((*at, 'audit_delay_s'))}: seconds, 0-3600"))
        delay = DEFAULT_AUDIT_DELAY_S
    silent = spec.get("silent", False)
    if not isinstance(silent, bool):
        problems.append(Problem(doc.where((*at, "silent")),
                                f"{yamlsrc.dotted((*at, 'silent'))}: true or false"))
    rules = spec.get("rules") or []
    if not isinstance(rules, list):
        problems.append(Problem(doc.where((*at, "rules")),
                                f"{yamlsrc.dotted((*at, 'rules'))}: expected a list of rules"))
        rules = []
    parsed = [_rule(doc, (*at, "rules", i), r, problems) for i, r in enumerate(rules)]
    return AgentScript(tuple(r for r in parsed if r is not None), score, silent is True,
                       float(delay))


def _rule(doc: yamlsrc.Document, at: yamlsrc.Path_, spec: Any,
          problems: list[Problem]) -> Rule | None:
    def bad(where: yamlsrc.Path_, message: str) -> None:
        problems.append(Problem(doc.where(where), f"{yamlsrc.dotted(where)}: {message}"))

    if not isinstance(spec, dict):
        bad(at, "expected a mapping with `match` and `reply` and/or `tool_calls`")
        return None
    _unknown(doc, at, spec, _RULE_KEYS, problems)
    match = spec.get("match")
    pattern = None
    if not isinstance(match, str):
        bad((*at, "match"), "a regular expression (text) is required")
    else:
        try:
            pattern = re.compile(match)
        except re.error as exc:
            bad((*at, "match"), f"not a valid regular expression: {exc}")
    reply = spec.get("reply")
    if reply is not None and not isinstance(reply, str):
        bad((*at, "reply"), "expected text")
        reply = None
    delay = spec.get("delay_s", REPLY_DELAY_S)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or \
            not (math.isfinite(delay) and 0 < delay <= 120):
        bad((*at, "delay_s"), "seconds, more than 0 and at most 120 (over 30: never comes)")
        delay = REPLY_DELAY_S
    tools = spec.get("tool_calls") or []
    if not isinstance(tools, list):
        bad((*at, "tool_calls"), "expected a list of {name, arguments}")
        tools = []
    calls = [_tool(doc, (*at, "tool_calls", i), t, problems) for i, t in enumerate(tools)]
    if pattern is None:
        return None
    return Rule(pattern, reply, tuple(c for c in calls if c is not None), float(delay))


def _tool(doc: yamlsrc.Document, at: yamlsrc.Path_, spec: Any,
          problems: list[Problem]) -> ScriptedTool | None:
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict):
        problems.append(Problem(doc.where(at), f"{yamlsrc.dotted(at)}: expected a tool name or "
                                               "{name, arguments}"))
        return None
    _unknown(doc, at, spec, _TOOL_KEYS, problems)
    name, arguments = spec.get("name"), spec.get("arguments") or {}
    result, message = spec.get("result", ""), spec.get("message", "")
    ok = True
    if name not in TOOL_NAMES or name == TOOL_ALL:
        problems.append(Problem(doc.where((*at, "name")), f"{yamlsrc.dotted((*at, 'name'))}: "
                                f"{name!r} is not a VoIPBin tool"))
        ok = False
    if not isinstance(arguments, dict):
        problems.append(Problem(doc.where((*at, "arguments")),
                                f"{yamlsrc.dotted((*at, 'arguments'))}: expected a mapping"))
        ok = False
    if result not in ("", "success", "failed") or not isinstance(message, str):
        problems.append(Problem(doc.where(at), f"{yamlsrc.dotted(at)}: `result` is success or "
                                               "failed, `message` is text"))
        ok = False
    return ScriptedTool(name, arguments, result, message) if ok else None


def _unknown(doc: yamlsrc.Document, at: yamlsrc.Path_, spec: Mapping[str, Any],
             allowed: set[str], problems: list[Problem]) -> None:
    for key in spec:
        if key not in allowed:
            problems.append(Problem(doc.where((*at, key)), f"{yamlsrc.dotted((*at, key))}: "
                                    f"unknown field (allowed: {', '.join(sorted(allowed))})"))
