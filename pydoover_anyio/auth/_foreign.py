"""An adapter for auth objects that only have pydoover's members (e.g. pydoover's own).

pydoover's auth objects offer ``token``, ``set_token``, ``get_auth_headers``, ``async
ensure_token`` and ``async close``. The adapter adds the rest of :class:`AsyncAuth`: after
a 401 it asks for a refresh once (through ``refresh_access_token`` when the object has
one). That and every ``ensure_token`` are serialised by its own lock, so that a burst of
calls with an expired token, or of 401s, costs one refresh, also when the object is
shared by clients on different event loops (a :class:`RefreshLock`).
"""

from __future__ import annotations

import inspect
from typing import Any

from ._lock import RefreshLock


class ForeignAuth:
    """Gives an auth object with only pydoover's members the full :class:`AsyncAuth` shape.

    Args:
        inner: the wrapped auth object (its ``ensure_token`` is a coroutine function).
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._lock = RefreshLock()

    @property
    def data_base_url(self) -> str | None:
        """The wrapped object's ``data_base_url``, if it has one."""
        value = getattr(self.inner, "data_base_url", None)
        return value if isinstance(value, str) else None

    @property
    def token(self) -> str | None:
        """The wrapped object's token."""
        token = self.inner.token
        return token if isinstance(token, str) and token else None

    def set_token(self, token: str | None) -> None:
        """Install a token in the wrapped object."""
        self.inner.set_token(token)

    def get_auth_headers(self) -> dict[str, str]:
        """The wrapped object's headers."""
        return dict(self.inner.get_auth_headers())

    async def ensure_token(self) -> None:
        """Let the wrapped object refresh if it wants to, one caller at a time (its own
        ``ensure_token`` may take no lock: concurrent calls would each refresh)."""
        async with self._lock.hold():
            await self.inner.ensure_token()

    async def refresh_after_unauthorized(self, rejected: str | None) -> bool:
        """``True`` when the token changed since ``rejected`` or a forced refresh worked.

        Returns:
            Whether the caller should retry; ``False`` when the wrapped object has no
            ``refresh_access_token`` coroutine.
        """
        async with self._lock.hold():
            if self.token is not None and self.token != rejected:
                return True
            refresh = getattr(self.inner, "refresh_access_token", None)
            if not inspect.iscoroutinefunction(refresh):
                return False
            await refresh()
            return True

    async def aclose(self) -> None:
        """Close the wrapped object through its ``aclose`` or async ``close``, if any."""
        for name in ("aclose", "close"):
            close = getattr(self.inner, name, None)
            if inspect.iscoroutinefunction(close):
                await close()
                return

    def __repr__(self) -> str:
        return f"ForeignAuth({type(self.inner).__name__})"
