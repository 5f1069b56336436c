"""The pytest plugin's documented examples, run as written (on both backends)."""

from __future__ import annotations

import pytest

from pydoover_anyio import AsyncDataClient, DataClient
from pydoover_anyio.emulator import DooverEmulator

pytest_plugins = ["pydoover_anyio.emulator.pytest_plugin"]


def test_pump_report(doover_emulator: DooverEmulator) -> None:
    agent = doover_emulator.default_agent_id
    doover_emulator.state.create_channel(agent, "pump_log")
    with DataClient(doover_emulator.url, token=doover_emulator.token) as client:
        client.create_message(agent, "pump_log", {"rpm": 1450})
    assert doover_emulator.state.messages(agent, "pump_log")[0]["data"] == {"rpm": 1450}


@pytest.mark.anyio
async def test_survives_a_flaky_server(doover_emulator: DooverEmulator) -> None:
    doover_emulator.faults.fail(2, 503)  # the next two requests fail
    token = doover_emulator.token
    async with AsyncDataClient(doover_emulator.url, token=token, retry_delay=0.01) as client:
        await client.list_channels(doover_emulator.default_agent_id)  # retried
    assert [r.status for r in doover_emulator.requests.entries()] == [503, 503, 200]
