"""The token holder every auth strategy shares: one bearer token, refreshed one at a time.

Rules this module enforces (spec §2.1, §2.8, §8 #8):

* ``ensure_token()`` refreshes only when the token is missing or within 30 s of expiry.
* At most one refresh runs at a time, across every task, event loop and thread that
  shares the object (:class:`~._lock.RefreshLock`). Tasks that waited on the lock
  re-check first: if a refresh succeeded while they waited they use its token, and if it
  failed they fail with it instead of hammering the token endpoint again.
* After a 401, ``refresh_after_unauthorized(rejected)`` refreshes only if the rejected
  token is still the current one, so a burst of 401s costs one refresh.
* The token is kept out of ``repr()``.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Self

from ..errors import TokenRefreshError
from ._lock import RefreshLock
from ._token import ExpiryInput, as_datetime, expiry_timestamp, jwt_expiry, needs_refresh

#: Returns the current time in Unix seconds (``time.time`` unless a test injects another).
Clock = Callable[[], float]


class TokenAuth(ABC):
    """Holds a bearer token and refreshes it, one refresh at a time.

    Args:
        token: the initial access token (an empty string counts as none).
        token_expires: its expiry; else the JWT ``exp`` claim; else unknown (never expires).
        data_base_url: the data API base URL this auth object belongs to, if any.
        clock: returns the current time in Unix seconds.
    """

    def __init__(
        self,
        *,
        token: str | None,
        token_expires: ExpiryInput,
        data_base_url: str | None,
        clock: Clock | None,
    ) -> None:
        self.data_base_url = data_base_url.rstrip("/") if data_base_url else None
        self._clock: Clock = clock if clock is not None else time.time
        self._token: str | None = None
        self._expires_at: float | None = None
        self._generation = 0  # bumped whenever a token is installed
        self._attempts = 0  # bumped whenever a token request starts
        self._last_error: TokenRefreshError | None = None
        self._lock = RefreshLock()
        self.set_token(token, token_expires=token_expires)

    @property
    def token(self) -> str | None:
        """The current access token, or ``None``."""
        return self._token

    @property
    def token_expires(self) -> datetime | None:
        """When the current token expires (aware, UTC), or ``None`` when unknown."""
        return as_datetime(self._expires_at)

    def set_token(self, token: str | None, *, token_expires: ExpiryInput = None) -> None:
        """Install an access token, e.g. a rotated device token.

        Args:
            token: the new token; ``None`` or ``""`` clears it.
            token_expires: its expiry; by default the JWT ``exp`` claim, if any.

        Raises:
            TypeError: ``token_expires`` has an unsupported type.
        """
        expires_at = expiry_timestamp(token_expires)
        self._token = token or None
        if self._token is None:
            self._expires_at = None
        elif expires_at is not None:
            self._expires_at = expires_at
        else:
            self._expires_at = jwt_expiry(self._token)
        self._generation += 1

    def get_auth_headers(self) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}``, or ``{}`` without a token."""
        if self._token is None:
            return {}
        return {"Authorization": f"Bearer {self._token}"}

    async def ensure_token(self) -> None:
        """Refresh the token if it is missing or about to expire.

        Raises:
            TokenRefreshError: a refresh was needed and failed or is impossible.
        """
        if not self._needs_refresh():
            return
        seen_generation, seen_attempts = self._generation, self._attempts
        async with self._lock.hold():
            if self._generation != seen_generation or not self._needs_refresh():
                return
            self._raise_if_failed_since(seen_attempts)
            await self._refresh_locked()

    async def refresh_after_unauthorized(self, rejected: str | None) -> bool:
        """Get a usable token after the server answered 401 to ``rejected``.

        Args:
            rejected: the token the rejected request carried.

        Returns:
            ``True`` when the caller should retry (the token changed meanwhile, or was
            refreshed now); ``False`` when this auth object cannot refresh.

        Raises:
            TokenRefreshError: the refresh was attempted and failed.
        """
        seen_attempts = self._attempts
        async with self._lock.hold():
            if self._token is not None and self._token != rejected:
                return True
            if self._refresh_blocker() is not None:
                return False
            self._raise_if_failed_since(seen_attempts)
            await self._refresh_locked()
            return True

    async def refresh_access_token(self) -> None:
        """Refresh now, whatever the current token's expiry.

        Raises:
            TokenRefreshError: the refresh failed or is impossible.
        """
        async with self._lock.hold():
            await self._refresh_locked()

    @abstractmethod
    async def aclose(self) -> None:
        """Release what this auth object holds; it stays usable (resources reopen lazily)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        fields = [*self._repr_fields(), f"token={'<set>' if self._token else None}"]
        expires = self.token_expires
        if expires is not None:
            fields.append(f"token_expires={expires.isoformat()!r}")
        return f"{type(self).__name__}({', '.join(fields)})"

    def _needs_refresh(self) -> bool:
        return needs_refresh(self._token, self._expires_at, self._clock())

    def _accept_token(self, token: str, expires_in: float | None) -> None:
        """Install a token from a token endpoint.

        The expiry is the earlier of the JWT ``exp`` and ``now + expires_in``: ``exp`` is
        the server's absolute word, ``expires_in`` survives a skewed local clock.
        """
        candidates = [jwt_expiry(token)]
        if expires_in is not None:
            candidates.append(self._clock() + expires_in)
        known = [seconds for seconds in candidates if seconds is not None]
        self._token = token
        self._expires_at = min(known) if known else None
        self._generation += 1

    def _raise_if_failed_since(self, seen_attempts: int) -> None:
        # A task that queued behind a failed refresh shares its failure.
        if self._attempts != seen_attempts and self._last_error is not None:
            last = self._last_error
            raise TokenRefreshError(str(last), transient=last.transient) from last

    def _cannot_refresh(self) -> TokenRefreshError:
        reason = self._refresh_blocker() or "refreshing is not possible"
        return TokenRefreshError(f"cannot get a new access token: {reason}")

    async def _refresh_locked(self) -> None:
        self._attempts += 1
        self._last_error = None
        try:
            await self._refresh()
        except TokenRefreshError as exc:
            self._last_error = exc
            raise

    def _repr_fields(self) -> list[str]:
        return [f"data_base_url={self.data_base_url!r}"]

    @abstractmethod
    def _refresh_blocker(self) -> str | None:
        """Why this object cannot refresh (no secrets), or ``None`` if it can."""

    @abstractmethod
    async def _refresh(self) -> None:
        """Fetch and install a new token; called with the lock held.

        Raises:
            TokenRefreshError: refreshing is impossible or the token request failed.
        """
