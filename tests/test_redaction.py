"""Redaction, the last line of defence: every known secret is masked whole, in every log
record's message, arguments and traceback, and the engine keys VoIPBin shows on live AIs are
known secrets too (also when the file never mentions them)."""

from __future__ import annotations

import io
import logging
import traceback

import httpx
import pytest

from voipbin_iac.api.client import Connection, RetryPolicy, VoipbinClient
from voipbin_iac.api.redact import MASK, RedactingFilter, Redactor
from voipbin_iac.core.clock import FakeClock
from voipbin_iac.core.kinds.agent import AGENT_KIND
from voipbin_iac.core.secret import Secret
from voipbin_iac.errors import ApiError

from .conftest import MODEL, Stack, agents_yaml

LIVE_KEY = "sk-live-only-console-key-9e8d7c6b5a"
ACCESSKEY = "vb_redaction_test_accesskey_0451"


# -- the Redactor -----------------------------------------------------------------------------


def test_every_occurrence_of_every_secret_is_masked() -> None:
    redact = Redactor("alpha-secret", Secret("beta-secret"))
    text = "alpha-secret, beta-secret and alpha-secret again"
    assert redact(text) == f"{MASK}, {MASK} and {MASK} again"
    assert redact("nothing secret here") == "nothing secret here"


@pytest.mark.parametrize("order", [("abcd1234", "abcd1234efgh5678"),
                                   ("abcd1234efgh5678", "abcd1234"),
                                   ("efgh5678", "abcd1234efgh5678"),
                                   ("cd1234ef", "abcd1234efgh5678", "zz")])
def test_a_secret_containing_another_is_masked_whole(order: tuple[str, ...]) -> None:
    """Longest first: masking the shorter one first would leave the rest of the longer."""
    redact = Redactor()
    for secret in order:
        redact.add(secret)
    assert redact("key=abcd1234efgh5678;") == f"key={MASK};"
    short = min((s for s in order if len(s) >= 4), key=len)
    assert redact(f"key={short};") == f"key={MASK};"


def test_secrets_added_later_are_masked_too() -> None:
    redact = Redactor("first-secret")
    redact.add("second-secret")
    redact.add(Secret("third-secret"))
    assert redact("first-secret second-secret third-secret") == f"{MASK} {MASK} {MASK}"


def test_values_too_short_to_be_secrets_are_not_masked() -> None:
    """A three-character "secret" would mask ordinary words; four characters are enough."""
    redact = Redactor("abc", "", None)  # type: ignore[arg-type]
    redact.add(None)
    redact.add(Secret(""))
    assert redact("abc abcd") == "abc abcd"
    redact.add("abcd")
    assert redact("abc abcd") == f"abc {MASK}"


# -- the logging filter ----------------------------------------------------------------------


def _logger(redactor: Redactor) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(redactor))
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger = logging.getLogger(f"voipbin_iac.test_redaction.{id(stream)}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_log_messages_and_their_arguments_are_redacted() -> None:
    logger, stream = _logger(Redactor(ACCESSKEY, LIVE_KEY))
    logger.info(f"message with {ACCESSKEY} inside")
    logger.warning("argument %s and %r, number %d", LIVE_KEY, ACCESSKEY, 7)
    logger.error("mapping %(key)s", {"key": LIVE_KEY})
    assert stream.getvalue() == (f"INFO: message with {MASK} inside\n"
                                 f"WARNING: argument {MASK} and '{MASK}', number 7\n"
                                 f"ERROR: mapping {MASK}\n")


def test_a_logged_traceback_is_redacted_and_kept() -> None:
    logger, stream = _logger(Redactor(ACCESSKEY))
    try:
        raise RuntimeError(f"failed with {ACCESSKEY}")
    except RuntimeError as exc:
        logger.exception("request %s failed", "GET /ais")
        shown = "".join(traceback.format_exception(exc)).replace(ACCESSKEY, MASK)
    text = stream.getvalue()
    assert ACCESSKEY not in text
    assert text == f"ERROR: request GET /ais failed\n{shown}\n"  # the frames are kept
    assert shown.startswith("Traceback (most recent call last):")
    assert shown.rstrip().endswith(f"RuntimeError: failed with {MASK}")


def test_the_filter_leaves_a_record_that_formats_the_same_twice() -> None:
    """A record passes every handler: once redacted, formatting it again changes nothing."""
    record = logging.LogRecord("voipbin_iac", logging.INFO, __file__, 1, "a %s b %s",
                               (ACCESSKEY, "%s"), None)
    assert RedactingFilter(Redactor(ACCESSKEY)).filter(record) is True
    assert record.getMessage() == f"a {MASK} b %s"
    assert record.getMessage() == f"a {MASK} b %s"


# -- engine keys seen only on live AIs -------------------------------------------------------


def test_the_client_learns_the_engine_keys_of_live_ais() -> None:
    ai = {"id": "5b1c1a2e-8f4b-4c57-9d0e-1f2a3b4c5d6e", "name": "bot", "engine_model": MODEL,
          "engine_key": LIVE_KEY, "direct_hash": "direct.0123456789ab",
          "tm_create": "2026-01-01T00:00:00.5Z", "tm_update": None, "tm_delete": None}
    answers = iter([httpx.Response(200, json={"result": [ai], "next_page_token": "t"}),
                    httpx.Response(200, json={"result": [], "next_page_token": ""}),
                    httpx.Response(400, json={"error": {
                        "status": "INVALID_ARGUMENT", "reason": "BAD",
                        "message": f"engine_key {LIVE_KEY} was refused"}})])
    redactor = Redactor()
    client = VoipbinClient(Connection("https://api.example.test/v1.0", Secret(ACCESSKEY)),
                           transport=httpx.MockTransport(lambda request: next(answers)),
                           clock=FakeClock(), redactor=redactor,
                           retry=RetryPolicy(max_attempts=1))
    assert [a.id for a in client.list(AGENT_KIND)] == [ai["id"]]
    assert redactor(f"{LIVE_KEY}/{ACCESSKEY}") == f"{MASK}/{MASK}"
    with pytest.raises(ApiError) as caught:
        client.update(AGENT_KIND, ai["id"], {"name": "bot"})
    assert str(caught.value).endswith(f"engine_key {MASK} was refused")


def test_the_cli_masks_an_engine_key_only_the_live_ai_has(stack: Stack) -> None:
    """A key set in the console and pasted into the prompt there: the plan's diff of the
    prompt shows the live text, with the key masked although the file never names it."""
    path = stack.write("agents.yaml", agents_yaml({"bot": {"init_prompt": "Hello"}}))
    assert stack.cli("apply", str(path), "--yes").code == 0
    bot = stack.live()[0]
    edit = stack.api().put(f"/ais/{bot['id']}", json={
        "name": "bot", "engine_model": MODEL, "engine_key": LIVE_KEY,
        "init_prompt": f"Hello. Debug: my key is {LIVE_KEY}"})
    assert edit.status_code == 200
    for args in (("plan", str(path)), ("plan", str(path), "-vv", "--format", "json"),
                 ("export",)):
        result = stack.cli(*args)
        assert result.code == 0, result.err
        assert LIVE_KEY not in result.both, args
        if args[0] == "plan":
            assert f"my key is {MASK}" in result.out
