"""Drop-in check: gps-tracker 0.9.2's callables take the same parameters here.

The table holds 0.9.2's parameters as a caller sees them (the member looked up on its
class or module: an instance method lists ``self``, a class or static method does not),
written down from gps-tracker 0.9.2 installed in a venv of its own (its import name is
ours, so it cannot be imported next to this package). Ours must take the same names, in
the same order, of the same kinds, with the same defaults; beyond them only keyword-only
parameters with defaults (``max_concurrency``, ``timeout``, ...), which no 0.9.2 call
can collide with.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any
from unittest import mock

import pytest

from gps_tracker import Client
from gps_tracker.client.exceptions import ApiConnectionError
from pydoover_anyio.sync import DataClient

_ = inspect.Parameter.empty
# (name, kind, default); kinds: p = positional or keyword, k = keyword only, v = *args.
Params = list[tuple[str, str, Any]]
_CLIENT_CALLS: dict[str, Params] = {
    "get_user": [("self", "p", _), ("user_id", "p", _)],
    "get_users": [("self", "p", _)],
    "get_device": [("self", "p", _), ("device_id", "p", _)],
    "get_devices": [("self", "p", _), ("kind", "p", None)],
    "get_trackers": [("self", "p", _)],
    "get_locations": [
        ("self", "p", _),
        ("device", "p", _),
        ("not_before", "p", None),
        ("not_after", "p", None),
        ("max_count", "p", 20),
    ],
    "get_tracker_status": [("self", "p", _), ("device", "p", _)],
    "get_tracker_config": [("self", "p", _), ("device", "p", _)],
}
_HTTP_ERROR: Params = [("msg", "p", None), ("json_answer", "p", None)]
_HTTP_ERRORS = (
    "HttpException",
    "UnauthorizedQuery",
    "ForbiddenQuery",
    "NoContentQuery",
    "FailedQuery",
)
_URL = "https://labs.invoxia.io"

GPS_TRACKER_092: dict[str, Params] = {
    "asynchronous:AsyncClient": [("config", "p", _), ("session", "p", None)],
    "asynchronous:AsyncClient.get_auth": [("config", "p", _)],
    "asynchronous:AsyncClient.close": [("self", "p", _)],
    "asynchronous:AsyncClient.__aenter__": [("self", "p", _)],
    "asynchronous:AsyncClient.__aexit__": [
        ("self", "p", _),
        ("exc_type", "p", _),
        ("exc_val", "p", _),
        ("exc_tb", "p", _),
    ],
    **{f"asynchronous:AsyncClient.{name}": params for name, params in _CLIENT_CALLS.items()},
    "synchronous:Client": [("config", "p", _)],
    **{f"synchronous:Client.{name}": params for name, params in _CLIENT_CALLS.items()},
    "config:Config": [("username", "p", _), ("password", "p", _), ("api_url", "p", _URL)],
    "config:Config.default_api_url": [],
    "url_provider:UrlProvider": [("api_url", "p", _URL)],
    "url_provider:UrlProvider.users": [("self", "p", _)],
    "url_provider:UrlProvider.user": [("self", "p", _), ("user_id", "p", _)],
    "url_provider:UrlProvider.devices": [("self", "p", _), ("kind", "p", None)],
    "url_provider:UrlProvider.device": [("self", "p", _), ("device_id", "p", _)],
    "url_provider:UrlProvider.locations": [
        ("self", "p", _),
        ("device_id", "p", _),
        ("not_before", "p", None),
        ("not_after", "p", None),
    ],
    "url_provider:UrlProvider.tracker_status": [("self", "p", _), ("device_id", "p", _)],
    "url_provider:UrlProvider.tracker_config": [("self", "p", _), ("device_id", "p", _)],
    "datatypes:form": [("cls", "p", _), ("data", "p", _)],
    "datatypes:Device.get": [("device_data", "p", _)],
    "datatypes:Device.get_types": [],
    "datatypes:TrackerIcon.from_value": [("value", "p", _)],
    "datatypes:TrackerMode.from_value": [("value", "p", _)],
    "datatypes:TrackerUsage.from_value": [("value", "p", _)],
    "exceptions:UnknownDeviceType": [("device_data", "p", _)],
    "exceptions:UnknownAnswerScheme": [("json_data", "p", _), ("message", "p", _), ("cls", "p", _)],
    # 0.9.2's is Exception's own: any positional arguments.
    "exceptions:ApiConnectionError": [("args", "v", _)],
    **{f"exceptions:{name}": _HTTP_ERROR for name in _HTTP_ERRORS},
    "exceptions:HttpException.get": [("code", "p", _)],
    "exceptions:HttpException.get_default": [],
}

_KINDS = {
    inspect.Parameter.POSITIONAL_OR_KEYWORD: "p",
    inspect.Parameter.KEYWORD_ONLY: "k",
    inspect.Parameter.VAR_POSITIONAL: "v",
}


def lookup(where: str) -> Any:
    module, _, path = where.partition(":")
    found: Any = importlib.import_module(f"gps_tracker.client.{module}")
    for name in path.split("."):
        found = getattr(found, name)
    return found


def params(obj: Any) -> Params:
    return [
        (p.name, _KINDS.get(p.kind, str(p.kind)), p.default)
        for p in inspect.signature(obj).parameters.values()
    ]


@pytest.mark.parametrize("where", sorted(GPS_TRACKER_092))
def test_the_parameters_are_0_9_2s(where: str) -> None:
    expected = GPS_TRACKER_092[where]
    ours = params(lookup(where))
    assert ours[: len(expected)] == expected
    extras = ours[len(expected) :]
    assert all(kind == "k" and default is not _ for _name, kind, default in extras), extras


def test_an_api_connection_error_takes_a_message_as_0_9_2s_did() -> None:
    error = ApiConnectionError("offline")
    assert error.args == ("offline",)
    assert str(error) == "offline"
    assert ApiConnectionError().args == ()


@pytest.mark.parametrize("facade", [Client, DataClient])
def test_sync_methods_are_plain_functions_on_the_class(facade: type) -> None:
    """As methods written out are: ``inspect`` and ``help`` see their parameters, and
    ``mock.create_autospec`` (tests of code that uses the clients) checks calls."""
    method = facade.get_trackers if facade is Client else facade.fetch_channel
    assert inspect.isfunction(method)
    assert next(iter(inspect.signature(method).parameters)) == "self"
    assert method.__qualname__ == f"{facade.__name__}.{method.__name__}"


def test_an_autospec_of_the_sync_client_checks_calls_like_0_9_2s() -> None:
    client = mock.create_autospec(Client, instance=True)
    client.get_locations(object(), max_count=1)
    client.get_locations.assert_called_once()
    with pytest.raises(TypeError):
        client.get_locations(object(), max_items=1)
    with pytest.raises(TypeError):
        client.get_user()


def test_an_autospec_of_the_sync_data_client_checks_calls() -> None:
    client = mock.create_autospec(DataClient, instance=True)
    client.fetch_channel("agent", "channel")
    with pytest.raises(TypeError):
        client.fetch_channel("agent", "channel", no_such_parameter=1)


def test_a_sync_method_can_be_called_through_the_class() -> None:
    with mock.patch.object(Client, "_call_async", return_value=[]) as call:
        client = Client.__new__(Client)
        assert Client.get_users(client) == []
    call.assert_called_once_with("get_users", (), {})
