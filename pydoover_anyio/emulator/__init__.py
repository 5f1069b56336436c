"""A local Doover data API for tests, demos and benchmarks (needs the ``emulator`` extra).

:class:`DooverEmulator` serves every REST endpoint of the Doover data API (channels,
messages, attachments with byte ranges, aggregates, multi-agent reads, batches, alarms,
notifications, connections, permissions, processors, TURN, device tokens) plus the OAuth
token endpoints, over real HTTP on loopback from a background thread, with in-memory
data. It checks real bearer tokens (HS256 JWTs it signs itself), logs every request with
its headers and decompressed body (``emulator.requests``) and misbehaves on demand
(``emulator.faults``: latency, 5xx, 429, dropped connections, malformed bodies, faults
*after* the request was applied, and a real response cut or stalled after ``at_byte``
bytes of its body). Run it stand-alone with ``python -m pydoover_anyio.emulator``;
pytest users get fixtures from ``pydoover_anyio.emulator.pytest_plugin``.
"""

from __future__ import annotations

from pydoover_anyio._emulation import FaultKind, FaultPlan, LoggedRequest, RequestLog

from ._emulator import DooverEmulator
from ._state import DooverState

__all__ = [
    "DooverEmulator",
    "DooverState",
    "FaultKind",
    "FaultPlan",
    "LoggedRequest",
    "RequestLog",
]
