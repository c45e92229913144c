"""How a malformed `${env:...}` is quoted in its error: the reference at fault (not an earlier
one in the same string), cut to 60 characters; and how deep references may nest in defaults."""

from __future__ import annotations

import json

from voipbin_iac.desired import envsubst
from voipbin_iac.desired.yamlsrc import parse


def messages(text: str) -> list[str]:
    doc = parse(f"a: {json.dumps(text)}\n", "f.yaml")
    return [p.message for p in envsubst.expand(doc, {"N": "5", "B": "deep"}).problems]


def test_an_unclosed_reference_of_60_characters_is_quoted_whole() -> None:
    text = "${env:" + "A" * 54
    assert len(text) == 60
    assert messages(text) == [f"a: '{text}' is not closed: end it with `}}`; " + envsubst._USAGE]


def test_an_unclosed_reference_longer_than_60_characters_is_cut_to_57_and_an_ellipsis() -> None:
    text = "${env:" + "A" * 55
    [message] = messages(text)
    assert message.startswith(f"a: '{text[:57]}...' is not closed")


def test_an_unclosed_default_is_quoted_from_its_own_reference_not_an_earlier_one() -> None:
    [message] = messages("${env:N} then ${env:A:-default")
    assert message.startswith("a: '${env:A:-default' is not closed")


def test_references_nest_eight_deep_in_defaults() -> None:
    text = "${env:UNSET:-" * 7 + "${env:B}" + "}" * 7
    assert messages(text) == []
    assert envsubst.expand_text(text, {"B": "deep"})[:2] == ("deep", [])
