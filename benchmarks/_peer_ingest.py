"""Peer driver for ``benchmarks/ingest.py``: write N messages with pydoover 1.18.3, print JSON.

The counterpart of ``_ours_ingest.py``. It imports nothing from this repository but
``_driver.py`` (standard library only) and runs in a process of its own (``-I``, outside
the repository). The job's ``mode``:

* ``create``: ``create_message`` calls, ``concurrency`` worker tasks sharing one
  ``AsyncDataClient`` (aiohttp), each taking the next sequence number;
* ``batch``: ``batch_create_messages`` of up to 50 items (no ``message_id``: pydoover's
  documented usage when the caller has no ids), one request after the other.

A call that raises (after pydoover's own retries) is counted in ``errors`` (its items in
``failed_items``) and the run goes on; the benchmark counts what the server holds.

Usage: ``python -I _peer_ingest.py JOB_JSON``
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydoover  # type: ignore[import-untyped]  # (pydoover ships no type information)
import pydoover.api  # type: ignore[import-untyped]
from pydoover.models.data import BatchMutationItem  # type: ignore[import-untyped]

sys.path.append(str(Path(__file__).resolve().parent))  # last: for _driver only
import _driver
from _driver import Job, Result, payload


async def _warm_up(client: Any, job: Job) -> None:
    """Open the connections the timed part uses (faults may hit these: ignored)."""
    agent, warmup = job["agent"], job["warmup_channel"]
    calls = [client.create_message(agent, warmup, {"w": n}) for n in range(job["concurrency"])]
    await asyncio.gather(*calls, return_exceptions=True)


async def _create(client: Any, job: Job) -> Result:
    agent, channel = job["agent"], job["channel"]
    seqs: Iterator[int] = iter(range(job["n"]))
    errors = 0

    async def worker() -> None:
        nonlocal errors
        for seq in seqs:  # shared: each worker takes the next number
            try:
                await client.create_message(agent, channel, payload(seq))
            except Exception:  # noqa: BLE001 - counted; the server's data is checked
                errors += 1

    await asyncio.gather(*(worker() for _ in range(job["concurrency"])))
    return {"errors": errors, "failed_items": errors, "requests": job["n"]}


async def _batch(client: Any, job: Job) -> Result:
    agent, channel, n = job["agent"], job["channel"], job["n"]
    errors = failed_items = requests = 0
    for start in range(0, n, 50):
        items = [
            BatchMutationItem(agent, channel, payload(s)) for s in range(start, min(n, start + 50))
        ]
        requests += 1
        try:
            response = await client.batch_create_messages(items)
        except Exception:  # noqa: BLE001 - counted; the server's data is checked
            errors += 1
            failed_items += len(items)
        else:
            failed_items += response.failed
    return {"errors": errors, "failed_items": failed_items, "requests": requests}


async def run(job: Job) -> Result:
    """Warm up, then time the writes."""
    client = pydoover.api.AsyncDataClient(base_url=job["url"], token=job["token"])
    async with client:
        await _warm_up(client, job)
        cpu, start = time.process_time(), time.perf_counter()
        result = await {"create": _create, "batch": _batch}[job["mode"]](client, job)
        result.update(elapsed=time.perf_counter() - start, cpu=time.process_time() - cpu)
    return result


def main() -> None:
    """Run the job, print the JSON result."""
    job = _driver.read_job()
    result = asyncio.run(run(job))
    result.update(_driver.identity(pydoover.__file__, "pydoover", "aiohttp"))
    _driver.emit(result)


if __name__ == "__main__":
    main()
