"""Run the Invoxia emulator in the foreground: ``python -m gps_tracker.emulator --help``.

It prints the URL, the credentials and the devices, then serves until Ctrl-C (or
SIGTERM), and stops cleanly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence

from pydoover_anyio._emulation import emulator_parser, serve_until_interrupted, server_options

from ._emulator import InvoxiaEmulator
from ._paging import BoundMode, PageOrder


def _parser() -> argparse.ArgumentParser:
    parser = emulator_parser(
        "python -m gps_tracker.emulator",
        "Serve a local, seeded Invoxia API for tests, demos and benchmarks.",
        port=8080,
        seed_help="seed of the generated data",
    )
    parser.add_argument("--username", default="user@example.com")
    parser.add_argument("--password", default="emulator-password")
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
    return parser


def _banner(emulator: InvoxiaEmulator) -> Iterator[str]:
    yield f"Invoxia emulator listening on {emulator.url}"
    yield f"  username: {emulator.username}"
    yield f"  password: {emulator.password}"
    for device in emulator.state.devices():
        yield f"  device {device['id']}: {device['type']} {device['name']!r}"


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, serve until interrupted and return the exit status.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        The process exit status.
    """
    args = _parser().parse_args(argv)
    emulator = InvoxiaEmulator(
        **server_options(args),
        username=args.username,
        password=args.password,
        page_size=args.page_size,
        page_order=args.page_order,
        timestamp_bound=args.timestamp_bound,
        timestamp_max_bound=args.timestamp_max_bound,
        locations_per_tracker=args.locations_per_tracker,
    )
    return serve_until_interrupted(emulator, args, lambda: _banner(emulator))


if __name__ == "__main__":
    sys.exit(main())
