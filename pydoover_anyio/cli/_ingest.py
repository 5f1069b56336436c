"""``doover-anyio ingest FILE``: JSON Lines or CSV into a channel, through ``client.ingest()``.

Rules this command enforces:

* Every record is one message (see :mod:`._records` for what a record is). A line that
  is not one is reported at once on stderr as ``FILE:LINE: reason`` and skipped; the
  rest is ingested.
* Items the server rejects, or whose batch failed for good, are reported with their
  line numbers in the final report: the ingestor's ids are mapped back to lines through
  two compact arrays (16 bytes a record), whatever the file's size.
* The final report (stdout) gives the counts, the time and the first failures by line;
  the exit status is 1 when any record was not stored.
* The file is read in a worker thread, a chunk of records at a time, and ``put`` waits
  while the ingestor's buffer is full: memory stays bounded.
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import sys
import threading
from array import array
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import IO, Final, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel
import click

from ..errors import NotFoundError
from ..ingest import DEFAULT_CONCURRENCY, FailureKind, IngestReport, IngestStats
from ..models import MAX_BATCH_MUTATIONS
from ._output import progress_bar, progress_wanted
from ._params import CHANNEL
from ._records import (
    BadLine,
    FileFormatError,
    Record,
    RecordFormat,
    format_for,
    read_csv,
    read_jsonl,
)
from ._runner import EXIT_ERROR, EXIT_OK, PROG, CLIError, Session, Settings, run, shared_options

__all__ = ["ingest"]

T = TypeVar("T")

_CHUNK: Final = 512  # records parsed per trip to a reader thread
_SHOWN_ON_STDERR: Final = 100  # bad lines printed as they are found, at most
_SHOWN_IN_REPORT: Final = 20  # failures listed in the final report, at most
_KIND_TEXT: Final = {
    FailureKind.REJECTED: "rejected by the server",
    FailureKind.REQUEST_FAILED: "request failed",
    FailureKind.NOT_SENT: "not sent",
    FailureKind.IN_DOUBT: "outcome unknown",
}


def _count_lines(handle: IO[bytes]) -> int | None:
    """Lines in a seekable file (the progress bar's total), or ``None``."""
    try:
        if not handle.seekable():
            return None
        start = handle.tell()
        count, last = 0, b"\n"
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
        handle.seek(start)
    except OSError:
        return None
    return count + (last != b"\n")


def _records(
    handle: IO[bytes], kind: RecordFormat, field: str, unit: str, *, source: str = ""
) -> Iterator[Record | BadLine]:
    """The records of ``handle``; a read error names ``source`` (the file) if it has none."""
    if kind is RecordFormat.JSONL:
        records = read_jsonl(handle, timestamp_field=field, unit=unit)
    else:
        # utf-8-sig: a BOM goes before the csv module sees it (a quoted first header cell).
        text = io.TextIOWrapper(handle, encoding="utf-8-sig", errors="surrogateescape", newline="")
        records = read_csv(text, timestamp_field=field, unit=unit)
    try:
        yield from records
    except OSError as exc:
        if exc.filename is None and source:
            exc.filename = source
        raise


class _Run:
    """One ingest: its counters, its bad lines and the id -> line map."""

    def __init__(self, source: str) -> None:
        self.source = source
        #: The first bad lines (those the report may list: memory stays bounded) and
        #: how many there were.
        self.bad: list[BadLine] = []
        self.bad_count = 0
        self.ids = array("q")
        self.lines = array("q")

    def line_of(self, report: IngestReport) -> dict[int, int]:
        failed = {failure.message_id for failure in report.failures}
        return {
            message_id: line
            for message_id, line in zip(self.ids, self.lines, strict=True)
            if message_id in failed
        }


async def _ensure_channel(session: Session, agent: int, channel: str, create: bool) -> None:
    client = session.doover
    try:
        await client.fetch_channel(agent, channel, include_aggregate=False)
    except NotFoundError:
        try:  # a 404 for the channel, or for its agent?
            await client.list_channels(agent)
        except NotFoundError:
            raise CLIError(f"agent {agent} not found: check --agent-id") from None
        if not create:
            raise CLIError(
                f"channel {channel!r} does not exist on agent {agent}: "
                "pass --create-channel to create it"
            ) from None
        await client.put_channel(agent, channel, False)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-c", "--channel", required=True, type=CHANNEL, help="The channel to write to.")
@click.option(
    "--format",
    "kind",
    type=click.Choice([kind.value for kind in RecordFormat]),
    help="jsonl or csv [default: from the extension; jsonl for stdin].",
)
@click.option(
    "--timestamp-field",
    default="timestamp",
    show_default=True,
    help="Field holding each message's time ('' for none: stamped on arrival).",
)
@click.option(
    "--timestamp-unit",
    type=click.Choice(["s", "ms"]),
    default="s",
    show_default=True,
    help="Unit of numeric timestamps (Unix seconds or milliseconds).",
)
@click.option("--create-channel", is_flag=True, help="Create the channel if it does not exist.")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=DEFAULT_CONCURRENCY,
    show_default=True,
    help="Batch requests in flight.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, MAX_BATCH_MUTATIONS),
    default=MAX_BATCH_MUTATIONS,
    show_default=True,
    help="Messages per batch request.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar [default: when stderr is a terminal].",
)
@shared_options()
@click.pass_obj
def ingest(
    settings: Settings,
    file: str,
    channel: str,
    kind: str | None,
    timestamp_field: str,
    timestamp_unit: str,
    create_channel: bool,
    concurrency: int,
    batch_size: int,
    progress: bool | None,
) -> None:
    """Write every record of FILE (JSON Lines or CSV, - for stdin) to a channel.

    Each JSONL line is one JSON object, the message's data; each CSV row (after the
    header) one message. A 'timestamp' field (ISO 8601 or Unix seconds) becomes the
    message's time. Bad lines are reported with their line numbers and skipped; the
    exit status is 1 if any record was not stored.
    """
    ctx = click.get_current_context()
    with _open_input(file) as handle:  # first: a missing file says so
        try:
            record_format = format_for(file, kind)
        except FileFormatError as exc:
            raise click.BadParameter(str(exc), param_hint="FILE") from None
        binary: IO[bytes] = handle
        total = None if file == "-" else _count_lines(binary)
        if total is not None and record_format is RecordFormat.CSV:
            total = max(total - 1, 0)
        state = _Run("<stdin>" if file == "-" else file)
        records = _records(
            binary, record_format, timestamp_field, timestamp_unit, source=state.source
        )

        async def body(session: Session) -> IngestReport:
            agent = session.agent()
            await _ensure_channel(session, agent, channel, create_channel)
            return await _ingest(
                session, agent, channel, records, state, total, progress, concurrency, batch_size
            )

        report = run(settings, body)
    code = _print_report(report, state, channel)
    ctx.exit(code)


async def _ingest(
    session: Session,
    agent: int,
    channel: str,
    records: Iterator[Record | BadLine],
    state: _Run,
    total: int | None,
    progress: bool | None,
    concurrency: int,
    batch_size: int,
) -> IngestReport:
    bar = progress_bar(enabled=progress_wanted(progress))
    console = bar.console
    task = bar.add_task("Ingesting", total=total, rate="")

    def update(stats: IngestStats) -> None:
        rate = f"{stats.rate:,.0f} msg/s" if stats.elapsed > 0.2 else ""
        bar.update(task, completed=stats.settled + state.bad_count, rate=rate)

    def bad_line(line: BadLine) -> None:
        state.bad_count += 1
        if len(state.bad) < _SHOWN_IN_REPORT:
            state.bad.append(line)
        if state.bad_count <= _SHOWN_ON_STDERR:
            console.out(f"{state.source}:{line.line}: {line.error}", highlight=False)
        elif state.bad_count == _SHOWN_ON_STDERR + 1:
            console.out(f"{PROG}: more bad lines follow; the report counts them", highlight=False)

    with bar:
        ingestor = session.doover.ingest(
            concurrency=concurrency,
            batch_size=batch_size,
            on_progress=update,
            raise_on_failure=False,
        )
        reader = _Reader(records, most=4 * _CHUNK)
        try:
            async with ingestor:
                while chunk := await reader.take(_CHUNK):
                    for item in chunk:
                        if isinstance(item, BadLine):
                            bad_line(item)
                            continue
                        try:
                            message_id = await ingestor.put(
                                agent, channel, item.data, item.timestamp
                            )
                        except (ValueError, TypeError) as exc:
                            bad_line(BadLine(item.line, str(exc)))
                            continue
                        state.ids.append(message_id)
                        state.lines.append(item.line)
        except FileFormatError as exc:  # a CSV header that cannot be read
            raise CLIError(f"{state.source}: {exc}") from None
        finally:
            unsent = reader.unsent()
            if unsent or (ingestor.stats.accepted and not ingestor.report.complete):
                console.out(
                    f"{PROG}: ingest stopped: {ingestor.report.summary()}"
                    + (f"; {unsent:,} records read were not sent" if unsent else ""),
                    highlight=False,
                )
        done = ingestor.stats.settled + state.bad_count
        bar.update(task, total=done, completed=done)  # the line count included blank lines
    return ingestor.report


def _open_input(file: str) -> AbstractContextManager[IO[bytes]]:
    """FILE opened for reading, closed at the end of the ``with``.

    For ``-``: a reader of its own on a copy of stdin's descriptor, never closed. A read
    left blocked by a Ctrl-C (see :class:`_Reader`) holds the reader's lock:
    closing it would wait for the read, and were it ``sys.stdin``, Python would abort
    taking that lock as it exits.
    """
    if file == "-":
        if sys.stdin is None:
            raise click.BadParameter("stdin is closed", param_hint="FILE")
        return contextlib.nullcontext(os.fdopen(os.dup(sys.stdin.fileno()), "rb"))
    opened: AbstractContextManager[IO[bytes]] = click.open_file(file, "rb")
    return opened


class _Reader:
    """Reads the records in a daemon thread of its own, and hands over what has arrived.

    Why a thread of its own: a Ctrl-C cancels the wait but not a read blocked on a
    terminal or a pipe that stays open, and anyio's worker threads are not daemons, so
    the process would not exit until the input ended; here the read is left behind.
    Records are handed over as they come (a pipe fed now and then, ``tail -f``), not
    when a chunk is full: :meth:`take` returns what is there, waiting only when nothing
    is, by polling (from 1 ms up to 50 ms while the input is quiet). It holds at most
    ``most`` records: beyond that the reading thread waits, so memory stays bounded.
    """

    def __init__(self, records: Iterator[Record | BadLine], *, most: int) -> None:
        self._records = records
        self._arrived: collections.deque[Record | BadLine] = collections.deque()
        self._most = most  # records held at once: the reader waits beyond (bounded memory)
        self._room = threading.Condition()
        self._ended = False
        self._failure: BaseException | None = None
        threading.Thread(target=self._read, name=f"{PROG}-reader", daemon=True).start()

    def _read(self) -> None:
        arrived, room = self._arrived, self._room
        try:
            for record in self._records:
                if len(arrived) >= self._most:
                    with room:
                        room.wait_for(lambda: len(arrived) < self._most)
                arrived.append(record)  # deque appends and pops are thread-safe
        except BaseException as exc:  # noqa: BLE001 - raised in the taking task
            self._failure = exc
        finally:
            self._ended = True

    async def take(self, most: int) -> list[Record | BadLine]:
        """Up to ``most`` records, at least one unless the input ended (then ``[]``).

        Raises:
            BaseException: what reading the input raised, once the records before it
                were taken.
        """
        pause = 0.001
        while not self._arrived:
            if self._ended:
                if self._arrived:
                    break  # the last records came just before the end was marked
                if self._failure is not None:
                    raise self._failure
                return []
            await anyio.sleep(pause)
            pause = min(pause * 2, 0.05)
        arrived = self._arrived
        taken = [arrived.popleft() for _ in range(min(most, len(arrived)))]
        with self._room:
            self._room.notify()
        return taken

    def unsent(self) -> int:
        """Records read but not taken (left behind by a Ctrl-C or an error)."""
        return len(self._arrived)


def _print_report(report: IngestReport, state: _Run, channel: str) -> int:
    records = report.accepted + state.bad_count
    rate = report.succeeded / report.elapsed if report.elapsed > 0 else 0.0
    click.echo(
        f"{state.source} -> {channel}: {report.succeeded:,} of {records:,} records stored "
        f"in {report.elapsed:.2f} s ({rate:,.0f} messages/s, {report.requests:,} "
        f"request{'s' if report.requests != 1 else ''})"
    )
    lines = state.line_of(report) if report.failures else {}
    failures = [(bad.line, bad.error) for bad in state.bad] + [
        (lines.get(failure.message_id, 0), f"{_KIND_TEXT[failure.kind]}: {failure.error}")
        for failure in report.failures
    ]
    if not failures:
        return EXIT_OK
    failures.sort()  # the first bad lines kept are enough: they come in line order
    count = state.bad_count + len(report.failures)
    click.echo(f"{count:,} record{'s' if count != 1 else ''} not stored:")
    for line, error in failures[:_SHOWN_IN_REPORT]:
        click.echo(f"  line {line}: {error}")
    if count > _SHOWN_IN_REPORT:
        click.echo(f"  ... and {count - _SHOWN_IN_REPORT:,} more")
    return EXIT_ERROR
