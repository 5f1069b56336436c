"""Our driver: time one ``get_locations`` call of this repository's gps_tracker; print JSON.

The counterpart of ``_peer_locations.py``. Run by ``benchmarks/locations.py`` with the
project's python (``-I``, from a directory outside the repository), so our client has a
process and a GIL of its own, as the peer does, and does not compete with the emulator's
server thread. Exits with an error unless ``gps_tracker`` is this repository's. Prints one
JSON object::

    {"elapsed": seconds, "uuids": [...], "backend": "asyncio", "concurrency": 16,
     "connection_layer": "AnyioHTTPTransport", "module": path, "python": "3.11.7",
     "versions": {"anyio": ..., "trio": ..., "httpx": ..., "httptools": ...}}

Usage: ``python -I _ours_locations.py URL USERNAME PASSWORD DEVICE_ID MAX_COUNT
CONCURRENCY BACKEND``
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio

import gps_tracker
from gps_tracker import AsyncClient, Config

sys.path.append(str(Path(__file__).resolve().parent))  # last: for _driver only
import _driver


async def _run(
    url: str, username: str, password: str, device_id: int, max_count: int, concurrency: int
) -> dict[str, Any]:
    """Time one ``get_locations`` call on a fresh client (connections opened inside)."""
    config = Config(username=username, password=password, api_url=url)
    device = SimpleNamespace(id=device_id)
    async with AsyncClient(config, max_concurrency=concurrency) as client:
        # Private attributes, read only to report which connection layer httpx used.
        layer = type(client._transport.client._transport).__name__
        start = time.perf_counter()
        locations = await client.get_locations(device, max_count=max_count)
        elapsed = time.perf_counter() - start
    return {
        "elapsed": elapsed,
        "uuids": [str(location.uuid) for location in locations],
        "concurrency": concurrency,
        "connection_layer": layer,
    }


def main() -> None:
    """Check that our package is the one imported, run on the backend asked, print JSON."""
    url, username, password, device_id, max_count, concurrency, backend = sys.argv[1:]
    _driver.require_inside(gps_tracker.__file__, _driver.REPOSITORY, "the repository")
    arguments = (url, username, password, int(device_id), int(max_count), int(concurrency))
    result = anyio.run(_run, *arguments, backend=backend)
    identity = _driver.identity(gps_tracker.__file__, "anyio", "trio", "httpx", "httptools")
    _driver.emit({**result, "backend": backend, **identity})


if __name__ == "__main__":
    main()
