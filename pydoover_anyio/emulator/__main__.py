"""Run the Doover emulator in the foreground: ``python -m pydoover_anyio.emulator --help``.

It prints the data API URL, the default agent, a bearer token and the OAuth
credentials, then serves until Ctrl-C (or SIGTERM), and stops cleanly.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from ._emulator import DooverEmulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pydoover_anyio.emulator",
        description="Serve a local, in-memory Doover data API for tests, demos and benchmarks.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port (0 picks a free one)")
    parser.add_argument("--seed", type=int, default=0, help="seed of credentials and faults")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--jitter", type=float, default=0.0, help="latency jitter, seconds")
    parser.add_argument(
        "--error-rate", type=float, default=0.0, help="share of requests given a random fault"
    )
    parser.add_argument(
        "--token-lifetime", type=int, default=86_400, help="seconds the printed token lasts"
    )
    parser.add_argument("--max-limit", type=int, default=1000, help="largest page honoured")
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
    emulator = DooverEmulator(
        seed=args.seed,
        host=args.host,
        port=args.port,
        latency=args.latency,
        jitter=args.jitter,
        token_lifetime=args.token_lifetime,
        max_limit=args.max_limit,
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
            print(f"Doover emulator listening on {emulator.url}")
            print(f"  default agent: {emulator.default_agent_id}")
            print(f"  token: {emulator.token}")
            print(f"  token endpoint: {emulator.root_url}/oauth2/token")
            print(f"  client id: {emulator.client_id}")
            print(f"  client secret: {emulator.client_secret}")
            print(f"  refresh token: {emulator.refresh_token}")
            print(f"  auth server client id: {emulator.auth_server_client_id}")
            print("Press Ctrl-C to stop.", flush=True)
            threading.Event().wait()
    except KeyboardInterrupt:
        print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
