"""Connections, permissions, processors, TURN, device tokens and the token endpoint.

Spec §3.9, §3.11-§3.13 and §2.5/§2.6. Rules this module enforces:

* Connection history needs ``default_connection``; subscription history needs a
  ``channel`` query value holding ``{"agent_id", "name"}`` as JSON.
* Schedule and ingestion PUTs answer ``{"id", "token", "token_id"}`` with a fresh
  long-lived processor token (an ingestion with ``never_replace_token`` keeps its old
  one); the processor info endpoints answer SubscriptionInfo built from the agent's
  ``deployment_config``, ``ui_state``, ``ui_cmds``, ``tag_values`` and
  ``doover_connection`` aggregates.
* ``invoke`` records the call; with ``wait=true`` it answers as a Lambda echoing the
  payload (``payload`` base64, or parsed JSON with ``json_response=true``).
* Device-token rotation and confirmation are only for the caller's own agent (403
  otherwise) and rotation only when the agent is opted in. Confirming raises the
  agent's revocation floor to the confirming token's issue time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from ._http import ApiError, NotFound, Request, Response, empty, json_response, parse_id
from ._ids import IdKind, now_ms
from ._router import Route
from ._routes_messages import message_bounds
from ._state import DooverState

__all__ = ["ROOT_ROUTES", "ROUTES"]

PROCESSOR_TOKEN_LIFETIME = 10 * 365 * 86_400  # "long-lived"
DEVICE_TOKEN_LIFETIME = 365 * 86_400
TURN_TTL = 86_400
_INFO_CHANNELS = {
    "deployment_config": "deployment_config",
    "ui_state": "ui_state",
    "ui_cmds": "ui_cmds",
    "tag_values": "tag_values",
    "connection_data": "doover_connection",
}


# -- connections and permissions -------------------------------------------------------


def list_connections(state: DooverState, request: Request) -> Response:
    """``GET /agents/{a}/wss_connections``."""
    return json_response(state.connections.live(state.agent(request.agent()).id))


def fetch_connection(state: DooverState, request: Request) -> Response:
    """``GET /connections/{connection_id}``."""
    return json_response(state.connections.detail(request.id("connection_id")))


def connection_history(state: DooverState, request: Request) -> Response:
    """``GET /agents/{a}/wss_connections/history``."""
    agent_id = state.agent(request.agent()).id
    if request.first("default_connection") is None:
        raise ApiError(400, "default_connection is required")
    after, before = message_bounds(request)
    limit = state.clamp_limit(request.integer("limit"))
    default = request.flag("default_connection")
    return json_response(state.connections.history(agent_id, default, after, before, limit))


def subscription_history(state: DooverState, request: Request) -> Response:
    """``GET /agents/{a}/wss_connections/subscriptions/history``."""
    agent_id = state.agent(request.agent()).id
    raw = request.first("channel")
    try:
        channel: Any = None if raw is None else json.loads(raw)
    except ValueError:
        channel = None
    if not isinstance(channel, dict) or not isinstance(channel.get("name"), str):
        raise ApiError(400, 'channel must be JSON {"agent_id": "...", "name": "..."}')
    channel_agent = parse_id(str(channel.get("agent_id")), "channel.agent_id")
    ref = {"agent_id": str(channel_agent), "name": channel["name"]}
    after, before = message_bounds(request)
    limit = state.clamp_limit(request.integer("limit"))
    return json_response(
        state.connections.subscription_history(agent_id, ref, after, before, limit)
    )


def channel_subscriptions(state: DooverState, request: Request) -> Response:
    """``GET /agents/{a}/channels/{c}/subscriptions``."""
    channel = state.channel(request.agent(), request.channel())
    return json_response(state.connections.channel_subscriptions(channel.owner_id, channel.name))


def agent_permissions(state: DooverState, request: Request) -> Response:
    """``GET /agents/{a}/permissions``."""
    agent = state.agent(request.agent())
    return json_response(
        {
            "agent_id": str(agent.id),
            "is_superuser": agent.is_superuser,
            "resources": agent.resources,
            "last_updated": agent.permissions_updated,
        }
    )


# -- processors --------------------------------------------------------------------------


def _string(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"{name} must be a non-empty string")
    return value


def _permissions(body: dict[str, Any]) -> list[dict[str, str]]:
    permissions = body.get("permissions")
    if not isinstance(permissions, list) or not all(
        isinstance(p, dict)
        and isinstance(p.get("permission_id"), str)
        and isinstance(p.get("permission"), str)
        for p in permissions
    ):
        raise ApiError(400, "permissions must be a list of {permission_id, permission}")
    return [
        {"permission_id": p["permission_id"], "permission": p["permission"]} for p in permissions
    ]


def _optional(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if value is not None and type(value) is not kind:
        raise ApiError(400, f"{name} must be a {kind.__name__}")
    return value


def _token_response(record: dict[str, Any], record_id: int) -> Response:
    return json_response(
        {"id": str(record_id), "token": record["token"], "token_id": str(record["token_id"])}
    )


def _new_token(state: DooverState, agent_id: int) -> dict[str, Any]:
    return {
        "token": state.tokens.issue(agent_id, PROCESSOR_TOKEN_LIFETIME),
        "token_id": state.ids.mint(IdKind.TOKEN),
    }


def put_schedule(state: DooverState, request: Request) -> Response:
    """``PUT /agents/{a}/processors/schedules/{schedule_id}``."""
    agent_id = state.agent(request.agent()).id
    body = request.json_object()
    schedule_id = request.id("schedule_id")
    record = {
        "agent_id": agent_id,
        "app_key": _string(body, "app_key"),
        "permissions": _permissions(body),
        "is_org": _optional(body, "is_org", bool),
        **_new_token(state, agent_id),
    }
    state.schedules[schedule_id] = record
    return _token_response(record, schedule_id)


def regenerate_schedule_token(state: DooverState, request: Request) -> Response:
    """``POST /agents/{a}/processors/schedules/{schedule_id}/token``."""
    agent_id = state.agent(request.agent()).id
    record = state.schedules.get(request.id("schedule_id"))
    if record is None or record["agent_id"] != agent_id:
        raise NotFound(f"schedule {request.params['schedule_id']} not found")
    record.update(_new_token(state, agent_id))
    return json_response({"token": record["token"]})


def put_subscription(state: DooverState, request: Request) -> Response:
    """``PUT /agents/{a}/processors/subscriptions/{subscription_id}``."""
    agent_id = state.agent(request.agent()).id
    body = request.json_object()
    subscribed_to = body.get("subscribed_to_agent")
    if subscribed_to is not None:
        subscribed_to = parse_id(str(subscribed_to), "subscribed_to_agent")
    state.processor_subscriptions[request.id("subscription_id")] = {
        "agent_id": agent_id,
        "subscription_arn": _string(body, "subscription_arn"),
        "app_key": _string(body, "app_key"),
        "permissions": _permissions(body),
        "is_org": _optional(body, "is_org", bool),
        "subscribed_to_agent": subscribed_to,
        **_new_token(state, agent_id),
    }
    return empty()


def put_ingestion(state: DooverState, request: Request) -> Response:
    """``PUT /agents/{a}/processors/ingestions/{ingestion_id}`` (a full replace)."""
    agent_id = state.agent(request.agent()).id
    body = request.json_object()
    ingestion_id = request.id("ingestion_id")
    ranges = body.get("cidr_ranges")
    if not isinstance(ranges, list) or not all(isinstance(r, str) for r in ranges):
        raise ApiError(400, "cidr_ranges must be a list of strings")
    throttle = body.get("throttle_limit")
    if not isinstance(throttle, int) or isinstance(throttle, bool) or throttle < 0:
        raise ApiError(400, "throttle_limit must be a non-negative integer")
    record: dict[str, Any] = {
        "agent_id": agent_id,
        "lambda_arn": _string(body, "lambda_arn"),
        "cidr_ranges": ranges,
        "throttle_limit": throttle,
        "app_key": _string(body, "app_key"),
        "permissions": _permissions(body),
        "never_replace_token": bool(_optional(body, "never_replace_token", bool)),
        "mini_token": bool(_optional(body, "mini_token", bool)),
        "signing_key": _optional(body, "signing_key", str),
        "signing_key_hash_header": _optional(body, "signing_key_hash_header", str),
        "is_org": _optional(body, "is_org", bool),
        "origin": _optional(body, "origin", str),
    }
    old = state.ingestions.get(ingestion_id)
    if old is not None and record["never_replace_token"]:
        record.update(token=old["token"], token_id=old["token_id"])
    else:
        record.update(_new_token(state, agent_id))
    state.ingestions[ingestion_id] = record
    return _token_response(record, ingestion_id)


def _ingestion(state: DooverState, request: Request) -> tuple[int, dict[str, Any]]:
    agent_id = state.agent(request.agent()).id
    ingestion_id = request.id("ingestion_id")
    record = state.ingestions.get(ingestion_id)
    if record is None or record["agent_id"] != agent_id:
        raise NotFound(f"ingestion endpoint {ingestion_id} not found")
    return ingestion_id, record


def delete_ingestion(state: DooverState, request: Request) -> Response:
    """``DELETE /agents/{a}/processors/ingestions/{ingestion_id}``."""
    ingestion_id, _ = _ingestion(state, request)
    del state.ingestions[ingestion_id]
    return empty()


def invoke_ingestion(state: DooverState, request: Request) -> Response:
    """``POST /agents/{a}/processors/ingestions/{ingestion_id}/invoke``."""
    ingestion_id, record = _ingestion(state, request)
    wait, as_json = request.flag("wait"), request.flag("json_response")
    state.ingestion_invocations.append(
        {"agent_id": record["agent_id"], "ingestion_id": ingestion_id, "payload": request.body}
    )
    if not wait:
        return empty()
    payload: Any = request.json() if as_json else base64.b64encode(request.body).decode()
    return json_response({"status_code": 200, "payload": payload})


def _processor_info(state: DooverState, record: dict[str, Any]) -> Response:
    agent = state.agent(record["agent_id"])
    info: dict[str, Any] = {
        "agent_id": str(agent.id),
        "organisation_id": str(state.organisation_id),
        "app_key": record["app_key"],
        "token": record["token"],
    }
    for field, channel_name in _INFO_CHANNELS.items():
        channel = agent.channels.get(channel_name)
        info[field] = {} if channel is None else channel.aggregate.data
    return json_response(info)


def schedule_info(state: DooverState, request: Request) -> Response:
    """``GET /processors/schedules/{schedule_id}``."""
    record = state.schedules.get(request.id("schedule_id"))
    if record is None:
        raise NotFound(f"schedule {request.params['schedule_id']} not found")
    return _processor_info(state, record)


def subscription_info(state: DooverState, request: Request) -> Response:
    """``GET /processors/subscriptions/{subscription_id}``."""
    record = state.processor_subscriptions.get(request.id("subscription_id"))
    if record is None:
        raise NotFound(f"subscription {request.params['subscription_id']} not found")
    return _processor_info(state, record)


# -- TURN, device tokens, OAuth ----------------------------------------------------------


def turn_token(state: DooverState, request: Request) -> Response:
    """``POST /turn/token``: coturn-style time-limited credentials."""
    body = request.json_object()
    if body.get("role") not in ("client", "device"):
        raise ApiError(400, "role must be client or device")
    camera = _string(body, "camera_name")
    if body.get("device_id") is not None:
        parse_id(str(body["device_id"]), "device_id")
    expires_at = now_ms() // 1000 + TURN_TTL
    username = f"{expires_at}:{camera}"
    digest = hmac.new(b"emulator-turn-secret", username.encode(), hashlib.sha1).digest()
    return json_response(
        {
            "username": username,
            "credential": base64.b64encode(digest).decode(),
            "ttl": TURN_TTL,
            "expires_at": expires_at,
            "uris": ["turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"],
        }
    )


def _own_agent(state: DooverState, request: Request) -> int:
    agent = state.agent(request.agent())
    if request.caller() != agent.id:
        raise ApiError(403, "a device may only manage its own token")
    return agent.id


def rotate_device_token(state: DooverState, request: Request) -> Response:
    """``POST /agents/{a}/token/rotate``."""
    agent_id = _own_agent(state, request)
    if not state.agent(agent_id).token_self_rotation:
        raise ApiError(403, "token self-rotation is not enabled for this agent")
    token = state.tokens.issue(agent_id, DEVICE_TOKEN_LIFETIME)
    return json_response({"token": token, "issued_at_ms": state.tokens.verify(token)["iat_ms"]})


def confirm_device_token(state: DooverState, request: Request) -> Response:
    """``POST /agents/{a}/token/confirm``."""
    agent_id = _own_agent(state, request)
    floor = state.tokens.set_floor(agent_id, int(request.claims["iat_ms"]))
    return json_response({"tokens_valid_from": floor})


def data_api_token(state: DooverState, request: Request) -> Response:
    """``POST {data_base_url}/oauth2/token``: the client-credentials grant (spec §2.5)."""
    return state.tokens.client_credentials_endpoint(request)


def auth_server_token(state: DooverState, request: Request) -> Response:
    """``POST {auth_server_url}/oauth2/token``: the refresh-token grant (spec §2.6)."""
    return state.tokens.refresh_endpoint(request)


_WSS = "/agents/{agent_id}/wss_connections"
_PROCESSORS = "/agents/{agent_id}/processors"

ROUTES = [
    Route("GET", _WSS, list_connections),
    Route("GET", _WSS + "/history", connection_history),
    Route("GET", _WSS + "/subscriptions/history", subscription_history),
    Route("GET", "/connections/{connection_id}", fetch_connection),
    Route("GET", "/agents/{agent_id}/channels/{channel_name}/subscriptions", channel_subscriptions),
    Route("GET", "/agents/{agent_id}/permissions", agent_permissions),
    Route("GET", "/processors/subscriptions/{subscription_id}", subscription_info),
    Route("GET", "/processors/schedules/{schedule_id}", schedule_info),
    Route("PUT", _PROCESSORS + "/schedules/{schedule_id}", put_schedule),
    Route("POST", _PROCESSORS + "/schedules/{schedule_id}/token", regenerate_schedule_token),
    Route("PUT", _PROCESSORS + "/subscriptions/{subscription_id}", put_subscription),
    Route("PUT", _PROCESSORS + "/ingestions/{ingestion_id}", put_ingestion),
    Route("DELETE", _PROCESSORS + "/ingestions/{ingestion_id}", delete_ingestion),
    Route("POST", _PROCESSORS + "/ingestions/{ingestion_id}/invoke", invoke_ingestion),
    Route("POST", "/turn/token", turn_token),
    Route("POST", "/agents/{agent_id}/token/rotate", rotate_device_token),
    Route("POST", "/agents/{agent_id}/token/confirm", confirm_device_token),
    Route("POST", "/oauth2/token", data_api_token, public=True),
]

ROOT_ROUTES = [Route("POST", "/oauth2/token", auth_server_token, public=True)]
"""Routes served at the server root (the auth server's token endpoint)."""
