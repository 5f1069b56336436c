"""Multi-agent reads and batch mutations (spec §3.6, §3.7).

Rules this module enforces:

* Multi-agent message reads need at least one ``agent_id``; the window ``after`` ..
  ``before`` may span at most two days (``before`` defaults to now, ``after`` to two
  days before it). Each agent contributes its newest messages (at most
  ``agent_message_limit``, and below its ``agent_before`` cursor when given, parallel
  to ``agent_id``); the merged page is the ``limit`` newest overall. An agent with more
  messages left gets a ``next_cursors`` entry (the oldest id returned for it), also
  reported as ``at_limit_agent_ids`` and, for the highest cursor, ``next``. Agents
  without the channel (or unknown) contribute nothing.
* Batches hold 1-50 items, each an object with ``agent_id`` and ``channel_name``;
  otherwise the whole request is a 400 and nothing runs. Items run in order and fail
  on their own (unknown agent, channel or message, a missing ``message_id`` or ``data``):
  the response lists every item, in request order, with ``success`` and ``error``.
* A create item with ``message_id`` is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from ._http import ApiError, Request, Response, json_response, parse_id
from ._ids import bound_for_ms, now_ms
from ._jsondata import project
from ._router import Route
from ._routes_messages import history_floor, message_bounds, message_ts, optional_int
from ._state import DooverState
from ._store import ChannelRecord, MessageRecord, encode_message

__all__ = ["MAX_BATCH_MUTATIONS", "ROUTES"]

MAX_BATCH_MUTATIONS = 50
WINDOW = 172_800_000 << 22
"""The widest multi-agent window: two days, in snowflake units."""


def _channel_of(state: DooverState, agent_id: int, name: str) -> ChannelRecord | None:
    agent = state.agents.get(agent_id)
    return None if agent is None else agent.channels.get(name)


def multi_agent_messages(state: DooverState, request: Request) -> Response:
    """``GET /agents/channels/{c}/messages``."""
    name = request.channel()
    agent_ids = list(dict.fromkeys(request.ids("agent_id")))
    if not agent_ids:
        raise ApiError(400, "at least one agent_id is required")
    agent_before = request.ids("agent_before")
    if agent_before and len(agent_before) != len(request.query["agent_id"]):
        raise ApiError(400, "agent_before must be parallel to agent_id")
    cursors = dict(zip(request.ids("agent_id"), agent_before, strict=False))
    after, before = message_bounds(request)
    if before is None:
        before = bound_for_ms(now_ms() + 1)
    if after is None:
        after = max(0, before - WINDOW)
    if before - after > WINDOW:
        raise ApiError(400, "the window between after and before must not exceed two days")
    limit = state.clamp_limit(request.integer("limit"))
    per_agent = request.integer("agent_message_limit")
    if per_agent is not None and per_agent < 1:
        raise ApiError(400, "agent_message_limit must be at least 1")
    cap = limit if per_agent is None else min(per_agent, limit)
    found: list[tuple[MessageRecord, ChannelRecord]] = []
    uppers: dict[int, int] = {}
    more: dict[int, int] = {}  # agent -> its cursor, for agents with messages left
    for agent_id in agent_ids:
        channel = _channel_of(state, agent_id, name)
        if channel is None:
            continue
        upper = uppers[agent_id] = min(before, cursors.get(agent_id, before))
        records = channel.messages.window(
            history_floor(channel, after), upper, cap + 1, oldest_first=False
        )
        if len(records) > cap:
            more[agent_id] = upper
        found += [(record, channel) for record in records[:cap]]
    found.sort(key=lambda pair: pair[0].id, reverse=True)
    for _, channel in found[limit:]:
        more.setdefault(channel.owner_id, uppers[channel.owner_id])
    page = found[:limit]
    for record, channel in page:  # newest first, so the last one seen is the oldest
        if channel.owner_id in more:
            more[channel.owner_id] = record.id
    fields = request.query.get("field_name")
    results = [
        msgspec.Raw(
            encode_message(r.id, r.author_id, c.ref, project(r.data, fields), r.attachments)
            if fields
            else r.body
        )
        for r, c in page
    ]
    next_cursors = {str(agent): str(cursor) for agent, cursor in more.items()}
    return json_response(
        {
            "results": results,
            "count": len(results),
            "next": str(max(more.values())) if more else None,
            "next_cursors": next_cursors,
            "at_limit_agent_ids": list(next_cursors),
        }
    )


def multi_agent_aggregates(state: DooverState, request: Request) -> Response:
    """``GET /agents/channels/{c}/aggregates``."""
    name = request.channel()
    agent_ids = list(dict.fromkeys(request.ids("agent_id")))
    if not agent_ids:
        raise ApiError(400, "at least one agent_id is required")
    fields = request.query.get("field_name")
    results = []
    for agent_id in agent_ids:
        channel = _channel_of(state, agent_id, name)
        if channel is not None:
            aggregate = channel.aggregate.wire()
            if fields:
                aggregate["data"] = project(aggregate["data"], fields)
            results.append({"agent_id": str(agent_id), **aggregate})
    return json_response({"results": results, "count": len(results)})


# -- batch mutations -------------------------------------------------------------------

Operation = Callable[[DooverState, ChannelRecord, dict[str, Any], int], "int | None"]


def _item_id(value: Any, what: str) -> int:
    if not isinstance(value, str):  # spec §3.7: ids travel as strings
        raise ApiError(400, f"{what} must be an id string")
    return parse_id(value, what)


def _message_id(item: dict[str, Any]) -> int:
    if item.get("message_id") is None:
        raise ApiError(400, "message_id is required")
    return _item_id(item["message_id"], "message_id")


def _data(item: dict[str, Any]) -> Any:
    if "data" not in item:
        raise ApiError(400, "data is required")
    return item["data"]


def _create(state: DooverState, channel: ChannelRecord, item: dict[str, Any], caller: int) -> int:
    message_id = None if item.get("message_id") is None else _message_id(item)
    record, _ = state.create_message(
        channel,
        caller,
        _data(item),
        at_ms=message_ts(item),
        message_id=message_id,
        ttl=optional_int(item, "ttl"),
    )
    return record.id


def _updater(replace: bool) -> Operation:
    def update(state: DooverState, channel: ChannelRecord, item: dict[str, Any], _: int) -> int:
        record = state.update_message(channel, _message_id(item), _data(item), replace=replace)
        return record.id

    return update


def _delete(state: DooverState, channel: ChannelRecord, item: dict[str, Any], _: int) -> int:
    message_id = _message_id(item)
    state.delete_message(channel, message_id)
    return message_id


def _aggregate(state: DooverState, channel: ChannelRecord, item: dict[str, Any], _: int) -> None:
    data = _data(item)
    paths = item.get("replace") or []
    if not isinstance(data, dict):
        raise ApiError(400, "aggregate data must be an object")
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise ApiError(400, "replace must be a list of dotted paths")
    state.update_aggregate(channel, data, replace_paths=paths)


def _items(request: Request) -> list[dict[str, Any]]:
    """Validate the batch envelope; every item needs ``agent_id`` and ``channel_name``."""
    items = request.json_object().get("items")
    if not isinstance(items, list) or not items:
        raise ApiError(400, "batch must contain at least one item")
    if len(items) > MAX_BATCH_MUTATIONS:
        raise ApiError(400, f"batch cannot contain more than {MAX_BATCH_MUTATIONS} items")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ApiError(400, f"items[{index}] must be an object")
        _item_id(item.get("agent_id"), f"items[{index}].agent_id")
        if not isinstance(item.get("channel_name"), str) or not item["channel_name"]:
            raise ApiError(400, f"items[{index}].channel_name must be a non-empty string")
    return items


def _run_batch(state: DooverState, request: Request, operation: Operation) -> Response:
    caller = request.caller()
    results = []
    for item in _items(request):
        agent_id = _item_id(item["agent_id"], "agent_id")
        result: dict[str, Any] = {"agent_id": str(agent_id), "channel_name": item["channel_name"]}
        try:
            channel = state.channel(agent_id, item["channel_name"])
            message_id = operation(state, channel, item, caller)
        except ApiError as error:
            result.update(success=False, error=error.message)
        else:
            result["success"] = True
            if message_id is not None:
                result["message_id"] = str(message_id)
        results.append(result)
    succeeded = sum(1 for result in results if result["success"])
    return json_response(
        {
            "items": results,
            "count": len(results),
            "succeeded": succeeded,
            "failed": len(results) - succeeded,
        }
    )


def batch_messages(state: DooverState, request: Request) -> Response:
    """``POST`` / ``PATCH`` / ``PUT`` / ``DELETE /agents/messages``."""
    operations: dict[str, Operation] = {
        "POST": _create,
        "PATCH": _updater(replace=False),
        "PUT": _updater(replace=True),
        "DELETE": _delete,
    }
    return _run_batch(state, request, operations[request.method])


def batch_aggregates(state: DooverState, request: Request) -> Response:
    """``PATCH /agents/aggregates``."""
    return _run_batch(state, request, _aggregate)


ROUTES = [
    Route("GET", "/agents/channels/{channel_name}/messages", multi_agent_messages),
    Route("GET", "/agents/channels/{channel_name}/aggregates", multi_agent_aggregates),
    *(
        Route(method, "/agents/messages", batch_messages)
        for method in ("POST", "PATCH", "PUT", "DELETE")
    ),
    Route("PATCH", "/agents/aggregates", batch_aggregates),
]
