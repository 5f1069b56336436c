"""Request encoding: the query table of spec §1.3, channel path segments, compact/gzip JSON
bodies (§6.4) and multipart uploads (§3.4)."""

from __future__ import annotations

import dataclasses
import email.parser
import email.policy
import gzip
import json
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlencode

import httpx
import httpx._multipart
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydoover.api.data._base import BaseClient

from pydoover_anyio._wire import (
    MIN_COMPRESS_SIZE,
    UNSET,
    build_query,
    channel_segment,
    encode_json,
    json_body,
    multipart_body,
)
from pydoover_anyio.models import (
    AlarmMessages,
    AlarmStateMessage,
    BatchMutationItem,
    Condition,
    File,
    NotificationSeverity,
    NotificationTopicFilterMode,
)

INSTANT = datetime(2026, 3, 15, 12, 34, 56, 789000, tzinfo=UTC)
UNRESERVED = "ABCXYZabcxyz0189-._~"

# -- query strings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (None, []),
        (UNSET, []),
        (True, ["true"]),
        (False, ["false"]),
        (50, ["50"]),
        ("pump log", ["pump log"]),
        (["a", "b"], ["a", "b"]),
        ([], []),
        ((1, None, True), ["1", "true"]),
        (NotificationTopicFilterMode.regex, ["regex"]),
        (NotificationSeverity.Warn, ["6"]),
        (1.5, ["1.5"]),
    ],
)
def test_query_table(value: object, wire: list[str]) -> None:
    assert build_query([("k", value)]) == tuple(("k", text) for text in wire)


def test_datetimes_become_snowflake_bounds_for_before_and_after() -> None:
    pairs = build_query(
        [("before", INSTANT), ("after", INSTANT.replace(tzinfo=None)), ("limit", 5)]
    )
    assert pairs == (
        ("before", "158915873636089856"),
        ("after", "158915873636089856"),
        ("limit", "5"),
    )


@pytest.mark.parametrize("value", [INSTANT, {"a": 1}, b"raw", object()])
def test_values_without_a_query_form_are_refused(value: object) -> None:
    with pytest.raises(TypeError, match="'since'"):
        build_query([("since", value)])


def test_order_is_kept_and_nothing_dropped_gives_no_pairs() -> None:
    assert build_query([("b", 1), ("a", 2), ("b", 3)]) == (("b", "1"), ("a", "2"), ("b", "3"))
    assert build_query([("a", None), ("b", UNSET), ("c", [])]) == ()


QUERIES: list[dict[str, Any]] = [
    {"include_aggregate": True, "include_daily_summaries": False},
    {"before": 158915873636352805, "after": None, "limit": 50, "field_name": ["rpm", "flow rate"]},
    {"agent_id": [1, 2, 3], "agent_message_limit": 4, "field_name": []},
    {"name": "Ops e-mail & pager/2", "subscribed_to": None},
    {"suppress_response": True, "clear_attachments": None, "replace": ["state.children.a b"]},
    {"channel": json.dumps({"agent_id": "5", "name": "pump status"})},
    {"x": None},
]


@pytest.mark.parametrize("params", QUERIES)
def test_query_string_is_byte_identical_to_pydoover(params: dict[str, Any]) -> None:
    pairs = build_query(params.items())
    expected = BaseClient._build_query(params)
    assert ("?" + urlencode(pairs) if pairs else "") == expected
    # What httpx puts on the wire from these pairs is the same string.
    url = httpx.URL("https://data.doover.com/api/x", params=list(pairs))
    assert ("?" + url.query.decode() if url.query else "") == expected


# -- channel names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["pump_status", "notifications", "a.b-c~d", UNRESERVED, "tag_values"]
)
def test_unreserved_names_give_pydoovers_path(name: str) -> None:
    agent = 204101873322459136
    assert f"/agents/{agent}/channels/{channel_segment(name)}/messages" == (
        f"/agents/{agent}/channels/{name}/messages"
    )


@pytest.mark.parametrize(
    ("name", "segment"),
    [
        ("pump log", "pump%20log"),
        ("a/b", "a%2Fb"),
        ("what?", "what%3F"),
        ("#1", "%231"),
        ("100%", "100%25"),
        ("naïve", "na%C3%AFve"),
        ("a+b", "a%2Bb"),
        ("...", "..."),
    ],
)
def test_other_characters_are_escaped(name: str, segment: str) -> None:
    assert channel_segment(name) == segment


@pytest.mark.parametrize("name", ["", ".", ".."])
def test_names_a_url_cannot_hold_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="channel name"):
        channel_segment(name)


def test_non_str_names_are_refused() -> None:
    with pytest.raises(TypeError):
        channel_segment(5)  # type: ignore[arg-type]


@given(st.text(min_size=1).filter(lambda n: n not in (".", "..")))
def test_any_name_is_one_reversible_segment(name: str) -> None:
    segment = channel_segment(name)
    assert unquote(segment, errors="surrogatepass") == name
    assert all(c.isascii() and (c.isalnum() or c in "-._~%") for c in segment)
    request = httpx.Request("GET", f"https://h/api/agents/1/channels/{segment}/messages")
    assert request.url.raw_path == f"/api/agents/1/channels/{segment}/messages".encode()


# -- JSON bodies ---------------------------------------------------------------------------


def compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    "obj",
    [
        {"data": {"rpm": 1460, "pressure_kpa": 312.5, "ok": True, "none": None}},
        {"items": [{"agent_id": "204101873322459136", "channel_name": "c"}]},
        [1, 2.5, "x", [], {}],
    ],
)
def test_json_is_compact_like_pydoover(obj: Any) -> None:
    body, headers = json_body(obj, None, None)
    assert body == compact(obj)
    assert headers == {"Content-Type": "application/json"}


@pytest.mark.parametrize("length", [MIN_COMPRESS_SIZE - 1, MIN_COMPRESS_SIZE, 5000])
def test_gzip_threshold(length: int) -> None:
    obj = {"data": "x" * (length - len(compact({"data": ""})))}
    raw = compact(obj)
    assert len(raw) == length
    body, headers = json_body(obj, "gzip", None)
    if length < 50:
        assert body == raw
        assert headers == {"Content-Type": "application/json"}
    else:
        assert gzip.decompress(body) == raw
        assert headers == {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        assert body == json_body(obj, "gzip", None)[0]  # deterministic (mtime 0)


def test_gzip_levels() -> None:
    obj = {"data": list(range(500))}
    fast, _ = json_body(obj, "gzip", 1)
    best, _ = json_body(obj, "gzip", 9)
    assert gzip.decompress(fast) == gzip.decompress(best) == compact(obj)
    assert json_body(obj, "gzip", 0)[0] != fast
    for level in (-1, 10):
        with pytest.raises(ValueError, match="compress_level"):
            json_body(obj, "gzip", level)
    with pytest.raises(ValueError, match="compress"):
        json_body(obj, "zstd", None)


def test_non_ascii_is_utf8_and_big_ids_stay_exact() -> None:
    body, _ = json_body({"name": "pompe n°3", "id": 2**63 - 1}, None, None)
    assert body == '{"name":"pompe n°3","id":9223372036854775807}'.encode()


def test_argument_models_are_sent_as_their_wire_form() -> None:
    item = BatchMutationItem(
        204101873322459136, "c", data={"a": 1}, message_id=5, timestamp=INSTANT
    )
    conditions = [Condition.threshold("t", "gt", 30), Condition.time_of_day(0, 1000, invert=True)]
    messages = AlarmMessages(ok=AlarmStateMessage(notify=False))
    payload = {"items": [item], "conditions": conditions, "messages": messages}
    expected = {
        "items": [item.to_dict()],
        "conditions": [c.to_dict() for c in conditions],
        "messages": {"ok": {"notify": False}},
    }
    assert json.loads(encode_json(payload)) == expected
    assert encode_json(item) == compact(item.to_dict())


def test_values_without_json_form_are_refused() -> None:
    with pytest.raises(TypeError):
        json_body({"x": object()}, "gzip", None)


@dataclasses.dataclass
class Reading:
    value: float


@pytest.mark.parametrize(
    "value",
    [math.nan, -math.inf, (1.0, math.inf), {math.nan}, Reading(math.nan), Decimal("-Infinity")],
)
def test_nan_and_infinities_are_refused_wherever_they_are(value: object) -> None:
    with pytest.raises(ValueError, match="JSON"):
        encode_json({"data": {"n": None, "deep": [{"v": value}]}})


@pytest.mark.parametrize("value", [Decimal("1E+400"), Decimal("-1e400"), Decimal("1E-400")])
def test_decimals_beyond_a_doubles_range_are_refused(value: Decimal) -> None:
    # Valid JSON, but no server reads 1E+400 as a number: the body would fail whole.
    with pytest.raises(ValueError, match="beyond a double's range"):
        encode_json({"data": {"deep": [value]}})
    assert encode_json([Decimal("1.5E-10"), Decimal("1E+300"), "E+ in text"]) == (
        b'[1.5E-10,1E+300,"E+ in text"]'
    )


def test_nulls_and_null_text_alone_are_sent() -> None:
    payload = {"n": None, "s": "null", "f": 1.5, "r": Reading(2.0)}
    assert encode_json(payload) == b'{"n":null,"s":"null","f":1.5,"r":{"value":2.0}}'


def test_a_value_nested_past_the_encoders_depth_is_a_value_error() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError, match="nested"):
        encode_json(deep)


def test_unset_is_msgspecs_sentinel() -> None:
    assert UNSET is msgspec.UNSET
    assert not UNSET
    assert repr(UNSET) == "UNSET"


# -- multipart -----------------------------------------------------------------------------


def parse_multipart(body: bytes, headers: dict[str, str]) -> list[Any]:
    head = f"Content-Type: {headers['Content-Type']}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    assert message.is_multipart()
    return list(message.iter_parts())


def test_multipart_layout() -> None:
    files = [
        File("snap.jpg", "image/jpeg", 4, b"\xff\xd8\r\n"),
        File('odd "name"\r\n.bin', "", 3, bytearray(b"abc")),
    ]
    body, headers = multipart_body({"data": {"rpm": 1460}}, files)
    assert set(headers) == {"Content-Type"}
    boundary = headers["Content-Type"].removeprefix("multipart/form-data; boundary=")
    assert body.startswith(f"--{boundary}\r\n".encode())
    assert body.endswith(f"\r\n--{boundary}--\r\n".encode())
    payload, first, second = parse_multipart(body, headers)
    assert payload.get_param("name", header="content-disposition") == "json_payload"
    assert payload.get_filename() is None
    assert payload.get_content_type() == "application/json"
    assert payload.get_payload(decode=True) == b'{"data":{"rpm":1460}}'
    assert first.get_param("name", header="content-disposition") == "attachment-1"
    assert first.get_filename() == "snap.jpg"
    assert first.get_content_type() == "image/jpeg"
    assert first.get_payload(decode=True) == b"\xff\xd8\r\n"
    assert second.get_param("name", header="content-disposition") == "attachment-2"
    assert second.get_filename() == "odd %22name%22%0D%0A.bin"
    assert second.get_content_type() == "application/octet-stream"
    assert second.get_payload(decode=True) == b"abc"


@pytest.mark.parametrize(
    "filename", [" C:\\new\\x.txt ", 'a "b"\r\n\t\x1b\x7f.bin', "snap é.jpg", ""]
)
def test_multipart_filenames_are_written_as_httpx_writes_them(filename: str) -> None:
    # pydoover's sync client sends its files through httpx.
    body, _ = multipart_body({}, [File(filename, "text/plain", 1, b"x")])
    expected = httpx._multipart._format_form_param("filename", filename)
    assert b"; " + expected + b"\r\n" in body


def test_multipart_aggregate_payload_and_no_files() -> None:
    body, headers = multipart_body({"state": {"mode": "auto"}}, [])
    (payload,) = parse_multipart(body, headers)
    assert payload.get_payload(decode=True) == b'{"state":{"mode":"auto"}}'


def test_multipart_boundaries_are_fresh_and_never_inside_a_part() -> None:
    boundaries = {multipart_body({}, [])[1]["Content-Type"] for _ in range(20)}
    assert len(boundaries) == 20
    body, headers = multipart_body({}, [File("f", "text/plain", 1, b"x")])
    boundary = headers["Content-Type"].split("boundary=")[1].encode()
    assert body.count(boundary) == 3


def test_multipart_refuses_bad_files() -> None:
    with pytest.raises(TypeError, match="bytes"):
        multipart_body({}, [File("f", "text/plain", 1, "text")])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="content type"):
        multipart_body({}, [File("f", "text/plain\r\nX-Evil: 1", 1, b"x")])


def test_files_have_no_json_form() -> None:
    with pytest.raises(TypeError, match="File"):
        encode_json({"data": File("f", "text/plain", 1, b"x")})
