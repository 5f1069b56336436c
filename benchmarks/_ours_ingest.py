"""Our driver for ``benchmarks/ingest.py``: write N messages with ``client.ingest()``, print JSON.

The counterpart of ``_peer_ingest.py``, run with the project's python (``-I``, from a
directory outside the repository) so the client has a process and a GIL of its own. It
exits with an error unless ``pydoover_anyio`` is this repository's. The job's ``mode``:

* ``async``: ``AsyncDataClient.ingest(concurrency=C)`` under ``anyio.run`` on ``backend``,
  one ``await ingest.put(...)`` per message;
* ``sync``: ``DataClient.ingest(concurrency=C)`` from this thread, one ``ingest.put(...)``
  per message (one call onto the client's loop thread each).

The timed part is the whole ``ingest`` block: entering it, every ``put`` and the flush
at its exit. ``timeout`` (seconds, optional) is the client's request timeout.

Usage: ``python -I _ours_ingest.py JOB_JSON``
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import anyio

import pydoover_anyio
from pydoover_anyio import AsyncDataClient, BatchMutationItem, DataClient, IngestReport

sys.path.append(str(Path(__file__).resolve().parent))  # last: for _driver only
import _driver
from _driver import Job, Result, payload


def _options(job: Job) -> dict[str, Any]:
    return {"token": job["token"], **({"timeout": job["timeout"]} if job.get("timeout") else {})}


def _summary(report: IngestReport, ids: list[int]) -> Result:
    return {
        "requests": report.requests,
        "succeeded": report.succeeded,
        "failed_items": report.failed,
        "errors": len({id(f.exception) for f in report.failures}),
        "ids": ids,
    }


def _warm_items(job: Job) -> list[BatchMutationItem]:
    agent, warmup = job["agent"], job["warmup_channel"]
    return [BatchMutationItem(agent, warmup, {"w": n}) for n in range(job["concurrency"])]


async def run_async(job: Job) -> Result:
    """Warm up, then time one ingest block."""
    agent, channel, n = job["agent"], job["channel"], job["n"]
    async with AsyncDataClient(job["url"], **_options(job)) as client:
        # Warm-up: one small batch per connection the timed part will use.
        async with client.ingest(
            concurrency=job["concurrency"], batch_size=1, raise_on_failure=False
        ) as warm:
            await warm.put_many(_warm_items(job))
        ids: list[int] = []
        cpu, start = time.process_time(), time.perf_counter()
        async with client.ingest(concurrency=job["concurrency"], raise_on_failure=False) as ingest:
            for seq in range(n):
                ids.append(await ingest.put(agent, channel, payload(seq)))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"elapsed": elapsed, "cpu": cpu, **_summary(ingest.report, ids)}


def run_sync(job: Job) -> Result:
    """The same through the blocking facade."""
    agent, channel, n = job["agent"], job["channel"], job["n"]
    with DataClient(job["url"], **_options(job)) as client:
        with client.ingest(
            concurrency=job["concurrency"], batch_size=1, raise_on_failure=False
        ) as warm:
            warm.put_many(_warm_items(job))
        ids: list[int] = []
        cpu, start = time.process_time(), time.perf_counter()
        with client.ingest(concurrency=job["concurrency"], raise_on_failure=False) as ingest:
            for seq in range(n):
                ids.append(ingest.put(agent, channel, payload(seq)))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"elapsed": elapsed, "cpu": cpu, **_summary(ingest.report, ids)}


def main() -> None:
    """Run the job, print the JSON result."""
    _driver.require_inside(pydoover_anyio.__file__, _driver.REPOSITORY, "the repository")
    job = _driver.read_job()
    if job["mode"] == "sync":
        result = run_sync(job)
    else:
        result = anyio.run(run_async, job, backend=job["backend"])
    result.update(_driver.identity(pydoover_anyio.__file__, "anyio", "trio", "httpx", "msgspec"))
    _driver.emit(result)


if __name__ == "__main__":
    main()
