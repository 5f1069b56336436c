"""Records of an ingest file: JSON Lines or CSV rows to message data, I/O-free.

Rules this module enforces (``docs/cli.md`` has the user's version):

* JSON Lines: every non-blank line is one JSON object, the message's data. CSV: a
  header row names the fields, every other non-blank row is one message; a cell that
  reads as a number (``-12``, ``3.5``, ``1e3``, but not ``007``) or as ``true`` /
  ``false`` becomes one, an empty cell leaves its field out, anything else is a string.
* The timestamp field (``timestamp`` unless told otherwise; none with ``""``) is taken
  out of the data and becomes the message's time: an ISO 8601 string (no offset means
  UTC) or a number of Unix seconds (milliseconds with ``unit="ms"``). Without it the
  message is stamped when it is sent.
* A line that cannot be a message becomes a :class:`BadLine` with its 1-based line
  number and the reason, and reading goes on with the next line. Only a broken CSV
  header stops the file (:class:`FileFormatError`).
"""

from __future__ import annotations

import csv
import json
import math
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from ..snowflake import datetime_to_ms

__all__ = [
    "BadLine",
    "FileFormatError",
    "Record",
    "RecordFormat",
    "format_for",
    "read_csv",
    "read_jsonl",
    "too_long_number",
]


class RecordFormat(StrEnum):
    """The formats ``ingest`` reads."""

    JSONL = "jsonl"
    CSV = "csv"


_SUFFIXES: Final = {
    ".jsonl": RecordFormat.JSONL,
    ".ndjson": RecordFormat.JSONL,
    ".json": RecordFormat.JSONL,
    ".csv": RecordFormat.CSV,
}


class FileFormatError(ValueError):
    """The file cannot be read at all (a CSV without a usable header, an unknown format)."""


@dataclass(frozen=True, slots=True)
class Record:
    """One message to ingest: its line, its data and its time (Unix ms, or ``None``)."""

    line: int
    data: dict[str, Any]
    timestamp: int | None


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that is not a message, and why."""

    line: int
    error: str


def format_for(path: str, given: str | None) -> RecordFormat:
    """The format to read ``path`` in: ``given``, else from its extension.

    Raises:
        FileFormatError: No format given and the extension says none.
    """
    if given is not None:
        return RecordFormat(given)
    if path == "-":
        return RecordFormat.JSONL
    for suffix, found in _SUFFIXES.items():
        if path.lower().endswith(suffix):
            return found
    raise FileFormatError(
        f"cannot tell the format of {path!r} from its extension: pass --format jsonl or csv"
    )


def _timestamp(value: Any, unit: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"timestamp must be a time, not {json.dumps(value)}")  # noqa: TRY004
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"timestamp must be a finite number, not {value}")
        return int(value) if unit == "ms" else round(value * 1000)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"timestamp {value!r} is not ISO 8601") from None
        return datetime_to_ms(moment)  # naive = UTC; whole milliseconds, like the library
    raise ValueError(f"timestamp must be a string or a number, not {type(value).__name__}")


def _record(line: int, data: dict[str, Any], field: str, unit: str) -> Record | BadLine:
    if not field or field not in data:
        return Record(line, data, None)
    value = data.pop(field)
    try:
        return Record(line, data, _timestamp(value, unit))
    except ValueError as exc:
        return BadLine(line, str(exc))


def _split_at_lone_cr(lines: Iterable[bytes]) -> Iterator[bytes]:
    """``lines`` (split at ``\\n``) split at a lone ``\\r`` too: old Mac line ends. JSON
    has no raw ``\\r`` inside a string, so this never cuts a value in two."""
    for raw in lines:
        first = raw.find(b"\r")
        if first < 0 or (first == len(raw) - 2 and raw.endswith(b"\n")):
            yield raw  # (nearly every line: no copy)
            continue
        body = raw.removesuffix(b"\r\n")
        *parts, last = body.split(b"\r")
        yield from parts
        yield last + raw[len(body) :]


def read_jsonl(
    lines: Iterable[bytes], *, timestamp_field: str = "timestamp", unit: str = "s"
) -> Iterator[Record | BadLine]:
    """Records of JSON Lines, given as raw lines (``\\n`` kept or not); ``\\n``,
    ``\\r\\n`` and a lone ``\\r`` each end a line."""
    for number, raw in enumerate(_split_at_lone_cr(lines), start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield BadLine(number, f"not UTF-8 text (byte {exc.start + 1})")
            continue
        if number == 1:
            text = text.removeprefix("\ufeff")
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            yield BadLine(number, f"invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        except RecursionError:
            yield BadLine(number, "invalid JSON: nested too deeply to read")
            continue
        except ValueError:  # the only other one: an integer too long to convert
            yield BadLine(number, f"invalid JSON: {too_long_number()}")
            continue
        if not isinstance(value, dict):
            kind = "array" if isinstance(value, list) else type(value).__name__
            yield BadLine(number, f"expected a JSON object, got {kind}")
            continue
        yield _record(number, value, timestamp_field, unit)


_INT: Final = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
_FLOAT: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")
_MISSING: Final = object()


def too_long_number() -> str:
    """Why Python's ``int`` (and ``json``) refuse an integer of too many digits."""
    return f"a number has more than {sys.get_int_max_str_digits()} digits"


def _cell(text: str) -> Any:
    """A CSV cell's value (``_MISSING`` when empty).

    Raises:
        ValueError: an integer too long to read.
    """
    if not text:
        return _MISSING
    if text == "true":
        return True
    if text == "false":
        return False
    if _INT.match(text):
        try:
            return int(text)
        except ValueError:
            raise ValueError(too_long_number()) from None
    if _FLOAT.match(text):
        return float(text)
    return text


def _valid_text(row: list[str]) -> bool:
    try:
        "".join(row).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def read_csv(
    lines: Iterable[str], *, timestamp_field: str = "timestamp", unit: str = "s"
) -> Iterator[Record | BadLine]:
    """Records of a CSV file with a header row, given as text lines.

    Decode the file with ``errors="surrogateescape"``: a row with bytes that are not
    UTF-8 is then one :class:`BadLine` instead of the end of the file.

    Raises:
        FileFormatError: The header is missing, not UTF-8, or has an empty or repeated
            column name.
    """
    reader = csv.reader(lines, strict=True)
    end = 0  # the last physical line read: a record may span several (quoted newlines)
    header: list[str] | None = None
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            end = reader.line_num
            if header is None:
                raise FileFormatError(f"line {start}: the CSV header is malformed: {exc}") from None
            yield BadLine(start, f"malformed CSV: {exc}")
            continue
        end = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if header is None:
            if not _valid_text(row):
                raise FileFormatError(f"line {start}: the CSV header is not UTF-8 text")
            header = [name.strip().removeprefix("\ufeff") for name in row]
            empty = [index + 1 for index, name in enumerate(header) if not name]
            if empty:
                raise FileFormatError(f"line {start}: CSV column {empty[0]} has no name")
            repeated = sorted({name for name in header if header.count(name) > 1})
            if repeated:
                raise FileFormatError(f"line {start}: CSV column {repeated[0]!r} is repeated")
            continue
        if len(row) != len(header):
            yield BadLine(start, f"expected {len(header)} fields, got {len(row)}")
            continue
        if not _valid_text(row):
            yield BadLine(start, "not UTF-8 text")
            continue
        try:
            values = [(name, _cell(text)) for name, text in zip(header, row, strict=True)]
        except ValueError as exc:
            yield BadLine(start, str(exc))
            continue
        data = {name: value for name, value in values if value is not _MISSING}
        yield _record(start, data, timestamp_field, unit)
    if header is None:
        raise FileFormatError("the CSV file is empty: it needs a header row")
