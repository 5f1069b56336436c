"""The HTTP transport every client sends through: one ``httpx.AsyncClient``, done right.

What it adds on top of httpx:

* a base URL, a User-Agent and default headers applied per request (so they also
  reach a caller-owned ``httpx.AsyncClient``);
* timeouts that really apply: httpx's per-operation timeouts plus an overall deadline
  per attempt, so a server that drips bytes cannot hold a call forever;
* retries by :class:`~pydoover_anyio.runtime.retry.RetryPolicy`; a ``DELETE`` re-sent
  after an attempt that may have reached the server (a 5xx, a connection lost after
  sending) and answered 404 has done its job and returns as a 204; a request answered
  with a redirect has reached the server, so a failed connect to where it points is
  not a failure before sending;
* :meth:`Transport.open` for bodies read as a stream (downloads): one attempt whose
  deadline covers the response head, each body read then bounded by the read timeout;
* error mapping hooks: each client turns final error responses and transport failures
  into its own exception tree, so raw httpx errors never reach users;
* secrets kept out of logs and messages (:func:`describe` redacts the URL).

A caller-owned ``httpx.AsyncClient`` is used as is and never closed by the transport.

The fast path. With a transport-owned client over :class:`AnyioHTTPTransport` (the
default for plain http/https without proxies), :meth:`Transport.send` skips httpx's
client layer, which costs as much as a whole aiohttp request: it builds one
``httpx.Request`` (one URL parse, headers merged the way ``build_request`` merges them),
hands it straight to the connection layer with one deadline for the whole attempt (no
cancel scope of its own), follows redirects with httpx's own redirect rules, and touches
the cookie jar only when a response sets a cookie or the jar holds one. What reaches the
wire and what comes back is the same as through ``httpx.AsyncClient.send``
(``tests/test_runtime_conformance.py`` holds the two paths to that). A caller-owned
client, ``http="httpx"`` and :meth:`Transport.open` go through httpx unchanged.
"""

from __future__ import annotations

import datetime
import functools
import logging
import select
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, NoReturn
from urllib.parse import urlencode

import anyio
import h11
import httpx
import idna
from httpx import _utils as httpx_utils

from ._attempt_progress import (
    NOT_SENT_ERRORS,
    PROGRESS_EXTENSION,
    AttemptProgress,
    sent_error,
    timeout_error,
)
from .errors import ClientClosedError
from .fast_transport import REPEATABLE_EXTENSION, AnyioHTTPTransport
from .retry import RetryPolicy, retry_async

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_TIMEOUT",
    "HttpImplementation",
    "Request",
    "Transport",
    "describe",
    "earlier_attempt_may_have_applied",
    "redact_url",
    "request_of",
]

logger = logging.getLogger("pydoover_anyio.runtime")

#: Connect in 10 s, and no single read, write or pool wait longer than 30 s.
DEFAULT_TIMEOUT: Final = httpx.Timeout(30.0, connect=10.0)

#: Enough connections for concurrent paging without flooding a server.
DEFAULT_LIMITS: Final = httpx.Limits(max_connections=32, max_keepalive_connections=32)

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Query parameter names holding a credential have one of these in them (``token``,
#: ``client_secret``, presigned storage URLs' ``X-Amz-Signature``, ``X-Amz-Security-Token``,
#: ``X-Amz-Credential``, ``X-Goog-Signature``), or are Azure's ``sig``.
_SECRET_PARAM_WORDS: Final = ("token", "secret", "password", "signature", "credential")


def _is_secret_param(name: str) -> bool:
    lowered = name.lower()
    return lowered == "sig" or any(word in lowered for word in _SECRET_PARAM_WORDS)


@dataclass(frozen=True, slots=True)
class Request:
    """One logical API request; attempts and retries are the transport's business.

    Args:
        method: the HTTP method.
        path: a path relative to the transport's base URL, or an absolute URL.
        params: query parameters (repeat a key for a list). As httpx sends them: in
            order, except that a repeated key's values go together, at its first place.
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


#: Set on an error :meth:`Transport.send` raises after an attempt that may have taken effect.
_MAYBE_APPLIED: Final = "_pydoover_anyio_maybe_applied"


def earlier_attempt_may_have_applied(error: BaseException) -> bool:
    """Whether an earlier attempt of the request :meth:`Transport.send` failed with
    ``error`` may have reached the server and taken effect (a 5xx, a connection lost
    after sending), whatever the last attempt said (a 4xx says nothing ran *then*)."""
    return getattr(error, _MAYBE_APPLIED, False) is True


def _may_have_been_applied(reason: httpx.Response | BaseException) -> bool:
    """Whether a failed attempt may have reached the server and taken effect: a 5xx, or
    a connection that failed after the request went out (not a refused connect, a pool
    wait, a 408 or a 429)."""
    if isinstance(reason, httpx.Response):
        return reason.status_code >= 500
    return not isinstance(reason, NOT_SENT_ERRORS)


def _invalid_location(error: idna.IDNAError, request: httpx.Request) -> httpx.RemoteProtocolError:
    """What httpx raises for a Location it cannot parse, for one its IDNA check refused."""
    message = f"Invalid URL in location header: {error}."
    return httpx.RemoteProtocolError(message, request=request)


def request_of(error: httpx.RequestError) -> httpx.Request | None:
    """The request an httpx error names, or ``None`` (httpx raises for none)."""
    try:
        return error.request
    except RuntimeError:  # httpx raises when the error carries no request
        return None


def _watch_progress(client: httpx.AsyncClient, request: httpx.Request) -> AttemptProgress | None:
    """Put an :class:`AttemptProgress` on ``request`` if its transport reports phases:
    httpx's own (through httpcore's ``trace`` extension) or :class:`AnyioHTTPTransport`;
    exactly these classes, not subclasses that may send differently. Not with request
    event hooks or an auth flow, which may send a request other than this one."""
    transport_for_url = getattr(client, "_transport_for_url", None)  # httpx's, not public
    if transport_for_url is None or client.event_hooks["request"] or client.auth is not None:
        return None
    kind = type(transport_for_url(request.url))
    if kind is AnyioHTTPTransport:
        progress = AttemptProgress()
        request.extensions[PROGRESS_EXTENSION] = progress
        return progress
    if kind is httpx.AsyncHTTPTransport:
        progress = AttemptProgress()
        request.extensions["trace"] = progress.trace  # (a request built here has none)
        return progress
    return None


def _grouped(params: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """``params`` in the order ``httpx.QueryParams`` sends them: each key's values
    together, keys in order of first appearance."""
    by_key: dict[str, list[tuple[str, str]]] = {}
    for item in params:
        by_key.setdefault(item[0], []).append(item)
    return [item for items in by_key.values() for item in items]


def redact_url(url: httpx.URL | str) -> str:
    """``url`` without its userinfo, and with the values of secret parameters replaced."""
    parsed = httpx.URL(url)
    if parsed.userinfo:
        parsed = parsed.copy_with(username=None, password=None)
    if any(_is_secret_param(key) for key in parsed.params):
        redacted = [
            (key, "REDACTED" if _is_secret_param(key) else value)
            for key, value in parsed.params.multi_items()
        ]
        parsed = parsed.copy_with(params=redacted)
    return str(parsed)


def describe(method: str, url: httpx.URL | str) -> str:
    """``"GET https://host/path?q=1"`` with credentials and secret parameters removed."""
    return f"{method.upper()} {redact_url(url)}"


#: Which connection layer a transport-owned ``httpx.AsyncClient`` uses.
HttpImplementation = Literal["auto", "httpx"]


#: Characters httpx's URL parser leaves as they are in a path (its ``PATH_SAFE`` plus the
#: unreserved set): a path made only of these needs no parse to become an ``httpx.URL``.
_PLAIN_PATH_CHARS: Final = "".join(chr(i) for i in range(0x21, 0x7F) if chr(i) not in '"#<>?`{}')


_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})


def _parsed(url: httpx.URL) -> Any:
    """httpx's parsed form of ``url`` if it is the named tuple we know, else ``None``."""
    reference = getattr(url, "_uri_reference", None)
    if reference is None or not hasattr(reference, "_replace") or reference.query is not None:
        return None
    if reference.fragment is not None or not hasattr(reference, "path"):
        return None
    return reference


def _default_transport(
    http: HttpImplementation, limits: httpx.Limits, verify: ssl.SSLContext | bool
) -> AnyioHTTPTransport | None:
    """The fast anyio transport, or ``None`` (httpx's default) where it cannot serve."""
    if http == "httpx" or httpx_utils.get_environment_proxies():
        return None
    if not hasattr(select, "poll"):  # Windows: the fast path's sockets check readiness
        return None  # with poll(); it is built and tested on POSIX only
    return AnyioHTTPTransport(  # ``None`` is "no limit" there as in httpx.Limits
        verify=verify,
        max_connections=limits.max_connections,
        max_idle_per_origin=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
    )


#: Raises the client's own error for a final response it considers failed.
ResponseCheck = Callable[[httpx.Response], None]
#: Turns a failed request into the client's own error: a transport failure (or an attempt
#: deadline), a redirect loop (``TooManyRedirects``) or an undecodable body
#: (``DecodingError``: a corrupt ``Content-Encoding``).
TransportErrorMapper = Callable[[httpx.RequestError, str], Exception]


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
        map_transport_error: converts failed requests into the client's error (see
            :data:`TransportErrorMapper`).
        follow_redirects: whether redirects are followed; with a caller-owned client
            ``True`` is asked for on every request (the client's other settings stay as
            they are), ``False`` leaves the client's own setting.
        http: the connection layer of a transport-owned client: ``"auto"`` uses
            :class:`AnyioHTTPTransport` (and the fast path, see the module docstring)
            unless proxies are configured in the environment; ``"httpx"`` always sends
            through ``httpx.AsyncClient`` and httpx's own transport (proxies, HTTP/2 and
            friends).
        verify: TLS verification of a transport-owned client: ``True`` (the system
            trust store), an ``ssl.SSLContext`` (e.g. trusting a private CA), or
            ``False`` (no verification; tests only). A caller-owned client keeps its own.
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
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry if retry is not None else RetryPolicy()
        self.attempt_timeout = attempt_timeout
        self._check_response = check_response
        self._map_transport_error = map_transport_error
        self._headers: list[tuple[str, str]] = list((headers or {}).items())
        self._owns_client = client is None
        # httpx.USE_CLIENT_DEFAULT, or True: a caller-owned client follows redirects on
        # the requests of a contract that says so, whatever its own default.
        self._redirects: Any = (
            True if follow_redirects and client is not None else httpx.USE_CLIENT_DEFAULT
        )
        self._request_timeout: httpx.Timeout | None = None
        self._fast: AnyioHTTPTransport | None = None
        if client is None:
            if user_agent is not None:
                self._headers.append(("User-Agent", user_agent))
            self._fast = _default_transport(http, limits, verify)
            client = httpx.AsyncClient(
                timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
                limits=limits,
                follow_redirects=follow_redirects,
                transport=self._fast,
                verify=verify,
            )
        elif timeout is not None:
            self._request_timeout = httpx.Timeout(timeout)
        self._client = client
        self._closed = False
        # The fast path's per-request state, derived once.
        self._header_keys = frozenset(name.lower().encode("latin-1") for name, _ in self._headers)
        self._timeout_source: httpx.Timeout | None = None
        self._timeout_extension: dict[str, Any] = {}
        self._base_reference = _parsed(httpx.URL(self.base_url)) if self._fast else None

    @property
    def fast_path(self) -> bool:
        """Whether :meth:`send` bypasses ``httpx.AsyncClient`` (see the module docstring)."""
        return self._fast is not None

    @property
    def client(self) -> httpx.AsyncClient:
        """The ``httpx.AsyncClient`` requests go through."""
        return self._client

    @property
    def timeout(self) -> httpx.Timeout:
        """The httpx timeouts of every request."""
        if self._request_timeout is not None:
            return self._request_timeout
        return self._client.timeout

    @timeout.setter
    def timeout(self, value: httpx.Timeout | float) -> None:
        # A caller-owned client is left as it is: the timeouts go on each request instead.
        if self._owns_client:
            self._client.timeout = httpx.Timeout(value)
        else:
            self._request_timeout = httpx.Timeout(value)

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
        run_attempt: Callable[[], Awaitable[httpx.Response]]
        if self._fast is not None:  # see the module docstring
            built = self._build_fast(request)
            run_attempt = functools.partial(self._attempt_fast, built, self._fast)
        else:
            built = self._build(request)
            run_attempt = functools.partial(self._send_through_httpx, built)

        maybe_applied = False  # whether a failed attempt may have reached the server

        def log_retry(attempt: int, wait: float, reason: httpx.Response | BaseException) -> None:
            nonlocal maybe_applied
            maybe_applied = maybe_applied or _may_have_been_applied(reason)
            cause = (
                f"status {reason.status_code}"
                if isinstance(reason, httpx.Response)
                else type(reason).__name__
            )
            logger.info(
                "retrying %s after %s in %.2f s (attempt %d)",
                describe(request.method, built.url),
                cause,
                wait,
                attempt + 1,
            )

        try:
            try:
                response = await retry_async(
                    self.retry, run_attempt, idempotent=request.is_idempotent, on_retry=log_retry
                )
            except httpx.RequestError as exc:  # the transport's, a redirect loop, a bad body
                self._raise_transport_error(exc, describe(request.method, built.url))
            if maybe_applied and response.status_code == 404 and request.method.upper() == "DELETE":
                # The answer to an earlier attempt was lost, and that attempt may have done
                # the delete: the resource is gone, which is what was asked for.
                logger.info(
                    "%s: 404 after a re-send, taken as deleted", describe(request.method, built.url)
                )
                response = httpx.Response(204, request=response.request)
            self._check_response(response)
        except Exception as error:
            if maybe_applied:  # whatever the last attempt says (a 4xx, a closed client)
                setattr(error, _MAYBE_APPLIED, True)
            raise
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
        return await self._send_through_httpx(self._build(request), stream=True)

    def check(self, response: httpx.Response) -> None:
        """Raise the client's error for a failed final response (``check_response``)."""
        self._check_response(response)

    def map_error(self, exc: httpx.RequestError, where: str) -> Exception:
        """The client's error for a final failure (``map_transport_error``).

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
            extensions=(
                None if request.idempotent is None else {REPEATABLE_EXTENSION: request.idempotent}
            ),
        )

    async def _send_through_httpx(
        self, request: httpx.Request, *, stream: bool = False
    ) -> httpx.Response:
        """One attempt through ``httpx.AsyncClient.send`` within the attempt deadline.

        The deadline's timeout is named after the phase the attempt had reached (see
        :mod:`._attempt_progress`), so the retry layer knows whether it may have been
        applied; where the connection layer cannot tell, it is a ``ReadTimeout``.
        httpx lets h11's ``LocalProtocolError`` escape unwrapped when a body does not
        match its declared ``Content-Length``; it is raised as httpx's own here, as the
        fast path raises it.
        """
        limit = self.attempt_timeout
        try:
            if limit is None:
                return await self._client.send(
                    request, stream=stream, follow_redirects=self._redirects
                )
            progress = _watch_progress(self._client, request)
            try:
                with anyio.fail_after(limit):
                    return await self._client.send(
                        request, stream=stream, follow_redirects=self._redirects
                    )
            except TimeoutError as exc:
                awaited = "response" if stream else "complete response"
                raise timeout_error(progress, request, limit, awaited) from exc
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc), request=request) from exc
        except idna.IDNAError as exc:  # from a redirect's Location, which httpx lets escape
            raise _invalid_location(exc, request) from exc
        except NOT_SENT_ERRORS as exc:
            if request_of(exc) is request:
                raise
            # httpx names the request being sent: a redirect's, after the server answered.
            raise sent_error(exc, request, "the server answered with a redirect") from exc

    # -- the fast path ---------------------------------------------------------------------

    def _build_fast(self, request: Request) -> httpx.Request:
        """The ``httpx.Request`` that ``_build`` would give, for a fraction of the cost."""
        client = self._client
        url = self._url_fast(request)
        # build_request's merge: ours replace the client's defaults of the same name.
        ours = [*self._headers, *request.headers] if request.headers else self._headers
        keys = (
            self._header_keys | {name.lower().encode("latin-1") for name, _ in request.headers}
            if request.headers
            else self._header_keys
        )
        headers: list[tuple[Any, Any]] = [
            (name, value) for name, value in client.headers.raw if name.lower() not in keys
        ]
        headers += ours
        timeout = client.timeout
        if timeout is not self._timeout_source:
            self._timeout_extension = {"timeout": timeout.as_dict()}
            self._timeout_source = timeout
        extensions = self._timeout_extension
        if request.idempotent is not None:  # the connection layer's repeat follows it
            extensions = {**extensions, REPEATABLE_EXTENSION: request.idempotent}
        built = httpx.Request(
            request.method, url, headers=headers, content=request.content, extensions=extensions
        )
        if client.cookies.jar:  # httpx sends the client's cookies; so do we
            client.cookies.set_cookie_header(built)
        return built

    def _url_fast(self, request: Request) -> httpx.URL:
        """``httpx.URL`` of the request, equal to what ``build_request`` makes of it.

        A relative path made of characters httpx would not escape (every API path we
        build) reuses the base URL's parsed form: no parse at all. Anything else is
        parsed by httpx.
        """
        base = self._base_reference
        path = request.path
        if base is not None and not path.startswith(("http://", "https://")):
            full_path = f"{base.path}/{path.lstrip('/')}"
            plain = not full_path.rstrip(_PLAIN_PATH_CHARS)
            if plain and "." in full_path:  # "." and ".." segments are normalised away
                segments = full_path.split("/")
                plain = "." not in segments and ".." not in segments
            if plain:
                query = urlencode(_grouped(request.params)) if request.params else None
                url = httpx.URL.__new__(httpx.URL)
                url._uri_reference = base._replace(path=full_path, query=query)
                return url
        url_text = self.url(path)
        if not request.params:
            return httpx.URL(url_text)
        return httpx.URL(url_text, params=list(request.params))  # what httpx.Request does

    async def _attempt_fast(
        self, request: httpx.Request, fast: AnyioHTTPTransport
    ) -> httpx.Response:
        started = time.perf_counter()
        limit = self.attempt_timeout
        deadline = None if limit is None else anyio.current_time() + limit
        client = self._client
        history: list[httpx.Response] = []
        while True:
            try:
                response = await fast.send_request(request, deadline=deadline, whole=True)
            except NOT_SENT_ERRORS as exc:
                if not history:
                    raise
                answered = f"the server answered with a {history[0].status_code} redirect"
                raise sent_error(exc, history[0].request, answered) from exc
            response.request = request
            response.read()  # complete already: this only decodes (gzip, ...)
            response.elapsed = datetime.timedelta(seconds=time.perf_counter() - started)
            if "set-cookie" in response.headers:  # httpx would parse even without one
                client.cookies.extract_cookies(response)
            if history:
                response.history = list(history)
            if response.status_code not in _REDIRECTS or not response.has_redirect_location:
                return response
            # httpx's own redirect rules (method, body and credentials across origins).
            try:
                request = client._build_redirect_request(request, response)
            except idna.IDNAError as exc:
                raise _invalid_location(exc, request) from exc
            if not client.follow_redirects:
                response.next_request = request  # as httpx leaves it on a redirect
                return response
            history.append(response)
            if len(history) > client.max_redirects:
                raise httpx.TooManyRedirects("Exceeded maximum allowed redirects.", request=request)

    def _raise_transport_error(self, exc: httpx.RequestError, where: str) -> NoReturn:
        error = self.map_error(exc, where)
        if error is exc:
            raise exc
        raise error from exc
