"""The apply log beside the manifest, at the CLI: a failure to write it is one clear line
naming the file, before any change is made."""

from __future__ import annotations

from .conftest import Stack, agents_yaml


def test_an_apply_log_that_cannot_be_written_stops_the_apply_before_any_write(
        stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    log = path.with_name("agents.apply.jsonl")
    log.mkdir()  # a directory where the log should be
    result = stack.cli("apply", str(path), "--yes")
    assert result.code == 1
    assert result.err == (f"error: cannot write the apply log {log}: Is a directory\n"
                          "hint: check the path and its directory's permissions\n")
    assert not stack.live()
    assert not stack.app.request_log.requests(method="POST")
