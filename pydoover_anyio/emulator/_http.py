"""Request and response values the emulator's route handlers work with.

Handlers are plain synchronous functions ``(state, request) -> Response``; they raise
:class:`ApiError` for any client mistake, which the app turns into a JSON
``{"message": ...}`` body. Everything here is I/O-free.

Rules this module enforces:

* Query values are parsed strictly: a boolean is ``true``/``false`` (``1``/``0`` too),
  an integer is decimal digits; anything else is a 400 naming the parameter.
* A JSON body must parse (msgspec); an empty body is a 400 where a body is required.
* A ``multipart/form-data`` body yields the ``json_payload`` part and the attachment
  parts (any part whose name starts with ``attachment``, numbered from 0 or 1 alike).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from pydoover_anyio._emulation.asgi import JSON_CONTENT_TYPE
from pydoover_anyio.runtime._json import UNDECODABLE_JSON

__all__ = [
    "ApiError",
    "NotFound",
    "Request",
    "Response",
    "Upload",
    "empty",
    "json_response",
    "parse_id",
    "raw_json",
]

_JSON_DECODER = msgspec.json.Decoder()
_TRUE, _FALSE = "true", "false"  # spec §1.3: the wire's only spellings
_PARAMETER = re.compile(r'([A-Za-z][\w*-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


class ApiError(Exception):
    """A request the emulator refuses, answered ``{"message": ...}`` with ``status``.

    Args:
        status: The HTTP status.
        message: The human-readable reason.
        headers: Extra response headers.
    """

    def __init__(self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


class NotFound(ApiError, LookupError):  # noqa: N818 - reads as the 404 it is
    """An unknown agent, channel, message or other resource: a 404.

    Also a :class:`LookupError`, which is what the state's helpers raise for tests.

    Args:
        message: The human-readable reason.
    """

    def __init__(self, message: str) -> None:
        super().__init__(404, message)


@dataclass(frozen=True, slots=True)
class Upload:
    """One uploaded file part.

    Attributes:
        filename: The part's file name.
        content_type: The part's content type, if any.
        data: The file bytes.
    """

    filename: str
    content_type: str | None
    data: bytes


@dataclass(slots=True)
class Response:
    """One response to send.

    Attributes:
        status: The HTTP status.
        body: The body bytes.
        content_type: The ``Content-Type``, if any.
        headers: Extra headers.
    """

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


def json_response(value: Any, status: int = 200) -> Response:
    """A JSON response encoding ``value``."""
    return Response(status, msgspec.json.encode(value), JSON_CONTENT_TYPE)


def raw_json(body: bytes, status: int = 200) -> Response:
    """A JSON response from already-encoded bytes."""
    return Response(status, body, JSON_CONTENT_TYPE)


def empty() -> Response:
    """A 200 with an empty body (``Content-Length: 0``), what "no content" looks like here."""
    return Response(200)


def parse_id(value: str, what: str) -> int:
    """Parse a decimal snowflake id.

    Raises:
        ApiError: 400 when it is not an unsigned 64-bit decimal.
    """
    if value.isascii() and value.isdigit() and len(value) <= 20:
        number = int(value)
        if number < 1 << 64:
            return number
    raise ApiError(400, f"invalid {what}: {value!r}")


@dataclass(slots=True)
class Request:
    """One parsed request.

    Attributes:
        method: The HTTP method.
        path: The decoded path.
        params: Path parameters by name (still text; see :meth:`id`).
        query: Query parameters, each with every value given, in order.
        headers: Headers with lower-case names.
        body: The body, decompressed.
        subject: The authenticated agent id, or ``None`` on unauthenticated routes.
        claims: The bearer token's claims (empty on unauthenticated routes).
    """

    method: str
    path: str
    params: dict[str, str]
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    subject: int | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)

    # -- path --------------------------------------------------------------------------

    def id(self, name: str) -> int:
        """A path parameter as an id (400 if it is not one)."""
        return parse_id(self.params[name], name)

    def agent(self) -> int:
        """The ``{agent_id}`` path parameter."""
        return self.id("agent_id")

    def channel(self) -> str:
        """The ``{channel_name}`` path parameter."""
        return self.params["channel_name"]

    def caller(self) -> int:
        """The authenticated agent id.

        Raises:
            ApiError: 401 on a route served without authentication.
        """
        if self.subject is None:
            raise ApiError(401, "authentication credentials were not provided")
        return self.subject

    # -- query -------------------------------------------------------------------------

    def first(self, name: str) -> str | None:
        """The first value of a query parameter, or ``None``."""
        values = self.query.get(name)
        return values[0] if values else None

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean query parameter."""
        value = self.first(name)
        if value is None:
            return default
        if value == _TRUE:
            return True
        if value == _FALSE:
            return False
        raise ApiError(400, f"query parameter {name!r} must be true or false, not {value!r}")

    def integer(self, name: str) -> int | None:
        """A non-negative integer query parameter, or ``None``."""
        value = self.first(name)
        if value is None or value == "":
            return None
        if value.isascii() and value.isdigit():
            return int(value)
        raise ApiError(400, f"query parameter {name!r} must be a whole number, not {value!r}")

    def ids(self, name: str) -> list[int]:
        """Every value of a repeated id query parameter."""
        return [parse_id(value, name) for value in self.query.get(name, [])]

    # -- body --------------------------------------------------------------------------

    @property
    def content_type(self) -> str:
        """The media type of the body, lower-cased, without parameters."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            ApiError: 400 for an empty or invalid body.
        """
        if not self.body:
            raise ApiError(400, "a JSON body is required")
        return decode_json(self.body)

    def json_object(self, *, required: bool = True) -> dict[str, Any]:
        """The body parsed as a JSON object (``{}`` for no body when not required)."""
        if not self.body and not required:
            return {}
        value = self.json()
        if not isinstance(value, dict):
            raise ApiError(400, "the JSON body must be an object")
        return value

    def multipart(self) -> tuple[Any, list[Upload]]:
        """The ``json_payload`` part (parsed) and the uploaded files of a multipart body."""
        return parse_multipart(self.headers.get("content-type", ""), self.body)

    @property
    def is_multipart(self) -> bool:
        """Whether the body is ``multipart/form-data``."""
        return self.content_type == "multipart/form-data"


def decode_json(body: bytes) -> Any:
    """Parse JSON (msgspec), raising a 400 :class:`ApiError` when it is not valid."""
    try:
        return _JSON_DECODER.decode(body)
    except UNDECODABLE_JSON as exc:
        raise ApiError(400, f"invalid JSON body: {exc}") from None


def parse_multipart(content_type: str, body: bytes) -> tuple[Any, list[Upload]]:
    """Split a ``multipart/form-data`` body.

    Args:
        content_type: The request's ``Content-Type`` header (it carries the boundary).
        body: The body.

    Returns:
        The parsed ``json_payload`` part (``None`` when absent) and the attachment parts
        in body order.

    Raises:
        ApiError: 400 for a body that is not well-formed multipart.
    """
    boundary = _boundary(content_type)
    delimiter = b"--" + boundary
    sections = body.split(delimiter)
    if len(sections) < 3 or not sections[-1].startswith(b"--"):
        raise ApiError(400, "malformed multipart body")
    payload: Any = None
    uploads: list[Upload] = []
    for section in sections[1:-1]:
        if not section.startswith(b"\r\n") or not section.endswith(b"\r\n"):
            raise ApiError(400, "malformed multipart part")
        head, separator, content = section[2:-2].partition(b"\r\n\r\n")
        if not separator:
            raise ApiError(400, "multipart part without headers")
        headers = _part_headers(head)
        disposition = _disposition(headers.get("content-disposition", ""))
        name = disposition.get("name", "")
        if name == "json_payload":
            payload = decode_json(content)
        elif name.startswith("attachment"):
            filename = disposition.get("filename") or name
            uploads.append(Upload(filename, headers.get("content-type"), content))
    return payload, uploads


def _boundary(content_type: str) -> bytes:
    for parameter in content_type.split(";")[1:]:
        key, _, value = parameter.strip().partition("=")
        if key.lower() == "boundary" and value:
            return value.strip('"').encode("latin-1")
    raise ApiError(400, "multipart body without a boundary")


def _part_headers(head: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", "replace").split("\r\n"):
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers


def _disposition(value: str) -> dict[str, str]:
    """The parameters of a ``Content-Disposition`` header (quoted values unquoted)."""
    parameters: dict[str, str] = {}
    for key, raw in _PARAMETER.findall(value):
        quoted = raw.startswith('"')  # a quoted-string: kept whole, quoted-pairs undone
        parameters[key.lower()] = re.sub(r"\\(.)", r"\1", raw[1:-1]) if quoted else raw.strip()
    return parameters
