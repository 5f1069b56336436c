"""Exceptions raised by the Invoxia GPS tracker client (same names as ``gps_tracker`` 0.9.2).

Exception tree::

    GpsTrackerException(Exception)
    ├── UnknownDeviceType(device_data)              .device_data
    ├── UnknownAnswerScheme(json_data, message, cls) .json_data, .message, .cls
    ├── ApiConnectionError()                         network failure; empty message,
    │                                                the transport error is __cause__
    └── HttpException(msg=None, json_answer=None)    .json_answer, .status, .request
        ├── UnauthorizedQuery   401  message = body["detail"] when it is a str, else None
        ├── ForbiddenQuery      403  fixed message
        ├── NoContentQuery      204  fixed message
        └── FailedQuery         any other status >= 400 (the default); fixed message

``HttpException`` keeps a registry from status code to subclass: ``HttpException.get(code)``
returns the subclass registered for ``code`` (or ``None``) and ``HttpException.get_default()``
returns ``FailedQuery``. A subclass registers itself with a class keyword,
``class Teapot(HttpException, code=418)``; registering a code twice raises ``ValueError``.

Compared with 0.9.2, ``str(exc)`` is unchanged for the HTTP errors (the two schema errors
carry the same information in other words). The additions are attributes: ``status`` (the
HTTP status code, also on ``FailedQuery``), ``request`` (``"GET <url>"``, never credentials)
and ``cls`` on ``UnknownAnswerScheme``. When ``status`` or ``request`` is given, a note with
them is added (``BaseException.add_note``), so tracebacks show which request failed while
the message stays the same. Nothing here reads package metadata.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

__all__ = [
    "ApiConnectionError",
    "FailedQuery",
    "ForbiddenQuery",
    "GpsTrackerException",
    "HttpException",
    "NoContentQuery",
    "UnauthorizedQuery",
    "UnknownAnswerScheme",
    "UnknownDeviceType",
]

_ISSUES_URL = "https://gitlab.com/ezlo.picori/gps_tracker/-/issues"


def _pretty_json(data: Any) -> str:
    """Render ``data`` as indented JSON; values JSON cannot hold are shown with ``str()``."""
    try:
        return json.dumps(data, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # e.g. non-str dict keys mixed with str keys
        return repr(data)


def _report_request() -> str:
    return (
        f"Please report it at {_ISSUES_URL} and include the data above, after replacing "
        "personal data (names, e-mail addresses, serial numbers, identifiers, coordinates) "
        "with made-up values."
    )


class GpsTrackerException(Exception):  # noqa: N818 (public name of gps_tracker 0.9.2)
    """Base class of every error raised by this package."""


class UnknownDeviceType(GpsTrackerException):
    """The API returned a device whose ``type`` this package does not support.

    Attributes:
        device_data: The device object as received, ``type`` key included.
    """

    def __init__(self, device_data: Any) -> None:
        """Build the error from the offending device object.

        Args:
            device_data: The decoded JSON object of the device.
        """
        self.device_data = device_data
        kind = device_data.get("type") if isinstance(device_data, dict) else None
        super().__init__(
            f"Unsupported device type {kind!r}.\n"
            "The API returned a device of a kind this version of gps_tracker cannot read:\n"
            f"{_pretty_json(device_data)}\n"
            f"{_report_request()}"
        )


class UnknownAnswerScheme(GpsTrackerException):
    """An API answer does not have the shape the model expects.

    Raised for invalid JSON, a missing required key and any value of the wrong type.

    Attributes:
        json_data: The decoded JSON answer (or the raw text when it is not JSON).
        message: The underlying error text, naming the failing field.
        cls: The model class that could not be built.
    """

    def __init__(self, json_data: Any, message: str, cls: type[Any]) -> None:
        """Build the error.

        Args:
            json_data: The decoded JSON (or raw text) that failed to load.
            message: What is wrong with it.
            cls: The model class that was being built.
        """
        self.json_data = json_data
        self.message = message
        self.cls = cls
        name = getattr(cls, "__name__", repr(cls))
        super().__init__(
            f"Unexpected answer from the API: cannot build {name!r}: {message}\n"
            "The data received was:\n"
            f"{_pretty_json(json_data)}\n"
            f"{_report_request()}"
        )


class ApiConnectionError(GpsTrackerException):
    """The API could not be reached (DNS, refused connection, timeout, TLS, disconnect).

    Raised by the clients with an empty message, as in 0.9.2; the transport error is
    chained as ``__cause__``. Built by hand it takes any arguments, as 0.9.2's did (a
    test's ``ApiConnectionError("offline")``).

    Attributes:
        request: ``"METHOD url"`` of the failed request, or ``None``.
    """

    def __init__(self, *args: object, request: str | None = None) -> None:
        """Build the error.

        Args:
            args: the exception's arguments (``args``, and the message).
            request: ``"METHOD url"`` of the failed request (no credentials).
        """
        super().__init__(*args)
        self.request = request
        if request is not None:
            self.add_note(f"request: {request}")


class HttpException(GpsTrackerException):
    """The API answered with an HTTP status that is an error for this client.

    Attributes:
        json_answer: The decoded JSON body, or ``None`` when the body is not JSON.
        status: The HTTP status code (the registered code by default), or ``None``.
        request: ``"METHOD url"`` of the failed request, or ``None``.
    """

    code: ClassVar[int | None] = None
    default_message: ClassVar[str | None] = None
    _registry: ClassVar[dict[int, type[HttpException]]] = {}
    _default: ClassVar[type[HttpException] | None] = None

    def __init_subclass__(
        cls, code: int | None = None, default: bool = False, **kwargs: Any
    ) -> None:
        """Register the subclass for ``code``, and as the default class if ``default``.

        Args:
            code: The HTTP status code this subclass stands for, if any.
            default: Raise this class for error statuses without a class of their own
                (``FailedQuery`` unless a later subclass says so, as in 0.9.2).
            **kwargs: Passed on to ``object.__init_subclass__``.

        Raises:
            ValueError: Another subclass is already registered for ``code``.
        """
        super().__init_subclass__(**kwargs)
        if default:
            HttpException._default = cls
        if code is None:
            return
        taken = HttpException._registry.get(code)
        if taken is not None:
            raise ValueError(f"HTTP code {code} is already bound to {taken.__name__}.")
        cls.code = code
        HttpException._registry[code] = cls

    def __init__(
        self,
        msg: str | None = None,
        json_answer: Any = None,
        *,
        status: int | None = None,
        request: str | None = None,
    ) -> None:
        """Build the error.

        Args:
            msg: Message overriding the built-in one.
            json_answer: The decoded JSON body (``None`` when not JSON).
            status: The HTTP status code; defaults to the class's registered code.
            request: ``"METHOD url"`` of the failed request (no credentials).
        """
        self.json_answer = json_answer
        self.status = status if status is not None else self.code
        self.request = request
        super().__init__(msg if msg is not None else self._message())
        details = [f"request: {request}"] if request is not None else []
        if status is not None:
            details.append(f"status: {status}")
        if details:
            self.add_note(", ".join(details))

    def _message(self) -> str | None:
        """Return the message to use when none is given (0.9.2's hook for subclasses)."""
        return self.default_message

    @classmethod
    def get(cls, code: int) -> type[HttpException] | None:
        """Return the subclass registered for an HTTP status code.

        Args:
            code: An HTTP status code.

        Returns:
            The registered subclass, or ``None``.
        """
        return HttpException._registry.get(code)

    @classmethod
    def get_default(cls) -> type[HttpException]:
        """Return the class used for error statuses without a registered subclass.

        Returns:
            ``FailedQuery``, or the last subclass declared with ``default=True``.
        """
        return HttpException._default or FailedQuery


class UnauthorizedQuery(HttpException, code=401):
    """401: the credentials were refused; the message is the API's ``detail`` text."""

    def _message(self) -> str | None:
        answer = self.json_answer
        detail = answer.get("detail") if isinstance(answer, dict) else None
        return detail if isinstance(detail, str) else None


class ForbiddenQuery(HttpException, code=403):
    """403: the credentials are valid but the resource belongs to someone else."""

    default_message = "You are not allowed to perform the attempted query."


class NoContentQuery(HttpException, code=204):
    """204: the API has nothing for this query (e.g. tracker status of a phone)."""

    default_message = "No content is associated to this query."


class FailedQuery(HttpException, default=True):
    """Any other error status (>= 400); ``status`` holds the real code."""

    default_message = "Query failed with unexpected exception."
