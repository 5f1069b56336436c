"""Benchmark bulk ingestion: ``client.ingest()`` against pydoover 1.18.3's two ways to write.

All rows write ``--messages`` (10,000) messages into a fresh channel of the same Doover
emulator (``pydoover_anyio.emulator``, a background thread of this process). Every run is
a subprocess of its own (``_ours_ingest.py`` with this python, ``_peer_ingest.py`` with
``--peer-python``), so no client shares a GIL with the emulator's server. Rows:

* (a) pydoover ``create_message``, ``--concurrency`` (16) tasks sharing one client;
* (b) pydoover ``batch_create_messages`` of 50, one request after the other;
* (c) ours, ``AsyncDataClient.ingest(concurrency=16)`` on asyncio (the judged row), on
  trio, and ``DataClient.ingest`` from a plain thread.

Two sections:

* **throughput**, no faults, once per ``--latencies`` value (default 0 and 20 ms that the
  emulator waits before answering each request: pure CPU cost, and a short WAN round
  trip), ``--rounds`` interleaved rounds each (rotating which row goes first); medians.
  Target, printed for every latency: ours on asyncio at least 5x the messages/s of
  pydoover's faster path (the better of (a) and (b) at that latency).
* **faults** (no latency): the emulator fails 5 % of the data requests at random, drawn
  from a 503 after storing, a 500, a 429 with ``Retry-After: 0``, a dropped connection
  after storing, and a response stalled ``--stall`` seconds after storing (our clients use
  ``timeout=--timeout`` so they give up and retry; pydoover's aiohttp session has no
  request timeout and waits the stall out). Each row runs ``--fault-rounds`` times. What
  the server holds is counted: duplicates (a ``seq`` stored more than once) and lost
  messages. Target: ours 0 duplicates, 0 lost, and our report matching the server;
  pydoover's counts are printed.

Every number is measured: wall time of the timed part inside the driver (after a warm-up
that opens the connections; for ours the whole ``ingest`` block including its final
flush), the client's CPU, the emulator thread's CPU (its POSIX thread clock) and the
requests the emulator answered.

Usage: ``python benchmarks/ingest.py [--messages N] [--rounds R] [--fault-rounds R]
[--concurrency C] [--latencies S,S] [--stall S] [--timeout S] [--peer-python PATH]``
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass
from importlib.metadata import version
from operator import attrgetter
from typing import Any

import _harness
from _harness import (
    HERE,
    Result,
    ServerClock,
    add_peer_python,
    load_average,
    load_change,
    machine,
    now,
    rotated,
    run_job,
    source_revision,
    verdict,
)

from pydoover_anyio._emulation import Fault, FaultKind
from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.emulator._emulator import THREAD_NAME

OURS_DRIVER = HERE / "_ours_ingest.py"
PEER_DRIVER = HERE / "_peer_ingest.py"
FAULT_PATH = "/api/agents/"  # every data write, single creates and batches alike
TARGET_SPEEDUP = 5.0

Job = dict[str, Any]


@dataclass(frozen=True)
class Row:
    """One way of writing the messages."""

    label: str
    ours: bool
    mode: str  # peer: create | batch; ours: async | sync
    backend: str = "asyncio"


PEER_CREATE = Row("pydoover create_message x16", ours=False, mode="create")
PEER_BATCH = Row("pydoover batch_create_messages 50", ours=False, mode="batch")
OURS_ASYNCIO = Row("ours ingest asyncio", ours=True, mode="async", backend="asyncio")
OURS_TRIO = Row("ours ingest trio", ours=True, mode="async", backend="trio")
OURS_SYNC = Row("ours ingest DataClient", ours=True, mode="sync")
ROWS = (PEER_CREATE, PEER_BATCH, OURS_ASYNCIO, OURS_TRIO, OURS_SYNC)


@dataclass
class Run:
    """What one run measured and what the server held afterwards."""

    elapsed: float
    cpu: float
    served: int
    server_cpu: float
    stored: int
    unique: int
    duplicates: int
    lost: int
    reported_failed: int
    report_matches: bool | None  # ours only: report == what the server holds


class Series(_harness.Series[Run]):
    """The runs of one row in one section (``time``, ``spread``, ``median``)."""

    def median_of(self, name: str) -> float:
        """The median of one attribute over the runs."""
        return self.median(attrgetter(name))


# -- the benchmark ------------------------------------------------------------------------


def fault_mix(stall: float) -> list[Fault]:
    """The kinds the 5 % of faulted requests are drawn from (uniformly)."""
    return [
        Fault(FaultKind.FAIL, status=503, after=True),
        Fault(FaultKind.FAIL, status=500),
        Fault(FaultKind.RATE_LIMIT, status=429, retry_after=0),
        Fault(FaultKind.DROP, status=200, after=True),
        Fault(FaultKind.STALL, seconds=stall, at_byte=0),
    ]


class Bench:
    """Runs the jobs against one emulator and keeps the series."""

    def __init__(self, args: argparse.Namespace, emulator: DooverEmulator) -> None:
        self.args = args
        self.emulator = emulator
        self.agent = emulator.default_agent_id
        self.clock = ServerClock(THREAD_NAME)
        self.results: dict[tuple[str, str], Series] = {}
        self.info: dict[str, Result] = {}
        self.fault_kinds: Counter[str] = Counter()
        self._channels = 0
        emulator.state.create_channel(self.agent, "bench-warmup")

    def run(self, section: str, row: Row, latency: float = 0.0) -> str:
        """One run of ``row`` into a fresh channel; returns a progress line."""
        self._channels += 1
        channel = f"bench-{self._channels}"
        self.emulator.state.create_channel(self.agent, channel)
        faults = section == "faults"
        job: Job = {
            "url": self.emulator.url,
            "token": self.emulator.token,
            "agent": self.agent,
            "channel": channel,
            "warmup_channel": "bench-warmup",
            "n": self.args.messages,
            "concurrency": self.args.concurrency,
            "mode": row.mode,
            "backend": row.backend,
            "timeout": self.args.timeout if faults and row.ours else None,
        }
        python, driver = (
            (sys.executable, OURS_DRIVER) if row.ours else (self.args.peer_python, PEER_DRIVER)
        )
        self.emulator.faults.clear()
        self.emulator.faults.set_latency(latency)
        if faults:
            kinds = fault_mix(self.args.stall)
            self.emulator.faults.set_error_rate(0.05, kinds=kinds, path=FAULT_PATH)
        self.emulator.requests.clear()
        server = self.clock.seconds()
        result = run_job(python, driver, job, peer=not row.ours)
        server = self.clock.seconds() - server
        if faults:
            time.sleep(self.args.stall)  # let stalled handlers finish before counting
        self.emulator.faults.clear()
        entries = self.emulator.requests.entries()
        self.fault_kinds.update(str(e.fault) for e in entries if e.fault is not None and faults)
        self.info.setdefault("ours" if row.ours else "peer", {}).update(result)
        run = self._check(channel, result, served=len(entries), server_cpu=server, ours=row.ours)
        self.results.setdefault((section, row.label), Series()).runs.append(run)
        rate = self.args.messages / run.elapsed
        return (
            f"{run.elapsed:.2f} s, {rate:,.0f} msg/s, stored {run.stored:,}, "
            f"duplicates {run.duplicates:,}, lost {run.lost:,}"
        )

    def _check(
        self, channel: str, result: Result, *, served: int, server_cpu: float, ours: bool
    ) -> Run:
        stored = self.emulator.state.messages(self.agent, channel)
        seqs = Counter(message["data"]["seq"] for message in stored)
        unique = len(seqs)
        matches = None
        if ours:
            stored_ids = Counter(int(message["id"]) for message in stored)
            returned = result["ids"]
            matches = (
                result["succeeded"] == len(stored) == unique
                and result["succeeded"] + result["failed_items"] == self.args.messages
                and set(stored_ids) <= set(returned)
                and len(set(returned)) == len(returned)
            )
        return Run(
            elapsed=result["elapsed"],
            cpu=result["cpu"],
            served=served,
            server_cpu=server_cpu,
            stored=len(stored),
            unique=unique,
            duplicates=len(stored) - unique,
            lost=self.args.messages - unique,
            reported_failed=result["failed_items"],
            report_matches=matches,
        )


def throughput_section(latency: float) -> str:
    """The section name of the throughput runs at ``latency`` seconds per request."""
    return f"throughput, {latency * 1000:g} ms per request"


def run_rounds(bench: Bench, args: argparse.Namespace) -> None:
    """Throughput rounds first, then the fault rounds; progress on stderr."""
    for latency in args.latencies:
        section = throughput_section(latency)
        for number in range(args.rounds):
            for row in rotated(ROWS, number):
                line = bench.run(section, row, latency)
                print(f"{section} {number + 1}/{args.rounds} {row.label}: {line}", file=sys.stderr)
    for number in range(args.fault_rounds):
        for row in rotated(ROWS, number):
            line = bench.run("faults", row)
            print(f"faults {number + 1}/{args.fault_rounds} {row.label}: {line}", file=sys.stderr)


# -- the report ---------------------------------------------------------------------------


def _rate(bench: Bench, section: str, row: Row) -> float:
    messages: int = bench.args.messages
    return messages / bench.results[section, row.label].time


def report_throughput(bench: Bench, args: argparse.Namespace, latency: float) -> list[str]:
    """The throughput table at one latency and its target line."""
    section = throughput_section(latency)
    faster = max((PEER_CREATE, PEER_BATCH), key=lambda row: _rate(bench, section, row))
    base = _rate(bench, section, faster)
    lines = [
        f"{section}: {args.messages:,} messages, no faults, medians of {args.rounds} rounds",
        f"  {'row':<34} {'time s':>7} {'msg/s':>8} {'x faster':>9} {'requests':>9} "
        f"{'cli CPU s':>9} {'srv CPU s':>9} {'spread':>7}",
    ]
    for row in ROWS:
        series = bench.results[section, row.label]
        ratio = _rate(bench, section, row) / base
        lines.append(
            f"  {row.label:<34} {series.time:>7.3f} "
            f"{_rate(bench, section, row):>8,.0f} {ratio:>8.2f}x "
            f"{series.median_of('served'):>9,.0f} {series.median_of('cpu'):>9.3f} "
            f"{series.median_of('server_cpu'):>9.3f} {series.spread:>6.0%}"
        )
    ours = _rate(bench, section, OURS_ASYNCIO) / base
    lines.append(
        f"  target: ours asyncio >= {TARGET_SPEEDUP:.0f}x pydoover's faster path "
        f"({faster.label}, {base:,.0f} msg/s): {ours:.2f}x -> {verdict(ours >= TARGET_SPEEDUP)}"
    )
    others = ", ".join(
        f"{row.label} {_rate(bench, section, row) / base:.2f}x" for row in (OURS_TRIO, OURS_SYNC)
    )
    lines.append(f"  (not judged: {others})")
    for row in ROWS:
        series = bench.results[section, row.label]
        if max(run.duplicates + run.lost for run in series.runs):
            lines.append(f"  check FAILED: {row.label} lost or duplicated messages without faults")
    return lines


def report_faults(bench: Bench, args: argparse.Namespace) -> list[str]:
    """The fault table and its target line."""
    mix = ", ".join(f"{kind} {count}" for kind, count in sorted(bench.fault_kinds.items()))
    lines = [
        f"faults: {args.messages:,} messages, 5 % of data requests faulted, {args.fault_rounds} "
        "round(s); each row's worst run shown",
        "  mix: 503 after storing, 500, 429 Retry-After 0, drop after storing, stall "
        f"{args.stall:g} s after storing (ours: timeout={args.timeout:g} s); injected: {mix}",
        f"  {'row':<34} {'time s':>7} {'stored':>7} {'dupl.':>6} {'lost':>6} "
        f"{'reported':>9} {'report = server':>15}",
    ]
    ours_ok = True
    for row in ROWS:
        series = bench.results["faults", row.label]
        worst = max(series.runs, key=lambda run: (run.duplicates + run.lost, run.elapsed))
        matches = "-" if worst.report_matches is None else ("yes" if worst.report_matches else "NO")
        if row.ours:
            ours_ok &= all(
                run.duplicates == 0 and run.lost == 0 and run.report_matches for run in series.runs
            )
        lines.append(
            f"  {row.label:<34} {worst.elapsed:>7.2f} {worst.stored:>7,} {worst.duplicates:>6,} "
            f"{worst.lost:>6,} {worst.reported_failed:>9,} {matches:>15}"
        )
    peer = {
        row.label: (
            max(run.duplicates for run in bench.results["faults", row.label].runs),
            max(run.lost for run in bench.results["faults", row.label].runs),
        )
        for row in (PEER_CREATE, PEER_BATCH)
    }
    peer_text = "; ".join(
        f"{label}: {d:,} duplicates, {lost:,} lost" for label, (d, lost) in peer.items()
    )
    lines.append(
        "  target: ours (every row, every run) 0 duplicates, 0 lost, report = server -> "
        f"{verdict(ours_ok)}"
    )
    lines.append(f"  pydoover under the same faults (most over the runs): {peer_text}")
    return lines


def preamble(bench: Bench, load_before: str) -> list[str]:
    """Date, machine, load and versions, printed above the tables."""
    ours, peer = bench.info.get("ours", {}), bench.info.get("peer", {})
    ours_versions, peer_versions = ours.get("versions", {}), peer.get("versions", {})
    return [
        "Bulk ingestion: pydoover_anyio client.ingest() vs pydoover 1.18.3, same emulator",
        f"date:      {now()}, source {source_revision()}",
        f"machine:   {machine()}",
        f"load:      {load_change(load_before)}",
        f"ours:      pydoover_anyio, anyio {ours_versions.get('anyio', '?')}, trio "
        f"{ours_versions.get('trio', '?')}, httpx {ours_versions.get('httpx', '?')}, msgspec "
        f"{ours_versions.get('msgspec', '?')}; ingest(concurrency={bench.args.concurrency}), "
        "batches of 50, client-chosen ids",
        f"peer:      pydoover {peer_versions.get('pydoover', '?')}, AsyncDataClient on aiohttp "
        f"{peer_versions.get('aiohttp', '?')}, default settings",
        f"emulator:  thread of the benchmark process, uvicorn {version('uvicorn')}; latency per "
        "section; one fresh subprocess per run (python -I), warm-up before the timed part",
        "columns:   x faster = msg/s / pydoover's faster path; requests = answered by the "
        "emulator (warm-up included); cli CPU = client process; srv CPU = emulator thread",
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--messages", type=int, default=10_000, help="messages per run (default 10,000)")
    add("--rounds", type=int, default=3, help="throughput rounds, medians taken (default 3)")
    add("--fault-rounds", type=int, default=1, help="runs per row with faults (default 1)")
    add("--concurrency", type=int, default=16, help="tasks / requests in flight (default 16)")
    add("--stall", type=float, default=1.0, help="seconds a stalled answer waits (default 1)")
    add("--timeout", type=float, default=0.5, help="our request timeout with faults (0.5)")
    add(
        "--latencies",
        default="0,0.02",
        help="seconds the emulator waits per request, one throughput section each (0,0.02)",
    )
    add_peer_python(parser, "pydoover 1.18.3")
    args = parser.parse_args(argv)
    args.latencies = [float(part) for part in args.latencies.split(",") if part.strip()]
    if not args.latencies or min(args.latencies) < 0:
        parser.error("--latencies takes comma-separated seconds >= 0")
    if min(args.messages, args.rounds, args.concurrency) < 1 or args.fault_rounds < 0:
        parser.error("counts must be >= 1 (--fault-rounds >= 0)")
    if args.timeout >= args.stall:
        parser.error("--timeout must be shorter than --stall, or no stall is a timeout")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run everything, print the tables."""
    args = parse_args(argv)
    load_before = load_average()
    started = time.perf_counter()
    with DooverEmulator() as emulator:
        bench = Bench(args, emulator)
        run_rounds(bench, args)
    lines = [*preamble(bench, load_before), ""]
    for latency in args.latencies:
        lines += [*report_throughput(bench, args, latency), ""]
    if args.fault_rounds:
        lines += [*report_faults(bench, args), ""]
    lines.append(f"total run time {time.perf_counter() - started:,.0f} s")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
