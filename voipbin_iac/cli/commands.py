"""One function per CLI command: parse nothing, print through the console, return an exit code.

Wiring only: the desired state comes from `config`, the client from `wiring` (the real API or
the embedded emulator in-process), the work from `workflow`, `ops` and `export`, the words from
`render`. Errors propagate to `cli.main` as `IacError`s. This module holds the dispatcher and
the desired-state commands (validate, plan, apply); `tools` holds the others.

Each command imports what it uses when it runs, so `--help` and `validate` never load httpx,
the emulator or the apply machinery (a test pins it). `plan` and `apply` hand the workflow a
function that reads the desired files, so the live listing runs while they are read.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from argparse import ArgumentParser, Namespace
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ..errors import ConfigError, Problem, UsageError
from . import invocation, wiring
from .wiring import EMULATOR_KEY, EMULATOR_URL, MAX_CONCURRENCY

if TYPE_CHECKING:
    from ..core.model import Plan
    from ..state.lease import AccountLease
    from .app import Console

__all__ = ["EMULATOR_KEY", "EMULATOR_URL", "run"]


def run(args: Namespace, console: Console, parser: ArgumentParser) -> int:
    if args.command == "completion":
        from .tools import completion

        return completion(args, console, parser)
    if args.command in ("validate", "plan", "apply"):
        handler = {"validate": validate, "plan": plan, "apply": apply}[args.command]
    else:
        from . import tools

        handler = {
            "export": tools.export_, "import": tools.import_, "rotate": tools.rotate,
            "call": tools.call, "signup": tools.signup, "manifest": tools.manifest,
            "schema": tools.schema, "emulator": tools.emulator, "test": tools.test,
        }[args.command]
    return handler(args, console)


def validate(args: Namespace, console: Console) -> int:
    from ..core.render import plural
    from ..core.visible import visible
    from ..desired import config, overlays

    files = wiring.files_given(args)
    wiring.begin(args, console, files)
    problems: set[Problem] = set()
    shown: set[str] = set()
    for group in overlays.groups(files, args.base, each=args.each):
        try:
            state = config.load(group, console.env, missing_env_ok=args.allow_missing_env)
            suite = None if args.each else wiring.read_tests(group, console, state,
                                                             args.allow_missing_env)
        except ConfigError as exc:
            problems.update(exc.problems)
            continue
        for value in state.env_values:  # never printed; masked should a message slip
            console.redactor.add(value)
        for warning in state.warnings:
            if warning not in shown:  # a base's warning once, however many overlays
                shown.add(warning)
                console.err(f"warning: {warning}")
        tests = f"{plural(len(suite.tests), 'test')}, " if suite and suite.tests else ""
        teams = f"{plural(len(state.teams), 'team')}, " if state.teams else ""
        console.out(f"ok: {', '.join(visible(f) for f in group)}: "
                    f"{plural(len(state.agents), 'agent')}, {teams}{tests}"
                    f"{plural(len(state.warnings), 'warning')}\n")
    if problems:
        raise ConfigError(sorted(problems))
    return 0


def plan(args: Namespace, console: Console) -> int:
    from ..core import render
    from ..run import workflow
    from ..state import savedplan

    files = wiring.files_given(args)
    wiring.begin(args, console, files)
    path = invocation.manifest_path(args, files)
    read = wiring.reader(files, console)
    with contextlib.ExitStack() as stack:
        with wiring.files_first(read):
            client, target = stack.enter_context(wiring.client_for(args, console))
        planned = workflow.plan(client, wiring.desired_source(args, read), path,
                                wiring.plan_options(args),
                                files_moved=args.files_moved, log=wiring.logger())
        the_plan = planned.plan
        if args.out:
            assert planned.desired is not None
            recorded = savedplan.Recorded(tuple(files), str(path),
                                          args.state_path if args.emulator else None)
            savedplan.save(Path(args.out), the_plan, planned.desired, planned.manifest,
                           wiring.plan_options(args), wiring.account_of(client.connection),
                           recorded)
    ctx = wiring.context(files, target, console, artifact=True)
    if args.format == "markdown":
        console.show(render.markdown(the_plan, ctx))
    elif args.format == "text":
        console.show(render.text(the_plan, ctx, quiet=console.quiet))
    else:
        console.out(render.json_text(the_plan))
    if args.out:
        console.err(f"saved the plan to {args.out}; apply it with "
                    f"`{console.invocation.command('apply', '--plan', args.out)}`")
    return 2 if args.detailed_exitcode and the_plan.has_changes else 0


def apply(args: Namespace, console: Console) -> int:
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if args.concurrency > MAX_CONCURRENCY:
        raise UsageError(f"--concurrency {args.concurrency}: at most {MAX_CONCURRENCY} writes "
                         "in flight (one thread each)",
                         hint="the number in flight follows the rate limit and latency anyway; "
                              "the default of 32 keeps 16.7/s busy up to 1.4 s per request")
    if args.plan and (args.prune or args.target or args.exclude):
        raise UsageError("--plan applies the saved plan as it is: --prune, --target and "
                         "--exclude belong to the `plan --out` that made it")
    from ..api.concurrency import AdaptiveConcurrency
    from ..core import render
    from ..errors import LockError
    from ..run import workflow
    from ..run.executor import ExecOptions
    from ..state import savedplan
    from . import testcmd
    from .locking import account_lease, lease_settings
    from .progress import ProgressLine

    console.invocation = invocation.of(args, [*args.files, *args.more_files],
                                       saved_plan=args.plan)
    saved = savedplan.load(Path(args.plan)) if args.plan else None
    # A saved plan records its files, manifest and emulator state: `apply --plan PLAN` alone.
    files = invocation.from_saved_plan(args, saved) if saved else wiring.files_given(args)
    wiring.begin(args, console, files, saved_plan=args.plan)
    settings = lease_settings(args)
    read = wiring.reader(files, console)
    limiter = AdaptiveConcurrency(args.rate_limit or None, args.concurrency,
                                  clock=console.clock)
    with contextlib.ExitStack() as stack:
        with wiring.files_first(read):
            client, target = stack.enter_context(
                wiring.client_for(args, console, observer=limiter, connections=args.concurrency))
        lease = account_lease(args, settings, console, client, files)
        request = workflow.ApplyRequest(
            manifest_path=invocation.manifest_path(args, files),
            options=wiring.plan_options(args), saved=saved,
            account=wiring.account_of(client.connection), force=args.force,
            files_moved=args.files_moved,
            execution=ExecOptions(concurrency=args.concurrency, limiter=limiter),
            account_lock=None if lease is None else (lambda: lease))
        ctx = wiring.context(files, target, console)
        line = ProgressLine(console.stderr, console.clock, enabled=console.verbosity >= 0,
                            meter=limiter)

        def progress(done: int, total: int) -> None:
            if lease is not None:
                lease.beat_if_due()  # heartbeats on the write path too (see `lease`)
            line.update(done, total)

        with _interruptible(console, lease) as interrupt:

            def confirm(the_plan: Plan) -> bool:
                if not (args.yes and console.quiet):  # -q --yes: the summary says it
                    shown = console.invocation.complete(render.text(the_plan, ctx))
                    (console.err if args.format == "json" else console.out)(shown)
                if args.yes or wiring.ask(console, f"Apply these changes to {target}?"):
                    interrupt.running.set()
                    return True
                return False

            the_plan, result = workflow.apply(client, wiring.desired_source(args, read), request,
                                              clock=console.clock,
                                              confirm=confirm, stop=interrupt.stop,
                                              progress=progress, log=wiring.logger())
        line.finish()
        if not the_plan.has_changes and args.format == "text":
            console.show(render.text(the_plan, ctx, quiet=console.quiet))
        if args.format == "json":
            console.out(json.dumps({"plan": json.loads(render.json_text(the_plan)),
                                    "result": json.loads(render.result_json(result))},
                                   indent=2) + "\n")
        elif the_plan.has_changes:
            console.show(render.result_text(result, ctx, quiet=console.quiet))
        if lease is not None and lease.lost:
            raise LockError(f"the account lock was lost: {lease.lost}; the apply stopped before "
                            "its next change and the manifest records what was done",
                            hint="find out which apply took over (`voipbin-iac plan` shows the "
                                 "account as it is now), then run apply again")
        if args.smoke and result.ok:  # a text conversation: a call can only show `dialing`
            return testcmd.smoke(args, console, client, result)
    return 0 if result.ok else 1


_STOPPING = (b"\ninterrupted: finishing the writes in flight, then writing the manifest "
             b"(Ctrl-C again to abort)\n")


@dataclass
class _Interrupt:
    """Ctrl-C during an apply. Before the changes start (at the prompt, say) it aborts at once;
    once they run, the first asks them to stop after the writes in flight (and says so at
    once, with a raw write that is safe inside a signal handler), the second aborts."""

    notice_fd: int | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    running: threading.Event = field(default_factory=threading.Event)

    def handler(self, signum: int, frame: object) -> None:
        if not self.running.is_set() or self.stop.is_set():
            raise KeyboardInterrupt
        self.stop.set()
        if self.notice_fd is not None:
            with contextlib.suppress(OSError):
                os.write(self.notice_fd, _STOPPING)


def _fd(stream: TextIO) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return None


@contextlib.contextmanager
def _interruptible(console: Console, lease: AccountLease | None = None) -> Iterator[_Interrupt]:
    """Ctrl-C handling for an apply; with the account lease, losing it stops the apply too."""
    if lease is None:
        stop: threading.Event = threading.Event()
    else:
        from ..state.lease import LeaseGuard

        stop = LeaseGuard(lease)
    interrupt = _Interrupt(_fd(console.stderr), stop=stop)
    if threading.current_thread() is not threading.main_thread():
        yield interrupt
        return
    previous = signal.signal(signal.SIGINT, interrupt.handler)
    try:
        yield interrupt
    finally:
        signal.signal(signal.SIGINT, previous)
