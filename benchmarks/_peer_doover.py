"""Peer driver for the Doover benchmarks: run one measured job with pydoover 1.18.3, print JSON.

The counterpart of ``_ours_doover.py``, with the same jobs and the same JSON result, run by
``benchmarks/doover_messages.py`` in a process of its own (``-I``, outside the repository)
with ``--peer-python`` (default: the benchmark's own python, whose venv holds
``pydoover==1.18.3``). It imports nothing from this repository. Async jobs use pydoover's
``AsyncDataClient`` (aiohttp) under ``asyncio.run``; the ``calls`` job's ``"sync"`` mode
uses its ``DataClient`` (httpx). ``decode`` runs pydoover's own decoding of a list of
messages: its JSON loader (orjson when installed, else the standard library) and then
``Message.from_dict`` per item, as ``list_messages`` does.

Usage: ``python -I _peer_doover.py JOB_JSON``
"""

from __future__ import annotations

import asyncio
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

import pydoover  # type: ignore[import-untyped]  # (pydoover ships no type information)
import pydoover.api  # type: ignore[import-untyped]
import pydoover.api._json as peer_json  # type: ignore[import-untyped]
from pydoover.models import Message  # type: ignore[import-untyped]

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


def _client(job: Job) -> pydoover.api.AsyncDataClient:
    return pydoover.api.AsyncDataClient(base_url=job["url"], token=job["token"])


async def _create(job: Job) -> Result:
    agent, channel = job["agent"], job["channel"]
    seqs: Iterator[int] = iter(range(job["n"]))
    ids: list[int] = []

    async def worker(client: pydoover.api.AsyncDataClient) -> None:
        for seq in seqs:  # shared: each worker takes the next number
            message = await client.create_message(agent, channel, create_payload(seq))
            ids.append(message.id)

    async with _client(job) as client:
        warmup = job["warmup_channel"]
        await asyncio.gather(  # warm-up: open every connection
            *(client.create_message(agent, warmup, {"w": seq}) for seq in range(job["concurrency"]))
        )
        cpu, start = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(job["concurrency"])))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "elapsed": elapsed,
        "cpu": cpu,
        "requests": job["n"],
        "ids": ids,
        "connection_layer": f"aiohttp {version('aiohttp')}",
    }


async def _list(job: Job) -> Result:
    agent, channel, limit = job["agent"], job["channel"], job["limit"]
    ids: list[int] = []
    page_times: list[float] = []
    async with _client(job) as client:
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
    }


async def _calls_async(job: Job) -> Result:
    agent, channel, message_id = job["agent"], job["channel"], job["message_id"]
    async with _client(job) as client:
        for _ in range(job["warmup"]):
            await client.fetch_message(agent, channel, message_id)
        cpu, start = time.process_time(), time.perf_counter()
        for _ in range(job["n"]):
            await client.fetch_message(agent, channel, message_id)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"elapsed": elapsed, "cpu": cpu, "requests": job["n"]}


def _calls_sync(job: Job) -> Result:
    agent, channel, message_id = job["agent"], job["channel"], job["message_id"]
    with pydoover.api.DataClient(base_url=job["url"], token=job["token"]) as client:
        for _ in range(job["warmup"]):
            client.fetch_message(agent, channel, message_id)
        cpu, start = time.process_time(), time.perf_counter()
        for _ in range(job["n"]):
            client.fetch_message(agent, channel, message_id)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"elapsed": elapsed, "cpu": cpu, "requests": job["n"]}


def _decode(job: Job) -> Result:
    body = Path(job["body"]).read_bytes()

    def run() -> list[Message]:
        return [Message.from_dict(item) for item in peer_json.loads(body)]

    messages = run()  # warm-up
    times: list[float] = []
    for _ in range(job["repeats"]):
        start = time.perf_counter()
        for _ in range(job["loops"]):
            run()
        times.append((time.perf_counter() - start) / job["loops"])
    summary = [(m.id, m.author_id, m.channel.agent_id, m.channel.name, m.data) for m in messages]
    loader = "orjson" if peer_json.orjson is not None else "json (stdlib; orjson not installed)"
    return {
        "elapsed": min(times),
        "times": times,
        "messages": len(messages),
        "digest": digest(summary),
        "decoder": f"{loader} + Message.from_dict",
    }


def run_job(job: Job) -> Result:
    """Run one job."""
    kind = job["kind"]
    if kind == "decode":
        return _decode(job)
    if kind == "calls" and job["mode"] == "sync":
        return _calls_sync(job)
    coroutine = {"create": _create, "list": _list, "calls": _calls_async}[kind]
    result: Result = asyncio.run(coroutine(job))
    return result


def main() -> None:
    """Pin if asked, run the job, print the JSON result."""
    job: Job = json.loads(sys.argv[1])
    if job.get("cpu") is not None:
        os.sched_setaffinity(0, {job["cpu"]})
    result = run_job(job)
    result.update(
        module=pydoover.__file__,
        python=platform.python_version(),
        versions={name: version(name) for name in ("pydoover", "aiohttp", "httpx")},
        json_loader="orjson" if peer_json.orjson is not None else "json",
    )
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
