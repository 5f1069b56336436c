"""Notification endpoints and subscriptions of the emulated Doover (spec §3.10, §4.4).

A *logical* subscription is (subscriber, subscribed_to); it is stored as one row per
endpoint it delivers to. A subscription created without an ``endpoint_id`` uses every
*default* endpoint of the subscriber: those rows are the "default subscriptions".

Rules this module enforces:

* Endpoint ``type`` is accepted by name only (``"Email"``; an integer is a 400);
  severity by integer 3-7 or exact name, and always sent back by name.
* ``topic_filter_mode`` is ``exact`` (default) or ``regex``; ``topic_filter_exclude``
  entries (and regex-mode filters) must compile as regular expressions.
* Creating a subscription replaces the whole logical subscription for that endpoint
  (or for the default endpoints), so omitted excludes are cleared; PATCH leaves omitted
  fields alone and ``[]`` clears the excludes.
* Deleting an endpoint deletes the rows that deliver to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ._http import ApiError, NotFound, parse_id
from ._ids import IdKind, Snowflakes

__all__ = ["NotificationBook"]

ENDPOINT_TYPES = ("Email", "Sms", "WebPush", "Http", "Placeholder", "FirebasePush")
_SEVERITIES = {3: "Trace", 4: "Debug", 5: "Info", 6: "Warn", 7: "Critical"}
_MODES = ("exact", "regex")
_WEB_PUSH_FIELDS = {
    "old_endpoint": str,
    "endpoint": str,
    "key_p256dh": str,
    "key_auth": str,
    "expires_at": int,
}


def _severity(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value in _SEVERITIES:
        return _SEVERITIES[value]
    if isinstance(value, str) and value in _SEVERITIES.values():
        return value
    raise ApiError(400, f"invalid severity: {value!r}")


def _id_value(value: Any, what: str) -> int:
    if isinstance(value, str):  # spec §3.10: ids travel as strings
        return parse_id(value, what)
    raise ApiError(400, f"invalid {what}: {value!r}")


def _strings(value: Any, what: str, *, regex: bool) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ApiError(400, f"{what} must be a list of strings")
    if regex:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ApiError(400, f"invalid regular expression in {what}: {exc}") from None
    return list(value)


class NotificationBook:
    """The notification endpoints and subscription rows of every agent.

    Args:
        snowflakes: The id generator.
    """

    def __init__(self, snowflakes: Snowflakes) -> None:
        self._ids = snowflakes
        self.endpoints: dict[int, dict[str, Any]] = {}
        self.rows: dict[int, dict[str, Any]] = {}

    # -- endpoints ----------------------------------------------------------------------

    def endpoint(self, agent_id: int, endpoint_id: int) -> dict[str, Any]:
        """Return one of an agent's endpoints (stored form).

        Raises:
            NotFound: No such endpoint for that agent.
        """
        endpoint = self.endpoints.get(endpoint_id)
        if endpoint is None or endpoint["agent_id"] != agent_id:
            raise NotFound(f"notification endpoint {endpoint_id} not found")
        return endpoint

    def create_endpoint(self, agent_id: int, body: dict[str, Any]) -> int:
        """Create an endpoint from a request body; return its id."""
        name, kind = _name(body.get("name")), body.get("type")
        if not isinstance(kind, str) or kind not in ENDPOINT_TYPES:
            raise ApiError(400, f"type must be one of {', '.join(ENDPOINT_TYPES)} (by name)")
        extra_data, default = _extra_data(body.get("extra_data")), body.get("default")
        if not isinstance(default, bool):
            raise ApiError(400, "default must be a boolean")
        endpoint_id = self._ids.mint(IdKind.NOTIFICATION_ENDPOINT)
        self.endpoints[endpoint_id] = {
            "id": endpoint_id,
            "agent_id": agent_id,
            "type": kind,
            "name": name,
            "default": default,
            "extra_data": extra_data,
            "priority": _priority(body.get("priority")),
        }
        return endpoint_id

    def update_endpoint(self, agent_id: int, endpoint_id: int, body: dict[str, Any]) -> None:
        """Apply a partial update (``priority: null`` clears the priority)."""
        endpoint = self.endpoint(agent_id, endpoint_id)
        changes: dict[str, Any] = {}
        if "name" in body:
            changes["name"] = _name(body["name"])
        if "extra_data" in body:
            changes["extra_data"] = _extra_data(body["extra_data"])
        if "priority" in body:
            changes["priority"] = _priority(body["priority"])
        endpoint.update(changes)

    def delete_endpoint(self, agent_id: int, endpoint_id: int) -> None:
        """Delete an endpoint and the subscription rows delivering to it."""
        self.endpoint(agent_id, endpoint_id)
        del self.endpoints[endpoint_id]
        for row_id in [i for i, row in self.rows.items() if row["endpoint_id"] == endpoint_id]:
            del self.rows[row_id]

    def list_endpoints(self, agent_id: int, name: str | None = None) -> list[dict[str, Any]]:
        """An agent's endpoints (NotificationEndpoint objects), optionally by exact name."""
        return [
            _endpoint_wire(e)
            for e in self.endpoints.values()
            if e["agent_id"] == agent_id and (name is None or e["name"] == name)
        ]

    def endpoint_summaries(self, agent_id: int) -> list[dict[str, Any]]:
        """An agent's endpoints without destinations (NotificationEndpointSummary)."""
        return [
            {
                "id": str(e["id"]),
                "type": e["type"],
                "name": e["name"],
                "default": e["default"],
                "ready": e["type"] != "Placeholder",
                "priority": e["priority"],
            }
            for e in self.endpoints.values()
            if e["agent_id"] == agent_id
        ]

    def update_web_push(self, agent_id: int, body: dict[str, Any]) -> int:
        """Re-point the agent's web-push endpoints at a renewed browser subscription.

        Returns:
            How many endpoints were updated.
        """
        for field, kind in _WEB_PUSH_FIELDS.items():
            value = body.get(field)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ApiError(400, f"{field} must be a {kind.__name__}")
        updated = 0
        for endpoint in self.endpoints.values():
            extra = endpoint["extra_data"]
            if (
                endpoint["agent_id"] == agent_id
                and endpoint["type"] == "WebPush"
                and extra.get("endpoint") == body["old_endpoint"]
            ):
                endpoint["extra_data"] = {
                    **extra,
                    **{k: body[k] for k in ("endpoint", "key_p256dh", "key_auth", "expires_at")},
                }
                updated += 1
        return updated

    # -- subscriptions ------------------------------------------------------------------

    def create_subscription(
        self, subscriber: int, body: dict[str, Any], agent_exists: Callable[[int], object]
    ) -> list[dict[str, str]]:
        """Create (replace) a logical subscription; return ``[{"id", "endpoint_id"}]``."""
        subscribed_to = _id_value(body.get("subscribe_to"), "subscribe_to")
        agent_exists(subscribed_to)
        mode = body.get("topic_filter_mode", "exact")
        if mode not in _MODES:
            raise ApiError(400, f"topic_filter_mode must be one of {', '.join(_MODES)}")
        settings = {
            "severity": _severity(body.get("severity")),
            "topic_filter": _strings(
                body.get("topic_filter"), "topic_filter", regex=mode == "regex"
            ),
            "topic_filter_mode": mode,
            "topic_filter_exclude": _strings(
                body.get("topic_filter_exclude", []), "topic_filter_exclude", regex=True
            ),
        }
        if body.get("endpoint_id") is not None:
            endpoint_id = _id_value(body["endpoint_id"], "endpoint_id")
            self.endpoint(subscriber, endpoint_id)
            targets, via_default = [endpoint_id], False
        else:
            targets = [
                e["id"]
                for e in self.endpoints.values()
                if e["agent_id"] == subscriber and e["default"]
            ]
            if not targets:
                raise ApiError(400, "no endpoint_id given and the agent has no default endpoint")
            via_default = True
            for row_id in [r["id"] for r in self._defaults(subscriber, subscribed_to)]:
                if self.rows[row_id]["endpoint_id"] not in targets:
                    del self.rows[row_id]
        created = []
        for endpoint_id in targets:
            row = self._row_for(subscriber, subscribed_to, endpoint_id)
            row.update(settings, via_default=via_default)
            created.append({"id": str(row["id"]), "endpoint_id": str(endpoint_id)})
        return created

    def subscription(self, subscriber: int, subscription_id: int) -> dict[str, Any]:
        """Return one of an agent's subscription rows (stored form).

        Raises:
            NotFound: No such subscription for that agent.
        """
        row = self.rows.get(subscription_id)
        if row is None or row["subscriber"] != subscriber:
            raise NotFound(f"notification subscription {subscription_id} not found")
        return row

    def update_subscription(
        self, subscriber: int, subscription_id: int, body: dict[str, Any]
    ) -> None:
        """Apply a partial update to one row."""
        self._patch([self.subscription(subscriber, subscription_id)], body)

    def delete_subscription(self, subscriber: int, subscription_id: int) -> None:
        """Delete one row."""
        self.subscription(subscriber, subscription_id)
        del self.rows[subscription_id]

    def update_default(self, subscriber: int, subscribed_to: int, body: dict[str, Any]) -> None:
        """Apply a partial update to every default row of one logical subscription."""
        self._patch(self._defaults_or_404(subscriber, subscribed_to), body)

    def delete_default(self, subscriber: int, subscribed_to: int) -> None:
        """Delete every default row of one logical subscription."""
        for row in self._defaults_or_404(subscriber, subscribed_to):
            del self.rows[row["id"]]

    def subscriptions(
        self, subscriber: int, subscribed_to: int | None = None, *, defaults_only: bool = False
    ) -> list[dict[str, Any]]:
        """An agent's subscriptions (NotificationSubscription objects)."""
        return [
            self._row_wire(row)
            for row in self.rows.values()
            if row["subscriber"] == subscriber
            and (subscribed_to is None or row["subscribed_to"] == subscribed_to)
            and (row["via_default"] or not defaults_only)
        ]

    def subscribers(self, agent_id: int) -> list[dict[str, Any]]:
        """The subscriptions other agents (or the agent itself) hold to ``agent_id``."""
        return [self._row_wire(r) for r in self.rows.values() if r["subscribed_to"] == agent_id]

    # -- internals ----------------------------------------------------------------------

    def _row_for(self, subscriber: int, subscribed_to: int, endpoint_id: int) -> dict[str, Any]:
        for row in self.rows.values():
            key = (row["subscriber"], row["subscribed_to"], row["endpoint_id"])
            if key == (subscriber, subscribed_to, endpoint_id):
                return row
        row_id = self._ids.mint(IdKind.NOTIFICATION_SUBSCRIPTION)
        row = {
            "id": row_id,
            "subscriber": subscriber,
            "subscribed_to": subscribed_to,
            "endpoint_id": endpoint_id,
        }
        self.rows[row_id] = row
        return row

    def _defaults(self, subscriber: int, subscribed_to: int) -> list[dict[str, Any]]:
        return [
            row
            for row in self.rows.values()
            if row["subscriber"] == subscriber
            and row["subscribed_to"] == subscribed_to
            and row["via_default"]
        ]

    def _defaults_or_404(self, subscriber: int, subscribed_to: int) -> list[dict[str, Any]]:
        rows = self._defaults(subscriber, subscribed_to)
        if not rows:
            raise NotFound(f"no default subscription of {subscriber} to {subscribed_to}")
        return rows

    def _patch(self, rows: list[dict[str, Any]], body: dict[str, Any]) -> None:
        mode = body.get("topic_filter_mode", rows[0]["topic_filter_mode"])
        if mode not in _MODES:
            raise ApiError(400, f"topic_filter_mode must be one of {', '.join(_MODES)}")
        changes: dict[str, Any] = {"topic_filter_mode": mode}
        if "severity" in body:
            changes["severity"] = _severity(body["severity"])
        if "topic_filter" in body:
            changes["topic_filter"] = _strings(
                body["topic_filter"], "topic_filter", regex=mode == "regex"
            )
        if "topic_filter_exclude" in body:
            changes["topic_filter_exclude"] = _strings(
                body["topic_filter_exclude"], "topic_filter_exclude", regex=True
            )
        for row in rows:
            row.update(changes)

    def _row_wire(self, row: dict[str, Any]) -> dict[str, Any]:
        endpoint = self.endpoints.get(row["endpoint_id"])
        endpoints = (
            []
            if endpoint is None
            else [
                {
                    "id": str(endpoint["id"]),
                    "name": endpoint["name"],
                    "default": endpoint["default"],
                }
            ]
        )
        return {
            "id": str(row["id"]),
            "subscriber": str(row["subscriber"]),
            "subscribed_to": str(row["subscribed_to"]),
            "severity": row["severity"],
            "topic_filter": row["topic_filter"],
            "topic_filter_mode": row["topic_filter_mode"],
            "topic_filter_exclude": row["topic_filter_exclude"],
            "endpoints": endpoints,
        }


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ApiError(400, "name must be a non-empty string")
    return value


def _extra_data(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiError(400, "extra_data must be an object")
    return value


def _priority(value: Any) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ApiError(400, "priority must be an integer or null")


def _endpoint_wire(endpoint: dict[str, Any]) -> dict[str, Any]:
    return {**endpoint, "id": str(endpoint["id"]), "agent_id": str(endpoint["agent_id"])}
