"""Shared test configuration: every async test runs on asyncio and on trio, and Ctrl-C
is Python's own (a run started as a background job inherits SIGINT ignored, and the
Ctrl-C tests send SIGINT to the main thread)."""

from __future__ import annotations

import signal

import pytest

pytest_plugins = ["gps_tracker.emulator.pytest_plugin"]

signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each ``@pytest.mark.anyio`` test once per backend."""
    return str(request.param)
