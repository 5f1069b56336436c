"""An explicitly given access token that nothing can refresh (spec §2.4)."""

from __future__ import annotations

from ._base import Clock, TokenAuth
from ._token import ExpiryInput


class StaticTokenAuth(TokenAuth):
    """Uses the token it was given until 30 s before its expiry, then fails.

    Without ``token_expires`` the expiry is the JWT ``exp`` claim; an opaque token
    without one never expires. Once expired (or when no token was given),
    ``ensure_token()`` raises :class:`~pydoover_anyio.errors.TokenRefreshError` and no
    request is sent. ``set_token()`` installs a new token at any time.

    Args:
        token: the access token.
        token_expires: its expiry: a ``datetime`` (naive means UTC) or Unix seconds.
        data_base_url: the data API base URL this token is for; ``None`` lets every
            client sharing this object choose its own.
        clock: returns the current time in Unix seconds (for tests).
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        token_expires: ExpiryInput = None,
        data_base_url: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            token=token, token_expires=token_expires, data_base_url=data_base_url, clock=clock
        )

    async def aclose(self) -> None:
        """Nothing to release: no HTTP client is ever opened."""

    def _refresh_blocker(self) -> str | None:
        return "no credentials to refresh it are configured (only a token was given)"

    async def _refresh(self) -> None:
        raise self._cannot_refresh()
