"""Fixtures shared by the Doover client tests (load with ``pytest_plugins``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pydoover.api
import pytest
from doover_client_support import CHANNEL, client_options

from pydoover_anyio.client import AsyncDataClient
from pydoover_anyio.emulator import DooverEmulator


@pytest.fixture
def emu(doover_emulator_session: DooverEmulator) -> DooverEmulator:
    """The session's emulator, reset to its seeded state."""
    return doover_emulator_session


@pytest.fixture
def agent(emu: DooverEmulator) -> int:
    """The emulator's default agent (the subject of its token)."""
    return emu.default_agent_id


@pytest.fixture
def channel(emu: DooverEmulator, agent: int) -> str:
    """A channel of the default agent, created on the server."""
    emu.state.create_channel(agent, CHANNEL)
    return CHANNEL


@pytest.fixture
async def client(emu: DooverEmulator, agent: int) -> AsyncIterator[AsyncDataClient]:
    """An async client of the emulator (the default agent as its ``agent_id``), closed
    after the test."""
    async with AsyncDataClient(emu.url, token=emu.token, agent_id=agent, **client_options()) as c:
        yield c


@pytest.fixture
def reference(emu: DooverEmulator) -> Iterator[pydoover.api.DataClient]:
    """pydoover's own blocking client, pointed at the same emulator."""
    ref = pydoover.api.DataClient(base_url=emu.url, token=emu.token)
    yield ref
    ref.close()
