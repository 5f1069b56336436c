"""``Client``: the blocking twin of :class:`AsyncClient`, drop-in for 0.9.2.

Every method runs the async client's method on the client's own event-loop thread
(see :mod:`pydoover_anyio.runtime.facade`); there is no second implementation. Beyond
0.9.2 it has ``close()``, ``with`` support and :meth:`iter_locations`.
"""

from __future__ import annotations

from functools import partial

import httpx

from pydoover_anyio.runtime import RetryPolicy, SyncFacade, sync_iterator, sync_method

from .asynchronous import DEFAULT_MAX_CONCURRENCY, AsyncClient
from .config import Config

__all__ = ["Client"]


class Client(SyncFacade[AsyncClient]):
    """Blocking client of the Invoxia API; safe to share between threads.

    Args:
        config: credentials and API URL (copied now).
        max_concurrency: location pages fetched at once by one ``get_locations`` call.
        timeout: httpx timeouts (seconds or ``httpx.Timeout``).
        retry: the retry policy.
    """

    def __init__(
        self,
        config: Config,
        *,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        timeout: httpx.Timeout | float | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        snapshot = Config(config.username, config.password, config.api_url)
        super().__init__(
            partial(
                AsyncClient, snapshot, max_concurrency=max_concurrency, timeout=timeout, retry=retry
            )
        )

    @property
    def max_concurrency(self) -> int:
        """Location pages fetched at once by one ``get_locations`` call (settable)."""
        return self._async_client.max_concurrency

    @max_concurrency.setter
    def max_concurrency(self, value: int) -> None:
        self._async_client.max_concurrency = value

    get_users = sync_method(AsyncClient.get_users)
    get_user = sync_method(AsyncClient.get_user)
    get_devices = sync_method(AsyncClient.get_devices)
    get_device = sync_method(AsyncClient.get_device)
    get_trackers = sync_method(AsyncClient.get_trackers)
    get_locations = sync_method(AsyncClient.get_locations)
    iter_locations = sync_iterator(AsyncClient.iter_locations)
    get_tracker_status = sync_method(AsyncClient.get_tracker_status)
    get_tracker_config = sync_method(AsyncClient.get_tracker_config)
