"""Message endpoints: list, fetch, create, update, delete, logs, files, timeseries (§3.2).

Rules this module enforces:

* ``before`` and ``after`` are exclusive snowflake bounds. With ``after`` alone the
  ``limit`` oldest messages after it come back oldest first; otherwise (``before``
  alone, both, or neither) the ``limit`` newest of the window come back newest first.
  A channel's ``history_since`` hides older messages.
* ``field_name`` (repeated) projects each message's data to those dotted paths.
* ``POST .../messages`` mints the id (at ``ts`` when given, Unix ms); ``POST
  .../messages/{m}`` creates at that id and is idempotent. Both take JSON
  ``{"data", "ts"?}`` or multipart (``json_payload`` + ``attachment-N`` parts).
* ``PATCH`` merges into the data, ``PUT`` replaces it; ``clear_attachments=true`` drops
  the old files first; ``suppress_response=true`` answers an empty 200.
* Attachment downloads honour a byte ``Range`` (see :mod:`._attachments`).
* ``/messages/timeseries`` returns ``{"count", "results": [{"value", "message_id"}],
  "next"}`` newest first; ``next`` (the last id returned) is set when more remain. With
  one ``field_name`` each value is that field's value, with several an object of them.
"""

from __future__ import annotations

from typing import Any

from ._attachments import attachment_response
from ._http import ApiError, Request, Response, Upload, empty, json_response, parse_id, raw_json
from ._ids import DOOVER_EPOCH_MS, bound_for_ms
from ._jsondata import MISSING, get_path, project
from ._router import Route
from ._state import DooverState
from ._store import ChannelRecord, encode_message

__all__ = ["ROUTES", "history_floor", "message_bounds", "optional_int", "timeseries_response"]


def message_bounds(request: Request) -> tuple[int | None, int | None]:
    """The ``after`` and ``before`` query bounds (400 when not ids)."""
    after, before = request.first("after"), request.first("before")
    return (
        None if after is None else parse_id(after, "after"),
        None if before is None else parse_id(before, "before"),
    )


def history_floor(channel: ChannelRecord, after: int | None) -> int | None:
    """Raise the lower bound to the channel's ``history_since``, if it has one."""
    if channel.history_since is None:
        return after
    floor = bound_for_ms(channel.history_since) - 1
    return floor if after is None else max(after, floor)


def timeseries_response(
    points: list[tuple[int, Any]], limit: int, *, paginate: bool = True
) -> Response:
    """Encode newest-first ``(message_id, value)`` points as a TimeseriesResponse; its
    ``next`` cursor only when ``paginate`` (and more points remain)."""
    page = points[:limit]
    results = [{"value": value, "message_id": str(message_id)} for message_id, value in page]
    more = paginate and len(points) > limit
    return json_response(
        {
            "count": len(results),
            "results": results,
            "next": str(page[-1][0]) if more and page else None,
        }
    )


def _payload(request: Request) -> tuple[dict[str, Any], list[Upload]]:
    """The JSON object of a message write (plain or multipart) and its files."""
    if request.is_multipart:
        payload, uploads = request.multipart()
        if payload is None:
            raise ApiError(400, "the multipart body has no json_payload part")
    else:
        payload, uploads = request.json(), []
    if not isinstance(payload, dict) or "data" not in payload:
        raise ApiError(400, 'the body must be an object with "data"')
    return payload, uploads


def message_ts(payload: dict[str, Any]) -> int | None:
    """A write's ``ts`` (Unix ms), ``None`` when absent or null.

    One before the ids' epoch (2025-01-01) is refused, not clamped to it: it is
    almost always seconds sent for milliseconds.
    """
    ts = optional_int(payload, "ts")
    if ts is not None and ts < DOOVER_EPOCH_MS:
        raise ApiError(400, f"ts {ts} is before 2025-01-01 (Unix milliseconds are expected)")
    return ts


def optional_int(payload: dict[str, Any], name: str) -> int | None:
    """``payload[name]``: a non-negative integer, or ``None`` when absent or null."""
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ApiError(400, f"{name} must be a non-negative integer")
    return value


def list_messages(state: DooverState, request: Request) -> Response:
    """``GET /agents/{a}/channels/{c}/messages``."""
    channel = state.channel(request.agent(), request.channel())
    after, before = message_bounds(request)
    limit = state.clamp_limit(request.integer("limit"))
    oldest_first = after is not None and before is None
    records = channel.messages.window(
        history_floor(channel, after), before, limit, oldest_first=oldest_first
    )
    fields = request.query.get("field_name")
    if fields:
        bodies = [
            encode_message(r.id, r.author_id, channel.ref, project(r.data, fields), r.attachments)
            for r in records
        ]
    else:
        bodies = [r.body for r in records]
    return raw_json(b"[" + b",".join(bodies) + b"]")


def fetch_message(state: DooverState, request: Request) -> Response:
    """``GET /agents/{a}/channels/{c}/messages/{m}``."""
    channel = state.channel(request.agent(), request.channel())
    return raw_json(state.message(channel, request.id("message_id")).body)


def create_message(state: DooverState, request: Request) -> Response:
    """``POST .../messages`` (server-minted id) and ``POST .../messages/{m}`` (at an id)."""
    channel = state.channel(request.agent(), request.channel())
    payload, uploads = _payload(request)
    message_id = request.id("message_id") if "message_id" in request.params else None
    record, _ = state.create_message(
        channel,
        request.caller(),
        payload["data"],
        at_ms=message_ts(payload),
        message_id=message_id,
        ttl=optional_int(payload, "ttl"),
        uploads=uploads,
    )
    return raw_json(record.body)


def update_message(state: DooverState, request: Request) -> Response:
    """``PATCH`` (merge) / ``PUT`` (replace) ``.../messages/{m}``."""
    channel = state.channel(request.agent(), request.channel())
    payload, uploads = _payload(request)
    record = state.update_message(
        channel,
        request.id("message_id"),
        payload["data"],
        replace=request.method == "PUT",
        uploads=uploads,
        clear_attachments=request.flag("clear_attachments"),
    )
    if request.flag("suppress_response"):
        return empty()
    return raw_json(record.body)


def delete_message(state: DooverState, request: Request) -> Response:
    """``DELETE .../messages/{m}``."""
    channel = state.channel(request.agent(), request.channel())
    state.delete_message(channel, request.id("message_id"))
    return empty()


def fetch_message_logs(state: DooverState, request: Request) -> Response:
    """``GET .../messages/{m}/logs``: the processor logs recorded for the message."""
    channel = state.channel(request.agent(), request.channel())
    message_id = request.id("message_id")
    state.message(channel, message_id)
    return json_response(state.message_logs.get((channel.owner_id, channel.name, message_id), []))


def fetch_message_attachment(state: DooverState, request: Request) -> Response:
    """``GET .../messages/{m}/attachments/{attachment_id}``: the file's bytes."""
    channel = state.channel(request.agent(), request.channel())
    message_id = request.id("message_id")
    state.message(channel, message_id)
    attachment_id = request.id("attachment_id")
    upload = state.file(attachment_id, channel, message_id)
    return attachment_response(upload, attachment_id, request)


def fetch_timeseries(state: DooverState, request: Request) -> Response:
    """``GET .../messages/timeseries``; a ``next`` cursor only with ``paginate=true``
    (spec §3.2: doover-js asks for it so)."""
    channel = state.channel(request.agent(), request.channel())
    fields = request.query.get("field_name", [])
    if not fields:
        raise ApiError(400, "field_name is required")
    after, before = message_bounds(request)
    limit = state.clamp_limit(request.integer("limit"))
    points: list[tuple[int, Any]] = []
    for record in channel.messages.newest_first(history_floor(channel, after), before):
        values = {}
        for field in fields:
            value = get_path(record.data, field)
            if value is not MISSING:
                values[field] = value
        if values:
            points.append((record.id, values.get(fields[0]) if len(fields) == 1 else values))
            if len(points) > limit:
                break
    return timeseries_response(points, limit, paginate=request.flag("paginate"))


_MESSAGES = "/agents/{agent_id}/channels/{channel_name}/messages"
_MESSAGE = _MESSAGES + "/{message_id}"

ROUTES = [
    Route("GET", _MESSAGES, list_messages),
    Route("POST", _MESSAGES, create_message),
    Route("GET", _MESSAGES + "/timeseries", fetch_timeseries),
    Route("GET", _MESSAGE, fetch_message),
    Route("POST", _MESSAGE, create_message),
    Route("PATCH", _MESSAGE, update_message),
    Route("PUT", _MESSAGE, update_message),
    Route("DELETE", _MESSAGE, delete_message),
    Route("GET", _MESSAGE + "/logs", fetch_message_logs),
    Route("GET", _MESSAGE + "/attachments/{attachment_id}", fetch_message_attachment),
]
