"""The saved plan file itself (`plan --out`): what it looks like to a reviewer, which edits its
checksum tolerates (layout) and which it refuses (content), the checksum of the desired state it
records, and the plans it still reads when optional parts are missing."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from voipbin_iac.core.model import DesiredResource, DesiredState, Manifest, Plan, Safety
from voipbin_iac.core.plan import PlanOptions
from voipbin_iac.core.serialize import plan_to_data
from voipbin_iac.errors import StalePlanError
from voipbin_iac.state import savedplan

ACCOUNT = "acct-fingerprint"


def desired() -> DesiredState:
    """A desired state whose fields are not in sorted order and hold non-ASCII text."""
    bot = DesiredResource("agent", "bot", {"name": "Café bot", "detail": "Grüße", "age": 3},
                          protect=True, ignore_changes=frozenset({"detail", "age"}))
    return DesiredState(resources={"agent": {"bot": bot}}, moved={"old-bot": "bot"},
                        safety=Safety(max_change_percent=50.0, min_owned=3, adopt="never"),
                        files=("équipe/agents.yaml",))


def saved_file(tmp_path: Path, recorded: savedplan.Recorded | None = None,
               options: PlanOptions | None = None) -> Path:
    path = tmp_path / "plan.json"
    savedplan.save(path, Plan(changes=()), desired(), Manifest(), options or PlanOptions(),
                   ACCOUNT, recorded)
    return path


def checksum(body: dict[str, Any]) -> str:
    """The file's checksum as the format defines it: SHA-256 of the body without `checksum`,
    as compact JSON with sorted keys and text as is (not \\u escapes)."""
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hand_made(tmp_path: Path, **parts: Any) -> Path:
    """A saved plan written without `save` (as another release or a tool would write it), its
    keys deliberately not in sorted order."""
    body: dict[str, Any] = {
        "kind": savedplan.KIND,
        "tool_version": "0.0.0",
        "files": ["agents-é.yaml"],
        "recorded": None,
        "account": "compte-é",
        "desired_checksum": "d",
        "manifest_checksum": "m",
        "plan": plan_to_data(Plan(changes=())),
    } | parts
    body = {k: v for k, v in body.items() if v is not ...}
    body["checksum"] = checksum(body)
    path = tmp_path / "hand.json"
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def test_a_saved_plan_is_indented_by_two_spaces_for_a_reviewer(tmp_path: Path) -> None:
    lines = saved_file(tmp_path).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "{"
    assert lines[1] == f'  "kind": "{savedplan.KIND}",'


def test_a_saved_plan_shows_non_ascii_text_as_written_not_as_escapes(tmp_path: Path) -> None:
    path = saved_file(tmp_path)
    text = path.read_text(encoding="utf-8")
    assert '"équipe/agents.yaml"' in text
    assert "\\u00e9" not in text


def test_a_plan_saved_without_recorded_inputs_loads_with_none_recorded(tmp_path: Path) -> None:
    path = saved_file(tmp_path, recorded=None)
    assert json.loads(path.read_text(encoding="utf-8"))["recorded"] is None
    loaded = savedplan.load(path)
    assert loaded.recorded is None
    assert loaded.account == ACCOUNT


def test_recorded_inputs_without_a_list_of_files_are_not_recorded() -> None:
    assert savedplan.Recorded.from_data({}, Path("/plans")) is None
    assert savedplan.Recorded.from_data({"files": "agents.yaml"}, Path("/plans")) is None
    assert savedplan.Recorded.from_data(None, Path("/plans")) is None


def test_a_saved_plan_reformatted_by_a_json_tool_still_loads(tmp_path: Path) -> None:
    """Sorting the keys and changing the indentation (`jq -S .`) changes no content."""
    path = saved_file(tmp_path, options=PlanOptions(prune=True, targets=frozenset({"bot"})))
    body = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(body, sort_keys=True, indent=4, ensure_ascii=True),
                    encoding="utf-8")
    loaded = savedplan.load(path)
    assert loaded.options == PlanOptions(prune=True, targets=frozenset({"bot"}))
    assert loaded.desired == savedplan.desired_checksum(desired())


def test_a_saved_plan_whose_content_was_edited_is_refused(tmp_path: Path) -> None:
    path = saved_file(tmp_path)
    body = json.loads(path.read_text(encoding="utf-8"))
    body["options"]["prune"] = True
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(StalePlanError, match="was modified after it was made"):
        savedplan.load(path)


def test_a_plan_written_by_another_tool_with_the_defined_checksum_loads(tmp_path: Path) -> None:
    """The checksum is of sorted, compact JSON with text as is: a plan written to that
    definition (non-ASCII names included) is accepted, whatever its own key order."""
    path = hand_made(tmp_path, options={"prune": False, "targets": ["bot"], "excludes": []})
    loaded = savedplan.load(path)
    assert loaded.account == "compte-é"
    assert loaded.options == PlanOptions(targets=frozenset({"bot"}))


def test_a_saved_plan_without_options_loads_with_the_default_options(tmp_path: Path) -> None:
    loaded = savedplan.load(hand_made(tmp_path))
    assert loaded.options == PlanOptions()


def test_options_without_targets_or_excludes_mean_none_of_them(tmp_path: Path) -> None:
    loaded = savedplan.load(hand_made(tmp_path, options={"prune": True}))
    assert loaded.options == PlanOptions(prune=True)


def test_the_desired_checksum_of_a_desired_state_does_not_change_between_releases() -> None:
    """A plan saved by one release and applied by the next, with nothing changed, must not be
    refused as "the desired state changed": the checksum is a fixed function of the fields
    (in any order), protect, ignore_changes, moved: and safety:."""
    assert savedplan.desired_checksum(desired()) == (
        "a81ee5d2e01e45d8d0c35298ba12dbac5b77417f6392ba59f05f9af7f480743c")


def test_a_saved_plan_with_non_ascii_text_is_read_as_utf8_whatever_the_locale(
        tmp_path: Path) -> None:
    """Saved plans are UTF-8 files; a machine whose locale encoding is ASCII reads them too."""
    path = saved_file(tmp_path)
    code = ("import sys; from pathlib import Path; from voipbin_iac.state import savedplan; "
            "savedplan.load(Path(sys.argv[1])); import locale; "
            "print(locale.getpreferredencoding(False))")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))}
    env |= {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0",
            "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-X", "utf8=0", "-c", code, str(path)], env=env,
                          capture_output=True, text=True, encoding="utf-8", check=False)
    assert done.returncode == 0, done.stderr
    assert "utf" not in done.stdout.lower()  # the child really had a non-UTF-8 locale
