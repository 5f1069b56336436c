"""Peer driver for the Doover benchmarks: run one measured job with pydoover 1.18.3, print JSON.

The counterpart of ``_ours_doover.py``, with the same jobs and the same JSON result, run by
``benchmarks/doover_messages.py`` in a process of its own (``-I``, outside the repository)
with ``--peer-python`` (default: the benchmark's own python, whose venv holds
``pydoover==1.18.3``). It imports nothing from this repository but ``_driver.py``
(standard library only; its page walk, ``fetch_message`` loops and decode timing are the
ones ``_ours_doover.py`` runs too). Async jobs use pydoover's ``AsyncDataClient``
(aiohttp) under ``asyncio.run``; the ``calls`` job's ``"sync"`` mode uses its
``DataClient`` (httpx). ``decode`` runs pydoover's own decoding of a list of messages: its
JSON loader (orjson when installed, else the standard library) and then
``Message.from_dict`` per item, as ``list_messages`` does.

Usage: ``python -I _peer_doover.py JOB_JSON``
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pydoover  # type: ignore[import-untyped]  # (pydoover ships no type information)
import pydoover.api  # type: ignore[import-untyped]
import pydoover.api._json as peer_json  # type: ignore[import-untyped]
from pydoover.models import Message  # type: ignore[import-untyped]

sys.path.append(str(Path(__file__).resolve().parent))  # last: for _driver only
import _driver
from _driver import Job, Result


def _client(job: Job) -> pydoover.api.AsyncDataClient:
    return pydoover.api.AsyncDataClient(base_url=job["url"], token=job["token"])


async def _create(job: Job) -> Result:
    agent, channel = job["agent"], job["channel"]
    seqs: Iterator[int] = iter(range(job["n"]))
    ids: list[int] = []

    async def worker(client: pydoover.api.AsyncDataClient) -> None:
        for seq in seqs:  # shared: each worker takes the next number
            message = await client.create_message(agent, channel, _driver.payload(seq))
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
    async with _client(job) as client:
        result: Result = await _driver.walk_pages(client, job)
    return result


async def _calls_async(job: Job) -> Result:
    async with _client(job) as client:
        result: Result = await _driver.fetch_calls(client, job)
    return result


def _calls_sync(job: Job) -> Result:
    with pydoover.api.DataClient(base_url=job["url"], token=job["token"]) as client:
        result: Result = _driver.fetch_calls_sync(client, job)
    return result


def _decode(job: Job) -> Result:
    body = Path(job["body"]).read_bytes()

    def run() -> list[Message]:
        return [Message.from_dict(item) for item in peer_json.loads(body)]

    loader = "orjson" if peer_json.orjson is not None else "json (stdlib; orjson not installed)"
    return _driver.time_decodes(run, job, f"{loader} + Message.from_dict")


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
    job = _driver.read_job()
    result = run_job(job)
    result.update(
        _driver.identity(pydoover.__file__, "pydoover", "aiohttp", "httpx"),
        json_loader="orjson" if peer_json.orjson is not None else "json",
    )
    _driver.emit(result)


if __name__ == "__main__":
    main()
