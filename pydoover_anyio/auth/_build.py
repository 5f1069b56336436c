"""Choosing an auth strategy from a data client's keyword arguments (spec §2.2).

First match wins:

1. ``auth=``: used as is and not owned by the client. Combined with any other auth
   argument it is a ``ValueError`` -- except a base URL that agrees with the auth
   object's own ``data_base_url`` (trailing ``/`` ignored), or any base URL when the
   auth object has none (e.g. a shared :class:`StaticTokenAuth`): pydoover rejects even
   those harmless combinations (§8 #25). An object with only pydoover's members is
   wrapped to gain :meth:`refresh_after_unauthorized` and :meth:`aclose`.
2. ``profile=``: :class:`RefreshTokenAuth` from the profile (refreshed tokens written
   back when the profile is read by name); explicit arguments override its fields.
3. ``refresh_token``, ``auth_server_url`` or ``auth_server_client_id``: :class:`RefreshTokenAuth`.
4. ``client_id`` and ``client_secret``: :class:`ClientCredentialsAuth`.
5. ``control_base_url``: :class:`RefreshTokenAuth` (token only, unless refresh fields exist).
6. Otherwise: :class:`ClientCredentialsAuth` when one of ``client_id`` and
   ``client_secret`` was given (its refresh then fails, naming the missing one), else
   :class:`StaticTokenAuth` with ``token`` (if any).
"""

from __future__ import annotations

import inspect
import os
from datetime import datetime
from typing import Any, cast

from ._client_credentials import ClientCredentialsAuth
from ._defaults import DEFAULT_DATA_BASE_URL
from ._foreign import ForeignAuth
from ._protocol import AsyncAuth
from ._refresh_token import RefreshTokenAuth
from ._static import StaticTokenAuth
from .profile import AuthProfile

_REQUIRED_MEMBERS = ("token", "set_token", "get_auth_headers", "ensure_token")
_FULL_MEMBERS = ("refresh_after_unauthorized", "aclose")


def build_auth(
    *,
    auth: object | None = None,
    profile: str | AuthProfile | None = None,
    base_url: str | None = None,
    data_base_url: str | None = None,
    control_base_url: str | None = None,
    token: str | None = None,
    token_expires: datetime | float | int | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    refresh_token: str | None = None,
    refresh_token_id: str | None = None,
    auth_server_url: str | None = None,
    auth_server_client_id: str | None = None,
    timeout: float = 60.0,
    config_path: str | os.PathLike[str] | None = None,
) -> tuple[AsyncAuth, str, bool]:
    """Pick and build the auth strategy for a data client (see the module docstring).

    Args:
        auth: a pre-built auth object, shared and not owned.
        profile: a profile name in the config file, or an :class:`AuthProfile`.
        base_url: the data API base URL (alias of ``data_base_url``).
        data_base_url: the data API base URL.
        control_base_url: the control API base URL.
        token: an access token.
        token_expires: its expiry: a ``datetime`` (naive means UTC) or Unix seconds.
        client_id: client-credentials id.
        client_secret: client-credentials secret.
        refresh_token: a refresh token.
        refresh_token_id: the refresh token's id.
        auth_server_url: the auth server base URL.
        auth_server_client_id: the OAuth client id for refreshing.
        timeout: seconds one token request may take in total.
        config_path: the profile file (default ``~/.doover/config``).

    Returns:
        ``(auth, data base URL, whether the client owns and must close auth)``.

    Raises:
        ValueError: ``auth`` is combined with other auth arguments, or two base URLs
            disagree.
        TypeError: ``auth`` lacks the async auth members, or ``profile`` has a wrong type.
        RuntimeError: the named profile does not exist.
    """
    if profile is not None and not isinstance(profile, str | AuthProfile):
        raise TypeError(
            f"profile must be a profile name or an AuthProfile, not {type(profile).__name__}"
        )
    requested_url = _requested_base_url(base_url, data_base_url)

    if auth is not None:
        conflicting = [
            name
            for name, value in (
                ("profile", profile),
                ("control_base_url", control_base_url),
                ("token", token),
                ("token_expires", token_expires),
                ("client_id", client_id),
                ("client_secret", client_secret),
                ("refresh_token", refresh_token),
                ("refresh_token_id", refresh_token_id),
                ("auth_server_url", auth_server_url),
                ("auth_server_client_id", auth_server_client_id),
            )
            if value is not None
        ]
        if conflicting:
            raise ValueError(
                f"auth cannot be combined with other auth configuration ({', '.join(conflicting)})"
            )
        shared = _check_auth(auth)
        own_url = shared.data_base_url.rstrip("/") if shared.data_base_url else None
        if requested_url is not None and own_url is not None and requested_url != own_url:
            raise ValueError(
                f"base_url {requested_url!r} differs from the auth object's "
                f"data_base_url {own_url!r}"
            )
        return shared, requested_url or own_url or DEFAULT_DATA_BASE_URL, False

    if profile is not None:
        loaded = RefreshTokenAuth.from_profile(profile, timeout=timeout, config_path=config_path)
        if token is not None or token_expires is not None:
            loaded.set_token(
                token if token is not None else loaded.token, token_expires=token_expires
            )
        if control_base_url is not None:
            loaded.control_base_url = control_base_url.rstrip("/")
        if requested_url is not None:
            loaded.data_base_url = requested_url
        if refresh_token is not None:
            loaded.refresh_token = refresh_token
        if refresh_token_id is not None:
            loaded.refresh_token_id = refresh_token_id
        if auth_server_url is not None:
            loaded.auth_server_url = auth_server_url.rstrip("/")
        if auth_server_client_id is not None:
            loaded.auth_server_client_id = auth_server_client_id
        return loaded, loaded.data_base_url or DEFAULT_DATA_BASE_URL, True

    url = requested_url or DEFAULT_DATA_BASE_URL
    if (
        refresh_token is not None
        or auth_server_url is not None
        or auth_server_client_id is not None
    ):
        kind = "refresh token"  # step 3
    elif client_id and client_secret:
        kind = "client credentials"  # step 4
    elif control_base_url is not None:
        kind = "refresh token"  # step 5
    elif client_id is not None or client_secret is not None:
        kind = "client credentials"  # step 6, incomplete: refreshing will say what is missing
    else:
        kind = "token"  # step 6
    built: AsyncAuth
    if kind == "refresh token":
        built = RefreshTokenAuth(
            token=token,
            token_expires=token_expires,
            refresh_token=refresh_token,
            refresh_token_id=refresh_token_id,
            control_base_url=control_base_url,
            data_base_url=url,
            auth_server_url=auth_server_url,
            auth_server_client_id=auth_server_client_id,
            timeout=timeout,
        )
    elif kind == "client credentials":
        built = ClientCredentialsAuth(
            token=token,
            token_expires=token_expires,
            data_base_url=url,
            client_id=client_id,
            client_secret=client_secret,
            timeout=timeout,
        )
    else:
        built = StaticTokenAuth(token=token, token_expires=token_expires, data_base_url=url)
    return built, url, True


def _requested_base_url(base_url: str | None, data_base_url: str | None) -> str | None:
    """The one base URL asked for (aliases must agree), without a trailing ``/``."""
    given = {url.rstrip("/") for url in (base_url, data_base_url) if url}
    if len(given) > 1:
        raise ValueError("base_url and data_base_url must match when both are given")
    return given.pop() if given else None


def _check_auth(auth: Any) -> AsyncAuth:
    """``auth`` as an :class:`AsyncAuth`, wrapped if it has only pydoover's members."""
    missing = [name for name in _REQUIRED_MEMBERS if not hasattr(auth, name)]
    if missing:
        raise TypeError(
            f"auth must be an async auth object; {type(auth).__name__} lacks {', '.join(missing)}"
        )
    if not inspect.iscoroutinefunction(auth.ensure_token):
        raise TypeError(
            f"auth must be an async auth object; {type(auth).__name__}.ensure_token "
            "is not a coroutine function (a sync auth object?)"
        )
    if all(inspect.iscoroutinefunction(getattr(auth, name, None)) for name in _FULL_MEMBERS):
        return cast(AsyncAuth, auth)
    return ForeignAuth(auth)
