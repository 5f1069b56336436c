"""Our driver: time one ``get_locations`` call of this repository's gps_tracker; print JSON.

The counterpart of ``_peer_locations.py``. Run by ``benchmarks/locations.py`` with the
project's python (``-I``, from a directory outside the repository), so our client has a
process and a GIL of its own, as the peer does, and does not compete with the emulator's
server thread. Exits with an error unless ``gps_tracker`` is this repository's. Prints one
JSON object::

    {"elapsed": seconds, "uuids": [...], "module": path, "backend": "asyncio",
     "concurrency": 16, "connection_layer": "AnyioHTTPTransport", "python": "3.11.7"}

Usage: ``python -I _ours_locations.py URL USERNAME PASSWORD DEVICE_ID MAX_COUNT
CONCURRENCY BACKEND``
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio

import gps_tracker
from gps_tracker import AsyncClient, Config

REPOSITORY = Path(__file__).resolve().parent.parent


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
        "module": gps_tracker.__file__,
        "concurrency": concurrency,
        "connection_layer": layer,
        "python": platform.python_version(),
    }


def main() -> None:
    """Check that our package is the one imported, run on the backend asked, print JSON."""
    url, username, password, device_id, max_count, concurrency, backend = sys.argv[1:]
    module = Path(gps_tracker.__file__).resolve()
    if not module.is_relative_to(REPOSITORY):
        sys.exit(f"gps_tracker was imported from {module}, not from the repository {REPOSITORY}")
    arguments = (url, username, password, int(device_id), int(max_count), int(concurrency))
    result = anyio.run(_run, *arguments, backend=backend)
    json.dump({**result, "backend": backend}, sys.stdout)


if __name__ == "__main__":
    main()
