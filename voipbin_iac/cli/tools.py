"""The commands besides validate, plan and apply: export, import, rotate, call, signup,
manifest, schema, emulator and completion. Each imports what it uses when it runs.
"""

from __future__ import annotations

import uuid
from argparse import ArgumentParser, Namespace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, IacError, RefusedError, UsageError
from . import invocation, wiring

if TYPE_CHECKING:
    from ..core.model import DesiredState
    from .app import Console


def export_(args: Namespace, console: Console) -> int:
    wiring.begin(args, console, [])
    if args.out and Path(args.out).exists() and not args.overwrite:
        raise UsageError(f"{args.out} exists", hint="pass --overwrite to replace it")
    from ..core.model import Manifest
    from ..core.render import plural
    from ..desired import config
    from ..run import export
    from ..run.livestate import read_live
    from ..state import manifest as manifests
    from ..state.files import write_atomic

    with wiring.client_for(args, console) as (client, target):
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
    teams = f" and {plural(len(result.manifest.teams), 'team')}" if result.manifest.teams else ""
    console.err(f"exported {plural(len(result.manifest.agents), 'AI')}{teams} to {out} and "
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
    wiring.begin(args, console, files)
    missing = [f for f in files if not Path(f).exists()]
    if missing:
        console.err(f"warning: {', '.join(missing)} does not exist; recording in "
                    f"{invocation.manifest_path(args, files)} anyway")
        return files, None
    return files, wiring.read_desired(files, console)


def _manifest_of(args: Namespace, console: Console) -> tuple[list[str], Path]:
    """The `-f` files of a single-key command that reads no desired state, and their manifest."""
    files = invocation.option_files(args)
    wiring.begin(args, console, files)
    return files, invocation.manifest_path(args, files)


def import_(args: Namespace, console: Console) -> int:
    from ..run import ops

    files, desired = _option_files(args, console)
    path = invocation.manifest_path(args, files)
    agent = desired.get(args.key) if desired else None
    with wiring.client_for(args, console) as (client, _):
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
    from ..run import ops
    from ..state import manifest as manifests

    files, path = _manifest_of(args, console)
    _, entry = ops.owned_entry(manifests.read(path), path, args.key)
    question = f"Rotate {args.key}? {entry.sip_uri} stops working at once."
    if not args.yes and not wiring.ask(console, question):
        raise RefusedError("rotate cancelled; nothing was changed")
    from .locking import account_lease, lease_settings

    settings = lease_settings(args)
    with wiring.client_for(args, console) as (client, _):
        lease = account_lease(args, settings, console, client, files)
        done = ops.rotate(client, path, args.key,
                          account_lock=None if lease is None else (lambda: lease))
    console.out(f"{args.key}: new SIP URI {done.new_uri}\n")
    console.err(f"warning: routing impact: {done.old_uri or '(none)'} stopped working; "
                "give callers the new URI")
    return 0


def call(args: Namespace, console: Console) -> int:
    """Exit 0 when VoIPBin reports the call answered, 1 otherwise."""
    from ..run import ops
    from ..state import manifest as manifests

    _, path = _manifest_of(args, console)
    with wiring.client_for(args, console) as (client, _):
        done = ops.call(client, manifests.read(path), path, args.key, args.source,
                        clock=console.clock)
    reason = f" ({done.hangup_reason})" if done.hangup_reason else ""
    answered = ", answered" if done.answered else ""
    console.out(f"call {done.call_id} to {args.key} ({done.sip_uri}): {done.status}{reason}"
                f"{answered}\n")
    for note in ops.call_notes(done):
        console.err(f"note: {note}")
    return 0 if done.answered else 1


def signup(args: Namespace, console: Console) -> int:
    from ..run import ops

    if not args.accept_tos:
        raise UsageError("VoIPBin requires accepting its terms of service",
                         hint="read them at https://voipbin.net and pass --accept-tos")
    wiring.begin(args, console, [])
    with wiring.client_for(args, console) as (client, target):
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
    from ..state import manifest as manifests

    _, path = _manifest_of(args, console)
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
    wiring.check_rate(args.rate_limit)
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
    from ..emulator import EmulatorConfig, EmulatorError, run_emulator

    try:
        cfg = EmulatorConfig(rate_limit=args.rate_limit or None, latency_ms=args.latency_ms,
                             fault_rate=args.fault_rate, seed=args.seed,
                             unverified_signups=args.unverified_signups,
                             assistant=wiring.assistant_script(args.assistant_script))
    except ValueError as exc:
        raise UsageError(f"emulator: {exc}") from None
    try:
        return run_emulator(args.host, args.port, args.state, args.accesskey, cfg,
                            console.stdout, clock=console.clock, rags=args.rag)
    except (OSError, OverflowError, ValueError, EmulatorError) as exc:
        raise IacError(f"emulator: {exc}") from None


def test(args: Namespace, console: Console) -> int:
    from . import testcmd

    return testcmd.test(args, console)


def completion(args: Namespace, console: Console, parser: ArgumentParser) -> int:
    from . import completion as complete

    if args.shell == "keys":
        console.out("".join(f"{key}\n" for key in complete.keys(args.files or
                                                                [invocation.DEFAULT_FILE])))
    elif args.files:
        raise UsageError(f"completion {args.shell} takes no FILE",
                         hint="voipbin-iac completion keys FILE... prints keys")
    else:
        console.out(complete.script(parser, args.shell))
    return 0
