"""The emulator's in-memory account: one user, their devices and location tracks.

Writers (tests, on any thread) and the server thread share this object. Every change is
made under a lock by building new immutable records and swapping in a new mapping
(copy-on-write), so a request always reads one consistent snapshot without locking.
Device and location bodies are encoded to JSON once, when stored, which keeps the
per-request work to lookups, a bisection and a byte join.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from ._records import (
    PHONE_KINDS,
    TRACKER_KINDS,
    custom_location,
    generate_track,
    location_record,
    parse_time,
    phone_device,
    tracker_device,
    user_record,
)

__all__ = ["DeviceRecord", "InvoxiaState", "Track", "matches_kind"]

DEFAULT_NEWEST = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
"""Generated tracks end within the hour before this moment (fixed, for determinism)."""


def matches_kind(device_type: str, kind: str) -> bool:
    """Whether a device ``type`` passes the ``?type=`` filter ``kind``.

    A family name matches its members (``tracker`` matches ``tracker_01``, ``tracker_03``,
    ``tracker_04`` and any future ``tracker_NN``); an exact type matches itself.
    """
    return device_type == kind or device_type.startswith(kind + "_")


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """One stored device, with its pre-encoded JSON bodies.

    Attributes:
        id: The device id.
        type: The wire ``type`` (may be unknown to the client, for schema-drift tests).
        body: The device object, as ``/devices/`` and ``/devices/{id}/`` send it.
        config: The ``tracker_config`` body, or ``None`` (the endpoint answers 204).
        status: The ``tracker_status`` body, or ``None`` (the endpoint answers 204).
    """

    id: int
    type: str
    body: bytes
    config: bytes | None
    status: bytes | None


@dataclass(frozen=True, slots=True)
class Track:
    """One device's locations, oldest first.

    Attributes:
        times: Location times in epoch microseconds, ascending.
        records: The matching location objects, JSON-encoded.
    """

    times: list[int]
    records: list[bytes]


_EMPTY_TRACK = Track([], [])


class InvoxiaState:
    """One Invoxia account: a user, their phones and trackers and their locations.

    The seeded account holds an android phone, a tracker_01, an iphone, a tracker_03 and
    a tracker_04 (in that order), each tracker with ``locations_per_tracker`` locations.

    Args:
        username: The account's username (also the Basic auth user name).
        password: The account's password.
        seed: Seed of every generated value; the same seed gives the same account.
        locations_per_tracker: How many locations each seeded tracker gets.
        newest: Generated tracks end within the hour before this moment.
    """

    def __init__(
        self,
        *,
        username: str,
        password: str,
        seed: int = 0,
        locations_per_tracker: int = 3000,
        newest: datetime = DEFAULT_NEWEST,
    ) -> None:
        self.username = username
        self.password = password
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._newest_us = parse_time(newest)
        self._used_ids: set[int] = set()
        self._user_id = self._new_id()
        self._user_body = msgspec.json.encode(user_record(self._user_id, username, self._new_id()))
        self._devices: dict[int, DeviceRecord] = {}
        self._tracks: dict[int, Track] = {}
        android, iphone = PHONE_KINDS
        tracker_01, tracker_03, tracker_04 = TRACKER_KINDS
        self.add_phone(android)
        self.add_tracker(locations=locations_per_tracker, kind=tracker_01)
        self.add_phone(iphone)
        self.add_tracker(locations=locations_per_tracker, kind=tracker_03)
        self.add_tracker(locations=locations_per_tracker, kind=tracker_04)

    # -- reading (any thread) -------------------------------------------------------

    @property
    def user_id(self) -> int:
        """The account's user id (``/users/{id}/`` answers 200 only for this one)."""
        return self._user_id

    @property
    def user_body(self) -> bytes:
        """The User object, JSON-encoded."""
        return self._user_body

    def user(self) -> dict[str, Any]:
        """Return the User object as the API sends it."""
        return dict(msgspec.json.decode(self._user_body))

    def records(self) -> list[DeviceRecord]:
        """Return every stored device, in insertion order."""
        return list(self._devices.values())

    def record(self, device_id: int) -> DeviceRecord | None:
        """Return one stored device, or ``None``."""
        return self._devices.get(device_id)

    def track(self, device_id: int) -> Track:
        """Return a device's locations (empty for a device without any)."""
        return self._tracks.get(device_id, _EMPTY_TRACK)

    def devices(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Return the device objects ``/devices/`` sends, optionally filtered by ``kind``."""
        return [
            dict(msgspec.json.decode(record.body))
            for record in self._devices.values()
            if kind is None or matches_kind(record.type, kind)
        ]

    def device_ids(self, kind: str | None = None) -> list[int]:
        """Return the device ids, optionally filtered like ``?type=kind``."""
        return [
            record.id
            for record in self._devices.values()
            if kind is None or matches_kind(record.type, kind)
        ]

    def device(self, device_id: int) -> dict[str, Any]:
        """Return one device object.

        Raises:
            KeyError: No such device.
        """
        return dict(msgspec.json.decode(self._devices[device_id].body))

    def locations(self, device_id: int) -> list[dict[str, Any]]:
        """Return all of a device's location objects, newest first.

        Raises:
            KeyError: No such device.
        """
        if device_id not in self._devices:
            raise KeyError(device_id)
        records = self.track(device_id).records
        return [dict(msgspec.json.decode(record)) for record in reversed(records)]

    # -- writing (any thread) -------------------------------------------------------

    def add_phone(self, kind: str = "android", *, name: str | None = None) -> int:
        """Add a phone.

        Args:
            kind: ``"android"`` or ``"iphone"``.
            name: The device name (generated when omitted).

        Returns:
            The new device id.

        Raises:
            ValueError: An unknown phone kind.
        """
        if kind not in PHONE_KINDS:
            raise ValueError(f"a phone is one of {PHONE_KINDS}, not {kind!r}")
        with self._lock:
            device_id = self._new_id()
            device = phone_device(self._rng, device_id, kind, name)
            self._store(DeviceRecord(device_id, kind, msgspec.json.encode(device), None, None))
        return device_id

    def add_tracker(
        self, *, locations: int = 3000, kind: str = "tracker_01", name: str | None = None
    ) -> int:
        """Add a tracker with a generated location history.

        Args:
            locations: How many locations it has (0 for none).
            kind: The wire type, ``tracker_01``, ``tracker_03``, ``tracker_04`` (or another
                ``tracker_NN`` to model a type the client does not know).
            name: The device name (generated when omitted).

        Returns:
            The new device id.

        Raises:
            ValueError: A negative count or a type outside the tracker family.
        """
        if locations < 0:
            raise ValueError("a tracker cannot have a negative number of locations")
        if not matches_kind(kind, "tracker"):
            raise ValueError(f"a tracker type starts with 'tracker_', not {kind!r}")
        with self._lock:
            device_id = self._new_id()
            newest = self._newest_us - self._rng.randrange(3_600_000_000)
            times = generate_track(self._rng, locations, newest)
            records: list[bytes] = []
            position = (self._rng.uniform(-60.0, 60.0), self._rng.uniform(-180.0, 180.0))
            for time_us in times:
                body, position = location_record(self._rng, time_us, position)
                records.append(body)
            last_event = times[-1] if times else None
            device, config = tracker_device(self._rng, device_id, kind, name, last_event)
            self._store(
                DeviceRecord(
                    device_id,
                    kind,
                    msgspec.json.encode(device),
                    msgspec.json.encode(config),
                    msgspec.json.encode(device["tracker_status"]),
                )
            )
            self._tracks = {**self._tracks, device_id: Track(times, records)}
        return device_id

    def add_device(self, device: Mapping[str, Any]) -> int:
        """Add a device object exactly as given (to model unusual or drifting data).

        Its ``tracker_config`` / ``tracker_status`` keys, when they hold objects, are also
        what the standalone endpoints return; otherwise those endpoints answer 204.

        Args:
            device: The wire object; it needs an integer ``id`` and a string ``type``.

        Returns:
            The device id.

        Raises:
            TypeError: No integer ``id`` or no string ``type``.
            ValueError: The id is taken.
        """
        device_id, kind = device.get("id"), device.get("type")
        if not isinstance(device_id, int) or not isinstance(kind, str):
            raise TypeError("a device needs an integer 'id' and a string 'type'")
        config, status = device.get("tracker_config"), device.get("tracker_status")
        with self._lock:
            if device_id in self._used_ids:
                raise ValueError(f"the id {device_id} is already used")
            self._used_ids.add(device_id)
            self._store(
                DeviceRecord(
                    device_id,
                    kind,
                    msgspec.json.encode(dict(device)),
                    msgspec.json.encode(config) if isinstance(config, dict) else None,
                    msgspec.json.encode(status) if isinstance(status, dict) else None,
                )
            )
        return device_id

    def set_locations(self, device_id: int, locations: Iterable[Mapping[str, Any]]) -> None:
        """Replace a device's location history.

        Each location needs a ``datetime`` (a datetime, naive meaning UTC, or an ISO 8601
        string sent exactly as given); ``uuid``, ``lat``, ``lng``, ``precision``,
        ``method`` and ``pkt_drop`` are filled in when missing. Float ``lat``/``lng`` are
        sent as six-decimal strings, like the real API; other values are sent as given.

        Args:
            device_id: The device.
            locations: The new history, in any order.

        Raises:
            KeyError: No such device.
            ValueError: A location without a valid ``datetime``, or two at the same time.
        """
        with self._lock:
            if device_id not in self._devices:
                raise KeyError(device_id)
            pairs = sorted(custom_location(self._rng, fields) for fields in locations)
            times = [time_us for time_us, _ in pairs]
            if len(set(times)) != len(times):
                raise ValueError("two locations share the exact same time")
            self._tracks = {**self._tracks, device_id: Track(times, [body for _, body in pairs])}

    # -- internals -------------------------------------------------------------------

    def _new_id(self) -> int:
        while True:
            candidate = self._rng.randrange(100_000, 1_000_000)
            if candidate not in self._used_ids:
                self._used_ids.add(candidate)
                return candidate

    def _store(self, record: DeviceRecord) -> None:
        self._devices = {**self._devices, record.id: record}
