"""pytest fixtures serving a local Invoxia API.

Enable them in your root ``conftest.py``::

    pytest_plugins = ["gps_tracker.emulator.pytest_plugin"]

Fixtures:

* ``invoxia_emulator`` (function scope): a fresh, running :class:`InvoxiaEmulator` per
  test, stopped afterwards. Change its data, paging rules and faults freely.
* ``invoxia_emulator_session``: one running emulator shared by the
  whole session, for tests that only read. Do not change its data or paging rules; its
  faults and request log are cleared before each test that uses it.
* ``invoxia_emulator_options`` (session scope): the keyword arguments both are built
  with (by default 200 locations per tracker, to keep start-up cheap). Override it in a
  ``conftest.py`` to change them::

      @pytest.fixture(scope="session")
      def invoxia_emulator_options():
          return {"seed": 7, "page_size": 10, "locations_per_tracker": 2000}

Every fixture works from sync tests and from ``@pytest.mark.anyio`` tests on asyncio or
trio alike, because the server runs in its own thread. Point a client at it with
``emulator.config()`` (or ``emulator.url`` plus ``emulator.username`` and
``emulator.password``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ._emulator import InvoxiaEmulator

__all__ = ["invoxia_emulator", "invoxia_emulator_options", "invoxia_emulator_session"]


@pytest.fixture(scope="session")
def invoxia_emulator_options() -> dict[str, Any]:
    """Keyword arguments for :class:`InvoxiaEmulator`; override to customise."""
    return {"locations_per_tracker": 200}


@pytest.fixture
def invoxia_emulator(invoxia_emulator_options: dict[str, Any]) -> Iterator[InvoxiaEmulator]:
    """A running emulator of its own for one test."""
    with InvoxiaEmulator(**invoxia_emulator_options) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def _invoxia_emulator_shared(
    invoxia_emulator_options: dict[str, Any],
) -> Iterator[InvoxiaEmulator]:
    with InvoxiaEmulator(**invoxia_emulator_options) as emulator:
        yield emulator


@pytest.fixture
def invoxia_emulator_session(_invoxia_emulator_shared: InvoxiaEmulator) -> InvoxiaEmulator:
    """The session's shared, read-only emulator, with faults and request log cleared."""
    _invoxia_emulator_shared.faults.clear()
    _invoxia_emulator_shared.requests.clear()
    return _invoxia_emulator_shared
