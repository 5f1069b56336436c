"""An agent's connection status and connection config (spec §4.5).

The processor runtime writes these to the agent's ``doover_connection`` channel (as a
message and as an aggregate patch): ``{"status": DooverConnectionStatus, "determination":
ConnectionDetermination}`` and ``{"config": ConnectionConfig}``. The data API hands them
back inside that channel's aggregate and messages, and as ``SubscriptionInfo``'s
``connection_data`` (see :attr:`SubscriptionInfo.connection_config
<pydoover_anyio.models.SubscriptionInfo.connection_config>`).

Times are Unix milliseconds on the wire and aware UTC datetimes here (as in pydoover);
intervals are seconds. Every field may be absent or null.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Self

from ._base import Model, OptionalMsDatetime, ms_to_optional_datetime

__all__ = [
    "ConnectionConfig",
    "ConnectionDetermination",
    "ConnectionDisplay",
    "ConnectionStatus",
    "ConnectionType",
    "DooverConnectionStatus",
]


class ConnectionDetermination(Enum):
    """Whether the platform considers the agent online."""

    online = "Online"
    offline = "Offline"


class ConnectionStatus(Enum):
    """How the agent's connection looks to the platform."""

    continuous_online = "ContinuousOnline"
    continuous_online_no_ping = "ContinuousOnlineNoPing"
    continuous_offline = "ContinuousOffline"
    continuous_pending = "ContinuousPending"
    periodic_unknown = "PeriodicUnknown"
    unknown = "Unknown"


class ConnectionType(Enum):
    """How the agent connects: always, periodically, or periodically then continuously."""

    continuous = "Continuous"
    periodic_continuous = "PeriodicContinuous"
    periodic = "Periodic"

    @classmethod
    def from_v1(cls, data: str) -> ConnectionType:
        """The type of a Doover 1.0 ``connectionType`` value.

        Raises:
            ValueError: an unknown value.
        """
        match data:
            case "constant" | "continuous":
                return cls.continuous
            case "periodic":
                return cls.periodic
            case "periodic_continuous":
                return cls.periodic_continuous
            case _:
                raise ValueError(f"Unknown connection type: {data}")


class ConnectionDisplay(Enum):
    """When the UI shows the agent's connection state."""

    always = "Always"
    online_only = "OnlineOnly"
    offline_only = "OfflineOnly"
    never = "Never"


class ConnectionConfig(Model):
    """How an agent is expected to connect; intervals in seconds.

    Built like pydoover's (``ConnectionConfig(ConnectionType.periodic, offline_after=600)``)
    and mutable like it; ``to_dict()`` is the JSON sent in ``{"config": ...}``.
    """

    _omit_none = frozenset({"display"})

    connection_type: ConnectionType | None = None
    expected_interval: int | float | None = None
    offline_after: int | float | None = None
    sleep_time: int | float | None = None
    next_wake_time: int | float | None = None
    display: ConnectionDisplay | None = None

    @classmethod
    def from_v1(cls, data: dict[str, Any]) -> Self:
        """The config of a Doover 1.0 connection object (``connectionType``,
        ``connectionPeriod``, ``offlineAfter``).

        Raises:
            KeyError: no ``connectionType``.
            ValueError: an unknown connection type.
        """
        period = data.get("connectionPeriod")
        return cls(
            ConnectionType.from_v1(data["connectionType"]),
            period,
            data.get("offlineAfter"),
            period,  # pydoover's approximation: the period is the sleep time too
            None,  # a duration in 1.0, a timestamp in 2.0: not carried over
        )


class DooverConnectionStatus(Model):
    """The platform's view of an agent's connection: status, last contact, from where."""

    _omit_none = frozenset({"user_agent", "ip", "latency_ms"})

    status: ConnectionStatus | None = None
    last_online: OptionalMsDatetime = None
    last_ping: OptionalMsDatetime = None
    user_agent: str | None = None
    ip: str | None = None
    latency_ms: int | None = None

    def __post_init__(self) -> None:
        self.last_online = ms_to_optional_datetime(self.last_online)
        self.last_ping = ms_to_optional_datetime(self.last_ping)
