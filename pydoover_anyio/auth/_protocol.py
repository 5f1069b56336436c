"""What a data client needs from an auth object (the contract every strategy meets)."""

from __future__ import annotations

from typing import Protocol


class AsyncAuth(Protocol):
    """An auth object an ``AsyncDataClient`` can use (and several clients can share).

    The client calls :meth:`ensure_token` once per logical request, then sends
    :meth:`get_auth_headers`; after a 401 it calls :meth:`refresh_after_unauthorized`
    with the token it sent and retries once if that returns ``True``.
    """

    @property
    def data_base_url(self) -> str | None:
        """The data API base URL this object was built for, if any."""
        ...

    @property
    def token(self) -> str | None:
        """The current access token, or ``None``."""
        ...

    def set_token(self, token: str | None) -> None:
        """Install a new access token (``None`` clears it)."""
        ...

    def get_auth_headers(self) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}``, or ``{}`` without a token."""
        ...

    async def ensure_token(self) -> None:
        """Refresh when the token is missing or within 30 s of expiry (one refresh at a time).

        Raises:
            TokenRefreshError: a refresh was needed and failed or is impossible.
        """
        ...

    async def refresh_after_unauthorized(self, rejected: str | None) -> bool:
        """After a 401 to ``rejected``: ``True`` to retry, ``False`` if no refresh is possible.

        Raises:
            TokenRefreshError: the refresh was attempted and failed.
        """
        ...

    async def aclose(self) -> None:
        """Release resources (called only by the owner of the auth object)."""
        ...
