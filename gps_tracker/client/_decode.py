"""Response decoders: raw body bytes in, models out (one cached msgspec decoder per shape).

Every failure (invalid JSON, wrong shape, missing key, wrong type) raises
``UnknownAnswerScheme`` whose ``json_data`` is the decoded JSON when the body parsed, else
the body text. Never a bare ``ValueError``/``KeyError``/``TypeError``/msgspec error.

Devices are decoded in two passes: the ``type`` of each object is read first, then the
object is decoded with the decoder of that type. Policy for a ``type`` this package does not
support:

- ``tracker_<anything>`` is read as a ``Tracker01`` when it has that shape (new tracker
  models so far were ``Tracker01``-shaped); an INFO record is logged on ``gps_tracker``;
- otherwise ``decode_devices`` (a list) skips the device and logs a WARNING on the
  ``gps_tracker`` logger naming the type and the device id, so one new device does not hide
  the known trackers, while ``decode_device`` (one object) raises ``UnknownDeviceType``
  with the object as received (``type`` included).

A device object without a str ``type`` raises ``UnknownAnswerScheme`` in both cases.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import msgspec

from gps_tracker.client._lenient import relaxed
from gps_tracker.client.datatypes import (
    _DEVICE_TYPES,
    Device,
    Tracker01,
    TrackerConfig,
    TrackerData,
    TrackerStatus,
    User,
    _is_tracker_kind,
)
from gps_tracker.client.exceptions import _ISSUES_URL, UnknownAnswerScheme, UnknownDeviceType
from pydoover_anyio.runtime._json import UNDECODABLE_JSON

__all__ = [
    "decode_device",
    "decode_devices",
    "decode_locations",
    "decode_tracker_config",
    "decode_tracker_status",
    "decode_user",
    "decode_users",
]

_LOG = logging.getLogger("gps_tracker")
_T = TypeVar("_T")


class _DeviceTag(msgspec.Struct):
    """First pass over a device object: only its ``type``."""

    type: str


_USERS = msgspec.json.Decoder(list[User])
_USER = msgspec.json.Decoder(User)
_LOCATIONS = msgspec.json.Decoder(list[TrackerData])
_STATUS = msgspec.json.Decoder(TrackerStatus)
_CONFIG = msgspec.json.Decoder(TrackerConfig)
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_RAW = msgspec.json.Decoder(msgspec.Raw)
_TAG = msgspec.json.Decoder(_DeviceTag)
_DEVICE_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    kind: msgspec.json.Decoder(cls) for kind, cls in _DEVICE_TYPES.items()
}
_FALLBACK_DECODER = _DEVICE_DECODERS["tracker_01"]


def _as_json(body: bytes | msgspec.Raw) -> Any:
    """Return the body decoded as plain JSON, or its text when it is not JSON."""
    try:
        return msgspec.json.decode(body)
    except UNDECODABLE_JSON:
        return bytes(body).decode("utf-8", errors="replace")


def _decode(decoder: msgspec.json.Decoder[_T], body: bytes | msgspec.Raw, cls: type[Any]) -> _T:
    """Decode ``body`` with ``decoder``, turning every failure into ``UnknownAnswerScheme``.

    A body of the right shape whose values are off in the ways 0.9.2 let through is
    decoded again with those values coerced (see :func:`~._lenient.relaxed`).
    """
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        data = _as_json(body)
        try:
            value: _T = msgspec.convert(relaxed(data, decoder.type), decoder.type)
        except (msgspec.ValidationError, RecursionError):
            raise UnknownAnswerScheme(data, str(exc), cls) from exc
        return value
    except UNDECODABLE_JSON as exc:
        raise UnknownAnswerScheme(_as_json(body), str(exc), cls) from exc


def _read_device(raw: msgspec.Raw) -> Device:
    """Decode one device object by its ``type`` (see the module docstring for the policy)."""
    try:
        kind = _TAG.decode(raw).type
    except UNDECODABLE_JSON as exc:  # never relaxed: a missing or odd type stays an error
        raise UnknownAnswerScheme(_as_json(raw), str(exc), Device) from exc
    decoder = _DEVICE_DECODERS.get(kind)
    if decoder is not None:
        device: Device = _decode(decoder, raw, _DEVICE_TYPES[kind])
        return device
    if _is_tracker_kind(kind):
        try:
            tracker: Tracker01 = _FALLBACK_DECODER.decode(raw)
        except msgspec.ValidationError:
            pass
        else:
            _LOG.info("Device %s of unsupported type %r read as Tracker01.", tracker.id, kind)
            return tracker
    raise UnknownDeviceType(_as_json(raw))


def decode_users(body: bytes) -> list[User]:
    """Decode the answer of ``GET /users/``.

    Args:
        body: The raw response body.

    Returns:
        The users.

    Raises:
        UnknownAnswerScheme: The body is not a list of users.
    """
    return _decode(_USERS, body, User)


def decode_user(body: bytes) -> User:
    """Decode the answer of ``GET /users/{id}/``.

    Args:
        body: The raw response body.

    Returns:
        The user.

    Raises:
        UnknownAnswerScheme: The body is not a user object.
    """
    return _decode(_USER, body, User)


def decode_devices(body: bytes) -> list[Device]:
    """Decode the answer of ``GET /devices/``; devices of unsupported types are skipped.

    Args:
        body: The raw response body.

    Returns:
        The devices, in the order received.

    Raises:
        UnknownAnswerScheme: The body is not a list, or a device has no ``type`` or does not
            fit its model.
    """
    devices = []
    for raw in _decode(_RAW_LIST, body, Device):
        try:
            devices.append(_read_device(raw))
        except UnknownDeviceType as exc:
            data = exc.device_data
            _LOG.warning(
                "Skipping device %s of unsupported type %r; please report this type at %s.",
                data.get("id") if isinstance(data, dict) else None,
                data.get("type") if isinstance(data, dict) else None,
                _ISSUES_URL,
            )
    return devices


def decode_device(body: bytes) -> Device:
    """Decode the answer of ``GET /devices/{id}/``.

    Args:
        body: The raw response body.

    Returns:
        The device, as the subclass given by its ``type``.

    Raises:
        UnknownAnswerScheme: The body is not a device object or does not fit its model.
        UnknownDeviceType: The device ``type`` is not supported.
    """
    return _read_device(_decode(_RAW, body, Device))


def decode_locations(body: bytes) -> list[TrackerData]:
    """Decode one page of ``GET /devices/{id}/tracker_data/``.

    Args:
        body: The raw response body.

    Returns:
        The locations, in the order received.

    Raises:
        UnknownAnswerScheme: The body is not a list of locations.
    """
    return _decode(_LOCATIONS, body, TrackerData)


def decode_tracker_status(body: bytes) -> TrackerStatus:
    """Decode the answer of ``GET /devices/{id}/tracker_status/``.

    Args:
        body: The raw response body.

    Returns:
        The tracker status.

    Raises:
        UnknownAnswerScheme: The body is not a tracker status object.
    """
    return _decode(_STATUS, body, TrackerStatus)


def decode_tracker_config(body: bytes) -> TrackerConfig:
    """Decode the answer of ``GET /devices/{id}/tracker_config/``.

    Args:
        body: The raw response body.

    Returns:
        The tracker config.

    Raises:
        UnknownAnswerScheme: The body is not a tracker config object.
    """
    return _decode(_CONFIG, body, TrackerConfig)
