"""One function per CLI command: parse nothing, print through the console, return an exit code.

Wiring only: the desired state comes from `config`, the client from here (the real API or the
embedded emulator in-process), the work from `workflow`, `ops` and `export`, the words from
`render`. Errors propagate to `cli.main` as `IacError`s.

Each command imports what it uses when it runs, so `--help` and `validate` never load httpx,
the emulator or the apply machinery (a test pins it). `plan` and `apply` hand the workflow a
function that reads the desired files, so the live listing runs while they are read.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import threading
from argparse import ArgumentParser, Namespace
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ..errors import ConfigError, IacError, Problem, RefusedError, UsageError

if TYPE_CHECKING:
    import httpx

    from ..api.client import Connection, VoipbinClient
    from ..api.concurrency import LatencyObserver
    from ..core import render
    from ..core.model import ApplyResult, DesiredState, Plan
    from ..core.plan import PlanOptions
    from .app import Console

EMULATOR_KEY = "vb_emulator_demo"  # the same as `embedded.KEY` (kept here for importers)
EMULATOR_URL = "http://emulator.invalid/v1.0"
MAX_CONCURRENCY = 256  # a worker thread per write that may be in flight


def run(args: Namespace, console: Console, parser: ArgumentParser) -> int:
    if args.command == "completion":
        return completion(args, console, parser)
    handler = {
        "validate": validate, "plan": plan, "apply": apply, "export": export_, "import":
        import_, "rotate": rotate, "call": call, "signup": signup, "manifest": manifest,
        "schema": schema, "emulator": emulator,
    }[args.command]
    return handler(args, console)


# -- shared wiring ---------------------------------------------------------------------------

def _files(args: Namespace) -> list[str]:
    files = [*args.files, *args.more_files]
    if not files:
        raise UsageError(f"{args.command}: no desired-state file given",
                         hint=f"voipbin-iac {args.command} agents.yaml")
    return files


def _desired(files: list[str], console: Console, *,
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


def _reader(files: list[str], console: Console) -> Callable[[], DesiredState]:
    """The desired files as a function: the workflow reads them while the account is listed."""
    return lambda: _desired(files, console)


def _manifest_path(args: Namespace, files: list[str]) -> Path:
    if args.manifest:
        return Path(args.manifest)
    from ..state import manifest as manifests

    return manifests.path_for(files[-1])


@contextlib.contextmanager
def _client(args: Namespace, console: Console, *, observer: LatencyObserver | None = None,
            connections: int = 0) -> Iterator[tuple[VoipbinClient, str]]:
    """The client for the real API, or for the embedded emulator with `--emulator`."""
    _check_rate(args.rate_limit)
    timeout = args.timeout
    if not math.isfinite(timeout) or not 0 < timeout <= 3600:
        raise UsageError(f"--timeout {timeout:g}: give seconds, more than 0 and at most 3600")
    from ..api.client import Connection, VoipbinClient, connection_from_env
    from ..core.secret import Secret

    with contextlib.ExitStack() as stack:
        transport: httpx.BaseTransport | None = None
        if args.emulator:
            from . import embedded

            transport = embedded.open_transport(args.emulator_state, args.rate_limit or None,
                                                console.clock, stack)
            connection = Connection(EMULATOR_URL, Secret(EMULATOR_KEY))
            target = f"the embedded emulator ({args.emulator_state})"
        else:
            connection = connection_from_env(console.env, need_key=args.command != "signup")
            target = connection.base_url
        client = VoipbinClient(connection, transport=transport, clock=console.clock,
                               rate_limit=args.rate_limit or None, timeout=args.timeout,
                               redactor=console.redactor, observer=observer,
                               connections=connections)
        stack.callback(client.close)
        yield client, target


def _account(connection: Connection) -> str:
    from ..run import workflow

    return workflow.account_of(connection.base_url, connection.accesskey.reveal())


def _check_rate(rate: float) -> None:
    if not math.isfinite(rate) or (rate != 0 and not 0.01 <= rate <= 10_000):
        raise UsageError(f"--rate-limit {rate:g}: give requests per second between 0.01 and "
                         "10000, or 0 for no limit")


def _context(files: list[str], target: str, console: Console) -> render.Context:
    from ..core import render

    return render.Context(files=tuple(files), target=target, color=console.color)


def _options(args: Namespace) -> PlanOptions:
    from ..core.plan import PlanOptions

    return PlanOptions(prune=args.prune, targets=frozenset(args.target),
                       excludes=frozenset(args.exclude))


def _ask(console: Console, question: str) -> bool:
    if not console.interactive():
        raise RefusedError("no terminal to confirm on", hint="pass --yes to go ahead without "
                                                             "asking (as CI does)")
    console.stderr.write(f"{question} Only 'yes' goes ahead: ")
    console.stderr.flush()
    return console.stdin.readline().strip() == "yes"


# -- commands --------------------------------------------------------------------------------

def validate(args: Namespace, console: Console) -> int:
    files = _files(args)
    groups = [[f] for f in files] if args.each else [files]
    problems: list[Problem] = []
    for group in groups:
        try:
            state = _desired(group, console, missing_env_ok=args.allow_missing_env)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        console.out(f"ok: {', '.join(group)}: {len(state.agents)} agents, "
                    f"{len(state.warnings)} warnings\n")
    if problems:
        raise ConfigError(problems)
    return 0


@contextlib.contextmanager
def _files_first(read: Callable[[], DesiredState]) -> Iterator[None]:
    """Setting up the connection (or reading a saved plan) before the desired files are read:
    if that fails, the files are read first, so a problem in them is still what is reported
    (as when they were read before anything else)."""
    try:
        yield
    except IacError:
        read()
        raise


def plan(args: Namespace, console: Console) -> int:
    from ..core import render
    from ..run import workflow
    from ..state import savedplan

    files = _files(args)
    path = _manifest_path(args, files)
    read = _reader(files, console)
    with contextlib.ExitStack() as stack:
        with _files_first(read):
            client, target = stack.enter_context(_client(args, console))
        planned = workflow.plan(client, read, path, _options(args),
                                files_moved=args.files_moved, log=_logger())
        the_plan = planned.plan
        if args.out:
            assert planned.desired is not None
            savedplan.save(Path(args.out), the_plan, planned.desired, planned.manifest,
                           _options(args), _account(client.connection))
    ctx = _context(files, target, console)
    text = {"text": render.text, "markdown": render.markdown}.get(args.format)
    console.out(text(the_plan, ctx) if text else render.json_text(the_plan))
    if args.out:
        console.err(f"saved the plan to {args.out}; apply it with "
                    f"`voipbin-iac apply {' '.join(files)} --plan {args.out}`")
    return 2 if args.detailed_exitcode and the_plan.has_changes else 0


def apply(args: Namespace, console: Console) -> int:
    files = _files(args)
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
    from ..run import workflow
    from ..run.executor import ExecOptions
    from ..state import savedplan
    from .progress import ProgressLine

    read = _reader(files, console)
    limiter = AdaptiveConcurrency(args.rate_limit or None, args.concurrency,
                                  clock=console.clock)
    with contextlib.ExitStack() as stack:
        with _files_first(read):
            saved = savedplan.load(Path(args.plan)) if args.plan else None
            client, target = stack.enter_context(
                _client(args, console, observer=limiter, connections=args.concurrency))
        request = workflow.ApplyRequest(
            manifest_path=_manifest_path(args, files), options=_options(args), saved=saved,
            account=_account(client.connection), force=args.force,
            files_moved=args.files_moved,
            execution=ExecOptions(concurrency=args.concurrency, limiter=limiter))
        ctx = _context(files, target, console)

        progress = ProgressLine(console.stderr, console.clock, enabled=console.verbosity >= 0,
                                meter=limiter)
        with _interruptible(console) as interrupt:

            def confirm(the_plan: Plan) -> bool:
                shown = render.text(the_plan, ctx)
                (console.err if args.format == "json" else console.out)(shown)
                if args.yes or _ask(console, f"Apply these changes to {target}?"):
                    interrupt.running.set()
                    return True
                return False

            the_plan, result = workflow.apply(client, read, request, clock=console.clock,
                                              confirm=confirm, stop=interrupt.stop,
                                              progress=progress.update, log=_logger())
        progress.finish()
        if not the_plan.has_changes and args.format == "text":
            console.out(render.text(the_plan, ctx))
        if args.format == "json":
            console.out(json.dumps({"plan": json.loads(render.json_text(the_plan)),
                                    "result": json.loads(render.result_json(result))},
                                   indent=2) + "\n")
        elif the_plan.has_changes:
            console.out(render.result_text(result, ctx))
        if args.smoke and result.ok:
            _smoke(args, console, client, result)
    return 0 if result.ok else 1


def _smoke(args: Namespace, console: Console, client: VoipbinClient,
           result: ApplyResult) -> None:
    from ..run import ops
    from ..state import manifest as manifests

    manifest = manifests.read(Path(result.manifest_path))
    keys = sorted({o.change.key for o in result.outcomes
                   if o.status == "done" and o.change.action != "delete"})
    for key in keys:
        called = ops.call(client, manifest, Path(result.manifest_path), key, args.smoke_from)
        console.out(f"smoke: {key}: call {called.call_id} {called.status}"
                    + (f" ({called.hangup_reason})" if called.hangup_reason else "") + "\n")


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
def _interruptible(console: Console) -> Iterator[_Interrupt]:
    interrupt = _Interrupt(_fd(console.stderr))
    if threading.current_thread() is not threading.main_thread():
        yield interrupt
        return
    previous = signal.signal(signal.SIGINT, interrupt.handler)
    try:
        yield interrupt
    finally:
        signal.signal(signal.SIGINT, previous)


def export_(args: Namespace, console: Console) -> int:
    if args.out and Path(args.out).exists() and not args.overwrite:
        raise UsageError(f"{args.out} exists", hint="pass --overwrite to replace it")
    from ..core.model import Manifest
    from ..desired import config
    from ..run import export
    from ..run.livestate import read_live
    from ..state import manifest as manifests
    from ..state.files import write_atomic

    with _client(args, console) as (client, target):
        live = read_live(client, Manifest())
    out_files = (Path(args.out).name,) if args.out else ()
    result = export.export(live, target, out_files)
    for why in result.skipped:
        console.err(f"warning: not exported: {why}")
    if result.keys_hidden:
        console.err("note: no AI shows an engine key, so none is written: VoIPBin shows every "
                    "key it holds. If your platform hides them, add engine_key: ${env:...} to "
                    "the agents before apply, or an update will blank them")
    if not args.out:
        console.out(result.text)
        console.err("note: no manifest written; use --out FILE to write FILE and its manifest")
        return 0
    out = Path(args.out)
    write_atomic(out, result.text)
    manifests.write(manifests.path_for(out), result.manifest)
    teams = f" and {len(result.manifest.teams)} teams" if result.manifest.teams else ""
    console.err(f"exported {len(result.manifest.agents)} AIs{teams} to {out} and "
                f"{manifests.path_for(out)}")
    for var, keys in sorted(result.variables.items()):
        console.err(f"  set {var} to the engine key of {', '.join(keys)}")
    try:
        config.load([out], {var: "placeholder" for var in result.variables})
    except ConfigError as exc:
        console.err("warning: some live values are not accepted by voipbin-iac; edit them:")
        for line in exc.lines():
            console.err(f"  {line}")
    return 0


def _single_file_desired(args: Namespace, console: Console) -> DesiredState | None:
    path = Path(args.file)
    if not path.exists():
        console.err(f"warning: {path} does not exist; recording in its manifest anyway")
        return None
    return _desired([str(path)], console)


def import_(args: Namespace, console: Console) -> int:
    from ..run import ops

    desired = _single_file_desired(args, console)
    path = _manifest_path(args, [args.file])
    agent = desired.get(args.key) if desired else None
    with _client(args, console) as (client, _):
        done = ops.import_ai(client, path, args.key, args.id, agent,
                             mask=desired.mask if desired else str)
    verb = "already owned" if done.already else "now owns"
    noun = "AI" if done.kind == "agent" else done.kind
    console.out(f"{args.key} {verb} {noun} {done.entry.id} ({done.entry.name}): "
                f"{done.entry.sip_uri or 'no direct hash yet'}\n")
    if desired is not None and agent is None:
        console.err(f"warning: {args.key} is not in {args.file}: add it, or `apply --prune` "
                    "will delete this AI")
    return 0


def rotate(args: Namespace, console: Console) -> int:
    from ..run import ops
    from ..state import manifest as manifests

    path = _manifest_path(args, [args.file])
    _, entry = ops.owned_entry(manifests.read(path), path, args.key)
    if not args.yes and not _ask(console, f"Rotate {args.key}? {entry.sip_uri} stops working "
                                          "at once."):
        raise RefusedError("rotate cancelled; nothing was changed")
    with _client(args, console) as (client, _):
        done = ops.rotate(client, path, args.key)
    console.out(f"{args.key}: new SIP URI {done.new_uri}\n")
    console.err(f"warning: routing impact: {done.old_uri or '(none)'} stopped working; "
                "give callers the new URI")
    return 0


def call(args: Namespace, console: Console) -> int:
    from ..run import ops
    from ..state import manifest as manifests

    path = _manifest_path(args, [args.file])
    with _client(args, console) as (client, _):
        done = ops.call(client, manifests.read(path), path, args.key, args.source)
    reason = f" ({done.hangup_reason})" if done.hangup_reason else ""
    console.out(f"call {done.call_id} to {args.key} ({done.sip_uri}): {done.status}{reason}\n")
    return 0


def signup(args: Namespace, console: Console) -> int:
    from ..run import ops

    if not args.accept_tos:
        raise UsageError("VoIPBin requires accepting its terms of service",
                         hint="read them at https://voipbin.net and pass --accept-tos")
    with _client(args, console) as (client, target):
        done = ops.signup(client, args.email, args.name)
    console.stdout.write(f"export VOIPBIN_API_KEY={done.accesskey}\n")  # shown once, on purpose
    console.err(f"account created at {target} for {done.email} (customer {done.customer_id}). "
                "The accesskey above is shown once: keep it in your secret store. VoIPBin "
                "sends a verification email.")
    return 0


def manifest(args: Namespace, console: Console) -> int:
    from ..state import manifest as manifests

    path = _manifest_path(args, [args.file])
    if not path.exists():
        raise UsageError(f"no manifest at {path}", hint="run `voipbin-iac apply` first")
    console.out(manifests.render(manifests.read(path), args.format))
    return 0


def schema(args: Namespace, console: Console) -> int:
    from ..desired import schemacheck, schemadoc

    if args.markdown:
        console.out(schemadoc.markdown())
    else:
        console.out(schemacheck.schema_text("manifest" if args.manifest else "agents"))
    return 0


def emulator(args: Namespace, console: Console) -> int:
    _check_rate(args.rate_limit)
    from ..emulator import EmulatorConfig, EmulatorError, run_emulator

    try:
        cfg = EmulatorConfig(rate_limit=args.rate_limit or None, latency_ms=args.latency_ms,
                             fault_rate=args.fault_rate, seed=args.seed)
    except ValueError as exc:
        raise UsageError(f"emulator: {exc}") from None
    try:
        return run_emulator(args.host, args.port, args.state, args.accesskey, cfg,
                            console.stdout, clock=console.clock)
    except (OSError, ValueError, EmulatorError) as exc:
        raise IacError(f"emulator: {exc}") from None


def completion(args: Namespace, console: Console, parser: ArgumentParser) -> int:
    from .completion import script as completion_script

    console.out(completion_script(parser, args.shell))
    return 0


def _logger() -> logging.Logger:
    return logging.getLogger("voipbin_iac")
