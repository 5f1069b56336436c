"""The pieces of the ingestion pipeline that hold no pipeline state.

* :class:`Item` / :class:`Flight`: an accepted item (its wire form, built once) and a
  batch handed to a sender.
* :class:`Signal`: a re-armable wake-up that transfers nothing, so a cancelled wait can
  never lose an item.
* :func:`check_results`, :func:`may_be_stored`, :func:`failure`: reading a batch answer
  and turning items into report entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import anyio
import msgspec

from ..errors import HTTPError, TokenRefreshError
from ..models import BatchMutationResponse
from ..models.batch import BatchMutationResult
from ..runtime import ClientClosedError
from ..runtime.transport import earlier_attempt_may_have_applied
from ..snowflake import datetime_to_ms
from ._report import FailureKind, IngestFailure

__all__ = [
    "IN_DOUBT",
    "NOT_SENT",
    "AnswerMismatchError",
    "Flight",
    "Item",
    "Signal",
    "check_results",
    "failure",
    "may_be_stored",
    "timestamp_ms",
]


class Item:
    """An accepted item: its wire form (built once, with its id) and its accept order."""

    __slots__ = ("agent_id", "message_id", "serial", "wire")

    def __init__(self, agent_id: int, message_id: int, wire: dict[str, Any], serial: int) -> None:
        self.agent_id = agent_id
        self.message_id = message_id
        self.wire = wire
        self.serial = serial


class Flight:
    """A batch handed to a sender: its items not yet settled, and whether it was sent."""

    __slots__ = ("attempted", "items")

    def __init__(self, items: list[Item]) -> None:
        self.items = items
        self.attempted = False


class Signal:
    """A re-armable wake-up: ``wait()`` until the next ``set()`` (nothing is transferred,
    so a cancelled wait loses nothing)."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event: anyio.Event | None = None

    async def wait(self) -> None:
        if self._event is None:
            self._event = anyio.Event()
        await self._event.wait()

    def set(self) -> None:
        event, self._event = self._event, None
        if event is not None:
            event.set()


class AnswerMismatchError(Exception):
    """A 2xx batch answer that does not line up with the request, item for item."""


def timestamp_ms(value: datetime | int) -> int:
    if isinstance(value, datetime):
        return datetime_to_ms(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    raise TypeError(f"timestamp must be a datetime or Unix milliseconds, not {value!r}")


def may_be_stored(error: BaseException) -> bool | None:
    """``False`` when a failed request certainly stored nothing, else ``None``."""
    if earlier_attempt_may_have_applied(error):  # the transport's own retries
        return None
    if isinstance(error, HTTPError):
        # A 4xx batch answer comes before anything runs (spec §3.7); 408 and 5xx may not.
        return False if error.status < 500 and error.status != 408 else None
    if isinstance(error, TokenRefreshError | ClientClosedError | ValueError | TypeError):
        return False  # raised before anything was sent
    return None


def check_results(
    sent: Sequence[Item], response: BatchMutationResponse
) -> list[BatchMutationResult]:
    results = response.items
    if len(results) != len(sent):
        raise AnswerMismatchError(f"{len(results)} results for a batch of {len(sent)} items")
    for item, result in zip(sent, results, strict=True):
        if result.agent_id != item.agent_id or result.channel_name != item.wire["channel_name"]:
            raise AnswerMismatchError("the batch answer does not follow the request's order")
    return results


NOT_SENT: Final = "not sent: the ingestor stopped first"
IN_DOUBT: Final = "outcome unknown: the ingestor stopped while its request was under way"


def failure(
    item: Item,
    kind: FailureKind,
    error: str,
    exception: BaseException | None = None,
    stored: bool | None = False,
) -> IngestFailure:
    wire = item.wire
    return IngestFailure(
        agent_id=item.agent_id,
        channel_name=wire["channel_name"],
        data=msgspec.json.decode(wire["data"]),  # as sent (encoded at put)
        message_id=item.message_id,
        timestamp=wire.get("ts"),
        ttl=wire.get("ttl"),
        kind=kind,
        error=error,
        exception=exception,
        stored=stored,
        suppress_hooks=wire.get("suppress_hooks"),
    )
