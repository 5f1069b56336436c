"""Run the Doover emulator in the foreground: ``python -m pydoover_anyio.emulator --help``.

It prints the data API URL, the default agent, a bearer token and the OAuth
credentials, then serves until Ctrl-C (or SIGTERM), and stops cleanly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence

from pydoover_anyio._emulation import emulator_parser, serve_until_interrupted, server_options

from ._emulator import DooverEmulator


def _parser() -> argparse.ArgumentParser:
    parser = emulator_parser(
        "python -m pydoover_anyio.emulator",
        "Serve a local, in-memory Doover data API for tests, demos and benchmarks.",
        port=8000,
        seed_help="seed of credentials and faults",
    )
    parser.add_argument(
        "--token-lifetime", type=int, default=86_400, help="seconds the printed token lasts"
    )
    parser.add_argument("--max-limit", type=int, default=1000, help="largest page honoured")
    return parser


def _banner(emulator: DooverEmulator) -> Iterator[str]:
    yield f"Doover emulator listening on {emulator.url}"
    yield f"  default agent: {emulator.default_agent_id}"
    yield f"  token: {emulator.token}"
    yield f"  token endpoint: {emulator.root_url}/oauth2/token"
    yield f"  client id: {emulator.client_id}"
    yield f"  client secret: {emulator.client_secret}"
    yield f"  refresh token: {emulator.refresh_token}"
    yield f"  auth server client id: {emulator.auth_server_client_id}"


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, serve until interrupted and return the exit status.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        The process exit status.
    """
    args = _parser().parse_args(argv)
    emulator = DooverEmulator(
        **server_options(args), token_lifetime=args.token_lifetime, max_limit=args.max_limit
    )
    return serve_until_interrupted(emulator, args, lambda: _banner(emulator))


if __name__ == "__main__":
    sys.exit(main())
