"""What an ingestor tells its caller: progress counters, per-item failures, the report.

Rules this module enforces:

* Every item an ingestor accepted ends in exactly one place: counted as stored, or
  listed as an :class:`IngestFailure` with its kind, its error and whether the server
  may hold it. ``report.accepted == report.succeeded + len(report.failures)`` always.
* A failure carries everything needed to send the item again, including its
  client-chosen ``message_id``, so a resend can never create a second message.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..errors import DooverAPIError
from ..models import BatchMutationItem

__all__ = ["FailureKind", "IngestError", "IngestFailure", "IngestReport", "IngestStats"]


class FailureKind(StrEnum):
    """Why an item was not (knowingly) stored."""

    REJECTED = "rejected"
    """The server answered for this item with ``success: false`` (not stored)."""
    REQUEST_FAILED = "request_failed"
    """Its batch request failed for good after the retries; ``stored`` says whether the
    server may still have stored it (``None``: a timeout, a dropped connection, a 5xx)."""
    NOT_SENT = "not_sent"
    """The ingestor stopped (an exception or a cancellation) before sending it."""
    IN_DOUBT = "in_doubt"
    """The ingestor stopped while its request was under way: it may be stored."""


@dataclass(frozen=True, slots=True)
class IngestFailure:
    """One item that is not known to be stored.

    Attributes:
        agent_id: The agent the item was for.
        channel_name: Its channel.
        data: Its data.
        message_id: The id the ingestor gave it; sending it again with this id (see
            :meth:`to_item`) stores it at most once.
        timestamp: The Unix-millisecond timestamp it was put with, or ``None``.
        ttl: Its time to live in seconds, or ``None``.
        kind: Why it is listed.
        error: The server's per-item error text, or the request's error message.
        exception: The request's exception, when there was one.
        stored: ``False`` when the server certainly does not hold it, ``None`` when it
            may (never ``True``).
        suppress_hooks: Whether it was put with hooks suppressed (``None``: not said).
    """

    agent_id: int
    channel_name: str
    data: Any
    message_id: int
    timestamp: int | None
    ttl: int | None
    kind: FailureKind
    error: str
    exception: BaseException | None = None
    stored: bool | None = False
    suppress_hooks: bool | None = None

    def to_item(self) -> BatchMutationItem:
        """The item again, with its id (for ``batch_create_messages`` or ``put_many``)."""
        return BatchMutationItem(
            self.agent_id,
            self.channel_name,
            self.data,
            message_id=self.message_id,
            timestamp=self.timestamp,
            ttl=self.ttl,
            suppress_hooks=self.suppress_hooks,
        )


@dataclass(frozen=True, slots=True)
class IngestStats:
    """Progress counters of an ingestor at one moment.

    Attributes:
        accepted: Items ``put`` so far.
        succeeded: Items the server confirmed stored.
        failed: Items reported as failures so far.
        in_flight: Items in batch requests under way.
        buffered: Items waiting to be sent.
        requests: Batch requests made (transport-level retries not counted).
        elapsed: Seconds since the ingestor started.
    """

    accepted: int
    succeeded: int
    failed: int
    in_flight: int
    buffered: int
    requests: int
    elapsed: float

    @property
    def settled(self) -> int:
        """Items with a final outcome."""
        return self.succeeded + self.failed

    @property
    def rate(self) -> float:
        """Stored items per second so far."""
        return self.succeeded / self.elapsed if self.elapsed > 0 else 0.0


@dataclass(frozen=True, slots=True)
class IngestReport:
    """The outcome of an ingestor's run (final once its ``async with`` block has exited).

    Attributes:
        accepted: Items ``put``.
        succeeded: Items the server confirmed stored.
        failures: Every other item, in no particular order.
        requests: Batch requests made.
        elapsed: Seconds the ingestor ran.
        complete: ``True`` when the block exited normally: everything was flushed and
            every item has a final outcome (stored, rejected, or its request failed for
            good). ``False`` after an exception or a cancellation (NOT_SENT / IN_DOUBT
            items may be listed).
    """

    accepted: int
    succeeded: int
    failures: tuple[IngestFailure, ...]
    requests: int
    elapsed: float
    complete: bool

    @property
    def failed(self) -> int:
        """How many items are not known to be stored."""
        return len(self.failures)

    def of_kind(self, kind: FailureKind | str) -> list[IngestFailure]:
        """The failures of one kind."""
        wanted = FailureKind(kind)
        return [failure for failure in self.failures if failure.kind is wanted]

    def summary(self) -> str:
        """One line: counts per outcome and the first error of each kind."""
        text = f"{self.succeeded:,} of {self.accepted:,} items stored"
        if not self.failures:
            return text
        kinds = Counter(failure.kind for failure in self.failures)
        parts = []
        for kind, count in sorted(kinds.items()):
            first = next(f for f in self.failures if f.kind is kind)
            parts.append(f"{count:,} {kind.value} (e.g. {first.error})")
        return f"{text}; {', '.join(parts)}"


class IngestError(DooverAPIError):
    """Items of an ingestor that exited normally were not stored (``raise_on_failure``).

    Attributes:
        report: The full report; ``report.failures`` lists every such item.
    """

    def __init__(self, report: IngestReport) -> None:
        self.report = report
        super().__init__(f"ingest incomplete: {report.summary()}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.report,))
