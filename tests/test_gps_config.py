"""Config (credentials, api_url normalisation, Basic auth) and UrlProvider (endpoint URLs)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from gps_tracker.client.config import Config
from gps_tracker.client.url_provider import UrlProvider


def decoded_auth(header: str) -> bytes:
    scheme, _, token = header.partition(" ")
    assert scheme == "Basic"
    return base64.b64decode(token)


# --- Config -------------------------------------------------------------------------------


def test_positional_keyword_and_default_url() -> None:
    assert Config("u", "p") == Config(password="p", username="u")
    cfg = Config("u", "p", "https://example.com")
    assert (cfg.username, cfg.password, cfg.api_url) == ("u", "p", "https://example.com")
    assert Config("u", "p").api_url == "https://labs.invoxia.io"
    assert Config.default_api_url() == "https://labs.invoxia.io"


def test_empty_credentials_are_accepted() -> None:
    cfg = Config("", "")
    assert (cfg.username, cfg.password) == ("", "")


def test_equality_mutability_and_hashing() -> None:
    a, b = Config("u", "p"), Config("u", "p")
    assert a == b
    b.password = "other"
    assert a != b
    b.password = "p"
    b.api_url = "http://localhost:8000"
    assert a != b
    assert a != ("u", "p", "https://labs.invoxia.io")
    with pytest.raises(TypeError):
        hash(a)


def test_repr_hides_password() -> None:
    cfg = Config("u", "a very long secret password")
    assert repr(cfg) == (
        "Config(username='u', password='********', api_url='https://labs.invoxia.io')"
    )
    assert "secret" not in repr(Config("u", "secret", "http://me:secret@host:1/"))
    assert repr(Config("u", "x", "http://me:secret@host:1/")).endswith(
        "api_url='http://me:********@host:1')"
    )


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("https://labs.invoxia.io", "https://labs.invoxia.io"),
        ("https://labs.invoxia.io/", "https://labs.invoxia.io"),
        ("https://labs.invoxia.io/api/v1/?x=1#f", "https://labs.invoxia.io"),
        ("HTTP://Example.COM:8443/x", "http://Example.COM:8443"),
        ("http://user:pw@h/", "http://user:pw@h"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://[::1]:8080/x", "http://[::1]:8080"),
    ],
)
def test_api_url_normalisation(given: str, stored: str) -> None:
    assert Config("u", "p", given).api_url == stored
    cfg = Config("u", "p")
    cfg.api_url = given
    assert cfg.api_url == stored


@pytest.mark.parametrize(
    "bad", ["labs.invoxia.io", "", "localhost:8080", "/users/", "ftp://host/", "http://"]
)
def test_api_url_without_scheme_or_host_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="api_url"):
        Config("u", "p", bad)
    cfg = Config("u", "p")
    with pytest.raises(ValueError, match="api_url"):
        cfg.api_url = bad
    assert cfg.api_url == "https://labs.invoxia.io"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"username": None, "password": "p"},
        {"username": "u", "password": 1234},
        {"username": b"u", "password": "p"},
        {"username": "u", "password": "p", "api_url": None},
    ],
)
def test_non_str_values_raise_type_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        Config(**kwargs)


def test_assigning_non_str_credentials_raises_type_error() -> None:
    cfg = Config("u", "p")
    with pytest.raises(TypeError, match="password"):
        cfg.password = None  # type: ignore[assignment]
    with pytest.raises(TypeError, match="username"):
        cfg.username = 5  # type: ignore[assignment]
    assert (cfg.username, cfg.password) == ("u", "p")


def test_basic_auth_header_ascii_and_latin1() -> None:
    assert Config("user", "pass").basic_auth_header() == "Basic dXNlcjpwYXNz"
    assert decoded_auth(Config("josé", "pé").basic_auth_header()) == b"jos\xe9:p\xe9"
    assert decoded_auth(Config("", "").basic_auth_header()) == b":"


def test_basic_auth_header_falls_back_to_utf8() -> None:
    header = Config("u", "5€é").basic_auth_header()
    assert decoded_auth(header) == "u:5€é".encode()


# --- UrlProvider -------------------------------------------------------------------------


def test_endpoint_urls() -> None:
    urls = UrlProvider()
    assert urls.api_url == "https://labs.invoxia.io"
    assert urls.users() == "https://labs.invoxia.io/users/"
    assert urls.user(457961) == "https://labs.invoxia.io/users/457961/"
    assert urls.devices() == "https://labs.invoxia.io/devices/"
    assert urls.device(222000) == "https://labs.invoxia.io/devices/222000/"
    assert urls.tracker_status(878858) == "https://labs.invoxia.io/devices/878858/tracker_status/"
    assert urls.tracker_config(878858) == "https://labs.invoxia.io/devices/878858/tracker_config/"


def test_custom_base_url() -> None:
    urls = UrlProvider(Config("u", "p", "http://localhost:8000/").api_url)
    assert urls.users() == "http://localhost:8000/users/"
    assert UrlProvider(api_url="http://x").device(1) == "http://x/devices/1/"


@pytest.mark.parametrize(
    "kind", ["android", "iphone", "tracker", "tracker_01", "tracker_03", "tracker_04"]
)
def test_devices_by_kind(kind: str) -> None:
    assert UrlProvider().devices(kind) == f"https://labs.invoxia.io/devices/?type={kind}"


@pytest.mark.parametrize("kind", ["trackers", "Tracker", "", "tracker_05"])
def test_unknown_kind_raises_key_error(kind: str) -> None:
    with pytest.raises(KeyError) as info:
        UrlProvider().devices(kind)
    assert info.value.args == (f"Device of kind '{kind}' are undefined.",)


@pytest.mark.parametrize(
    ("not_before", "not_after", "query"),
    [
        (None, None, ""),
        (1533411925, None, "?timestamp=1533411925"),
        (None, 1639307604, "?timestamp_max=1639307604"),
        (1533411925, 1639307604, "?timestamp=1533411925&timestamp_max=1639307604"),
        (0, 0, "?timestamp=0&timestamp_max=0"),
    ],
)
def test_locations_query(not_before: int | None, not_after: int | None, query: str) -> None:
    url = UrlProvider().locations(878858, not_before, not_after)
    assert url == f"https://labs.invoxia.io/devices/878858/tracker_data/{query}"
    keyword = UrlProvider().locations(878858, not_before=not_before, not_after=not_after)
    assert keyword == url
