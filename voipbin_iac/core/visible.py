"""Text shown to people with its invisible characters made visible.

A name or key may hold characters a terminal does not show, or shows misleadingly: bidi controls
(U+202E turns `gnp.exe` around), zero-width characters (two "equal" names that differ), and
C0/C1 controls (a newline forges a second output line, ESC drives the terminal). `visible(text)`
replaces each of them with an escape (`\\u202e`, `\\n`, `\\x1b`, `\\U000e0041`) and leaves every
other character alone, so ordinary text, accented letters and CJK read as they are. Pure.
"""

from __future__ import annotations

import unicodedata

# Unicode categories escaped: controls (C0, DEL, C1), format characters (bidi controls,
# zero-width space/joiners, soft hyphen, BOM, tag characters), line and paragraph separators,
# and lone surrogates.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def is_hidden(char: str) -> bool:
    """Whether `char` is one that `visible` escapes."""
    return unicodedata.category(char) in _ESCAPED_CATEGORIES


def visible(text: str) -> str:
    """`text` with bidi controls, zero-width and control characters escaped (`\\u202e`)."""
    if text.isprintable():  # fast path: every escaped character is non-printable
        return text
    return "".join(_escape(c) if is_hidden(c) else c for c in text)


def hidden_characters(text: str) -> list[str]:
    """The distinct escaped forms of the hidden characters in `text`, in order of appearance."""
    if text.isprintable():
        return []
    seen: dict[str, None] = {}
    for char in text:
        if is_hidden(char):
            seen.setdefault(_escape(char), None)
    return list(seen)
