"""``AsyncIngestor``: many messages into Doover as batch creates, exactly once on the wire.

Producers ``put`` items into a bounded buffer; one batcher task cuts the buffer into
batches of up to 50 and keeps up to ``concurrency`` batch requests in flight. The
whole pipeline lives in a task group owned by the ingestor's ``async with``.

Rules this module enforces:

* Every item carries a client-chosen message id (:mod:`._ids`) before it is sent, so
  a retried batch request writes the same messages again instead of new ones. The
  runtime's retry policy applies to every batch (5xx, 408, 429 with ``Retry-After``,
  dropped connections and timeouts); the ingestor itself re-sends a batch whose 2xx
  answer it could not read, up to the same number of retries.
* A per-item ``success: false`` is final and reported (REJECTED), unless the
  ``retry_item`` predicate says it is worth another try. Only those items are sent
  again, with their ids.
* A batch that fails for good is reported item by item (REQUEST_FAILED), with the
  error and whether the server may hold it.
* Memory is bounded: ``put`` waits while ``buffer_size`` items are buffered, and at most
  ``concurrency`` batches are in flight.
* A normal exit of the block flushes everything, then raises :class:`IngestError` if an
  item failed (unless ``raise_on_failure=False``). An exception or a cancellation in
  the block sends nothing more: buffered items are reported NOT_SENT, items of requests
  under way IN_DOUBT, and the exception propagates unchanged (with a note).
* Child tasks never raise into the caller's scope: an internal failure (say, an
  ``on_progress`` callback raising) stops the pipeline, and is raised at exit. A
  ``KeyboardInterrupt`` or ``SystemExit`` in a child also cancels the block, and comes
  out of it as itself.
* Other threads (the sync twin, :mod:`._sync`) put without a round trip to the loop:
  :meth:`AsyncIngestor._offer` checks, mints the id and queues the item in an inbox on
  the caller's thread, and one scheduled call moves the inbox into the buffer on the
  loop. Ids are minted and the inbox and the open/closed state change under one lock,
  so every offer that returned an id is either in the buffer by the time the block
  exits or ``flush`` starts, or was refused with ``ClientClosedError``. Inbox items count
  against ``buffer_size``; a full buffer makes the offer fail, and the thread waits on
  the loop (:meth:`AsyncIngestor._wait_for_room`) before offering again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from types import TracebackType
from typing import Any, Final, Self

import anyio
import anyio.abc
import msgspec

from .._wire import encode_json
from ..errors import HTTPError, ResponseDecodeError
from ..models import MAX_BATCH_MUTATIONS, BatchMutationItem, BatchMutationResponse
from ..models.batch import BatchMutationResult
from ..runtime import ClientClosedError, RetryPolicy
from ..snowflake import MAX_SNOWFLAKE
from ._ids import LANES, MAX_LANE, IdAllocator
from ._parts import (
    IN_DOUBT,
    NOT_SENT,
    AnswerMismatchError,
    Flight,
    Item,
    Signal,
    check_results,
    failure,
    may_be_stored,
    timestamp_ms,
)
from ._report import FailureKind, IngestError, IngestFailure, IngestReport, IngestStats

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_LINGER",
    "AsyncIngestor",
    "ItemRetry",
    "ProgressCallback",
    "SendBatch",
]

logger = logging.getLogger("pydoover_anyio.ingest")

#: Batch requests in flight by default.
DEFAULT_CONCURRENCY: Final = 8
#: Seconds a part-filled batch waits for more items by default.
DEFAULT_LINGER: Final = 0.01

#: Sends one batch create of wire items (``BatchMutationItem.to_dict()`` shape):
#: ``(items, organisation_id) -> response``.
SendBatch = Callable[[list[dict[str, Any]], int | None], Awaitable[BatchMutationResponse]]
#: Schedules a plain call on the ingestor's event loop from another thread, not waiting.
RunSoon = Callable[[Callable[[], object]], None]
#: Called with fresh counters after each batch request completes (on the event loop).
ProgressCallback = Callable[[IngestStats], object]
#: Whether a per-item failure is worth sending that item again.
ItemRetry = Callable[[BatchMutationResult], bool]


def put_arguments(item: BatchMutationItem) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The ``put`` arguments of a :class:`BatchMutationItem` (for ``put_many``).

    Raises:
        ValueError: The item has ``replace`` (an aggregate field).
    """
    if item.replace is not None:
        raise ValueError("replace is an aggregate-update field; messages have none")
    return (item.agent_id, item.channel_name, item.data, item.timestamp), {
        "ttl": item.ttl,
        "message_id": item.message_id,
        "suppress_hooks": item.suppress_hooks,
    }


class AsyncIngestor:
    """Puts many messages into Doover: batched, bounded, retried, exactly once.

    Get one from :meth:`AsyncDataClient.ingest`; it runs inside its ``async with``
    (once). See ``docs/ingest.md``::

        async with client.ingest(concurrency=16) as ingest:
            for row in rows:
                await ingest.put(agent_id, "pump_log", row, timestamp=row["at"])
        print(ingest.report.summary())

    Args:
        send_batch: Sends one batch create (the client's ``batch_create_messages``).
        retry_policy: The client's current retry policy.
        resolve_agent: Maps ``agent_id=None`` to the client's default agent.
        concurrency: Batch requests in flight at most.
        batch_size: Items per request at most (1..50).
        buffer_size: Items buffered at most before ``put`` waits; default
            ``2 * concurrency * batch_size``.
        linger: Seconds a part-filled batch waits for more items before it is sent
            (never at exit or during :meth:`flush`).
        instance_id: The id lane (0..1023) of this ingestor's message ids; default a
            random free one in 1..1023 (see ``docs/ingest.md`` on collisions).
        organisation_id: The organisation header of every request.
        on_progress: Called with :class:`IngestStats` after each batch request, on the
            event loop; keep it quick. If it raises, the ingestor stops and raises it.
        raise_on_failure: Raise :class:`IngestError` at a normal exit when an item failed.
        retry_item: Decides which per-item failures are sent again (default: none).

    Raises:
        ValueError: A size or duration out of range.
    """

    def __init__(
        self,
        send_batch: SendBatch,
        *,
        retry_policy: Callable[[], RetryPolicy],
        resolve_agent: Callable[[int | None], int],
        concurrency: int = DEFAULT_CONCURRENCY,
        batch_size: int = MAX_BATCH_MUTATIONS,
        buffer_size: int | None = None,
        linger: float = DEFAULT_LINGER,
        instance_id: int | None = None,
        organisation_id: int | None = None,
        on_progress: ProgressCallback | None = None,
        raise_on_failure: bool = True,
        retry_item: ItemRetry | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if not 1 <= batch_size <= MAX_BATCH_MUTATIONS:
            raise ValueError(f"batch_size must be in 1..{MAX_BATCH_MUTATIONS}, got {batch_size}")
        size = 2 * concurrency * batch_size if buffer_size is None else buffer_size
        if size < 1:
            raise ValueError(f"buffer_size must be at least 1, got {size}")
        if linger < 0:
            raise ValueError(f"linger cannot be negative, got {linger}")
        if instance_id is not None and not 0 <= instance_id <= MAX_LANE:
            raise ValueError(f"instance_id must be in 0..{MAX_LANE}, got {instance_id}")
        self._send_batch = send_batch
        self._retry_policy = retry_policy
        self._resolve_agent = resolve_agent
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.buffer_size = size
        self.linger = float(linger)
        self.organisation_id = organisation_id
        self._wanted_lane = instance_id
        self._on_progress = on_progress
        self._raise_on_failure = raise_on_failure
        self._retry_item = retry_item

        self._phase = "new"  # new -> running -> closed
        self._accepting = False
        self._input_done = False
        self._ids: IdAllocator | None = None
        self._buffer: deque[Item] = deque()
        #: Guards id minting, the inbox and ``_accepting`` against other threads.
        self._lock = threading.Lock()
        #: Items other threads put, not yet in the buffer: (agent, message id, wire).
        self._inbox: list[tuple[int, int, dict[str, Any]]] = []
        self._run_soon: RunSoon | None = None
        self._take_scheduled = False
        self._flights: set[Flight] = set()
        self._failures: list[IngestFailure] = []
        self._accepted = 0
        self._succeeded = 0
        self._requests = 0
        self._flushing = 0
        self._started = 0.0
        self._elapsed: float | None = None
        self._crash: BaseException | None = None
        self._report: IngestReport | None = None
        self._more = Signal()  # items arrived, input ended, a flush began: the batcher
        self._room = Signal()  # buffer space freed, or stopped: producers
        self._progress = Signal()  # items settled, or stopped: flush()
        self._group: anyio.abc.TaskGroup | None = None
        self._workers: anyio.abc.TaskGroup | None = None

    # -- the public surface ----------------------------------------------------------------

    @property
    def instance_id(self) -> int | None:
        """The id lane of this ingestor (bits 17..8 of its ids); ``None`` before start."""
        return None if self._ids is None else self._ids.instance_id

    @property
    def stats(self) -> IngestStats:
        """Progress counters now (also usable after the block)."""
        # tuple() copies in one step, so a read from another thread (the sync Ingestor)
        # never iterates the set while the loop changes it.
        in_flight = sum(len(flight.items) for flight in tuple(self._flights))
        with self._lock:  # the inbox and the buffer agree
            pending = len(self._inbox)
            return IngestStats(
                accepted=self._accepted + pending,
                succeeded=self._succeeded,
                failed=len(self._failures),
                in_flight=in_flight,
                buffered=len(self._buffer) + pending,
                requests=self._requests,
                elapsed=self._elapsed_now(),
            )

    @property
    def report(self) -> IngestReport:
        """The outcome; final once the block has exited.

        Raises:
            RuntimeError: The ingestor was never started.
        """
        if self._report is not None:
            return self._report
        if self._phase == "new":
            raise RuntimeError("the ingestor has not run yet")
        with self._lock:  # the inbox's items are accepted ones
            return self._snapshot(complete=False)

    async def put(
        self,
        agent_id: int | None,
        channel_name: str,
        data: Any,
        timestamp: datetime | int | None = None,
        *,
        ttl: int | None = None,
        message_id: int | None = None,
        suppress_hooks: bool | None = None,
    ) -> int:
        """Queue one message; wait while the buffer is full.

        Args:
            agent_id: The agent (``None``: the client's ``agent_id``).
            channel_name: The channel.
            data: The message data (any JSON value but ``None``).
            timestamp: When the message happened: an aware datetime (naive = UTC) or Unix
                milliseconds. Its millisecond becomes the id's time, which orders the
                channel; ``None`` means now, and ids of "now" follow put order.
            ttl: Seconds the message lives.
            message_id: An id of your own (e.g. from an earlier report's failure, to
                send it again at most once); you then own its uniqueness.
            suppress_hooks: Skip processor and notification hooks for this message.

        Returns:
            The message id the item will be stored under.

        Raises:
            ClientClosedError: The ingestor is not running (not entered, exiting,
                stopped).
            ValueError: No agent, an empty channel name, ``None`` data or data holding a
                NaN or an infinity, or a timestamp that cannot be an id (see
                ``docs/ingest.md``).
            TypeError: ``data`` has no JSON form, or ``timestamp`` is neither a datetime
                nor an int.
        """
        agent, wire, at_ms = self._prepare(
            agent_id, channel_name, data, timestamp, ttl, suppress_hooks
        )
        if self._held() >= self.buffer_size:
            await self._wait_for_room()
        with self._lock:
            message_id = self._mint(wire, at_ms, message_id)
        self._admit(agent, message_id, wire)
        self._more.set()
        if len(self._buffer) % self.batch_size == 0:
            # A batch is ready: let the batcher (and everyone else) run. Otherwise put
            # returns without a checkpoint, which keeps a tight producer loop cheap.
            # Shielded: the item is accepted, so put must return its id; a cancellation
            # raised here would make a caller who retries store it twice.
            await anyio.lowlevel.cancel_shielded_checkpoint()
        return message_id

    async def put_many(self, items: Iterable[BatchMutationItem]) -> list[int]:
        """Queue several messages given as :class:`BatchMutationItem` (pydoover's model).

        An item's ``message_id``, ``timestamp``, ``ttl`` and ``suppress_hooks`` are kept;
        one without an id gets one, written into the item as it is accepted. So a
        ``put_many`` cancelled part way (while it waits for room) and retried with the
        same items sends the accepted ones again under their ids, which the server
        stores once. Same errors as :meth:`put`; items before a failing one stay queued.

        Returns:
            The message ids, in order.

        Raises:
            ValueError: An item has ``replace`` (an aggregate field), or see :meth:`put`.
        """
        ids = []
        for item in items:
            args, kwargs = put_arguments(item)
            message_id = await self.put(*args, **kwargs)
            item.message_id = message_id
            ids.append(message_id)
        return ids

    async def flush(self) -> None:
        """Send everything put so far now and wait until each of those items settled.

        Raises:
            ClientClosedError: The ingestor is not running, or stopped while waiting.
        """
        self._check_open()
        self._take_inbox()  # what other threads put before this flush is part of it
        target = self._accepted
        self._flushing += 1
        self._more.set()  # stop a lingering batch from waiting
        try:
            while True:
                self._check_open(flushing=True)
                if self._oldest_unsettled() >= target:
                    return
                await self._progress.wait()
        finally:
            self._flushing -= 1

    # -- one item's way in ------------------------------------------------------------------

    def _prepare(
        self,
        agent_id: int | None,
        channel_name: str,
        data: Any,
        timestamp: datetime | int | None,
        ttl: int | None,
        suppress_hooks: bool | None,
    ) -> tuple[int, dict[str, Any], int | None]:
        """Check that the ingestor is open and one put's arguments are valid (see
        :meth:`put`); any thread.

        Returns:
            The agent, the wire item as ``BatchMutationItem.to_dict()`` builds it (spec
            §3.7; its ``message_id`` set by :meth:`_mint`) and the timestamp in ms.
        """
        if not self._accepting:
            self._check_open()
        agent = agent_id if type(agent_id) is int else self._resolve_agent(agent_id)
        if not 0 <= agent <= MAX_SNOWFLAKE:  # would fail its whole batch (a 400)
            raise ValueError(f"agent_id must be an id in 0..2**63-1, got {agent}")
        if not isinstance(channel_name, str) or not channel_name:
            raise ValueError("channel_name must be a non-empty string")
        if data is None:
            raise ValueError("data is required (the server rejects a message without it)")
        # Encoded here, once: a value with no JSON form is refused at put, not in a batch
        # it would fail with all the others, and the batch only copies the bytes (no
        # deeper nesting there to overflow, and later changes to ``data`` do not count).
        encoded = msgspec.Raw(encode_json(data))
        at_ms = None if timestamp is None else timestamp_ms(timestamp)
        wire: dict[str, Any] = {
            "agent_id": str(agent),
            "channel_name": channel_name,
            "data": encoded,
            "message_id": None,
        }
        if at_ms is not None:
            wire["ts"] = at_ms
        if ttl is not None:
            wire["ttl"] = ttl
        if suppress_hooks is not None:
            wire["suppress_hooks"] = suppress_hooks
        return agent, wire, at_ms

    def _mint(self, wire: dict[str, Any], at_ms: int | None, message_id: int | None) -> int:
        """Give ``wire`` its id: ``message_id``, or a fresh one. Hold the lock."""
        if message_id is None:
            ids = self._ids
            assert ids is not None
            message_id = ids.next_id() if at_ms is None else ids.id_at(at_ms)
        else:
            message_id = int(message_id)
        wire["message_id"] = str(message_id)
        return message_id

    def _admit(self, agent: int, message_id: int, wire: dict[str, Any]) -> None:
        """Append a minted item to the buffer, in accept order (on the loop)."""
        self._buffer.append(Item(agent, message_id, wire, self._accepted))
        self._accepted += 1

    def _held(self) -> int:
        """Items counted against ``buffer_size``: the buffer's and the inbox's."""
        return len(self._buffer) + len(self._inbox)

    # -- puts from other threads (the sync twin) --------------------------------------------

    def _open_inbox(self, run_soon: RunSoon) -> None:
        """Let other threads put with :meth:`_offer`; ``run_soon`` reaches this loop."""
        self._run_soon = run_soon

    def _offer(
        self, agent: int, wire: dict[str, Any], at_ms: int | None, message_id: int | None
    ) -> int | None:
        """From any thread: accept an item from :meth:`_prepare` if there is room.

        Returns:
            Its message id, or ``None`` when the buffer is full (wait with
            :meth:`_wait_for_room` on the loop, then offer again).

        Raises:
            ClientClosedError: The ingestor is not accepting items.
            ValueError: The timestamp cannot be an id (see :meth:`put`).
        """
        run_soon = self._run_soon
        assert run_soon is not None, "_open_inbox first"
        with self._lock:
            if not self._accepting:
                self._check_open()
            if self._held() >= self.buffer_size:
                return None
            message_id = self._mint(wire, at_ms, message_id)
            self._inbox.append((agent, message_id, wire))
            wake, self._take_scheduled = not self._take_scheduled, True
        if wake:
            run_soon(self._take_inbox)
        return message_id

    def _take_inbox(self) -> None:
        """On the loop: move what other threads put into the buffer, in their order."""
        with self._lock:
            entries, self._inbox = self._inbox, []
            self._take_scheduled = False
            for agent, message_id, wire in entries:
                self._admit(agent, message_id, wire)
        if entries:
            self._more.set()

    async def _wait_for_room(self) -> None:
        """On the loop: return once a put or an offer may find room.

        Raises:
            ClientClosedError: The ingestor stopped accepting items meanwhile.
        """
        self._take_inbox()
        while self._held() >= self.buffer_size:
            await self._room.wait()
            self._check_open()

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._phase != "new":
            raise RuntimeError("an ingestor runs once; get a new one from client.ingest()")
        lane = LANES.acquire(self._wanted_lane)
        try:
            self._ids = LANES.allocator(lane)
            self._started = time.perf_counter()
            group = anyio.create_task_group()
            await group.__aenter__()
        except BaseException:
            LANES.release(lane)
            raise
        self._group = group
        self._phase = "running"
        self._accepting = True
        try:
            await group.start(self._run)
        except BaseException:  # cancelled while starting: leave the group, then re-raise
            self._accepting = False
            group.cancel_scope.cancel()
            try:
                await group.__aexit__(None, None, None)
            finally:
                self._finish(complete=False)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        group = self._group
        assert group is not None
        with self._lock:  # from here on other threads' offers are refused
            self._accepting = False
        self._take_inbox()
        normal = exc is None and self._crash is None
        if normal:
            self._input_done = True  # the batcher drains the buffer, then stops
        elif self._workers is not None:
            self._workers.cancel_scope.cancel()
        self._more.set()
        self._room.set()
        drained = False  # the exit's flush ran to its end (not cancelled from outside)
        try:
            # No exception is handed to the group: the block's own exception must reach
            # the caller as itself, not inside an ExceptionGroup.
            await group.__aexit__(None, None, None)
            drained = True
        finally:
            report = self._finish(complete=normal and drained and self._crash is None)
        if self._crash is not None:
            self._crash.add_note(f"pydoover_anyio ingest stopped: {report.summary()}")
            raise self._crash
        if exc is not None and not isinstance(exc, anyio.get_cancelled_exc_class()):
            exc.add_note(f"pydoover_anyio ingest stopped: {report.summary()}")
        elif exc is None and report.failures and self._raise_on_failure:
            raise IngestError(report)

    # -- the pipeline ----------------------------------------------------------------------

    async def _run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        # Its own task group, so cancelling the workers never cancels the caller's task.
        async with anyio.create_task_group() as workers:
            self._workers = workers
            slots = anyio.Semaphore(self.concurrency)
            workers.start_soon(self._batcher, workers, slots)
            task_status.started()

    async def _batcher(self, workers: anyio.abc.TaskGroup, slots: anyio.Semaphore) -> None:
        try:
            while True:
                await slots.acquire()
                items = await self._next_batch()
                if not items:
                    slots.release()
                    return
                flight = Flight(items)  # registered at once: no checkpoint since the pop
                self._flights.add(flight)
                workers.start_soon(self._deliver, flight, slots)
        except anyio.get_cancelled_exc_class():
            raise
        except BaseException as exc:  # noqa: BLE001 - raised at exit, never into the caller's scope
            self._stop(exc)

    async def _next_batch(self) -> list[Item]:
        """Wait for items (and up to ``linger`` for a full batch); take up to a batch."""
        buffer = self._buffer
        while not buffer:
            if self._input_done:
                return []
            await self._more.wait()
        if len(buffer) < self.batch_size and self.linger > 0 and not self._hurry():
            with anyio.move_on_after(self.linger):  # cancels only a wait: no item is lost
                while len(buffer) < self.batch_size and not self._hurry():
                    await self._more.wait()
        items = [buffer.popleft() for _ in range(min(self.batch_size, len(buffer)))]
        self._room.set()
        return items

    def _hurry(self) -> bool:
        """Whether a batch should go without lingering: no more input, a flush waits,
        or the buffer is full (every producer waits for room: nothing more can come)."""
        return self._input_done or self._flushing > 0 or self._held() >= self.buffer_size

    async def _deliver(self, flight: Flight, slots: anyio.Semaphore) -> None:
        try:
            await self._send_flight(flight)
        except anyio.get_cancelled_exc_class():
            raise
        except BaseException as exc:  # noqa: BLE001 - raised at exit, never into the caller's scope
            self._stop(exc)
        finally:
            slots.release()

    async def _send_flight(self, flight: Flight) -> None:
        policy = self._retry_policy()
        attempt = 0
        answered = False  # a 2xx came back, unreadable: that attempt may have stored them
        while flight.items:
            attempt += 1
            sent = flight.items
            flight.attempted = True
            self._requests += 1
            try:
                response = await self._send_batch(
                    [item.wire for item in sent], self.organisation_id
                )
                results = check_results(sent, response)
            except (ResponseDecodeError, AnswerMismatchError) as error:
                # A 2xx whose answer is unreadable: the ids make a resend harmless.
                answered = True
                if attempt <= policy.max_retries:
                    self._progressed()  # a batch request ended (on_progress, flush)
                    await anyio.sleep(policy.delay(attempt))
                    continue
                self._fail(flight, FailureKind.REQUEST_FAILED, error, stored=None)
            except Exception as error:  # noqa: BLE001 - reported item by item, with the error
                if not isinstance(error, HTTPError | ClientClosedError):
                    logger.warning("ingest batch request failed: %s", error)
                stored = None if answered else may_be_stored(error)
                self._fail(flight, FailureKind.REQUEST_FAILED, error, stored=stored)
            else:
                flight.items = []  # the answer settles them (also if retry_item raises)
                flight.items = self._settle(sent, results, retry=attempt <= policy.max_retries)
                if flight.items:
                    # The server refused these (success: false): not stored, so until they
                    # go again, stopping reports them not sent rather than in doubt.
                    flight.attempted = False
                    self._progressed()
                    await anyio.sleep(policy.delay(attempt))
                    continue
            break
        self._flights.discard(flight)
        self._progressed()

    def _settle(
        self, sent: list[Item], results: list[BatchMutationResult], *, retry: bool
    ) -> list[Item]:
        """Count successes, report rejections; return the items to send again.

        Raises:
            Exception: what ``retry_item`` raised, once the answer is settled (each
                rejection reported as such: the server answered), which stops the
                ingestor as an internal failure.
        """
        predicate = self._retry_item if retry else None
        broken: Exception | None = None
        again = []
        for item, result in zip(sent, results, strict=True):
            if result.success:
                self._succeeded += 1
                continue
            once_more = False
            if predicate is not None and broken is None:
                try:
                    once_more = predicate(result)
                except Exception as exc:  # noqa: BLE001 - raised once the answer is settled
                    broken = exc
            if once_more:
                again.append(item)
            else:
                error = result.error or "rejected by the server"
                self._failures.append(failure(item, FailureKind.REJECTED, error, stored=False))
        if broken is not None:
            for item in again:  # not sent again: the pipeline stops
                self._failures.append(failure(item, FailureKind.NOT_SENT, NOT_SENT))
            raise broken
        return again

    def _fail(
        self,
        flight: Flight,
        kind: FailureKind,
        error: BaseException,
        *,
        stored: bool | None,
    ) -> None:
        text = str(error) or type(error).__name__
        self._failures += [failure(i, kind, text, error, stored) for i in flight.items]
        flight.items = []

    def _progressed(self) -> None:
        self._progress.set()
        if self._on_progress is not None:
            self._on_progress(self.stats)

    # -- state -----------------------------------------------------------------------------

    def _check_open(self, *, flushing: bool = False) -> None:
        if self._crash is not None:
            raise ClientClosedError("the ingestor stopped after an error") from self._crash
        if not self._accepting and not (flushing and self._phase == "running"):
            if self._phase == "new":
                raise ClientClosedError(
                    "the ingestor is not running: use it in `async with client.ingest() as i:`"
                )
            raise ClientClosedError("the ingestor is closed (its block has exited)")

    def _stop(self, error: BaseException) -> None:
        """An internal failure: stop accepting, stop the workers, raise ``error`` at exit.

        A ``KeyboardInterrupt`` or ``SystemExit`` (a Ctrl-C trio delivered to a worker, an
        ``on_progress`` calling ``sys.exit``) also cancels the block: the program is to
        stop, as if it had been raised there.
        """
        if self._crash is None:
            self._crash = error
            if isinstance(error, Exception):
                logger.error("ingest stopped by an internal error: %r", error)
        with self._lock:
            self._accepting = False
        if self._workers is not None:
            self._workers.cancel_scope.cancel()
        if not isinstance(error, Exception) and self._group is not None:
            self._group.cancel_scope.cancel()
        for signal in (self._more, self._room, self._progress):
            signal.set()

    def _oldest_unsettled(self) -> int:
        """The accept serial of the oldest item without an outcome (``accepted`` if none)."""
        oldest = self._buffer[0].serial if self._buffer else self._accepted
        for flight in self._flights:
            if flight.items:
                oldest = min(oldest, flight.items[0].serial)
        return oldest

    def _finish(self, *, complete: bool) -> IngestReport:
        """Report what is left, give the lane back, wake every waiter."""
        unsent = [failure(item, FailureKind.NOT_SENT, NOT_SENT) for item in self._buffer]
        self._buffer.clear()
        for flight in self._flights:
            kind, text, stored = (
                (FailureKind.IN_DOUBT, IN_DOUBT, None)
                if flight.attempted
                else (FailureKind.NOT_SENT, NOT_SENT, False)
            )
            unsent += [failure(item, kind, text, None, stored) for item in flight.items]
            flight.items = []
        self._flights.clear()
        self._failures += unsent
        if unsent:
            logger.warning("ingest stopped with %d items not known to be stored", len(unsent))
        self._elapsed = self._elapsed_now()
        self._phase = "closed"
        if self._ids is not None:
            LANES.release(self._ids.instance_id, self._ids)
        for signal in (self._more, self._room, self._progress):
            signal.set()
        self._report = self._snapshot(complete=complete)
        return self._report

    def _snapshot(self, *, complete: bool) -> IngestReport:
        return IngestReport(
            accepted=self._accepted + len(self._inbox),
            succeeded=self._succeeded,
            failures=tuple(self._failures),
            requests=self._requests,
            elapsed=self._elapsed_now(),
            complete=complete,
        )

    def _elapsed_now(self) -> float:
        if self._elapsed is not None:
            return self._elapsed
        return 0.0 if self._phase == "new" else time.perf_counter() - self._started
