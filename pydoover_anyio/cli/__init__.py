"""``doover-anyio``: the command line of pydoover-anyio (needs the ``cli`` extra).

Run ``doover-anyio --help`` (or ``python -m pydoover_anyio.cli``); the guide is
``docs/cli.md``. This module imports nothing heavy: click and rich are loaded when the
command runs, so a missing extra is one clear line, not a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import NoReturn

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``doover-anyio`` console script: run the command line and exit with its status.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).
    """
    try:
        from ._app import run_cli
    except ImportError as exc:
        if exc.name not in ("click", "rich", "uvicorn"):
            raise
        print(
            f"doover-anyio: error: {exc.name} is not installed; the command line needs "
            "the cli extra: pip install 'pydoover-anyio[cli]'",
            file=sys.stderr,
        )
        sys.exit(1)
    sys.exit(run_cli(argv))
