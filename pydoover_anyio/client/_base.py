"""The request core every endpoint family of :class:`AsyncDataClient` is built on.

Rules this module enforces:

* One logical request = ``ensure_token()`` once, then the runtime :class:`Transport`
  (timeouts, retries with backoff and ``Retry-After``) sends it. A token refresh that
  failed transiently (``TokenRefreshError.transient``) is retried with the same policy's
  backoff.
* A request that creates something without a client-chosen id is never blindly re-sent:
  it is retried only when it provably never reached the server (failed connect, 429).
* A 401 triggers ``auth.refresh_after_unauthorized(rejected_token)`` and, when the auth
  can supply a new token, exactly one more send.
* Every failure becomes an error from :mod:`pydoover_anyio.errors` naming the method and
  the (redacted) URL; raw httpx errors never reach callers.
* The bearer token is only sent to the data API's own origin, even when a download URL
  points elsewhere.
"""

from __future__ import annotations

import dataclasses
import logging
import platform
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from importlib import metadata
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import anyio
import httpx

from .._wire import build_query, channel_segment, json_body, multipart_body
from ..auth import AsyncAuth, build_auth
from ..auth._endpoint import TokenEndpointAuth, scrub
from ..errors import TokenRefreshError, UnauthorizedError, connection_error, error_for_status
from ..gateway import checked_gateway_url
from ..models import File
from ..models._decode import decode
from ..runtime import ClientClosedError, Request, RetryPolicy, Transport
from ..runtime.transport import HttpImplementation

__all__ = ["DEFAULT_BASE_URL", "NO_BODY", "ClientCore"]

#: The production data API.
DEFAULT_BASE_URL: Final = "https://data.doover.com/api"

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

_SUPPORTED_COMPRESSION: Final = ("gzip",)
_ORG_HEADER: Final = "X-Doover-Organisation"


class _NoBody:
    """Sentinel type: the request has no JSON body (``None`` is a valid JSON body)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_BODY"


#: Passed as ``json=`` (the default) when a request carries no JSON body.
NO_BODY: Final = _NoBody()


def _user_agent() -> str:
    try:
        version = metadata.version("pydoover-anyio")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        version = "0"
    return f"pydoover-anyio/{version} Python/{platform.python_version()} httpx/{httpx.__version__}"


def _check_response(response: httpx.Response) -> None:
    """Raise the error class for a final non-2xx response.

    The error names the URL the caller asked for, not where redirects led (a presigned
    storage URL carries credentials), and its body has the bearer token sent scrubbed
    out (a server may echo it back).
    """
    if 200 <= response.status_code < 300:
        return
    chain = [*(hop.request for hop in response.history), response.request]
    tokens = [
        value.partition(" ")[2] or value
        for request in chain
        if (value := request.headers.get("authorization"))
    ]
    first = chain[0]
    body = scrub(response.text, tokens)
    raise error_for_status(response.status_code, first.method, str(first.url), body)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


class ClientCore:
    """Configuration, lifecycle and the request core shared by every endpoint mixin.

    Args:
        base_url: the data API base URL (alias of ``data_base_url``); default
            ``https://data.doover.com/api``.
        auth: a pre-built async auth object, shared (never closed by this client);
            cannot be combined with any other auth argument.
        profile: name of a ``~/.doover/config`` profile (or an ``AuthProfile``).
        data_base_url: same as ``base_url``; both given and different is a ``ValueError``.
        control_base_url: the control API base (refresh-token auth only).
        token: an access token to start with.
        token_expires: its expiry (datetime, naive = UTC, or Unix seconds).
        client_id: client-credentials id.
        client_secret: client-credentials secret.
        refresh_token: refresh token for the auth server.
        refresh_token_id: its id (kept, never sent).
        auth_server_url: the auth server for the refresh-token flow.
        auth_server_client_id: the OAuth client id used when refreshing.
        agent_id: default agent for methods called with ``agent_id=None``.
        organisation_id: default ``X-Doover-Organisation`` header (a per-call value wins).
        max_retries: retries AFTER the first attempt (``0`` = one attempt, never none).
            pydoover counted total attempts (see :mod:`pydoover_anyio.client`).
        retry_delay: the first backoff ceiling in seconds (doubles per retry, jittered).
        timeout: seconds for each connect/read/write/pool wait AND the longest one
            attempt may take overall (a download: until its response head); token
            requests of an auth object this client built use it too, also after it is
            changed on the client.
        compress: ``"gzip"`` (default) to gzip JSON bodies of 50 bytes or more, or ``None``.
        compress_level: gzip level 0-9 (default 6).
        gateway_url: the WebSocket gateway URL; default derived from ``base_url``
            (``http`` -> ``ws``, ``https`` -> ``wss``, a trailing ``/api`` -> ``/gateway``).
        verify: TLS verification of the data API connections: ``True`` (default, the
            system trust store), an ``ssl.SSLContext`` (e.g. one trusting a private or
            self-signed CA), or ``False`` (no verification; for tests only).
        http: the HTTP layer: ``"auto"`` (default) sends through the runtime's fast
            path over :class:`~pydoover_anyio.runtime.AnyioHTTPTransport` unless
            proxies are configured in the environment; ``"httpx"`` sends every request
            through ``httpx.AsyncClient`` with httpx's own transport.
        http_client: a caller-owned ``httpx.AsyncClient`` to send every data API request
            through, used as it is (proxies, mounts, custom transports, event hooks,
            certificates) and never closed by this client. Redirects are still followed
            and ``timeout`` still applies, per request (the Doover contract). Not
            combined with ``verify``/``http``, which configure this client's own
            connection layer. The gateway's WebSocket does not go through it.

    Raises:
        ValueError: bad ``compress``/``compress_level``/``max_retries``, conflicting
            auth arguments, ``http_client`` with ``verify``/``http``, or a
            ``gateway_url`` that is not a ``ws://``/``wss://`` URL.
        TypeError: ``auth`` does not look like an async auth object.
    """

    agent_id: int | None
    organisation_id: int | None

    def __init__(
        self,
        base_url: str | None = None,
        *,
        auth: AsyncAuth | None = None,
        profile: Any = None,
        data_base_url: str | None = None,
        control_base_url: str | None = None,
        token: str | None = None,
        token_expires: Any = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        refresh_token: str | None = None,
        refresh_token_id: str | None = None,
        auth_server_url: str | None = None,
        auth_server_client_id: str | None = None,
        agent_id: int | None = None,
        organisation_id: int | None = None,
        max_retries: int = 3,
        retry_delay: float = 1.0,
        timeout: float = 60.0,
        compress: str | None = "gzip",
        compress_level: int | None = None,
        gateway_url: str | None = None,
        verify: ssl.SSLContext | bool = True,
        http: HttpImplementation = "auto",
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        if http_client is not None and (verify is not True or http != "auto"):
            raise ValueError(
                "verify= and http= configure the client's own connection layer; "
                "a caller-owned http_client keeps its own (set them on it instead)"
            )
        if compress is not None and compress not in _SUPPORTED_COMPRESSION:
            raise ValueError(
                f"compress must be one of {_SUPPORTED_COMPRESSION} or None, got {compress!r}"
            )
        if compress_level is not None and not 0 <= compress_level <= 9:
            raise ValueError(f"compress_level must be 0-9 or None, got {compress_level!r}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries!r}")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        resolved_auth, resolved_url, owns_auth = build_auth(
            auth=auth,
            profile=profile,
            base_url=base_url,
            data_base_url=data_base_url,
            control_base_url=control_base_url,
            token=token,
            token_expires=token_expires,
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh_token,
            refresh_token_id=refresh_token_id,
            auth_server_url=auth_server_url,
            auth_server_client_id=auth_server_client_id,
            timeout=timeout,
        )
        self.auth: AsyncAuth = resolved_auth
        self._owns_auth = owns_auth
        self.base_url: str = (resolved_url or DEFAULT_BASE_URL).rstrip("/")
        self.agent_id = int(agent_id) if agent_id else None
        self.organisation_id = int(organisation_id) if organisation_id else None
        self.compress: str | None = compress
        self.compress_level: int | None = compress_level
        self._gateway_url = None if gateway_url is None else checked_gateway_url(gateway_url)
        self._timeout = float(timeout)
        self._origin = _origin(httpx.URL(self.base_url))
        self._transport = Transport(
            self.base_url,
            client=http_client,
            timeout=httpx.Timeout(self._timeout),
            attempt_timeout=self._timeout,
            user_agent=_user_agent(),
            retry=RetryPolicy(max_retries=max_retries, backoff_base=retry_delay),
            check_response=_check_response,
            map_transport_error=connection_error,
            follow_redirects=True,
            verify=verify,
            http=http,
        )

    # -- settings ----------------------------------------------------------------------

    @property
    def max_retries(self) -> int:
        """Retries after the first attempt of a request that may be repeated."""
        return self._transport.retry.max_retries

    @max_retries.setter
    def max_retries(self, value: int) -> None:
        if value < 0:
            raise ValueError(f"max_retries must be 0 or more, got {value!r}")
        self._transport.retry = dataclasses.replace(self._transport.retry, max_retries=value)

    @property
    def retry_delay(self) -> float:
        """The first backoff ceiling in seconds (doubled per retry, full jitter)."""
        return self._transport.retry.backoff_base

    @retry_delay.setter
    def retry_delay(self, value: float) -> None:
        self._transport.retry = dataclasses.replace(self._transport.retry, backoff_base=value)

    @property
    def timeout(self) -> float:
        """Seconds per connect/read/write/pool wait and per attempt overall.

        Setting it also sets the token-request timeout of an auth object this client
        built (not of a shared ``auth=`` object).
        """
        return self._timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        if value <= 0:
            raise ValueError(f"timeout must be positive, got {value!r}")
        self._timeout = float(value)
        self._transport.attempt_timeout = self._timeout
        self._transport.timeout = self._timeout
        if self._owns_auth and isinstance(self.auth, TokenEndpointAuth):
            # The auth object this client built follows it; a shared one keeps its own.
            self.auth.timeout = self._timeout

    @property
    def token(self) -> str | None:
        """The access token currently held by the auth object."""
        return self.auth.token

    def set_token(self, token: str | None) -> None:
        """Replace the bearer token (e.g. after a device-token rotation).

        Args:
            token: the new access token, or ``None`` to drop it.
        """
        self.auth.set_token(token)

    # -- lifecycle ---------------------------------------------------------------------

    async def setup(self) -> None:
        """Kept for pydoover compatibility: the client is ready at construction.

        Raises:
            ClientClosedError: the client was closed.
        """
        if self._transport.closed:
            raise ClientClosedError("this client is closed; create a new one")

    async def close(self) -> None:
        """Close the HTTP connections, and the auth object if this client built it."""
        if self._transport.closed:
            return
        await self._transport.aclose()
        if self._owns_auth:
            await self.auth.aclose()

    async def aclose(self) -> None:
        """Same as :meth:`close`."""
        await self.close()

    async def __aenter__(self) -> Self:
        await self.setup()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- helpers for mixins --------------------------------------------------------------

    def _agent(self, agent_id: int | None) -> int:
        """The explicit agent id, else the client's default.

        Raises:
            ValueError: neither is set.
        """
        resolved = agent_id if agent_id is not None else self.agent_id
        if resolved is None:
            raise ValueError(
                "agent_id must be given to the method or set on the client (agent_id=...)"
            )
        return int(resolved)

    def _channel_path(self, agent_id: int | None, channel_name: str) -> str:
        """``/agents/{agent}/channels/{percent-escaped channel name}``."""
        return f"/agents/{self._agent(agent_id)}/channels/{channel_segment(channel_name)}"

    async def _call(
        self,
        decode_as: Any,
        method: str,
        path: str,
        *,
        query: Iterable[tuple[str, object]] = (),
        json: object = NO_BODY,
        files: Sequence[File] | None = None,
        organisation_id: int | None = None,
        idempotent: bool | None = None,
        authenticated: bool = True,
        allow_empty: bool = False,
    ) -> Any:
        """Send one logical request and decode its response.

        Args:
            decode_as: the type to decode the JSON response into, or ``None`` to ignore
                the body.
            method: the HTTP method.
            path: a path below the base URL (or an absolute URL).
            query: raw query items, encoded like pydoover (``None`` dropped, lists
                repeated, bools lowercase, datetimes as snowflake bounds).
            json: the JSON body (gzip per the client's settings), or ``NO_BODY``.
            files: attachments; the request becomes multipart with ``json`` as the
                ``json_payload`` part.
            organisation_id: the organisation header for this call (default: the client's).
            idempotent: whether the request may be repeated after an ambiguous failure;
                default from the method (GET/PUT/DELETE yes, POST/PATCH no).
            authenticated: whether to obtain and send a bearer token.
            allow_empty: whether an empty (or ``null``) 2xx body gives ``None`` instead
                of a decode error.

        Returns:
            The decoded response, or ``None``.

        Raises:
            HTTPError: a non-2xx final response (subclass per status).
            DooverConnectionError: the request failed in transport after retries.
            ResponseDecodeError: a 2xx body that does not match ``decode_as``.
            TokenRefreshError: no usable token could be obtained.
            ClientClosedError: the client is closed.
        """
        if files is not None:
            payload = {} if json is NO_BODY or json is None else json
            content, body_headers = multipart_body(payload, files)
        elif json is not NO_BODY:
            content, body_headers = json_body(json, self.compress, self.compress_level)
        else:
            content, body_headers = None, {}
        request = Request(
            method.upper(),
            path,
            params=build_query(query),
            headers=tuple(body_headers.items()),
            content=content,
            idempotent=idempotent,
        )
        response = await self._exchange(request, organisation_id, authenticated=authenticated)
        if decode_as is None:
            return None
        return decode(
            decode_as,
            response.content,
            method=request.method,
            url=str(response.request.url),
            status=response.status_code,
            allow_empty=allow_empty,
        )

    def _sends_token(self, path: str, *, authenticated: bool = True) -> bool:
        """Whether a request to ``path`` carries the bearer token (API origin only)."""
        if not authenticated:
            return False
        if not path.startswith(("http://", "https://")):
            return True  # a relative path is always below the API's own base URL
        return _origin(httpx.URL(path)) == self._origin

    def _signed(self, request: Request, organisation_id: int | None, send_token: bool) -> Request:
        """``request`` with the organisation header and, if ``send_token``, the bearer."""
        org = organisation_id or self.organisation_id
        base_headers = ((_ORG_HEADER, str(int(org))),) if org else ()
        auth_headers = tuple(self.auth.get_auth_headers().items()) if send_token else ()
        return Request(  # (dataclasses.replace costs several times more)
            request.method,
            request.path,
            request.params,
            (*auth_headers, *base_headers, *request.headers),
            request.content,
            request.idempotent,
        )

    async def _exchange(
        self, request: Request, organisation_id: int | None, *, authenticated: bool = True
    ) -> httpx.Response:
        """Send ``request`` with auth and org headers; one refresh-and-resend on 401."""
        send_token = self._sends_token(request.path, authenticated=authenticated)
        if send_token:
            await self._ensure_token()
        refreshed = False
        while True:
            rejected = self.auth.token if send_token else None
            attempt = self._signed(request, organisation_id, send_token)
            try:
                return await self._transport.send(attempt)
            except UnauthorizedError:
                if not send_token or refreshed:
                    raise
                if not await self._refresh_after_unauthorized(rejected):
                    raise
                refreshed = True

    async def _ensure_token(self) -> None:
        """``auth.ensure_token()``, retried while the token endpoint fails transiently."""
        try:
            await self.auth.ensure_token()
        except TokenRefreshError as exc:
            await self._retry_token(exc, self.auth.ensure_token)

    async def _refresh_after_unauthorized(self, rejected: str | None) -> bool:
        """``auth.refresh_after_unauthorized()``, retried like :meth:`_ensure_token`."""
        return await self._retry_token(None, lambda: self.auth.refresh_after_unauthorized(rejected))

    async def _retry_token(
        self, failure: TokenRefreshError | None, fetch: Callable[[], Awaitable[_T]]
    ) -> _T:
        """``fetch()`` again while the token endpoint fails transiently, as the retry
        policy allows (its backoff; a token request is never repeated after a timeout or
        an answer the server may have acted on, see ``TokenRefreshError.transient``).

        Args:
            failure: the error of a first ``fetch()`` already made, or ``None`` to make it.
            fetch: the token call.
        """
        policy = self._transport.retry
        retries = 0
        while True:
            if failure is not None:
                if not failure.transient or retries >= policy.max_retries:
                    raise failure
                retries += 1
                delay = policy.delay(retries)
                logger.warning("%s; retry %d in %.2f s", failure, retries, delay)
                await anyio.sleep(delay)
            try:
                return await fetch()
            except TokenRefreshError as exc:
                failure = exc
