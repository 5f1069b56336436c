"""Time series of one field across a channel's messages (spec §3.2, §4.1)."""

from __future__ import annotations

from typing import Any

from ._base import Id, Model, coerce_ids

__all__ = ["DataPoint", "TimeseriesResponse"]


class DataPoint(Model, gc=False):
    """One value of the field, and the message it was read from."""

    value: Any
    message_id: Id

    def __post_init__(self) -> None:
        if type(self.message_id) is not int:
            coerce_ids(self, "message_id")


class TimeseriesResponse(Model):
    """A page of data points; ``next`` (an id) is the ``before`` of the next page."""

    _omit_none = frozenset({"next"})

    count: int
    results: list[DataPoint]
    next: Id | None = None
