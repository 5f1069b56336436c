"""Benchmark the Doover data client: pydoover_anyio against pydoover 1.18.3, side by side.

Both libraries talk to the same Doover emulator (``pydoover_anyio.emulator``), which runs in
a background thread of this process. Every measured job runs in a subprocess of its own
(``_ours_doover.py`` with this python, ``_peer_doover.py`` with ``--peer-python``), so no
client shares a GIL with the emulator's server. Three sections:

* (a) ``create_message`` throughput with 1 and with ``--concurrency`` requests in flight:
  ours on asyncio and on trio, pydoover's ``AsyncDataClient`` on asyncio. Afterwards the
  emulator's channel must hold exactly the messages created (lost/duplicated counted by
  their ``seq`` field, and every returned id must be a stored one).
* (b) ``list_messages`` with ``--page-size`` (1,000) messages per page, ``--pages`` pages
  walked back with ``before``: time per page; then the decoding alone, each library's own
  model decoding of the same captured page body (ours: its msgspec decoder; pydoover: its
  JSON loader plus ``Message.from_dict``), in separate processes, checked to agree.
* (c) the sync facade: sequential ``fetch_message`` calls through our ``AsyncDataClient``
  and our ``DataClient``, pydoover's ``AsyncDataClient`` and its ``DataClient``; plus the
  bare cost of our bridge (a no-op coroutine through the ``DataClient``'s loop).

Rounds are interleaved (each round runs every row of every section once, rotating which
row goes first) and figures are medians over rounds. Every number is measured: wall time
and client CPU around the timed part inside the driver (after a warm-up that opens the
connections), server CPU from the emulator thread's CPU clock, requests from the
emulator's request log. Ratios are ``x peer`` = peer time / our time (above 1: ours is
faster) against pydoover's row of the same kind; no targets are judged.

Usage: ``python benchmarks/doover_messages.py [--rounds R] [--messages N] [--concurrency C]
[--pages P] [--page-size S] [--calls N] [--pin] [--peer-python PATH] [--only SECTIONS]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

import _harness
import httpx
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
    ruled,
    run_job,
    source_revision,
)

from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.emulator._emulator import THREAD_NAME

OURS_DRIVER = HERE / "_ours_doover.py"
PEER_DRIVER = HERE / "_peer_doover.py"

Job = dict[str, Any]

OURS_ASYNCIO, OURS_TRIO, PEER_ASYNCIO = "ours asyncio", "ours trio", "pydoover asyncio"
OURS_ASYNC, OURS_SYNC = "ours AsyncDataClient", "ours DataClient"
PEER_ASYNC, PEER_SYNC = "pydoover AsyncDataClient", "pydoover DataClient"
OURS_DECODE, PEER_DECODE = "ours", "pydoover"
SECTIONS = ("create", "list", "sync")


@dataclass(frozen=True)
class Row:
    """One client configuration in one section."""

    label: str
    ours: bool
    backend: str = "asyncio"
    mode: str = "async"
    peer_label: str | None = None  # the pydoover row this one is compared with


@dataclass
class Run:
    """What one job measured."""

    elapsed: float
    cpu: float
    requests: int  # timed requests, as the driver counted them
    served: int  # requests the emulator answered during the whole job (warm-up included)
    server_cpu: float  # emulator thread CPU seconds during the whole job
    checks: dict[str, int] = field(default_factory=dict)
    extra: Result = field(default_factory=dict)


class Series(_harness.Series[Run]):
    """The runs of one row over all rounds (``time``, ``spread``, ``median``, ...)."""

    @property
    def per_request(self) -> float:
        """Median wall seconds per timed request."""
        return self.median(lambda run: run.elapsed / run.requests)

    @property
    def cpu_per_request(self) -> float:
        """Median client CPU seconds per timed request (all the driver's threads)."""
        return self.median(lambda run: run.cpu / run.requests)

    @property
    def server_cpu_per_request(self) -> float:
        """Median emulator CPU seconds per request it served (warm-up included)."""
        return self.median(lambda run: run.server_cpu / max(run.served, 1))

    def worst(self, check: str) -> int:
        """The worst (largest) value of a correctness count over the runs."""
        return max(run.checks.get(check, 0) for run in self.runs)


# -- the emulator's data and the correctness checks --------------------------------------


def list_payload(index: int) -> dict[str, Any]:
    """The data of listed message ``index`` (about 190 bytes of JSON per message)."""
    return {
        "seq": index,
        "rpm": 1400 + index % 97,
        "temperature_c": round(18 + (index % 160) / 10, 1),
        "pressure": {"inlet_kpa": 310 + index % 13, "outlet_kpa": 295 + index % 11},
        "status": "running" if index % 5 else "idle",
        "flags": ["auto", "remote"],
        "note": f"pump cycle {index}",
    }


def check_created(
    emulator: DooverEmulator, agent: int, channel: str, result: Result, n: int
) -> dict[str, int]:
    """Lost/duplicated/unexpected messages in ``channel`` and returned ids not stored."""
    stored = emulator.state.messages(agent, channel)
    seqs = [message["data"]["seq"] for message in stored]
    stored_ids = {int(message["id"]) for message in stored}
    returned = set(result["ids"])
    return {
        "stored": len(stored),
        "lost": len(set(range(n)) - set(seqs)),
        "duplicated": len(seqs) - len(set(seqs)),
        "unexpected": len(set(seqs) - set(range(n))),
        "returned_not_stored": len(returned - stored_ids),
        "returned_duplicated": len(result["ids"]) - len(returned),
    }


def check_listed(expected: list[int], result: Result) -> dict[str, int]:
    """Lost/duplicated messages of a walk, and whether the order was newest first."""
    ids: list[int] = result["ids"]
    return {
        "returned": len(ids),
        "lost": len(set(expected) - set(ids)),
        "duplicated": len(ids) - len(set(ids)),
        "out_of_order": int(ids != expected and set(ids) == set(expected)),
    }


# -- the plan --------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Everything a job needs from the emulator, set up once before the rounds."""

    url: str
    token: str
    agent: int
    list_channel: str
    list_expected: list[int]
    body_path: str
    body_size: int
    calls_channel: str
    calls_message: int


CREATE_ROWS = (
    Row(OURS_ASYNCIO, ours=True, backend="asyncio", peer_label=PEER_ASYNCIO),
    Row(OURS_TRIO, ours=True, backend="trio", peer_label=PEER_ASYNCIO),
    Row(PEER_ASYNCIO, ours=False),
)
DECODE_ROWS = (Row(OURS_DECODE, ours=True, peer_label=PEER_DECODE), Row(PEER_DECODE, ours=False))
CALL_ROWS = (
    Row(OURS_ASYNC, ours=True, mode="async", peer_label=PEER_ASYNC),
    Row(OURS_SYNC, ours=True, mode="sync", peer_label=PEER_SYNC),
    Row(PEER_ASYNC, ours=False, mode="async"),
    Row(PEER_SYNC, ours=False, mode="sync"),
)


class Bench:
    """Runs the jobs against one emulator and collects the series."""

    def __init__(self, args: argparse.Namespace, emulator: DooverEmulator, plan: Plan) -> None:
        self.args = args
        self.emulator = emulator
        self.plan = plan
        self.clock = ServerClock(THREAD_NAME)
        self.results: dict[tuple[str, str], Series] = {}
        self.info: dict[str, Result] = {}
        self._channels = 0

    def _base(self, kind: str) -> Job:
        cpu = 1 if self.args.pin else None
        return {"kind": kind, "url": self.plan.url, "token": self.plan.token, "cpu": cpu}

    def _run(self, section: str, row: Row, job: Job) -> tuple[Run, Result]:
        python, driver = (
            (sys.executable, OURS_DRIVER) if row.ours else (self.args.peer_python, PEER_DRIVER)
        )
        self.emulator.requests.clear()
        server = self.clock.seconds()
        result = run_job(python, driver, job, peer=not row.ours)
        server = self.clock.seconds() - server
        self.info.setdefault("ours" if row.ours else "peer", {}).update(result)
        run = Run(
            elapsed=result["elapsed"],
            cpu=result.get("cpu", 0.0),
            requests=result.get("requests", 1),
            served=len(self.emulator.requests),
            server_cpu=server,
            extra=result,
        )
        self.results.setdefault((section, row.label), Series()).runs.append(run)
        return run, result

    def create(self, row: Row, concurrency: int) -> str:
        """One ``create_message`` run into a fresh channel; returns a progress line."""
        self._channels += 1
        channel = f"bench-create-{self._channels}"
        self.emulator.state.create_channel(self.plan.agent, channel)
        job = {
            **self._base("create"),
            "agent": self.plan.agent,
            "channel": channel,
            "warmup_channel": "bench-warmup",
            "n": self.args.messages,
            "concurrency": concurrency,
            "backend": row.backend,
        }
        run, result = self._run(f"create c{concurrency}", row, job)
        run.checks = check_created(
            self.emulator, self.plan.agent, channel, result, self.args.messages
        )
        return f"{run.elapsed * 1000:,.0f} ms, {run.checks}"

    def list(self, row: Row) -> str:
        """One walk over ``--pages`` pages of ``--page-size`` messages."""
        job = {
            **self._base("list"),
            "agent": self.plan.agent,
            "channel": self.plan.list_channel,
            "pages": self.args.pages,
            "limit": self.args.page_size,
            "backend": row.backend,
        }
        run, result = self._run("list", row, job)
        run.checks = check_listed(self.plan.list_expected, result)
        return f"{run.elapsed / run.requests * 1000:,.1f} ms/page, {run.checks}"

    def decode(self, row: Row) -> str:
        """Decode the captured page ``--decode-repeats`` x ``--decode-loops`` times."""
        job = {
            **self._base("decode"),
            "body": self.plan.body_path,
            "repeats": self.args.decode_repeats,
            "loops": self.args.decode_loops,
        }
        run, result = self._run("decode", row, job)
        run.elapsed = statistics.median(result["times"])
        return f"{run.elapsed * 1000:,.2f} ms/page"

    def calls(self, row: Row) -> str:
        """``--calls`` sequential ``fetch_message`` calls (plus the bridge for ours sync)."""
        job = {
            **self._base("calls"),
            "agent": self.plan.agent,
            "channel": self.plan.calls_channel,
            "message_id": self.plan.calls_message,
            "n": self.args.calls,
            "warmup": 20,
            "bridge_n": self.args.bridge_calls,
            "mode": row.mode,
            "backend": row.backend,
        }
        run, _ = self._run("calls", row, job)
        return f"{run.elapsed / run.requests * 1e6:,.0f} us/call"


def prepare(emulator: DooverEmulator, args: argparse.Namespace, workdir: Path) -> Plan:
    """Create the channels and data every round uses; capture one page body."""
    agent = emulator.default_agent_id
    state = emulator.state
    state.create_channel(agent, "bench-warmup")
    total = args.pages * args.page_size + args.page_size // 2  # the walk never hits the end
    state.create_channel(agent, "bench-list")
    first_ms = int(time.time() * 1000) - total - 60_000
    ids = state.add_messages(
        agent, "bench-list", (list_payload(i) for i in range(total)), first_ms=first_ms
    )
    expected = list(reversed(ids))[: args.pages * args.page_size]
    state.create_channel(agent, "bench-calls")
    message = state.add_message(agent, "bench-calls", {"rpm": 1460, "status": "running"})
    token = emulator.token
    response = httpx.get(
        f"{emulator.url}/agents/{agent}/channels/bench-list/messages",
        params={"limit": args.page_size},
        headers={"Authorization": f"Bearer {token}"},
    )
    response.raise_for_status()
    body = workdir / "page.json"
    body.write_bytes(response.content)
    return Plan(
        url=emulator.url,
        token=token,
        agent=agent,
        list_channel="bench-list",
        list_expected=expected,
        body_path=str(body),
        body_size=len(response.content),
        calls_channel="bench-calls",
        calls_message=message,
    )


def run_rounds(bench: Bench, args: argparse.Namespace) -> None:
    """Every selected row of every section once per round, rotating the order."""
    concurrencies = sorted({1, args.concurrency})
    for number in range(args.rounds):
        steps: list[tuple[str, Callable[[], str]]] = []
        if "create" in args.only:
            for concurrency in concurrencies:
                steps += [
                    (f"create c{concurrency} {row.label}", partial(bench.create, row, concurrency))
                    for row in rotated(CREATE_ROWS, number)
                ]
        if "list" in args.only:
            steps += [
                (f"list {row.label}", partial(bench.list, row))
                for row in rotated(CREATE_ROWS, number)
            ]
            steps += [
                (f"decode {row.label}", partial(bench.decode, row))
                for row in rotated(DECODE_ROWS, number)
            ]
        if "sync" in args.only:
            steps += [
                (f"calls {row.label}", partial(bench.calls, row))
                for row in rotated(CALL_ROWS, number)
            ]
        for name, step in steps:
            print(f"round {number + 1}/{args.rounds} {name}: {step()}", file=sys.stderr)


# -- report --------------------------------------------------------------------------


def _ratio(bench: Bench, section: str, row: Row) -> str:
    """``x peer``: the peer row's time per request over this row's (above 1: ours faster)."""
    if row.peer_label is None:
        return ""
    mine = bench.results[section, row.label].per_request
    peer = bench.results[section, row.peer_label].per_request
    return f"{peer / mine:.2f}x"


def _check_line(failures: list[str], what: str) -> str:
    if failures:
        return f"  check FAILED: {'; '.join(failures)}"
    return f"  check OK: {what}"


def report_create(bench: Bench, args: argparse.Namespace) -> list[str]:
    """Section (a): one row per concurrency and client."""
    header = (
        f"{'in flight':>9} {'row':<17} {'requests':>8} {'wall ms':>8} {'spread':>6} "
        f"{'calls/s':>8} {'us/call':>8} {'cli CPU us':>10} {'srv CPU us':>10} {'stored':>6} "
        f"{'lost':>4} {'dup':>4} {'x peer':>7}"
    )
    lines = [
        f"(a) create_message: {args.messages:,} messages per run, each run into a fresh channel",
        *ruled(header),
    ]
    failures = []
    for concurrency in sorted({1, args.concurrency}):
        section = f"create c{concurrency}"
        for row in CREATE_ROWS:
            series = bench.results[section, row.label]
            lost, dup = series.worst("lost"), series.worst("duplicated")
            stored = [run.checks["stored"] for run in series.runs]
            lines.append(
                f"{concurrency:>9} {row.label:<17} {args.messages:>8,} {series.time * 1e3:>8,.0f} "
                f"{series.spread:>6.0%} {1 / series.per_request:>8,.0f} "
                f"{series.per_request * 1e6:>8,.0f} {series.cpu_per_request * 1e6:>10,.0f} "
                f"{series.server_cpu_per_request * 1e6:>10,.0f} {statistics.median(stored):>6,.0f} "
                f"{lost:>4} {dup:>4} {_ratio(bench, section, row):>7}"
            )
            for run in series.runs:
                bad = {
                    key: value
                    for key, value in run.checks.items()
                    if (key == "stored" and value != args.messages) or (key != "stored" and value)
                }
                if bad:
                    failures.append(f"{section} {row.label}: {bad}")
    lines.append(
        _check_line(
            failures,
            f"every run stored exactly {args.messages:,} messages, seq 0..{args.messages - 1} "
            "once each (0 lost, 0 duplicated), and every id returned to the client is stored",
        )
    )
    return lines


def report_list(bench: Bench, args: argparse.Namespace) -> list[str]:
    """Section (b): the walk per client, then the decoding alone."""
    header = (
        f"{'row':<17} {'pages':>5} {'ms/page':>8} {'median':>6} {'slowest':>7} {'spread':>6} "
        f"{'msgs/s':>8} {'cli CPU':>7} {'in GC':>6} {'full GCs':>8} {'srv CPU':>7} "
        f"{'returned':>8} {'lost':>4} {'dup':>4} {'x peer':>7}"
    )
    lines = [
        f"(b) list_messages(limit={args.page_size:,}): {args.pages} pages per run walked back "
        f"with before=, {bench.plan.body_size / 1024:,.0f} KiB of JSON per page",
        "    ms/page = the walk's wall time / pages; median, slowest = single pages (ms); "
        "cli CPU, in GC, srv CPU = ms per page",
        *ruled(header),
    ]
    failures = []
    for row in CREATE_ROWS:
        series = bench.results["list", row.label]
        page = series.per_request
        returned = statistics.median(run.checks["returned"] for run in series.runs)
        median_page = series.median(lambda run: statistics.median(run.extra["page_times"]))
        slowest = series.median(lambda run: max(run.extra["page_times"]))
        in_gc = series.median(lambda run: run.extra["gc_seconds"] / run.requests)
        full = series.median(lambda run: run.extra["gc_full"])
        lines.append(
            f"{row.label:<17} {args.pages:>5} {page * 1e3:>8,.2f} {median_page * 1e3:>6,.2f} "
            f"{slowest * 1e3:>7,.1f} {series.spread:>6.0%} {args.page_size / page:>8,.0f} "
            f"{series.cpu_per_request * 1e3:>7,.2f} {in_gc * 1e3:>6,.2f} {full:>8,.0f} "
            f"{series.server_cpu_per_request * 1e3:>7,.2f} {returned:>8,.0f} "
            f"{series.worst('lost'):>4} {series.worst('duplicated'):>4} "
            f"{_ratio(bench, 'list', row):>7}"
        )
        for run in series.runs:
            bad = {key: value for key, value in run.checks.items() if key != "returned" and value}
            if bad or run.checks["returned"] != len(bench.plan.list_expected):
                failures.append(f"list {row.label}: {run.checks}")
    header = (
        f"{'row':<17} {'ms/page':>8} {'us/message':>10} {'spread':>6} {'share of page':>13} "
        f"{'x peer':>7}  decoder"
    )
    lines += [
        "",
        f"decoding alone: the same captured page ({args.page_size:,} messages), each library's "
        f"own model decoding in its own process, median of {args.decode_repeats} x "
        f"{args.decode_loops} decodes per run",
        *ruled(header),
    ]
    digests = set()
    for row, walk in zip(DECODE_ROWS, (OURS_ASYNCIO, PEER_ASYNCIO), strict=True):
        series = bench.results["decode", row.label]
        page = bench.results["list", walk].per_request
        extra = series.runs[-1].extra
        digests |= {run.extra["digest"] for run in series.runs}
        lines.append(
            f"{row.label:<17} {series.time * 1e3:>8,.2f} "
            f"{series.time / extra['messages'] * 1e6:>10,.2f} {series.spread:>6.0%} "
            f"{series.time / page:>12.0%}  {_ratio(bench, 'decode', row):>7}  {extra['decoder']}"
        )
    lines.append(
        f"  share of page = decode ms / the {OURS_ASYNCIO} resp. {PEER_ASYNCIO} ms/page above"
    )
    if len(digests) != 1:
        failures.append(f"the libraries decoded the page differently ({len(digests)} digests)")
    lines.append(
        _check_line(
            failures,
            f"every walk returned the {len(bench.plan.list_expected):,} newest messages exactly "
            "once, newest first; both libraries decoded the page to the same ids, authors, "
            "channels and data",
        )
    )
    return lines


def report_sync(bench: Bench, args: argparse.Namespace) -> list[str]:
    """Section (c): async and sync clients of both libraries, and our bridge alone."""
    header = (
        f"{'row':<25} {'calls':>6} {'wall ms':>8} {'spread':>6} {'calls/s':>8} {'us/call':>8} "
        f"{'cli CPU us':>10} {'srv CPU us':>10} {'x peer':>7}"
    )
    lines = [
        f"(c) sync facade: {args.calls:,} sequential fetch_message calls of one small message",
        *ruled(header),
    ]
    for row in CALL_ROWS:
        series = bench.results["calls", row.label]
        lines.append(
            f"{row.label:<25} {args.calls:>6,} {series.time * 1e3:>8,.0f} {series.spread:>6.0%} "
            f"{1 / series.per_request:>8,.0f} {series.per_request * 1e6:>8,.0f} "
            f"{series.cpu_per_request * 1e6:>10,.0f} "
            f"{series.server_cpu_per_request * 1e6:>10,.0f} {_ratio(bench, 'calls', row):>7}"
        )
    sync_runs = bench.results["calls", OURS_SYNC].runs
    bridge = statistics.median(
        run.extra["bridge_elapsed"] / run.extra["bridge_n"] for run in sync_runs
    )
    bridge_cpu = statistics.median(
        run.extra["bridge_cpu"] / run.extra["bridge_n"] for run in sync_runs
    )

    def per_call(label: str) -> float:
        return bench.results["calls", label].per_request * 1e6

    ours_cost = per_call(OURS_SYNC) - per_call(OURS_ASYNC)
    peer_cost = per_call(PEER_SYNC) - per_call(PEER_ASYNC)
    lines += [
        f"  our bridge alone: {args.bridge_calls:,} no-op coroutines through the DataClient's "
        f"loop: {bridge * 1e6:,.1f} us/call wall, {bridge_cpu * 1e6:,.1f} us CPU",
        f"  sync over async, same library: ours {ours_cost:+,.0f} us/call "
        f"({per_call(OURS_SYNC) / per_call(OURS_ASYNC):.2f}x the async time); pydoover "
        f"{peer_cost:+,.0f} us/call ({per_call(PEER_SYNC) / per_call(PEER_ASYNC):.2f}x; its sync "
        "client is a separate httpx implementation, not a facade)",
    ]
    return lines


def preamble(bench: Bench, args: argparse.Namespace, load_before: str) -> list[str]:
    """Date, machine, load, versions and settings, printed above the tables."""
    ours, peer = bench.info.get("ours", {}), bench.info.get("peer", {})
    ours_versions, peer_versions = ours.get("versions", {}), peer.get("versions", {})
    pinning = (
        "emulator thread on CPU 0, every client process on CPU 1"
        if args.pin
        else "none (emulator and client processes share the CPUs freely)"
    )
    server_cpu = "" if bench.clock.available else " (server CPU unavailable here)"
    return [
        "Doover data client: pydoover_anyio (this repository) vs pydoover 1.18.3 (peer), "
        "same emulator",
        f"date:      {now()}, source {source_revision()}",
        f"machine:   {machine()}",
        f"load:      {load_change(load_before)}",
        f"ours:      pydoover_anyio (CPython {ours.get('python', '?')}), anyio "
        f"{ours_versions.get('anyio', '?')}, trio {ours_versions.get('trio', '?')}, httpx "
        f"{ours_versions.get('httpx', '?')} over {ours.get('connection_layer', '?')}, msgspec "
        f"{ours_versions.get('msgspec', '?')}; DataClient = AsyncDataClient on its own "
        "asyncio loop (a loop thread that lends the idle loop to the caller)",
        f"peer:      pydoover {peer_versions.get('pydoover', '?')} (CPython "
        f"{peer.get('python', '?')}), AsyncDataClient on aiohttp "
        f"{peer_versions.get('aiohttp', '?')}, DataClient on httpx "
        f"{peer_versions.get('httpx', '?')}, JSON loader {peer.get('json_loader', '?')}",
        f"emulator:  thread of the benchmark process, uvicorn {version('uvicorn')}, no latency; "
        "both clients with their defaults (gzip request bodies of 50 bytes or more)",
        f"processes: one fresh subprocess per job (python -I), warm-up before the timed part; "
        f"pinning: {pinning}",
        f"rounds:    {args.rounds}, interleaved, rotating order; figures are medians over rounds, "
        "spread = (max-min)/median of the rounds' wall times",
        "columns:   cli CPU = the client process's CPU (all threads) per timed call; srv CPU = "
        f"the emulator thread's CPU per request it served (warm-up included){server_cpu}",
        "           x peer = pydoover's time per call / ours, against pydoover's row of the same "
        "kind (above 1.00x: ours is faster)",
    ]


# -- main ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--rounds", type=int, default=5, help="interleaved rounds, medians taken (default 5)")
    add("--messages", type=int, default=1000, help="create_message calls per run (default 1000)")
    add("--concurrency", type=int, default=16, help="creates in flight, 2nd case (default 16)")
    add("--pages", type=int, default=20, help="pages per list_messages walk (default 20)")
    add("--page-size", type=int, default=1000, help="limit= per page (default 1000)")
    add("--decode-repeats", type=int, default=15, help="timed decode batches per run (15)")
    add("--decode-loops", type=int, default=5, help="decodes per timed batch (default 5)")
    add("--calls", type=int, default=1000, help="fetch_message calls per run (default 1000)")
    add("--bridge-calls", type=int, default=5000, help="no-op bridge calls (default 5000)")
    add("--pin", action="store_true", help="emulator on CPU 0, clients on CPU 1")
    add_peer_python(parser, "pydoover 1.18.3")
    add(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run, of {','.join(SECTIONS)} (default: all)",
    )
    args = parser.parse_args(argv)
    args.only = {part.strip() for part in args.only.split(",") if part.strip()}
    numbers = [args.rounds, args.messages, args.concurrency, args.pages, args.page_size]
    numbers += [args.decode_repeats, args.decode_loops, args.calls, args.bridge_calls]
    if min(numbers) < 1:
        parser.error("every count must be >= 1")
    if not args.only or not args.only <= set(SECTIONS):
        parser.error(f"--only takes a comma-separated subset of {','.join(SECTIONS)}")
    if args.page_size > 1000:
        parser.error("--page-size is at most 1000 (the emulator's largest limit)")
    if args.pin and (os.cpu_count() or 1) < 2:
        parser.error("--pin needs two CPUs")
    return args


def main(argv: list[str] | None = None) -> None:
    """Set up the emulator, run the rounds, print the tables."""
    args = parse_args(argv)
    load_before = load_average()
    if args.pin:
        os.sched_setaffinity(0, {0})  # this thread; the emulator's thread inherits it
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir, DooverEmulator() as emulator:
        plan = prepare(emulator, args, Path(workdir))
        bench = Bench(args, emulator, plan)
        run_rounds(bench, args)
    lines = [*preamble(bench, args, load_before), ""]
    reports = {"create": report_create, "list": report_list, "sync": report_sync}
    for section in SECTIONS:
        if section in args.only:
            lines += [*reports[section](bench, args), ""]
    lines.append(f"total run time {time.perf_counter() - started:,.0f} s")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
