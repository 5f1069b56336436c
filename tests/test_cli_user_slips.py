"""``doover-anyio`` against a user's slips: arguments that cannot work, odd input on stdin,
an output path that is a symlink or in no directory, a server's HTML error page, a pipe
that stays open. Each is a clear one-line error (or just works), never an internal one."""

from __future__ import annotations

import collections
import json
import signal
import subprocess
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from cli_support import cli, cli_command, cli_env, doover_env_for
from doover_client_support import running_emulator

from pydoover_anyio.emulator import DooverEmulator

CHANNEL = "readings"


@pytest.fixture
def emulator() -> Iterator[DooverEmulator]:
    yield from running_emulator(CHANNEL)


@pytest.fixture
def env(emulator: DooverEmulator) -> dict[str, str]:
    return doover_env_for(emulator)


def _stored(emulator: DooverEmulator) -> int:
    return len(emulator.state.messages(emulator.default_agent_id, CHANNEL))


# -- bad arguments that end in "internal error" -------------------------------------------------


@pytest.mark.parametrize("channel", ["", ".."])
def test_a_channel_name_that_cannot_be_in_a_url_is_not_an_internal_error(
    channel: str, env: dict[str, str], tmp_path: Path
) -> None:
    # `doover-anyio messages list ''`: the user's own bad argument. The library raises
    # ValueError("'' cannot be used as a channel name in a URL"), which _runner._describe
    # does not know, so it is reported as a bug ("internal error ... --debug").
    result = cli("messages", "list", channel, home=tmp_path, env=env, timeout=15)
    assert result.returncode != 0
    assert "internal error" not in result.stderr, result.stderr


def test_a_token_with_a_non_ascii_character_is_not_an_internal_error(
    emulator: DooverEmulator, tmp_path: Path
) -> None:
    # A token pasted with a typographic character (or DOOVER_TOKEN set so): httpx cannot
    # encode the Authorization header -> UnicodeEncodeError -> "internal error".
    env = {**doover_env_for(emulator), "DOOVER_TOKEN": "tok\u00e9n"}
    result = cli("channels", "list", home=tmp_path, env=env, timeout=15)
    assert result.returncode == 1
    assert "internal error" not in result.stderr, result.stderr


def test_aggregate_patch_nested_just_below_the_read_limit_is_a_usage_error(
    tmp_path: Path,
) -> None:
    # docs/cli.md: "nesting too deep to read" is a usage error (status 2). _read_patch's
    # encode_json pre-check passes at depth ~978, but the real send, deeper in the stack,
    # raises ValueError("nested too deeply to send as JSON") -> internal error, status 1.
    depth = 978
    patch = tmp_path / "deep.json"
    patch.write_text('{"a":' + "[" * depth + "]" * depth + "}")
    result = cli(
        "--emulator", "aggregate", "patch", "telemetry", f"@{patch}", home=tmp_path, timeout=15
    )
    assert "internal error" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr


# -- aggregate patch - (stdin) ------------------------------------------------------------------


def test_aggregate_patch_from_stdin_accepts_a_bom_like_a_file(tmp_path: Path) -> None:
    # `@file.json` is read as utf-8-sig ("a BOM is fine, as in ingest"); `-` is read with
    # sys.stdin.read(), so the same JSON piped in (e.g. from PowerShell) is rejected:
    # "stdin is not valid JSON: Unexpected UTF-8 BOM".
    result = subprocess.run(
        cli_command("--emulator", "aggregate", "patch", "telemetry", "-", "--compact"),
        input='\ufeff{"mode": "eco"}'.encode(),
        capture_output=True,
        env=cli_env(tmp_path),
        timeout=15,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout)["mode"] == "eco"


def test_aggregate_patch_from_non_utf8_stdin_is_a_usage_error(tmp_path: Path) -> None:
    # On a UTF-8 locale (stdin decoded strictly; PYTHONIOENCODING reproduces it here) a
    # Latin-1 patch on stdin is "internal error: UnicodeDecodeError"; the same bytes in
    # @file are a usage error "... is not UTF-8 text (byte N)".
    result = subprocess.run(
        cli_command("--emulator", "aggregate", "patch", "telemetry", "-"),
        input=b'{"site": "Caf\xe9"}',
        capture_output=True,
        env=cli_env(tmp_path, {"PYTHONIOENCODING": "utf-8:strict"}),
        timeout=15,
        check=False,
    )
    assert "internal error" not in result.stderr.decode(), result.stderr.decode()
    assert result.returncode == 2


# -- options -----------------------------------------------------------------------------------


def test_emulator_with_agent_id_0_uses_agent_0_not_the_default(tmp_path: Path) -> None:
    # _runner._doover_client: `agent = agent or emulator.default_agent_id` treats an
    # explicit --agent-id 0 as "not given" and silently lists another agent's channels.
    result = cli("--emulator", "--agent-id", "0", "channels", "list", "--json", home=tmp_path)
    assert result.returncode != 0, result.stdout
    assert "telemetry" not in result.stdout


def test_demo_latency_nan_is_a_usage_error(tmp_path: Path) -> None:
    # click.FloatRange(min=0) lets "nan" through (NaN compares false); the emulator's
    # anyio.sleep(nan) then raises on every request: ASGI tracebacks on stderr and
    # HTTP 500s. ("inf" is accepted too, and the demo hangs forever.)
    result = cli("demo", "--latency", "nan", "--messages", "10", home=tmp_path, timeout=15)
    assert "Traceback" not in result.stderr
    assert result.returncode == 2, result.stderr[-500:]


# -- errors ------------------------------------------------------------------------------------


def test_an_http_error_with_an_html_page_is_one_line(
    emulator: DooverEmulator, env: dict[str, str], tmp_path: Path
) -> None:
    # docs/cli.md: status 1 is "an error, printed as one line". A 503 maintenance page
    # is printed whole, over 8 lines of HTML.
    emulator.faults.html(100, status=503)
    result = cli("channels", "list", home=tmp_path, env=env, timeout=15)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_ingest_into_a_missing_agent_does_not_advise_create_channel(
    emulator: DooverEmulator, tmp_path: Path
) -> None:
    # The 404 says "agent 1 not found"; the CLI says "channel 'readings' does not exist on
    # agent 1: pass --create-channel", and --create-channel then fails with that 404.
    env = {**doover_env_for(emulator), "DOOVER_AGENT_ID": "1"}
    result = cli("ingest", "-", "-c", CHANNEL, home=tmp_path, env=env, stdin='{"a": 1}\n')
    assert result.returncode == 1
    assert "--create-channel" not in result.stderr, result.stderr


# -- locations export -o ------------------------------------------------------------------------


def export_two_locations(output: Path, *, home: Path) -> subprocess.CompletedProcess[str]:
    """``locations export`` of the emulator's tracker 'Boat' (two locations) to ``output``."""
    return cli(
        "--emulator",
        "locations",
        "export",
        "--tracker",
        "Boat",
        "-n",
        "2",
        "-o",
        str(output),
        home=home,
        timeout=15,
    )


def test_export_into_a_missing_directory_names_the_file_not_the_temporary(
    tmp_path: Path,
) -> None:
    # Refused before anything is fetched, naming the path given (not a temporary file).
    target = tmp_path / "nodir" / "track.csv"
    result = export_two_locations(target, home=tmp_path)
    assert result.returncode == 2
    assert ".doover-anyio-" not in result.stderr, result.stderr
    assert str(target) in result.stderr


def test_export_to_a_symlink_writes_through_it(tmp_path: Path) -> None:
    # `-o /dev/stdout` (a symlink to /proc/self/fd/1) or a symlinked file: os.replace
    # puts a regular file in place of the link; the link's target never gets the export
    # (and as root, -o /dev/stdout would replace /dev/stdout itself). The library's own
    # ConfigManager.write resolves the link first ("A symlinked file is replaced at its
    # target").
    target = tmp_path / "real.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    result = export_two_locations(link, home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert link.is_symlink(), "the symlink was replaced by a regular file"
    assert target.read_text().startswith("time,lat,lng")


# -- ingest from a pipe that stays open ---------------------------------------------------------


def _ingest_from_open_pipe(
    emulator: DooverEmulator, tmp_path: Path, records: int, wait_for: int
) -> tuple[int, int, str]:
    """Feed ``records`` lines into `ingest -` and keep stdin open; wait (up to 6 s) for
    ``wait_for`` of them to be stored; then Ctrl-C. Returns (stored before Ctrl-C, exit
    status, stderr)."""
    process = subprocess.Popen(
        cli_command("ingest", "-", "-c", CHANNEL, "--no-progress"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(tmp_path, doover_env_for(emulator)),
    )
    assert process.stdin is not None
    try:
        process.stdin.write("".join(json.dumps({"n": n}) + "\n" for n in range(records)))
        process.stdin.flush()
        deadline = time.monotonic() + 6
        while _stored(emulator) < wait_for and time.monotonic() < deadline:
            time.sleep(0.1)
        stored = _stored(emulator)
        process.send_signal(signal.SIGINT)
        status = process.wait(timeout=10)
        assert process.stderr is not None
        return stored, status, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdin.close()


def test_ingest_sends_records_from_an_open_pipe_without_waiting_for_512(
    emulator: DooverEmulator, tmp_path: Path
) -> None:
    # `tail -f app.log | doover-anyio ingest - -c x`: the reader thread collects
    # _CHUNK = 512 records (itertools.islice) before handing any over, so 3 records
    # piped in are never sent while the pipe stays open (0 stored after 6 s).
    stored, _, _ = _ingest_from_open_pipe(emulator, tmp_path, records=3, wait_for=3)
    assert stored == 3


def test_ctrl_c_on_ingest_from_an_open_pipe_after_everything_was_sent(
    emulator: DooverEmulator, tmp_path: Path
) -> None:
    # Records are sent as they arrive (not 512 at a time), so all 1,000 are stored
    # before the Ctrl-C, which then exits quietly with 130.
    stored, status, _ = _ingest_from_open_pipe(emulator, tmp_path, records=1000, wait_for=1000)
    assert (stored, status) == (1000, 130)


@pytest.mark.anyio
async def test_the_ingest_reader_hands_over_everything_holding_a_bounded_number() -> None:
    from pydoover_anyio.cli._ingest import _Reader

    asked_for_more = threading.Event()

    def source() -> Iterator[int]:
        for n in range(10_000):
            if n == 100:  # the reader holds 100 and reads on: it must wait for room now
                asked_for_more.set()
            yield n

    reader = _Reader(source(), most=100)  # type: ignore[arg-type]
    with anyio.fail_after(10):
        await anyio.to_thread.run_sync(asked_for_more.wait)
        await anyio.sleep(0.05)
        assert reader.unsent() == 100
        taken: list[object] = []
        while chunk := await reader.take(64):
            taken.extend(chunk)
            assert reader.unsent() <= 100
    assert taken == list(range(10_000))


class _PreemptedDeque(collections.deque[object]):
    """A deque whose length, read by the taking task, is stale by the time it is used."""

    def __len__(self) -> int:
        length = super().__len__()
        if threading.current_thread() is threading.main_thread():
            time.sleep(0.02)  # the reading thread runs meanwhile
        return length


@pytest.mark.anyio
async def test_the_ingest_reader_hands_over_records_that_came_with_the_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pydoover_anyio.cli import _ingest

    def source() -> Iterator[str]:
        time.sleep(0.01)  # the last record arrives while take() waits
        yield "last record"

    monkeypatch.setattr(_ingest, "collections", types.SimpleNamespace(deque=_PreemptedDeque))
    reader = _ingest._Reader(source(), most=100)  # type: ignore[arg-type]
    taken: list[object] = []
    with anyio.fail_after(10):
        while chunk := await reader.take(64):
            taken.extend(chunk)
    assert taken == ["last record"]
