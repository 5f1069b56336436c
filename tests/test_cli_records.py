"""The CLI's I/O-free parts: ingest records, command-line times (no subprocess)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import click
import pytest

from pydoover_anyio.cli._aggregate import _read_patch
from pydoover_anyio.cli._output import format_time, parse_time
from pydoover_anyio.cli._records import (
    BadLine,
    FileFormatError,
    Record,
    format_for,
    read_csv,
    read_jsonl,
)


def test_jsonl_records_timestamps_and_bad_lines() -> None:
    raw = [
        b'\xef\xbb\xbf{"a": 1, "timestamp": "2026-01-01T00:00:00"}\n',
        b"\n",
        b'{"a": 2, "ts": 5, "timestamp": 1767225600.5}\n',
        b'{"a": 3, "timestamp": true}\n',
        b'"text"\n',
        b"\xff\xfe\n",
        b'{"a": NaN, "timestamp": Infinity}\n',
    ]
    assert list(read_jsonl(raw)) == [
        Record(1, {"a": 1}, 1_767_225_600_000),
        Record(3, {"a": 2, "ts": 5}, 1_767_225_600_500),
        BadLine(4, "timestamp must be a time, not true"),
        BadLine(5, "expected a JSON object, got str"),
        BadLine(6, "not UTF-8 text (byte 1)"),
        BadLine(7, "timestamp must be a finite number, not inf"),
    ]
    assert list(read_jsonl([b'{"ts": 1767225600000}'], timestamp_field="ts", unit="ms")) == [
        Record(1, {}, 1_767_225_600_000)
    ]
    # An ISO time is counted in whole milliseconds (no float rounding up past .123999).
    assert list(read_jsonl([b'{"timestamp": "2026-01-01T00:00:00.123999+00:00"}'])) == [
        Record(1, {}, 1_767_225_600_123)
    ]
    assert list(read_jsonl([b'{"timestamp": "x"}'], timestamp_field="")) == [
        Record(1, {"timestamp": "x"}, None)
    ]
    # Nesting Python's json cannot read is that line's error, not the whole file's.
    deep = b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}\n"
    assert list(read_jsonl([deep, b'{"a": 1}'])) == [
        BadLine(1, "invalid JSON: nested too deeply to read"),
        Record(2, {"a": 1}, None),
    ]
    # So is an integer of more digits than Python converts.
    huge = b'{"a": ' + b"1" * 5000 + b"}\n"
    assert list(read_jsonl([huge, b'{"a": 1}'])) == [
        BadLine(1, "invalid JSON: a number has more than 4300 digits"),
        Record(2, {"a": 1}, None),
    ]


def test_a_lone_carriage_return_ends_a_jsonl_line() -> None:
    raw = [b'{"a": 1}\r{"a": 2}\r\n', b'{"a": 3}\r\n', b'{"a": 4}\r{"a": 5}\r', b"\r"]
    assert list(read_jsonl(raw)) == [Record(n, {"a": n}, None) for n in range(1, 6)]
    numbered = [b'{"a": 1}\r\rx\n', b'{"a": 2}\n']  # a blank line counts, as for \n
    assert list(read_jsonl(numbered)) == [
        Record(1, {"a": 1}, None),
        BadLine(3, "invalid JSON: Expecting value (column 1)"),
        Record(4, {"a": 2}, None),
    ]


def test_a_csv_cell_of_too_many_digits_is_that_rows_error() -> None:
    text = "a,b\n1,2\n" + "1" * 5000 + ",3\n4,5\n"
    assert list(read_csv(io.StringIO(text))) == [
        Record(2, {"a": 1, "b": 2}, None),
        BadLine(3, "a number has more than 4300 digits"),
        Record(4, {"a": 4, "b": 5}, None),
    ]


#: What the CLI says of DATA Python's json reads but JSON cannot send.
NO_JSON_FORM = (
    "DATA cannot be sent: NaN, infinities and numbers beyond a double's range have no JSON form"
)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"a": NaN}', NO_JSON_FORM),
        ('{"a": -Infinity}', NO_JSON_FORM),
        ('{"a": 1e999}', NO_JSON_FORM),
        ('{"a": ' + "[" * 5000 + "]" * 5000 + "}", "DATA is nested too deeply to read"),
        ('{"a": }', "DATA is not valid JSON: Expecting value (line 1 column 7)"),
        ("[1]", "DATA must be a JSON object, not list"),
        ('{"a": ' + "1" * 5000 + "}", "DATA is not valid JSON: a number has more than 4300 digits"),
    ],
)
def test_aggregate_patch_data_python_reads_but_json_has_not_is_a_usage_error(
    text: str, error: str
) -> None:
    with pytest.raises(click.BadParameter) as raised:
        _read_patch(text)
    assert raised.value.message == error
    assert _read_patch('{"a": 1.5, "b": null}') == {"a": 1.5, "b": None}


def test_csv_cells_line_numbers_and_headers() -> None:
    text = 'name,n,x,flag\n\nalpha,1,2.5,true\n"be\nta",-3,1e3,false\ngamma,007,,no\nshort\n'
    assert list(read_csv(io.StringIO(text))) == [
        Record(3, {"name": "alpha", "n": 1, "x": 2.5, "flag": True}, None),
        Record(4, {"name": "be\nta", "n": -3, "x": 1000.0, "flag": False}, None),
        Record(6, {"name": "gamma", "n": "007", "flag": "no"}, None),
        BadLine(7, "expected 4 fields, got 1"),
    ]
    with pytest.raises(FileFormatError, match="column 'a' is repeated"):
        list(read_csv(io.StringIO("a,a\n1,2\n")))
    with pytest.raises(FileFormatError, match="needs a header row"):
        list(read_csv(io.StringIO("")))


def test_format_from_extension() -> None:
    assert format_for("x.ndjson", None) == "jsonl"
    assert format_for("X.CSV", None) == "csv"
    assert format_for("-", None) == "jsonl"
    assert format_for("x.txt", "csv") == "csv"
    with pytest.raises(FileFormatError, match="--format"):
        format_for("x.txt", None)


def test_command_line_times() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_time("now", now=now) == now
    assert parse_time("90s", now=now) == now - timedelta(seconds=90)
    assert parse_time("2h", now=now) == now - timedelta(hours=2)
    assert parse_time("1.5d", now=now) == now - timedelta(hours=36)
    assert parse_time("2026-02-01", now=now) == datetime(2026, 2, 1, tzinfo=UTC)
    assert parse_time("2026-02-01T10:00+10:00", now=now) == datetime(2026, 2, 1, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="is not a time"):
        parse_time("yesterday", now=now)
    assert format_time(datetime(2026, 2, 1, 10, 0, 0, 123456, tzinfo=UTC)) == (
        "2026-02-01T10:00:00.123Z"
    )
