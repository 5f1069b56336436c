"""Seeded, wire-shaped Invoxia records: users, phones, trackers and location tracks.

Everything here is deterministic for a given ``random.Random`` state, and shaped like the
captured responses: ids are JSON numbers, ``lat``/``lng`` and the config's ``mode`` and
``weight`` are strings, datetimes look like ``2019-11-06T22:57:45.911989Z`` and a
tracker's status holds a date-only ``sub_end_date``.

Location times are integer microseconds since the epoch (exact, unlike floats). A
generated track mixes ordinary times with bursts of two to four locations inside one
wall-clock second and with times that fall exactly on a whole second, which are the
cases that break second-granular paging (spec §6.1).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

__all__ = [
    "PHONE_KINDS",
    "TRACKER_KINDS",
    "custom_location",
    "format_time",
    "generate_track",
    "location_record",
    "parse_time",
    "phone_device",
    "tracker_device",
    "user_record",
]

PHONE_KINDS = ("android", "iphone")
TRACKER_KINDS = ("tracker_01", "tracker_03", "tracker_04")

_US = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UUID_CLEAR = ~(0xF000 << 64 | 0xC000 << 48)  # the version nibble and the variant bits
_UUID_SET = 0x4000 << 64 | 0x8000 << 48  # version 4, RFC 4122 variant
_BURST_SHARE = 0.05  # share of steps that put 2-4 locations in one wall-clock second
_WHOLE_SECOND_SHARE = 0.03  # share of locations stamped exactly on a whole second

_TRACKER_NAMES = ("Car", "Backpack", "Dog", "Bike", "Suitcase", "Van", "Cat", "Boat", "Keys")
_PHONE_NAMES = ("MyPhone", "Work phone", "iThingy", "Tablet")
_TIMEZONES = ("Europe/Paris", "Pacific/Auckland", "America/New_York", "UTC")
_ICONS = (0, 1, 2, 3, 5, 7, 8, 10, 14, 17, 19, 24, 31, 32, 46)
_MODES = (1, 2, 3, 6, 8, 21, 22)
_USAGES = ("vehicle", "bike", "dog", "cat", "child", "person", "other", "")
_NETWORKS = (("lora", "EU"), ("sigfox", "EU"), ("lte-m", "WW"))
_BOARDS = {"tracker_01": "LWT1v2", "tracker_03": "LWT3", "tracker_04": "LWT4"}
_FIRMWARES = {
    "tracker_01": "tracker_LWTv2-9.34.0-LoRa+Sigfox",
    "tracker_03": "tracker_LWT3-3.12.1-LTE",
    "tracker_04": "tracker_LWT4-1.4.0-LTE",
}
_FIRMWARE_PATH = "http://developer.invoxia.com/update/tracker/update.pup"
_PRECISIONS = (10, 25, 25, 50, 50, 75, 100, 250)
_METHODS = (2, 2, 2, 2, 1, 3, 8)  # GPS mostly; network, BSSID and server now and then


def format_time(us: int) -> str:
    """Format integer microseconds since the epoch as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    seconds, fraction = divmod(us, _US)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:06d}Z"


def parse_time(value: datetime | str) -> int:
    """Turn a datetime (naive means UTC) or an ISO 8601 string into epoch microseconds.

    Raises:
        ValueError: The string is not ISO 8601.
    """
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _US + delta.microseconds


def _uuid4(rng: random.Random) -> str:
    """A random (version 4, RFC 4122 variant) UUID string drawn from ``rng``."""
    digits = f"{rng.getrandbits(128) & _UUID_CLEAR | _UUID_SET:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def user_record(user_id: int, username: str, profile_id: int) -> dict[str, Any]:
    """A User object as ``/users/`` sends it."""
    return {"id": user_id, "username": username, "profiles": [profile_id]}


def phone_device(rng: random.Random, device_id: int, kind: str, name: str | None) -> dict[str, Any]:
    """A phone device object (``android`` or ``iphone``).

    Args:
        rng: The seeded source of every random choice.
        device_id: The device id.
        kind: ``"android"`` or ``"iphone"`` (whose serial is an uppercase UUID).
        name: The device name, or ``None`` for a generated one.
    """
    serial = _uuid4(rng)
    created = 1_577_836_800 * _US + rng.randrange(0, 3 * 365 * 86_400) * _US
    version = "13.1.0" if kind == "android" else f"9.5.{rng.randrange(10)}.{rng.randrange(10**8)}"
    return {
        "id": device_id,
        "name": name or rng.choice(_PHONE_NAMES),
        "type": kind,
        "serial": serial.upper() if kind == "iphone" else serial,
        "created": format_time(created + rng.randrange(_US)),
        "timezone": rng.choice(_TIMEZONES),
        "version": version,
    }


def tracker_device(
    rng: random.Random,
    device_id: int,
    kind: str,
    name: str | None,
    last_event_us: int | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A tracker device object with its embedded config and status.

    Args:
        rng: The seeded source of every random choice.
        device_id: The device id.
        kind: ``"tracker_01"``, ``"tracker_03"``, ``"tracker_04"`` or another tracker type.
        name: The device name, or ``None`` for a generated one.
        last_event_us: Time of the newest location (for ``last_event``), if any.

    Returns:
        The device object (embedded config without ``weight``, like the device list) and
        the standalone ``tracker_config`` object (which carries ``weight`` as a string).
    """
    network, region = rng.choice(_NETWORKS)
    config: dict[str, Any] = {
        "mode": str(rng.choice(_MODES)),
        "color": rng.randrange(8),
        "icon": rng.choice(_ICONS),
        "notify_position": rng.random() < 0.7,
        "notify_long_walk": rng.random() < 0.5,
        "network": network,
        "network_region": region,
        "network_config": 1,
        "firmware_path": _FIRMWARE_PATH,
        "board_name": _BOARDS.get(kind, "LWT1v2"),
        "usage": rng.choice(_USAGES),
    }
    begin = 1_555_000_000 * _US + rng.randrange(0, 365 * 86_400 * _US)
    status: dict[str, Any] = {
        "battery": rng.randrange(5, 101),
        "begin_date": format_time(begin),
        "last_event": format_time(last_event_us if last_event_us is not None else begin),
        "state": "online",
        "sub_end_date": f"{2026 + rng.randrange(3)}-{rng.randrange(1, 13):02d}-28",
        "sub_state": "normal",
        "network_operator": rng.choice(("parrot", "orange", "objenious")),
        "stationary": rng.randrange(0, 60),
    }
    device: dict[str, Any] = {
        "id": device_id,
        "name": name or rng.choice(_TRACKER_NAMES),
        "type": kind,
        "serial": f"{rng.getrandbits(64):016x}",
        "created": format_time(begin - rng.randrange(1, 86_400) * _US),
        "version_build": f"{rng.getrandbits(28):07x}",
        "timezone": rng.choice(_TIMEZONES),
        "version": _FIRMWARES.get(kind, "tracker-1.0.0"),
        "tracker_config": config,
        "tracker_status": status,
    }
    return device, {**config, "weight": f"{rng.choice((0, 0, 2, 5)):.1f}"}


def generate_track(rng: random.Random, count: int, newest_us: int) -> list[int]:
    """Generate ``count`` distinct location times ending near ``newest_us``.

    Returns:
        Integer microseconds since the epoch, ascending.
    """
    times: list[int] = []
    second = newest_us // _US
    while len(times) < count:
        roll = rng.random()
        if roll < _BURST_SHARE:
            size = min(rng.randint(2, 4), count - len(times))
            fractions = sorted(rng.sample(range(1, _US), size), reverse=True)
            times.extend(second * _US + fraction for fraction in fractions)
        elif roll < _BURST_SHARE + _WHOLE_SECOND_SHARE:
            times.append(second * _US)
        else:
            times.append(second * _US + rng.randrange(1, _US))
        second -= rng.randint(60, 900)
    times.reverse()
    return times


def location_record(
    rng: random.Random, time_us: int, position: tuple[float, float]
) -> tuple[bytes, tuple[float, float]]:
    """Encode one generated location and take one step of the random walk.

    Args:
        rng: The seeded source of every random choice.
        time_us: The location time in epoch microseconds.
        position: The current ``(lat, lng)``.

    Returns:
        The JSON object as bytes and the next position.
    """
    lat, lng = position
    draw = rng.random
    precision = _PRECISIONS[int(draw() * len(_PRECISIONS))]
    method = _METHODS[int(draw() * len(_METHODS))]
    body = (
        f'{{"uuid":"{_uuid4(rng)}","datetime":"{format_time(time_us)}",'
        f'"lat":"{lat:.6f}","lng":"{lng:.6f}","precision":{precision},'
        f'"method":{method},"pkt_drop":0}}'
    ).encode()
    lat = min(max(lat + (draw() - 0.5) * 0.02, -89.0), 89.0)
    lng = (lng + (draw() - 0.5) * 0.02 + 180.0) % 360.0 - 180.0
    return body, (lat, lng)


def custom_location(rng: random.Random, fields: Mapping[str, Any]) -> tuple[int, bytes]:
    """Encode a caller-supplied location, filling in the keys it leaves out.

    ``datetime`` is required: a datetime (naive means UTC) is formatted the wire way, a
    string is sent exactly as given. Float ``lat``/``lng`` become six-decimal strings;
    every other value is sent as given (so ``None`` can model bad server data).

    Returns:
        The location time in epoch microseconds and the JSON object as bytes.

    Raises:
        ValueError: ``datetime`` is missing or not ISO 8601.
    """
    if "datetime" not in fields:
        raise ValueError("every location needs a 'datetime'")
    when = fields["datetime"]
    time_us = parse_time(when)
    record: dict[str, Any] = {
        "uuid": _uuid4(rng),
        "datetime": when if isinstance(when, str) else format_time(time_us),
        "lat": "45.000000",
        "lng": "5.000000",
        "precision": 25,
        "method": 2,
        "pkt_drop": 0,
    }
    for name, value in fields.items():
        if name == "datetime":
            continue
        if name in ("lat", "lng") and isinstance(value, float | int):
            value = f"{value:.6f}"
        elif isinstance(value, uuid.UUID):
            value = str(value)
        record[name] = value
    return time_us, msgspec.json.encode(record)
