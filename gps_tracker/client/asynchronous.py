"""``AsyncClient``: the Invoxia API on anyio (asyncio and trio), drop-in for 0.9.2.

Beyond 0.9.2: every request has timeouts and retries (5xx, 429 with ``Retry-After``,
dropped connections; the API is read-only, so every request is safe to repeat), transport
failures always become :class:`ApiConnectionError`, and ``get_locations`` is exact and
fetches its pages concurrently (see :mod:`gps_tracker.paging`).
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from functools import partial
from types import TracebackType
from typing import Any, Protocol

import anyio
import httpx
import msgspec

from pydoover_anyio.runtime import (
    ClientClosedError,
    Request,
    RetryPolicy,
    Transport,
    describe,
    gather_bounded,
    pipeline,
)
from pydoover_anyio.runtime._json import UNDECODABLE_JSON

from .. import paging
from . import _decode
from .config import Config
from .datatypes import Device, Tracker, TrackerConfig, TrackerData, TrackerStatus, User
from .exceptions import ApiConnectionError, HttpException
from .url_provider import UrlProvider

__all__ = ["DEFAULT_MAX_CONCURRENCY", "DEFAULT_TIMEOUT", "AsyncClient"]

#: Location pages fetched at once by one client (shared by its concurrent calls). Small
#: requests never use many: the latest location is one request, 20 locations two, the
#: newest 200 about 14 in 2 to 3 rounds. Not higher: the API asks for a minimal query
#: rate, and beyond 16 a long walk saves few rounds (docs/gps_tracker.md, "Why 16").
DEFAULT_MAX_CONCURRENCY = 16

#: Connect within 10 s; no read, write or pool wait over 30 s.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)

#: No User-Agent of its own (spec §1.3: 0.9.2 sends its HTTP library's default): httpx's.
_USER_AGENT = f"python-httpx/{httpx.__version__}"

#: The page length the planner assumes until it has seen the server's (about 20).
_PAGE_SIZE_HINT = 20
#: Out-of-order pages held per concurrent request before only the newest window fetches:
#: enough to keep every request busy, and a bound on ``iter_locations``' memory.
_BUFFERED_PAGES_PER_REQUEST = 10


class _HasId(Protocol):
    @property
    def id(self) -> Any: ...


class AsyncClient:
    """Asynchronous client of the Invoxia API.

    Args:
        config: credentials and API URL (the URL is copied now; later changes to
            ``config`` do not affect this client).
        session: a caller-owned ``httpx.AsyncClient`` to send through; ``close()`` never
            closes it. Credentials are added to every request, so the session needs no auth.
        max_concurrency: location pages fetched at once by one ``get_locations`` call.
        timeout: httpx timeouts (seconds or ``httpx.Timeout``); default
            :data:`DEFAULT_TIMEOUT`.
        retry: the retry policy; default 3 retries with capped, jittered backoff.
    """

    def __init__(
        self,
        config: Config,
        session: httpx.AsyncClient | None = None,
        *,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        timeout: httpx.Timeout | float | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        if session is not None and not isinstance(session, httpx.AsyncClient):
            raise TypeError(
                "session must be an httpx.AsyncClient (this gps_tracker is built on httpx); "
                "in Home Assistant use homeassistant.helpers.httpx_client.get_async_client, "
                "or leave session out"
            )
        self._urls = UrlProvider(config.api_url)
        self._limiter: anyio.CapacityLimiter | None = None
        self.max_concurrency = max_concurrency
        self._transport = Transport(
            self._urls.api_url,
            client=session,
            timeout=(DEFAULT_TIMEOUT if timeout is None else timeout)
            if session is None
            else timeout,
            user_agent=_USER_AGENT,
            headers={"Authorization": config.basic_auth_header()},
            retry=retry,
            check_response=_check_response,
            map_transport_error=_connection_error,
            follow_redirects=True,
        )

    @property
    def max_concurrency(self) -> int:
        """Location pages fetched at once by this client; may be changed at any time."""
        return self._max_concurrency

    @max_concurrency.setter
    def max_concurrency(self, value: int) -> None:
        if value < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._max_concurrency = value
        if self._limiter is not None:
            self._limiter.total_tokens = value

    @classmethod
    def get_auth(cls, config: Config) -> httpx.BasicAuth:
        """Basic auth for building your own ``httpx.AsyncClient`` (optional: the client
        sends credentials on every request anyway)."""
        return httpx.BasicAuth(config.username, config.password)

    async def __aenter__(self) -> AsyncClient:
        if self._transport.closed:
            raise ClientClosedError("this AsyncClient is closed; create a new one")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the client's own HTTP session (a caller-owned session stays open)."""
        await self._transport.aclose()

    async def get_users(self) -> list[User]:
        """All users visible with these credentials (one for a consumer account)."""
        return _decode.decode_users(await self._get("users/"))

    async def get_user(self, user_id: int) -> User:
        """The user with id ``user_id``."""
        return _decode.decode_user(await self._get(f"users/{user_id}/"))

    async def get_devices(self, kind: str | None = None) -> list[Device]:
        """The account's devices, optionally only those of one ``kind``.

        Devices of a type this package does not know are skipped with a warning
        (new ``tracker_*`` models are read as :class:`Tracker01`), instead of failing
        the whole list.

        Raises:
            KeyError: ``kind`` is not one of ``Device.get_types()`` (before any request).
        """
        self._urls.devices(kind)  # validates kind, raising KeyError like 0.9.2
        params = (("type", kind),) if kind is not None else ()
        return _decode.decode_devices(await self._get("devices/", params))

    async def get_device(self, device_id: int) -> Device:
        """The device with id ``device_id``."""
        return _decode.decode_device(await self._get(f"devices/{device_id}/"))

    async def get_trackers(self) -> list[Tracker]:
        """The account's trackers (``?type=tracker``), without phones."""
        devices = await self.get_devices(kind="tracker")
        return [device for device in devices if isinstance(device, Tracker)]

    async def get_tracker_status(self, device: _HasId) -> TrackerStatus:
        """The tracker's status (battery, state, ...). A phone gives ``NoContentQuery``."""
        return _decode.decode_tracker_status(
            await self._get(f"devices/{device.id}/tracker_status/")
        )

    async def get_tracker_config(self, device: _HasId) -> TrackerConfig:
        """The tracker's configuration (icon, mode, network, ...)."""
        return _decode.decode_tracker_config(
            await self._get(f"devices/{device.id}/tracker_config/")
        )

    async def get_locations(
        self,
        device: _HasId,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        max_count: int = 20,
    ) -> list[TrackerData]:
        """The ``max_count`` newest locations within the bounds, newest first.

        Exact: none lost or duplicated at page boundaries, whatever the server does.
        Up to ``max_concurrency`` pages are in flight, each finished page making room for
        the next at once (see :mod:`gps_tracker.paging`). Naive bounds are read as local
        time (as in 0.9.2); bounds are inclusive. ``max_count=math.inf`` returns all.
        ``max_count=1`` costs one request.
        """
        # Every location is kept for the result anyway: no buffer bound is needed.
        planner = self._planner(device, not_before, not_after, max_count, math.inf)
        fetch = partial(self._fetch_locations, f"devices/{device.id}/tracker_data/")
        locations: list[TrackerData] = []

        def feed(request: paging.PageRequest, page: list[TrackerData]) -> None:
            planner.feed(request, page)
            locations.extend(planner.pop_resolved())

        await pipeline(
            planner.next_requests,
            fetch,
            feed,
            limit=self.max_concurrency,
            done=lambda: planner.finished,
            limiter=self._shared_limiter(),
        )
        return locations

    async def iter_locations(
        self,
        device: _HasId,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        max_count: float = math.inf,
    ) -> AsyncIterator[TrackerData]:
        """Stream the locations within the bounds, newest first, in bounded memory.

        Same semantics as :meth:`get_locations`, but items are yielded as soon as they
        are known to be next in order, and by default the whole history is walked. Pages
        are fetched in waves of ``max_concurrency`` (a generator cannot keep requests
        running while its consumer holds an item).
        """
        buffered = _BUFFERED_PAGES_PER_REQUEST * _PAGE_SIZE_HINT * self.max_concurrency
        planner = self._planner(device, not_before, not_after, max_count, buffered)
        fetch = partial(self._fetch_locations, f"devices/{device.id}/tracker_data/")
        limiter = self._shared_limiter()
        while not planner.finished:
            requests = planner.next_requests(self.max_concurrency)
            if not requests:
                break
            pages = await gather_bounded([partial(fetch, r) for r in requests], limiter)
            for request, page in zip(requests, pages, strict=True):
                planner.feed(request, page)
            for location in planner.pop_resolved():
                yield location

    def _planner(
        self,
        device: _HasId,
        not_before: dt.datetime | None,
        not_after: dt.datetime | None,
        max_count: float,
        max_buffered: float,
    ) -> paging.LocationPlanner[TrackerData]:
        # Any real number, as 0.9.2 counted down from it (2.5 gives 3 locations), a
        # Decimal too; not a bool (0.9.2 took True as 1: here it is taken for a slip).
        if isinstance(max_count, bool) or not isinstance(max_count, numbers.Real | Decimal):
            raise TypeError("max_count must be a number (math.inf for all locations)")
        return paging.LocationPlanner(
            _aware(not_before),
            _aware(not_after),
            max_count,
            # Room for windows waiting for a slot, beside one per request in flight.
            max_live_segments=2 * self.max_concurrency,
            max_buffered=max_buffered,
            label=f"device {device.id}",
        )

    async def _fetch_locations(self, path: str, request: paging.PageRequest) -> list[TrackerData]:
        return _decode.decode_locations(await self._get(path, paging.query_params(request)))

    async def _get(self, path: str, params: tuple[tuple[str, str], ...] = ()) -> bytes:
        response = await self._transport.send(Request("GET", path, params=params))
        return response.content

    def _shared_limiter(self) -> anyio.CapacityLimiter:
        # Created on first use, inside the running loop (anyio primitives are loop-bound).
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.max_concurrency)
        return self._limiter


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    """Naive datetimes are local time, as in 0.9.2 (``datetime.timestamp()`` semantics)."""
    return None if moment is None else paging.aware(moment)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return msgspec.json.decode(response.content) if response.content else None
    except UNDECODABLE_JSON:
        return None


def _check_response(response: httpx.Response) -> None:
    """Raise 0.9.2's exception for 204, 401, 403 and any other status >= 400."""
    status = response.status_code
    error_class: Callable[..., HttpException] | None = HttpException.get(status)
    if error_class is None:
        if status < 400:
            return
        error_class = HttpException.get_default()
    where = describe(response.request.method, response.request.url)
    error = error_class(json_answer=_json_or_none(response), status=status, request=where)
    if status < 400:
        raise error
    # As 0.9.2 chained its HTTP library's status error: code reading the status from
    # ``exc.__cause__.response.status_code`` keeps working.
    cause = httpx.HTTPStatusError(f"HTTP {status}", request=response.request, response=response)
    raise error from cause


def _connection_error(error: httpx.RequestError, where: str) -> Exception:
    return ApiConnectionError(request=where)
