"""Models of the Invoxia API answers (msgspec Structs with the names of ``gps_tracker`` 0.9.2).

Attribute names, Python types, positional constructor order and defaults are those of 0.9.2.
Models are mutable, compare field by field, are unhashable and have no ``type`` attribute.

Decoding rules (applied when a model is built from JSON, see ``form()`` and
``gps_tracker.client._decode``):

- Unknown keys are ignored; a missing required key or a value of the wrong type raises
  ``UnknownAnswerScheme``, unless it is one 0.9.2 let through (a number or ``null`` as
  text, a float as an int, a number as a bool): those are coerced as 0.9.2 did, by a
  second decode that runs only when the first fails (``gps_tracker.client._decode``).
- Numeric fields also accept numeric strings (the API sends ``lat``, ``lng`` and ``weight``
  as strings and ``mode`` as ``"6"``). This leniency is per field: msgspec validates each such
  field against ``<number> | str`` and ``__post_init__`` converts the string.
- Datetimes are always timezone-aware: a value without an offset is UTC. ``null`` is
  accepted (and gives ``None``) for ``created``, ``begin_date`` and ``datetime`` as in 0.9.2.
- UUIDs are ``uuid.UUID`` (upper case accepted).
- Enums fall back to ``UNKNOWN`` instead of failing: ``TrackerIcon`` for any unknown value
  (a string or ``null`` included), ``TrackerMode`` for an unknown number, ``TrackerUsage``
  for an unknown string or ``null`` (a missing key gives ``UND``). ``TrackerMethod`` maps an
  unknown method id to ``TrackerMethod.UNKNOWN`` (value 0, also a real wire value; its
  ``_missing_`` hook does it, so msgspec decodes the enum natively), so a new location
  method never breaks ``get_locations``; 0.9.2 raised ``ValueError`` there.

The constructors convert wire values as 0.9.2's did (text to datetimes, numbers and UUIDs,
an int to ``TrackerMethod``, a mapping to a nested model) but do not validate otherwise;
``form(cls, mapping)`` builds a validated model from a dict.
"""

from __future__ import annotations

import datetime as dt
import enum
import typing
from collections.abc import KeysView, Mapping
from typing import Any, Final, TypeAlias, TypeVar
from uuid import UUID

import msgspec

from gps_tracker.client import exceptions
from gps_tracker.client._lenient import relaxed

__all__ = [
    "Android",
    "Device",
    "Iphone",
    "Tracker",
    "Tracker01",
    "Tracker03",
    "Tracker04",
    "TrackerConfig",
    "TrackerData",
    "TrackerIcon",
    "TrackerMethod",
    "TrackerMode",
    "TrackerStatus",
    "TrackerUsage",
    "User",
    "form",
]

_T = TypeVar("_T")
_UTC = dt.UTC


class TrackerIcon(enum.Enum):
    """Icon chosen for a tracker in the Invoxia app."""

    OTHER = 0
    HANDBAG = 1
    BRIEFCASE = 2
    SUITCASE = 3
    BACKPACK = 5
    BIKE = 7
    BOAT = 8
    CAR = 10
    CARAVAN = 12
    CART = 13
    DOG = 14
    KAYAK = 15
    LAPTOP = 16
    MOTO = 17
    HELICOPTER = 18
    PLANE = 19
    SCOOTER = 21
    TENT = 23
    TRUCK = 24
    TRACTOR = 26
    CAT = 31
    PERSON = 32
    GIRL = 34
    BACKHOE_LOADER = 36
    ANIMAL = 37
    WOMAN = 38
    MAN = 39
    EBIKE = 40
    BEEHIVE = 41
    CARPARK = 42
    ANTENNA = 43
    HEALTH = 44
    WASHER = 45
    KEYS = 46
    TV = 47
    PHONE = 48
    UNKNOWN = -1

    @classmethod
    def from_value(cls, value: Any) -> TrackerIcon:
        """Return the icon with this value, or ``UNKNOWN`` (strings and ``None`` included).

        Args:
            value: The wire value (an int).

        Returns:
            The matching member, else ``TrackerIcon.UNKNOWN``.
        """
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


class TrackerMode(enum.Enum):
    """Operating mode of a tracker (how often it reports)."""

    DAILY = 1
    INTENSE = 2
    CHILD = 3
    KEEP_ALIVE = 4
    AIRPLANE = 6
    LOST = 7
    VEHICLE_S1 = 8
    VEHICLE_S2 = 9
    VEHICLE_S3 = 10
    DAILY_PET = 21
    INTENSE_PET = 22
    CHILD_PET = 23
    LOST_PET_DEBUG = 24
    LOST_PET = 27
    LWT3 = 235
    UNKNOWN = -1

    @classmethod
    def from_value(cls, value: Any) -> TrackerMode:
        """Return the mode for an int or a numeric string; ``UNKNOWN`` for unknown numbers.

        Args:
            value: The wire value, e.g. ``6`` or ``"6"``.

        Returns:
            The matching member, else ``TrackerMode.UNKNOWN``.

        Raises:
            ValueError: ``value`` is a string that is not an integer.
        """
        if isinstance(value, str):
            value = _parse_int("mode", value)
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


class TrackerUsage(enum.Enum):
    """What a tracker is used for. ``UND`` means not set."""

    BIKE = "bike"
    CAT = "cat"
    CHILD = "child"
    DOG = "dog"
    MOTO = "moto"
    OTHER = "other"
    PERSON = "person"
    PET = "pet"
    TOOL = "tool"
    UND = ""
    VEHICLE = "vehicle"
    UNKNOWN = "unknown"

    @classmethod
    def from_value(cls, value: Any) -> TrackerUsage:
        """Return the usage with this value, or ``UNKNOWN`` (``None`` included).

        Args:
            value: The wire value (a str).

        Returns:
            The matching member, else ``TrackerUsage.UNKNOWN``.
        """
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


class TrackerMethod(enum.Enum):
    """How a location was obtained.

    ``UNKNOWN`` (0) is a real wire value and also the fallback for ids this version does not
    know: ``TrackerMethod(99)`` and decoding an unknown method id both give
    ``TrackerMethod.UNKNOWN`` (0.9.2 raised ``ValueError``), so a new location method never
    breaks ``get_locations``.
    """

    UNKNOWN = 0
    NETWORK = 1
    GPS = 2
    BSSID = 3
    PLACE = 4
    UBISCALE = 5
    PHONE = 6
    BSSID_TGU = 7
    SERVER = 8
    BSSID2 = 9
    BSSID3 = 10
    BSSID4 = 11
    FLEET_CORRECTION = 12
    BLE_NEIGHBOR = 13
    GPS_BLE = 14
    PHONE2 = 15

    @classmethod
    def _missing_(cls, value: object) -> TrackerMethod | None:
        # Called by Enum (and by msgspec while decoding) for a value with no member.
        return cls.UNKNOWN if type(value) is int else None


# Field types as msgspec sees them at runtime versus as type checkers see them. Lenient
# fields are validated as "<type> | str" (enums: their raw wire types) by msgspec and
# converted by each model's __post_init__, so only these fields accept strings.
if typing.TYPE_CHECKING:
    _Int: TypeAlias = int
    _OptInt: TypeAlias = int | None
    _Float: TypeAlias = float
    _OptFloat: TypeAlias = float | None
    _Icon: TypeAlias = TrackerIcon
    _Mode: TypeAlias = TrackerMode
    _Usage: TypeAlias = TrackerUsage
else:
    _Int = int | str
    _OptInt = int | str | None
    _Float = float | str
    _OptFloat = float | str | None
    _Icon = int | str | None
    _Mode = int | str | None
    _Usage = str | None


def _parse_int(field: str, value: str) -> int:
    """Convert a numeric string of an int field, with an error naming the field."""
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"`{field}`: expected an integer, got {value!r}") from None


def _parse_float(field: str, value: str) -> float:
    """Convert a numeric string of a float field, with an error naming the field."""
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"`{field}`: expected a number, got {value!r}") from None


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """Return ``value`` with UTC attached when it has no offset."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=_UTC)
    return value


def _datetime(field: str, value: Any) -> dt.datetime | None:
    """A constructor's datetime argument: a datetime, ``None`` or wire text (as decoded)."""
    if value is None or isinstance(value, dt.datetime):
        return _aware(value)
    if isinstance(value, str):
        try:
            return _aware(msgspec.convert(value, dt.datetime))
        except msgspec.ValidationError:
            raise ValueError(f"`{field}`: not a date-time: {value!r}") from None
    raise TypeError(f"`{field}`: expected a datetime, got {type(value).__name__}")


def _uuid(value: Any) -> UUID:
    """A constructor's UUID argument: a ``UUID`` or its text."""
    return value if type(value) is UUID else UUID(value)


def _nested(cls: type[_T], value: Any) -> _T:
    """A constructor's nested model argument: the model, or its JSON object (a mapping)."""
    return form(cls, value) if isinstance(value, Mapping) else value


class _Model(msgspec.Struct):
    """Base of all models: a repr that shows datetimes in ISO form, as 0.9.2 did."""

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={_repr_value(getattr(self, name))}" for name in self._repr_order()
        )
        return f"{type(self).__name__}({fields})"

    @classmethod
    def _repr_order(cls) -> tuple[str, ...]:
        return cls.__struct_fields__


def _repr_value(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.datetime) else repr(value)


class User(_Model):
    """An Invoxia account."""

    id: _Int
    username: str
    profiles: list[_Int]

    def __post_init__(self) -> None:
        if isinstance(self.id, str):
            self.id = _parse_int("id", self.id)
        if any(isinstance(profile, str) for profile in self.profiles):
            self.profiles = [
                _parse_int("profiles", p) if isinstance(p, str) else p for p in self.profiles
            ]


class _DeviceBase(_Model, kw_only=True):
    """Holds the keyword-only ``timezone`` so it follows the positional fields."""

    timezone: str | None = None


class Device(_DeviceBase):
    """Base class of all devices (phones and trackers)."""

    id: _Int
    created: dt.datetime | None
    name: str
    version: str

    def __post_init__(self) -> None:
        if isinstance(self.id, str):
            self.id = _parse_int("id", self.id)
        self.created = _datetime("created", self.created)

    @classmethod
    def _repr_order(cls) -> tuple[str, ...]:
        # 0.9.2's: the device fields, ``timezone`` last of them, then the subclass's.
        rest = tuple(name for name in cls.__struct_fields__ if name not in _DEVICE_FIELDS)
        return (*_DEVICE_FIELDS, *rest)

    @staticmethod
    def get_types() -> KeysView[str]:
        """Return the supported device ``type`` values, in registration order.

        Returns:
            A keys view: android, iphone, tracker, tracker_01, tracker_03, tracker_04.
        """
        return _DEVICE_TYPES.keys()

    @staticmethod
    def get(device_data: Mapping[str, Any]) -> Device:
        """Build the right ``Device`` subclass for a device object, dispatched on ``type``.

        The mapping is not modified. An unknown type starting with ``tracker_`` is read as a
        ``Tracker01`` when it has that shape.

        Args:
            device_data: The decoded JSON object of one device (0.9.2's name).

        Returns:
            The device model.

        Raises:
            UnknownAnswerScheme: ``device_data`` has no str ``type`` or does not fit the model.
            UnknownDeviceType: The ``type`` is not supported.
        """
        kind = device_data.get("type") if isinstance(device_data, Mapping) else None
        if not isinstance(kind, str):
            raise exceptions.UnknownAnswerScheme(
                device_data, "`type`: missing or not a string", Device
            )
        cls = _DEVICE_TYPES.get(kind)
        if cls is not None:
            return form(cls, device_data)
        if _is_tracker_kind(kind):
            try:
                return form(Tracker01, device_data)
            except exceptions.UnknownAnswerScheme:
                pass
        raise exceptions.UnknownDeviceType(dict(device_data))


_DEVICE_FIELDS: Final = ("id", "created", "name", "version", "timezone")


class _Phone(Device):
    """What the two phones share: a UUID ``serial``."""

    serial: UUID

    def __post_init__(self) -> None:
        super().__post_init__()
        self.serial = _uuid(self.serial)


class Android(_Phone):
    """A phone running the Invoxia app on Android."""


class Iphone(_Phone):
    """A phone running the Invoxia app on iOS (serial sent in upper case)."""


class Tracker(Device):
    """Base class of all GPS trackers."""


class TrackerConfig(_Model):
    """Settings of a tracker."""

    color: _Int
    firmware_path: str
    icon: _Icon
    mode: _Mode
    network: str
    network_region: str
    notify_position: bool
    notify_long_walk: bool
    usage: _Usage = TrackerUsage.UND
    board_name: str | None = None
    image: str | None = None
    network_config: _OptInt = None
    weight: _OptFloat = None

    def __post_init__(self) -> None:
        if isinstance(self.color, str):
            self.color = _parse_int("color", self.color)
        if type(self.icon) is not TrackerIcon:
            self.icon = TrackerIcon.from_value(self.icon)
        if type(self.mode) is not TrackerMode:
            self.mode = TrackerMode.from_value(self.mode)
        if type(self.usage) is not TrackerUsage:
            self.usage = TrackerUsage.from_value(self.usage)
        if isinstance(self.network_config, str):
            self.network_config = _parse_int("network_config", self.network_config)
        if isinstance(self.weight, str):
            self.weight = _parse_float("weight", self.weight)


class TrackerStatus(_Model):
    """Live state of a tracker (battery, network, subscription)."""

    battery: _Int
    begin_date: dt.datetime | None
    network_operator: str
    state: str
    stationary: _Int
    sub_state: str
    last_event: dt.datetime | None = None
    last_loc_latitude: _OptFloat = None
    last_loc_longitude: _OptFloat = None
    last_location: dt.datetime | None = None
    lost_pending: bool | None = False
    sub_end_date: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.battery, str):
            self.battery = _parse_int("battery", self.battery)
        if isinstance(self.stationary, str):
            self.stationary = _parse_int("stationary", self.stationary)
        self.begin_date = _datetime("begin_date", self.begin_date)
        self.last_event = _datetime("last_event", self.last_event)
        self.last_location = _datetime("last_location", self.last_location)
        if isinstance(self.last_loc_latitude, str):
            self.last_loc_latitude = _parse_float("last_loc_latitude", self.last_loc_latitude)
        if isinstance(self.last_loc_longitude, str):
            self.last_loc_longitude = _parse_float("last_loc_longitude", self.last_loc_longitude)


class Tracker01(Tracker):
    """A tracker of type ``tracker_01`` (and the shape of the newer tracker models)."""

    serial: str
    version_build: str
    tracker_config: TrackerConfig
    tracker_status: TrackerStatus
    model: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.tracker_config = _nested(TrackerConfig, self.tracker_config)
        self.tracker_status = _nested(TrackerStatus, self.tracker_status)


class Tracker03(Tracker01):
    """A tracker of type ``tracker_03``."""


class Tracker04(Tracker01):
    """A tracker of type ``tracker_04``."""


class TrackerData(_Model):
    """One location of a tracker."""

    datetime: dt.datetime | None
    lat: _Float
    lng: _Float
    method: TrackerMethod
    pkt_drop: _Int
    precision: _Int
    uuid: UUID

    def __post_init__(self) -> None:
        # Inlined checks: this runs once per location and is the hot path of decoding.
        # (Decoded values have their types; a constructor may get wire values, as 0.9.2's.)
        when = self.datetime
        if type(when) is not dt.datetime:
            self.datetime = _datetime("datetime", when)
        elif when.tzinfo is None:
            self.datetime = when.replace(tzinfo=_UTC)
        if type(self.method) is not TrackerMethod:
            self.method = TrackerMethod(self.method)
        if type(self.uuid) is not UUID:
            self.uuid = _uuid(self.uuid)
        if isinstance(self.lat, str):
            self.lat = _parse_float("lat", self.lat)
        if isinstance(self.lng, str):
            self.lng = _parse_float("lng", self.lng)
        if isinstance(self.pkt_drop, str):
            self.pkt_drop = _parse_int("pkt_drop", self.pkt_drop)
        if isinstance(self.precision, str):
            self.precision = _parse_int("precision", self.precision)


_DEVICE_TYPES: dict[str, type[Device]] = {
    "android": Android,
    "iphone": Iphone,
    "tracker": Tracker,
    "tracker_01": Tracker01,
    "tracker_03": Tracker03,
    "tracker_04": Tracker04,
}


def _is_tracker_kind(kind: str) -> bool:
    """Tell whether an unsupported device ``type`` may be read in the ``Tracker01`` shape.

    Args:
        kind: A device ``type`` value that is not registered.

    Returns:
        True for ``tracker_`` followed by anything (new tracker models so far were
        ``Tracker01``-shaped).
    """
    return kind.startswith("tracker_")


def form(cls: type[_T], data: Any) -> _T:
    """Build a model from a decoded JSON mapping (the 0.9.2 generic builder).

    Unknown keys are ignored. The mapping is not modified.

    Args:
        cls: The model class, e.g. ``User`` or ``TrackerConfig``.
        data: The decoded JSON object (0.9.2's name; the spec's table says ``mapping``).

    Returns:
        The model instance.

    Raises:
        UnknownAnswerScheme: A required key is missing or a value has the wrong type.
    """
    try:
        return msgspec.convert(data, cls)
    except msgspec.ValidationError as exc:
        try:  # what 0.9.2's converters let through, coerced as they did
            return msgspec.convert(relaxed(data, cls), cls)
        except (msgspec.ValidationError, RecursionError):
            raise exceptions.UnknownAnswerScheme(data, str(exc), cls) from exc
