"""What ``--emulator`` puts in the emulators, so that every command shows something.

The Doover emulator's default agent gets:

* ``telemetry``: 240 pump readings, one a minute up to now (``rpm``, ``pressure_kpa``,
  ``temperature_c``, ``running``), merged into its aggregate, which also carries the
  site's name and the pump's model;
* ``events``: a handful of pump events over the same four hours;
* ``notifications``: the channel every agent has.

``messages tail --follow --emulator`` also runs :func:`simulate_device`, which writes a
new reading every half second while the command runs. The Invoxia emulator is the
standard seeded account (three trackers: ``Boat`` 599748, ``Backpack`` 623101, ``Keys``
354916, 3,000 locations each) with tracks ending now.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any, Final

import anyio

if TYPE_CHECKING:
    from .. import AsyncDataClient
    from ..emulator import DooverEmulator

__all__ = ["SEEDED_CHANNEL", "reading", "seed_doover", "simulate_device"]

SEEDED_CHANNEL: Final = "telemetry"
_READINGS: Final = 240
_STEP_MS: Final = 60_000
_EVENTS: Final = ("pump_start", "pressure_high", "pressure_ok", "pump_stop", "pump_start")


def reading(rng: random.Random, index: int) -> dict[str, Any]:
    """One plausible pump reading."""
    running = (index + 20) % 60 < 50  # stopped 10 minutes an hour, not lately
    rpm = rng.randint(1420, 1480) if running else 0
    return {
        "rpm": rpm,
        "pressure_kpa": round(300 + rng.uniform(-15, 15), 1) if running else 0.0,
        "temperature_c": round(41 + rng.uniform(-2, 2), 1),
        "running": running,
    }


def seed_doover(emulator: DooverEmulator) -> None:
    """Create and fill the demo channels of the emulator's default agent."""
    state = emulator.state
    agent = emulator.default_agent_id
    rng = random.Random(0)
    now_ms = int(time.time() * 1000)
    first = now_ms - (_READINGS - 1) * _STEP_MS - 1000
    state.create_channel(agent, SEEDED_CHANNEL)
    with state.lock:
        state.update_aggregate(
            state.channel(agent, SEEDED_CHANNEL),
            {"site": "North bore", "pump": {"model": "Grundfos SP 5A", "max_rpm": 1800}},
        )
    state.add_messages(
        agent,
        SEEDED_CHANNEL,
        [reading(rng, index) for index in range(_READINGS)],
        first_ms=first,
        step_ms=_STEP_MS,
    )
    state.create_channel(agent, "events")
    step = _READINGS * _STEP_MS // len(_EVENTS)
    state.add_messages(
        agent,
        "events",
        [{"event": name, "by": "controller"} for name in _EVENTS],
        first_ms=first,
        step_ms=step,
    )


async def simulate_device(
    client: AsyncDataClient, agent_id: int, channel: str = SEEDED_CHANNEL, interval: float = 0.5
) -> None:
    """Write a new reading every ``interval`` seconds, until cancelled."""
    rng = random.Random()
    index = 0
    while True:
        await anyio.sleep(interval)
        await client.create_message(agent_id, channel, reading(rng, index))
        index += 1
