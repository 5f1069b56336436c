"""Client configuration: credentials and API base URL (``gps_tracker`` 0.9.2 ``Config``).

``api_url`` keeps only ``scheme://netloc`` of what it is given (scheme lower-cased, host case,
port and any ``user:pass@`` kept; path, query, fragment and trailing slash dropped), at
construction and on every assignment, as 0.9.2 did. Unlike 0.9.2, a URL without an
``http``/``https`` scheme or without a host raises ``ValueError`` instead of storing ``"://"``.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Config"]

_DEFAULT_API_URL = "https://labs.invoxia.io"
_MASK = "********"


def _normalise_api_url(api_url: str) -> str:
    """Reduce a URL to ``scheme://netloc``.

    Raises:
        TypeError: ``api_url`` is not a str.
        ValueError: It has no http(s) scheme or no host.
    """
    if not isinstance(api_url, str):
        raise TypeError(f"'api_url' must be a str, got {type(api_url).__name__}.")
    parts = urlsplit(api_url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"'api_url' must be an absolute http(s) URL such as {_DEFAULT_API_URL!r}, "
            f"got {api_url!r}."
        )
    return f"{scheme}://{parts.netloc}"


def _mask_userinfo(api_url: str) -> str:
    """Hide a password embedded in the URL (``http://user:pw@host``) for display."""
    scheme, sep, rest = api_url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return api_url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{sep}{user}:{_MASK}@{host}"


def _check_str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"'{name}' must be a str, got {type(value).__name__}.")
    return value


class Config:
    """Credentials and base URL of the Invoxia API.

    Mutable; equal when all three fields are equal; unhashable (defining ``__eq__`` removes
    ``__hash__``). The repr hides the password, also one embedded in ``api_url``.

    Args:
        username: Account e-mail (any str, the empty string included).
        password: Account password (any str).
        api_url: Base URL of the API; only its ``scheme://netloc`` is kept.

    Raises:
        TypeError: ``username``, ``password`` or ``api_url`` is not a str.
        ValueError: ``api_url`` has no http(s) scheme or no host.
    """

    __slots__ = ("_api_url", "_password", "_username")
    __match_args__ = ("username", "password", "api_url")

    def __init__(self, username: str, password: str, api_url: str = _DEFAULT_API_URL) -> None:
        self.username = username
        self.password = password
        self.api_url = api_url

    @classmethod
    def default_api_url(cls) -> str:
        """Return the default base URL, ``https://labs.invoxia.io``.

        Returns:
            The default API URL.
        """
        return _DEFAULT_API_URL

    @property
    def username(self) -> str:
        """The account user name (e-mail)."""
        return self._username

    @username.setter
    def username(self, value: str) -> None:
        self._username = _check_str("username", value)

    @property
    def password(self) -> str:
        """The account password."""
        return self._password

    @password.setter
    def password(self, value: str) -> None:
        self._password = _check_str("password", value)

    @property
    def api_url(self) -> str:
        """The API base URL, normalised to ``scheme://netloc``."""
        return self._api_url

    @api_url.setter
    def api_url(self, value: str) -> None:
        self._api_url = _normalise_api_url(value)

    def basic_auth_header(self) -> str:
        """Build the value of the ``Authorization`` header for HTTP Basic auth.

        The credentials are encoded as latin-1 like 0.9.2. When they hold a character
        outside latin-1 (where 0.9.2 raised ``UnicodeEncodeError``) they are encoded as UTF-8
        instead, which Django REST Framework servers such as the Invoxia API accept.

        Returns:
            ``"Basic <base64 of username:password>"``.
        """
        credentials = f"{self._username}:{self._password}"
        try:
            raw = credentials.encode("latin-1")
        except UnicodeEncodeError:
            raw = credentials.encode("utf-8")
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Config) or other.__class__ is not self.__class__:
            return NotImplemented
        return (self._username, self._password, self._api_url) == (
            other._username,
            other._password,
            other._api_url,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(username={self._username!r}, password={_MASK!r}, "
            f"api_url={_mask_userinfo(self._api_url)!r})"
        )
