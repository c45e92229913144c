"""The normal form (`core/normal.py`): what VoIPBin keeps of a JSON value (float64 numbers,
printed as Go prints them; sorted keys; a bool never a number), the comparison the planner,
drift detection and the recognition of lost creates share, and the digest that manifests
record. The digest is pinned: a new one would show every owned resource as drifted."""

from __future__ import annotations

from typing import Any

import pytest

from voipbin_iac.core import normal

BELOW_1E21 = 999_999_999_999_999_868_928  # the largest float64 under 1e21, an integer


@pytest.mark.parametrize(("value", "shown"), [
    (1.0, "1"),
    (1.5, "1.5"),
    (-0.25, "-0.25"),
    (2**53 + 1, "9007199254740992"),  # rounded as float64 rounds it
    (BELOW_1E21, "999999999999999868928"),
    (10**21, "1e+21"),  # from 1e21 on, Go prints the exponent form
    (True, "true"),
    ({"b": [1.0, "ü"], "a": None}, '{"a":null,"b":[1,"ü"]}'),
])
def test_numbers_and_text_are_what_the_platform_prints(value: Any, shown: str) -> None:
    assert normal.text(value) == shown


def test_a_whole_float_becomes_an_int_and_a_fraction_stays() -> None:
    assert type(normal.normal(2.0)) is int and normal.normal(2.0) == 2
    assert normal.normal(1.5) == 1.5
    assert normal.normal({"x": [3.0, True]}) == {"x": [3, True]}
    assert type(normal.normal(True)) is bool


@pytest.mark.parametrize(("value", "message"), [
    (float("nan"), "not a finite number"),
    (float("inf"), "not a finite number"),
    (2**1024, "a number beyond float64"),
    ({"x": [object()]}, "not a JSON value: object"),
])
def test_what_json_cannot_carry_is_refused_with_its_reason(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        normal.normal(value)


@pytest.mark.parametrize(("a", "b", "same"), [
    (1, 1.0, True),
    ({"a": 1, "b": [2]}, {"b": [2.0], "a": 1}, True),
    (2**53, 2**53 + 1, True),  # the platform cannot tell them apart either
    (1, True, False),
    (0, False, False),
    ({"x": [1]}, {"x": [True]}, False),
    ({"k": 1}, {"k": None}, False),  # a value set or cleared inside a mapping
    ([1, "a"], [None, "a"], False),  # or inside a list
    ("1", 1, False),
    (None, {}, False),
])
def test_same_is_what_the_platform_would_store(a: Any, b: Any, same: bool) -> None:
    assert normal.same(a, b) is same
    assert normal.same(b, a) is same


def test_the_digest_is_stable_and_ignores_key_order() -> None:
    data = {"b": [1, "ü"], "a": {"y": None, "x": True}}
    assert normal.digest(data) == "f8f420cfd77d2668"  # recorded in manifests: never changes
    assert normal.digest(data, 8) == "f8f420cf"
    assert normal.digest({"a": {"x": True, "y": None}, "b": [1, "ü"]}) == "f8f420cfd77d2668"


@pytest.mark.parametrize(("value", "kept"), [
    (None, True), (True, True), ("x", True), (1.5, True), (2**53, True),
    (BELOW_1E21, True),
    (2**53 + 1, False),  # comes back as 2**53
    (10**21, False),  # comes back as 1e+21
    (float("inf"), False),
    ({"a": [1, {"b": "x"}]}, True),
    ({"a": [1, {"b": 2**53 + 1}]}, False),
    ([1, [2**53 + 1]], False),
    (object(), False),
])
def test_survives_says_whether_a_value_comes_back_unchanged(value: Any, kept: bool) -> None:
    assert normal.survives(value) is kept
