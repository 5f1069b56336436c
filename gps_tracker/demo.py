"""A tour of ``gps_tracker`` against the embedded Invoxia emulator.

Run it with ``python -m gps_tracker.demo [--backend trio] [--latency 0.05]``. It starts a
local emulator (a real HTTP server on loopback with seeded data and a simulated network
latency), then shows the account's trackers, their status, and their newest locations
fetched concurrently, with timings, and finally the same through the blocking client.
"""

from __future__ import annotations

import argparse
import math
import time

import anyio

from gps_tracker import AsyncClient, Client
from gps_tracker.client.datatypes import Tracker
from gps_tracker.emulator import InvoxiaEmulator

LOCATIONS = 2000


async def tour(emulator: InvoxiaEmulator) -> None:
    """The async part of the demo: trackers, status, locations, timings."""
    async with AsyncClient(emulator.config()) as client:
        started = time.perf_counter()
        trackers = await client.get_trackers()
        print(f"{len(trackers)} trackers ({time.perf_counter() - started:.3f} s):")
        async with anyio.create_task_group() as group:
            for tracker in trackers:
                group.start_soon(show_tracker, client, tracker)

        tracker = trackers[0]
        print(f"\nThe {LOCATIONS} newest locations of {tracker.name!r}:")
        for concurrency in (1, client.max_concurrency):
            client.max_concurrency = concurrency
            emulator.requests.clear()
            started = time.perf_counter()
            locations = await client.get_locations(tracker, max_count=LOCATIONS)
            elapsed = time.perf_counter() - started
            distinct = len({location.uuid for location in locations})
            print(
                f"  {concurrency:>2} page(s) at a time: {len(locations)} locations "
                f"({distinct} distinct) in {elapsed:.2f} s with "
                f"{len(emulator.requests)} requests"
            )
        newest = locations[0]
        print(
            f"  newest: {newest.datetime:%Y-%m-%d %H:%M:%S%z} at "
            f"({newest.lat:.5f}, {newest.lng:.5f}) +/- {newest.precision} m"
        )


async def show_tracker(client: AsyncClient, tracker: Tracker) -> None:
    """Print one tracker with its live status."""
    status = await client.get_tracker_status(tracker)
    print(
        f"  {type(tracker).__name__:<9} {tracker.name!r:<16} battery {status.battery:>3}%  "
        f"{status.state}/{status.sub_state}"
    )


def blocking_tour(emulator: InvoxiaEmulator) -> None:
    """The same calls from plain blocking code, through the sync facade."""
    with Client(emulator.config()) as client:
        tracker = client.get_trackers()[0]
        started = time.perf_counter()
        count = sum(1 for _ in client.iter_locations(tracker, max_count=math.inf))
        elapsed = time.perf_counter() - started
        print(
            f"\nBlocking client: streamed the whole history ({count} locations) in {elapsed:.2f} s"
        )


def main() -> None:
    """Parse the options, start the emulator and run the tour."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument(
        "--latency",
        type=float,
        default=0.05,
        help="simulated network latency per request, in seconds",
    )
    options = parser.parse_args()
    with InvoxiaEmulator(latency=options.latency, locations_per_tracker=3000) as emulator:
        print(
            f"Invoxia emulator at {emulator.url} ({options.latency * 1000:.0f} ms latency), "
            f"running the async client on {options.backend}\n"
        )
        anyio.run(tour, emulator, backend=options.backend)
        blocking_tour(emulator)


if __name__ == "__main__":
    main()
