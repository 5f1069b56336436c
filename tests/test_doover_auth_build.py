"""``build_auth``: the strategy selection table of spec §2.2, row by row, and its errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from doover_auth_helpers import NOW, make_jwt

from pydoover_anyio.auth import (
    DEFAULT_AUTH_SERVER_URL,
    DEFAULT_CONTROL_BASE_URL,
    DEFAULT_DATA_BASE_URL,
    AuthProfile,
    ClientCredentialsAuth,
    RefreshTokenAuth,
    StaticTokenAuth,
    build_auth,
)
from pydoover_anyio.errors import TokenRefreshError

PROFILE = """\
[profile=default]
TOKEN=profile-token
TOKEN_EXPIRES=1767229200.0
AGENT_ID=1
BASE_URL=https://api.profile.test
REFRESH_TOKEN=profile-rt
REFRESH_TOKEN_ID=profile-rid
BASE_DATA_URL=https://data.profile.test/api
AUTH_SERVER_URL=https://auth.profile.test
AUTH_SERVER_CLIENT_ID=profile-cid
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config"
    path.write_text(PROFILE)
    return path


# --- row 1: a pre-built auth object ---------------------------------------------------


def test_prebuilt_auth_is_shared_not_owned() -> None:
    shared = ClientCredentialsAuth(
        data_base_url="https://data.shared.test/api", client_id="i", client_secret="s"
    )
    first = build_auth(auth=shared)
    second = build_auth(auth=shared)
    assert first == second == (shared, "https://data.shared.test/api", False)


def test_prebuilt_auth_without_a_base_url_uses_the_default_or_the_given_one() -> None:
    shared = StaticTokenAuth(token="t")
    assert build_auth(auth=shared) == (shared, DEFAULT_DATA_BASE_URL, False)
    assert build_auth(auth=shared, base_url="https://other.test/api/") == (
        shared,
        "https://other.test/api",
        False,
    )


def test_prebuilt_auth_accepts_its_own_base_url_again() -> None:
    shared = StaticTokenAuth(token="t", data_base_url="https://data.shared.test/api")
    assert build_auth(auth=shared, base_url="https://data.shared.test/api/")[1] == (
        "https://data.shared.test/api"
    )
    assert build_auth(auth=shared, data_base_url="https://data.shared.test/api")[2] is False


def test_prebuilt_auth_with_a_different_base_url_is_a_value_error() -> None:
    shared = StaticTokenAuth(token="t", data_base_url="https://data.shared.test/api")
    with pytest.raises(ValueError, match="differs"):
        build_auth(auth=shared, base_url="https://elsewhere.test/api")


@pytest.mark.parametrize(
    "name",
    [
        "profile",
        "control_base_url",
        "token",
        "token_expires",
        "client_id",
        "client_secret",
        "refresh_token",
        "refresh_token_id",
        "auth_server_url",
        "auth_server_client_id",
    ],
)
def test_prebuilt_auth_combined_with_other_auth_arguments_is_a_value_error(name: str) -> None:
    value: Any = NOW if name == "token_expires" else "x"
    with pytest.raises(ValueError, match=f"cannot be combined.*{name}"):
        build_auth(auth=StaticTokenAuth(token="t"), **{name: value})


class SyncAuth:
    token = "t"

    def set_token(self, token: str | None) -> None: ...

    def get_auth_headers(self) -> dict[str, str]:
        return {}

    def ensure_token(self) -> None: ...


class PydooverShapedAuth:
    """Only what pydoover's async auth objects have (no 401 hook, ``close`` not ``aclose``)."""

    data_base_url = "https://data.pydoover.test/api"

    def __init__(self) -> None:
        self.token: str | None = "old"
        self.refreshes = 0
        self.closed = False

    def set_token(self, token: str | None) -> None:
        self.token = token

    def get_auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def ensure_token(self) -> None: ...

    async def refresh_access_token(self) -> None:
        self.refreshes += 1
        self.token = f"new-{self.refreshes}"

    async def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("wrong", [object(), "token", SyncAuth()])
def test_prebuilt_auth_of_the_wrong_shape_is_a_type_error(wrong: object) -> None:
    with pytest.raises(TypeError, match="async auth object"):
        build_auth(auth=wrong)


@pytest.mark.anyio
async def test_a_pydoover_shaped_auth_object_is_adapted() -> None:
    inner = PydooverShapedAuth()
    auth, url, owned = build_auth(auth=inner)
    assert (url, owned) == ("https://data.pydoover.test/api", False)
    await auth.ensure_token()
    assert auth.get_auth_headers() == {"Authorization": "Bearer old"}
    assert await auth.refresh_after_unauthorized("old") is True
    assert await auth.refresh_after_unauthorized("old") is True  # already replaced
    assert (inner.refreshes, auth.token) == (1, "new-1")
    auth.set_token("set")
    assert inner.token == "set"
    await auth.aclose()
    assert inner.closed


# --- row 2: a profile -----------------------------------------------------------------


def test_profile_by_name(config: Path) -> None:
    auth, url, owned = build_auth(profile="default", config_path=config, timeout=5.0)
    assert isinstance(auth, RefreshTokenAuth)
    assert (url, owned) == ("https://data.profile.test/api", True)
    assert auth.token == "profile-token"
    assert auth.token_expires == datetime.fromtimestamp(1767229200, UTC)
    assert auth.refresh_token == "profile-rt"
    assert auth.refresh_token_id == "profile-rid"
    assert auth.control_base_url == "https://api.profile.test"
    assert auth.auth_server_url == "https://auth.profile.test"
    assert auth.auth_server_client_id == "profile-cid"
    assert auth.timeout == 5.0
    assert auth.persist_profile == "default"


def test_profile_fields_are_overridden_by_explicit_arguments(config: Path) -> None:
    token = make_jwt(NOW + 900)
    auth, url, _ = build_auth(
        profile="default",
        config_path=config,
        token=token,
        base_url="https://data.override.test/api/",
        control_base_url="https://api.override.test/",
        refresh_token="rt-override",
        refresh_token_id="rid-override",
        auth_server_url="https://auth.override.test/",
        auth_server_client_id="cid-override",
        client_id="ignored",
        client_secret="ignored",
    )
    assert isinstance(auth, RefreshTokenAuth)
    assert url == auth.data_base_url == "https://data.override.test/api"
    assert auth.token == token
    assert auth.token_expires == datetime.fromtimestamp(NOW + 900, UTC)  # from the new JWT
    assert auth.control_base_url == "https://api.override.test"
    assert auth.refresh_token == "rt-override"
    assert auth.refresh_token_id == "rid-override"
    assert auth.auth_server_url == "https://auth.override.test"
    assert auth.auth_server_client_id == "cid-override"


def test_profile_expiry_alone_can_be_overridden(config: Path) -> None:
    auth, _, _ = build_auth(profile="default", config_path=config, token_expires=NOW)
    assert auth.token == "profile-token"
    assert isinstance(auth, RefreshTokenAuth)
    assert auth.token_expires == datetime.fromtimestamp(NOW, UTC)


def test_profile_object_is_not_persisted(config: Path) -> None:
    profile = AuthProfile("mem", token="t", refresh_token="rt", auth_server_client_id="c")
    auth, url, owned = build_auth(profile=profile)
    assert isinstance(auth, RefreshTokenAuth)
    assert (url, owned, auth.persist_profile) == (DEFAULT_DATA_BASE_URL, True, None)
    assert auth.auth_server_url == DEFAULT_AUTH_SERVER_URL
    assert auth.control_base_url == DEFAULT_CONTROL_BASE_URL


def test_unknown_profile_and_wrong_profile_type(config: Path) -> None:
    with pytest.raises(RuntimeError, match="No configuration found for profile missing"):
        build_auth(profile="missing", config_path=config)
    with pytest.raises(TypeError, match="profile"):
        build_auth(profile=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="profile"):  # checked before auth= is looked at
        build_auth(profile=42, auth=StaticTokenAuth())  # type: ignore[arg-type]


# --- rows 3 to 6 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        {"refresh_token": "rt"},
        {"auth_server_url": "https://auth.x.test"},
        {"auth_server_client_id": "cid"},
        {"refresh_token": "rt", "client_id": "i", "client_secret": "s"},  # row 3 beats row 4
    ],
)
def test_row_3_refresh_fields_select_the_refresh_token_flow(arguments: dict[str, Any]) -> None:
    auth, url, owned = build_auth(base_url="https://data.x.test/api", token="t", **arguments)
    assert isinstance(auth, RefreshTokenAuth)
    assert (url, owned, auth.data_base_url, auth.token) == (
        "https://data.x.test/api",
        True,
        "https://data.x.test/api",
        "t",
    )
    assert auth.persist_profile is None


def test_row_4_client_credentials() -> None:
    auth, url, owned = build_auth(
        data_base_url="https://data.x.test/api",
        client_id="i",
        client_secret="s",
        control_base_url="https://api.x.test",  # row 4 beats row 5
        timeout=9.0,
    )
    assert isinstance(auth, ClientCredentialsAuth)
    assert (url, owned) == ("https://data.x.test/api", True)
    assert (auth.client_id, auth.client_secret, auth.timeout) == ("i", "s", 9.0)
    assert auth.token_url == "https://data.x.test/api/oauth2/token"


def test_row_5_control_base_url_alone_selects_the_refresh_token_flow() -> None:
    auth, _, _ = build_auth(control_base_url="https://api.x.test/", token="t")
    assert isinstance(auth, RefreshTokenAuth)
    assert auth.control_base_url == "https://api.x.test"
    assert auth.auth_server_url == DEFAULT_AUTH_SERVER_URL


def test_row_6_a_token_alone_is_static() -> None:
    auth, url, owned = build_auth(token="t", token_expires=datetime(2026, 1, 1))
    assert isinstance(auth, StaticTokenAuth)
    assert (url, owned, auth.token) == (DEFAULT_DATA_BASE_URL, True, "t")
    assert auth.token_expires == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.anyio
async def test_row_6_nothing_at_all_fails_on_first_use() -> None:
    auth, _, _ = build_auth()
    assert isinstance(auth, StaticTokenAuth)
    assert auth.get_auth_headers() == {}
    with pytest.raises(TokenRefreshError):
        await auth.ensure_token()


@pytest.mark.anyio
async def test_row_6_half_client_credentials_name_what_is_missing() -> None:
    auth, _, _ = build_auth(client_id="i")
    assert isinstance(auth, ClientCredentialsAuth)
    with pytest.raises(TokenRefreshError, match="missing client_secret"):
        await auth.ensure_token()


# --- base URLs and argument errors ----------------------------------------------------


def test_base_url_aliases_must_agree() -> None:
    assert build_auth(base_url="https://a.test/api/", data_base_url="https://a.test/api")[1] == (
        "https://a.test/api"
    )
    with pytest.raises(ValueError, match="must match"):
        build_auth(base_url="https://a.test/api", data_base_url="https://b.test/api")


def test_wrong_token_expires_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="token_expires"):
        build_auth(token="t", token_expires="tomorrow")  # type: ignore[arg-type]


def test_built_refresh_auth_uses_the_default_auth_server() -> None:
    auth, _, _ = build_auth(refresh_token="rt", auth_server_client_id="cid")
    assert isinstance(auth, RefreshTokenAuth)
    assert auth.token_url == f"{DEFAULT_AUTH_SERVER_URL}/oauth2/token"
