"""Alarm endpoints (spec §3.8); the body rules live in :mod:`._alarms`.

``POST`` mints the alarm id; ``PUT`` creates or replaces at a known id (an existing
alarm keeps its state); ``PATCH`` edits; ``DELETE`` removes. The agent-wide listing
spans every channel of the agent, archived ones included, each alarm carrying its
``channel_name`` (the emulated caller may read private channels, so none is omitted).
"""

from __future__ import annotations

from typing import Any

from ._alarms import alarm_wire, build_alarm, patch_alarm
from ._http import NotFound, Request, Response, empty, json_response
from ._ids import IdKind, now_ms
from ._router import Route
from ._state import DooverState
from ._store import ChannelRecord

__all__ = ["ROUTES"]


def _stored(channel: ChannelRecord, request: Request) -> tuple[int, dict[str, Any]]:
    alarm_id = request.id("alarm_id")
    alarm = channel.alarms.get(alarm_id)
    if alarm is None:
        raise NotFound(f"alarm {alarm_id} not found")
    return alarm_id, alarm


def list_alarms(state: DooverState, request: Request) -> Response:
    """``GET /agents/{a}/channels/{c}/alarms``."""
    channel = state.channel(request.agent(), request.channel())
    return json_response([alarm_wire(alarm) for alarm in channel.alarms.values()])


def list_agent_alarms(state: DooverState, request: Request) -> Response:
    """``GET /agents/{a}/alarms``."""
    channels = state.agent(request.agent()).channels.values()
    return json_response([alarm_wire(a) for c in channels for a in c.alarms.values()])


def fetch_alarm(state: DooverState, request: Request) -> Response:
    """``GET .../alarms/{alarm_id}``."""
    channel = state.channel(request.agent(), request.channel())
    return json_response(alarm_wire(_stored(channel, request)[1]))


def create_alarm(state: DooverState, request: Request) -> Response:
    """``POST .../alarms``."""
    channel = state.channel(request.agent(), request.channel())
    alarm_id = state.ids.mint(IdKind.ALARM)
    alarm = build_alarm(alarm_id, channel.name, request.json_object(), now_ms())
    channel.alarms[alarm_id] = alarm
    return json_response(alarm_wire(alarm))


def put_alarm(state: DooverState, request: Request) -> Response:
    """``PUT .../alarms/{alarm_id}``: create or replace at a known id."""
    channel = state.channel(request.agent(), request.channel())
    alarm_id = request.id("alarm_id")
    previous = channel.alarms.get(alarm_id)
    alarm = build_alarm(alarm_id, channel.name, request.json_object(), now_ms(), previous)
    channel.alarms[alarm_id] = alarm
    return json_response(alarm_wire(alarm))


def update_alarm(state: DooverState, request: Request) -> Response:
    """``PATCH .../alarms/{alarm_id}``."""
    channel = state.channel(request.agent(), request.channel())
    alarm_id, stored = _stored(channel, request)
    alarm = patch_alarm(dict(stored), request.json_object(required=False))
    channel.alarms[alarm_id] = alarm
    return json_response(alarm_wire(alarm))


def delete_alarm(state: DooverState, request: Request) -> Response:
    """``DELETE .../alarms/{alarm_id}``."""
    channel = state.channel(request.agent(), request.channel())
    alarm_id, _ = _stored(channel, request)
    del channel.alarms[alarm_id]
    return empty()


_ALARMS = "/agents/{agent_id}/channels/{channel_name}/alarms"

ROUTES = [
    Route("GET", "/agents/{agent_id}/alarms", list_agent_alarms),
    Route("GET", _ALARMS, list_alarms),
    Route("POST", _ALARMS, create_alarm),
    Route("GET", _ALARMS + "/{alarm_id}", fetch_alarm),
    Route("PUT", _ALARMS + "/{alarm_id}", put_alarm),
    Route("PATCH", _ALARMS + "/{alarm_id}", update_alarm),
    Route("DELETE", _ALARMS + "/{alarm_id}", delete_alarm),
]
