"""The HTTP transport every client sends through: one ``httpx.AsyncClient``, done right.

What it adds on top of httpx:

* a base URL, a User-Agent and default headers applied per request (so they also
  reach a caller-owned ``httpx.AsyncClient``);
* timeouts that really apply: httpx's per-operation timeouts plus an overall deadline
  per attempt, so a server that drips bytes cannot hold a call forever;
* retries by :class:`~pydoover_anyio.runtime.retry.RetryPolicy`;
* :meth:`Transport.open` for bodies read as a stream (downloads): one attempt whose
  deadline covers the response head, each body read then bounded by the read timeout;
* error mapping hooks: each client turns final error responses and transport failures
  into its own exception tree, so raw httpx errors never reach users;
* secrets kept out of logs and messages (:func:`describe` redacts the URL).

A caller-owned ``httpx.AsyncClient`` is used as is and never closed by the transport.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, NoReturn

import anyio
import httpx
from httpx import _utils as httpx_utils

from .errors import ClientClosedError
from .fast_transport import AnyioHTTPTransport
from .retry import RetryPolicy, retry_async

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_TIMEOUT",
    "HttpImplementation",
    "Request",
    "Transport",
    "describe",
]

logger = logging.getLogger("pydoover_anyio.runtime")

#: Connect in 10 s, and no single read, write or pool wait longer than 30 s.
DEFAULT_TIMEOUT: Final = httpx.Timeout(30.0, connect=10.0)

#: Enough connections for concurrent paging without flooding a server.
DEFAULT_LIMITS: Final = httpx.Limits(max_connections=32, max_keepalive_connections=32)

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_SECRET_QUERY_KEYS = frozenset({"token", "access_token", "refresh_token", "password", "secret"})


@dataclass(frozen=True, slots=True)
class Request:
    """One logical API request; attempts and retries are the transport's business.

    Args:
        method: the HTTP method.
        path: a path relative to the transport's base URL, or an absolute URL.
        params: query parameters in wire order (repeat a key for a list).
        headers: extra headers for this request.
        content: the body, already encoded.
        idempotent: whether repeating the request is harmless; by default GET, HEAD,
            OPTIONS, PUT and DELETE are, POST and PATCH are not.
    """

    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    content: bytes | None = None
    idempotent: bool | None = None

    @property
    def is_idempotent(self) -> bool:
        """Whether the transport may repeat this request after an ambiguous failure."""
        if self.idempotent is not None:
            return self.idempotent
        return self.method.upper() in _IDEMPOTENT_METHODS


def describe(method: str, url: httpx.URL | str) -> str:
    """``"GET https://host/path?q=1"`` with credentials and secret parameters removed."""
    parsed = httpx.URL(url)
    if parsed.userinfo:
        parsed = parsed.copy_with(username=None, password=None)
    if any(key.lower() in _SECRET_QUERY_KEYS for key in parsed.params):
        redacted = [
            (key, "REDACTED" if key.lower() in _SECRET_QUERY_KEYS else value)
            for key, value in parsed.params.multi_items()
        ]
        parsed = parsed.copy_with(params=redacted)
    return f"{method.upper()} {parsed}"


#: Which connection layer a transport-owned ``httpx.AsyncClient`` uses.
HttpImplementation = Literal["auto", "httpx"]


def _default_transport(
    http: HttpImplementation, limits: httpx.Limits
) -> httpx.AsyncBaseTransport | None:
    """The fast anyio transport, or ``None`` (httpx's default) where it cannot serve."""
    if http == "httpx" or httpx_utils.get_environment_proxies():
        return None
    return AnyioHTTPTransport(
        max_connections=limits.max_connections or 100,
        max_idle_per_origin=limits.max_keepalive_connections or 100,
        keepalive_expiry=limits.keepalive_expiry or 5.0,
    )


#: Raises the client's own error for a final response it considers failed.
ResponseCheck = Callable[[httpx.Response], None]
#: Turns a transport failure (or an attempt deadline) into the client's own error.
TransportErrorMapper = Callable[[httpx.TransportError, str], Exception]


def _default_check(response: httpx.Response) -> None:
    response.raise_for_status()


class Transport:
    """Sends :class:`Request` objects with timeouts, retries and error mapping.

    Args:
        base_url: prefix of every relative request path.
        client: a caller-owned ``httpx.AsyncClient`` to send through (never closed here).
        timeout: httpx timeouts for a transport-owned client, or for every request
            when given explicitly alongside a caller-owned client.
        attempt_timeout: overall seconds one attempt may take, or ``None``.
        limits: connection limits of a transport-owned client.
        user_agent: the User-Agent of a transport-owned client.
        headers: headers added to every request (e.g. authorization).
        retry: the retry policy.
        check_response: raises the client's error for a failed final response.
        map_transport_error: converts transport failures into the client's error.
        follow_redirects: whether a transport-owned client follows redirects.
        http: the connection layer of a transport-owned client: ``"auto"`` uses
            :class:`AnyioHTTPTransport` unless proxies are configured in the environment,
            ``"httpx"`` always uses httpx's own (proxies, HTTP/2 and friends).
    """

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: httpx.Timeout | float | None = None,
        attempt_timeout: float | None = 120.0,
        limits: httpx.Limits = DEFAULT_LIMITS,
        user_agent: str | None = None,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        check_response: ResponseCheck = _default_check,
        map_transport_error: TransportErrorMapper | None = None,
        follow_redirects: bool = False,
        http: HttpImplementation = "auto",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry if retry is not None else RetryPolicy()
        self.attempt_timeout = attempt_timeout
        self._check_response = check_response
        self._map_transport_error = map_transport_error
        self._headers: list[tuple[str, str]] = list((headers or {}).items())
        self._owns_client = client is None
        self._request_timeout: httpx.Timeout | None = None
        if client is None:
            if user_agent is not None:
                self._headers.append(("User-Agent", user_agent))
            client = httpx.AsyncClient(
                timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
                limits=limits,
                follow_redirects=follow_redirects,
                transport=_default_transport(http, limits),
            )
        elif timeout is not None:
            self._request_timeout = httpx.Timeout(timeout)
        self._client = client
        self._closed = False

    @property
    def client(self) -> httpx.AsyncClient:
        """The ``httpx.AsyncClient`` requests go through."""
        return self._client

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    def url(self, path: str) -> str:
        """The absolute URL of ``path``."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    async def send(self, request: Request) -> httpx.Response:
        """Send ``request`` with retries; return the final successful response.

        Raises:
            ClientClosedError: the transport is closed.
            Exception: what ``check_response`` or ``map_transport_error`` raise.
        """
        if self._closed:
            raise ClientClosedError("this client is closed; create a new one")
        built = self._build(request)
        where = describe(request.method, built.url)

        def log_retry(attempt: int, wait: float, reason: httpx.Response | BaseException) -> None:
            cause = (
                f"status {reason.status_code}"
                if isinstance(reason, httpx.Response)
                else type(reason).__name__
            )
            logger.info(
                "retrying %s after %s in %.2f s (attempt %d)", where, cause, wait, attempt + 1
            )

        try:
            response = await retry_async(
                self.retry,
                lambda: self._attempt(built),
                idempotent=request.is_idempotent,
                on_retry=log_retry,
            )
        except httpx.TransportError as exc:
            self._raise_transport_error(exc, where)
        self._check_response(response)
        return response

    async def open(self, request: Request) -> httpx.Response:
        """Send one attempt of ``request`` and return the response with its body unread.

        For bodies consumed as a stream (downloads). Nothing is retried or checked: the
        caller decides what to do with the status and must ``aclose()`` the response.
        ``attempt_timeout`` bounds the wait for the response head; each read of the body
        is then bounded by the read timeout (a body of any size may take longer overall).

        Raises:
            ClientClosedError: the transport is closed.
            httpx.TransportError: the attempt failed (raw; see :meth:`map_error`).
        """
        if self._closed:
            raise ClientClosedError("this client is closed; create a new one")
        built = self._build(request)
        if self.attempt_timeout is None:
            return await self._client.send(built, stream=True)
        try:
            with anyio.fail_after(self.attempt_timeout):
                return await self._client.send(built, stream=True)
        except TimeoutError as exc:
            raise httpx.ReadTimeout(
                f"no response within {self.attempt_timeout} s", request=built
            ) from exc

    def check(self, response: httpx.Response) -> None:
        """Raise the client's error for a failed final response (``check_response``)."""
        self._check_response(response)

    def map_error(self, exc: httpx.TransportError, where: str) -> Exception:
        """The client's error for a final transport failure (``map_transport_error``).

        Args:
            exc: the failure.
            where: the redacted ``"METHOD url"`` (see :func:`describe`).
        """
        if self._map_transport_error is None:
            return exc
        return self._map_transport_error(exc, where)

    async def aclose(self) -> None:
        """Close a transport-owned ``httpx.AsyncClient``; a caller-owned one stays open."""
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            await self._client.aclose()

    def _build(self, request: Request) -> httpx.Request:
        # httpx merges these over the client's own default headers.
        return self._client.build_request(
            request.method,
            self.url(request.path),
            params=list(request.params) if request.params else None,
            headers=[*self._headers, *request.headers],
            content=request.content,
            timeout=(
                self._request_timeout
                if self._request_timeout is not None
                else httpx.USE_CLIENT_DEFAULT
            ),
        )

    async def _attempt(self, request: httpx.Request) -> httpx.Response:
        if self.attempt_timeout is None:
            return await self._client.send(request)
        try:
            with anyio.fail_after(self.attempt_timeout):
                return await self._client.send(request)
        except TimeoutError as exc:
            raise httpx.ReadTimeout(
                f"no complete response within {self.attempt_timeout} s", request=request
            ) from exc

    def _raise_transport_error(self, exc: httpx.TransportError, where: str) -> NoReturn:
        error = self.map_error(exc, where)
        if error is exc:
            raise exc
        raise error from exc
