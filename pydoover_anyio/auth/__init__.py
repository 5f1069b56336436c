"""Authentication for the Doover data API: bearer tokens and how they are refreshed.

Strategies (all implement :class:`AsyncAuth`; see spec §2):

* :class:`StaticTokenAuth`: a token given explicitly, used until it expires.
* :class:`ClientCredentialsAuth`: client id + secret at ``{data_base_url}/oauth2/token``.
* :class:`RefreshTokenAuth`: a refresh token at the auth server; built from a profile
  of ``~/.doover/config`` with :meth:`RefreshTokenAuth.from_profile`.

:func:`build_auth` picks one from a data client's keyword arguments. Every strategy
refreshes at most once at a time, 30 s before expiry or after a 401, and keeps its
secrets out of ``repr()``, logs and error messages. Failures raise
:class:`~pydoover_anyio.errors.TokenRefreshError`. One auth object may be shared by
any number of clients, on one event loop or several (e.g. ``DataClient`` instances in
different threads): still only one refresh runs at a time.

:mod:`.profile` reads and writes the profile file (:class:`AuthProfile`,
:class:`ConfigManager`).
"""

from __future__ import annotations

from ._base import TokenAuth
from ._build import build_auth
from ._client_credentials import ClientCredentialsAuth
from ._defaults import (
    DEFAULT_AUTH_SERVER_URL,
    DEFAULT_CONFIG_PATH,
    DEFAULT_CONTROL_BASE_URL,
    DEFAULT_DATA_BASE_URL,
)
from ._protocol import AsyncAuth
from ._refresh_token import RefreshTokenAuth
from ._static import StaticTokenAuth
from ._token import EXPIRY_BUFFER_SECONDS
from .profile import AuthProfile, ConfigManager

__all__ = [
    "DEFAULT_AUTH_SERVER_URL",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_CONTROL_BASE_URL",
    "DEFAULT_DATA_BASE_URL",
    "EXPIRY_BUFFER_SECONDS",
    "AsyncAuth",
    "AuthProfile",
    "ClientCredentialsAuth",
    "ConfigManager",
    "RefreshTokenAuth",
    "StaticTokenAuth",
    "TokenAuth",
    "build_auth",
]
