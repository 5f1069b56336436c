"""Gateway sessions ("connections") and their channel subscriptions (spec §3.9, §4.5).

The REST endpoints only read this book; tests (and later the emulated gateway) write
it. A session is live until closed; history keeps closed ones too. Every subscribe
and unsubscribe is logged for the subscription history.
"""

from __future__ import annotations

from typing import Any

from ._http import NotFound
from ._ids import IdKind, Snowflakes, bound_for_ms, now_ms

__all__ = ["ConnectionBook"]


class ConnectionBook:
    """Every gateway session the emulated server knows of.

    Args:
        snowflakes: The id generator.
    """

    def __init__(self, snowflakes: Snowflakes) -> None:
        self._ids = snowflakes
        self.sessions: dict[int, dict[str, Any]] = {}
        self.log: list[dict[str, Any]] = []

    def open(
        self, agent_id: int, *, default_session: bool = False, address: str = "127.0.0.1"
    ) -> int:
        """Record a new live session; return its id."""
        session_id = self._ids.mint(IdKind.WSS_SESSION)
        self.sessions[session_id] = {
            "agent_id": agent_id,
            "session_id": session_id,
            "default_session": default_session,
            "address": address,
            "status": 1,
            "subscriptions": [],
            "last_ping": now_ms(),
            "latency": 0.0,
            "closed": False,
        }
        return session_id

    def session(self, session_id: int) -> dict[str, Any]:
        """Return a session (live or closed).

        Raises:
            NotFound: No such session.
        """
        session = self.sessions.get(session_id)
        if session is None:
            raise NotFound(f"connection {session_id} not found")
        return session

    def subscribe(self, session_id: int, agent_id: int, channel_name: str) -> None:
        """Subscribe a live session to a channel (a no-op when already subscribed)."""
        session = self.session(session_id)
        channel = {"agent_id": str(agent_id), "name": channel_name}
        if any(s["channel"] == channel for s in session["subscriptions"]):
            return
        at = now_ms()
        session["subscriptions"].append(
            {"channel": channel, "subscribed_at": at, "connection_id": str(session_id)}
        )
        self.log.append(
            {
                "channel": channel,
                "connection_id": str(session_id),
                "subscribed_at": at,
                "unsubscribed_at": None,
            }
        )

    def unsubscribe(self, session_id: int, agent_id: int, channel_name: str) -> None:
        """Unsubscribe a session from a channel (a no-op when not subscribed)."""
        session = self.session(session_id)
        channel = {"agent_id": str(agent_id), "name": channel_name}
        session["subscriptions"] = [s for s in session["subscriptions"] if s["channel"] != channel]
        for entry in self.log:
            if (
                entry["channel"] == channel
                and entry["connection_id"] == str(session_id)
                and entry["unsubscribed_at"] is None
            ):
                entry["unsubscribed_at"] = now_ms()

    def close(self, session_id: int) -> None:
        """End a live session, unsubscribing it from everything."""
        session = self.session(session_id)
        for subscription in list(session["subscriptions"]):
            channel = subscription["channel"]
            self.unsubscribe(session_id, int(channel["agent_id"]), channel["name"])
        session["closed"] = True

    # -- reads --------------------------------------------------------------------------

    def live(self, agent_id: int) -> list[dict[str, Any]]:
        """The agent's live sessions (ConnectionDetail objects), oldest first."""
        return [
            _wire(s)
            for s in self.sessions.values()
            if s["agent_id"] == agent_id and not s["closed"]
        ]

    def detail(self, session_id: int) -> dict[str, Any]:
        """One session as a ConnectionDetail object."""
        return _wire(self.session(session_id))

    def history(
        self,
        agent_id: int,
        default_session: bool,
        after: int | None,
        before: int | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """The agent's sessions of one kind (live and closed), newest first."""
        sessions = [
            s
            for s in self.sessions.values()
            if s["agent_id"] == agent_id
            and s["default_session"] == default_session
            and (after is None or s["session_id"] > after)
            and (before is None or s["session_id"] < before)
        ]
        sessions.sort(key=lambda s: s["session_id"], reverse=True)
        return [_wire(s) for s in sessions[:limit]]

    def subscription_history(
        self,
        agent_id: int,
        channel: dict[str, str],
        after: int | None,
        before: int | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """The agent's sessions' (un)subscriptions to one channel, newest first."""
        entries = [
            e
            for e in self.log
            if e["channel"] == channel
            and self.sessions[int(e["connection_id"])]["agent_id"] == agent_id
            and (after is None or bound_for_ms(e["subscribed_at"]) > after)
            and (before is None or bound_for_ms(e["subscribed_at"]) < before)
        ]
        return [dict(e) for e in reversed(entries)][:limit]

    def channel_subscriptions(self, agent_id: int, channel_name: str) -> list[dict[str, Any]]:
        """Every live subscription to one channel (ConnectionSubscription objects)."""
        channel = {"agent_id": str(agent_id), "name": channel_name}
        return [
            dict(subscription)
            for session in self.sessions.values()
            if not session["closed"]
            for subscription in session["subscriptions"]
            if subscription["channel"] == channel
        ]


def _wire(session: dict[str, Any]) -> dict[str, Any]:
    return {
        "agent_id": str(session["agent_id"]),
        "session_id": str(session["session_id"]),
        "default_session": session["default_session"],
        "address": session["address"],
        "status": session["status"],
        "subscriptions": [dict(s) for s in session["subscriptions"]],
        "last_ping": session["last_ping"],
        "latency": session["latency"],
    }
