"""``doover-anyio`` with input that used to end in an internal error, lost data, or a hang.

I/O-free where the part can be reached directly; in subprocesses for the terminal
(rich markup), the live tail and Ctrl-C.
"""

from __future__ import annotations

import errno
import io
import os
import pty
import queue
import signal
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import click
import httpx
import pytest
from cli_support import cli, cli_command, cli_env, doover_env_for
from doover_client_support import running_emulator

from gps_tracker.client.datatypes import TrackerData, TrackerMethod
from pydoover_anyio.cli._aggregate import _read_patch
from pydoover_anyio.cli._geo import GeoFormat, render
from pydoover_anyio.cli._ingest import _records
from pydoover_anyio.cli._locations import _mode_for
from pydoover_anyio.cli._messages import _RecentIds
from pydoover_anyio.cli._output import parse_time
from pydoover_anyio.cli._records import Record, RecordFormat
from pydoover_anyio.cli._runner import _describe
from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.sync import DataClient

CHANNEL = "readings"


@pytest.fixture
def emulator() -> Iterator[DooverEmulator]:
    yield from running_emulator(CHANNEL)


@pytest.fixture
def env(emulator: DooverEmulator) -> dict[str, str]:
    return doover_env_for(emulator)


# -- I/O-free ---------------------------------------------------------------------------------


def test_a_csv_with_a_bom_and_a_quoted_header_keeps_its_column_names() -> None:
    # As Excel writes it: the BOM must go before the csv module reads the quoted cell.
    raw = b'\xef\xbb\xbf"timestamp","rpm"\r\n"2026-01-01T00:00:00Z","1450"\r\n'
    (record,) = _records(io.BytesIO(raw), RecordFormat.CSV, "timestamp", "s")
    assert record == Record(2, {"rpm": 1450}, 1_767_225_600_000)


class _FailingRead(io.RawIOBase):
    """A file whose second read fails, as a disk error or ``/proc/self/mem`` does."""

    def __init__(self) -> None:
        self.reads = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.reads += 1
        if self.reads > 1:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        buffer[:9] = b'{"a": 1}\n'
        return 9


@pytest.mark.parametrize("kind", [RecordFormat.JSONL, RecordFormat.CSV])
def test_a_read_error_names_the_file(kind: RecordFormat) -> None:
    handle = io.BufferedReader(_FailingRead(), buffer_size=9)
    with pytest.raises(OSError, match="Input/output error") as raised:
        list(_records(handle, kind, "timestamp", "s", source="data.jsonl"))
    assert raised.value.filename == "data.jsonl"
    assert _describe(raised.value) == "data.jsonl: Input/output error"


def test_a_patch_file_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    patch = tmp_path / "patch.json"
    patch.write_bytes(b'{"site": "Caf\xe9"}')  # Latin-1, as some editors save it
    with pytest.raises(click.BadParameter, match="not UTF-8 text"):
        _read_patch(f"@{patch}")
    patch.write_bytes(b'\xef\xbb\xbf{"site": "Caf\xc3\xa9"}')  # a BOM is fine
    assert _read_patch(f"@{patch}") == {"site": "Café"}


@pytest.mark.parametrize("text", ["1000000w", "99999999999999999999999s", "9" * 400 + "d"])
def test_a_span_beyond_the_calendar_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="before the year 1"):
        parse_time(text)


def test_an_unreadable_url_is_a_one_line_error() -> None:
    assert _describe(httpx.InvalidURL("Invalid port: ':1'")) == "invalid URL: Invalid port: ':1'"


def test_gpx_of_a_name_with_control_characters_is_well_formed() -> None:
    location = TrackerData(
        datetime(2026, 2, 1, tzinfo=UTC), 1.5, -2.5, TrackerMethod.GPS, 0, 25, UUID(int=1)
    )
    gpx = "".join(render(GeoFormat.GPX, [location], "Boat\x0bDinghy\x00 & <Co>"))
    track = ET.fromstring(gpx).find("{http://www.topografix.com/GPX/1/1}trk")
    assert track is not None
    assert (
        track.findtext("{http://www.topografix.com/GPX/1/1}name") == "Boat\ufffdDinghy\ufffd & <Co>"
    )


def test_an_export_over_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    existing = tmp_path / "track.gpx"
    existing.write_text("old")
    existing.chmod(0o600)
    assert _mode_for(str(existing)) == 0o600
    umask = os.umask(0o022)
    try:
        assert _mode_for(str(tmp_path / "new.gpx")) == 0o644
    finally:
        os.umask(umask)


def test_tail_remembers_recent_ids_only() -> None:
    recent = _RecentIds(3)
    assert [recent.add(n) for n in (5, 1, 5, 9, 7)] == [True, True, False, True, True]
    assert recent.add(5) is True  # forgotten: the oldest of four
    assert recent.add(9) is False


# -- through the command ----------------------------------------------------------------------


def test_names_and_data_are_shown_verbatim_not_as_markup(
    emulator: DooverEmulator, env: dict[str, str], tmp_path: Path
) -> None:
    emulator.state.create_channel(emulator.default_agent_id, "pump[b]2")
    patch = cli("aggregate", "patch", CHANNEL, '{"note": "see [/b]"}', home=tmp_path, env=env)
    assert patch.returncode == 0, patch.stderr
    listed = cli("channels", "list", home=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr  # it was: internal error: MarkupError
    assert "pump[b]2" in listed.stdout
    assert "see [/b]" in listed.stdout


def test_tail_follow_prints_a_new_message_with_an_older_timestamp(
    emulator: DooverEmulator, env: dict[str, str], tmp_path: Path
) -> None:
    agent = emulator.default_agent_id
    with DataClient(emulator.url, token=emulator.token) as client:
        client.create_message(agent, CHANNEL, {"seq": "history"})
        process = subprocess.Popen(
            cli_command("messages", "tail", CHANNEL, "-f", "-n", "1", "--json"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(tmp_path, env),
        )
        lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout
        threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
        try:
            assert '"history"' in lines.get(timeout=20)  # subscribed by now
            # A device back online uploads a reading it took ten minutes ago, then a new one.
            taken = datetime.now(UTC) - timedelta(minutes=10)
            client.create_message(agent, CHANNEL, {"seq": "late"}, timestamp=taken)
            client.create_message(agent, CHANNEL, {"seq": "current"})
            printed = [lines.get(timeout=10), lines.get(timeout=10)]
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(10)
    assert '"late"' in printed[0]
    assert '"current"' in printed[1]


def test_ctrl_c_while_ingest_reads_an_open_terminal_exits_at_once(
    env: dict[str, str], tmp_path: Path
) -> None:
    main, terminal = pty.openpty()  # stdin is a terminal the user types records into
    process = subprocess.Popen(
        cli_command("ingest", "-", "-c", CHANNEL, "--no-progress"),
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(tmp_path, env),
    )
    os.close(terminal)
    try:
        os.write(main, b'{"n": 1}\n')
        time.sleep(2)  # started, and waiting for the terminal's next line
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 130  # it waited for the end of the input
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(main)


def _run_with_closed(fd: int, *args: str, home: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI with its descriptor ``fd`` (0 or 1) closed, as ``<&-`` or ``>&-`` do."""
    done = subprocess.run(
        cli_command(*args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(home, env),
        timeout=60,
        check=False,
        preexec_fn=lambda: os.close(fd),
    )
    return done.returncode, done.stderr


@pytest.mark.parametrize(
    ("args", "hint"),
    [(("ingest", "-", "-c", CHANNEL), "FILE"), (("aggregate", "patch", CHANNEL, "-"), "DATA")],
)
def test_reading_a_closed_stdin_is_a_usage_error(
    env: dict[str, str], tmp_path: Path, args: tuple[str, ...], hint: str
) -> None:
    status, errors = _run_with_closed(0, *args, home=tmp_path, env=env)
    assert status == 2
    assert f"Invalid value for {hint}: stdin is closed" in errors


def test_a_closed_stdout_is_an_error_before_anything_is_done(
    emulator: DooverEmulator, env: dict[str, str], tmp_path: Path
) -> None:
    args = ("aggregate", "patch", CHANNEL, '{"mode": "auto"}')
    status, errors = _run_with_closed(1, *args, home=tmp_path, env=env)
    assert (status, errors) == (1, "doover-anyio: error: standard output is closed\n")
    agent = emulator.default_agent_id
    assert "mode" not in emulator.state.channel(agent, CHANNEL).aggregate.data
