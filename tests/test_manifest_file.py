"""The manifest file as the CLI reads it: every field read back as written, and a damaged
file refused with one line that says where and what to do (restore it from git)."""

from __future__ import annotations

import json

import pytest

from .conftest import Stack, agents_yaml

ID1 = "5b1c1a2e-8f4b-4c57-9d0e-1f2a3b4c5d6e"
ID2 = "6b1c1a2e-8f4b-4c57-9d0e-1f2a3b4c5d6e"
RESTORE = "hint: restore it from git; it is written by `voipbin-iac apply {config}`\n"
UUID = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def entry(ai_id: str, name: str, **extra: str) -> str:
    fields = {"id": ai_id, "name": name, "direct_hash": "direct.0123456789ab",
              "sip_uri": "sip:direct.0123456789ab@sip.voipbin.net", **extra}
    return "{" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + "}"


def test_every_recorded_field_is_read_back(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    path.with_name("agents.manifest.yaml").write_text(
        "version: 1\nagents:\n"
        f"  a: {entry(ID1, 'A', protect='true', fingerprint='0d8c2f6a9b1e4c73', engine_key_fingerprint='3c9a1e0b7d21')}\n"  # noqa: E501
        f"  b: {entry(ID2, 'B')}\n")
    result = stack.cli("manifest", "-f", str(path), "--format", "json")
    assert result.code == 0, result.err
    agents = json.loads(result.out)["agents"]
    assert agents == {
        "a": {"id": ID1, "name": "A", "direct_hash": "direct.0123456789ab",
              "sip_uri": "sip:direct.0123456789ab@sip.voipbin.net",
              "engine_key_fingerprint": "3c9a1e0b7d21", "fingerprint": "0d8c2f6a9b1e4c73",
              "protect": True},
        "b": {"id": ID2, "name": "B", "direct_hash": "direct.0123456789ab",
              "sip_uri": "sip:direct.0123456789ab@sip.voipbin.net"},
    }


@pytest.mark.parametrize(("text", "error"), [
    (f"version: 1\nagents:\n  a: {entry('nope', 'x')}\n",
     "the manifest is not valid: {path}:3:7: agents.a.id: 'nope' does not match " + UUID),
    (f"version: 1\nagents:\n  a: {entry('nope', 'x')}\n  b: {entry('nope', 'y')}\n",
     "the manifest is not valid: {path}:N:7: agents.K.id: 'nope' does not match " + UUID
     + " (and 1 more)"),  # which of the two comes first is jsonschema's choice
    ("agents: [\n",
     "cannot read the manifest: {path}:2:1: invalid YAML: did not find expected node content"),
])
def test_a_damaged_manifest_is_one_line_with_its_place(stack: Stack, text: str,
                                                       error: str) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    manifest = path.with_name("agents.manifest.yaml")
    manifest.write_text(text)
    for args in (("plan", str(path)), ("manifest", "-f", str(path))):
        result = stack.cli(*args)
        assert result.code == 1
        expected = ("error: " + error.replace("{path}", str(manifest)) + "\n"
                    + RESTORE.replace("{config}", str(path)))
        assert result.err in {expected.replace(":N:", f":{line}:").replace(".K.", f".{key}.")
                              for line, key in ((3, "a"), (4, "b"))}
    # Refused before any write (a plan lists the account while it reads the files).
    assert {r.method for r in stack.app.request_log.requests()} <= {"GET"}


def test_one_id_under_two_keys_is_refused_with_the_second_place(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    manifest = path.with_name("agents.manifest.yaml")
    manifest.write_text(f"version: 1\nagents:\n  a: {entry(ID1, 'x')}\n  b: {entry(ID1, 'y')}\n")
    result = stack.cli("plan", str(path))
    assert result.code == 1
    assert result.err == (f"error: {manifest}:4:3: id {ID1} is recorded for both 'a' and 'b'\n"
                          "hint: remove one of the two entries; one resource can belong to "
                          "one key only\n")


def test_entries_are_set_and_removed_by_key() -> None:
    from voipbin_iac.core.model import Manifest, ManifestEntry
    from voipbin_iac.state.manifest import with_entries

    a, b = ManifestEntry(id=ID1, name="A"), ManifestEntry(id=ID2, name="B")
    start = Manifest({"agent": {"a": a}}, account="acc", files=("agents.yaml",))
    assert with_entries(start, "agent", {"b": b}).agents == {"a": a, "b": b}
    assert with_entries(start, "agent", {"a": None, "never-there": None}).agents == {}
    teams = with_entries(start, "team", {"t": b})
    assert (teams.agents, teams.teams) == ({"a": a}, {"t": b})  # by kind
    assert (teams.account, teams.files) == ("acc", ("agents.yaml",))  # kept
    assert start.agents == {"a": a} and not start.teams  # a copy: the original is as it was


def test_the_manifest_text_is_stable_readable_yaml(stack: Stack) -> None:
    """Keys sorted, fields in the documented order, block style, non-ASCII kept as written,
    and names up to 100 columns on one line: the file diffs cleanly in git."""
    long_name = "Bötchen ☎ " + "for the support line of the company, " * 2 + "end"
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    path.with_name("agents.manifest.yaml").write_text(
        "version: 1\nagents:\n"
        f"  z: {entry(ID2, 'Zed', protect='true', fingerprint='0d8c2f6a9b1e4c73')}\n"
        f"  a: {entry(ID1, repr(long_name))}\n")
    result = stack.cli("manifest", "-f", str(path))
    assert result.code == 0, result.err
    assert result.out == (
        "# Generated by voipbin-iac. Do not edit: `voipbin-iac import KEY ID` records an "
        "existing AI.\n"
        "version: 1\n"
        "agents:\n"
        "  a:\n"
        f"    id: {ID1}\n"
        f"    name: {long_name}\n"
        "    direct_hash: direct.0123456789ab\n"
        "    sip_uri: sip:direct.0123456789ab@sip.voipbin.net\n"
        "  z:\n"
        f"    id: {ID2}\n"
        "    name: Zed\n"
        "    direct_hash: direct.0123456789ab\n"
        "    sip_uri: sip:direct.0123456789ab@sip.voipbin.net\n"
        "    fingerprint: 0d8c2f6a9b1e4c73\n"
        "    protect: true\n")
