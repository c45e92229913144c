"""One function per CLI command: parse nothing, print through the console, return an exit code.

Wiring only: the desired state comes from `config`, the client from here (the real API or the
embedded emulator in-process), the work from `workflow`, `ops` and `export`, the words from
`render`. Errors propagate to `cli.main` as `IacError`s.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import threading
import uuid
from argparse import ArgumentParser, Namespace
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ..api.client import Connection, VoipbinClient, connection_from_env
from ..core import render
from ..core.model import DesiredState, Manifest, Plan
from ..core.plan import PlanOptions
from ..core.secret import Secret
from ..core.visible import visible
from ..desired import config, overlays, schemacheck, schemadoc
from ..emulator import (
    EmulatorApp,
    EmulatorConfig,
    EmulatorError,
    EmulatorTransport,
    Store,
    assistant,
    run_emulator,
)
from ..errors import ConfigError, IacError, LockError, Problem, RefusedError, UsageError
from ..run import export, ops, workflow
from ..run.executor import ExecOptions
from ..run.livestate import read_live
from ..state import manifest as manifests
from ..state import savedplan
from ..state.files import write_atomic
from ..state.lease import AccountLease, LeaseGuard
from . import invocation, testcmd
from .completion import keys as completion_keys
from .completion import script as completion_script
from .locking import account_lease, lease_settings
from .progress import ProgressLine

if TYPE_CHECKING:
    from .app import Console

EMULATOR_KEY = "vb_emulator_demo"
EMULATOR_URL = "http://emulator.invalid/v1.0"


def run(args: Namespace, console: Console, parser: ArgumentParser) -> int:
    if args.command == "completion":
        return completion(args, console, parser)
    handler = {
        "validate": validate, "plan": plan, "apply": apply, "export": export_, "import":
        import_, "rotate": rotate, "call": call, "signup": signup, "manifest": manifest,
        "schema": schema, "emulator": emulator, "test": test,
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
    state = config.load(files, console.env, missing_env_ok=missing_env_ok)
    for agent in state.agents.values():
        console.redactor.add(agent.fields["engine_key"])
    for name, value in state.env_used.items():
        console.redactor.add(value, label=f"${{env:{name}}}")
    for warning in state.warnings:
        console.err(f"warning: {warning}")
    return state


def _manifest_path(args: Namespace, files: list[str],
                   desired: DesiredState | None = None) -> Path:
    return invocation.manifest_path(args, files, desired)  # a file of only `tests:` names none


def _begin(args: Namespace, console: Console, files: list[str],
           desired: DesiredState | None = None, *, saved_plan: str | None = None) -> None:
    """What the command works on: hints repeat it, and the emulator's state is found from it."""
    console.invocation = invocation.of(args, files, saved_plan=saved_plan)
    args.state_path = invocation.emulator_state(args, files, desired)


@contextlib.contextmanager
def _client(args: Namespace, console: Console) -> Iterator[tuple[VoipbinClient, str]]:
    """The client for the real API, or for the embedded emulator with `--emulator`."""
    _check_rate(args.rate_limit)
    timeout = args.timeout
    if not math.isfinite(timeout) or not 0 < timeout <= 3600:
        raise UsageError(f"--timeout {timeout:g}: give seconds, more than 0 and at most 3600")
    with contextlib.ExitStack() as stack:
        transport = None
        if args.emulator:
            state = getattr(args, "state_path", None) or invocation.emulator_state(args, [])
            try:
                store = Store.open(state, clock=console.clock)
            except EmulatorError as exc:
                raise IacError(f"emulator state {state}: {exc}",
                               hint="point --emulator-state at a new file, or delete the "
                                    "damaged one") from None
            stack.callback(store.close)
            store.ensure_accesskey(EMULATOR_KEY)
            # The embedded platform enforces the rate the client is told to keep.
            limits = EmulatorConfig(rate_limit=args.rate_limit or None,
                                    assistant=_assistant(getattr(args, "assistant_script", None)))
            transport = EmulatorTransport(EmulatorApp(store, limits, console.clock))
            connection = Connection(EMULATOR_URL, Secret(EMULATOR_KEY))
            target = f"the embedded emulator ({state})"
        else:
            connection = connection_from_env(console.env, need_key=args.command != "signup")
            target = connection.base_url
        client = VoipbinClient(connection, transport=transport, clock=console.clock,
                               rate_limit=args.rate_limit or None, timeout=args.timeout,
                               redactor=console.redactor)
        stack.callback(client.close)
        yield client, target


def _account(connection: Connection) -> str:
    return workflow.account_of(connection.base_url, connection.accesskey.reveal())


def _assistant(path: str | None) -> assistant.AssistantScript | None:
    """The emulator assistant's script (`--assistant-script`), checked, or None."""
    return assistant.load(path) if path else None


def _check_rate(rate: float) -> None:
    if not math.isfinite(rate) or (rate != 0 and not 0.01 <= rate <= 10_000):
        raise UsageError(f"--rate-limit {rate:g}: give requests per second between 0.01 and "
                         "10000, or 0 for no limit")


def _context(files: list[str], target: str, console: Console, *,
             artifact: bool = False) -> render.Context:
    """How to render for this console; `artifact`: where the full plan is when a Markdown
    plan is cut to fit a pull-request comment (the CI run's artifact, or the command)."""
    full = ""
    if artifact:
        full = render.full_plan_note(console.env, console.invocation.command("plan"))
    return render.Context(files=tuple(files), target=target, color=console.color,
                          full_plan=full)


def _options(args: Namespace) -> PlanOptions:
    return PlanOptions(prune=args.prune, targets=frozenset(args.target),
                       excludes=frozenset(args.exclude))


def _ask(console: Console, question: str) -> bool:
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


# -- commands --------------------------------------------------------------------------------

def validate(args: Namespace, console: Console) -> int:
    files = _files(args)
    _begin(args, console, files)
    problems: set[Problem] = set()
    shown: set[str] = set()
    for group in overlays.groups(files, args.base, each=args.each):
        try:
            state = config.load(group, console.env, missing_env_ok=args.allow_missing_env)
            suite = None if args.each else testcmd.check_tests(group, console, state,
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
        tests = f"{render.plural(len(suite.tests), 'test')}, " if suite and suite.tests else ""
        teams = f"{render.plural(len(state.teams), 'team')}, " if state.teams else ""
        console.out(f"ok: {', '.join(visible(f) for f in group)}: "
                    f"{render.plural(len(state.agents), 'agent')}, {teams}{tests}"
                    f"{render.plural(len(state.warnings), 'warning')}\n")
    if problems:
        raise ConfigError(sorted(problems))
    return 0


def plan(args: Namespace, console: Console) -> int:
    files = _files(args)
    desired = _desired(files, console)
    _begin(args, console, files, desired)
    path = _manifest_path(args, files, desired)
    with _client(args, console) as (client, target):
        planned = workflow.plan(client, desired, path, _options(args),
                                files_moved=args.files_moved, log=_logger())
        the_plan = planned.plan
        if args.out:
            recorded = savedplan.Recorded(tuple(files), str(path),
                                          args.state_path if args.emulator else None)
            savedplan.save(Path(args.out), the_plan, desired, planned.manifest, _options(args),
                           _account(client.connection), recorded)
    ctx = _context(files, target, console, artifact=True)
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
    if args.plan and (args.prune or args.target or args.exclude):
        raise UsageError("--plan applies the saved plan as it is: --prune, --target and "
                         "--exclude belong to the `plan --out` that made it")
    console.invocation = invocation.of(args, [*args.files, *args.more_files],
                                       saved_plan=args.plan)
    saved = savedplan.load(Path(args.plan)) if args.plan else None
    files = invocation.from_saved_plan(args, saved) if saved else _files(args)
    settings = lease_settings(args)
    desired = _desired(files, console)
    _begin(args, console, files, desired, saved_plan=args.plan)
    with _client(args, console) as (client, target):
        ctx = _context(files, target, console)
        lease = account_lease(args, settings, console, client, files)
        request = workflow.ApplyRequest(
            manifest_path=_manifest_path(args, files, desired), options=_options(args),
            saved=saved, account=_account(client.connection), force=args.force,
            files_moved=args.files_moved, execution=ExecOptions(concurrency=args.concurrency),
            account_lock=None if lease is None else (lambda: lease))
        line = ProgressLine(console.stderr, console.clock, enabled=console.verbosity >= 0)

        def progress(done: int, total: int) -> None:
            if lease is not None:
                lease.beat_if_due()  # heartbeats on the write path too (see `lease`)
            line.update(done, total)

        with _interruptible(console, lease) as interrupt:

            def confirm(the_plan: Plan) -> bool:
                if not (args.yes and console.quiet):  # -q --yes: the summary says it
                    shown = console.invocation.complete(render.text(the_plan, ctx))
                    (console.err if args.format == "json" else console.out)(shown)
                if args.yes or _ask(console, f"Apply these changes to {target}?"):
                    interrupt.running.set()
                    return True
                return False

            the_plan, result = workflow.apply(client, desired, request, clock=console.clock,
                                              confirm=confirm, stop=interrupt.stop,
                                              progress=progress, log=_logger())
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
    interrupt = _Interrupt(_fd(console.stderr),
                           stop=threading.Event() if lease is None else LeaseGuard(lease))
    if threading.current_thread() is not threading.main_thread():
        yield interrupt
        return
    previous = signal.signal(signal.SIGINT, interrupt.handler)
    try:
        yield interrupt
    finally:
        signal.signal(signal.SIGINT, previous)


def export_(args: Namespace, console: Console) -> int:
    _begin(args, console, [])
    if args.out and Path(args.out).exists() and not args.overwrite:
        raise UsageError(f"{args.out} exists", hint="pass --overwrite to replace it")
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


def _option_files(args: Namespace, console: Console) -> tuple[list[str], DesiredState | None]:
    """The `-f` files of a single-key command and, when they all exist, their desired state."""
    files = invocation.option_files(args)
    missing = [f for f in files if not Path(f).exists()]
    desired = None
    if missing:
        console.err(f"warning: {', '.join(missing)} does not exist; recording in "
                    f"{_manifest_path(args, files)} anyway")
    else:
        desired = _desired(files, console)
    _begin(args, console, files, desired)
    return files, desired


def import_(args: Namespace, console: Console) -> int:
    files, desired = _option_files(args, console)
    path = _manifest_path(args, files, desired)
    agent = desired.get(args.key) if desired else None
    with _client(args, console) as (client, _):
        done = ops.import_ai(client, path, args.key, args.id, agent,
                             mask=desired.mask if desired else str)
    verb = "already owned" if done.already else "now owns"
    noun = "AI" if done.kind == "agent" else done.kind
    console.out(f"{args.key} {verb} {noun} {done.entry.id} ({done.entry.name}): "
                f"{done.entry.sip_uri or 'no direct hash yet'}\n")
    if desired is not None and agent is None:
        console.err(f"warning: {args.key} is not in {', '.join(files)}: add it, or "
                    f"`voipbin-iac apply --prune` will delete this {noun}")
    return 0


def rotate(args: Namespace, console: Console) -> int:
    settings = lease_settings(args)
    files = invocation.option_files(args)
    _begin(args, console, files)
    path = _manifest_path(args, files)
    _, entry = ops.owned_entry(manifests.read(path), path, args.key)
    if not args.yes and not _ask(console, f"Rotate {args.key}? {entry.sip_uri} stops working "
                                          "at once."):
        raise RefusedError("rotate cancelled; nothing was changed")
    with _client(args, console) as (client, _):
        lease = account_lease(args, settings, console, client, files)
        done = ops.rotate(client, path, args.key,
                          account_lock=None if lease is None else (lambda: lease))
    console.out(f"{args.key}: new SIP URI {done.new_uri}\n")
    console.err(f"warning: routing impact: {done.old_uri or '(none)'} stopped working; "
                "give callers the new URI")
    return 0


def _call_line(key: str, done: ops.Called) -> str:
    reason = f" ({done.hangup_reason})" if done.hangup_reason else ""
    answered = ", answered" if done.answered else ""
    return f"call {done.call_id} to {key} ({done.sip_uri}): {done.status}{reason}{answered}"


def call(args: Namespace, console: Console) -> int:
    """Exit 0 when VoIPBin reports the call answered, 1 otherwise."""
    files = invocation.option_files(args)
    _begin(args, console, files)
    path = _manifest_path(args, files)
    with _client(args, console) as (client, _):
        done = ops.call(client, manifests.read(path), path, args.key, args.source,
                        clock=console.clock)
    console.out(_call_line(args.key, done) + "\n")
    for note in ops.call_notes(done):
        console.err(f"note: {note}")
    return 0 if done.answered else 1


def signup(args: Namespace, console: Console) -> int:
    if not args.accept_tos:
        raise UsageError("VoIPBin requires accepting its terms of service",
                         hint="read them at https://voipbin.net and pass --accept-tos")
    _begin(args, console, [])
    with _client(args, console) as (client, target):
        done = ops.signup(client, args.email, args.name)
    console.stdout.write(f"export VOIPBIN_API_KEY={done.accesskey}\n")  # shown once, on purpose
    expires = f" (until {done.key_expires})" if done.key_expires else ""
    console.err(f"account created at {target} for {done.email} (customer {done.customer_id}, "
                f"status {done.status or 'unknown'}). The accesskey above is shown once: keep "
                f"it in your secret store. It works at once{expires}.")
    if not done.email_verified:
        console.err(f"next: open the verification email VoIPBin sent to {done.email} and follow "
                    "its link within the hour. Until then every call fails (500); an account "
                    "still unverified after an hour is expired.")
    console.err("calls to phone numbers also need VoIPBin's identity verification and numbers "
                "on the account's PSTN whitelist (it starts empty); SIP URIs need neither.")
    return 0


def manifest(args: Namespace, console: Console) -> int:
    files = invocation.option_files(args)
    _begin(args, console, files)
    path = _manifest_path(args, files)
    if not path.exists():
        raise UsageError(f"no manifest at {path}", hint="run `voipbin-iac apply` first")
    console.out(manifests.render(manifests.read(path), args.format))
    return 0


def schema(args: Namespace, console: Console) -> int:
    if args.markdown:
        console.out(schemadoc.markdown())
    else:
        console.out(schemacheck.schema_text("manifest" if args.manifest else "agents"))
    return 0


def emulator(args: Namespace, console: Console) -> int:
    _check_rate(args.rate_limit)
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: give a TCP port from 0 to 65535 (0 picks a "
                         "free one)")
    for rag in args.rag:
        try:
            uuid.UUID(rag)
        except ValueError:
            raise UsageError(f"--rag {rag!r} is not a UUID",
                             hint="give the id of a VoIPBin RAG knowledge base, such as "
                                  "3f2504e0-4f89-11d3-9a0c-0305e82c3301") from None
    try:
        cfg = EmulatorConfig(rate_limit=args.rate_limit or None, latency_ms=args.latency_ms,
                             fault_rate=args.fault_rate, seed=args.seed,
                             unverified_signups=args.unverified_signups,
                             assistant=_assistant(args.assistant_script))
    except ValueError as exc:
        raise UsageError(f"emulator: {exc}") from None
    try:
        return run_emulator(args.host, args.port, args.state, args.accesskey, cfg,
                            console.stdout, clock=console.clock, rags=args.rag)
    except (OSError, OverflowError, ValueError, EmulatorError) as exc:
        raise IacError(f"emulator: {exc}") from None


def test(args: Namespace, console: Console) -> int:
    return testcmd.test(args, console, connect=_client, load=_desired)


def completion(args: Namespace, console: Console, parser: ArgumentParser) -> int:
    if args.shell == "keys":
        console.out("".join(f"{key}\n" for key in completion_keys(args.files or
                                                                  [invocation.DEFAULT_FILE])))
    elif args.files:
        raise UsageError(f"completion {args.shell} takes no FILE",
                         hint="voipbin-iac completion keys FILE... prints keys")
    else:
        console.out(completion_script(parser, args.shell))
    return 0


def _logger() -> logging.Logger:
    return logging.getLogger("voipbin_iac")
