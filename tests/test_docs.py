"""The documentation tells the truth: the README's YAML reference is the schema's, its two
commands are what CI and users run, and the shipped CI examples call the CLI correctly."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from voipbin_iac.cli import app as cli
from voipbin_iac.desired import schemadoc

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_yaml_reference_is_generated_from_the_schema() -> None:
    block = README.split("<!-- BEGIN yaml-reference -->\n", 1)[1].split(
        "<!-- END yaml-reference -->", 1)[0]
    assert block == schemadoc.markdown(), "run: voipbin-iac schema --markdown, paste into README"


def test_every_schema_field_is_in_the_reference() -> None:
    import json

    schema = json.loads((ROOT / "schemas" / "agents.schema.json").read_text())
    reference = schemadoc.markdown()
    for name in schema["$defs"]["agent"]["properties"]:
        assert f"| `{name}` |" in reference


def test_ci_runs_exactly_the_readme_test_command() -> None:
    command = "pip install '.[test]' && ruff check . && python -m pytest"
    assert f"```sh\n{command}\n```" in README
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert lines[-1] == command


def test_readme_quick_start_runs_the_main_job_on_the_emulator() -> None:
    assert ("pip install . && voipbin-iac apply examples/agents.yaml --emulator --yes"
            in README)


def test_readme_documents_every_command() -> None:
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if hasattr(a, "choices") and a.choices)
    for name in commands.choices:
        assert re.search(rf"\| `{name}[ `]", README), name


def test_github_actions_example_plans_on_pr_and_applies_on_merge() -> None:
    workflow = yaml.safe_load((ROOT / "examples" / "github-actions" / "voipbin-iac.yml")
                              .read_text())
    assert set(workflow[True]) == {"pull_request", "push"}  # YAML 1.1 reads `on` as True
    plan_steps = " ".join(str(s.get("run", "")) for s in workflow["jobs"]["plan"]["steps"])
    assert "voipbin-iac plan agents.yaml --format markdown --detailed-exitcode" in plan_steps
    assert "gh pr comment" in plan_steps
    apply = workflow["jobs"]["apply"]
    apply_steps = " ".join(str(s.get("run", "")) for s in apply["steps"])
    assert "voipbin-iac apply agents.yaml --yes" in apply_steps
    assert "git add agents.manifest.yaml" in apply_steps
    commit = next(s for s in apply["steps"] if "git add" in str(s.get("run", "")))
    assert commit["if"] == "always()"
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            for name in step.get("env", {}):
                assert name in ("VOIPBIN_API_KEY", "OPENAI_API_KEY", "GH_TOKEN", "PR")


def test_pre_commit_hook_validates_each_file_offline(tmp_path: Path) -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    argv = hook["entry"].split()
    assert argv[:2] == ["voipbin-iac", "validate"]
    assert re.search(hook["files"], "envs/prod.yaml") and re.search(hook["files"],
                                                                    "agents.yaml")
    assert not re.search(hook["exclude"], "agents.yaml")
    assert re.search(hook["exclude"], "agents.manifest.yaml")
    import io

    a = tmp_path / "agents.yaml"
    a.write_text("version: 1\ndefaults:\n  engine_model: openai.gpt-5\n"
                 "  engine_key: ${env:NOT_SET_IN_PRE_COMMIT}\nagents:\n  x: {}\n")
    b = tmp_path / "prod.yaml"
    b.write_text("version: 1\nagents:\n  y:\n    engine_model: openai.gpt-5\n")
    out, err = io.StringIO(), io.StringIO()
    code = cli.main([*argv[1:], str(a), str(b)], stdout=out, stderr=err, env={})
    assert code == 0, err.getvalue()
    assert out.getvalue().count("ok:") == 2
    assert "NOT_SET_IN_PRE_COMMIT is not set" in err.getvalue()
    strict = cli.main(["validate", str(a)], stdout=io.StringIO(), stderr=io.StringIO(), env={})
    assert strict == 1
