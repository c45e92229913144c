"""The command line: argparse, the console, and the one place errors become exit codes.

Exit codes: 0 success; 1 error or refusal; 2 changes present (`plan --detailed-exitcode`); 3 a
conversation test failed (`test`, `apply --smoke`). Building the parser imports nothing beyond
the standard library and the error types, so `--help` starts fast; each command imports what it
needs (`commands`).
Every expected failure is an `IacError` and prints as `error: ...` lines plus a `hint:`; a
traceback means a bug. Everything printed passes through the redactor first.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from .. import __version__
from ..api.redact import RedactingFilter, Redactor
from ..core.clock import Clock, SystemClock
from ..errors import IacError, UsageError
from .invocation import Invocation

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_TEST_FAILED = 0, 1, 2, 3
# A command holds its desired state and live state (tens of thousands of objects per 1,000
# agents) until it ends, and makes little cyclic garbage: with the default thresholds the
# cyclic collector walked all of it again and again, a quarter of a 10,000-agent plan's CPU.
GC_THRESHOLDS = (50_000, 20, 100)
# `state.manifest.FORMATS` and `api.concurrency.DEFAULT_CEILING`, spelled out so that building
# the parser imports nothing heavy (tests/test_startup.py checks that they agree).
MANIFEST_FORMATS = ("yaml", "json", "env", "csv")
DEFAULT_CONCURRENCY = 32
# `cli.testcmd.SMOKE_FROM_DEFAULT`, for the same reason.
SMOKE_FROM_DEFAULT = "sip:voipbin-iac@example.com"


@dataclass
class Console:
    """Streams, environment and settings of one invocation."""

    stdout: TextIO
    stderr: TextIO
    stdin: TextIO
    env: Mapping[str, str]
    clock: Clock
    redactor: Redactor = field(default_factory=Redactor)
    verbosity: int = 0
    color: bool = False
    # What the command works on: every command a message suggests repeats it (see `invocation`).
    invocation: Invocation = field(default_factory=Invocation)

    @property
    def quiet(self) -> bool:
        """`-q`: the summary and failures only."""
        return self.verbosity < 0

    def out(self, text: str) -> None:
        """stdout as it is (machine formats: JSON, YAML, a manifest)."""
        self.stdout.write(self.redactor(text))
        self.stdout.flush()

    def show(self, text: str) -> None:
        """stdout for people (a plan, a result): suggested commands completed."""
        self.out(self.invocation.complete(text))

    def err(self, text: str) -> None:
        if self.verbosity >= 0 or text.startswith(("error:", "hint:")):
            text = self.invocation.complete(text)
            self.stderr.write(self.redactor(text if text.endswith("\n") else text + "\n"))
            self.stderr.flush()

    def interactive(self) -> bool:
        return _isatty(self.stdin) and _isatty(self.stderr)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad usage; 2 means "changes present" here, so exit 1 instead."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}", hint=f"see `{self.prog} --help`")


def _common(p: argparse.ArgumentParser, prefix: str = "") -> None:
    """-v, -q and --no-color; on the top-level parser too (`prefix` keeps them apart there),
    so they work before or after the command."""
    p.add_argument("-v", "--verbose", dest=f"{prefix}verbose", action="count", default=0,
                   help="more detail on stderr (-vv: every request)")
    p.add_argument("-q", "--quiet", dest=f"{prefix}quiet", action="store_true",
                   help="only the summary and failures")
    p.add_argument("--no-color", dest=f"{prefix}no_color", action="store_true",
                   help="no colour (also: NO_COLOR=1)")


_EPILOG = """\
-v, -q and --no-color also work after the command.

environment:
  VOIPBIN_API_KEY         the account's accesskey (never on the command line)
  VOIPBIN_API_BASE_URL    the API, default https://api.voipbin.net/v1.0 (the emulator's:
                          http://127.0.0.1:8900/v1.0)
  VOIPBIN_AUTH_TRANSPORT  cookie (default) or query
  NO_COLOR                no colour
  ${env:NAME} in a desired-state file reads NAME.

exit codes:
  0  success (plan --detailed-exitcode: no changes)
  1  an error, a refusal, or an apply in which a change failed
  2  plan --detailed-exitcode: there are changes
  3  test: a conversation test failed; apply --smoke: an agent did not answer

Try it without an account: voipbin-iac apply examples/agents.yaml --emulator --yes
"""


def _connection(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("connection (VOIPBIN_API_KEY, VOIPBIN_API_BASE_URL, "
                             "VOIPBIN_AUTH_TRANSPORT)")
    g.add_argument("--emulator", action="store_true",
                   help="use the embedded VoIPBin emulator instead of the real API")
    g.add_argument("--emulator-state", metavar="PATH",
                   help="the emulator's SQLite state (default: .voipbin-emulator.sqlite3 "
                        "beside the desired file)")
    g.add_argument("--rate-limit", metavar="RPS", type=float, default=16.7,
                   help="client-side requests per second (default: the platform's 16.7)")
    g.add_argument("--timeout", metavar="SECONDS", type=float, default=30.0,
                   help="per-request timeout (default: %(default)s)")


def _files(p: argparse.ArgumentParser, manifest: bool = True) -> None:
    p.add_argument("files", nargs="*", metavar="FILE", help="desired-state file(s), merged in "
                   "order (later files override earlier ones)")
    p.add_argument("-f", "--file", dest="more_files", action="append", default=[],
                   metavar="FILE", help="another desired-state file (repeatable)")
    if manifest:
        p.add_argument("--manifest", metavar="PATH",
                       help="manifest path (default: <last file stem>.manifest.yaml beside it)")


def _moved_files(p: argparse.ArgumentParser) -> None:
    p.add_argument("--files-moved", action="store_true",
                   help="the desired files were renamed or reorganised: use the manifest that "
                        "records other files, and record the new list")


def _scope(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prune", action="store_true",
                   help="delete owned agents and teams whose key left the file (never "
                        "protected ones)")
    p.add_argument("--target", action="append", default=[], metavar="KEY",
                   help="only this agent or team (repeatable)")
    p.add_argument("--exclude", action="append", default=[], metavar="KEY",
                   help="leave this agent or team alone (repeatable)")


_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)?$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration(text: str) -> float:
    """Seconds in `90`, `90s`, `1.5m`, `500ms` or `2h` (an argparse type)."""
    match = _DURATION.match(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 30s, 10m or 1h")
    return float(match.group(1)) * _UNIT[match.group(2) or "s"]


def _lease(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("account lock (a lease kept on the VoIPBin account; see README: "
                             "Locking)")
    g.add_argument("--lock-timeout", metavar="DURATION", type=duration, default=0.0,
                   help="wait up to DURATION (30s, 10m) for another apply that holds the "
                        "account lock (default 0: refuse at once)")
    g.add_argument("--lock-ttl", metavar="DURATION", type=duration, default=60.0,
                   help="how long the lock lives without a heartbeat before another run may "
                        "take it over (default 60s)")
    g.add_argument("--no-account-lock", action="store_true",
                   help="do not lock the account (two machines applying at once may then "
                        "duplicate agents)")


def _one_file(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--file", action="append", metavar="FILE",
                   help="a desired-state file (repeatable, as for plan: base.yaml then "
                        "prod.yaml; default: agents.yaml)")
    p.add_argument("--manifest", metavar="PATH",
                   help="manifest path (default: beside the last FILE)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="voipbin-iac", description="Declarative provisioning of VoIPBin AI "
                     "voice agents: plan, apply, and a manifest of Direct Hash SIP URIs.",
                     epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"voipbin-iac {__version__}")
    _common(parser, prefix="global_")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("validate", help="offline checks of desired-state files")
    _files(p, manifest=False)
    p.add_argument("--each", action="store_true",
                   help="check each file as its own environment instead of all merged (for "
                        "pre-commit): merged over the --base files, or over a base.yaml beside it")
    p.add_argument("--base", action="append", default=[], metavar="FILE",
                   help="a base that the files are overlays of: merged under each of them "
                        "(repeatable; with --each, a base.yaml beside each file otherwise)")
    p.add_argument("--allow-missing-env", action="store_true",
                   help="an unset ${env:...} is a warning, not an error (no secrets at hand)")
    _common(p)

    p = sub.add_parser("plan", help="show what apply would change (read-only)")
    _files(p)
    _scope(p)
    _moved_files(p)
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    p.add_argument("--out", metavar="PLAN", help="save the plan for `apply --plan`")
    p.add_argument("--detailed-exitcode", action="store_true",
                   help="exit 2 when there are changes, 0 when there are none")
    _connection(p)
    _common(p)

    p = sub.add_parser("apply", help="make the account match the desired state")
    _files(p)
    _scope(p)
    _moved_files(p)
    p.add_argument("--plan", metavar="PLAN", help="apply exactly this saved plan")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--force", action="store_true", help="go past the safety threshold")
    p.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, metavar="N",
                   help="at most N writes in flight; within that the number follows latency "
                        "and the rate limit (default: %(default)s)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--smoke", action="store_true",
                   help="after apply, say \"hello\" in a text conversation to each created or "
                        "changed agent; exit 3 if one does not answer")
    p.add_argument("--smoke-from", metavar="ADDRESS", default=SMOKE_FROM_DEFAULT,
                   help=argparse.SUPPRESS)  # --smoke placed a call once; kept for old scripts
    _lease(p)
    _connection(p)
    _common(p)

    p = sub.add_parser("export", help="the account's AIs and teams as a desired-state file and "
                                      "manifest")
    p.add_argument("--out", metavar="FILE", help="write FILE and its manifest (default: stdout)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    _connection(p)
    _common(p)

    p = sub.add_parser("import", help="record an existing AI or team as owned by KEY")
    p.add_argument("key", metavar="KEY")
    p.add_argument("id", metavar="ID")
    _one_file(p)
    _connection(p)
    _common(p)

    p = sub.add_parser("rotate", help="give KEY a new direct hash (the old SIP URI stops)")
    p.add_argument("key", metavar="KEY")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _one_file(p)
    _lease(p)
    _connection(p)
    _common(p)

    p = sub.add_parser("call", help="place a test call to KEY's SIP URI")
    p.add_argument("key", metavar="KEY")
    p.add_argument("--from", dest="source", required=True, metavar="ADDRESS",
                   help="caller: sip:user@host or tel:+15551234567")
    _one_file(p)
    _connection(p)
    _common(p)

    p = sub.add_parser("signup", help="create a VoIPBin account; prints its accesskey once")
    p.add_argument("--email", required=True)
    p.add_argument("--name")
    p.add_argument("--accept-tos", action="store_true", help="accept VoIPBin's terms of service")
    _connection(p)
    _common(p)

    p = sub.add_parser("test", help="run the conversation tests (`tests:`) against the agents")
    _files(p)
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help="only this test (repeatable)")
    p.add_argument("--format", choices=("text", "json", "junit", "markdown"), default="text")
    p.add_argument("--out", metavar="PATH", help="write the report in --format to PATH (the "
                   "text report still goes to stdout)")
    p.add_argument("--concurrency", type=int, default=4, metavar="N",
                   help="tests running at once (default: %(default)s)")
    p.add_argument("--assistant-script", metavar="FILE",
                   help="with --emulator: what the emulator's stand-in assistant answers")
    _connection(p)
    _common(p)

    p = sub.add_parser("manifest", help="print the manifest for other tools")
    _one_file(p)
    p.add_argument("--format", choices=MANIFEST_FORMATS, default="yaml")
    _common(p)

    p = sub.add_parser("schema", help="print the JSON Schema of the desired-state file")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--manifest", action="store_true", help="the manifest's schema instead")
    what.add_argument("--markdown", action="store_true",
                      help="the YAML reference in Markdown, generated from the schema")
    _common(p)

    p = sub.add_parser("emulator", help="serve the VoIPBin emulator over HTTP")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8900)
    p.add_argument("--state", default="emulator.sqlite3", metavar="FILE")
    p.add_argument("--accesskey", action="append", default=[], metavar="KEY",
                   help="an accepted accesskey, one customer each (repeatable)")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--fault-rate", type=float, default=0.0)
    p.add_argument("--rate-limit", type=float, default=16.7, metavar="RPS",
                   help="per-customer limit (0: none; default: the platform's 16.7)")
    p.add_argument("--seed", type=int)
    p.add_argument("--unverified-signups", action="store_true",
                   help="start signed-up customers unverified, as the platform does: calls "
                        "fail until the email is verified, and the customer expires after an "
                        "hour (default: the emulator, which sends no email, verifies at once)")
    p.add_argument("--rag", action="append", default=[], metavar="ID",
                   help="a RAG knowledge base id the first accesskey's customer owns, so AIs "
                        "may name it in rag_id (repeatable; the emulator has no RAG API)")
    p.add_argument("--assistant-script", metavar="FILE",
                   help="what the stand-in assistant answers in text conversations")
    _common(p)

    p = sub.add_parser("completion", help="print a shell completion script")
    p.add_argument("shell", choices=("bash", "zsh", "keys"),
                   help="the shell; `keys` prints the agent and team keys of the files (what "
                        "the script completes KEY, --target and --exclude with)")
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="with keys: desired-state files (default: agents.yaml)")
    return parser


class _ConsoleHandler(logging.Handler):
    """Log records as console lines: `warning: ...` like every other line (`plain` records,
    such as the client's retry announcements, without a prefix)."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except (TypeError, ValueError):
            text = str(record.msg)
        if not getattr(record, "plain", False):
            text = f"{record.levelname.lower()}: {text}"
        self.console.err(text)


def _logging(console: Console) -> logging.Handler:
    handler = _ConsoleHandler(console)
    handler.addFilter(RedactingFilter(console.redactor))
    logger = logging.getLogger("voipbin_iac")
    logger.handlers = [handler]
    logger.propagate = False
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}
    logger.setLevel(level.get(console.verbosity, logging.DEBUG))
    return handler


def main(argv: Sequence[str] | None = None, *, stdin: TextIO | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None,
         env: Mapping[str, str] | None = None, clock: Clock | None = None) -> int:
    """Run one command; return its exit code."""
    console = Console(stdout or sys.stdout, stderr or sys.stderr, stdin or sys.stdin,
                      dict(os.environ if env is None else env), clock or SystemClock())
    key = console.env.get("VOIPBIN_API_KEY", "")
    console.redactor.add(key)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(console.stdout)
            return EXIT_ERROR
        quiet = getattr(args, "quiet", False) or args.global_quiet
        console.verbosity = -1 if quiet else getattr(args, "verbose", 0) + args.global_verbose
        no_color = getattr(args, "no_color", False) or args.global_no_color
        console.color = not no_color and "NO_COLOR" not in console.env and _isatty(console.stdout)
        _logging(console)
        from . import commands  # here, not at the top: `--help` needs none of it

        before = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLDS)
        try:
            return commands.run(args, console, parser)
        finally:
            gc.set_threshold(*before)
    except IacError as exc:
        for line in exc.lines():
            console.err(f"error: {line}")
        if exc.hint:
            console.err(f"hint: {exc.hint}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        console.err("error: interrupted")
        return EXIT_ERROR
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0) if isinstance(exc.code, int | None) else EXIT_ERROR
    finally:
        logging.getLogger("voipbin_iac").handlers = []
