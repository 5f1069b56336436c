"""Tracker locations as GeoJSON, GPX or CSV text, I/O-free (chunks of ``str``).

Every format lists the locations oldest first (a GPX track must be chronological; the
others follow it), times in UTC ISO 8601:

* ``geojson``: a ``FeatureCollection`` of ``Point`` features (``[lng, lat]``), each
  with ``id`` (the location's uuid) and ``properties`` ``time``, ``precision`` (metres)
  and ``method`` (``gps``, ``bssid``, ...);
* ``gpx``: GPX 1.1, one ``trk`` named after the tracker, one ``trkseg`` of ``trkpt``
  with ``lat`` / ``lon`` and ``time``;
* ``csv``: ``time,lat,lng,precision,method,uuid``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final
from xml.sax.saxutils import escape, quoteattr

from gps_tracker.client.datatypes import TrackerData

__all__ = ["GeoFormat", "format_for", "render"]


class GeoFormat(StrEnum):
    """The export formats."""

    GEOJSON = "geojson"
    GPX = "gpx"
    CSV = "csv"


_SUFFIXES: Final = {".geojson": GeoFormat.GEOJSON, ".gpx": GeoFormat.GPX, ".csv": GeoFormat.CSV}


def format_for(output: str | None, given: str | None) -> GeoFormat:
    """``given``, else the output file's extension, else GeoJSON."""
    if given is not None:
        return GeoFormat(given)
    if output is not None:
        for suffix, found in _SUFFIXES.items():
            if output.lower().endswith(suffix):
                return found
    return GeoFormat.GEOJSON


def _time(location: TrackerData) -> str:
    moment = location.datetime or datetime.fromtimestamp(0, UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _method(location: TrackerData) -> str:
    return location.method.name.lower()


def _geojson(locations: Sequence[TrackerData]) -> Iterator[str]:
    yield '{"type":"FeatureCollection","features":['
    for index, location in enumerate(locations):
        feature = {
            "type": "Feature",
            "id": str(location.uuid),
            "geometry": {"type": "Point", "coordinates": [location.lng, location.lat]},
            "properties": {
                "time": _time(location),
                "precision": location.precision,
                "method": _method(location),
            },
        }
        yield ("," if index else "") + "\n" + json.dumps(feature, separators=(",", ":"))
    yield "\n]}\n"


#: Characters XML 1.0 has no place for, not even as references (C0 controls but tab,
#: LF and CR; lone surrogates; U+FFFE and U+FFFF).
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_chars(text: str) -> str:
    """``text`` with characters XML cannot hold replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def _gpx(locations: Sequence[TrackerData], name: str) -> Iterator[str]:
    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx version="1.1" creator="doover-anyio" xmlns="http://www.topografix.com/GPX/1/1">\n'
        f"  <trk>\n    <name>{escape(_xml_chars(name))}</name>\n    <trkseg>\n"
    )
    for location in locations:
        yield (
            f"      <trkpt lat={quoteattr(repr(location.lat))} lon={quoteattr(repr(location.lng))}>"
            f"<time>{_time(location)}</time></trkpt>\n"
        )
    yield "    </trkseg>\n  </trk>\n</gpx>\n"


def _csv(locations: Sequence[TrackerData]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["time", "lat", "lng", "precision", "method", "uuid"])
    for index, location in enumerate(locations, start=1):
        writer.writerow(
            [
                _time(location),
                repr(location.lat),
                repr(location.lng),
                location.precision,
                _method(location),
                location.uuid,
            ]
        )
        if index % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def render(kind: GeoFormat, locations: Sequence[TrackerData], name: str) -> Iterator[str]:
    """The export of ``locations`` (oldest first) in ``kind``, as chunks of text.

    Args:
        kind: The format.
        locations: The locations, oldest first.
        name: The tracker's name (GPX track name).
    """
    if kind is GeoFormat.GEOJSON:
        return _geojson(locations)
    if kind is GeoFormat.GPX:
        return _gpx(locations, name)
    return _csv(locations)
