"""The `test` command and `apply --smoke`: conversation tests, wired to the console.

Wiring only: the tests come from `desired.tests`, the work from `run.convtest`, the words from
`core.testreport`, the client and the desired state from `wiring` (as for `plan`: the
emulator, redaction of engine keys).
Exit codes: 0 every test passed, 3 a test failed, 1 a test could not run (or nothing could).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from argparse import Namespace
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..core import testreport
from ..core.conversation import (
    ERROR,
    PASSED,
    ConversationTest,
    RunReport,
    TestResult,
    Turn,
    short,
)
from ..core.model import ApplyResult
from ..core.render import plural as render_plural
from ..errors import UsageError
from ..state import manifest as manifests
from ..state.files import write_atomic
from . import invocation
from .wiring import begin, client_for, files_given, read_desired, read_tests

if TYPE_CHECKING:  # `validate` imports this module: the client and the runner load on use
    from ..api.client import VoipbinClient
    from .app import Console

RENDER = {"text": testreport.text, "json": testreport.json_text, "junit": testreport.junit,
          "markdown": testreport.markdown}
SMOKE_SAY = "hello"
SMOKE_FROM_DEFAULT = "sip:voipbin-iac@example.com"  # `apply --smoke-from`, kept for old scripts


def test(args: Namespace, console: Console) -> int:
    from ..run import convtest

    files = files_given(args)
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if args.assistant_script and not args.emulator:
        raise UsageError("--assistant-script scripts the embedded emulator's assistant",
                         hint="add --emulator (or pass it to `voipbin-iac emulator`)")
    desired = read_desired(files, console)
    begin(args, console, files)
    for value in desired.env_values:
        console.redactor.add(value)
    suite = read_tests(files, console, desired)
    selected = _select(suite.tests, args.only, files)
    path = invocation.manifest_path(args, files)
    if args.out and Path(args.out).resolve() in {Path(f).resolve() for f in [*files, path]}:
        raise UsageError(f"--out {args.out} is one of the files the tests read",
                         hint="write the report somewhere else, such as test-report.xml")
    manifest = manifests.read(path)
    with client_for(args, console) as (client, target), _stoppable() as stop:
        ids, drift = convtest.resolve(client, selected, desired.agents, manifest, path)
        for warning in drift:
            console.err(f"warning: {warning}")
        report = convtest.run(client, selected, ids, clock=console.clock,
                              options=convtest.RunOptions(concurrency=args.concurrency),
                              done=_progress(console), target=target, stop=stop)
    report = replace(report, warnings=tuple(drift))
    rendered = console.redactor(RENDER[args.format](report))
    if args.out:
        write_atomic(Path(args.out), rendered)
        console.show(_text(report, console.quiet))
        console.err(f"wrote the {args.format} report to {args.out}")
    elif args.format == "text":
        console.show(_text(report, console.quiet))
    else:
        console.out(rendered)
        if args.format != "text":
            console.err(f"Tests: {testreport.summary(report)}.")
    return report.exit_code


def _text(report: RunReport, quiet: bool) -> str:
    """The text report; with `-q` only the tests that did not pass, and the summary."""
    if not quiet:
        return testreport.text(report)
    failed = replace(report, results=tuple(r for r in report.results if r.status != PASSED))
    body = testreport.text(failed).splitlines()[2:-2] if failed.results else []
    return "\n".join([*body, f"Tests: {testreport.summary(report)}."]) + "\n"


def _select(tests: dict[str, ConversationTest], only: list[str],
            files: list[str]) -> list[ConversationTest]:
    if not tests:
        raise UsageError(f"no tests in {', '.join(files)}",
                         hint="add a `tests:` mapping (see `voipbin-iac schema --markdown`), "
                              "usually in its own file given after the agents' files")
    unknown = [name for name in only if name not in tests]
    if unknown:
        raise UsageError(f"--only {', '.join(unknown)}: no such test",
                         hint=f"tests: {', '.join(tests)}")
    return [t for name, t in tests.items() if not only or name in only]


def _progress(console: Console) -> Callable[[TestResult], None]:
    def done(result: TestResult) -> None:
        if console.verbosity >= 1:
            console.err(f"{result.status}: {result.name} ({result.duration_s:.1f} s)")
    return done


@contextlib.contextmanager
def _stoppable() -> Iterator[threading.Event]:
    """Ctrl-C asks the tests to stop (each ends its conversation); a second one aborts."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def smoke(args: Namespace, console: Console, client: VoipbinClient,
          result: ApplyResult) -> int:
    """`apply --smoke`: say "hello" to every created or updated agent; any reply passes. It
    catches what a call cannot show: an agent that never answers (a wrong engine_key)."""
    from ..run import convtest

    if args.smoke_from != SMOKE_FROM_DEFAULT:
        console.err("warning: --smoke-from is ignored: --smoke holds a text conversation now; "
                    "`voipbin-iac call KEY --from ADDRESS` places a SIP call")
    manifest = manifests.read(Path(result.manifest_path))
    keys = sorted({o.change.key for o in result.outcomes
                   if o.status == "done" and o.change.action != "delete"
                   and o.change.key in manifest.agents})
    tests = [ConversationTest(f"smoke-{key}", key, (Turn(SMOKE_SAY),)) for key in keys]
    if not tests:
        return 0
    ids = {key: manifest.agents[key].id for key in keys}
    report: RunReport = convtest.run(
        client, tests, ids, clock=console.clock,
        options=convtest.RunOptions(concurrency=args.concurrency))
    say = console.err if args.format == "json" else console.out  # stdout holds the JSON
    for r in report.results:
        if r.status == PASSED:
            if console.quiet:
                continue
            answer = r.turns[0].answer
            latency = f" in {answer.latency_s:.1f} s" if answer.latency_s is not None else ""
            say(f"smoke pass  {r.agent}: replied{latency}: "
                f"{short(answer.text or '(a tool call)', 100)!r}\n")
        else:
            say(f"smoke {'ERROR' if r.status == ERROR else 'FAIL '} {r.agent}: {r.message}\n")
    passed = sum(r.status == PASSED for r in report.results)
    say(f"Smoke: {passed} of {render_plural(len(report.results), 'agent')} answered.\n")
    return report.exit_code
