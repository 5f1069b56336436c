"""A local Invoxia API server for tests, demos and benchmarks (needs the ``emulator`` extra).

:class:`InvoxiaEmulator` serves seeded, in-memory data over real HTTP on loopback from a
background thread, so asyncio tests, trio tests and synchronous code can all use it. It
can misbehave on purpose: page-boundary semantics (:class:`PagingRules`), latency and
injected faults (``emulator.faults``). Run it stand-alone with
``python -m gps_tracker.emulator``; pytest users get fixtures from
``gps_tracker.emulator.pytest_plugin``.
"""

from __future__ import annotations

from pydoover_anyio._emulation import FaultKind, FaultPlan, LoggedRequest, RequestLog

from ._emulator import InvoxiaEmulator
from ._paging import BoundMode, PageOrder, PagingRules
from ._state import InvoxiaState

__all__ = [
    "BoundMode",
    "FaultKind",
    "FaultPlan",
    "InvoxiaEmulator",
    "InvoxiaState",
    "LoggedRequest",
    "PageOrder",
    "PagingRules",
    "RequestLog",
]
