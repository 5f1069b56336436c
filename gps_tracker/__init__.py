"""Invoxia GPS tracker client on anyio: a drop-in replacement for ``gps-tracker`` 0.9.2.

``AsyncClient`` runs on asyncio and trio; ``Client`` is its blocking twin. Importing this
package does no I/O and reads no package metadata.
"""

from __future__ import annotations

from . import client
from .client import AsyncClient, Client, Config, Device, Tracker, TrackerData

#: The gps-tracker API this package reproduces, and this implementation's own version.
__version__ = "0.9.2+anyio.0.1.0"

__all__ = [
    "AsyncClient",
    "Client",
    "Config",
    "Device",
    "Tracker",
    "TrackerData",
    "__version__",
    "client",
]
