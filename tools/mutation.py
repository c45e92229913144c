"""Mutation testing of the safety core: `python -m tools.mutation` (slow; run outside CI).

It runs mutmut (`pip install -e '.[mutation]'`, configured in pyproject.toml) on the modules
and functions in `SELECTION`, then scores the result: killed mutants (timeouts count as
killed) over all mutants of the selection. Every survivor must be listed with its reason in
`mutation/survivors.yaml`, matched by function and by the change (not by mutmut's number,
which moves whenever the code does). The summary of a full run goes to `mutation/report.md`;
a run of some files (`--only`) is printed only, and checks the survivors of those files.

    python -m tools.mutation                    # fresh run, report, check the survivors
    python -m tools.mutation --only voipbin_iac/api/redact.py   # a short run of one file
    python -m tools.mutation --report           # report on the last run only
    python -m tools.mutation --update-survivors # also rewrite survivors.yaml (reasons kept)
    python -m tools.mutation --resume           # finish an interrupted run
    python -m tools.mutation --rerun-survivors  # after adding tests: the survivors again

Exit status: 0 when the score is at least `TARGET` and every survivor has a reason.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
SURVIVORS = ROOT / "mutation" / "survivors.yaml"
REPORT = ROOT / "mutation" / "report.md"
TARGET = 90.0

# The safety core: file -> the functions mutated there ("*": all of them). A method is
# "Class.method". The planner and the kinds' comparison (plan, kinds, the normal form);
# ownership, prune and protect, and recovery of unknown creates (run: ownership, recovery, the
# manifest an apply writes, the saved-plan staleness check); manifest reading and writing (not
# its export formats), apply log, saved plans and atomic writes (state); redaction, retries,
# paging and pacing of the client (not its error texts or configuration); env substitution;
# the emulator's paging and authentication.
SELECTION: dict[str, tuple[str, ...]] = {
    "voipbin_iac/core/plan.py": ("*",),
    "voipbin_iac/core/kinds/base.py": ("*",),
    "voipbin_iac/core/kinds/agent.py": ("*",),
    "voipbin_iac/core/kinds/team.py": ("*",),
    "voipbin_iac/core/normal.py": ("*",),
    "voipbin_iac/run/ownership.py": ("*",),
    "voipbin_iac/run/recovery.py": ("*",),
    "voipbin_iac/run/workflow.py": ("_check_saved_live", "_Finish._bindings",
                                    "_Finish._manifest"),
    "voipbin_iac/state/manifest.py": ("read", "from_data", "_entry_data", "to_data", "dumps",
                                      "write", "path_for", "with_entries"),
    "voipbin_iac/state/applylog.py": ("*",),
    "voipbin_iac/state/savedplan.py": ("*",),
    "voipbin_iac/state/files.py": ("*",),
    "voipbin_iac/api/redact.py": ("*",),
    "voipbin_iac/api/ratelimit.py": ("*",),
    "voipbin_iac/api/client.py": (
        "VoipbinClient.request", "VoipbinClient._retryable", "VoipbinClient._backoff",
        "VoipbinClient._transport_failure", "VoipbinClient._no_answer", "VoipbinClient._sleep",
        "_retry_after", "_path", "VoipbinClient.list_all", "VoipbinClient.pages",
        "VoipbinClient._page", "VoipbinClient._resource", "VoipbinClient.list",
        "VoipbinClient.create", "VoipbinClient.regenerate"),
    "voipbin_iac/desired/envsubst.py": ("*",),
    "voipbin_iac/emulator/paging.py": ("*",),
    "voipbin_iac/emulator/newest.py": ("*",),
    "voipbin_iac/emulator/timefmt.py": ("format_token", "parse_token", "_split"),
    "voipbin_iac/emulator/store.py": ("Store.list_ais",),
    "voipbin_iac/emulator/accounts.py": ("AccountsMixin.customer_for_token",),
    "voipbin_iac/emulator/app.py": ("EmulatorApp._authenticate",),
    "voipbin_iac/emulator/ais.py": ("list_ais",),
    "voipbin_iac/emulator/protocol.py": ("parse_cookies", "Request.query_value"),
}

# mutmut's exit codes (mutmut/stats.py), reduced to what the score needs.
KILLED = {1, 3, 36, 24, -24, 152, 255, 37}  # failed, pytest error, timeouts, type check
SURVIVED = {0: "survived", 5: "no tests", 33: "no tests"}


def mutant_globs(paths: list[str]) -> list[str]:
    """mutmut names: `pkg.module.x_function__mutmut_N` or `pkg.module.xǁClassǁmethod__...`."""
    globs = []
    for path in paths:
        functions = SELECTION[path]
        module = path.removesuffix(".py").replace("/", ".")
        for function in functions:
            if function == "*":
                globs.append(f"{module}.*")
                continue
            cls, _, name = function.rpartition(".")
            mangled = f"xǁ{cls}ǁ{name}" if cls else f"x_{name}"
            globs.append(f"{module}.{mangled}__mutmut_*")
    return globs


def defined(path: str) -> set[str]:
    """The functions of a source file as SELECTION names them: `name`, `Class.method`."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names |= {f"{node.name}.{item.name}" for item in node.body
                      if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)}
    return names


def selected(path: str) -> set[str]:
    """The functions of `path` that SELECTION mutates (all of them for "*")."""
    functions = SELECTION.get(path, ())
    if not (ROOT / path).exists():
        return set()
    return defined(path) if "*" in functions else set(functions) & defined(path)


def check_config() -> None:
    """pyproject's only_mutate lists the files of SELECTION, and every function SELECTION
    names exists (code moves: a stale name would silently mutate nothing)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    if sorted(config.get("only_mutate", [])) != sorted(SELECTION):
        sys.exit("error: [tool.mutmut] only_mutate in pyproject.toml must list exactly the "
                 f"files of SELECTION in {Path(__file__).relative_to(ROOT)}")
    for path, functions in SELECTION.items():
        if not (ROOT / path).exists():
            sys.exit(f"error: SELECTION names {path}, which does not exist")
        missing = sorted(set(functions) - {"*"} - defined(path))
        if missing:
            sys.exit(f"error: SELECTION names functions that {path} does not define: "
                     f"{', '.join(missing)}")


# Loaded by every Python process whose path holds mutants/ (the CLI subprocesses tests start
# with PYTHONPATH=ROOT): while mutmut collects which tests reach which function, the mutated
# code records each call, which needs mutmut's configuration, read from pyproject.toml in the
# current directory; a test that runs the CLI in another directory would fail. It is read
# here, from mutants/, once.
SITECUSTOMIZE = '''"""Written by tools/mutation.py for mutation runs (see SITECUSTOMIZE there)."""
import os

if os.environ.get("MUTANT_UNDER_TEST") == "stats":
    _here = os.getcwd()
    try:
        os.chdir(os.path.dirname(os.path.abspath(__file__)))
        from mutmut.configuration import config

        config()
    except Exception:  # never stop an interpreter from starting
        pass
    finally:
        os.chdir(_here)
'''


def prepare() -> None:
    """A fresh mutants/ directory, with the repository's one symlink in place (mutmut copies
    the files it is told to; `schemas` must stay a link to the packaged schemas), and the
    `sitecustomize` that lets CLI subprocesses started elsewhere record mutmut's stats."""
    shutil.rmtree(MUTANTS, ignore_errors=True)
    MUTANTS.mkdir()
    (MUTANTS / "schemas").symlink_to("voipbin_iac/schemas")
    (MUTANTS / "sitecustomize.py").write_text(SITECUSTOMIZE)


def run_mutmut(jobs: int, names: list[str]) -> float:
    mutmut = shutil.which("mutmut", path=str(Path(sys.executable).parent)) or shutil.which(
        "mutmut")
    if mutmut is None:
        sys.exit("error: mutmut is not installed; run: pip install -e '.[mutation]'")
    log = MUTANTS / "mutmut.log"
    print(f"mutmut: {len(names)} selections, {jobs} workers; log: {log}", flush=True)
    started = time.monotonic()
    env = {**os.environ, "PYTEST_PLUGINS": "tools.mutation_order"}  # fastest tests first
    with log.open("a") as out:
        run = subprocess.run([mutmut, "run", "--max-children", str(jobs), *names],
                             cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                             check=False)
    if run.returncode != 0:
        sys.exit(f"error: mutmut run failed (exit {run.returncode}); see {log}")
    return time.monotonic() - started


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    status: str  # killed, survived, no tests, not checked, suspicious

    @property
    def function(self) -> str:
        """`path::Class.method` or `path::function`, from the mangled name."""
        mangled = self.name.rpartition(".")[2].rpartition("__mutmut_")[0]
        if mangled.startswith("x_"):
            return f"{self.path}::{mangled[2:]}"
        _, cls, name = mangled.split("ǁ")
        return f"{self.path}::{cls}.{name}"


def status_of(code: int | None) -> str:
    if code is None:
        return "not checked"
    if code in KILLED:
        return "killed"
    return SURVIVED.get(code, "suspicious")


def load(paths: list[str]) -> list[Mutant]:
    globs = mutant_globs(paths)
    mutants = []
    for path in paths:
        meta = MUTANTS / f"{path}.meta"
        if not meta.exists():
            sys.exit(f"error: no results for {path}: run without --report first")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        for name, code in sorted(codes.items()):
            if any(fnmatch.fnmatchcase(name, g) for g in globs):
                mutants.append(Mutant(name, path, status_of(code)))
    return mutants


def survivors_of(mutants: list[Mutant]) -> list[Mutant]:
    return [m for m in mutants if m.status not in ("killed", "not checked")]


def change_of(mutant: Mutant) -> tuple[str, str]:
    """The lines the mutant removes and adds, stripped, as text."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    os.chdir(ROOT)
    diff = get_diff_for_mutant(mutant.name, path=mutant.path).splitlines()[2:]
    removed = "\n".join(line[1:].strip() for line in diff if line.startswith("-"))
    added = "\n".join(line[1:].strip() for line in diff if line.startswith("+"))
    return removed, added


def read_survivors() -> list[dict[str, str]]:
    if not SURVIVORS.exists():
        return []
    entries: list[dict[str, str]] = yaml.safe_load(SURVIVORS.read_text()) or []
    return entries


def explain(survivors: list[Mutant]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Each survivor's entry (with the reason found in survivors.yaml, or ""), and the
    entries of survivors.yaml that no survivor matched."""
    unused = [dict(e) for e in read_survivors()]
    entries = []
    for mutant in survivors:
        removed, added = change_of(mutant)
        entry = {"function": mutant.function, "removed": removed, "added": added,
                 "status": mutant.status, "mutant": mutant.name, "reason": ""}
        for old in unused:
            if (old.get("function"), old.get("removed"), old.get("added")) == (
                    mutant.function, removed, added):
                entry["reason"] = str(old.get("reason") or "")
                unused.remove(old)
                break
        entries.append(entry)
    return entries, unused


def write_survivors(entries: list[dict[str, str]], paths: list[str]) -> None:
    """survivors.yaml from this run's survivors of `paths`, with the entries of the files not
    run kept as they were; an entry whose function is no longer selected (or no longer
    exists) is dropped."""
    kept = [e for e in read_survivors()
            if str(e.get("function", "")).partition("::")[0] not in paths]
    live = {f"{path}::{name}" for path in SELECTION for name in selected(path)}
    dropped = [e for e in kept if e.get("function") not in live]
    for entry in dropped:
        print(f"note: dropped from survivors.yaml (function gone): {entry.get('function')}")
    entries = [e for e in kept if e.get("function") in live] + entries
    order = {path: at for at, path in enumerate(SELECTION)}
    entries.sort(key=lambda e: order.get(str(e.get("function")).partition("::")[0], 0))
    header = ("# Mutants of the safety core that no test kills, each with the reason it is\n"
              "# equivalent (no behaviour changes) or accepted. Matched by function and change;\n"
              "# `mutant` is mutmut's name in the last run, for `mutmut show NAME`.\n"
              "# Maintained by `python -m tools.mutation --update-survivors` (reasons kept).\n")
    body = yaml.safe_dump(entries, sort_keys=False, allow_unicode=True, width=100)
    SURVIVORS.write_text(header + body)


def report(mutants: list[Mutant], seconds: float | None, jobs: int, mode: str,
           write: bool = True) -> float:
    by_file: dict[str, Counter[str]] = {}
    for mutant in mutants:
        by_file.setdefault(mutant.path, Counter())[mutant.status] += 1
    total = Counter(m.status for m in mutants)
    checked = len(mutants) - total["not checked"]
    score = 100.0 * total["killed"] / checked if checked else 0.0
    title = "the safety core" if write else "part of the safety core (`--only`)"
    lines = [f"# Mutation testing of {title}", "",
             "`python -m tools.mutation` (mutmut, configured in pyproject.toml); survivors and "
             "their reasons: [survivors.yaml](survivors.yaml).", ""]
    if seconds is not None:
        lines += [f"Last mutmut run: {time.strftime('%Y-%m-%d')}, {mode}, {seconds / 60:.0f} min "
                  f"with {jobs} workers on {os.cpu_count()} cores.", ""]
    lines += ["| module | mutants | killed | survived | score |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for path, counts in by_file.items():
        n = sum(counts.values()) - counts["not checked"]
        lines.append(f"| `{path}` | {n} | {counts['killed']} | {n - counts['killed']} | "
                     f"{100.0 * counts['killed'] / n if n else 0:.1f}% |")
    whole = "safety core" if write else "these files"
    lines.append(f"| **{whole}** | **{checked}** | **{total['killed']}** | "
                 f"**{checked - total['killed']}** | **{score:.1f}%** |")
    if total["not checked"]:
        lines += ["", f"{total['not checked']} mutants were not checked: the run was cut short."]
    text = "\n".join(lines) + "\n"
    print(text)
    if write:
        REPORT.write_text(text)
    return score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.mutation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", action="store_true", help="report on the last run only")
    parser.add_argument("--update-survivors", action="store_true",
                        help="rewrite mutation/survivors.yaml from this run, keeping reasons")
    parser.add_argument("--rerun-survivors", action="store_true",
                        help="run the last run's survivors that survivors.yaml does not "
                             "explain again (after adding tests; killed mutants stay killed)")
    parser.add_argument("--resume", action="store_true",
                        help="finish an interrupted run: only the mutants not checked yet")
    parser.add_argument("--only", action="append", metavar="FILE", choices=list(SELECTION),
                        help="only this file of SELECTION (repeatable): a short run, printed "
                             "but not written to mutation/report.md")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    check_config()
    paths = list(dict.fromkeys(args.only)) if args.only else list(SELECTION)
    seconds = None
    if args.resume:
        names = [m.name for m in load(paths) if m.status == "not checked"]
        seconds = run_mutmut(args.jobs, names) if names else 0.0
    elif args.rerun_survivors:  # those explained in survivors.yaml are not worth the time
        names = [e["mutant"] for e in explain(survivors_of(load(paths)))[0] if not e["reason"]]
        seconds = run_mutmut(args.jobs, names) if names else 0.0
    elif not args.report:
        prepare()
        seconds = run_mutmut(args.jobs, mutant_globs(paths))
    mutants = load(paths)
    mode = ("the survivors again" if args.rerun_survivors else
            "the rest of an interrupted run" if args.resume else "a fresh run")
    score = report(mutants, seconds, args.jobs, mode, write=not args.only)
    survivors = survivors_of(mutants)
    entries, unused = explain(survivors)
    unused = [e for e in unused if str(e.get("function")).partition("::")[0] in paths]
    if args.update_survivors:
        write_survivors(entries, paths)
    missing = [e for e in entries if not e["reason"]]
    for entry in missing:
        print(f"unexplained survivor {entry['mutant']} ({entry['status']}):\n"
              f"  - {entry['removed']}\n  + {entry['added']}")
    for entry in unused if not args.update_survivors else []:
        print(f"note: survivors.yaml lists a mutant that no longer survives: "
              f"{entry.get('function')}: {entry.get('removed')!r} -> {entry.get('added')!r}")
    print(f"score {score:.1f}% (target {TARGET:g}%), {len(survivors)} survivors, "
          f"{len(missing)} without a reason in {SURVIVORS.relative_to(ROOT)}")
    return 0 if score >= TARGET and not missing else 1


if __name__ == "__main__":
    sys.exit(main())
