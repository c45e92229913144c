"""Structured field changes (`nested_changes`): a value that turns from a mapping into something
else, or back, is one change of the whole value at its path, not a walk into its parts."""

from __future__ import annotations

from voipbin_iac.core.kinds.base import nested_changes
from voipbin_iac.core.model import FieldChange


def test_a_mapping_replaced_by_text_is_one_change_of_the_whole_value() -> None:
    assert nested_changes(("parameter",), {"hours": {"open": 9}}, {"hours": "9-5"},
                          "behaviour") == [
        FieldChange("parameter['hours']", {"open": 9}, "9-5", "behaviour")]


def test_text_replaced_by_a_mapping_is_one_change_of_the_whole_value() -> None:
    assert nested_changes(("parameter",), {"hours": "9-5"}, {"hours": {"open": 9}},
                          "behaviour") == [
        FieldChange("parameter['hours']", "9-5", {"open": 9}, "behaviour")]


def test_a_mapping_replaced_by_nothing_is_one_change() -> None:
    assert nested_changes(("parameter",), {"a": 1}, None, "behaviour") == [
        FieldChange("parameter", {"a": 1}, None, "behaviour")]
