"""pytest fixtures serving a local Doover data API.

Enable them in your root ``conftest.py``::

    pytest_plugins = ["pydoover_anyio.emulator.pytest_plugin"]

Fixtures:

* ``doover_emulator`` (function scope): a fresh, running :class:`DooverEmulator` per
  test, stopped afterwards. Change its data and faults freely.
* ``doover_emulator_session``: one running emulator shared by the whole session and
  :meth:`~DooverEmulator.reset` before each test that uses it (data re-seeded, faults,
  request log and token count cleared), so it is nearly as isolated as the function
  fixture and much cheaper. Its ids, credentials and signing key stay the same, and
  tokens issued in an earlier test stay valid.
* ``doover_emulator_options`` (session scope): the keyword arguments both are built
  with (none by default). Override it in a ``conftest.py`` to change them::

      @pytest.fixture(scope="session")
      def doover_emulator_options():
          return {"max_limit": 500, "token_lifetime": 120}

Every fixture works from sync tests and from ``@pytest.mark.anyio`` tests on asyncio or
trio alike, because the server runs in its own thread. Point a client at
``emulator.url`` with ``emulator.token`` (or the OAuth credentials it exposes)::

    from pydoover_anyio import AsyncDataClient, DataClient

    def test_pump_report(doover_emulator):
        agent = doover_emulator.default_agent_id
        doover_emulator.state.create_channel(agent, "pump_log")
        with DataClient(doover_emulator.url, token=doover_emulator.token) as client:
            client.create_message(agent, "pump_log", {"rpm": 1450})
        assert doover_emulator.state.messages(agent, "pump_log")[0]["data"] == {"rpm": 1450}

    @pytest.mark.anyio
    async def test_survives_a_flaky_server(doover_emulator):
        doover_emulator.faults.fail(2, 503)  # the next two requests fail
        token = doover_emulator.token
        async with AsyncDataClient(doover_emulator.url, token=token, retry_delay=0.01) as client:
            await client.list_channels(doover_emulator.default_agent_id)  # retried
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ._emulator import DooverEmulator

__all__ = ["doover_emulator", "doover_emulator_options", "doover_emulator_session"]


@pytest.fixture(scope="session")
def doover_emulator_options() -> dict[str, Any]:
    """Keyword arguments for :class:`DooverEmulator`; override to customise."""
    return {}


@pytest.fixture
def doover_emulator(doover_emulator_options: dict[str, Any]) -> Iterator[DooverEmulator]:
    """A running emulator of its own for one test."""
    with DooverEmulator(**doover_emulator_options) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def _doover_emulator_shared(
    doover_emulator_options: dict[str, Any],
) -> Iterator[DooverEmulator]:
    with DooverEmulator(**doover_emulator_options) as emulator:
        yield emulator


@pytest.fixture
def doover_emulator_session(_doover_emulator_shared: DooverEmulator) -> DooverEmulator:
    """The session's shared emulator, reset to its seeded state."""
    _doover_emulator_shared.reset()
    return _doover_emulator_shared
