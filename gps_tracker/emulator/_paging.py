"""Which locations one ``tracker_data`` request returns: bounds, page size and order.

The real server's semantics are unknown (spec §6.1, §11), so every plausible variant is
a setting. This module is I/O-free: it maps a sorted list of integer-microsecond times
and the two query bounds to the indices of one page, in O(log n) plus the page size.

Rules:

* The page holds the *newest* ``page_size`` locations that pass both bounds.
* Each bound is compared independently, in one of the :class:`BoundMode` ways; the
  bounds are integer Unix seconds, the location times carry microseconds.
* The page is then ordered newest-first, oldest-first or shuffled. A shuffle is seeded by
  the rules' ``shuffle_seed`` and the page's position, so the same request gives the
  same page every time.
"""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["BoundMode", "PageOrder", "PagingRules", "select_page"]

_US = 1_000_000


class BoundMode(StrEnum):
    """How the server compares a location time ``t`` with a bound ``B`` (whole seconds).

    For ``timestamp`` (lower bound) the comparisons are ``t >= B`` / ``t > B`` /
    ``floor(t) >= B`` / ``floor(t) > B``; for ``timestamp_max`` (upper bound) they are
    ``t <= B`` / ``t < B`` / ``floor(t) <= B`` / ``floor(t) < B``.
    """

    EXACT_INCLUSIVE = "exact_inclusive"
    """Compare the exact time, bound included."""
    EXACT_EXCLUSIVE = "exact_exclusive"
    """Compare the exact time, bound excluded."""
    SECOND_INCLUSIVE = "second_inclusive"
    """Compare the time's whole second (floor), bound included."""
    SECOND_EXCLUSIVE = "second_exclusive"
    """Compare the time's whole second (floor), bound excluded."""
    IGNORE = "ignore"
    """Misbehave: ignore the bound entirely."""


class PageOrder(StrEnum):
    """The order of the locations within one page."""

    NEWEST_FIRST = "newest_first"
    OLDEST_FIRST = "oldest_first"
    SHUFFLED = "shuffled"


@dataclass(frozen=True, slots=True)
class PagingRules:
    """How ``tracker_data`` pages are cut (immutable; replace it to change behaviour).

    Attributes:
        page_size: The most locations one response holds.
        order: The order within a page.
        timestamp: How the lower bound (``timestamp``) is applied.
        timestamp_max: How the upper bound (``timestamp_max``) is applied.
        shuffle_seed: Seed of the shuffled order.
    """

    page_size: int = 20
    order: PageOrder = PageOrder.NEWEST_FIRST
    timestamp: BoundMode = BoundMode.EXACT_INCLUSIVE
    timestamp_max: BoundMode = BoundMode.EXACT_INCLUSIVE
    shuffle_seed: int = 0

    def __post_init__(self) -> None:
        if self.page_size < 1:
            raise ValueError("page_size must be at least 1")
        # Accept the plain strings too (e.g. from the command line).
        object.__setattr__(self, "order", PageOrder(self.order))
        object.__setattr__(self, "timestamp", BoundMode(self.timestamp))
        object.__setattr__(self, "timestamp_max", BoundMode(self.timestamp_max))


def _lower_index(times: Sequence[int], mode: BoundMode, bound: int | None) -> int:
    """Index of the first location passing the lower bound."""
    if bound is None or mode is BoundMode.IGNORE:
        return 0
    edge = bound * _US
    if mode is BoundMode.EXACT_EXCLUSIVE:
        return bisect_right(times, edge)
    if mode is BoundMode.SECOND_EXCLUSIVE:
        return bisect_left(times, edge + _US)
    return bisect_left(times, edge)  # t >= B and floor(t) >= B are the same test


def _upper_index(times: Sequence[int], mode: BoundMode, bound: int | None) -> int:
    """Index just past the last location passing the upper bound."""
    if bound is None or mode is BoundMode.IGNORE:
        return len(times)
    edge = bound * _US
    if mode is BoundMode.EXACT_INCLUSIVE:
        return bisect_right(times, edge)
    if mode is BoundMode.SECOND_INCLUSIVE:
        return bisect_left(times, edge + _US)
    return bisect_left(times, edge)  # t < B and floor(t) < B are the same test


def select_page(
    times: Sequence[int],
    rules: PagingRules,
    timestamp: int | None,
    timestamp_max: int | None,
    key: int = 0,
) -> list[int]:
    """Pick the indices of one page of locations.

    Args:
        times: Location times in integer microseconds since the epoch, ascending.
        rules: Page size, order and bound semantics.
        timestamp: The lower bound in Unix seconds, if sent.
        timestamp_max: The upper bound in Unix seconds, if sent.
        key: Distinguishes one device's shuffles from another's.

    Returns:
        Indices into ``times``, in the order the page lists them.
    """
    start = _lower_index(times, rules.timestamp, timestamp)
    end = _upper_index(times, rules.timestamp_max, timestamp_max)
    if end <= start:
        return []
    first = max(start, end - rules.page_size)
    if rules.order is PageOrder.OLDEST_FIRST:
        return list(range(first, end))
    indices = list(range(end - 1, first - 1, -1))
    if rules.order is PageOrder.SHUFFLED:
        random.Random(f"{rules.shuffle_seed}:{key}:{first}:{end}").shuffle(indices)
    return indices
