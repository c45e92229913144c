"""Secrets never leak: with a known engine_key and accesskey, every command at top verbosity,
failing ones included (401, 429 storm, 500, dropped connection, refused connection, garbage
answers), leaves neither secret in stdout, stderr or any file it wrote."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from voipbin_iac.emulator import EmulatorConfig

from .conftest import KEY, Result, Stack, agents_yaml

SECRET_ENGINE_KEY = "sk-live-SECRET-engine-key-7d3f9b2c1a"
SECRET_ACCESSKEY = "vb_SECRET_accesskey_c0ffee1234567890"


def check_clean(results: list[Result], workdir: Path) -> None:
    for result in results:
        for secret in (SECRET_ENGINE_KEY, SECRET_ACCESSKEY):
            assert secret not in result.out, result.out
            assert secret not in result.err, result.err
        assert "Traceback" not in result.err, result.err
    for path in workdir.rglob("*"):
        if path.is_file() and path.name != "agents.yaml":
            data = path.read_bytes()
            assert SECRET_ENGINE_KEY.encode() not in data, path
            assert SECRET_ACCESSKEY.encode() not in data, path


def secret_stack(make_stack, config: EmulatorConfig | None = None) -> Stack:
    stack = make_stack(config)
    stack.store.ensure_accesskey(SECRET_ACCESSKEY)
    stack.env.update({"VOIPBIN_API_KEY": SECRET_ACCESSKEY, "OPENAI_API_KEY": SECRET_ENGINE_KEY})
    return stack


@pytest.mark.parametrize("transport", ["cookie", "query"])
def test_every_command_keeps_secrets(make_stack, transport: str) -> None:
    stack = secret_stack(make_stack)
    stack.env["VOIPBIN_AUTH_TRANSPORT"] = transport
    path = stack.write("agents.yaml", agents_yaml({
        "support": {"name": "Support", "init_prompt": "Hello"},
        "sales": {"name": "Sales", "engine_key": SECRET_ENGINE_KEY},  # a literal, warned about
    }))
    plan_file = stack.path("plan.json")
    results = [
        stack.cli("validate", str(path), "-vv"),
        stack.cli("plan", str(path), "-vv"),
        stack.cli("plan", str(path), "-vv", "--format", "json"),
        stack.cli("plan", str(path), "-vv", "--format", "markdown", "--out", plan_file),
        stack.cli("apply", str(path), "-vv", "--plan", plan_file, "--yes"),
        stack.cli("apply", str(path), "-vv", "--yes", "--format", "json"),
        stack.cli("export", "-vv"),
        stack.cli("export", "-vv", "--out", stack.path("exported.yaml")),
        stack.cli("manifest", "-f", str(path), "--format", "json"),
        stack.cli("manifest", "-f", str(path), "--format", "env"),
        stack.cli("rotate", "sales", "-f", str(path), "--yes", "-vv"),
        stack.cli("call", "support", "-f", str(path), "--from", "sip:t@example.com", "-vv"),
    ]
    assert [r.code for r in results] == [0] * len(results), [r.err for r in results]
    assert "literal secret" in results[0].err
    manifest = yaml.safe_load(path.with_name("agents.manifest.yaml").read_text())["agents"]
    other = stack.api().post("/ais", json={"name": "x", "engine_model": "openai.gpt-5",
                                            "engine_key": SECRET_ENGINE_KEY}).json()
    results.append(stack.cli("import", "x", other["id"], "-f", str(path), "-vv"))
    path.write_text(agents_yaml({"support": {"name": "Support", "init_prompt": "changed"}}))
    results.append(stack.cli("apply", str(path), "-vv", "--yes", "--prune"))
    from voipbin_iac.core.secret import fingerprint

    assert manifest["support"]["engine_key_fingerprint"] == fingerprint(SECRET_ENGINE_KEY)
    check_clean(results, stack.workdir)


FAILURES = {
    "429 storm": EmulatorConfig(rate_limit=None, auth_rate_limit=None, fault_rate=1.0,
                                fault_kinds=("429",), seed=1),
    "500": EmulatorConfig(rate_limit=None, auth_rate_limit=None, fault_rate=1.0,
                          fault_kinds=("500",), seed=1),
    "dropped connection": EmulatorConfig(rate_limit=None, auth_rate_limit=None, fault_rate=1.0,
                                         fault_kinds=("drop",), seed=1),
    "lost answers": EmulatorConfig(rate_limit=None, auth_rate_limit=None, fault_rate=1.0,
                                   fault_kinds=("lost",), seed=1),
    "503": EmulatorConfig(rate_limit=None, auth_rate_limit=None, fault_rate=1.0,
                          fault_kinds=("503",), seed=1),
}


@pytest.mark.parametrize("transport", ["cookie", "query"])
@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_failing_commands_keep_secrets(make_stack, failure: str, transport: str) -> None:
    stack = secret_stack(make_stack, FAILURES[failure])
    stack.env["VOIPBIN_AUTH_TRANSPORT"] = transport
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    results = [
        stack.cli("plan", str(path), "-vv"),
        stack.cli("apply", str(path), "-vv", "--yes"),
        stack.cli("export", "-vv"),
        stack.cli("import", "a", "0f0f0f0f-0000-4000-8000-000000000000", "-f", str(path),
                  "-vv"),
    ]
    assert all(r.code == 1 for r in results), [r.err for r in results]
    assert all(r.err.count("error:") >= 1 for r in results)
    check_clean(results, stack.workdir)


def test_401_refused_connection_and_garbage_keep_secrets(stack: Stack, tmp_path: Path) -> None:
    stack.env.update({"VOIPBIN_API_KEY": SECRET_ACCESSKEY, "OPENAI_API_KEY": SECRET_ENGINE_KEY})
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    results = []
    for transport in ("cookie", "query"):
        env = {"VOIPBIN_AUTH_TRANSPORT": transport}
        unauthorised = stack.cli("apply", str(path), "-vv", "--yes", env=env)
        assert unauthorised.code == 1 and "401" in unauthorised.err
        results.append(unauthorised)
        with socket.socket() as sock:  # bound, never listening, held: refuses connections
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            refused = stack.cli("plan", str(path), "-vv", env={
                **env, "VOIPBIN_API_BASE_URL": f"http://127.0.0.1:{port}/v1.0"})
        assert refused.code == 1 and "got no answer" in refused.err
        results.append(refused)
        # Not a VoIPBin API at all: the emulator root answers 404 pages without an envelope.
        garbage = stack.cli("plan", str(path), "-vv", env={
            **env, "VOIPBIN_API_BASE_URL": stack.server.root_url + "/elsewhere",
            "VOIPBIN_API_KEY": KEY})
        assert garbage.code == 1
        assert "error: GET /ais answered 404" in garbage.err, garbage.err
        results.append(garbage)
    check_clean(results, stack.workdir)


@pytest.mark.parametrize("seed", [3, 4])
def test_writes_failing_midway_keep_secrets(make_stack, seed: int) -> None:
    stack = secret_stack(make_stack, EmulatorConfig(rate_limit=None, auth_rate_limit=None,
                                                    fault_rate=0.5, seed=seed))
    stack.env["VOIPBIN_AUTH_TRANSPORT"] = "query"
    path = stack.write("agents.yaml", agents_yaml({f"a{i}": {} for i in range(12)}))
    results = [stack.cli("apply", str(path), "-vv", "--yes", "--concurrency", "3")
               for _ in range(2)]
    failed_writes = [r for r in stack.app.request_log.requests(method="POST") if r.fault]
    assert failed_writes  # the writes themselves met faults, not only the listing
    check_clean(results, stack.workdir)
