"""``DooverEmulator``: the Doover data API and token endpoints served locally."""

from __future__ import annotations

import random
import ssl
import threading
import time
import uuid

from pydoover_anyio._emulation import (
    ASGIApp,
    FaultMiddleware,
    FaultPlan,
    Receive,
    RequestLog,
    Scope,
    Send,
    ServedEmulator,
    ServerThread,
)

from ._app import API_PREFIX, DooverApp
from ._auth import TokenAuthority
from ._gateway import GatewayHub, GatewayRouter
from ._gateway_wire import GatewayWebSocketProtocol
from ._http import ApiError
from ._ids import IdKind, Snowflakes
from ._routes_alarms import ROUTES as ALARM_ROUTES
from ._routes_batch import ROUTES as BATCH_ROUTES
from ._routes_channels import ROUTES as CHANNEL_ROUTES
from ._routes_messages import ROUTES as MESSAGE_ROUTES
from ._routes_misc import ROOT_ROUTES
from ._routes_misc import ROUTES as MISC_ROUTES
from ._routes_notifications import ROUTES as NOTIFICATION_ROUTES
from ._state import DooverState

__all__ = ["DooverEmulator"]

THREAD_NAME = "doover-emulator-server"
"""The name of the server thread."""
_TOKEN_PATHS = frozenset({"/oauth2/token", f"/{API_PREFIX}/oauth2/token"})
_TOKEN_MARGIN = 60.0  # seconds of validity .token keeps before minting a fresh one


class _TokenHits:
    """Outermost ASGI layer: counts token-endpoint requests before any fault applies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.count = 0
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in _TOKEN_PATHS:
            with self._lock:
                self.count += 1
        await self.app(scope, receive, send)

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self.count = 0


class DooverEmulator(ServedEmulator):
    """A local Doover data API with in-memory data and real bearer-token auth.

    It is a real HTTP server on loopback, run from a background thread, so asyncio
    tests, trio tests and plain synchronous code can all use it. Use it as a context
    manager, or call ``start()`` and ``stop()``::

        with DooverEmulator() as emulator:
            client = DataClient(base_url=emulator.url, token=emulator.token)
            client.create_channel(emulator.default_agent_id, "pump_log")

    The data API is served at :attr:`url` (``.../api``); the token endpoint answers at
    ``{url}/oauth2/token`` and ``{root_url}/oauth2/token`` for both the client-credentials
    grant (:attr:`client_id` / :attr:`client_secret`) and the refresh-token grant
    (:attr:`refresh_token`, :attr:`auth_server_client_id`).

    Args:
        seed: Seed of the credentials, the signing key and the random fault mode.
        host: The address to listen on.
        port: The port to listen on; 0 picks a free one.
        latency: Seconds every request waits before it is answered.
        jitter: The latency varies uniformly by up to this many seconds.
        token_lifetime: Seconds tokens from the token endpoint (and :attr:`token`) last.
        rotate_refresh_tokens: Whether each refresh returns a new refresh token and
            retires the old one (doover-js style); off, the refresh token never changes.
        default_limit: Messages per listing when no ``limit`` is sent.
        max_limit: The largest ``limit`` honoured (larger ones are capped).
        shutdown_timeout: Seconds in-flight requests get at ``stop()``.
        access_log: Whether uvicorn logs every request.
        messages_update_aggregate: Whether creating a message (an object) also merges it
            into the channel's aggregate (an ``AggregateUpdate`` follows the
            ``MessageCreate`` and the channel's alarms are evaluated), as the production
            server appears to (spec §7.6). Off by default: only aggregate writes change
            aggregates.
        ssl_context: A server-side TLS context: serve ``https://`` and ``wss://`` only
            (tests build one with ``trustme``).
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        jitter: float = 0.0,
        token_lifetime: int = 3600,
        rotate_refresh_tokens: bool = False,
        default_limit: int = 100,
        max_limit: int = 1000,
        shutdown_timeout: float = 1.0,
        access_log: bool = False,
        messages_update_aggregate: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        rng = random.Random(seed)
        snowflakes = Snowflakes()
        default_agent_id = snowflakes.mint(IdKind.AGENT)
        self._tokens = TokenAuthority(
            secret=rng.randbytes(32),
            default_subject=default_agent_id,
            client_id=f"emulator-client-{rng.getrandbits(32):08x}",
            client_secret=f"cs_{rng.getrandbits(128):032x}",
            refresh_token=f"rt_{rng.getrandbits(128):032x}",
            auth_server_client_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            token_lifetime=token_lifetime,
            rotate_refresh_tokens=rotate_refresh_tokens,
        )
        self.state = DooverState(
            snowflakes=snowflakes,
            tokens=self._tokens,
            default_agent_id=default_agent_id,
            organisation_id=snowflakes.mint(IdKind.UNKNOWN),
            default_limit=default_limit,
            max_limit=max_limit,
            messages_update_aggregate=messages_update_aggregate,
        )
        """The in-memory data (agents, channels, messages, aggregates, alarms, ...)."""
        self.faults = FaultPlan(latency=latency, jitter=jitter, seed=seed)
        """Latency and injected faults, consumed request by request."""
        self.requests = RequestLog()
        """Every request answered: method, path, query, headers, body, status, fault."""
        routes = [
            *CHANNEL_ROUTES,
            *MESSAGE_ROUTES,
            *BATCH_ROUTES,
            *ALARM_ROUTES,
            *NOTIFICATION_ROUTES,
            *MISC_ROUTES,
        ]
        app = DooverApp(self.state, routes, ROOT_ROUTES)
        self.gateway = GatewayHub(self.state)
        """The WebSocket gateway at ``/gateway``: sessions, received frames, faults."""
        self.state.gateway_listener = self.gateway.publish
        self._hits = _TokenHits(FaultMiddleware(app, self.faults, self.requests))
        self._server = ServerThread(
            GatewayRouter(self._hits, self.gateway),
            host=host,
            port=port,
            shutdown_timeout=shutdown_timeout,
            ws=GatewayWebSocketProtocol,
            log_level="info" if access_log else None,
            access_log=access_log,
            name=THREAD_NAME,
            ssl_context=ssl_context,
        )
        self._token: str | None = None

    def __repr__(self) -> str:
        where = self.root_url if self.running else "stopped"
        return f"<DooverEmulator {where} default_agent_id={self.default_agent_id}>"

    # -- server ----------------------------------------------------------------------

    @property
    def root_url(self) -> str:
        """The server root (``http://127.0.0.1:<port>``, ``https://`` with TLS): auth
        server and control base.

        Raises:
            RuntimeError: The emulator was never started.
        """
        return self._server.url

    @property
    def url(self) -> str:
        """The data API base URL (``{root_url}/api``), to pass as ``base_url``.

        Raises:
            RuntimeError: The emulator was never started.
        """
        return f"{self._server.url}/{API_PREFIX}"

    def _started(self) -> None:
        """Build the links objects carry from the served URL."""
        with self.state.lock:
            self.state.base_url = self.url

    def reset(self) -> None:
        """Clear the data (re-seeded), the faults, the request log and the token count.

        Ids, credentials and issued tokens stay valid.
        """
        self.state.reset()
        self.faults.clear()
        self.requests.clear()
        self._hits.reset()
        self.gateway.faults.clear()

    # -- identities and tokens -------------------------------------------------------

    @property
    def default_agent_id(self) -> int:
        """The default user's agent id (the subject of :attr:`token`)."""
        return self.state.default_agent_id

    @property
    def organisation_id(self) -> int:
        """The organisation id processor info reports."""
        return self.state.organisation_id

    @property
    def token(self) -> str:
        """A valid bearer token (JWT with ``exp``) for the default user.

        The same token is returned until it is within a minute of expiring or the server
        stops accepting it (revoked, or retired by a device-token confirm).
        """
        token = self._token
        if token is not None:
            try:
                claims = self._tokens.verify(token)
            except ApiError:
                token = None
            else:
                if claims["exp"] - time.time() < _TOKEN_MARGIN:
                    token = None
        if token is None:
            token = self._token = self._tokens.issue(expires_in=self._tokens.token_lifetime)
        return token

    def issue_token(self, expires_in: float = 3600, agent_id: int | None = None) -> str:
        """Sign a new bearer token.

        Args:
            expires_in: Seconds until it expires (0 or negative: already expired).
            agent_id: The agent it authenticates (default: the default user).

        Returns:
            The JWT.
        """
        return self._tokens.issue(agent_id, expires_in)

    def revoke_token(self, token: str) -> None:
        """Make the server reject a token (401) from now on, although it has not expired."""
        self._tokens.revoke(token)

    @property
    def client_id(self) -> str:
        """The client-credentials client id."""
        return self._tokens.client_id

    @property
    def client_secret(self) -> str:
        """The client-credentials secret."""
        return self._tokens.client_secret

    @property
    def refresh_token(self) -> str:
        """The refresh token the refresh grant currently accepts."""
        return self._tokens.refresh_token

    @property
    def auth_server_client_id(self) -> str:
        """The ``client_id`` the refresh grant requires."""
        return self._tokens.auth_server_client_id

    @property
    def token_requests(self) -> int:
        """How many requests hit a token endpoint, counted before faults apply."""
        return self._hits.count
