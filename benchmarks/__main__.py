"""`python -m benchmarks [--quick] [--json FILE] [--only NAME ...]`: run the benchmarks and
print one Markdown table (figure, value, same-run baseline, ratio value/baseline, target).

Progress goes to stderr, the report to stdout. The full run takes three to six minutes on a
2-core machine; `--quick` uses smaller fleets and fewer latencies and takes about two.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from . import apply_throughput, local_files, plan_e2e, requests_per_plan, scaling, startup
from .common import RunContext
from .report import Figure, machine, machine_line, table, to_json

BENCHMARKS: dict[str, ModuleType] = {
    "startup": startup,
    "requests": requests_per_plan,
    "files": local_files,
    "plan-e2e": plan_e2e,
    "scaling": scaling,
    "apply": apply_throughput,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="smaller fleets (2,000 instead of 10,000 agents, fewer creates)")
    parser.add_argument("--json", metavar="FILE", help="also save every figure as JSON")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), default=[],
                        metavar="NAME", help=f"run only these ({', '.join(BENCHMARKS)})")
    parser.add_argument("--workdir", metavar="DIR",
                        help="keep fleets and emulator state in a new directory under DIR "
                        "(default: a temp dir, removed after the run)")
    return parser


def run_all(ctx: RunContext, names: Sequence[str],
            log: Callable[[str], None]) -> list[Figure]:
    figures: list[Figure] = []
    for name in names:
        log(f"[{name}] running...")
        started = time.perf_counter()
        figures += BENCHMARKS[name].run(ctx)
        log(f"[{name}] done in {time.perf_counter() - started:.1f} s")
    return figures


def report(info: dict[str, object], ctx: RunContext, figures: Sequence[Figure],
           elapsed: float) -> str:
    mode = "quick" if ctx.quick else "full"
    parts = [f"# voipbin-iac benchmarks ({mode} run, {elapsed:.0f} s)", "",
             machine_line(info), "",
             "ratio = value / baseline; every baseline was measured in the same run unless "
             "it says computed or extrapolated.", "", table(figures)]
    for title, body in ctx.sections:
        parts += ["", f"## {title}", "", body]
    return "\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    names = args.only or list(BENCHMARKS)
    info = machine()

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="voipbin-iac-bench-") as tmp:
        workdir = Path(tmp)
        if args.workdir:  # a fresh directory inside it, kept after the run
            Path(args.workdir).mkdir(parents=True, exist_ok=True)
            workdir = Path(tempfile.mkdtemp(prefix="run-", dir=args.workdir))
        ctx = RunContext(quick=args.quick, workdir=workdir)
        figures = run_all(ctx, names, log)
    elapsed = time.perf_counter() - started
    sys.stdout.write(report(info, ctx, figures, elapsed))
    if args.json:
        Path(args.json).write_text(to_json(info, figures, "quick" if ctx.quick else "full",
                                           ctx.data, elapsed))
        log(f"saved the figures to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
