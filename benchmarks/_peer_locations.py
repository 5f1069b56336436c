"""Peer driver: time one ``get_locations`` call of gps-tracker 0.9.2 and print JSON.

Run by ``benchmarks/locations.py`` with the peer venv's python (``-I``, outside the repo),
so ``import gps_tracker`` is the PyPI package, never this repository's. Uses the peer's
``AsyncClient`` on asyncio, as Home Assistant does. Prints one JSON object::

    {"elapsed": seconds, "uuids": [...], "module": path, "python": "3.11.7",
     "versions": {"gps-tracker": "0.9.2", "aiohttp": ...}}

Usage: ``python -I _peer_locations.py URL USERNAME PASSWORD DEVICE_ID MAX_COUNT``
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gps_tracker
from gps_tracker import AsyncClient, Config

sys.path.append(str(Path(__file__).resolve().parent))  # last: for _driver only
import _driver


async def _run(
    url: str, username: str, password: str, device_id: int, max_count: int
) -> dict[str, Any]:
    """Time one ``get_locations`` call on a fresh client (connections opened inside)."""
    config = Config(username=username, password=password, api_url=url)
    device = SimpleNamespace(id=device_id)  # 0.9.2 only reads ``device.id``
    async with AsyncClient(config=config) as client:
        start = time.perf_counter()
        locations = await client.get_locations(device, max_count=max_count)
        elapsed = time.perf_counter() - start
    return {
        "elapsed": elapsed,
        "uuids": [str(location.uuid) for location in locations],
    }


def main() -> None:
    """Check that the peer package is the one imported, run, print the JSON result."""
    url, username, password, device_id, max_count = sys.argv[1:]
    _driver.require_inside(gps_tracker.__file__, Path(sys.prefix), "the venv")
    result = asyncio.run(_run(url, username, password, int(device_id), int(max_count)))
    _driver.emit({**result, **_driver.identity(gps_tracker.__file__, "gps-tracker", "aiohttp")})


if __name__ == "__main__":
    main()
