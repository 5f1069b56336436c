"""The Invoxia API clients, their configuration, models and exceptions (0.9.2 layout)."""

from __future__ import annotations

from . import datatypes, exceptions
from .asynchronous import AsyncClient
from .config import Config
from .datatypes import Device, Tracker, TrackerData
from .synchronous import Client

__all__ = [
    "AsyncClient",
    "Client",
    "Config",
    "Device",
    "Tracker",
    "TrackerData",
    "datatypes",
    "exceptions",
]
