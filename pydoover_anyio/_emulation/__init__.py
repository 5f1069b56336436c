"""Private harness shared by the local emulators (Invoxia, Doover).

* :mod:`.server`: serve any ASGI app under uvicorn on loopback from a background thread.
* :mod:`.faults`: injected latency and faults (an ASGI middleware) and a request log.
* :mod:`.asgi`: ASGI type aliases and a response helper.
* :mod:`.served`: an emulator's lifecycle (base class) and its foreground command line.

Requires the ``emulator`` extra (uvicorn, httptools).
"""

from __future__ import annotations

from .asgi import ASGIApp, Message, Receive, Scope, Send, send_response
from .faults import Fault, FaultKind, FaultMiddleware, FaultPlan, LoggedRequest, RequestLog
from .served import ServedEmulator, emulator_parser, serve_until_interrupted, server_options
from .server import AbortConnection, ServerThread

__all__ = [
    "ASGIApp",
    "AbortConnection",
    "Fault",
    "FaultKind",
    "FaultMiddleware",
    "FaultPlan",
    "LoggedRequest",
    "Message",
    "Receive",
    "RequestLog",
    "Scope",
    "Send",
    "ServedEmulator",
    "ServerThread",
    "emulator_parser",
    "send_response",
    "serve_until_interrupted",
    "server_options",
]
