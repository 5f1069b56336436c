"""The ``doover-anyio`` command tree and its entry point.

::

    doover-anyio [OPTIONS] COMMAND ...
      demo                      walk through the library against in-process emulators
      channels list             an agent's channels
      messages list CHANNEL     a channel's newest messages
      messages tail CHANNEL     ... and, with --follow, new ones live over the gateway
      aggregate get CHANNEL     a channel's aggregate
      aggregate patch CHANNEL DATA
      ingest FILE -c CHANNEL    JSON Lines or CSV into a channel
      locations trackers        an Invoxia account's trackers
      locations export --tracker ID [--since ...] [--format geojson|gpx|csv]
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Sequence

import click

from .. import __version__
from ._aggregate import aggregate
from ._channels import channels
from ._demo import demo
from ._ingest import ingest
from ._locations import locations
from ._messages import messages
from ._runner import EXIT_ERROR, EXIT_OK, PROG, Settings, exit_status, leaves, shared_options

__all__ = ["cli", "run_cli"]


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Connection options may also follow the command. Docs: docs/cli.md.",
)
@shared_options(env=True)
@click.version_option(__version__, "-V", "--version", prog_name=PROG)
def cli() -> None:
    """Doover Data API and Invoxia trackers from the command line.

    Against a real server: --token or --profile (or DOOVER_TOKEN / DOOVER_PROFILE;
    the 'default' profile of ~/.doover/config is used when there is one). Against
    emulators started in-process with seeded data: --emulator.
    """


for command in (demo, channels, messages, aggregate, ingest, locations):
    cli.add_command(command)


def run_cli(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status (no traceback unless --debug).

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).
    """
    if threading.current_thread() is threading.main_thread():
        # A shell may start us with SIGINT ignored (a background job); Ctrl-C must work.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if sys.stdout is None:  # started with it closed (`>&-`): what it prints would be lost
        if sys.stderr is not None:
            print(f"{PROG}: error: standard output is closed", file=sys.stderr)
        return EXIT_ERROR
    settings = Settings()
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name=PROG,
            obj=settings,
            standalone_mode=False,
        )
    except SystemExit as exc:  # click's own exits (e.g. after a broken pipe)
        if exc.code is None:
            return EXIT_OK
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    except BaseException as exc:  # noqa: BLE001 - every failure becomes an exit status
        if any(isinstance(leaf, BrokenPipeError) for leaf in leaves(exc)):
            # The reader went away (`doover-anyio ... | head`): stop quietly, and keep
            # the interpreter from complaining when it flushes stdout at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_ERROR
        return exit_status(exc, settings)
    return result if isinstance(result, int) else EXIT_OK
