"""Keeping the CLI's secrets out of the embedded emulator's state file.

`--emulator` keeps its state in `.voipbin-emulator.sqlite3` beside the user's files. What the
tool sends there would otherwise hold real secrets in plain text: engine keys, and prompts or
`parameter` values taken from the environment. On the way in, every known secret in a JSON
request body is replaced by a stand-in `⟦sealed:<fingerprint>⟧`; on the way out, stand-ins of
secrets this process knows are put back, so the tool sees exactly what it sent and the file
holds fingerprints only. A stand-in for a secret this process does not know (the variable
changed or is unset) stays as it is: the plan shows a change, never the old value.

The emulator served over HTTP (`voipbin-iac emulator`) does not seal: like VoIPBin itself it
stores what clients send (see docs/emulator.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from ..core.secret import fingerprint

_TOKEN = re.compile(r"⟦sealed:([0-9a-f]{12})⟧")
MIN_SECRET = 4  # as the redactor: shorter values would seal ordinary words


def token(secret: str) -> str:
    return f"⟦sealed:{fingerprint(secret)}⟧"


class Sealer:
    """Seals and unseals the strings of JSON bodies; `secrets` is asked each time, so secrets
    learnt later (engine keys seen in answers) count too."""

    def __init__(self, secrets: Callable[[], Iterable[str]]) -> None:
        self._secrets = secrets

    def _known(self) -> list[str]:
        return sorted({s for s in self._secrets() if len(s) >= MIN_SECRET}, key=len,
                      reverse=True)

    def seal(self, body: bytes) -> bytes:
        known = self._known()
        if not known:
            return body
        return _rewrite(body, lambda text: _seal_text(text, known))

    def unseal(self, body: bytes) -> bytes:
        if b"\xe2\x9f\xa6sealed:" not in body:  # "⟦sealed:" in UTF-8
            return body
        by_fp = {fingerprint(s): s for s in self._known()}
        return _rewrite(body, lambda text: _TOKEN.sub(
            lambda m: by_fp.get(m.group(1), m.group(0)), text))


def _seal_text(text: str, known: list[str]) -> str:
    for secret in known:
        if secret in text:
            text = text.replace(secret, token(secret))
    return text


def _rewrite(body: bytes, change: Callable[[str], str]) -> bytes:
    """`body` with `change` applied to every string of its JSON (keys included); a body that
    is not JSON passes unchanged."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return change(value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {change(k): walk(v) for k, v in value.items()}
        return value

    return json.dumps(walk(data), ensure_ascii=False, separators=(",", ":")).encode()
