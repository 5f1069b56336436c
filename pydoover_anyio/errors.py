"""Exceptions raised by the Doover Data API client (same names and tree as pydoover 1.18.3).

Exception tree::

    Exception
    └── DooverAPIError                       base of everything this package raises
        ├── HTTPError                        the server answered with an error status
        │   ├── BadRequestError      400
        │   ├── UnauthorizedError    401
        │   ├── ForbiddenError       403
        │   └── NotFoundError        404
        ├── TokenRefreshError                an access token could not be obtained
        ├── ResponseDecodeError              a 2xx body that is not the documented shape
        ├── IngestError                      items of an ingest block were not stored
        │                                    (defined in :mod:`pydoover_anyio.ingest`)
        └── DooverConnectionError            the server could not be reached (after retries);
            │                                also an ``httpx.TransportError``
            └── DooverTimeoutError           ... because time ran out; also an
                                             ``httpx.TimeoutException`` and a ``TimeoutError``

Every error names the request it belongs to (method and URL, with credentials and secret
query parameters redacted) and, where there is one, the HTTP status. Response bodies are
kept as text, truncated to :data:`MAX_BODY_CHARS` characters.

Why :class:`DooverConnectionError` is also an ``httpx.TransportError``: pydoover's sync
``DataClient`` lets httpx's transport errors escape unwrapped, so code written for it catches
``httpx.TransportError`` (or ``httpx.HTTPError``) around data calls. Subclassing keeps such
handlers working after switching to this package, while new code can catch the Doover tree
alone. For the same reason a timeout is a :class:`DooverTimeoutError`, which is also an
``httpx.TimeoutException`` and the builtin ``TimeoutError`` (pydoover's async client raised
``asyncio.TimeoutError``, which is that builtin). The price: a handler for
``httpx.TransportError`` sees these errors too, which is what such a handler means anyway.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, ClassVar

import httpx

from pydoover_anyio.runtime import redact_url
from pydoover_anyio.runtime.transport import request_of

__all__ = [
    "MAX_BODY_CHARS",
    "BadRequestError",
    "DooverAPIError",
    "DooverConnectionError",
    "DooverTimeoutError",
    "ForbiddenError",
    "HTTPError",
    "NotFoundError",
    "ResponseDecodeError",
    "TokenRefreshError",
    "UnauthorizedError",
    "connection_error",
    "error_for_status",
]

#: Response bodies kept on an :class:`HTTPError` (and shown in its message) are cut here.
MAX_BODY_CHARS = 2000


def _redact(url: str) -> str:
    """``url`` without credentials or secret query values (empty stays empty)."""
    return redact_url(url) if url else ""


def _truncate(text: str) -> str:
    if len(text) <= MAX_BODY_CHARS:
        return text
    return f"{text[:MAX_BODY_CHARS]}... [{len(text) - MAX_BODY_CHARS} more characters]"


class DooverAPIError(Exception):
    """Base class of every error raised by the Doover Data API client."""


class HTTPError(DooverAPIError):
    """The server answered with an error status (after any retries).

    ``str(error)`` is ``"HTTP {status} on {METHOD} {url}: {text}"`` (pydoover's form, plus
    the method). The constructor takes pydoover's arguments first, so
    ``HTTPError(409, "conflict", url)`` still works.

    Attributes:
        status: The HTTP status code.
        method: The request method (upper case), or ``""`` when unknown.
        url: The request URL with secrets redacted, or ``""`` when unknown.
        body: The response text, truncated to :data:`MAX_BODY_CHARS` characters.
    """

    def __init__(
        self,
        status: int,
        message: str,
        url: str = "",
        *,
        method: str = "",
        body: str | None = None,
    ) -> None:
        """Build the error.

        Args:
            status: The HTTP status code.
            message: What to show after the request; usually the response text.
            url: The request URL (redacted here).
            method: The request method.
            body: The response text; defaults to ``message``.
        """
        self.status = status
        self.method = method.upper()
        self.url = _redact(url)
        self.body = _truncate(message if body is None else body)
        where = f"{self.method} {self.url}" if self.method else self.url
        super().__init__(f"HTTP {status} on {where}: {_truncate(message)}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild from the original parts, not from the formatted message.
        return (_rebuild_http_error, (type(self), self.__dict__.copy(), self.args))


def _rebuild_http_error(
    cls: type[HTTPError], state: dict[str, Any], args: tuple[Any, ...]
) -> HTTPError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class _FixedStatusError(HTTPError):
    """An :class:`HTTPError` for one status; pydoover's ``(message, url)`` constructor."""

    fixed_status: ClassVar[int]
    #: The message of one built without one (pydoover's wording, e.g. ``"Not found"``).
    default_message: ClassVar[str]

    def __init__(
        self,
        message: str | None = None,
        url: str = "",
        *,
        method: str = "",
        body: str | None = None,
    ) -> None:
        """Build the error.

        Args:
            message: What to show after the request; defaults to ``default_message``.
            url: The request URL (redacted here).
            method: The request method.
            body: The response text; defaults to ``message``.
        """
        text = self.default_message if message is None else message
        super().__init__(self.fixed_status, text, url, method=method, body=body)


class BadRequestError(_FixedStatusError):
    """The server rejected the request as malformed or invalid (400)."""

    fixed_status = 400
    default_message = "Bad request"


class UnauthorizedError(_FixedStatusError):
    """The token is missing, expired or invalid (401)."""

    fixed_status = 401
    default_message = "Unauthorized"


class ForbiddenError(_FixedStatusError):
    """The token is valid but may not do this (403)."""

    fixed_status = 403
    default_message = "Forbidden"


class NotFoundError(_FixedStatusError):
    """No such agent, channel, message, alarm, ... (404)."""

    fixed_status = 404
    default_message = "Not found"


_BY_STATUS: dict[int, type[_FixedStatusError]] = {
    cls.fixed_status: cls
    for cls in (BadRequestError, UnauthorizedError, ForbiddenError, NotFoundError)
}


def error_for_status(status: int, method: str, url: str, body_text: str) -> HTTPError:
    """The error for a final error response.

    Args:
        status: The HTTP status code (>= 400).
        method: The request method.
        url: The request URL; credentials and secret query values are redacted.
        body_text: The response text (truncated here); the status phrase stands in for an
            empty body in the message.

    Returns:
        :class:`BadRequestError`, :class:`UnauthorizedError`, :class:`ForbiddenError` or
        :class:`NotFoundError` for 400/401/403/404, else a plain :class:`HTTPError`.
    """
    shown = body_text if body_text.strip() else _phrase(status)
    fixed = _BY_STATUS.get(status)
    if fixed is not None:
        return fixed(shown, url, method=method, body=body_text)
    return HTTPError(status, shown, url, method=method, body=body_text)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "(empty body)"


class TokenRefreshError(DooverAPIError):
    """An access token could not be obtained or refreshed (no credentials, or refused).

    Attributes:
        transient: whether trying again later may work, and is safe: the token endpoint
            could not be connected to, or answered 429 or 5xx (not a refusal of the
            credentials, nor a timeout, after which a refresh may have been carried out).
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class ResponseDecodeError(DooverAPIError):
    """A successful response whose body is not what the endpoint documents.

    Raised for invalid JSON, a missing field, a value of the wrong type, or an empty body
    where one is required. The message names the request, the status and what was wrong;
    it never contains the body itself.

    Attributes:
        method: The request method (upper case).
        url: The request URL with secrets redacted.
        status: The HTTP status of the response.
        reason: What was wrong with the body (e.g. ``"Expected `int`, got `str` - at `$.id`"``).
    """

    def __init__(self, method: str, url: str, status: int, reason: str) -> None:
        """Build the error.

        Args:
            method: The request method.
            url: The request URL (redacted here).
            status: The HTTP status of the response.
            reason: What was wrong with the body.
        """
        self.method = method.upper()
        self.url = _redact(url)
        self.status = status
        self.reason = reason
        super().__init__(
            f"unexpected response to {self.method} {self.url} (HTTP {status}): {reason}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.method, self.url, self.status, self.reason))


class DooverConnectionError(DooverAPIError, httpx.TransportError):
    """The server could not be reached, or the connection failed, after all retries.

    The httpx error is chained as ``__cause__``. See the module docstring for why this is
    also an ``httpx.TransportError``.

    Attributes:
        method: The request method (upper case), or ``""`` when unknown.
        url: The request URL with secrets redacted, or ``""`` when unknown.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        url: str = "",
        request: httpx.Request | None = None,
    ) -> None:
        """Build the error.

        Args:
            message: What failed.
            method: The request method.
            url: The request URL (redacted here).
            request: The httpx request, exposed as ``.request`` like httpx's errors.
        """
        self.method = method.upper()
        self.url = _redact(url)
        super().__init__(message, request=request)


class DooverTimeoutError(DooverConnectionError, httpx.TimeoutException, TimeoutError):
    """No complete response in time (connect, read, write, pool or overall deadline)."""


def connection_error(error: httpx.RequestError, where: str) -> DooverConnectionError:
    """Wrap a final transport failure, a redirect loop or a body whose content coding
    cannot be undone; fits ``Transport(map_transport_error=...)``.

    Args:
        error: The httpx error of the last attempt (the caller chains it as the cause).
        where: ``"METHOD url"`` of the request, already redacted.

    Returns:
        A :class:`DooverTimeoutError` for timeouts, else a :class:`DooverConnectionError`,
        with the message ``"{where} failed: {ErrorType}: {detail}"``.
    """
    method, _, url = where.partition(" ")
    detail = str(error)
    kind = type(error).__name__
    message = f"{where} failed: {kind}: {detail}" if detail else f"{where} failed: {kind}"
    request = request_of(error)
    cls = DooverTimeoutError if isinstance(error, httpx.TimeoutException) else DooverConnectionError
    return cls(message, method=method, url=url, request=request)
