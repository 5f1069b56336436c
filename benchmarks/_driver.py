"""What the benchmark drivers (``_ours_*.py``, ``_peer_*.py``) share: standard library only.

The drivers run isolated (``python -I``, from a directory outside the repository), with this
project's python or a peer's, so nothing of this repository is importable there. Each
driver appends its own directory to the *end* of ``sys.path`` and imports this module
alone: anything installed (the client under test above all) still comes first, and this
module imports nothing but the standard library, so a peer driver still imports nothing
of this repository's package. Timing code that the ours and peer drivers of one benchmark
run alike is here too, so both sides time their calls with the same code.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

#: The repository the drivers belong to (``benchmarks/..``).
REPOSITORY = Path(__file__).resolve().parent.parent

#: A job, as the benchmark passes it (one JSON argument).
Job = dict[str, Any]
#: What a driver prints (one JSON object).
Result = dict[str, Any]


# -- process -----------------------------------------------------------------------------


def require_inside(module_file: str, root: Path, where: str) -> None:
    """Exit with an error unless ``module_file`` (a package's ``__file__``) is under ``root``.

    ``where`` names ``root`` in the message, e.g. ``"the repository"``.
    """
    module = Path(module_file).resolve()
    if not module.is_relative_to(root.resolve()):
        sys.exit(f"{module.parent.name} was imported from {module}, not from {where} {root}")


def read_job() -> Job:
    """The job: the driver's one argument, JSON. Pins the process to ``cpu`` if it is set."""
    job: Job = json.loads(sys.argv[1])
    if job.get("cpu") is not None:
        os.sched_setaffinity(0, {job["cpu"]})
    return job


def identity(module_file: str, *distributions: str) -> Result:
    """Where the client was imported from, this python's version and the packages' versions."""
    return {
        "module": module_file,
        "python": platform.python_version(),
        "versions": {name: version(name) for name in distributions},
    }


def emit(result: Result) -> None:
    """Print the result, one JSON object on stdout."""
    json.dump(result, sys.stdout)


# -- the Doover jobs -----------------------------------------------------------------------


def payload(seq: int) -> dict[str, Any]:
    """The data of created message ``seq`` (every driver's; over 50 bytes, so gzipped)."""
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


# ``client`` below is either library's ``AsyncDataClient`` / ``DataClient``: the same method
# names and positional arguments, no common type (pydoover ships no type information).


async def walk_pages(client: Any, job: Job) -> Result:
    """Warm up with one full page, then time ``pages`` pages walked back with ``before``."""
    agent, channel, limit = job["agent"], job["channel"], job["limit"]
    ids: list[int] = []
    page_times: list[float] = []
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


async def fetch_calls(client: Any, job: Job) -> Result:
    """``warmup`` untimed, then ``n`` timed sequential ``fetch_message`` calls."""
    agent, channel, message_id = job["agent"], job["channel"], job["message_id"]
    for _ in range(job["warmup"]):
        await client.fetch_message(agent, channel, message_id)
    cpu, start = time.process_time(), time.perf_counter()
    for _ in range(job["n"]):
        await client.fetch_message(agent, channel, message_id)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"elapsed": elapsed, "cpu": cpu, "requests": job["n"]}


def fetch_calls_sync(client: Any, job: Job) -> Result:
    """:func:`fetch_calls` through a blocking client."""
    agent, channel, message_id = job["agent"], job["channel"], job["message_id"]
    for _ in range(job["warmup"]):
        client.fetch_message(agent, channel, message_id)
    cpu, start = time.process_time(), time.perf_counter()
    for _ in range(job["n"]):
        client.fetch_message(agent, channel, message_id)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"elapsed": elapsed, "cpu": cpu, "requests": job["n"]}


def time_decodes(decode: Callable[[], list[Any]], job: Job, decoder: str) -> Result:
    """Time ``decode`` (one page body to messages): ``repeats`` batches of ``loops`` calls.

    The first call is an untimed warm-up and its messages are hashed for the comparison.
    """
    messages = decode()  # warm-up (ours: builds and caches the decoder)
    times: list[float] = []
    for _ in range(job["repeats"]):
        start = time.perf_counter()
        for _ in range(job["loops"]):
            decode()
        times.append((time.perf_counter() - start) / job["loops"])
    summary = [(m.id, m.author_id, m.channel.agent_id, m.channel.name, m.data) for m in messages]
    return {
        "elapsed": min(times),
        "times": times,
        "messages": len(messages),
        "digest": digest(summary),
        "decoder": decoder,
    }
