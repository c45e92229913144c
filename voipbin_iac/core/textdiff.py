"""How a value shows in a plan: long texts as a window around their change, never whole.

A prompt may be tens of kilobytes on one line, or thousands of lines: a plan printed it whole
(the terminal, the CI log, the pull-request comment). Here a value longer than `LINE_CHARS`
shows as the window of `LINE_CHARS` characters around its first difference from the other
side, with its full length; a multi-line text as a line diff with one line of context, each
line clipped the same way, at most `DIFF_LINES` lines per field. The JSON plan and the saved
plan keep every value whole: they are data, not reading.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

LINE_CHARS = 160  # characters of one text or diff line shown; longer ones are clipped
JSON_CHARS = 1_000  # characters of a structured value (team members, `parameter`) shown
LEAD = 40  # characters shown before the first difference when a line is clipped
DIFF_LINES = 40  # lines of a multi-line diff shown per field; the rest are counted
ELLIPSIS = "…"


def first_difference(text: str, other: str) -> int:
    """Where `text` first differs from `other` (the length of their common prefix)."""
    n = min(len(text), len(other))
    i = 0
    while i < n and text[i] == other[i]:
        i += 1
    return i


def clip(text: str, at: int = 0, width: int = LINE_CHARS) -> str:
    """`text`, or its `width` characters from a little before `at` with `…` where characters
    were left out."""
    if len(text) <= width:
        return text
    start = max(0, min(at - LEAD, len(text) - width))
    end = start + width
    return (ELLIPSIS if start else "") + text[start:end] + (ELLIPSIS if end < len(text) else "")


def _length(text: str, width: int = LINE_CHARS) -> str:
    return f" ({len(text):,} characters)" if len(text) > width else ""


def value_text(value: Any, other: Any = None) -> str:
    """`value` as JSON for a plan line; a long text clipped around where it differs from
    `other` (the value on the other side of the change), with its length."""
    if value is None:
        return "(none)"
    if isinstance(value, str):
        at = first_difference(value, other) if isinstance(other, str) else 0
        return json.dumps(clip(value, at), ensure_ascii=False) + _length(value)
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if len(text) <= JSON_CHARS:
        return text
    theirs = json.dumps(other, ensure_ascii=False, sort_keys=True) if other is not None else ""
    return clip(text, first_difference(text, theirs), JSON_CHARS) + _length(text, JSON_CHARS)


def line_diff(old: str | None, new: str | None) -> list[str]:
    """The changed lines of a multi-line text as `- old` / `+ new` / `  context` lines (one of
    context, `  ...` between hunks), each clipped around its change, at most `DIFF_LINES`."""
    a, b = (old or "").splitlines(), (new or "").splitlines()
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(1):
        if out:
            out.append("  ...")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [f"  {clip(line)}" for line in a[i1:i2]]
                continue
            gone, came = a[i1:i2], b[j1:j2]
            out += [f"- {_against(line, came, k)}" for k, line in enumerate(gone)]
            out += [f"+ {_against(line, gone, k)}" for k, line in enumerate(came)]
    if len(out) > DIFF_LINES:
        hidden = len(out) - DIFF_LINES
        out = [*out[:DIFF_LINES],
               f"  ... ({hidden:,} more line{'s' if hidden != 1 else ''}; "
               "`--format json` shows the whole text)"]
    return out


def _against(line: str, others: list[str], k: int) -> str:
    """`line` clipped around where it differs from its counterpart on the other side."""
    other = others[k] if k < len(others) else ""
    return clip(line, first_difference(line, other))
