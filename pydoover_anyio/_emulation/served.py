"""What every emulator built on :class:`ServerThread` shares: its lifecycle (``start()``,
``stop()``, ``with``) and the foreground command line (``python -m ...emulator``)."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable, Iterable
from types import FrameType, TracebackType
from typing import Any, Self

from .faults import FaultPlan, RequestLog
from .server import ServerThread

__all__ = ["ServedEmulator", "emulator_parser", "serve_until_interrupted", "server_options"]


class ServedEmulator:
    """Base of an emulator served from a background :class:`ServerThread`.

    A subclass sets ``_server``, ``faults`` and ``requests`` in ``__init__``; it may
    override :meth:`_started` to act once the server accepts connections.
    """

    _server: ServerThread
    faults: FaultPlan
    requests: RequestLog

    @property
    def port(self) -> int:
        """The port it listens on.

        Raises:
            RuntimeError: The emulator was never started.
        """
        return self._server.port

    @property
    def running(self) -> bool:
        """Whether the server is running."""
        return self._server.running

    def start(self) -> Self:
        """Start serving; returns once the server accepts connections.

        Raises:
            RuntimeError: Already running, or the server failed to start.
            OSError: The address could not be bound.
        """
        self._server.start()
        self._started()
        return self

    def _started(self) -> None:
        """Called by :meth:`start` once the server runs (nothing by default)."""

    def stop(self) -> None:
        """Stop serving and join the server thread (a no-op when not running)."""
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def emulator_parser(
    prog: str, description: str, *, port: int, seed_help: str
) -> argparse.ArgumentParser:
    """A parser holding the options every emulator takes (see :func:`server_options`)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=port, help="port (0 picks a free one)")
    parser.add_argument("--seed", type=int, default=0, help=seed_help)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--jitter", type=float, default=0.0, help="latency jitter, seconds")
    parser.add_argument(
        "--error-rate", type=float, default=0.0, help="share of requests given a random fault"
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    return parser


def server_options(args: argparse.Namespace) -> dict[str, Any]:
    """The constructor arguments every emulator takes, from :func:`emulator_parser`'s
    options (``--error-rate`` is applied by :func:`serve_until_interrupted`)."""
    names = ("seed", "host", "port", "latency", "jitter", "access_log")
    return {name: getattr(args, name) for name in names}


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve_until_interrupted(
    emulator: ServedEmulator, args: argparse.Namespace, banner: Callable[[], Iterable[str]]
) -> int:
    """Serve in the foreground until Ctrl-C or SIGTERM, then stop cleanly.

    Applies ``--error-rate`` and ``--access-log``, prints ``banner()`` (called once the
    server runs) and returns the exit status.
    """
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
            for line in banner():
                print(line)
            print("Press Ctrl-C to stop.", flush=True)
            threading.Event().wait()
    except KeyboardInterrupt:
        print("Stopped.", flush=True)
    return 0
