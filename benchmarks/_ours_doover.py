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
  the client's own loop thread (no I/O);
* ``decode``: decode a captured response body ``repeats`` x ``loops`` times with the
  client's own decoder (the one ``list_messages`` uses).

Every job warms up (connections opened, token checked) before its timed part and prints
one JSON object with ``elapsed`` (wall seconds of the timed part), ``cpu`` (this process's
CPU seconds over it, all threads) and the job's results.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import anyio

import pydoover_anyio
from pydoover_anyio.client import AsyncDataClient
from pydoover_anyio.models import Message
from pydoover_anyio.models._decode import decode
from pydoover_anyio.sync import DataClient

REPOSITORY = Path(__file__).resolve().parent.parent

Job = dict[str, Any]
Result = dict[str, Any]


def create_payload(seq: int) -> dict[str, Any]:
    """The data of message ``seq`` (the same in both drivers; over 50 bytes, so gzipped)."""
    return {"seq": seq, "rpm": 1400 + seq % 97, "temp_c": 21.5, "status": "running"}


def digest(messages: list[tuple[int, int, int, str, Any]]) -> str:
    """A hash of decoded messages (id, author, channel agent, channel name, data)."""
    text = json.dumps(messages, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class GcWatch:
    """Time spent in the garbage collector, by generation, while installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0  # generation-2 collections
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        self.seconds += time.perf_counter() - self._began
        self.full += info["generation"] == 2

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


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
            message = await client.create_message(agent, channel, create_payload(seq))
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
    agent, channel, limit = job["agent"], job["channel"], job["limit"]
    ids: list[int] = []
    page_times: list[float] = []
    async with _client(job) as client:
        layer = _layer(client)
        await client.list_messages(agent, channel, limit=limit)  # warm-up: one full page
        cpu, start = time.process_time(), time.perf_counter()
        before: int | None = None
        with GcWatch() as collector:
            for _ in range(job["pages"]):
                began = time.perf_counter()
                page = await client.list_messages(agent, channel, before=before, limit=limit)
                page_times.append(time.perf_counter() - began)
                ids += [message.id for message in page]
                if not page:
                    break
                before = page[-1].id
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "elapsed": elapsed,
        "cpu": cpu,
        "requests": len(page_times),
        "page_times": page_times,
        "gc_seconds": collector.seconds,
        "gc_full": collector.full,
        "ids": ids,
        "connection_layer": layer,
    }


async def _calls_async(job: Job) -> Result:
    agent, channel, message_id = job["agent"], job["channel"], job["message_id"]
    async with _client(job) as client:
        layer = _layer(client)
        for _ in range(job["warmup"]):
            await client.fetch_message(agent, channel, message_id)
        cpu, start = time.process_time(), time.perf_counter()
        for _ in range(job["n"]):
            await client.fetch_message(agent, channel, message_id)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"elapsed": elapsed, "cpu": cpu, "requests": job["n"], "connection_layer": layer}


async def _noop() -> None:
    return None


def _calls_sync(job: Job) -> Result:
    agent, channel, message_id = job["agent"], job["channel"], job["message_id"]
    with DataClient(job["url"], token=job["token"]) as client:
        for _ in range(job["warmup"]):
            client.fetch_message(agent, channel, message_id)
        cpu, start = time.process_time(), time.perf_counter()
        for _ in range(job["n"]):
            client.fetch_message(agent, channel, message_id)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        # Private attribute, read only to time the bridge alone: the client's loop thread.
        loop = client._loop
        for _ in range(job["warmup"]):
            loop.call(_noop)
        bridge_cpu, bridge_start = time.process_time(), time.perf_counter()
        for _ in range(job["bridge_n"]):
            loop.call(_noop)
        bridge = time.perf_counter() - bridge_start
        bridge_cpu = time.process_time() - bridge_cpu
    return {
        "elapsed": elapsed,
        "cpu": cpu,
        "requests": job["n"],
        "bridge_elapsed": bridge,
        "bridge_cpu": bridge_cpu,
        "bridge_n": job["bridge_n"],
    }


def _decode(job: Job) -> Result:
    body = Path(job["body"]).read_bytes()

    def run() -> list[Message]:
        return decode(list[Message], body, method="GET", url=job["url"], status=200)

    messages = run()  # warm-up (builds and caches the decoder)
    times: list[float] = []
    for _ in range(job["repeats"]):
        start = time.perf_counter()
        for _ in range(job["loops"]):
            run()
        times.append((time.perf_counter() - start) / job["loops"])
    summary = [(m.id, m.author_id, m.channel.agent_id, m.channel.name, m.data) for m in messages]
    return {
        "elapsed": min(times),
        "times": times,
        "messages": len(messages),
        "digest": digest(summary),
        "decoder": f"msgspec {version('msgspec')} typed Struct decoder (lax)",
    }


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
    job: Job = json.loads(sys.argv[1])
    module = Path(pydoover_anyio.__file__).resolve()
    if not module.is_relative_to(REPOSITORY):
        sys.exit(f"pydoover_anyio was imported from {module}, not from {REPOSITORY}")
    if job.get("cpu") is not None:
        os.sched_setaffinity(0, {job["cpu"]})
    result = run_job(job)
    result.update(
        module=pydoover_anyio.__file__,
        python=platform.python_version(),
        versions={name: version(name) for name in ("anyio", "httpx", "msgspec", "trio")},
    )
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
