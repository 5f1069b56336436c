"""``doover-anyio locations export|trackers`` against Invoxia emulators, in subprocesses."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_support import cli

from gps_tracker.emulator import InvoxiaEmulator

NEWEST = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GPX = "{http://www.topografix.com/GPX/1/1}"


@pytest.fixture(scope="module")
def emulator() -> Iterator[InvoxiaEmulator]:
    with InvoxiaEmulator(locations_per_tracker=300, newest=NEWEST) as server:
        yield server


@pytest.fixture
def env(emulator: InvoxiaEmulator) -> dict[str, str]:
    return {
        "INVOXIA_USERNAME": emulator.username,
        "INVOXIA_PASSWORD": emulator.password,
        "INVOXIA_API_URL": emulator.url,
    }


def _expected(emulator: InvoxiaEmulator, since: datetime) -> list[dict[str, Any]]:
    """The emulator's locations of its first tracker at or after ``since``, oldest first."""
    tracker = emulator.state.device_ids("tracker")[0]
    chosen = []
    for location in emulator.state.locations(tracker):
        moment = datetime.fromisoformat(str(location["datetime"]))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if moment >= since:
            chosen.append({**location, "moment": moment})
    return sorted(chosen, key=lambda location: location["moment"])


def test_export_geojson_gpx_and_csv(
    emulator: InvoxiaEmulator, env: dict[str, str], tmp_path: Path
) -> None:
    since = NEWEST - timedelta(hours=24)
    expected = _expected(emulator, since)
    assert 5 < len(expected) < 300
    tracker = str(emulator.state.device_ids("tracker")[0])
    bounds = ("--tracker", tracker, "--since", since.isoformat())

    geo = cli("locations", "export", *bounds, home=tmp_path, env=env)
    assert geo.returncode == 0, geo.stderr
    collection = json.loads(geo.stdout)
    assert collection["type"] == "FeatureCollection"
    features = collection["features"]
    assert [f["id"] for f in features] == [str(e["uuid"]) for e in expected]
    first = features[0]
    assert first["geometry"]["type"] == "Point"
    assert first["geometry"]["coordinates"] == [
        float(expected[0]["lng"]),
        float(expected[0]["lat"]),
    ]
    assert set(first["properties"]) == {"time", "precision", "method"}
    assert first["properties"]["time"].endswith("Z")
    assert f"exported {len(expected)} locations" in geo.stderr

    out = tmp_path / "track.gpx"
    gpx = cli("locations", "export", *bounds, "-o", str(out), home=tmp_path, env=env)
    assert gpx.returncode == 0, gpx.stderr
    assert gpx.stdout == ""
    root = ET.parse(out).getroot()
    assert root.tag == f"{GPX}gpx"
    assert root.attrib["version"] == "1.1"
    points = root.findall(f"{GPX}trk/{GPX}trkseg/{GPX}trkpt")
    assert len(points) == len(expected)
    times = [point.findtext(f"{GPX}time") or "" for point in points]
    assert times == sorted(times)
    assert float(points[-1].attrib["lat"]) == float(expected[-1]["lat"])

    table = cli("locations", "export", *bounds, "--format", "csv", home=tmp_path, env=env)
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert list(rows[0]) == ["time", "lat", "lng", "precision", "method", "uuid"]
    assert [row["uuid"] for row in rows] == [str(e["uuid"]) for e in expected]


def test_unknown_tracker_and_missing_credentials(env: dict[str, str], tmp_path: Path) -> None:
    unknown = cli("locations", "export", "--tracker", "Unicycle", home=tmp_path, env=env)
    assert unknown.returncode == 1
    [line] = unknown.stderr.splitlines()
    assert line.startswith("doover-anyio: error: no tracker 'Unicycle' in this account (trackers: ")

    anonymous = cli("locations", "trackers", home=tmp_path)
    assert anonymous.returncode == 1
    assert anonymous.stderr.startswith("doover-anyio: error: no Invoxia credentials")

    refused = cli("locations", "trackers", home=tmp_path, env={**env, "INVOXIA_PASSWORD": "wrong"})
    assert refused.returncode == 1
    [line] = refused.stderr.splitlines()
    assert line.startswith("doover-anyio: error: Invoxia API: HTTP 401 on GET ")


def test_trackers_against_the_embedded_emulator(tmp_path: Path) -> None:
    result = cli("locations", "trackers", "--emulator", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [line.split()[:3] for line in result.stdout.splitlines()[2:]] == [
        ["599748", "│", "Boat"],
        ["623101", "│", "Backpack"],
        ["354916", "│", "Keys"],
    ]
