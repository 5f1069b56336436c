"""What the side-by-side benchmarks share on the benchmark side (not their drivers).

``locations.py``, ``doover_messages.py`` and ``ingest.py`` import it (each script's own
directory is on ``sys.path`` when it runs): running a driver in an isolated subprocess,
preparing a peer's venv, the emulator thread's CPU clock, medians and spread over
interleaved rounds, table rules and the machine / revision / load lines of the headers.
What only one benchmark measures or prints stays in that benchmark. The drivers' shared
helpers are in ``_driver.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent

#: A driver's JSON result.
Result = dict[str, Any]

T = TypeVar("T")

# -- subprocesses ------------------------------------------------------------------------


def isolated_environment() -> dict[str, str]:
    """This process's environment without anything that could redirect imports."""
    drop = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV"}
    return {key: value for key, value in os.environ.items() if key not in drop}


def run_driver(python: Path | str, driver: Path, arguments: Sequence[str]) -> Result:
    """Run a driver once in a fresh subprocess; return the JSON object it printed.

    It runs isolated (``-I``: no PYTHON* variables, no script or working directory on
    ``sys.path``) from a temporary directory outside the repository, with
    :func:`isolated_environment`. Checking which package the driver imported is the
    caller's.

    Args:
        python: The interpreter to run the driver with.
        driver: The driver script.
        arguments: The driver's command-line arguments.

    Raises:
        RuntimeError: The driver exited with an error.
    """
    with tempfile.TemporaryDirectory() as outside:
        done = subprocess.run(
            [python, "-I", driver, *arguments],
            cwd=outside,
            env=isolated_environment(),
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"{driver.name} failed ({done.returncode}):\n{done.stderr}")
    result: Result = json.loads(done.stdout)
    return result


def run_job(python: str, driver: Path, job: Result, *, peer: bool) -> Result:
    """Run a driver that takes one JSON job as its argument (the Doover benchmarks' drivers).

    Args:
        python: The interpreter to run the driver with.
        driver: The driver script.
        job: The job, passed as JSON.
        peer: Whether it is the peer's driver, whose ``pydoover`` must be an installed
            package (under ``site-packages``), never this repository.

    Raises:
        RuntimeError: The driver failed, or the peer's pydoover is not an installed package.
    """
    result = run_driver(python, driver, [json.dumps(job)])
    if peer and "site-packages" not in Path(result["module"]).parts:
        raise RuntimeError(f"the peer driver imported pydoover from {result['module']}")
    return result


def add_peer_python(parser: argparse.ArgumentParser, peer: str) -> None:
    """Add ``--peer-python``: the python whose environment holds ``peer``; default this one."""
    parser.add_argument(
        "--peer-python",
        default=sys.executable,
        help=f"the python whose environment holds {peer} (default: this one)",
    )


def peer_venv_python(venv: Path, requirement: str) -> Path:
    """Return the python of ``venv``, creating it and installing ``requirement`` if needed.

    ``requirement`` is ``name==version``; the venv is reused when it holds that version
    and installed into again when it holds another.

    Raises:
        subprocess.CalledProcessError: ``venv`` or ``pip`` failed.
    """
    name, wanted = requirement.split("==")
    python = venv / "bin" / "python"
    probe = f"import importlib.metadata as m; print(m.version({name!r}))"
    if python.exists():
        found = subprocess.run(
            [python, "-I", "-c", probe], capture_output=True, text=True, check=False
        )
        if found.returncode == 0 and found.stdout.strip() == wanted:
            return python
    else:
        print(f"creating {venv} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    print(f"installing {requirement} into {venv} ...", file=sys.stderr)
    subprocess.run([python, "-m", "pip", "install", "-q", requirement], check=True)
    return python


class ServerClock:
    """CPU seconds of an emulator's server thread (its POSIX thread CPU clock, ns resolution)."""

    def __init__(self, thread_name: str) -> None:
        threads = [t for t in threading.enumerate() if t.name == thread_name]
        self._clock: int | None = None
        if threads and threads[0].ident is not None and hasattr(time, "pthread_getcpuclockid"):
            self._clock = time.pthread_getcpuclockid(threads[0].ident)

    @property
    def available(self) -> bool:
        """Whether the clock can be read."""
        return self._clock is not None

    def seconds(self) -> float:
        """User + system CPU seconds of the server thread so far (0 when unavailable)."""
        return 0.0 if self._clock is None else time.clock_gettime(self._clock)


# -- rounds and statistics -----------------------------------------------------------------


def rotated(rows: Sequence[T], round_number: int) -> list[T]:
    """``rows`` starting at a different one each round (interleaved rounds)."""
    first = round_number % len(rows)
    return [*rows[first:], *rows[:first]]


def spread(values: Sequence[float]) -> float:
    """(max - min) / median of ``values``."""
    return (max(values) - min(values)) / statistics.median(values)


class Timed(Protocol):
    """A run with a wall time."""

    @property
    def elapsed(self) -> float:
        """Wall seconds of the run's timed part."""
        ...


R = TypeVar("R", bound=Timed)


@dataclass
class Series(Generic[R]):
    """The runs of one row (in one section or scenario) over all rounds."""

    runs: list[R] = field(default_factory=list)

    def median(self, value: Callable[[R], float]) -> float:
        """The median of ``value`` over the runs."""
        return statistics.median(value(run) for run in self.runs)

    @property
    def time(self) -> float:
        """Median wall time, seconds."""
        return self.median(lambda run: run.elapsed)

    @property
    def spread(self) -> float:
        """(max - min) / median of the wall times."""
        return spread([run.elapsed for run in self.runs])


# -- report ----------------------------------------------------------------------------------


def ruled(header: str) -> list[str]:
    """A table's header line and a rule of dashes as long."""
    return [header, "-" * len(header)]


def verdict(passed: bool) -> str:
    """``PASS`` or ``FAIL``."""
    return "PASS" if passed else "FAIL"


def source_revision() -> str:
    """The repository's commit, ``-dirty`` when the work tree has changes (or ``unknown``)."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=HERE,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return described.stdout.strip()


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (or the platform's processor string)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages."""
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def now() -> str:
    """The date and time, UTC, to the minute."""
    return f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"


def machine() -> str:
    """OS, architecture, CPUs (usable by this process), CPU model and this interpreter."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    return (
        f"{platform.system()} {platform.release()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs ({usable} usable), {cpu_model()}, "
        f"{platform.python_implementation()} {platform.python_version()}"
    )


def load_change(before: str) -> str:
    """The load averages ``before`` (from :func:`load_average`) and now."""
    return f"{before} before, {load_average()} after (1/5/15 min)"
