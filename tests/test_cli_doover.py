"""``doover-anyio`` channels / messages / aggregate, driven in subprocesses.

Against an emulator this test starts (the real-server path: ``--base-url``, ``--token``
and the ``DOOVER_*`` variables) and against ``--emulator`` (each process its own).
"""

from __future__ import annotations

import json
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import cli, cli_command, cli_env, doover_env_for

from pydoover_anyio.emulator import DooverEmulator

CHANNEL = "pump_log"


@pytest.fixture(scope="module")
def emulator() -> Iterator[DooverEmulator]:
    with DooverEmulator() as server:
        agent = server.default_agent_id
        server.state.create_channel(agent, CHANNEL)
        server.state.add_messages(agent, CHANNEL, [{"rpm": 1400 + i} for i in range(30)])
        yield server


@pytest.fixture
def doover_env(emulator: DooverEmulator) -> dict[str, str]:
    return doover_env_for(emulator)


def test_channels_messages_and_aggregate_from_environment_variables(
    emulator: DooverEmulator, doover_env: dict[str, str], tmp_path: Path
) -> None:
    listed = cli("channels", "list", "--json", home=tmp_path, env=doover_env)
    assert listed.returncode == 0, listed.stderr
    names = [json.loads(line)["name"] for line in listed.stdout.splitlines()]
    assert names == ["notifications", CHANNEL]

    newest = cli("messages", "list", CHANNEL, "-n", "3", "--json", home=tmp_path, env=doover_env)
    assert newest.returncode == 0, newest.stderr
    rows = [json.loads(line) for line in newest.stdout.splitlines()]
    assert [row["data"] for row in rows] == [{"rpm": 1427}, {"rpm": 1428}, {"rpm": 1429}]
    assert all(isinstance(row["id"], str) and row["timestamp"].endswith("Z") for row in rows)

    patched = cli(
        "aggregate", "patch", CHANNEL, '{"mode": "eco", "pump": {"on": true}}', "--compact",
        home=tmp_path, env=doover_env,
    )  # fmt: skip
    assert patched.returncode == 0, patched.stderr
    assert json.loads(patched.stdout) == {"mode": "eco", "pump": {"on": True}}
    fetched = cli("aggregate", "get", CHANNEL, home=tmp_path, env=doover_env)
    assert json.loads(fetched.stdout) == {"mode": "eco", "pump": {"on": True}}


def test_options_after_the_command_beat_the_environment(
    emulator: DooverEmulator, tmp_path: Path
) -> None:
    env = {"DOOVER_BASE_URL": emulator.url, "DOOVER_TOKEN": "not-a-token"}
    result = cli(
        "messages", "list", CHANNEL, "-n", "1", "--token", emulator.token,
        "--agent-id", str(emulator.default_agent_id), home=tmp_path, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith('{"rpm":1429}')


def test_errors_are_one_line_unless_debug(emulator: DooverEmulator, tmp_path: Path) -> None:
    bad_token = {"DOOVER_BASE_URL": emulator.url, "DOOVER_AGENT_ID": str(emulator.default_agent_id)}
    refused = cli("--token", "wrong", "channels", "list", home=tmp_path, env=bad_token)
    assert refused.returncode == 1
    assert refused.stdout == ""
    [line] = refused.stderr.splitlines()
    assert line.startswith("doover-anyio: error: HTTP 401 on GET ")

    debugged = cli("--token", "wrong", "--debug", "channels", "list", home=tmp_path, env=bad_token)
    assert debugged.returncode == 1
    assert "Traceback (most recent call last)" in debugged.stderr
    assert "UnauthorizedError" in debugged.stderr
    assert debugged.stderr.rstrip().splitlines()[-1].startswith("doover-anyio: error: HTTP 401")

    nothing = cli("channels", "list", home=tmp_path)  # no token, no profile, no emulator
    assert nothing.returncode == 1
    assert nothing.stderr.splitlines() == [
        "doover-anyio: error: no credentials: pass --token or --profile (or set "
        "DOOVER_TOKEN or DOOVER_PROFILE), or use --emulator"
    ]

    usage = cli("--emulator", "messages", "list", CHANNEL, "--since", "soon", home=tmp_path)
    assert usage.returncode == 2
    assert "'soon' is not a time" in usage.stderr
    assert "Traceback" not in usage.stderr


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_tail_follow_prints_live_messages_until_ctrl_c(backend: str, tmp_path: Path) -> None:
    # --emulator: the process starts its own seeded emulator plus a simulated device
    # writing a reading every half second.
    process = subprocess.Popen(
        cli_command(
            "--backend", backend, "messages", "tail", "telemetry", "-n", "2", "--follow",
            "--json", "--emulator",
        ),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(tmp_path),
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[dict[str, object]] = []
    deadline = time.monotonic() + 30
    try:
        while len(lines) < 4 and time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 1.0)
            if ready:
                line = process.stdout.readline()
                if not line:
                    break
                lines.append(json.loads(line))
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert len(lines) == 4, stderr
    ids = [int(str(line["id"])) for line in lines]
    assert ids == sorted(set(ids))  # the 2 newest, then 2 live ones, each once, in order
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert "error" not in stderr
