"""``doover-anyio ingest FILE``: JSON Lines and CSV, bad lines reported, the rest stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import cli, doover_env_for
from doover_client_support import running_emulator

from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.snowflake import get_datetime_from_snowflake

BASE_S = 1_767_225_600  # 2026-01-01T00:00:00Z


@pytest.fixture
def emulator() -> Iterator[DooverEmulator]:
    yield from running_emulator("readings")


def test_jsonl_bad_lines_are_reported_with_line_numbers_and_the_rest_ingested(
    emulator: DooverEmulator, tmp_path: Path
) -> None:
    lines = [json.dumps({"n": n, "timestamp": BASE_S + n}) for n in range(1, 301)]
    lines[16] = '{"n": 17, "rpm": }'  # line 17: malformed JSON
    lines[41] = "[42]"  # line 42: not an object
    lines[99] = '{"n": 100, "timestamp": "last tuesday"}'  # line 100: bad time
    lines[149] = ""  # line 150: blank, skipped
    source = tmp_path / "data.jsonl"
    source.write_text("\n".join(lines) + "\n")

    result = cli(
        "ingest", str(source), "--channel", "readings", home=tmp_path, env=doover_env_for(emulator)
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"{source}:17: invalid JSON: Expecting value (column 18)",
        f"{source}:42: expected a JSON object, got array",
        f"{source}:100: timestamp 'last tuesday' is not ISO 8601",
    ]
    report = result.stdout.splitlines()
    assert report[0].startswith(f"{source} -> readings: 296 of 299 records stored in ")
    assert report[1:] == [
        "3 records not stored:",
        "  line 17: invalid JSON: Expecting value (column 18)",
        "  line 42: expected a JSON object, got array",
        "  line 100: timestamp 'last tuesday' is not ISO 8601",
    ]
    stored = emulator.state.messages(emulator.default_agent_id, "readings")
    assert sorted(m["data"]["n"] for m in stored) == [
        n for n in range(1, 301) if n not in (17, 42, 100, 150)
    ]
    first = min(stored, key=lambda message: int(message["id"]))
    assert first["data"] == {"n": 1}  # the timestamp field became the message's time
    assert get_datetime_from_snowflake(int(first["id"])).timestamp() == BASE_S + 1


def test_csv_rows_become_typed_messages(emulator: DooverEmulator, tmp_path: Path) -> None:
    source = tmp_path / "pump.csv"
    source.write_text(
        "timestamp,rpm,pressure_kpa,running,note\n"
        "2026-01-01T00:00:00Z,1450,301.5,true,ok\n"
        '2026-01-01T00:01:00Z,1460,,false,"two\nlines"\n'
        "2026-01-01T00:02:00Z,1470\n"
        "2026-01-01T00:03:00Z,007,1e2,maybe,\n"
    )
    result = cli(
        "ingest", str(source), "-c", "pump", "--create-channel", "--no-progress",
        home=tmp_path, env=doover_env_for(emulator),
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"{source}:5: expected 5 fields, got 2"]
    assert "3 of 4 records stored" in result.stdout
    stored = emulator.state.messages(emulator.default_agent_id, "pump")
    assert [m["data"] for m in sorted(stored, key=lambda m: int(m["id"]))] == [
        {"rpm": 1450, "pressure_kpa": 301.5, "running": True, "note": "ok"},
        {"rpm": 1460, "running": False, "note": "two\nlines"},
        {"rpm": "007", "pressure_kpa": 100.0, "running": "maybe"},
    ]

    broken = tmp_path / "broken.csv"
    broken.write_text("rpm,rpm\n1,2\n")
    header = cli("ingest", str(broken), "-c", "pump", home=tmp_path, env=doover_env_for(emulator))
    assert header.returncode == 1
    assert header.stderr.splitlines() == [
        f"doover-anyio: error: {broken}: line 1: CSV column 'rpm' is repeated"
    ]


def test_clean_stdin_exits_zero_and_a_missing_channel_is_one_line(
    emulator: DooverEmulator, tmp_path: Path
) -> None:
    records = "".join(json.dumps({"i": i}) + "\n" for i in range(120))
    clean = cli(
        "ingest", "-", "-c", "readings", home=tmp_path, env=doover_env_for(emulator), stdin=records
    )
    assert clean.returncode == 0, clean.stderr
    assert clean.stderr == ""
    assert clean.stdout.startswith("<stdin> -> readings: 120 of 120 records stored in ")
    assert len(emulator.state.messages(emulator.default_agent_id, "readings")) == 120

    missing = cli(
        "ingest", "-", "-c", "nope", home=tmp_path, env=doover_env_for(emulator), stdin=records
    )
    assert missing.returncode == 1
    [line] = missing.stderr.splitlines()
    assert line == (
        f"doover-anyio: error: channel 'nope' does not exist on agent "
        f"{emulator.default_agent_id}: pass --create-channel to create it"
    )


def test_items_the_server_refuses_are_reported_by_line(
    emulator: DooverEmulator, tmp_path: Path
) -> None:
    emulator.faults.fail(1, status=400, path="/api/agents/messages")  # the first batch
    records = "".join(json.dumps({"i": i}) + "\n" for i in range(1, 121))
    result = cli(
        "ingest", "-", "-c", "readings", "--concurrency", "1", "--batch-size", "50",
        home=tmp_path, env=doover_env_for(emulator), stdin=records,
    )  # fmt: skip
    assert result.returncode == 1
    report = result.stdout.splitlines()
    assert "70 of 120 records stored" in report[0]
    assert report[1] == "50 records not stored:"
    assert report[2].startswith("  line 1: request failed: HTTP 400 on POST ")
    assert report[21].startswith("  line 20: request failed: HTTP 400")
    assert report[22] == "  ... and 30 more"
    stored = emulator.state.messages(emulator.default_agent_id, "readings")
    assert sorted(m["data"]["i"] for m in stored) == list(range(51, 121))


def test_a_missing_file_says_so_whatever_its_name(emulator: DooverEmulator, tmp_path: Path) -> None:
    for name in ("gone", "gone.csv"):  # no extension: still "no such file", first
        missing = tmp_path / name
        result = cli(
            "ingest", str(missing), "-c", "pump", home=tmp_path, env=doover_env_for(emulator)
        )
        assert result.returncode == 1
        assert result.stderr.splitlines() == [
            f"doover-anyio: error: {missing}: No such file or directory"
        ]
