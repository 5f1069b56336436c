"""Run any ASGI app under uvicorn on loopback, in a background thread with its own loop.

A test on asyncio, a test on trio and a plain synchronous test can all talk to the same
server, because it never shares their event loop: it runs ``anyio.run(..., backend=
"asyncio")`` in a dedicated thread (uvicorn is asyncio internally; this module only
uses anyio APIs).

Rules this module enforces:

* The listening socket is bound by ``start()`` in the caller's thread, so port 0 picks a
  free port, ``port`` is known at once and a bind error raises where it can be handled.
* ``start()`` returns only once uvicorn accepts connections; ``stop()`` returns only once
  the thread has ended and every socket is closed. Nothing outlives ``stop()``.
* Shutdown stops accepting, closes idle keep-alive connections, gives in-flight requests
  ``shutdown_timeout`` seconds and then cancels them: a request cancelled before its
  response started is answered 503, one cancelled mid-response has its connection cut.
* With an ``ssl_context`` the server speaks TLS only (``https://`` / ``wss://``); the
  context is used as given (e.g. one a ``trustme`` CA configured).
* Logging stays quiet: uvicorn's logging configuration is not installed, the access log
  is off, and a deliberate :class:`AbortConnection` is not reported as an app error.
"""

from __future__ import annotations

import importlib.util
import logging
import socket
import ssl
import threading
from types import TracebackType
from typing import Any, Self

import anyio
import uvicorn

from .asgi import TEXT_CONTENT_TYPE, ASGIApp, Message, Receive, Scope, Send, send_response

__all__ = ["AbortConnection", "ServerThread"]

_POLL_INTERVAL = 0.02  # how often the server loop looks at the stop flag, in seconds
_CANCEL_GRACE = 2.0  # how long cancelled requests get to unwind before the loop ends
_JOIN_MARGIN = 10.0  # extra time stop() waits for the thread beyond the shutdown budget


class AbortConnection(Exception):  # noqa: N818 - it is an instruction, not an error report
    """Raise from an ASGI app after the response started to cut the connection.

    The server closes the transport, so the client sees a response that ends early, and
    the exception is not logged as an application error.
    """


class _AbortFilter(logging.Filter):
    """Drops uvicorn's error record for a deliberate :class:`AbortConnection`."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, AbortConnection)


_ABORT_FILTER = _AbortFilter()


class _InFlight:
    """Wraps the app so that shutdown can cancel the requests still running."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.scopes: set[anyio.CancelScope] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with anyio.CancelScope() as cancel_scope:
            self.scopes.add(cancel_scope)
            try:
                await self.app(scope, receive, tracking_send)
            finally:
                self.scopes.discard(cancel_scope)
        if not cancel_scope.cancelled_caught or scope["type"] != "http":
            return
        if started:
            raise AbortConnection("request cancelled by server shutdown")
        await send_response(
            send,
            503,
            b"Server shutting down",
            content_type=TEXT_CONTENT_TYPE,
            headers=[("connection", "close")],
        )


class _Server(uvicorn.Server):
    """uvicorn's server with a fast stop and a bounded, cancelling shutdown."""

    def __init__(
        self,
        config: uvicorn.Config,
        app: _InFlight,
        shutdown_timeout: float,
        ready: threading.Event,
    ) -> None:
        super().__init__(config)
        self._app = app
        self._shutdown_timeout = shutdown_timeout
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self._ready.set()

    async def main_loop(self) -> None:
        # uvicorn polls every 0.1 s; 20 ms keeps stop() quick at negligible cost.
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864_000
            await anyio.sleep(_POLL_INTERVAL)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        with anyio.move_on_after(self._shutdown_timeout):
            await self._drained()
        for cancel_scope in list(self._app.scopes):
            cancel_scope.cancel()
        with anyio.move_on_after(_CANCEL_GRACE):
            await self._drained()
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()

    async def _drained(self) -> None:
        # uvicorn offers no event for "all connections closed", so poll briefly.
        state = self.server_state
        while state.tasks or state.connections:  # noqa: ASYNC110
            await anyio.sleep(0.005)


def _http_implementation() -> str:
    return "httptools" if importlib.util.find_spec("httptools") is not None else "h11"


class ServerThread:
    """An ASGI app served by uvicorn on loopback from a background thread.

    Usable as a context manager (``with ServerThread(app) as server: ...``) or through
    ``start()`` / ``stop()``. It can be started again after ``stop()``; with port 0 it
    then gets a new free port.

    Args:
        app: The ASGI 3 application to serve.
        host: The address to bind; loopback by default.
        port: The port to bind; 0 picks a free one (see :attr:`port`).
        shutdown_timeout: Seconds in-flight requests get at ``stop()`` before they are
            cancelled.
        ws: uvicorn's WebSocket implementation: a name (``"none"`` disables WebSockets)
            or a protocol class.
        log_level: Level for uvicorn's own loggers, or ``None`` to leave them alone.
        access_log: Whether uvicorn logs each request.
        name: The name of the server thread.
        ssl_context: Serve TLS with this server-side context (``None``: plain TCP).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        shutdown_timeout: float = 1.0,
        ws: str | type[Any] = "none",
        log_level: str | None = None,
        access_log: bool = False,
        name: str = "emulator-server",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._app = app
        self._ssl_context = ssl_context
        self._name = name
        self._host = host
        self._requested_port = port
        self._shutdown_timeout = shutdown_timeout
        self._ws = ws
        self._log_level = log_level
        self._access_log = access_log
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._server: _Server | None = None
        self._socket: socket.socket | None = None
        self._port: int | None = None
        self._error: BaseException | None = None

    @property
    def host(self) -> str:
        """The bound address."""
        return self._host

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was requested).

        Raises:
            RuntimeError: The server has never been started.
        """
        if self._port is None:
            raise RuntimeError("the server is not started, so it has no port yet")
        return self._port

    @property
    def url(self) -> str:
        """The base URL, ``http://host:port`` (``https://`` with TLS), no trailing slash."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        scheme = "http" if self._ssl_context is None else "https"
        return f"{scheme}://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server thread is running."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self, timeout: float = 10.0) -> Self:
        """Bind the socket, start the server thread and wait until it accepts.

        Args:
            timeout: Seconds to wait for the server to be ready.

        Returns:
            This server, for chaining.

        Raises:
            RuntimeError: Already running, or the server failed to start.
            OSError: The address could not be bound.
        """
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("the server is already running")
            sock = self._bind()
            ready = threading.Event()
            app = _InFlight(self._app)
            config = uvicorn.Config(
                app,
                host=self._host,
                port=self._port or 0,
                http=_http_implementation(),
                ws=self._ws,
                lifespan="off",
                interface="asgi3",
                log_config=None,
                log_level=self._log_level,
                access_log=self._access_log,
                proxy_headers=False,
                server_header=False,
            )
            if self._ssl_context is not None:
                # Config only builds contexts from files; loading first and then
                # installing ours works on every uvicorn version (serve() skips load()).
                config.load()
                config.ssl = self._ssl_context
            logging.getLogger("uvicorn.error").addFilter(_ABORT_FILTER)  # idempotent
            server = _Server(config, app, self._shutdown_timeout, ready)
            thread = threading.Thread(
                target=self._run, args=(server, sock, ready), name=self._name, daemon=True
            )
            self._socket, self._server, self._thread, self._error = sock, server, thread, None
            thread.start()
        if not ready.wait(timeout):
            self.stop()
            raise RuntimeError(f"the server did not start within {timeout} s")
        error = self._error
        if error is not None:
            self.stop()
            raise RuntimeError("the server failed to start") from error
        return self

    def stop(self) -> None:
        """Stop the server and join its thread; a no-op when not running.

        Raises:
            RuntimeError: Called from the server's own thread, or the thread did not end.
        """
        with self._lock:
            thread, server, sock = self._thread, self._server, self._socket
            if thread is None or server is None or sock is None:
                return
            if threading.current_thread() is thread:
                raise RuntimeError("stop() cannot be called from the server's own thread")
            self._thread = self._server = self._socket = None
        server.should_exit = True
        thread.join(self._shutdown_timeout + _CANCEL_GRACE + _JOIN_MARGIN)
        sock.close()
        if thread.is_alive():
            raise RuntimeError("the server thread did not stop")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        # An explicit IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets
        # whose proto says TCP, and without it every response stalls ~40 ms (Nagle meets
        # delayed ACK, since uvicorn writes headers and body separately).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._requested_port))
        except OSError:
            sock.close()
            raise
        self._port = int(sock.getsockname()[1])
        return sock

    def _run(self, server: _Server, sock: socket.socket, ready: threading.Event) -> None:
        try:
            anyio.run(server.serve, [sock], backend="asyncio")
        except BaseException as exc:  # noqa: BLE001 - handed to start() and re-raised there
            self._error = exc
        finally:
            ready.set()
