"""What the commands share: the desired files as a function, what a command works on
(`begin`, the manifest path), the client for the real API or the embedded emulator, the plan
options, the confirmation prompt.

Heavy modules (httpx, the emulator, the planner) are imported inside the functions that use
them, so that `--help` and `validate` never load them.
"""

from __future__ import annotations

import contextlib
import logging
import math
from argparse import Namespace
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from ..errors import IacError, RefusedError, UsageError
from . import invocation

if TYPE_CHECKING:
    import httpx

    from ..api.client import Connection, VoipbinClient
    from ..api.concurrency import LatencyObserver
    from ..core import render
    from ..core.model import DesiredState
    from ..core.plan import PlanOptions
    from ..desired.tests import Suite
    from ..emulator.assistant import AssistantScript
    from .app import Console

EMULATOR_KEY = "vb_emulator_demo"  # `--emulator` always acts as this one demo customer
EMULATOR_URL = "http://emulator.invalid/v1.0"
MAX_CONCURRENCY = 256  # a worker thread per write that may be in flight


def files_given(args: Namespace) -> list[str]:
    files = [*args.files, *args.more_files]
    if not files:
        raise UsageError(f"{args.command}: no desired-state file given",
                         hint=f"voipbin-iac {args.command} agents.yaml")
    return files


def read_desired(files: list[str], console: Console, *,
                 missing_env_ok: bool = False) -> DesiredState:
    from ..desired import config

    state = config.load(files, console.env, missing_env_ok=missing_env_ok)
    for agent in state.agents.values():
        console.redactor.add(agent.fields["engine_key"])
    for name, value in state.env_used.items():
        console.redactor.add(value, label=f"${{env:{name}}}")
    for warning in state.warnings:
        console.err(f"warning: {warning}")
    return state


def read_tests(files: list[str], console: Console, desired: DesiredState,
               missing_env_ok: bool = False) -> Suite:
    """The files' tests, checked offline against their agents (for `validate` and `test`)."""
    from ..desired import tests as test_files

    suite = test_files.load(files, console.env, desired.agents, missing_env_ok=missing_env_ok)
    for value in suite.env_values:  # prompts and messages may carry them: system messages do
        console.redactor.add(value)
    for warning in suite.warnings:
        console.err(f"warning: {warning}")
    return suite


def reader(files: list[str], console: Console) -> Callable[[], DesiredState]:
    """The desired files as a function: the workflow reads them while the account is listed."""
    return lambda: read_desired(files, console)


def desired_source(args: Namespace,
                   read: Callable[[], DesiredState]) -> DesiredState | Callable[[], DesiredState]:
    """What the workflow gets: the reading function, so the account is listed meanwhile; with
    `--emulator`, the state already read, because the embedded emulator unseals its answers
    with the secrets known when it answers, and the desired files' `${env:...}` values are
    among them (a listing begun earlier would come back sealed and show false changes)."""
    return read() if args.emulator else read


def begin(args: Namespace, console: Console, files: Sequence[str], *,
          saved_plan: str | None = None) -> None:
    """What the command works on: the hints it prints repeat it (`console.invocation`), and
    the embedded emulator's state is found from it (`args.state_path`)."""
    console.invocation = invocation.of(args, files, saved_plan=saved_plan)
    args.state_path = invocation.emulator_state(args, files)


@contextlib.contextmanager
def client_for(args: Namespace, console: Console, *, observer: LatencyObserver | None = None,
               connections: int = 0) -> Iterator[tuple[VoipbinClient, str]]:
    """The client for the real API, or for the embedded emulator with `--emulator`."""
    check_rate(args.rate_limit)
    timeout = args.timeout
    if not math.isfinite(timeout) or not 0 < timeout <= 3600:
        raise UsageError(f"--timeout {timeout:g}: give seconds, more than 0 and at most 3600")
    from ..api.client import Connection, VoipbinClient, connection_from_env
    from ..core.secret import Secret

    with contextlib.ExitStack() as stack:
        transport: httpx.BaseTransport | None = None
        if args.emulator:
            from . import embedded

            state = getattr(args, "state_path", None) or invocation.emulator_state(args, [])
            transport = embedded.open_transport(
                state, args.rate_limit or None, console.clock, stack,
                secrets=console.redactor.values,
                assistant=assistant_script(getattr(args, "assistant_script", None)))
            connection = Connection(EMULATOR_URL, Secret(EMULATOR_KEY))
            target = f"the embedded emulator ({state})"
        else:
            connection = connection_from_env(console.env, need_key=args.command != "signup")
            target = connection.base_url
        client = VoipbinClient(connection, transport=transport, clock=console.clock,
                               rate_limit=args.rate_limit or None, timeout=args.timeout,
                               redactor=console.redactor, observer=observer,
                               connections=connections)
        stack.callback(client.close)
        yield client, target


def assistant_script(path: str | None) -> AssistantScript | None:
    """The emulator assistant's script (`--assistant-script`), checked, or None."""
    if not path:
        return None
    from ..emulator import assistant

    return assistant.load(path)


def account_of(connection: Connection) -> str:
    from ..run import workflow

    return workflow.account_of(connection.base_url, connection.accesskey.reveal())


def check_rate(rate: float) -> None:
    if not math.isfinite(rate) or (rate != 0 and not 0.01 <= rate <= 10_000):
        raise UsageError(f"--rate-limit {rate:g}: give requests per second between 0.01 and "
                         "10000, or 0 for no limit")


def context(files: list[str], target: str, console: Console, *,
            artifact: bool = False) -> render.Context:
    """How to render for this console; `artifact`: where the full plan is when a Markdown
    plan is cut to fit a pull-request comment (the CI run's artifact, or the command)."""
    from ..core import render

    full = ""
    if artifact:
        full = render.full_plan_note(console.env, console.invocation.command("plan"))
    return render.Context(files=tuple(files), target=target, color=console.color,
                          full_plan=full)


def plan_options(args: Namespace) -> PlanOptions:
    from ..core.plan import PlanOptions

    return PlanOptions(prune=args.prune, targets=frozenset(args.target),
                       excludes=frozenset(args.exclude))


def ask(console: Console, question: str) -> bool:
    if not console.interactive():
        raise RefusedError("no terminal to confirm on", hint="pass --yes to go ahead without "
                                                             "asking (as CI does)")
    try:  # the question is asked inside: a Ctrl-C once it shows is an answer
        console.stderr.write(f"{question} Only 'yes' goes ahead: ")
        console.stderr.flush()
        answer = console.stdin.readline()
    except KeyboardInterrupt:  # Ctrl-C at the prompt is a "no": nothing has changed yet
        answer = ""
    if not answer.endswith("\n"):  # Ctrl-C or Ctrl-D left the cursor on the prompt's line
        console.stderr.write("\n")
        console.stderr.flush()
    return answer.strip() == "yes"


@contextlib.contextmanager
def files_first(read: Callable[[], DesiredState]) -> Iterator[None]:
    """Setting up the connection (or reading a saved plan) before the desired files are read:
    if that fails, the files are read first, so a problem in them is still what is reported
    (as when they were read before anything else)."""
    try:
        yield
    except IacError:
        read()
        raise


def logger() -> logging.Logger:
    return logging.getLogger("voipbin_iac")
