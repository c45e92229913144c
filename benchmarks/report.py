"""The report: figures (each with its same-run baseline and target), the Markdown table, the
machine line, and the JSON dump."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One measured figure with its same-run baseline and its target."""

    benchmark: str
    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    target: str = ""
    met: bool | None = None  # None: informational, no target
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline


def fmt(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit == "s":
        if value == 0:
            return "0 s"
        if value < 0.01:
            return f"{value * 1000:.2f} ms"
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    if unit in ("requests", "429s", "agents"):
        return f"{value:,.0f} {unit}"
    if unit == "MB":
        return f"{value:.1f} MB" if value < 100 else f"{value:.0f} MB"
    if unit in ("us/agent", "KB/agent", "req/s", "calls/agent"):
        return f"{value:.1f} {unit}"
    return f"{value:.3g} {unit}".strip()


def _ratio(figure: Figure) -> str:
    ratio = figure.ratio
    if ratio is None:
        return "-"
    return f"{ratio:.3f}x" if ratio < 0.1 else f"{ratio:.2f}x"


def _target(figure: Figure) -> str:
    if not figure.target:
        return "-"
    verdict = {True: "met", False: "**MISSED**", None: "info"}[figure.met]
    return f"{figure.target}: {verdict}"


def table(figures: Sequence[Figure]) -> str:
    """The Markdown table of every figure (ratio = value / baseline)."""
    rows = ["| figure | value | baseline (same run) | ratio | target |",
            "| --- | ---: | --- | ---: | --- |"]
    for f in figures:
        base = "-" if f.baseline is None else f"{fmt(f.baseline, f.unit)} ({f.baseline_label})"
        name = f"{f.name} ({f.note})" if f.note else f.name
        rows.append(f"| {name} | {fmt(f.value, f.unit)} | {base} | {_ratio(f)} | "
                    f"{_target(f)} |")
    return "\n".join(rows)


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _memory_gb() -> str:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GB RAM"
    return "unknown RAM"


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory": _memory_gb(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load": _load(),
    }


def _load() -> str:
    """The load average when the run began: wall times on a busy machine run long."""
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def machine_line(info: dict[str, Any]) -> str:
    return (f"Machine: {info['cpus']} CPUs ({info['cpu']}), {info['memory']}, "
            f"{info['implementation']} {info['python']}, {info['platform']}; {info['date']}; "
            f"load average {info.get('load', 'unknown')} (1/5/15 min) at the start")


def to_json(info: dict[str, Any], figures: Sequence[Figure], mode: str, data: dict[str, Any],
            elapsed: float) -> str:
    figures_data = [{**asdict(f), "ratio": f.ratio} for f in figures]
    return json.dumps({"machine": info, "mode": mode, "elapsed_s": round(elapsed, 2),
                       "figures": figures_data, "data": data}, indent=2, default=str) + "\n"
