"""The shortcuts taken for speed (issue: performance) give the answers of the long way.

`normal.identical` lets `same` skip the JSON texts only for values equal with the very same
types (so `true` is never `1`); the CLI's raised collector thresholds last only while a command
runs.
"""

from __future__ import annotations

import gc
import io
from typing import Any

import pytest

from voipbin_iac.cli import app
from voipbin_iac.core import normal


@pytest.mark.parametrize(("a", "b"), [
    ("x", "x"), ("x", "y"), (1, 1), (1, 1.0), (True, 1), (1, True), (None, None), (None, ""),
    ([1], [True]), ((1, 2), [1, 2]), ({"a": 1}, {"a": True}), ({"a": 1}, {"a": 1.0}),
    ({"a": [1, {"b": "c"}]}, {"a": [1, {"b": "c"}]}), ({"a": 1}, {"b": 1}), ([1, 2], [1]),
    (0.5, 0.5), (float("nan"), float("nan")), ({"k": (1,)}, {"k": [1]}), ("", None),
])
def test_identical_is_a_sufficient_test_for_same(a: Any, b: Any) -> None:
    if normal.identical(a, b):
        assert normal.same(a, b)
    assert normal.same(a, b) == normal.same(b, a)
    slow = normal.text(a) == normal.text(b) if _jsonable(a, b) else a == b
    assert normal.same(a, b) == slow


def _jsonable(*values: Any) -> bool:
    try:
        for value in values:
            normal.text(value)
    except (ValueError, TypeError):
        return False
    return True


def test_true_is_not_one_even_inside_containers() -> None:
    assert not normal.identical({"a": 1}, {"a": True})
    assert not normal.same({"a": 1}, {"a": True})
    assert normal.same({"a": 1}, {"a": 1.0})  # the platform stores both as 1


def test_the_collector_thresholds_are_raised_only_while_a_command_runs() -> None:
    before = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []

    class Spy(io.StringIO):
        def write(self, text: str) -> int:
            seen.append(gc.get_threshold())
            return super().write(text)

    assert app.main(["schema"], stdout=Spy(), stderr=io.StringIO(), env={}) == 0
    assert seen and seen[0] == app.GC_THRESHOLDS
    assert gc.get_threshold() == before
