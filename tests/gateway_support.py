"""What the gateway tests share: fast settings, an emulator with a channel, ``next_of``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import anyio

from pydoover_anyio import GatewaySettings
from pydoover_anyio.emulator import DooverEmulator

CHANNEL = "telemetry"

#: Liveness and reconnect timings short enough for tests to see drops and reconnects.
FAST = GatewaySettings(
    ping_interval=0.1,
    ping_timeout=0.25,
    open_timeout=3.0,
    close_timeout=0.5,
    reconnect_base=0.01,
    reconnect_cap=0.05,
)

#: ``FAST`` but with relaxed pings, for tests that must not see a spurious drop.
STEADY = dataclasses.replace(FAST, ping_interval=1.0, ping_timeout=1.0)


def running_emulator(channel: str = CHANNEL, **options: Any) -> Iterator[DooverEmulator]:
    """A started emulator (built with ``options``) whose default agent has ``channel``.

    A fixture body: ``yield from running_emulator()``.
    """
    with DooverEmulator(**options) as emulator:
        emulator.state.create_channel(emulator.default_agent_id, channel)
        yield emulator


async def next_of(events: Any, kind: type, within: float = 5.0) -> Any:
    """The next event, which must be a ``kind``."""
    with anyio.fail_after(within):
        event = await events.__anext__()
    assert isinstance(event, kind), f"expected {kind.__name__}, got {event!r}"
    return event
