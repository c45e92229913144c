"""A pytest plugin for mutation runs only: the fastest tests first.

For each mutant, mutmut runs the tests that call the mutated function and stops at the first
failure, in no particular order; a kill then often waits for a slow end-to-end test to finish
first. This plugin sorts the tests by the durations mutmut measured (`mutmut-stats.json` in
the mutants/ directory), so most kills take milliseconds. `python -m tools.mutation` loads it
through PYTEST_PLUGINS; an ordinary test run never does.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any


@cache
def _durations() -> dict[str, float]:
    stats = Path("mutmut-stats.json")  # mutmut runs the tests from mutants/
    if not stats.exists():
        return {}
    durations: dict[str, float] = json.loads(stats.read_text()).get("duration_by_test", {})
    return durations


def pytest_collection_modifyitems(session: Any, config: Any, items: list[Any]) -> None:
    if not os.environ.get("MUTANT_UNDER_TEST"):
        return
    durations = _durations()
    items.sort(key=lambda item: durations.get(item.nodeid, 0.0))
