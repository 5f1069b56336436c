"""``InvoxiaEmulator``: the Invoxia API served locally, for tests, demos and benchmarks."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydoover_anyio._emulation import (
    FaultMiddleware,
    FaultPlan,
    RequestLog,
    ServedEmulator,
    ServerThread,
)

from ._app import InvoxiaApp
from ._paging import BoundMode, PageOrder, PagingRules
from ._state import DEFAULT_NEWEST, InvoxiaState

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from gps_tracker.client.config import Config

__all__ = ["InvoxiaEmulator"]


class InvoxiaEmulator(ServedEmulator):
    """A local Invoxia API server with seeded, in-memory data.

    It is a real HTTP server on loopback, run from a background thread, so asyncio
    tests, trio tests and plain synchronous code can all use it. Use it as a context
    manager, or call ``start()`` and ``stop()``::

        with InvoxiaEmulator(seed=1) as emulator:
            client = gps_tracker.Client(emulator.config())
            trackers = client.get_trackers()

    Args:
        username: The account's username (Basic auth user name).
        password: The account's password.
        seed: Seed of the generated account (same seed, same data).
        host: The address to listen on.
        port: The port to listen on; 0 picks a free one.
        latency: Seconds every request waits before it is answered.
        jitter: The latency varies uniformly by up to this many seconds.
        page_size: The most locations one ``tracker_data`` response holds.
        page_order: The order of the locations within a page.
        timestamp_bound: How the ``timestamp`` (lower) bound is compared.
        timestamp_max_bound: How the ``timestamp_max`` (upper) bound is compared.
        locations_per_tracker: How many locations each seeded tracker has.
        newest: Generated tracks end within the hour before this moment.
        shutdown_timeout: Seconds in-flight requests get at ``stop()``.
        access_log: Whether uvicorn logs every request.
    """

    def __init__(
        self,
        *,
        username: str = "user@example.com",
        password: str = "emulator-password",
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        jitter: float = 0.0,
        page_size: int = 20,
        page_order: PageOrder | str = PageOrder.NEWEST_FIRST,
        timestamp_bound: BoundMode | str = BoundMode.EXACT_INCLUSIVE,
        timestamp_max_bound: BoundMode | str = BoundMode.EXACT_INCLUSIVE,
        locations_per_tracker: int = 3000,
        newest: datetime = DEFAULT_NEWEST,
        shutdown_timeout: float = 1.0,
        access_log: bool = False,
    ) -> None:
        paging = PagingRules(
            page_size=page_size,
            order=PageOrder(page_order),
            timestamp=BoundMode(timestamp_bound),
            timestamp_max=BoundMode(timestamp_max_bound),
            shuffle_seed=seed,
        )
        self.state = InvoxiaState(
            username=username,
            password=password,
            seed=seed,
            locations_per_tracker=locations_per_tracker,
            newest=newest,
        )
        """The in-memory account (user, devices, locations); safe to change while serving."""
        self.faults = FaultPlan(latency=latency, jitter=jitter, seed=seed)
        """Latency and injected faults, consumed request by request."""
        self.requests = RequestLog()
        """Every request answered, with its status and any fault applied."""
        self._app = InvoxiaApp(self.state, paging)
        self._server = ServerThread(
            FaultMiddleware(self._app, self.faults, self.requests),
            host=host,
            port=port,
            shutdown_timeout=shutdown_timeout,
            log_level="info" if access_log else None,
            access_log=access_log,
        )

    def __repr__(self) -> str:
        where = self.url if self.running else "stopped"
        return f"<InvoxiaEmulator {where} username={self.state.username!r}>"

    # -- server ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL (``http://127.0.0.1:<port>``), to pass as ``Config.api_url``.

        Raises:
            RuntimeError: The emulator was never started.
        """
        return self._server.url

    # -- client side -----------------------------------------------------------------

    @property
    def username(self) -> str:
        """The account's username."""
        return self.state.username

    @property
    def password(self) -> str:
        """The account's password."""
        return self.state.password

    def config(self) -> Config:
        """Return a ``gps_tracker.Config`` pointing at this emulator with its credentials.

        Raises:
            RuntimeError: The emulator was never started.
        """
        from gps_tracker.client.config import Config

        return Config(self.state.username, self.state.password, self.url)

    # -- behaviour -------------------------------------------------------------------

    @property
    def paging(self) -> PagingRules:
        """The current page size, page order and bound semantics of ``tracker_data``."""
        return self._app.paging

    def configure_paging(self, **changes: Any) -> PagingRules:
        """Change how ``tracker_data`` pages are cut, from the next request on.

        Args:
            **changes: Any of the :class:`PagingRules` fields (``page_size``, ``order``,
                ``timestamp``, ``timestamp_max``, ``shuffle_seed``); enums or their
                string values.

        Returns:
            The new rules.

        Raises:
            TypeError: An unknown field.
            ValueError: An invalid value.
        """
        rules = replace(self._app.paging, **changes)
        self._app.paging = rules
        return rules

    # -- data shortcuts --------------------------------------------------------------

    def add_tracker(
        self, *, locations: int = 3000, kind: str = "tracker_01", name: str | None = None
    ) -> int:
        """Add a tracker with a generated history; see :meth:`InvoxiaState.add_tracker`.

        Returns:
            The new device id.
        """
        return self.state.add_tracker(locations=locations, kind=kind, name=name)

    def set_locations(self, device_id: int, locations: Iterable[Mapping[str, Any]]) -> None:
        """Replace a device's history; see :meth:`InvoxiaState.set_locations`."""
        self.state.set_locations(device_id, locations)
