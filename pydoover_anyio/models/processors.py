"""Processor subscriptions and schedules, TURN credentials and device tokens
(spec §3.11-§3.13, §4.5)."""

from __future__ import annotations

from typing import Any, TypeVar

from ._base import Id, Model, coerce_ids
from .connection_status import ConnectionConfig, DooverConnectionStatus

__all__ = [
    "ConfirmedDeviceToken",
    "ProcessorTokenResponse",
    "RotatedDeviceToken",
    "SubscriptionInfo",
    "TurnCredential",
]


_M = TypeVar("_M", bound=Model)


def _part(data: Any, key: str, model: type[_M]) -> _M | None:
    value = data.get(key) if isinstance(data, dict) else None
    return model.from_dict(value) if value else None


class SubscriptionInfo(Model):
    """What a processor subscription or schedule runs with (its token included).

    ``connection_data`` stays the raw object (as in pydoover); :attr:`connection_config`
    and :attr:`connection_status` decode its parts.
    """

    agent_id: Id
    organisation_id: Id
    app_key: str
    deployment_config: Any
    ui_state: Any
    ui_cmds: Any
    tag_values: Any
    connection_data: Any
    token: str

    @property
    def connection_config(self) -> ConnectionConfig | None:
        """``connection_data["config"]`` decoded, or ``None`` when there is none.

        Raises:
            ValueError: it does not have the shape of a connection config.
        """
        return _part(self.connection_data, "config", ConnectionConfig)

    @property
    def connection_status(self) -> DooverConnectionStatus | None:
        """``connection_data["status"]`` decoded, or ``None`` when there is none.

        Raises:
            ValueError: it does not have the shape of a connection status.
        """
        return _part(self.connection_data, "status", DooverConnectionStatus)

    def __repr__(self) -> str:
        return (
            f"SubscriptionInfo(agent_id={self.agent_id!r}, organisation_id="
            f"{self.organisation_id!r}, app_key={self.app_key!r}, token=<redacted>)"
        )


class ProcessorTokenResponse(Model):
    """The token minted for a schedule or an ingestion endpoint."""

    id: Id
    token: str
    token_id: Id

    def __post_init__(self) -> None:
        coerce_ids(self, "id", "token_id")

    def __repr__(self) -> str:
        return (
            f"ProcessorTokenResponse(id={self.id!r}, token=<redacted>, token_id={self.token_id!r})"
        )


class TurnCredential(Model):
    """TURN server credentials; ``ttl`` in seconds, ``expires_at`` in Unix seconds."""

    username: str
    credential: str
    ttl: int
    expires_at: int
    uris: list[str]

    def __repr__(self) -> str:
        return (
            f"TurnCredential(username={self.username!r}, credential=<redacted>, "
            f"ttl={self.ttl!r}, expires_at={self.expires_at!r}, uris={self.uris!r})"
        )


class RotatedDeviceToken(Model):
    """A newly minted device token; persist it, then confirm it with it as the bearer."""

    token: str
    issued_at_ms: int

    def __repr__(self) -> str:
        return f"RotatedDeviceToken(token=<redacted>, issued_at_ms={self.issued_at_ms!r})"


class ConfirmedDeviceToken(Model):
    """The revocation floor (Unix ms): every older token of the agent is now refused."""

    tokens_valid_from: int
