"""visible(): invisible and control characters escaped, everything else left as it is."""

from __future__ import annotations

import pytest

from voipbin_iac.core.visible import hidden_characters, visible


@pytest.mark.parametrize(("text", "shown"), [
    ("Support Bot", "Support Bot"),
    ("Café – 東京 ☎", "Café – 東京 ☎"),  # accents, dashes, CJK, symbols: as they are
    ("a\u00a0b", "a\u00a0b"),  # a no-break space is visible as a space
    ("", ""),
    ("Support\u202eBot", "Support\\u202eBot"),  # RIGHT-TO-LEFT OVERRIDE
    ("\u2066x\u2069\u200e\u200f\u061c", "\\u2066x\\u2069\\u200e\\u200f\\u061c"),  # bidi marks
    ("a\u200bb\u200cc\u200dd\u2060e\ufefff", "a\\u200bb\\u200cc\\u200dd\\u2060e\\ufefff"),
    ("soft\u00adhyphen", "soft\\xadhyphen"),
    ("line\nforged: ok\r\t", "line\\nforged: ok\\r\\t"),
    ("\x1b[31mred\x7f\x00", "\\x1b[31mred\\x7f\\x00"),  # C0 and DEL
    ("c1\x85\x9b", "c1\\x85\\x9b"),  # C1 controls
    ("\u2028\u2029", "\\u2028\\u2029"),  # line and paragraph separators
    ("tag\U000e0041", "tag\\U000e0041"),  # an invisible tag character
    ("\ud800", "\\ud800"),  # a lone surrogate
])
def test_visible(text: str, shown: str) -> None:
    assert visible(text) == shown


def test_nothing_escaped_is_left_invisible() -> None:
    """Every code point is either printable as is or escaped to ASCII."""
    for code in range(0x110000):
        shown = visible(chr(code))
        assert shown == chr(code) or (shown.isascii() and shown.startswith("\\")), hex(code)


def test_hidden_characters_lists_each_once_in_order() -> None:
    assert hidden_characters("plain") == []
    assert hidden_characters("a\u202eb\u200bc\u202e") == ["\\u202e", "\\u200b"]
