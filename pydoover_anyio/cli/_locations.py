"""``doover-anyio locations trackers|export``: an Invoxia account's trackers and tracks.

Credentials: ``--username`` / ``--password`` (or ``INVOXIA_USERNAME`` /
``INVOXIA_PASSWORD``; ``INVOXIA_API_URL`` for another server), or ``--emulator`` for
the seeded local account. ``export`` writes to stdout, or atomically to ``-o FILE``
(a temporary file in the same directory, renamed over FILE once complete); what it did
goes to stderr, so stdout carries nothing but the export.
"""

from __future__ import annotations

import math
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime

import anyio
import click
from rich.table import Table
from rich.text import Text

from gps_tracker.client.datatypes import Tracker, TrackerData, TrackerStatus

from ._geo import GeoFormat, format_for, render
from ._output import progress_bar, progress_wanted, stdout_console, time_option
from ._runner import CLIError, Session, Settings, invoxia_options, run, shared_options

__all__ = ["locations"]


@click.group()
def locations() -> None:
    """Invoxia GPS trackers and their locations."""


async def _find_tracker(session: Session, wanted: str) -> Tracker:
    trackers = await session.invoxia.get_trackers()
    for tracker in trackers:
        if str(tracker.id) == wanted.strip() or tracker.name.casefold() == wanted.casefold():
            return tracker
    known = ", ".join(f"{tracker.name} ({tracker.id})" for tracker in trackers) or "none"
    raise CLIError(f"no tracker {wanted!r} in this account (trackers: {known})")


@locations.command("trackers")
@invoxia_options()
@shared_options()
@click.pass_obj
def trackers(settings: Settings) -> None:
    """List the account's trackers with their battery and newest location."""

    async def body(session: Session) -> list[tuple[Tracker, TrackerStatus, TrackerData | None]]:
        client = session.invoxia
        found = await client.get_trackers()
        statuses: dict[int, TrackerStatus] = {}
        newest: dict[int, TrackerData] = {}

        async def status(tracker: Tracker) -> None:
            statuses[tracker.id] = await client.get_tracker_status(tracker)

        async def latest(tracker: Tracker) -> None:
            for location in await client.get_locations(tracker, max_count=1):
                newest[tracker.id] = location

        async with anyio.create_task_group() as group:  # every request at once
            for tracker in found:
                group.start_soon(status, tracker)
                group.start_soon(latest, tracker)
        return [(t, statuses[t.id], newest.get(t.id)) for t in found]

    table = Table(show_edge=False, pad_edge=False)
    for column in ("id", "name", "battery", "last fix (UTC)", "position"):
        table.add_column(column, no_wrap=True)
    for tracker, status, location in run(settings, body, doover=False, invoxia=True):
        when = where = "-"
        if location is not None and location.datetime is not None:
            when = f"{location.datetime.astimezone(UTC):%Y-%m-%d %H:%M:%S}"
            where = f"{location.lat:.5f}, {location.lng:.5f}"
        # The name as Text: a "[" in it is not rich markup.
        table.add_row(str(tracker.id), Text(tracker.name), f"{status.battery}%", when, where)
    stdout_console().print(table)


@locations.command("export")
@click.option("--tracker", "wanted", required=True, help="The tracker's id or name.")
@click.option(
    "--since",
    callback=time_option,
    metavar="TIME",
    help="Only locations at or after this time (e.g. 1d).",
)
@click.option(
    "--until", callback=time_option, metavar="TIME", help="Only locations at or before this time."
)
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=0),
    default=0,
    help="Only the newest N locations in the range [default: all].",
)
@click.option(
    "--format",
    "kind",
    type=click.Choice([kind.value for kind in GeoFormat]),
    help="geojson, gpx or csv [default: from -o's extension, else geojson].",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE instead of stdout."
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar [default: when stderr is a terminal].",
)
@invoxia_options()
@shared_options()
@click.pass_obj
def export(
    settings: Settings,
    wanted: str,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    kind: str | None,
    output: str | None,
    progress: bool | None,
) -> None:
    """Export a tracker's locations as GeoJSON, GPX or CSV, oldest first."""
    export_format = format_for(output, kind)
    if output is not None:
        _check_writable_place(output)

    async def body(session: Session) -> tuple[Tracker, list[TrackerData]]:
        tracker = await _find_tracker(session, wanted)
        found: list[TrackerData] = []
        bar = progress_bar(enabled=progress_wanted(progress), unit="locations")
        with bar:
            task = bar.add_task(f"Fetching {tracker.name}", total=limit or None, rate="")
            walk = session.invoxia.iter_locations(
                tracker, not_before=since, not_after=until, max_count=limit or math.inf
            )
            async for location in walk:
                found.append(location)
                if len(found) % 200 == 0:
                    bar.update(task, completed=len(found))
            bar.update(task, completed=len(found), total=len(found))
        found.reverse()
        return tracker, found

    tracker, found = run(settings, body, doover=False, invoxia=True)
    chunks = render(export_format, found, tracker.name)
    if output is None:
        for chunk in chunks:
            sys.stdout.write(chunk)
        sys.stdout.flush()
    else:
        _write_atomically(output, chunks)
    where = "stdout" if output is None else output
    click.echo(
        f"exported {len(found):,} locations of {tracker.name!r} ({tracker.id}) "
        f"as {export_format.value} to {where}",
        err=True,
    )


def _mode_for(path: str) -> int:
    """The mode ``open(path, "w")`` would leave: an existing file's own, else 0666 less
    the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _check_writable_place(path: str) -> None:
    """Refuse, before anything is fetched, an output whose directory does not exist.

    Raises:
        click.BadParameter: no such directory.
    """
    directory = os.path.dirname(os.path.realpath(path))
    if not os.path.isdir(directory):
        raise click.BadParameter(f"{path}: no directory {directory}", param_hint="--output")


def _write_atomically(path: str, chunks: Iterator[str]) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it, renamed over it.

    A symlink is written through (its target replaced); a target that is not a regular
    file (``/dev/stdout``, a pipe) is written to directly.
    """
    target = os.path.realpath(path)
    if os.path.exists(target) and not os.path.isfile(target):
        with open(target, "w", encoding="utf-8") as stream:
            stream.writelines(chunks)
        return
    try:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, then renamed
            "w",
            encoding="utf-8",
            dir=os.path.dirname(target),
            prefix=".doover-anyio-",
            delete=False,
        )
    except OSError as exc:  # name the file asked for, not the temporary one
        raise OSError(exc.errno, exc.strerror, path) from None
    try:
        with handle:
            for chunk in chunks:
                handle.write(chunk)
        os.chmod(handle.name, _mode_for(target))
        os.replace(handle.name, target)
    except BaseException:
        os.unlink(handle.name)
        raise
