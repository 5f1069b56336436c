"""Run the Invoxia emulator in the foreground: ``python -m gps_tracker.emulator --help``.

It prints the URL, the credentials and the devices, then serves until Ctrl-C (or
SIGTERM), and stops cleanly.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from ._emulator import InvoxiaEmulator
from ._paging import BoundMode, PageOrder


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gps_tracker.emulator",
        description="Serve a local, seeded Invoxia API for tests, demos and benchmarks.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port (0 picks a free one)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    parser.add_argument("--username", default="user@example.com")
    parser.add_argument("--password", default="emulator-password")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--jitter", type=float, default=0.0, help="latency jitter, seconds")
    parser.add_argument(
        "--error-rate", type=float, default=0.0, help="share of requests given a random fault"
    )
    parser.add_argument("--page-size", type=int, default=20, help="locations per page")
    parser.add_argument(
        "--page-order", choices=[o.value for o in PageOrder], default=PageOrder.NEWEST_FIRST
    )
    parser.add_argument(
        "--timestamp-bound", choices=[b.value for b in BoundMode], default=BoundMode.EXACT_INCLUSIVE
    )
    parser.add_argument(
        "--timestamp-max-bound",
        choices=[b.value for b in BoundMode],
        default=BoundMode.EXACT_INCLUSIVE,
    )
    parser.add_argument(
        "--locations-per-tracker", type=int, default=3000, help="locations per seeded tracker"
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    return parser


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, serve until interrupted and return the exit status.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        The process exit status.
    """
    args = _parser().parse_args(argv)
    emulator = InvoxiaEmulator(
        username=args.username,
        password=args.password,
        seed=args.seed,
        host=args.host,
        port=args.port,
        latency=args.latency,
        jitter=args.jitter,
        page_size=args.page_size,
        page_order=args.page_order,
        timestamp_bound=args.timestamp_bound,
        timestamp_max_bound=args.timestamp_max_bound,
        locations_per_tracker=args.locations_per_tracker,
        access_log=args.access_log,
    )
    if args.error_rate:
        emulator.faults.set_error_rate(args.error_rate)
    if args.access_log:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    # Explicit handlers: a shell starting us in the background may have set SIGINT to
    # "ignore", and SIGTERM should stop us as cleanly as Ctrl-C does.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with emulator:
            print(f"Invoxia emulator listening on {emulator.url}")
            print(f"  username: {emulator.username}")
            print(f"  password: {emulator.password}")
            for device in emulator.state.devices():
                print(f"  device {device['id']}: {device['type']} {device['name']!r}")
            print("Press Ctrl-C to stop.", flush=True)
            threading.Event().wait()
    except KeyboardInterrupt:
        print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
