"""Every captured Invoxia answer decodes as the spec says; device-type policy; replay transport."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest
from invoxia_fixtures import all_names, load, mock_transport

from gps_tracker.client import _decode
from gps_tracker.client.datatypes import (
    Android,
    Device,
    Iphone,
    Tracker01,
    Tracker03,
    TrackerConfig,
    TrackerIcon,
    TrackerMethod,
    TrackerMode,
    TrackerStatus,
    TrackerUsage,
    User,
)
from gps_tracker.client.exceptions import UnknownAnswerScheme, UnknownDeviceType

ANDROID_SERIAL = UUID("16770679-c231-431e-a512-084b148c8038")
IPHONE_SERIAL = UUID("e30a4dae-8ddb-4e4d-b877-3e63d64a920a")


def check_android(device: Device) -> None:
    assert type(device) is Android
    assert device.id == 222000
    assert device.name == "MyPhone"
    assert device.version == "13.1.0"
    assert device.timezone == "Pacific/Auckland"
    assert device.created == datetime(2020, 1, 6, 19, 19, 3, tzinfo=UTC)
    assert device.serial == ANDROID_SERIAL


def check_iphone(device: Device) -> None:
    assert type(device) is Iphone
    assert device.id == 625235
    assert device.name == "iThingy"
    assert device.version == "9.5.1.88141004"
    assert device.serial == IPHONE_SERIAL  # sent in upper case
    assert device.created == datetime(2020, 6, 5, 23, 28, 33, 293067, tzinfo=UTC)


def check_status(status: TrackerStatus) -> None:
    assert status.battery == 58
    assert status.begin_date == datetime(2019, 4, 19, 19, 43, 32, 197349, tzinfo=UTC)
    assert status.last_event == datetime(2021, 12, 24, 11, 42, 6, 12000, tzinfo=UTC)
    assert (status.state, status.sub_state) == ("online", "normal")
    assert status.network_operator == "parrot"
    assert status.stationary == 12
    assert status.sub_end_date == "2023-02-28"
    assert (status.last_loc_latitude, status.last_loc_longitude, status.last_location) == (
        None,
        None,
        None,
    )
    assert status.lost_pending is False


def check_config(config: TrackerConfig, region: str, weight: float | None) -> None:
    assert config.mode is TrackerMode.AIRPLANE  # sent as "6"
    assert config.icon is TrackerIcon.PLANE
    assert config.color == 0
    assert config.usage is TrackerUsage.VEHICLE
    assert (config.notify_position, config.notify_long_walk) == (True, True)
    assert (config.network, config.network_region) == ("lora", region)
    assert config.network_config == 1
    assert config.firmware_path == "http://developer.invoxia.com/update/tracker/update.pup"
    assert config.board_name == "LWT1v2"
    assert config.image is None
    assert config.weight == weight
    assert weight is None or type(config.weight) is float


def check_tracker(device: Device) -> None:
    assert type(device) is Tracker01
    assert device.id == 878858
    assert device.name == "MyTracker"
    assert device.serial == "18b79eff372a6495"
    assert device.version_build == "8d2ce7f"
    assert device.version == "tracker_LWTv2-9.34.0-LoRa+Sigfox"
    assert device.created == datetime(2020, 5, 11, 16, 15, 40, 175649, tzinfo=UTC)
    assert device.model is None
    check_config(device.tracker_config, region="EU", weight=None)
    check_status(device.tracker_status)


def check_users(users: list[User]) -> None:
    assert users == [User(768046, "heathermorrow@example.net", [176006])]


def check_user(user: User) -> None:
    assert user == User(457961, "bwoodward@example.net", [368955])


def check_devices(devices: list[Device]) -> None:
    assert len(devices) == 3
    check_android(devices[0])
    check_tracker(devices[1])
    check_iphone(devices[2])


def check_locations(locations: list[Any]) -> None:
    assert len(locations) == 68
    first, second = locations[0], locations[1]
    assert first.uuid == UUID("dd4175dd-7a13-4b84-b191-bb990f63ae62")
    assert first.datetime == datetime(2019, 11, 6, 22, 57, 45, 911989, tzinfo=UTC)
    assert (first.lat, first.lng, first.precision) == (23.966175, -41.220703, 25)
    assert second.datetime == datetime(2019, 11, 7, 14, 12, 13, 798307, tzinfo=UTC)  # naive
    assert second.datetime.tzinfo is UTC
    assert all(loc.method is TrackerMethod.GPS for loc in locations)
    assert all(loc.pkt_drop == 0 for loc in locations)
    assert {loc.precision for loc in locations} == {25, 50, 75}
    assert all(type(loc.lat) is float and type(loc.lng) is float for loc in locations)
    assert all(loc.datetime.tzinfo is not None for loc in locations)
    assert len({loc.uuid for loc in locations}) == 68


def expect_missing_profiles(body: bytes) -> None:
    with pytest.raises(UnknownAnswerScheme, match="profiles") as info:
        _decode.decode_users(body)
    assert info.value.json_data == [{"id": 768046, "username": "heathermorrow@example.net"}]
    assert info.value.cls is User


FIXTURE_CHECKS: dict[str, Callable[[bytes], None]] = {
    "200_users": lambda b: check_users(_decode.decode_users(b)),
    "200_users_unknown-field": lambda b: check_users(_decode.decode_users(b)),
    "200_users_missing-field": expect_missing_profiles,
    "200_user_id-457961": lambda b: check_user(_decode.decode_user(b)),
    "200_devices": lambda b: check_devices(_decode.decode_devices(b)),
    "200_devices_type-android": lambda b: check_android(*_decode.decode_devices(b)),
    "200_devices_type-iphone": lambda b: check_iphone(*_decode.decode_devices(b)),
    "200_devices_type-tracker": lambda b: check_tracker(*_decode.decode_devices(b)),
    "200_device_deviceid-222000": lambda b: check_android(_decode.decode_device(b)),
    "200_tracker_config_deviceid-878858": lambda b: check_config(
        _decode.decode_tracker_config(b), region="MOON", weight=0.0
    ),
    "200_tracker_status_deviceid-878858": lambda b: check_status(_decode.decode_tracker_status(b)),
    "200_tracker_data_deviceid-878858": lambda b: check_locations(_decode.decode_locations(b)),
    "200_tracker_data_empty_deviceid-878858": lambda b: (
        None if _decode.decode_locations(b) == [] else pytest.fail("expected no locations")
    ),
}


def test_every_200_fixture_has_a_check() -> None:
    assert sorted(FIXTURE_CHECKS) == [name for name in all_names() if name.startswith("200_")]


@pytest.mark.parametrize("name", sorted(FIXTURE_CHECKS))
def test_fixture_decodes_as_specified(name: str) -> None:
    fixture = load(name)
    assert fixture.status == 200
    assert fixture.content is not None
    FIXTURE_CHECKS[name](fixture.content)


# --- unknown device types -----------------------------------------------------------------


def devices_with(*changes: dict[str, Any]) -> tuple[list[dict[str, Any]], bytes]:
    """The 200_devices list with the given changes applied to its 3 elements."""
    content = load("200_devices").content
    assert content is not None
    devices: list[dict[str, Any]] = json.loads(content)
    for device, change in zip(devices, changes, strict=False):
        device.update(change)
    return devices, json.dumps(devices).encode()


def test_unknown_tracker_type_is_read_as_tracker01(caplog: pytest.LogCaptureFixture) -> None:
    _, body = devices_with({}, {"type": "tracker_05"})
    with caplog.at_level(logging.INFO, logger="gps_tracker"):
        devices = _decode.decode_devices(body)
    assert [type(d) for d in devices] == [Android, Tracker01, Iphone]
    check_tracker(devices[1])
    assert "tracker_05" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_unknown_type_in_list_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    _, body = devices_with({"type": "smartwatch"}, {}, {"type": "tracker_06", "serial": None})
    with caplog.at_level(logging.WARNING, logger="gps_tracker"):
        devices = _decode.decode_devices(body)
    assert [type(d) for d in devices] == [Tracker01]
    warnings = [r.getMessage() for r in caplog.records if r.name == "gps_tracker"]
    assert len(warnings) == 2
    assert "smartwatch" in warnings[0]
    assert "222000" in warnings[0]
    assert "tracker_06" in warnings[1]
    assert "625235" in warnings[1]


def test_known_type_with_bad_shape_fails_the_list() -> None:
    _, body = devices_with({}, {"type": "tracker_03", "tracker_config": {}})
    with pytest.raises(UnknownAnswerScheme) as info:
        _decode.decode_devices(body)
    assert info.value.cls is Tracker03
    assert info.value.json_data["type"] == "tracker_03"


def test_single_unknown_device_raises_unknown_device_type() -> None:
    devices, _ = devices_with({"type": "smartwatch"})
    with pytest.raises(UnknownDeviceType, match="smartwatch") as info:
        _decode.decode_device(json.dumps(devices[0]).encode())
    assert info.value.device_data == devices[0]
    assert info.value.device_data["type"] == "smartwatch"


def test_single_unknown_tracker_device_is_read_as_tracker01() -> None:
    devices, _ = devices_with({}, {"type": "tracker_05"})
    check_tracker(_decode.decode_device(json.dumps(devices[1]).encode()))


def test_device_without_type_raises_unknown_answer_scheme() -> None:
    devices, body = devices_with({"type": None})
    with pytest.raises(UnknownAnswerScheme, match="type"):
        _decode.decode_devices(body)
    del devices[0]["type"]
    with pytest.raises(UnknownAnswerScheme, match="type") as info:
        _decode.decode_device(json.dumps(devices[0]).encode())
    assert info.value.json_data == devices[0]


# --- bodies that are not what the endpoint returns ----------------------------------------


@pytest.mark.parametrize(
    "decode",
    [
        _decode.decode_users,
        _decode.decode_user,
        _decode.decode_devices,
        _decode.decode_device,
        _decode.decode_locations,
        _decode.decode_tracker_status,
        _decode.decode_tracker_config,
    ],
)
def test_wrong_bodies_raise_unknown_answer_scheme(decode: Callable[[bytes], Any]) -> None:
    html = load("404_test").content
    assert html is not None
    with pytest.raises(UnknownAnswerScheme) as info:
        decode(html)
    assert isinstance(info.value.json_data, str)
    assert info.value.json_data.startswith("<!DOCTYPE html>")
    with pytest.raises(UnknownAnswerScheme) as info:
        decode(b"")
    assert info.value.json_data == ""
    wrong_shape = b'"maintenance"'
    with pytest.raises(UnknownAnswerScheme) as info:
        decode(wrong_shape)
    assert info.value.json_data == "maintenance"


def test_list_where_object_expected_and_vice_versa() -> None:
    users = load("200_users").content
    assert users is not None
    with pytest.raises(UnknownAnswerScheme) as info:
        _decode.decode_user(users)
    assert info.value.json_data == json.loads(users)
    with pytest.raises(UnknownAnswerScheme):
        _decode.decode_locations(b'{"uuid": "x"}')
    with pytest.raises(UnknownAnswerScheme):
        _decode.decode_devices(b"[1, 2]")


# --- the replay transport used by client tests ------------------------------------------


def test_mock_transport_replays_every_fixture() -> None:
    names = [
        "200_users",
        "200_devices_type-tracker",
        "200_tracker_data_deviceid-878858",
        "200_tracker_data_empty_deviceid-878858",
        "204_tracker_status-invalid",
        "403_user_id-666666",
        "404_test",
    ]
    seen: list[httpx.Request] = []
    with httpx.Client(
        transport=mock_transport(names, seen=seen), base_url="https://labs.invoxia.io"
    ) as client:
        users = client.get("/users/")
        assert users.status_code == 200
        assert users.headers["content-type"] == "application/json"
        assert _decode.decode_users(users.content)[0].id == 768046
        assert client.get("/devices/?type=tracker").json()[0]["type"] == "tracker_01"
        empty = client.get(
            "/devices/878858/tracker_data/?timestamp=1533411925&timestamp_max=1639307604"
        )
        assert empty.json() == []
        paged = client.get("/devices/878858/tracker_data/?timestamp_max=1")
        assert len(paged.json()) == 68  # a fixture without query answers any query
        no_content = client.get("/devices/222000/tracker_status/")
        assert (no_content.status_code, no_content.content) == (204, b"")
        assert "content-type" not in no_content.headers
        forbidden = client.get("/users/666666/")
        assert forbidden.status_code == 403
        assert forbidden.json() == {"detail": "You do not have permission to perform this action."}
        missing = client.get("/test/")
        assert (missing.status_code, missing.headers["content-type"]) == (404, "text/html")
        with pytest.raises(AssertionError, match="no fixture"):
            client.get("/nowhere/")
    assert [r.url.path for r in seen][:2] == ["/users/", "/devices/"]


def test_mock_transport_connection_errors_and_conflicts() -> None:
    for name in (
        "404_test_except-AsyncClientConnectionError",
        "404_test_except-SyncClientConnectionError",
    ):
        with (
            httpx.Client(transport=mock_transport([name])) as client,
            pytest.raises(httpx.ConnectError),
        ):
            client.get("https://labs.invoxia.io/test/")
    with pytest.raises(ValueError, match="/users/"):
        mock_transport(["200_users", "401_users"])
    assert load("401_users.json").status == 401
    assert load("204_tracker_status-invalid").content is None
