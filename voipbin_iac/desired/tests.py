"""The `tests:` sections of desired-state files: conversation tests for `voipbin-iac test`.

`load(paths, env, agents)` reads every file again, takes each one's `tests:` mapping (with
`${env:...}` expanded, like the rest of the file) and checks it against the schema and against
the merged agents: the agent key exists, regexes compile, a tool to expect is one the agent has,
`arguments_match` goes with `tool_called`. Every problem is reported at its `file:line:column`,
all at once, as one `ConfigError`. Advice that does not stop a test (an agent whose vendor
never answers, an audit of an agent without a prompt) comes back as warnings.

`plan` and `apply` never read tests (`desired.config` only schema-checks them), and a file that
holds nothing but `version` and `tests` never decides which manifest a command uses.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.catalog import RUNNABLE_VENDORS, TOOL_ALL
from ..core.conversation import (
    DEFAULT_REPLY_TIMEOUT_S,
    AuditSpec,
    ConversationTest,
    Expect,
    Turn,
)
from ..core.model import DesiredResource
from ..errors import ConfigError, Location, Problem
from . import envsubst, schemacheck, yamlsrc
from .readfile import read_bounded

TEST_ONLY_KEYS = frozenset({"version", "tests"})


@dataclass(frozen=True)
class Suite:
    """The tests of the files, by name in file order, and what the command must know besides."""

    tests: Mapping[str, ConversationTest]
    warnings: tuple[str, ...] = ()
    env_values: tuple[str, ...] = ()  # every environment value the files' strings take


_TOP_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*)[ \t]*:", re.MULTILINE)


def only_tests(path: Path) -> bool:
    """Whether the file at `path` holds nothing but `tests:` (and `version:`), judged by the
    keys that start a line, before the file is parsed: it decides which manifest a command
    uses. A file that cannot be read counts as a resource file (reading it reports why)."""
    try:
        text = read_bounded(path, str(path), yamlsrc.MAX_BYTES).decode("utf-8", "replace")
    except ConfigError:
        return False
    keys = set(_TOP_KEY.findall(text))
    return "tests" in keys and keys <= TEST_ONLY_KEYS


def tests_only(doc_data: Any) -> bool:
    """Whether a file's top level holds only `version` and `tests` (it names no manifest)."""
    return isinstance(doc_data, dict) and "tests" in doc_data and \
        set(doc_data) <= TEST_ONLY_KEYS


def load(paths: Sequence[str | Path], env: Mapping[str, str],
         agents: Mapping[str, DesiredResource], *, missing_env_ok: bool = False) -> Suite:
    """The conversation tests of `paths`, checked; raises `ConfigError` with every problem
    (with `missing_env_ok`, an unset `${env:...}` is only a warning, as for `validate`)."""
    problems: list[Problem] = []
    tests: dict[str, ConversationTest] = {}
    env_values: set[str] = set()
    for path in paths:
        try:
            doc = yamlsrc.load_file(Path(path), str(path))
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if not isinstance(doc.data, dict):
            continue  # config.load reports it
        env_values |= _env_values(doc.data, env)
        raw = doc.data.get("tests")
        if raw is None:
            continue
        sub = yamlsrc.Document(doc.file, {"version": 1, "tests": raw}, doc.locations)
        expanded = envsubst.expand(sub, env, missing_ok=missing_env_ok)
        data = expanded.data
        problems.extend(expanded.problems)
        shape = schemacheck.check("agents", sub, data, expanded.from_env, expanded.unresolved)
        if shape:  # the checks below rely on the schema's shape
            problems.extend(shape)
            continue
        for name, spec in data["tests"].items():
            where = doc.where(("tests", name))
            if name in tests:
                problems.append(Problem(where, f"tests.{name}: defined twice (first at "
                                               f"{tests[name].location})"))
                continue
            tests[name] = _test(doc, name, spec, where, agents, problems)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ConfigError(errors)
    return Suite(tests, tuple(str(p) for p in sorted(set(problems))),
                 tuple(sorted(env_values)))


_REFERENCE = re.compile(r"(?<!\$)\$\{env:([A-Za-z_][A-Za-z0-9_]*)")


def _env_values(data: Any, env: Mapping[str, str]) -> set[str]:
    """Every environment value a file's strings take (`${env:NAME}`), wherever it lands."""
    found: set[str] = set()
    stack, seen = [data], set()
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            found.update(env[n] for n in _REFERENCE.findall(value) if env.get(n))
        elif isinstance(value, dict | list) and id(value) not in seen:  # aliases: once
            seen.add(id(value))
            stack.extend(value.values() if isinstance(value, dict) else value)
    return found


def _test(doc: yamlsrc.Document, name: str, spec: Mapping[str, Any], where: Location,
          agents: Mapping[str, DesiredResource], problems: list[Problem]) -> ConversationTest:
    base = ("tests", name)
    key = spec["agent"]
    agent = agents.get(key)
    if agent is None:
        close = difflib.get_close_matches(key, list(agents), n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else \
            f" (agents: {', '.join(sorted(agents)) or 'none: give the agents file too'})"
        problems.append(Problem(doc.where((*base, "agent")),
                                f"tests.{name}.agent: '{key}' is not an agent key in the desired "
                                f"files{hint}"))
    elif agent.fields["engine_model"].partition(".")[0] not in RUNNABLE_VENDORS:
        problems.append(Problem(
            doc.where((*base, "agent")),
            f"tests.{name}: agent '{key}' uses engine_model '{agent.fields['engine_model']}'; "
            f"VoIPBin runs only {', '.join(sorted(RUNNABLE_VENDORS))}, so it never replies",
            "warning"))
    turns = tuple(_turn(doc, (*base, "turns", i), turn, agent, problems)
                  for i, turn in enumerate(spec["turns"]))
    audit = spec.get("audit")
    if audit is not None and agent is not None and not agent.fields["init_prompt"]:
        problems.append(Problem(doc.where((*base, "audit")), f"tests.{name}.audit: agent "
                                f"'{key}' has no init_prompt; VoIPBin fails audits of such "
                                "agents (prompt_snapshot_has_no_history_id)", "warning"))
    return ConversationTest(
        name=name, agent=key, turns=turns,
        reply_timeout_s=float(spec.get("reply_timeout_s", DEFAULT_REPLY_TIMEOUT_S)),
        audit=AuditSpec(audit["min_score"], audit.get("language", "")) if audit else None,
        location=where)


def _turn(doc: yamlsrc.Document, at: yamlsrc.Path_, spec: Mapping[str, Any],
          agent: DesiredResource | None, problems: list[Problem]) -> Turn:
    expect = spec.get("expect") or {}
    here = (*at, "expect")

    def regex(key: str) -> re.Pattern[str] | None:
        if key not in expect:
            return None
        try:
            return re.compile(expect[key])
        except re.error as exc:
            problems.append(Problem(doc.where((*here, key)), f"{yamlsrc.dotted((*here, key))}: "
                                    f"not a valid regular expression: {exc}"))
            return None

    tools = set(agent.fields["tool_names"]) if agent is not None else None
    for key in ("tool_called", "tool_not_called"):
        tool = expect.get(key)
        if tool and tools is not None and tool not in tools and TOOL_ALL not in tools:
            problems.append(Problem(doc.where((*here, key)), f"{yamlsrc.dotted((*here, key))}: "
                                    f"agent '{agent.key if agent else ''}' cannot call {tool}: "
                                    "it is not in its tool_names"))
    arguments = expect.get("arguments_match") or {}
    if arguments and not expect.get("tool_called"):
        problems.append(Problem(doc.where((*here, "arguments_match")),
                                f"{yamlsrc.dotted((*here, 'arguments_match'))}: goes with "
                                "tool_called (the tool whose arguments to check)"))
    for arg, value in arguments.items():
        if isinstance(value, str):
            try:
                re.compile(value)
            except re.error as exc:
                where = (*here, "arguments_match", arg)
                problems.append(Problem(doc.where(where), f"{yamlsrc.dotted(where)}: not a "
                                        f"valid regular expression: {exc}"))
    return Turn(
        say=spec["say"],
        expect=Expect(
            reply_matches=regex("reply_matches"), reply_not_matches=regex("reply_not_matches"),
            reply_contains=tuple(expect.get("reply_contains", ())),
            reply_not_contains=tuple(expect.get("reply_not_contains", ())),
            tool_called=expect.get("tool_called"), arguments_match=dict(arguments),
            tool_not_called=expect.get("tool_not_called"),
            max_latency_s=expect.get("max_latency_s")),
        location=doc.where(at))
