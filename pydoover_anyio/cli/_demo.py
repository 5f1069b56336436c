"""``doover-anyio demo``: a walk through the library against emulators started in-process.

It starts a Doover emulator and an Invoxia emulator (real HTTP servers on loopback,
with a simulated network latency per request), then, on one event loop:

1. ingests 10,000 messages with ``client.ingest()`` behind a progress bar, and reads
   them back with ``iter_messages``;
2. subscribes to a channel over the WebSocket gateway and prints its events while
   another task writes to it;
3. fetches a tracker's newest locations one page at a time, then concurrently;
4. prints a summary of what each step cost.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import click
from rich.table import Table

from ..gateway import AggregateUpdate, ChannelSync, GatewayEvent, MessageCreate
from ..ingest import IngestStats
from ..models import MAX_BATCH_MUTATIONS
from ._output import progress_bar, short_json, stdout_console
from ._params import SECONDS
from ._runner import Emulators, Session, Settings, run, shared_options, start_emulators
from ._seed import SEEDED_CHANNEL, reading

__all__ = ["demo"]

_CHANNEL = "pump_log"
_LIVE_WRITES = 3
_LOCATIONS = 1000
_SHORT = 60  # characters of JSON shown per gateway event


@dataclass
class _Timings:
    rows: list[tuple[str, str, float]] = field(default_factory=list)

    def add(self, step: str, result: str, seconds: float) -> None:
        self.rows.append((step, result, seconds))


@click.command()
@click.option(
    "--messages",
    "count",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Messages to ingest.",
)
@click.option(
    "--latency",
    type=SECONDS,
    default=0.02,
    show_default=True,
    help="Seconds the Doover emulator takes per request.",
)
@click.option(
    "--invoxia-latency",
    type=SECONDS,
    default=0.05,
    show_default=True,
    help="Seconds the Invoxia emulator takes per request.",
)
@shared_options()
@click.pass_obj
def demo(settings: Settings, count: int, latency: float, invoxia_latency: float) -> None:
    """Start the emulators in-process and walk through the library.

    Ingests messages with a progress bar, follows a live subscription while another
    task writes, fetches a tracker's newest locations concurrently, and sums up the
    timings. Needs no network and no credentials.
    """
    with start_emulators(
        doover=True, invoxia=True, doover_latency=latency, invoxia_latency=invoxia_latency
    ) as emulators:
        assert emulators.doover is not None
        assert emulators.invoxia is not None
        click.echo(
            f"Doover emulator at {emulators.doover.url} ({latency * 1000:.0f} ms a request)\n"
            f"Invoxia emulator at {emulators.invoxia.url} ({invoxia_latency * 1000:.0f} ms a "
            f"request)\nThe async clients run on {settings.backend}, in one anyio.run."
        )

        async def body(session: Session) -> _Timings:
            timings = _Timings()
            await _ingest(session, count, timings)
            await _live(session, timings)
            await _locations(session, emulators, timings)
            return timings

        timings = run(settings, body, doover=True, invoxia=True, emulators=emulators)
    _summary(timings)


async def _ingest(session: Session, count: int, timings: _Timings) -> None:
    client = session.doover
    agent = session.agent()
    concurrency = 8
    click.echo(
        f"\n1. Ingest {count:,} messages into {_CHANNEL!r} with client.ingest()\n"
        f"   (batches of {MAX_BATCH_MUTATIONS}, {concurrency} requests in flight)"
    )
    await client.put_channel(agent, _CHANNEL, False)
    rng = random.Random(1)
    bar = progress_bar(enabled=True)
    task = bar.add_task("   Ingesting", total=count, rate="")

    def update(stats: IngestStats) -> None:
        bar.update(task, completed=stats.settled, rate=f"{stats.rate:,.0f} msg/s")

    first_ms = int(time.time() * 1000) - count * 1000
    with bar:
        async with client.ingest(concurrency=concurrency, on_progress=update) as ingestor:
            for index in range(count):
                await ingestor.put(
                    agent, _CHANNEL, reading(rng, index), timestamp=first_ms + index * 1000
                )
    report = ingestor.report
    rate = report.succeeded / report.elapsed
    click.echo(
        f"   {report.summary()} in {report.elapsed:.2f} s with {report.requests} requests "
        f"({rate:,.0f} messages/s)"
    )
    timings.add(
        "ingest", f"{report.succeeded:,} messages, {report.requests} requests", report.elapsed
    )

    started = time.perf_counter()
    back = await client.iter_messages(agent, _CHANNEL, page_size=1000).collect()
    elapsed = time.perf_counter() - started
    newest, oldest = back[0], back[-1]
    click.echo(
        f"   read back with iter_messages(page_size=1000): {len(back):,} messages in "
        f"{elapsed:.2f} s,\n   newest first ({newest.timestamp:%H:%M:%S} .. "
        f"{oldest.timestamp:%H:%M:%S} UTC)"
    )
    timings.add("read back", f"{len(back):,} messages, newest first", elapsed)


def _describe(event: GatewayEvent) -> str:
    if isinstance(event, ChannelSync):
        return f"ChannelSync      aggregate {short_json(event.aggregate.data, _SHORT)}"
    if isinstance(event, MessageCreate):
        return f"MessageCreate    {short_json(event.message.data, _SHORT)}"
    if isinstance(event, AggregateUpdate):
        patch = event.request_data
        if isinstance(patch, dict) and "data" in patch:
            patch = patch["data"]
        return f"AggregateUpdate  {short_json(patch, _SHORT)}"
    return type(event).__name__


def _is_final(event: GatewayEvent, patch: dict[str, Any]) -> bool:
    if not isinstance(event, AggregateUpdate):
        return False
    data = event.aggregate.data
    return isinstance(data, dict) and all(data.get(key) == value for key, value in patch.items())


async def _live(session: Session, timings: _Timings) -> None:
    client = session.doover
    agent = session.agent()
    click.echo(
        f"\n2. Subscribe to {SEEDED_CHANNEL!r} over the gateway while another task writes\n"
        f"   {_LIVE_WRITES} messages and an aggregate patch"
    )
    final_patch = {"mode": "eco"}
    started = time.perf_counter()
    events_seen = 0

    async def writer() -> None:
        rng = random.Random(2)
        for index in range(_LIVE_WRITES):
            await anyio.sleep(0.1)
            await client.create_message(agent, SEEDED_CHANNEL, reading(rng, index))
        await client.update_channel_aggregate(agent, SEEDED_CHANNEL, final_patch)

    with anyio.fail_after(30):
        async with client.subscribe(agent, SEEDED_CHANNEL) as events:
            subscribed = time.perf_counter() - started
            async with anyio.create_task_group() as group:
                group.start_soon(writer)
                async for event in events:
                    events_seen += 1
                    at = (time.perf_counter() - started) * 1000
                    click.echo(f"   +{at:4.0f} ms  {_describe(event)}")
                    if _is_final(event, final_patch):
                        break
    elapsed = time.perf_counter() - started
    click.echo(
        f"   subscribed in {subscribed * 1000:.0f} ms; {events_seen} events in {elapsed:.2f} s"
    )
    timings.add("live subscription", f"{events_seen} events while writing", elapsed)


async def _locations(session: Session, emulators: Emulators, timings: _Timings) -> None:
    client = session.invoxia
    emulator = emulators.invoxia
    assert emulator is not None
    trackers = await client.get_trackers()
    tracker = trackers[0]
    click.echo(
        f"\n3. The {_LOCATIONS:,} newest locations of tracker {tracker.name!r} ({tracker.id}),\n"
        f"   with get_locations, one page at a time and then concurrently"
    )
    default = client.max_concurrency
    for concurrency in (1, default):
        client.max_concurrency = concurrency
        emulator.requests.clear()
        started = time.perf_counter()
        found = await client.get_locations(tracker, max_count=_LOCATIONS)
        elapsed = time.perf_counter() - started
        requests = len(emulator.requests)
        distinct = len({location.uuid for location in found})
        click.echo(
            f"   {concurrency:>2} page(s) in flight: {len(found):,} locations ({distinct:,} "
            f"distinct) in {elapsed:.2f} s with {requests} requests"
        )
        timings.add(
            f"locations, {concurrency} in flight",
            f"{len(found):,} locations, {requests} requests",
            elapsed,
        )
    newest = found[0]
    if newest.datetime is not None:
        click.echo(
            f"   newest: {newest.datetime:%Y-%m-%d %H:%M:%S} UTC at ({newest.lat:.5f}, "
            f"{newest.lng:.5f}) +/- {newest.precision} m by {newest.method.name.lower()}"
        )


def _summary(timings: _Timings) -> None:
    click.echo("\nSummary")
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("step")
    table.add_column("work")
    table.add_column("seconds", justify="right")
    for step, result, seconds in timings.rows:
        table.add_row(step, result, f"{seconds:.2f}")
    table.add_row("total", "", f"{sum(row[2] for row in timings.rows):.2f}", style="bold")
    stdout_console().print(table)
