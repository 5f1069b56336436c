"""Driving ``doover-anyio`` as a user would: in a subprocess, with a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from pydoover_anyio.emulator import DooverEmulator

__all__ = ["cli", "cli_command", "cli_env", "doover_env_for"]

#: The console script the editable install put next to this interpreter.
SCRIPT = Path(sys.executable).with_name("doover-anyio")


def cli_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a CLI run: no DOOVER_*/INVOXIA_* leaking in, a private HOME
    (so no ~/.doover/config is found) and a fixed terminal width."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DOOVER_", "INVOXIA_"))
    }
    env.update({"HOME": str(home), "COLUMNS": "120", "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


def doover_env_for(emulator: DooverEmulator) -> dict[str, str]:
    """The ``DOOVER_*`` variables pointing a CLI run at ``emulator`` (its default agent)."""
    return {
        "DOOVER_BASE_URL": emulator.url,
        "DOOVER_TOKEN": emulator.token,
        "DOOVER_AGENT_ID": str(emulator.default_agent_id),
    }


def cli_command(*args: str) -> list[str]:
    """``python -m pydoover_anyio.cli ARGS`` (what the console script runs)."""
    return [sys.executable, "-m", "pydoover_anyio.cli", *args]


def cli(
    *args: str,
    home: Path,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion and capture its output."""
    return subprocess.run(
        cli_command(*args),
        input=stdin,
        capture_output=True,
        text=True,
        env=cli_env(home, env),
        timeout=timeout,
        check=False,
    )
