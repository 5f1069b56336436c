"""Channel, aggregate and data-series endpoints (spec §3.1, §3.5).

Rules this module enforces:

* Listings hide archived channels unless ``include_archived=true`` (a doover-js
  parameter); ``aggregate`` and ``daily_message_summaries`` are included only when
  asked for (``include_aggregate`` / ``include_daily_summaries`` = ``true``).
* Create (POST) is a 409 for an existing channel and answers ``{"id": "<snowflake>"}``;
  PUT creates or replaces the settings and requires ``is_private``.
* An aggregate PATCH deep-merges (``null`` deletes, ``replace=<path>`` overwrites a
  subtree), PUT replaces; the body is the data object itself (or a multipart
  ``json_payload`` with attachments). ``log_update`` also stores the patch as a message;
  ``suppress_response`` answers an empty 200.
* ``/data_series`` reads ``<channel>.<dotted.path>`` field names (the first segment
  names the channel) from the agent's messages, newest first.
"""

from __future__ import annotations

from typing import Any

from ._attachments import attachment_response
from ._http import ApiError, Request, Response, empty, json_response
from ._jsondata import MISSING, get_path
from ._router import Route
from ._routes_messages import history_floor, message_bounds, timeseries_response
from ._state import DooverState

__all__ = ["ROUTES"]

_SETTINGS_TYPES: dict[str, tuple[type, ...]] = {
    "message_schema": (dict,),
    "aggregate_schema": (dict,),
    "history_since": (int,),
    "default_ttl": (int,),
}


def _settings(body: dict[str, Any], *, require_private: bool) -> dict[str, Any]:
    """Validate a channel create/put body into keyword arguments."""
    if require_private and "is_private" not in body:
        raise ApiError(400, "is_private is required")
    settings: dict[str, Any] = {"is_private": body.get("is_private", False)}
    if not isinstance(settings["is_private"], bool):
        raise ApiError(400, "is_private must be a boolean")
    for name, kinds in _SETTINGS_TYPES.items():
        value = body.get(name)
        if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
            raise ApiError(400, f"{name} has the wrong type")
        settings[name] = value
    if settings["default_ttl"] is not None and settings["default_ttl"] <= 0:
        raise ApiError(400, "default_ttl must be positive")
    return settings


def list_channels(state: DooverState, request: Request) -> Response:
    """``GET /agents/{a}/channels``."""
    include_aggregate = request.flag("include_aggregate")
    include_daily = request.flag("include_daily_summaries")
    include_archived = request.flag("include_archived")
    channels = state.agent(request.agent()).channels.values()
    return json_response(
        [
            c.wire(include_aggregate=include_aggregate, include_daily_summaries=include_daily)
            for c in channels
            if include_archived or not c.archived
        ]
    )


def fetch_channel(state: DooverState, request: Request) -> Response:
    """``GET /agents/{a}/channels/{c}``."""
    channel = state.channel(request.agent(), request.channel())
    include_aggregate = request.flag("include_aggregate")
    return json_response(
        channel.wire(include_aggregate=include_aggregate, include_daily_summaries=False)
    )


def create_channel(state: DooverState, request: Request) -> Response:
    """``POST /agents/{a}/channels/{c}``."""
    settings = _settings(request.json_object(required=False), require_private=False)
    channel = state.create_channel(request.agent(), request.channel(), **settings)
    return json_response({"id": str(channel.id)})


def put_channel(state: DooverState, request: Request) -> Response:
    """``PUT /agents/{a}/channels/{c}``."""
    settings = _settings(request.json_object(), require_private=True)
    channel = state.put_channel(request.agent(), request.channel(), settings)
    return json_response(channel.wire(include_aggregate=True, include_daily_summaries=False))


def archive_channel(state: DooverState, request: Request) -> Response:
    """``POST /agents/{a}/channels/{c}/archive``."""
    state.channel(request.agent(), request.channel()).archived = True
    return empty()


def unarchive_channel(state: DooverState, request: Request) -> Response:
    """``POST /agents/{a}/channels/{c}/unarchive``."""
    state.channel(request.agent(), request.channel()).archived = False
    return empty()


def list_data_series(state: DooverState, request: Request) -> Response:
    """``GET /agents/{a}/data_series``: values of ``<channel>.<path>`` fields."""
    agent = state.agent(request.agent())
    fields = request.query.get("field_name", [])
    if not fields:
        raise ApiError(400, "field_name is required")
    sources = []
    for field in fields:
        channel_name, dot, path = field.partition(".")
        if not dot or not path:
            raise ApiError(400, f"field_name must be <channel>.<path>, not {field!r}")
        channel = agent.channels.get(channel_name)
        if channel is not None:
            sources.append((field, channel, path))
    after, before = message_bounds(request)
    limit = state.clamp_limit(request.integer("limit"))
    single = len(fields) == 1
    points: list[tuple[int, Any]] = []
    for field, channel, path in sources:
        found = 0
        for record in channel.messages.newest_first(history_floor(channel, after), before):
            value = get_path(record.data, path)
            if value is not MISSING:
                points.append((record.id, value if single else {field: value}))
                found += 1
                if found > limit:
                    break
    points.sort(key=lambda point: point[0], reverse=True)
    return timeseries_response(points, limit)


def fetch_aggregate(state: DooverState, request: Request) -> Response:
    """``GET /agents/{a}/channels/{c}/aggregate``."""
    return json_response(state.channel(request.agent(), request.channel()).aggregate.wire())


def update_aggregate(state: DooverState, request: Request) -> Response:
    """``PATCH`` (merge) / ``PUT`` (replace) ``/agents/{a}/channels/{c}/aggregate``."""
    channel = state.channel(request.agent(), request.channel())
    uploads: list[Any] = []
    if request.is_multipart:
        data, uploads = request.multipart()
        data = {} if data is None else data
    else:
        data = request.json()
    if not isinstance(data, dict):
        raise ApiError(400, "the aggregate data must be a JSON object")
    aggregate = state.update_aggregate(
        channel,
        data,
        replace=request.method == "PUT",
        replace_paths=request.query.get("replace", []),
        uploads=uploads,
        clear_attachments=request.flag("clear_attachments"),
    )
    if request.flag("log_update"):
        state.create_message(channel, request.caller(), data, update_aggregate=False)
    if request.flag("suppress_response"):
        return empty()
    return json_response(aggregate.wire())


def fetch_aggregate_attachment(state: DooverState, request: Request) -> Response:
    """``GET /agents/{a}/channels/{c}/aggregate/attachments/{attachment_id}``."""
    channel = state.channel(request.agent(), request.channel())
    attachment_id = request.id("attachment_id")
    upload = state.file(attachment_id, channel, None)
    return attachment_response(upload, attachment_id, request)


_CHANNEL = "/agents/{agent_id}/channels/{channel_name}"

ROUTES = [
    Route("GET", "/agents/{agent_id}/channels", list_channels),
    Route("GET", _CHANNEL, fetch_channel),
    Route("POST", _CHANNEL, create_channel),
    Route("PUT", _CHANNEL, put_channel),
    Route("POST", _CHANNEL + "/archive", archive_channel),
    Route("POST", _CHANNEL + "/unarchive", unarchive_channel),
    Route("GET", "/agents/{agent_id}/data_series", list_data_series),
    Route("GET", _CHANNEL + "/aggregate", fetch_aggregate),
    Route("PATCH", _CHANNEL + "/aggregate", update_aggregate),
    Route("PUT", _CHANNEL + "/aggregate", update_aggregate),
    Route("GET", _CHANNEL + "/aggregate/attachments/{attachment_id}", fetch_aggregate_attachment),
]
