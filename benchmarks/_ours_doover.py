"""Our driver for the Doover benchmarks: run one measured job with pydoover_anyio, print JSON.

The counterpart of ``_peer_doover.py``. ``benchmarks/doover_messages.py`` runs it with the
project's python (``-I``, from a directory outside the repository), so our client has a
process and a GIL of its own and never competes with the emulator's server thread. It
exits with an error unless ``pydoover_anyio`` is this repository's.

Usage: ``python -I _ours_doover.py JOB_JSON``. The job's ``kind`` is one of:

* ``create``: ``n`` ``create_message`` calls, ``concurrency`` in flight (a task group of
  that many workers taking the next sequence number), on ``backend``;
* ``list``: ``pages`` sequential ``list_messages(limit=...)`` calls walking back with
  ``before``, each page timed on its own;
* ``calls``: ``n`` sequential ``fetch_message`` calls, ``mode`` ``"async"``
  (``AsyncDataClient`` under ``anyio.run``) or ``"sync"`` (``DataClient`` from this
  thread), plus, for ``"sync"``, ``bridge_n`` round trips of a no-op coroutine through
  the client's own loop (no I/O);
* ``decode``: decode a captured response body ``repeats`` x ``loops`` times with the
  client's own decoder (the one ``list_messages`` uses).

Every job warms up (connections opened, token checked) before its timed part and prints
one JSON object with ``elapsed`` (wall seconds of the timed part), ``cpu`` (this process's
CPU seconds over it, all threads) and the job's results.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import anyio

import pydoover_anyio
from pydoover_anyio.client import AsyncDataClient
from pydoover_anyio.models import Message
from pydoover_anyio.models._decode import decode
from pydoover_anyio.sync import DataClient

sys.path.append(str(Path(__file__).resolve().parent))  # last: for _driver only
import _driver
from _driver import Job, Result


def _client(job: Job) -> AsyncDataClient:
    return AsyncDataClient(job["url"], token=job["token"])


def _layer(client: AsyncDataClient) -> str:
    """Which connection layer httpx uses (private attributes, read only to report it)."""
    return type(client._transport.client._transport).__name__


async def _create(job: Job) -> Result:
    agent, channel = job["agent"], job["channel"]
    seqs: Iterator[int] = iter(range(job["n"]))
    ids: list[int] = []

    async def worker(client: AsyncDataClient) -> None:
        for seq in seqs:  # shared: each worker takes the next number
            message = await client.create_message(agent, channel, _driver.payload(seq))
            ids.append(message.id)

    async with _client(job) as client:
        layer = _layer(client)
        async with anyio.create_task_group() as group:  # warm-up: open every connection
            for seq in range(job["concurrency"]):
                group.start_soon(client.create_message, agent, job["warmup_channel"], {"w": seq})
        cpu, start = time.process_time(), time.perf_counter()
        async with anyio.create_task_group() as group:
            for _ in range(job["concurrency"]):
                group.start_soon(worker, client)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "elapsed": elapsed,
        "cpu": cpu,
        "requests": job["n"],
        "ids": ids,
        "connection_layer": layer,
    }


async def _list(job: Job) -> Result:
    async with _client(job) as client:
        layer = _layer(client)
        result = await _driver.walk_pages(client, job)
    return {**result, "connection_layer": layer}


async def _calls_async(job: Job) -> Result:
    async with _client(job) as client:
        layer = _layer(client)
        result = await _driver.fetch_calls(client, job)
    return {**result, "connection_layer": layer}


async def _noop() -> None:
    return None


def _calls_sync(job: Job) -> Result:
    with DataClient(job["url"], token=job["token"]) as client:
        result = _driver.fetch_calls_sync(client, job)
        # Private attribute, read only to time the bridge alone: the client's loop.
        loop = client._loop
        for _ in range(job["warmup"]):
            loop.call(_noop)
        bridge_cpu, bridge_start = time.process_time(), time.perf_counter()
        for _ in range(job["bridge_n"]):
            loop.call(_noop)
        bridge = time.perf_counter() - bridge_start
        bridge_cpu = time.process_time() - bridge_cpu
    return {
        **result,
        "bridge_elapsed": bridge,
        "bridge_cpu": bridge_cpu,
        "bridge_n": job["bridge_n"],
    }


def _decode(job: Job) -> Result:
    body = Path(job["body"]).read_bytes()

    def run() -> list[Message]:
        return decode(list[Message], body, method="GET", url=job["url"], status=200)

    return _driver.time_decodes(
        run, job, f"msgspec {version('msgspec')} typed Struct decoder (lax)"
    )


def run_job(job: Job) -> Result:
    """Run one job on the backend it names."""
    kind = job["kind"]
    if kind == "decode":
        return _decode(job)
    if kind == "calls" and job["mode"] == "sync":
        return _calls_sync(job)
    coroutine = {"create": _create, "list": _list, "calls": _calls_async}[kind]
    result: Result = anyio.run(coroutine, job, backend=job.get("backend", "asyncio"))
    return result


def main() -> None:
    """Check that our package is the one imported, pin if asked, run the job, print JSON."""
    job = _driver.read_job()
    _driver.require_inside(pydoover_anyio.__file__, _driver.REPOSITORY, "the repository")
    result = run_job(job)
    result.update(_driver.identity(pydoover_anyio.__file__, "anyio", "httpx", "msgspec", "trio"))
    _driver.emit(result)


if __name__ == "__main__":
    main()
