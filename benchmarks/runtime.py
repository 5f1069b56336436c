"""Benchmark the shared runtime's HTTP path and sync bridge against aiohttp and pydoover.

One run, side by side, printing ratios and a PASS/FAIL line per target of the runtime
issue (docs/performance.md holds a measured run and how to read it):

* (a) requests/s through the library's own call (``fetch_channel_aggregate``, decoded)
  against aiohttp doing the same GET and ``json.loads``, with 1, 16 and 64 in flight,
  ours on asyncio and on trio (plus ours with ``http="httpx"``, for reference);
* (b) the same over TLS on loopback with a self-signed certificate (trustme CA);
* (c) our sync ``DataClient`` against pydoover's sync ``DataClient`` on the same endpoint,
  and the bare cost of our sync bridge (a no-op coroutine through a client's loop; on
  asyncio an idle loop is lent to the calling thread);
* (d) peak memory of ``iter_messages`` over a 1,000,000-message channel.

The server is a minimal HTTP/1.1 server (asyncio, keep-alive) in a separate process. It
answers the aggregate GET with the exact bytes the Doover emulator sends for a captured
aggregate (captured at start-up), and generates message pages on the fly for (d), so the
server costs little and the clients' own cost decides the ratios. Every measured job runs
in its own subprocess (``python -I``); rounds are interleaved (each round runs every job
once, in a rotating order); figures are medians over rounds and ratios are medians of the
per-round ratios. Nothing is hard-coded: every number printed is measured in this run.

The gateway target (events/s versus a bare aiohttp ws loop) is measured by
``benchmarks/gateway.py``, not here.

Usage: ``python benchmarks/runtime.py [--rounds R] [--n N] [--messages M] [--page-size S]
[--only SECTIONS]`` (sections: http, tls, sync, memory)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

HERE = Path(__file__).resolve()
REPOSITORY = HERE.parent.parent
AGENT = 253600457048719376
CHANNEL = "bench"
TOKEN = "bench-token"
Job = dict[str, Any]

# -- the minimal server (its own process) -----------------------------------------------


def serve(args: argparse.Namespace) -> None:
    """Serve the captured aggregate and generated message pages until killed."""
    aggregate = Path(args.body).read_bytes()
    agg_response = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%b"
        % (len(aggregate), aggregate)
    )
    total, top = args.messages, args.top_id
    author = str(AGENT)

    def page(target: bytes) -> bytes:
        query = parse_qs(urlsplit(target.decode()).query)
        limit = int(query.get("limit", ["50"])[0])
        before = int(query.get("before", [str(top + 1)])[0])
        after = int(query.get("after", ["0"])[0])
        newest = min(before - 1, top)
        oldest = max(after + 1, top - total + 1)
        ids = range(newest, max(oldest, newest - limit + 1) - 1, -1)
        items = ",".join(
            f'{{"id":"{i}","author_id":"{author}","channel":{{"agent_id":"{author}",'
            f'"name":"{CHANNEL}"}},"data":{{"seq":{top - i},"v":1.5}},"attachments":[]}}'
            for i in ids
        )
        body = f"[{items}]".encode()
        return (
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%b"
            % (len(body), body)
        )

    class Protocol(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: Any = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
                head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
                target = head[: head.find(b"\r\n")].split(b" ")[1]
                self.transport.write(page(target) if b"/messages" in target else agg_response)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.cert, args.key)
        plain = await loop.create_server(Protocol, "127.0.0.1", 0)
        secure = await loop.create_server(Protocol, "127.0.0.1", 0, ssl=tls)
        ports = [s.sockets[0].getsockname()[1] for s in (plain, secure)]
        with open(args.port_file, "w") as ports_file:  # noqa: ASYNC230 - once, at start-up
            ports_file.write(json.dumps(ports))
        await asyncio.Event().wait()

    asyncio.run(main())


# -- the jobs (each in its own process) --------------------------------------------------


def _client_ssl(job: Job) -> ssl.SSLContext | bool:
    return ssl.create_default_context(cafile=job["ca"]) if job["tls"] else True


async def _drive(call: Callable[[], Any], n: int, inflight: int) -> tuple[float, float]:
    """``n`` calls with ``inflight`` workers (anyio); (wall, cpu) seconds."""
    import anyio

    left = n

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await call()

    started, cpu = time.perf_counter(), time.process_time()
    async with anyio.create_task_group() as group:
        for _ in range(inflight):
            group.start_soon(worker)
    return time.perf_counter() - started, time.process_time() - cpu


def job_ours(job: Job) -> Job:
    import anyio

    from pydoover_anyio import AsyncDataClient

    async def main() -> Job:
        async with AsyncDataClient(
            job["url"], token=TOKEN, verify=_client_ssl(job), http=job["http"], max_retries=0
        ) as client:

            async def call() -> None:
                aggregate = await client.fetch_channel_aggregate(AGENT, CHANNEL)
                assert aggregate.data["pump"]["rpm"] == 1450

            await _drive(call, max(200, job["inflight"] * 4), job["inflight"])  # warm-up
            wall, cpu = await _drive(call, job["n"], job["inflight"])
            layer = type(client._transport.client._transport).__name__
            return {"wall": wall, "cpu": cpu, "fast": client._transport.fast_path, "layer": layer}

    return anyio.run(main, backend=job["backend"])  # type: ignore[no-any-return]


def job_aiohttp(job: Job) -> Job:
    import aiohttp

    if job.get("max_read"):
        # asyncio's socket transport reads up to 256 KiB per recv(), into a new bytes
        # object each time: above glibc's mmap threshold, so every read maps memory.
        from asyncio import selector_events

        selector_events._SelectorSocketTransport.max_size = job["max_read"]  # type: ignore[attr-defined]

    url = f"{job['url']}/agents/{AGENT}/channels/{CHANNEL}/aggregate"
    headers = {"Authorization": f"Bearer {TOKEN}"}

    async def main() -> Job:
        connector = aiohttp.TCPConnector(limit=100, ssl=_client_ssl(job))
        async with aiohttp.ClientSession(connector=connector) as session:

            async def call() -> None:
                async with session.get(url, headers=headers) as response:
                    response.raise_for_status()
                    data = json.loads(await response.read())
                assert data["data"]["pump"]["rpm"] == 1450

            await _drive(call, max(200, job["inflight"] * 4), job["inflight"])
            wall, cpu = await _drive(call, job["n"], job["inflight"])
            return {"wall": wall, "cpu": cpu}

    return asyncio.run(main())


def _sync_loop(call: Callable[[], Any], n: int) -> tuple[float, float]:
    for _ in range(200):
        call()
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        call()
    return time.perf_counter() - started, time.process_time() - cpu


def job_sync_ours(job: Job) -> Job:
    from pydoover_anyio.sync import DataClient

    async def noop() -> None:
        return None

    with DataClient(job["url"], token=TOKEN, max_retries=0) as client:

        def call() -> None:
            assert client.fetch_channel_aggregate(AGENT, CHANNEL).data["pump"]["rpm"] == 1450

        wall, cpu = _sync_loop(call, job["n"])
        loop = client._loop
        bridge, _ = _sync_loop(lambda: loop.call(noop), 5000)
    return {"wall": wall, "cpu": cpu, "bridge_us": bridge / 5000 * 1e6}


def job_bridge(job: Job) -> Job:
    from pydoover_anyio.runtime._backend.loop_thread import LoopThread

    async def noop() -> None:
        return None

    thread = LoopThread(job["backend"])
    try:
        wall, cpu = _sync_loop(lambda: thread.call(noop), job["n"])
    finally:
        thread.close()
    return {"wall": wall, "cpu": cpu}


def job_sync_peer(job: Job) -> Job:
    import pydoover.api  # type: ignore[import-untyped]

    client = pydoover.api.DataClient(base_url=job["url"], token=TOKEN)
    try:

        def call() -> None:
            aggregate = client.fetch_channel_aggregate(AGENT, CHANNEL)
            assert aggregate.data["pump"]["rpm"] == 1450

        wall, cpu = _sync_loop(call, job["n"])
    finally:
        client.close()
    return {"wall": wall, "cpu": cpu}


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def job_memory(job: Job) -> Job:
    import anyio

    from pydoover_anyio import AsyncDataClient

    async def main() -> Job:
        async with AsyncDataClient(job["url"], token=TOKEN) as client:
            await client.list_messages(AGENT, CHANNEL, limit=job["page_size"])  # warm-up
            if job["tracemalloc"]:
                import tracemalloc

                tracemalloc.start()
            before = peak = _rss()
            count, previous, ordered = 0, None, True
            started = time.perf_counter()
            async for message in client.iter_messages(AGENT, CHANNEL, page_size=job["page_size"]):
                ordered = ordered and (previous is None or message.id < previous)
                previous = message.id
                count += 1
                if count % 1000 == 0:  # RSS sampled once per 1,000 messages
                    peak = max(peak, _rss())
            wall = time.perf_counter() - started
            peak_traced = 0
            if job["tracemalloc"]:
                import tracemalloc

                peak_traced = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
            peak_rss = max(peak, _rss())
            return {
                "count": count,
                "ordered": ordered,
                "wall": wall,
                "rss_before": before,
                "rss_after": _rss(),
                "peak_rss": peak_rss,
                "peak_traced": peak_traced,
            }

    return anyio.run(main, backend=job["backend"])  # type: ignore[no-any-return]


JOBS: dict[str, Callable[[Job], Job]] = {
    "ours": job_ours,
    "aiohttp": job_aiohttp,
    "sync_ours": job_sync_ours,
    "sync_peer": job_sync_peer,
    "bridge": job_bridge,
    "memory": job_memory,
}


def run_job(job: Job) -> Job:
    """Run one job in a fresh isolated interpreter; its JSON result."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run(
        [sys.executable, "-I", str(HERE), "--job", json.dumps(job)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"job {job} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# -- the run -----------------------------------------------------------------------------


def capture_aggregate(path: Path) -> int:
    """The emulator's exact response body for a realistic aggregate; its size."""
    import httpx

    from pydoover_anyio.emulator import DooverEmulator
    from pydoover_anyio.sync import DataClient

    data = {
        "pump": {"rpm": 1450, "on": True, "mode": "auto"},
        "tank": {"level": 0.73, "temp": 21.5, "alarm": None},
        "site": "north paddock",
        "values": [round(i * 0.37, 2) for i in range(120)],
    }
    with DooverEmulator() as emulator:
        agent = emulator.default_agent_id
        with DataClient(emulator.url, token=emulator.token) as client:
            client.create_channel(agent, CHANNEL)
            client.update_channel_aggregate(agent, CHANNEL, data)
        body = httpx.get(
            f"{emulator.url}/agents/{agent}/channels/{CHANNEL}/aggregate",
            headers={"Authorization": f"Bearer {emulator.token}"},
        ).content
    path.write_bytes(body)
    return len(body)


def certificates(workdir: Path) -> tuple[str, str, str]:
    import trustme

    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1", "localhost")
    paths = workdir / "ca.pem", workdir / "cert.pem", workdir / "key.pem"
    authority.cert_pem.write_to_path(str(paths[0]))
    cert.cert_chain_pems[0].write_to_path(str(paths[1]))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(paths[1]), append=True)
    cert.private_key_pem.write_to_path(str(paths[2]))
    return str(paths[0]), str(paths[1]), str(paths[2])


def median_ratio(ours: list[Job], theirs: list[Job]) -> float:
    """Median over rounds of (our calls/s / their calls/s) in the same round."""
    return statistics.median(t["wall"] / o["wall"] for o, t in zip(ours, theirs, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=2000, help="calls per timed job")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--only", default="http,tls,sync,memory")
    parser.add_argument("--job")
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--body")
    parser.add_argument("--port-file")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--top-id", type=int, default=0)
    args = parser.parse_args()
    if args.job:
        job = json.loads(args.job)
        print(json.dumps(JOBS[job["kind"]](job)))
        return
    if args.serve:
        serve(args)
        return

    import _harness  # here, not at the top: jobs run with -I, without this directory

    sections = set(args.only.split(","))
    started = time.time()
    load_before = _harness.load_average()
    workdir = Path(tempfile.mkdtemp(prefix="runtime-bench-"))
    body_size = capture_aggregate(workdir / "aggregate.json")
    ca, cert, key = certificates(workdir)
    top_id = 253600457703030816  # a snowflake of 2026: every generated id is older than now
    port_file = workdir / "ports.json"
    server = subprocess.Popen(
        [
            sys.executable,
            str(HERE),
            "--serve",
            "--body",
            str(workdir / "aggregate.json"),
            "--port-file",
            str(port_file),
            "--cert",
            cert,
            "--key",
            key,
            "--messages",
            str(args.messages),
            "--top-id",
            str(top_id),
        ]
    )
    try:
        while not port_file.exists() or not port_file.read_text():
            time.sleep(0.05)
        plain_port, tls_port = json.loads(port_file.read_text())
        plain = f"http://127.0.0.1:{plain_port}/api"
        secure = f"https://127.0.0.1:{tls_port}/api"

        # Every (row, setting) job of one round, in a list that rotates per round.
        jobs: list[tuple[str, Job]] = []

        def add(key: str, **job: Any) -> None:
            jobs.append((key, {"ca": ca, "tls": False, "n": args.n, **job}))

        for level in (1, 16, 64):
            n = args.n if level == 1 else args.n * 2
            for section, url, tls in (("http", plain, False), ("tls", secure, True)):
                if section not in sections or (tls and level == 64):
                    continue
                for backend in ("asyncio", "trio"):
                    add(
                        f"{section} {level} {backend}",
                        kind="ours",
                        url=url,
                        backend=backend,
                        http="auto",
                        inflight=level,
                        n=n,
                        tls=tls,
                    )
                add(
                    f"{section} {level} aiohttp",
                    kind="aiohttp",
                    url=url,
                    inflight=level,
                    n=n,
                    tls=tls,
                )
                if not tls and level < 64:
                    add(  # reference: aiohttp's plain reads without asyncio's 256 KiB recv
                        f"http {level} aiohttp64k",
                        kind="aiohttp",
                        url=url,
                        inflight=level,
                        n=n,
                        max_read=64 * 1024,
                    )
                    add(
                        f"http {level} httpx",
                        kind="ours",
                        url=plain,
                        backend="asyncio",
                        http="httpx",
                        inflight=level,
                        n=n,
                    )
        if "sync" in sections:
            add("sync ours", kind="sync_ours", url=plain)
            add("sync peer", kind="sync_peer", url=plain)
            add("bridge asyncio", kind="bridge", backend="asyncio", n=10000)
            add("bridge trio", kind="bridge", backend="trio", n=10000)

        results: dict[str, list[Job]] = {key: [] for key, _ in jobs}
        for round_number in range(args.rounds):
            shift = round_number % max(1, len(jobs))
            for key, job in jobs[shift:] + jobs[:shift]:
                results[key].append(run_job(job))
            print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)

        memory: list[Job] = []
        if "memory" in sections:
            for traced in (False, True):
                memory.append(
                    run_job(
                        {
                            "kind": "memory",
                            "url": plain,
                            "backend": "asyncio",
                            "page_size": args.page_size,
                            "tracemalloc": traced,
                        }
                    )
                )
    finally:
        server.kill()
        server.wait()
    load_change = _harness.load_change(load_before)

    def rate(key: str) -> float:
        return statistics.median(job_n(key, r) / r["wall"] for r in results[key])

    def job_n(key: str, _run: Job) -> int:
        return next(job["n"] for k, job in jobs if k == key)

    def cpu_us(key: str) -> float:
        return statistics.median(r["cpu"] / job_n(key, r) * 1e6 for r in results[key])

    def spread(key: str) -> float:
        walls = [r["wall"] for r in results[key]]
        return (max(walls) - min(walls)) / statistics.median(walls)

    now = dt.datetime.fromtimestamp(started, dt.UTC)
    print("Runtime benchmark: pydoover_anyio.runtime vs aiohttp and pydoover 1.18.3")
    print(f"date:      {now:%Y-%m-%d %H:%M} UTC, source {_harness.source_revision()}")
    print(f"machine:   {_harness.machine()}")
    print(f"load:      {load_change}")
    print(
        f"versions:  anyio {version('anyio')}, trio {version('trio')}, httpx {version('httpx')},"
        f" httptools {version('httptools')}, msgspec {version('msgspec')}, aiohttp "
        f"{version('aiohttp')}, pydoover {version('pydoover')}"
    )
    print(
        f"server:    minimal asyncio HTTP/1.1 server, separate process, keep-alive; the "
        f"aggregate body is the emulator's ({body_size} bytes); TLS: a trustme CA, default "
        f"ssl contexts on both sides"
    )
    print(
        f"method:    {args.rounds} interleaved rounds, rotating order, one subprocess per job "
        f"(python -I), warm-up first, no pinning; n = {args.n} calls at 1 in flight, "
        f"{args.n * 2} at 16 and 64;\n           every client with its defaults (ours: 32 "
        f"connections, aiohttp: TCPConnector(limit=100))"
    )
    print(
        "           req/s and cli CPU = medians over rounds; x aiohttp = median of the "
        "per-round ratios of req/s (above 1.00x: ours is faster)"
    )
    print()

    header = f"{'row':<34}{'in flight':>10}{'req/s':>10}{'cli CPU us':>12}{'spread':>8}"
    header += f"{'x aiohttp':>11}"
    targets: list[tuple[str, bool]] = []
    for section, title in (
        ("http", "(a) fetch_channel_aggregate (decoded) vs aiohttp GET + json.loads, plain HTTP"),
        ("tls", "(b) the same over TLS on loopback (self-signed certificate)"),
    ):
        if section not in sections:
            continue
        print(title)
        print(header)
        print("-" * len(header))
        names = [
            ("asyncio", "ours asyncio (fast path)"),
            ("trio", "ours trio (fast path)"),
            ("httpx", 'ours asyncio, http="httpx"'),
            ("aiohttp64k", "aiohttp, 64 KiB reads (reference)"),
            ("aiohttp", "aiohttp 3 asyncio"),
        ]
        for level in (1, 16, 64):
            for suffix, label in names:
                key = f"{section} {level} {suffix}"
                if key not in results:
                    continue
                base = f"{section} {level} aiohttp"
                ratio = (
                    f"{median_ratio(results[key], results[base]):.2f}x"
                    if suffix != "aiohttp"
                    else ""
                )
                print(
                    f"{label:<34}{level:>10}{rate(key):>10,.0f}{cpu_us(key):>12.0f}"
                    f"{spread(key):>7.0%}{ratio:>11}"
                )
        print()
    if "http" in sections:
        for backend in ("asyncio", "trio"):
            for level in (1, 16):
                ratio = median_ratio(
                    results[f"http {level} {backend}"], results[f"http {level} aiohttp"]
                )
                targets.append(
                    (
                        f"HTTP {backend}, {level} in flight: {ratio:.2f}x aiohttp >= 0.75x",
                        ratio >= 0.75,
                    )
                )
            r1, r64 = rate(f"http 1 {backend}"), rate(f"http 64 {backend}")
            targets.append(
                (
                    f"HTTP {backend}: 64 in flight {r64:,.0f} req/s >= 1 in flight {r1:,.0f}",
                    r64 >= r1,
                )
            )
    if "http" in sections and "tls" in sections:
        print("TLS cost: client CPU us per request over TLS minus the same over plain HTTP")
        for level in (1, 16):
            costs = [
                f"{label} {cpu_us(f'tls {level} {tls_key}') - cpu_us(f'http {level} {key}'):+.0f}"
                for label, tls_key, key in (
                    ("ours asyncio", "asyncio", "asyncio"),
                    ("ours trio", "trio", "trio"),
                    ("aiohttp", "aiohttp", "aiohttp"),
                    ("aiohttp vs its 64 KiB-read plain", "aiohttp", "aiohttp64k"),
                )
            ]
            print(f"  {level:>2} in flight: " + ", ".join(costs))
        print()
        for backend in ("asyncio", "trio"):
            for level in (1, 16):
                plain_ratio = median_ratio(
                    results[f"http {level} {backend}"], results[f"http {level} aiohttp"]
                )
                tls_ratio = median_ratio(
                    results[f"tls {level} {backend}"], results[f"tls {level} aiohttp"]
                )
                targets.append(
                    (
                        f"TLS {backend}, {level} in flight: {tls_ratio:.2f}x aiohttp, "
                        f"plain {plain_ratio:.2f}x (no worse by more than 0.10)",
                        tls_ratio >= plain_ratio - 0.1,
                    )
                )
    if "sync" in sections:
        print("(c) sync clients: sequential fetch_channel_aggregate; bridge = no-op coroutine")
        sync_header = f"{'row':<34}{'calls/s':>10}{'us/call':>10}{'cli CPU us':>12}{'spread':>8}"
        sync_header += f"{'x peer':>9}"
        print(sync_header)
        print("-" * len(sync_header))
        ratio = median_ratio(results["sync ours"], results["sync peer"])
        for key, label, shown in (
            ("sync ours", "ours DataClient (asyncio loop)", f"{ratio:.2f}x"),
            ("sync peer", "pydoover DataClient (httpx)", ""),
            ("bridge asyncio", "bridge alone, asyncio", ""),
            ("bridge trio", "bridge alone, trio", ""),
        ):
            print(
                f"{label:<34}{rate(key):>10,.0f}{1e6 / rate(key):>10.1f}{cpu_us(key):>12.1f}"
                f"{spread(key):>7.0%}{shown:>9}"
            )
        in_client = statistics.median(r["bridge_us"] for r in results["sync ours"])
        print(f"  bridge through the DataClient's own loop: {in_client:.1f} us/call")
        print()
        targets.append(
            (f"DataClient (sync): {ratio:.2f}x pydoover's DataClient >= 1.30x", ratio >= 1.3)
        )
        bridge = 1e6 / rate("bridge asyncio")
        targets.append((f"sync bridge, asyncio: {bridge:.1f} us/call <= 60 us", bridge <= 60))
    if memory:
        print(
            f"(d) iter_messages over {args.messages:,} generated messages, "
            f"page_size={args.page_size}, asyncio"
        )
        mib = 1024 * 1024
        for result, label in zip(memory, ("RSS", "tracemalloc"), strict=True):
            growth = result["peak_rss"] - result["rss_before"]
            print(
                f"  {label:<12} messages {result['count']:,} (newest first: "
                f"{'yes' if result['ordered'] else 'NO'}), {result['wall']:.1f} s; RSS "
                f"{result['rss_before'] / mib:.1f} MiB before, peak {result['peak_rss'] / mib:.1f}"
                f" MiB (growth {growth / mib:.1f} MiB)"
                + (
                    f", tracemalloc peak {result['peak_traced'] / mib:.1f} MiB"
                    if label == "tracemalloc"
                    else ""
                )
            )
        growth = memory[0]["peak_rss"] - memory[0]["rss_before"]
        traced = memory[1]["peak_traced"]
        complete = all(m["count"] == args.messages and m["ordered"] for m in memory)
        targets.append(
            (
                f"iter_messages over {args.messages:,}: RSS growth {growth / mib:.1f} MiB, "
                f"tracemalloc peak {traced / mib:.1f} MiB < 50 MB, all messages in order",
                complete and max(growth, traced) < 50e6,
            )
        )
        print()
    print(
        "(e) gateway events/s vs a bare aiohttp ws receive loop: measured by "
        "benchmarks/gateway.py (docs/gateway.md), not here"
    )
    print()
    print("targets")
    for text, ok in targets:
        print(f"  {_harness.verdict(ok)}  {text}")
    print(f"total run time {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
