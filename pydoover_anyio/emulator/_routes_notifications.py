"""Notification endpoints (spec §3.10); the rules live in :mod:`._notifications`.

``/agents/me/notifications/update_web_push`` acts for the caller (the token's agent);
``/notifications/webpush-public-key`` is served without authentication.
"""

from __future__ import annotations

from ._http import Request, Response, empty, json_response
from ._router import Route
from ._state import DooverState

__all__ = ["ROUTES", "WEBPUSH_PUBLIC_KEY"]

WEBPUSH_PUBLIC_KEY = (
    "BEmuLAtoR0nLyK3yF0rTe5ts-n0tARealVAPIDkeyButShapedLikeOne_0123456789abcdefABCDEF_xyz"
)
"""The (fake) VAPID public key the emulator hands out."""


def fetch_notifications(state: DooverState, request: Request) -> Response:
    """``GET /agents/{a}/notifications``."""
    agent_id = state.agent(request.agent()).id
    book = state.notifications
    return json_response(
        {
            "subscriptions": book.subscriptions(agent_id),
            "subscribers": book.subscribers(agent_id),
            "endpoints": book.list_endpoints(agent_id),
        }
    )


def list_endpoints(state: DooverState, request: Request) -> Response:
    """``GET /agents/{a}/notifications/endpoints``."""
    agent_id = state.agent(request.agent()).id
    endpoints = state.notifications.list_endpoints(agent_id, request.first("name"))
    return json_response({"endpoints": endpoints})


def endpoint_summaries(state: DooverState, request: Request) -> Response:
    """``GET /agents/{a}/notifications/endpoints/summary``."""
    agent_id = state.agent(request.agent()).id
    return json_response({"endpoints": state.notifications.endpoint_summaries(agent_id)})


def create_endpoint(state: DooverState, request: Request) -> Response:
    """``POST /agents/{a}/notifications/endpoints``."""
    agent_id = state.agent(request.agent()).id
    endpoint_id = state.notifications.create_endpoint(agent_id, request.json_object())
    return json_response({"id": str(endpoint_id)})


def update_endpoint(state: DooverState, request: Request) -> Response:
    """``PATCH /agents/{a}/notifications/endpoints/{endpoint_id}``."""
    agent_id = state.agent(request.agent()).id
    body = request.json_object(required=False)
    state.notifications.update_endpoint(agent_id, request.id("endpoint_id"), body)
    return empty()


def delete_endpoint(state: DooverState, request: Request) -> Response:
    """``DELETE /agents/{a}/notifications/endpoints/{endpoint_id}``."""
    agent_id = state.agent(request.agent()).id
    state.notifications.delete_endpoint(agent_id, request.id("endpoint_id"))
    return empty()


def test_endpoint(state: DooverState, request: Request) -> Response:
    """``POST /agents/{a}/notifications/endpoints/{endpoint_id}/test``."""
    agent_id = state.agent(request.agent()).id
    endpoint = state.notifications.endpoint(agent_id, request.id("endpoint_id"))
    return json_response({"success": endpoint["type"] != "Placeholder"})


def list_subscriptions(state: DooverState, request: Request) -> Response:
    """``GET /agents/{a}/notifications/subscriptions``."""
    agent_id = state.agent(request.agent()).id
    subscribed_to = request.ids("subscribed_to")
    rows = state.notifications.subscriptions(agent_id, subscribed_to[0] if subscribed_to else None)
    return json_response({"subscriptions": rows})


def create_subscription(state: DooverState, request: Request) -> Response:
    """``POST /agents/{a}/notifications/subscriptions``."""
    agent_id = state.agent(request.agent()).id
    created = state.notifications.create_subscription(agent_id, request.json_object(), state.agent)
    return json_response({"subscriptions": created})


def update_subscription(state: DooverState, request: Request) -> Response:
    """``PATCH /agents/{a}/notifications/subscriptions/{subscription_id}``."""
    agent_id = state.agent(request.agent()).id
    body = request.json_object(required=False)
    state.notifications.update_subscription(agent_id, request.id("subscription_id"), body)
    return empty()


def delete_subscription(state: DooverState, request: Request) -> Response:
    """``DELETE /agents/{a}/notifications/subscriptions/{subscription_id}``."""
    agent_id = state.agent(request.agent()).id
    state.notifications.delete_subscription(agent_id, request.id("subscription_id"))
    return empty()


def list_default_subscriptions(state: DooverState, request: Request) -> Response:
    """``GET /agents/{a}/notifications/subscriptions/default``."""
    agent_id = state.agent(request.agent()).id
    subscribed_to = request.ids("subscribed_to")
    rows = state.notifications.subscriptions(
        agent_id, subscribed_to[0] if subscribed_to else None, defaults_only=True
    )
    return json_response({"subscriptions": rows})


def update_default_subscription(state: DooverState, request: Request) -> Response:
    """``PATCH /agents/{a}/notifications/subscriptions/default/{subscribed_to}``."""
    agent_id = state.agent(request.agent()).id
    body = request.json_object(required=False)
    state.notifications.update_default(agent_id, request.id("subscribed_to"), body)
    return empty()


def delete_default_subscription(state: DooverState, request: Request) -> Response:
    """``DELETE /agents/{a}/notifications/subscriptions/default/{subscribed_to}``."""
    agent_id = state.agent(request.agent()).id
    state.notifications.delete_default(agent_id, request.id("subscribed_to"))
    return empty()


def list_subscribers(state: DooverState, request: Request) -> Response:
    """``GET /agents/{a}/notifications/subscribers``."""
    agent_id = state.agent(request.agent()).id
    return json_response({"subscribers": state.notifications.subscribers(agent_id)})


def update_web_push(state: DooverState, request: Request) -> Response:
    """``POST /agents/me/notifications/update_web_push``: for the caller's own agent."""
    agent_id = request.caller()
    body = request.json_object()
    state.notifications.update_web_push(agent_id, body)
    state.web_push_updates.append({"agent_id": agent_id, **body})
    return empty()


def webpush_public_key(state: DooverState, request: Request) -> Response:
    """``GET /notifications/webpush-public-key`` (unauthenticated)."""
    return json_response({"key": WEBPUSH_PUBLIC_KEY})


_BASE = "/agents/{agent_id}/notifications"
_SUBSCRIPTIONS = _BASE + "/subscriptions"

ROUTES = [
    Route("GET", _BASE, fetch_notifications),
    Route("GET", _BASE + "/endpoints", list_endpoints),
    Route("POST", _BASE + "/endpoints", create_endpoint),
    Route("GET", _BASE + "/endpoints/summary", endpoint_summaries),
    Route("PATCH", _BASE + "/endpoints/{endpoint_id}", update_endpoint),
    Route("DELETE", _BASE + "/endpoints/{endpoint_id}", delete_endpoint),
    Route("POST", _BASE + "/endpoints/{endpoint_id}/test", test_endpoint),
    Route("GET", _SUBSCRIPTIONS, list_subscriptions),
    Route("POST", _SUBSCRIPTIONS, create_subscription),
    Route("PATCH", _SUBSCRIPTIONS + "/{subscription_id}", update_subscription),
    Route("DELETE", _SUBSCRIPTIONS + "/{subscription_id}", delete_subscription),
    Route("GET", _SUBSCRIPTIONS + "/default", list_default_subscriptions),
    Route("PATCH", _SUBSCRIPTIONS + "/default/{subscribed_to}", update_default_subscription),
    Route("DELETE", _SUBSCRIPTIONS + "/default/{subscribed_to}", delete_default_subscription),
    Route("GET", _BASE + "/subscribers", list_subscribers),
    Route("POST", "/agents/me/notifications/update_web_push", update_web_push),
    Route("GET", "/notifications/webpush-public-key", webpush_public_key, public=True),
]
