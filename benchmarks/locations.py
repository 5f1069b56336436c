"""Benchmark ``get_locations``: this repository's gps_tracker against gps-tracker 0.9.2.

Both libraries page through the same Invoxia emulator, which runs in this process (a
background thread) with a fixed latency per request. Each client call runs in a
subprocess of its own, so neither client shares a GIL with the emulator's server:

* the peer (PyPI ``gps-tracker==0.9.2``, whose import name collides with ours) runs its
  ``AsyncClient`` on asyncio with its own venv, ``benchmarks/.venv-peer``, created on
  first use (``_peer_locations.py``);
* ours runs ``AsyncClient(max_concurrency=C)`` under ``anyio.run`` with this process's
  python (``_ours_locations.py``): on asyncio and on trio at the default concurrency,
  and on asyncio at ``--extra-concurrency``.

Rounds are interleaved (each round runs every scenario and row once, rotating which row
goes first) and times are medians over the rounds. Every figure is measured: wall time
around the ``get_locations`` call itself (a fresh client, so connection setup is included;
interpreter start-up and imports are not), requests counted from the emulator's request
log, lost and duplicated locations checked by uuid against the emulator's data.

Usage: ``python benchmarks/locations.py [--latency S] [--rounds R] [--concurrency C]
[--extra-concurrency C]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from importlib.metadata import version
from itertools import pairwise
from pathlib import Path

import _harness
from _harness import (
    HERE,
    REPOSITORY,
    Result,
    machine,
    peer_venv_python,
    rotated,
    ruled,
    run_driver,
    source_revision,
    verdict,
)

from gps_tracker.client.asynchronous import DEFAULT_MAX_CONCURRENCY
from gps_tracker.emulator import InvoxiaEmulator, LoggedRequest, RequestLog

PEER_VENV = HERE / ".venv-peer"
PEER_DRIVER = HERE / "_peer_locations.py"
OURS_DRIVER = HERE / "_ours_locations.py"
PEER_REQUIREMENT = "gps-tracker==0.9.2"
PAGE_SIZE = 20

PEER = "peer (0.9.2)"


@dataclass(frozen=True)
class Scenario:
    """One benchmark case: a tracker with ``stored`` locations, asked for ``max_count``."""

    name: str
    stored: int
    max_count: int


SCENARIOS = (
    Scenario("2,000 locations", stored=2_000, max_count=2_000),
    Scenario("newest 200 of 20,000", stored=20_000, max_count=200),
)


@dataclass(frozen=True)
class Ours:
    """One configuration of our client: an anyio backend and a ``max_concurrency``."""

    backend: str
    concurrency: int

    @property
    def label(self) -> str:
        """The row's name in the table, e.g. ``ours asyncio 16``."""
        return f"ours {self.backend} {self.concurrency}"


@dataclass
class Run:
    """What one ``get_locations`` call did."""

    elapsed: float
    requests: int
    wave_sizes: list[int] | None
    returned: int
    lost: int
    duplicated: int

    @property
    def waves(self) -> int | None:
        """How many bursts of completions the requests formed."""
        return None if self.wave_sizes is None else len(self.wave_sizes)


class Series(_harness.Series[Run]):
    """The runs of one row in one scenario, over all rounds (``time``, ``spread``, ...)."""

    @property
    def requests(self) -> float:
        """Median number of requests."""
        return self.median(lambda run: run.requests)

    @property
    def lost(self) -> int:
        """The most locations lost by any run."""
        return max(run.lost for run in self.runs)

    @property
    def duplicated(self) -> int:
        """The most locations duplicated by any run."""
        return max(run.duplicated for run in self.runs)

    @property
    def median_run(self) -> Run:
        """The run with the median wall time (the lower one of an even count)."""
        return sorted(self.runs, key=lambda run: run.elapsed)[(len(self.runs) - 1) // 2]

    def cell(self, attribute: str) -> str:
        """Median of an integer attribute, with its range when the rounds disagree."""
        values = [getattr(run, attribute) for run in self.runs]
        if None in values:
            return "-"
        low, high, median = min(values), max(values), statistics.median(values)
        text = f"{median:,.0f}" if median == int(median) else f"{median:,.1f}"
        return text if low == high else f"{text} ({low:,}-{high:,})"


# -- subprocesses --------------------------------------------------------------------


def run_located(python: Path | str, driver: Path, arguments: list[str], home: Path) -> Result:
    """Run a driver once (isolated, see ``_harness.run_driver``); return its JSON result.

    Args:
        python: The interpreter to run the driver with.
        driver: The driver script.
        arguments: The driver's command-line arguments.
        home: Where the driver's ``gps_tracker`` must have been imported from.

    Raises:
        RuntimeError: The driver failed or imported a gps_tracker outside ``home``.
    """
    result = run_driver(python, driver, arguments)
    if not Path(result["module"]).resolve().is_relative_to(home.resolve()):
        raise RuntimeError(f"{driver.name} imported gps_tracker from {result['module']}")
    return result


def run_peer(python: Path, emulator: InvoxiaEmulator, device_id: int, max_count: int) -> Result:
    """Run the peer's ``get_locations`` once (``_peer_locations.py``, peer venv)."""
    arguments = [emulator.url, emulator.username, emulator.password, str(device_id)]
    return run_located(python, PEER_DRIVER, [*arguments, str(max_count)], PEER_VENV)


def run_ours(ours: Ours, emulator: InvoxiaEmulator, device_id: int, max_count: int) -> Result:
    """Run our ``get_locations`` once (``_ours_locations.py``, this process's python)."""
    arguments = [emulator.url, emulator.username, emulator.password, str(device_id)]
    arguments += [str(max_count), str(ours.concurrency), ours.backend]
    return run_located(sys.executable, OURS_DRIVER, arguments, REPOSITORY)


# -- measuring -----------------------------------------------------------------------


def stamp_completions(log: RequestLog) -> list[float]:
    """Record when each request completes (the log appends just before the response ends).

    Returns:
        The list the completion times (``time.perf_counter()``) are appended to.
    """
    stamps: list[float] = []
    record = log.append

    def append(entry: LoggedRequest) -> None:
        stamps.append(time.perf_counter())
        record(entry)

    log.append = append  # type: ignore[method-assign]
    return stamps


def wave_sizes(stamps: list[float], latency: float) -> list[int] | None:
    """Group completions into waves (bursts): a gap over half the latency starts a new one.

    A client that keeps its requests in flight continuously still completes them in
    bursts: each completion starts the next request, which completes one latency later.

    Returns:
        The number of requests in each wave, or ``None`` without latency (no gaps to
        tell waves apart).
    """
    if latency <= 0:
        return None
    sizes: list[int] = [1] if stamps else []
    for earlier, later in pairwise(sorted(stamps)):
        if later - earlier > latency / 2:
            sizes.append(1)
        else:
            sizes[-1] += 1
    return sizes


def describe_waves(sizes: list[int]) -> str:
    """Write wave sizes compactly, runs collapsed: ``[1, 16, 16, 5]`` -> ``1, 16x2, 5``."""
    runs: list[list[int]] = []
    for size in sizes:
        if runs and runs[-1][0] == size:
            runs[-1][1] += 1
        else:
            runs.append([size, 1])
    return ", ".join(str(size) if count == 1 else f"{size}x{count}" for size, count in runs)


def measure(
    call: Callable[[], Result],
    emulator: InvoxiaEmulator,
    stamps: list[float],
    expected: list[str],
    latency: float,
) -> tuple[Run, Result]:
    """Run one call with a clean request log and check its result against ``expected``.

    Returns:
        The measurements and the call's own result.
    """
    emulator.requests.clear()
    stamps.clear()
    result = call()
    uuids: list[str] = result["uuids"]
    run = Run(
        elapsed=result["elapsed"],
        requests=len(emulator.requests),
        wave_sizes=wave_sizes(stamps, latency),
        returned=len(uuids),
        lost=len(set(expected) - set(uuids)),
        duplicated=len(uuids) - len(set(uuids)),
    )
    return run, result


# -- report --------------------------------------------------------------------------

_HEADER = (
    f"{'scenario':<20} {'row':<15} {'requests':>13} {'waves':>10} {'wall ms':>7} "
    f"{'spread':>6} {'returned':>8} {'lost':>4} {'duplicated':>10} {'req/peer':>8} "
    f"{'wall/peer':>9} {'speed-up':>8}"
)


def _row(scenario: str, label: str, series: Series, peer: Series | None) -> str:
    ratios = f"{'':>8} {'':>9} {'':>8}"
    if peer is not None:
        ratios = (
            f"{series.requests / peer.requests:>7.2f}x {series.time / peer.time:>8.2f}x "
            f"{peer.time / series.time:>7.1f}x"
        )
    return (
        f"{scenario:<20} {label:<15} {series.cell('requests'):>13} {series.cell('waves'):>10} "
        f"{series.time * 1000:>7,.0f} {series.spread:>6.0%} {series.cell('returned'):>8} "
        f"{series.cell('lost'):>4} {series.cell('duplicated'):>10} {ratios}"
    ).rstrip()


def _target(scenario: Scenario, ours: Series, peer: Series) -> tuple[str, bool, str]:
    """The scenario's target, whether ``ours`` meets it, and the figures it is judged on."""
    if scenario is SCENARIOS[0]:
        speedup = peer.time / ours.time
        return (
            ">= 10x faster than the peer, 0 lost, 0 duplicated",
            speedup >= 10 and ours.lost == 0 and ours.duplicated == 0,
            f"{speedup:.1f}x, {ours.lost} lost, {ours.duplicated} duplicated",
        )
    time_ratio, request_ratio = ours.time / peer.time, ours.requests / peer.requests
    return (
        "no slower than the peer, <= 2x its requests, 0 lost, 0 duplicated",
        time_ratio <= 1 and request_ratio <= 2 and ours.lost == 0 and ours.duplicated == 0,
        f"time {time_ratio:.2f}x, requests {request_ratio:.2f}x, {ours.lost} lost, "
        f"{ours.duplicated} duplicated",
    )


def report_scenario(
    scenario: Scenario, rows: list[Ours], results: dict[tuple[str, str], Series]
) -> list[str]:
    """Rows (peer first), the verdict on the first of ``rows``, the others' verdicts, waves."""
    peer = results[scenario.name, PEER]
    series = {ours: results[scenario.name, ours.label] for ours in rows}
    lines = [_row(scenario.name, PEER, peer, None)]
    lines += [_row("", ours.label, series[ours], peer) for ours in rows]
    judged, *others = rows
    goal, passed, figures = _target(scenario, series[judged], peer)
    default = judged.concurrency == DEFAULT_MAX_CONCURRENCY
    which = "the default concurrency" if default else "set by --concurrency"
    lines.append(
        f"  target ({goal}), judged on {judged.label} ({which}): {verdict(passed)} ({figures})"
    )
    verdicts = []
    for ours in others:
        _, passed, figures = _target(scenario, series[ours], peer)
        verdicts.append(f"{ours.label} {verdict(passed)} ({figures})")
    lines.append(f"  same target, other rows: {'; '.join(verdicts)}")
    for ours in rows:
        sizes = series[ours].median_run.wave_sizes
        if sizes is not None:
            lines.append(f"  waves of {ours.label} (median run): {describe_waves(sizes)}")
    return lines


def preamble(args: argparse.Namespace, rows: list[Ours], ours: Result, peer: Result) -> list[str]:
    """Machine, versions and settings, printed above the table."""
    peer_versions = peer["versions"]
    return [
        "get_locations: gps_tracker (this repo) vs gps-tracker 0.9.2 (peer)",
        f"machine:  {machine()}",
        f"ours:     AsyncClient(max_concurrency=C) under anyio.run, one subprocess per call "
        f"(CPython {ours['python']}); rows: {', '.join(row.label for row in rows)}",
        f"          source {source_revision()}, anyio {version('anyio')}, "
        f"trio {version('trio')}, httpx {version('httpx')} over {ours['connection_layer']} "
        f"(httptools {version('httptools')})",
        f"peer:     gps-tracker {peer_versions['gps-tracker']} AsyncClient on asyncio, one "
        f"subprocess per call (CPython {peer['python']}), aiohttp {peer_versions['aiohttp']}",
        f"emulator: thread of the benchmark process, {args.latency * 1000:g} ms latency per "
        f"request, page size {PAGE_SIZE}, uvicorn {version('uvicorn')}",
        f"rounds:   {args.rounds}, interleaved; wall ms = median, spread = (max-min)/median; "
        f"ratios = ours/peer of the medians, speed-up = peer/ours wall",
        "waves:    bursts of completions (a gap over half the latency starts a new one); "
        "lost/duplicated = worst round",
    ]


# -- main ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--latency", type=float, default=0.05, help="seconds per request (default 0.05)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds, medians taken (default 3)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_MAX_CONCURRENCY,
        help="our max_concurrency on asyncio (the judged row) and on trio "
        f"(default: the library's, {DEFAULT_MAX_CONCURRENCY})",
    )
    parser.add_argument(
        "--extra-concurrency",
        type=int,
        default=32,
        help="our max_concurrency on asyncio in the extra row (default 32)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or min(args.concurrency, args.extra_concurrency) < 1 or args.latency < 0:
        parser.error("--rounds and the concurrencies must be >= 1, --latency >= 0")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run every scenario for every row over interleaved rounds and print the table."""
    args = parse_args(argv)
    python = peer_venv_python(PEER_VENV, PEER_REQUIREMENT)
    rows = [
        Ours("asyncio", args.concurrency),
        Ours("trio", args.concurrency),
        Ours("asyncio", args.extra_concurrency),
    ]
    labels = [PEER, *(ours.label for ours in rows)]
    results: dict[tuple[str, str], Series] = {}
    info: dict[str, Result] = {}
    with InvoxiaEmulator(
        latency=args.latency, locations_per_tracker=0, page_size=PAGE_SIZE
    ) as emulator:
        stamps = stamp_completions(emulator.requests)
        cases = []
        for scenario in SCENARIOS:
            device_id = emulator.add_tracker(locations=scenario.stored)
            newest = emulator.state.locations(device_id)[: scenario.max_count]
            cases.append((scenario, device_id, [item["uuid"] for item in newest]))
        for round_number in range(args.rounds):
            order = rotated(labels, round_number)
            for scenario, device_id, expected in cases:
                calls: dict[str, Callable[[], Result]] = {
                    PEER: partial(run_peer, python, emulator, device_id, scenario.max_count)
                }
                for ours in rows:
                    calls[ours.label] = partial(
                        run_ours, ours, emulator, device_id, scenario.max_count
                    )
                for label in order:
                    run, result = measure(calls[label], emulator, stamps, expected, args.latency)
                    info[PEER if label == PEER else "ours"] = result
                    results.setdefault((scenario.name, label), Series()).runs.append(run)
                    print(
                        f"round {round_number + 1}/{args.rounds} {scenario.name} {label}: "
                        f"{run.elapsed * 1000:,.0f} ms, {run.requests} requests",
                        file=sys.stderr,
                    )
    lines = [*preamble(args, rows, info["ours"], info[PEER]), "", *ruled(_HEADER)]
    for scenario in SCENARIOS:
        lines += report_scenario(scenario, rows, results)
        lines.append("")
    print("\n".join(lines).rstrip())


if __name__ == "__main__":
    main()
