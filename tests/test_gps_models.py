"""Models of gps_tracker.client.datatypes: shape, enums, lenient fields, datetimes, errors."""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest

from gps_tracker.client import _decode
from gps_tracker.client.datatypes import (
    Android,
    Device,
    Iphone,
    Tracker,
    Tracker01,
    Tracker03,
    Tracker04,
    TrackerConfig,
    TrackerData,
    TrackerIcon,
    TrackerMethod,
    TrackerMode,
    TrackerStatus,
    TrackerUsage,
    User,
    form,
)
from gps_tracker.client.exceptions import UnknownAnswerScheme, UnknownDeviceType

CREATED = datetime(2020, 5, 11, 16, 15, 40, tzinfo=UTC)


def config_json(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "color": 0,
        "firmware_path": "http://fw.example/update.pup",
        "icon": 19,
        "mode": "6",
        "network": "lora",
        "network_region": "EU",
        "notify_position": True,
        "notify_long_walk": False,
    }
    data.update(changes)
    return data


def status_json(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "battery": 58,
        "begin_date": "2019-04-19T19:43:32.197349Z",
        "network_operator": "parrot",
        "state": "online",
        "stationary": 12,
        "sub_state": "normal",
    }
    data.update(changes)
    return data


def location_json(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "uuid": "dd4175dd-7a13-4b84-b191-bb990f63ae62",
        "datetime": "2019-11-06T22:57:45.911989Z",
        "lat": "23.966175",
        "lng": "-41.220703",
        "precision": 25,
        "method": 2,
        "pkt_drop": 0,
    }
    data.update(changes)
    return data


def tracker_json(kind: str = "tracker_01", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": 878858,
        "type": kind,
        "name": "MyTracker",
        "serial": "18b79eff372a6495",
        "created": "2020-05-11T16:15:40Z",
        "version_build": "8d2ce7f",
        "version": "tracker_LWTv2-9.34.0",
        "tracker_config": config_json(),
        "tracker_status": status_json(),
    }
    data.update(changes)
    return data


def body(data: Any) -> bytes:
    return json.dumps(data).encode()


def decode_config(**changes: Any) -> TrackerConfig:
    return _decode.decode_tracker_config(body(config_json(**changes)))


def decode_status(**changes: Any) -> TrackerStatus:
    return _decode.decode_tracker_status(body(status_json(**changes)))


def decode_location(**changes: Any) -> TrackerData:
    (location,) = _decode.decode_locations(body([location_json(**changes)]))
    return location


def make_config() -> TrackerConfig:
    return TrackerConfig(
        3, "fw", TrackerIcon.DOG, TrackerMode.DAILY, "lora", "EU", True, False, TrackerUsage.DOG
    )


def make_status() -> TrackerStatus:
    return TrackerStatus(80, CREATED, "op", "online", 1, "normal")


# --- shape: attribute names, positional order, defaults, hierarchy -------------------------


def test_user_positional_order() -> None:
    user = User(1, "a@example.net", [2, 3])
    assert (user.id, user.username, user.profiles) == (1, "a@example.net", [2, 3])


def test_phone_positional_order_and_keyword_only_timezone() -> None:
    serial = UUID("16770679-c231-431e-a512-084b148c8038")
    phone = Android(1, CREATED, "MyPhone", "13.1.0", serial)
    assert (phone.id, phone.created, phone.name, phone.version, phone.serial) == (
        1,
        CREATED,
        "MyPhone",
        "13.1.0",
        serial,
    )
    assert phone.timezone is None
    assert Iphone(1, CREATED, "n", "v", serial, timezone="Europe/Paris").timezone == "Europe/Paris"
    with pytest.raises(TypeError):
        Android(1, CREATED, "n", "v", serial, "Europe/Paris")  # type: ignore[call-arg]


def test_tracker01_positional_order_and_defaults() -> None:
    config, status = make_config(), make_status()
    tracker = Tracker01(5, CREATED, "T", "v1", "abc", "build", config, status)
    assert (tracker.id, tracker.created, tracker.name, tracker.version) == (5, CREATED, "T", "v1")
    assert (tracker.serial, tracker.version_build) == ("abc", "build")
    assert tracker.tracker_config is config
    assert tracker.tracker_status is status
    assert tracker.model is None
    assert tracker.timezone is None
    with_model = Tracker01(
        5, CREATED, "T", "v1", "abc", "build", config, status, "LWT3", timezone="Z"
    )
    assert (with_model.model, with_model.timezone) == ("LWT3", "Z")


def test_tracker_config_positional_order_and_defaults() -> None:
    config = make_config()
    assert (config.color, config.firmware_path, config.icon, config.mode) == (
        3,
        "fw",
        TrackerIcon.DOG,
        TrackerMode.DAILY,
    )
    assert (config.network, config.network_region) == ("lora", "EU")
    assert (config.notify_position, config.notify_long_walk, config.usage) == (
        True,
        False,
        TrackerUsage.DOG,
    )
    short = TrackerConfig(0, "fw", TrackerIcon.CAR, TrackerMode.LOST, "n", "r", False, False)
    assert short.usage is TrackerUsage.UND
    assert (short.board_name, short.image, short.network_config, short.weight) == (
        None,
        None,
        None,
        None,
    )


def test_tracker_status_positional_order_and_defaults() -> None:
    status = make_status()
    assert (status.battery, status.begin_date, status.network_operator) == (80, CREATED, "op")
    assert (status.state, status.stationary, status.sub_state) == ("online", 1, "normal")
    assert status.last_event is None
    assert status.last_loc_latitude is None
    assert status.last_loc_longitude is None
    assert status.last_location is None
    assert status.lost_pending is False
    assert status.sub_end_date is None


def test_tracker_data_positional_order() -> None:
    uid = UUID("dd4175dd-7a13-4b84-b191-bb990f63ae62")
    location = TrackerData(CREATED, 1.5, -2.5, TrackerMethod.GPS, 0, 25, uid)
    assert (location.datetime, location.lat, location.lng) == (CREATED, 1.5, -2.5)
    assert (location.method, location.pkt_drop, location.precision, location.uuid) == (
        TrackerMethod.GPS,
        0,
        25,
        uid,
    )


def test_class_hierarchy() -> None:
    config, status = make_config(), make_status()
    for cls in (Tracker03, Tracker04):
        tracker = cls(1, CREATED, "n", "v", "s", "b", config, status)
        assert isinstance(tracker, Tracker01)
        assert isinstance(tracker, Tracker)
        assert isinstance(tracker, Device)
    assert issubclass(Tracker01, Tracker)
    assert not issubclass(Android, Tracker)
    assert not issubclass(Iphone, Tracker)


def test_models_have_no_type_attribute() -> None:
    tracker = Device.get(tracker_json())
    assert not hasattr(tracker, "type")


def test_equality_is_field_wise_and_models_are_mutable_and_unhashable() -> None:
    a, b = make_config(), make_config()
    assert a == b
    b.color = 4
    assert a != b
    with pytest.raises(TypeError):
        hash(a)
    t1 = Tracker01(1, CREATED, "n", "v", "s", "b", make_config(), make_status())
    t3 = Tracker03(1, CREATED, "n", "v", "s", "b", make_config(), make_status())
    assert t1 != t3  # like attrs: equal only within the same class


def test_repr_shows_datetimes_in_iso_form() -> None:
    phone = Android(222000, CREATED, "MyPhone", "13.1.0", UUID(int=1), timezone="Pacific/Auckland")
    assert repr(phone) == (  # 0.9.2's order: timezone before the subclass's fields
        "Android(id=222000, created=2020-05-11T16:15:40+00:00, name='MyPhone', version='13.1.0', "
        "timezone='Pacific/Auckland', serial=UUID('00000000-0000-0000-0000-000000000001'))"
    )
    tracker = repr(Device.get(tracker_json()))
    assert tracker.startswith("Tracker01(id=878858, created=2020-05-11T16:15:40+00:00, ")
    assert ", timezone=None, serial='18b79eff372a6495', " in tracker


# --- enums ------------------------------------------------------------------------------


def test_enums_are_plain_enums_with_exact_members() -> None:
    for cls in (TrackerIcon, TrackerMode, TrackerUsage, TrackerMethod):
        assert type(cls) is enum.EnumType
        assert not issubclass(cls, int | str)
    assert len(TrackerIcon) == 37
    assert TrackerIcon.DOG.value == 14
    assert TrackerIcon.PHONE.value == 48
    assert TrackerIcon.UNKNOWN.value == -1
    assert [m.value for m in TrackerMode][-2:] == [235, -1]
    assert TrackerMode.AIRPLANE.value == 6
    assert TrackerUsage.UND.value == ""
    assert TrackerUsage.UNKNOWN.value == "unknown"
    assert [m.name for m in TrackerMethod][:3] == ["UNKNOWN", "NETWORK", "GPS"]
    assert TrackerMethod.PHONE2.value == 15


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (19, TrackerIcon.PLANE),
        (0, TrackerIcon.OTHER),
        (30, TrackerIcon.UNKNOWN),
        (4, TrackerIcon.UNKNOWN),
        (-1, TrackerIcon.UNKNOWN),
        ("19", TrackerIcon.UNKNOWN),
        (None, TrackerIcon.UNKNOWN),
    ],
)
def test_icon_from_value(value: Any, expected: TrackerIcon) -> None:
    assert TrackerIcon.from_value(value) is expected
    assert decode_config(icon=value).icon is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (6, TrackerMode.AIRPLANE),
        ("6", TrackerMode.AIRPLANE),
        ("235", TrackerMode.LWT3),
        (99, TrackerMode.UNKNOWN),
        ("99", TrackerMode.UNKNOWN),
        (None, TrackerMode.UNKNOWN),
    ],
)
def test_mode_from_value(value: Any, expected: TrackerMode) -> None:
    assert TrackerMode.from_value(value) is expected
    assert decode_config(mode=value).mode is expected


def test_mode_non_numeric_string() -> None:
    with pytest.raises(ValueError, match="mode"):
        TrackerMode.from_value("abc")
    with pytest.raises(UnknownAnswerScheme, match="mode"):
        decode_config(mode="abc")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("vehicle", TrackerUsage.VEHICLE),
        ("", TrackerUsage.UND),
        ("unknown", TrackerUsage.UNKNOWN),
        ("spaceship", TrackerUsage.UNKNOWN),
        (None, TrackerUsage.UNKNOWN),
    ],
)
def test_usage_from_value(value: Any, expected: TrackerUsage) -> None:
    assert TrackerUsage.from_value(value) is expected
    assert decode_config(usage=value).usage is expected


def test_usage_missing_is_und() -> None:
    assert decode_config().usage is TrackerUsage.UND


@pytest.mark.parametrize(
    ("value", "expected"),
    [(2, TrackerMethod.GPS), (0, TrackerMethod.UNKNOWN), (99, TrackerMethod.UNKNOWN)],
)
def test_method_unknown_id_falls_back_to_unknown(value: int, expected: TrackerMethod) -> None:
    assert TrackerMethod(value) is expected
    assert decode_location(method=value).method is expected


def test_method_must_be_an_int() -> None:
    with pytest.raises(UnknownAnswerScheme, match="method"):
        decode_location(method="2")
    with pytest.raises(ValueError, match="is not a valid TrackerMethod"):
        TrackerMethod("2")


def test_other_enums_keep_strict_constructors() -> None:
    with pytest.raises(ValueError, match="is not a valid TrackerIcon"):
        TrackerIcon(30)
    assert TrackerIcon(19) is TrackerIcon.PLANE


# --- datetimes (spec 3.1) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("2020-01-06T19:19:03.000000Z", datetime(2020, 1, 6, 19, 19, 3, tzinfo=UTC)),
        ("2019-11-07T14:12:13.798307", datetime(2019, 11, 7, 14, 12, 13, 798307, tzinfo=UTC)),
        ("2019-11-07T14:12:13", datetime(2019, 11, 7, 14, 12, 13, tzinfo=UTC)),
        ("2019-11-07T14:12:13Z", datetime(2019, 11, 7, 14, 12, 13, tzinfo=UTC)),
        (
            "2019-11-07T14:12:13.5+02:00",
            datetime(2019, 11, 7, 14, 12, 13, 500000, tzinfo=timezone(timedelta(hours=2))),
        ),
        (
            "2019-11-07T14:12:13.123+0100",
            datetime(2019, 11, 7, 14, 12, 13, 123000, tzinfo=timezone(timedelta(hours=1))),
        ),
        (None, None),
    ],
)
def test_datetime_forms(wire: str | None, expected: datetime | None) -> None:
    values = [
        decode_location(datetime=wire).datetime,
        decode_status(begin_date=wire).begin_date,
        decode_status(last_event=wire).last_event,
        decode_status(last_location=wire).last_location,
        Device.get(tracker_json(created=wire)).created,
    ]
    for value in values:
        assert value == expected
        if expected is not None:
            assert value is not None
            assert value.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("wire", ["2023-02-28", "", "yesterday", 1573080000])
def test_bad_datetimes_raise_unknown_answer_scheme(wire: Any) -> None:
    with pytest.raises(UnknownAnswerScheme, match="datetime"):
        decode_location(datetime=wire)


def test_sub_end_date_stays_a_string() -> None:
    assert decode_status(sub_end_date="2023-02-28").sub_end_date == "2023-02-28"


# --- lenient numeric fields, strict everything else ----------------------------------------


def test_numeric_strings_become_numbers() -> None:
    location = decode_location(lat="23.966175", lng=-41, precision="50", pkt_drop="1")
    assert (location.lat, location.lng, location.precision, location.pkt_drop) == (
        23.966175,
        -41.0,
        50,
        1,
    )
    assert type(location.lat) is float
    assert type(location.lng) is float
    assert type(location.precision) is int
    config = decode_config(color="7", weight="0.0", network_config="1")
    assert (config.color, config.weight, config.network_config) == (7, 0.0, 1)
    assert type(config.weight) is float
    status = decode_status(
        battery="58", stationary="3", last_loc_latitude="1.25", last_loc_longitude=2
    )
    assert (status.battery, status.stationary) == (58, 3)
    assert (status.last_loc_latitude, status.last_loc_longitude) == (1.25, 2.0)
    user = _decode.decode_user(body({"id": "7", "username": "u", "profiles": ["1", 2]}))
    assert (user.id, user.profiles) == (7, [1, 2])
    assert Device.get(tracker_json(id="878858")).id == 878858


def test_optional_values_and_explicit_nulls() -> None:
    status = decode_status()
    assert status.lost_pending is False
    assert decode_status(lost_pending=None).lost_pending is None
    assert decode_status(lost_pending=True).lost_pending is True
    config = decode_config(network_config=None, weight=None, board_name=None, image="x.png")
    assert (config.network_config, config.weight, config.board_name) == (None, None, None)
    assert config.image == "x.png"
    tracker = Device.get(tracker_json(model="LWT3"))
    assert isinstance(tracker, Tracker01)
    assert tracker.model == "LWT3"
    assert tracker.timezone is None


def test_uuids_accept_upper_case() -> None:
    location = decode_location(uuid="DD4175DD-7A13-4B84-B191-BB990F63AE62")
    assert location.uuid == UUID("dd4175dd-7a13-4b84-b191-bb990f63ae62")


@pytest.mark.parametrize(
    ("decode", "changes"),
    [
        (decode_status, {"battery": None}),
        (decode_status, {"battery": "abc"}),
        (decode_status, {"last_loc_latitude": "north"}),
        (decode_location, {"lat": None}),
        (decode_location, {"lat": "abc"}),
        (decode_location, {"precision": None}),
        (decode_location, {"uuid": None}),
        (decode_location, {"uuid": "not-a-uuid"}),
        (decode_location, {"method": None}),
        (decode_config, {"color": None}),
        (decode_config, {"board_name": 5}),
        (decode_config, {"image": 5}),
        (decode_config, {"icon": 1.5}),
        (decode_config, {"weight": "heavy"}),
    ],
)
def test_wrong_types_raise_unknown_answer_scheme(decode: Any, changes: dict[str, Any]) -> None:
    (field,) = changes
    with pytest.raises(UnknownAnswerScheme, match=field) as info:
        decode(**changes)
    assert isinstance(info.value.json_data, dict | list)


@pytest.mark.parametrize(
    ("decode", "changes", "read_as"),
    [
        (decode_status, {"battery": 58.9}, 58),  # truncated
        (decode_status, {"battery": 58.0}, 58),
        (decode_status, {"state": None}, "None"),  # 0.9.2's str(None)
        (decode_status, {"network_operator": 208}, "208"),
        (decode_status, {"lost_pending": 0}, False),
        (decode_status, {"lost_pending": "false"}, False),  # 0.9.2 made this True
        (decode_config, {"notify_position": "true"}, True),
        (decode_config, {"notify_long_walk": 1}, True),
        (decode_config, {"notify_long_walk": None}, False),
        (decode_config, {"firmware_path": 3}, "3"),
        (decode_config, {"network_config": 3.0}, 3),
        (decode_config, {"network_config": 1.5}, 1),  # truncated where it may be null too
        (decode_config, {"notify_position": ""}, False),  # other text: its truth
        (decode_config, {"notify_long_walk": "yes"}, True),
        (decode_status, {"lost_pending": "yes"}, True),
        (decode_status, {"sub_end_date": 2023}, "2023"),  # optional text
        (decode_location, {"pkt_drop": 2.0}, 2),
        (decode_status, {"state": {"code": 3}}, "{'code': 3}"),  # 0.9.2's str() of it
        (decode_status, {"network_operator": ["a", 1]}, "['a', 1]"),
        (decode_status, {"sub_end_date": {"y": 2023}}, "{'y': 2023}"),  # optional text
        (decode_location, {"method": 3.0}, TrackerMethod.BSSID),  # a whole one, as an enum
        (decode_location, {"precision": True}, 1),  # int(True)
        (decode_location, {"lat": True}, 1.0),  # float(True)
        (decode_status, {"battery": False}, 0),
    ],
)
def test_values_0_9_2_let_through_are_coerced_as_it_did(
    decode: Any, changes: dict[str, Any], read_as: Any
) -> None:
    # One odd value must not fail a whole answer (a device list) that 0.9.2 read (spec §3).
    ((field, _),) = changes.items()
    assert getattr(decode(**changes), field) == read_as


def test_a_tracker_with_values_0_9_2_let_through_is_read() -> None:
    changes = {"name": None, "version": 9, "tracker_config": config_json(notify_position=None)}
    tracker = _decode.decode_device(body(tracker_json(**changes)))
    assert isinstance(tracker, Tracker01)
    assert (tracker.name, tracker.version) == ("None", "9")
    assert tracker.tracker_config.notify_position is False
    assert _decode.decode_devices(body([tracker_json(version=9), tracker_json()]))[0].version == "9"
    # An object where text goes (a backend change) no longer fails the whole device list.
    drifted = tracker_json(tracker_status=status_json(state={"code": 3}))
    trackers = _decode.decode_devices(body([drifted, tracker_json()]))
    assert [t.tracker_status.state for t in trackers] == ["{'code': 3}", "online"]


@pytest.mark.parametrize(
    "changes",
    [{"tracker_status": None}, {"tracker_config": None}, {"model": 5}],
)
def test_wrong_types_in_trackers_raise_unknown_answer_scheme(changes: dict[str, Any]) -> None:
    with pytest.raises(UnknownAnswerScheme):
        _decode.decode_device(body(tracker_json(**changes)))


def test_odd_values_in_lists_and_optional_text_of_devices_are_read() -> None:
    user = _decode.decode_user(body({"id": 1, "username": "u", "profiles": [176006.0, 2.5]}))
    assert user.profiles == [176006, 2]
    tracker = _decode.decode_devices(body([tracker_json(timezone=5)]))[0]
    assert tracker.timezone == "5"
    with pytest.raises(UnknownAnswerScheme, match="icon"):  # an enum takes whole numbers only
        decode_config(icon=2.5)


def test_profiles_null_raises() -> None:
    with pytest.raises(UnknownAnswerScheme, match="profiles"):
        _decode.decode_user(body({"id": 1, "username": "u", "profiles": None}))


# --- constructors convert wire values, as 0.9.2's attrs converters did ------------------------


def test_constructors_take_wire_values() -> None:
    location = TrackerData(**location_json())
    assert location == decode_location()
    assert location.datetime == datetime(2019, 11, 6, 22, 57, 45, 911989, tzinfo=UTC)
    assert (location.lat, location.method) == (23.966175, TrackerMethod.GPS)
    assert location.uuid == UUID("dd4175dd-7a13-4b84-b191-bb990f63ae62")
    raw = tracker_json()
    del raw["type"]
    tracker = Tracker01(**raw)
    assert isinstance(tracker.tracker_config, TrackerConfig)
    assert isinstance(tracker.tracker_status, TrackerStatus)
    assert tracker == Device.get(tracker_json())
    assert tracker.tracker_status.begin_date == datetime(
        2019, 4, 19, 19, 43, 32, 197349, tzinfo=UTC
    )
    phone = Android(id="222000", created=None, name="p", version="1", serial=str(UUID(int=5)))
    assert (phone.id, phone.serial) == (222000, UUID(int=5))
    assert User(id="1", username="u", profiles=["2"]) == User(1, "u", [2])
    naive = datetime(2020, 1, 1)  # a naive value is read as UTC
    assert TrackerData(**location_json(datetime=naive)).datetime == naive.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"datetime": "yesterday"}, ValueError),
        ({"datetime": 1573080000}, TypeError),
        ({"uuid": "not-a-uuid"}, ValueError),
        ({"lat": "north"}, ValueError),
    ],
)
def test_constructors_refuse_wire_values_that_do_not_convert(
    changes: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        TrackerData(**location_json(**changes))


# --- form() and Device.get() ---------------------------------------------------------------


def test_form_builds_and_ignores_unknown_keys_without_mutating() -> None:
    mapping = {"id": 1, "username": "u", "profiles": [2], "extra": {"nested": True}}
    assert form(User, mapping) == User(1, "u", [2])
    assert "extra" in mapping
    config = form(TrackerConfig, config_json(weight="1.5"))
    assert (config.mode, config.weight, config.icon) == (
        TrackerMode.AIRPLANE,
        1.5,
        TrackerIcon.PLANE,
    )


def test_form_and_device_get_read_values_0_9_2_let_through() -> None:
    # 0.9.2's form() was the constructor with its converters: the same leniency applies.
    assert form(User, {"id": 1, "username": None, "profiles": [2]}).username == "None"
    assert form(TrackerStatus, status_json(battery=58.9)).battery == 58
    location = form(TrackerData, location_json(method=TrackerMethod.GPS))
    assert location.method is TrackerMethod.GPS
    assert Device.get(tracker_json(version=13)).version == "13"
    assert Device.get(tracker_json("tracker_09", version=13)).version == "13"


def test_form_missing_key_raises_unknown_answer_scheme() -> None:
    mapping = {"id": 1, "username": "u"}
    with pytest.raises(UnknownAnswerScheme, match="profiles") as info:
        form(User, mapping)
    assert info.value.json_data is mapping
    assert info.value.cls is User
    assert "profiles" in info.value.message


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("tracker_01", Tracker01),
        ("tracker_03", Tracker03),
        ("tracker_04", Tracker04),
        ("tracker", Tracker),
    ],
)
def test_device_get_dispatches_on_type(kind: str, cls: type[Device]) -> None:
    data = tracker_json(kind)
    device = Device.get(data)
    assert type(device) is cls
    assert data["type"] == kind  # the mapping is not modified
    assert device.id == 878858


def test_device_get_phones() -> None:
    phone = {"id": 1, "created": None, "name": "p", "version": "1", "type": "iphone"}
    iphone = Device.get({**phone, "serial": "E30A4DAE-8DDB-4E4D-B877-3E63D64A920A"})
    assert type(iphone) is Iphone
    assert iphone.serial == UUID("e30a4dae-8ddb-4e4d-b877-3e63d64a920a")
    android = Device.get({**phone, "type": "android", "serial": str(UUID(int=5))})
    assert type(android) is Android


def test_device_get_types_in_registration_order() -> None:
    assert list(Device.get_types()) == [
        "android",
        "iphone",
        "tracker",
        "tracker_01",
        "tracker_03",
        "tracker_04",
    ]


def test_device_get_unknown_tracker_type_reads_as_tracker01() -> None:
    device = Device.get(tracker_json("tracker_07"))
    assert type(device) is Tracker01


def test_device_get_unknown_type_raises_unknown_device_type() -> None:
    data = {"id": 3, "type": "smartwatch", "name": "w"}
    with pytest.raises(UnknownDeviceType) as info:
        Device.get(data)
    assert info.value.device_data == data
    broken_tracker = tracker_json("tracker_09", tracker_status=None)
    with pytest.raises(UnknownDeviceType) as info:
        Device.get(broken_tracker)
    assert info.value.device_data["type"] == "tracker_09"


@pytest.mark.parametrize("data", [{"id": 3}, {"id": 3, "type": 5}, ["android"]])
def test_device_get_without_str_type_raises_unknown_answer_scheme(data: Any) -> None:
    with pytest.raises(UnknownAnswerScheme, match="type"):
        Device.get(data)
