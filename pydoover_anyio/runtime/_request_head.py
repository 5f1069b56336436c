"""Writing an HTTP/1.1 request head for the fast transport, refusing what h11 refuses.

httpx lets a request carry any header name or value; its own transport (httpcore, on
h11) refuses one that breaks HTTP/1.1 with ``httpx.LocalProtocolError`` before sending
anything. The fast path must refuse the same heads: written as they are, a value
ending in a newline (a token read from a file, say) or holding ``"\\r\\n"`` would split
into lines of its own, i.e. inject headers. Rules this module enforces, as h11 does:

* The method is a token.
* A header name is a token; a header value holds no NUL, CR, LF or other whitespace
  than spaces and tabs between its characters (none leading or trailing).
* The framing headers are ones the transport can keep to: ``Transfer-Encoding`` once
  and only ``chunked`` (sent in lower case), ``Content-Length`` a number (repeated, or
  a list, only of the same one, which is sent once). The head says how the body is
  framed (:class:`Framing`); the transport sends the body that way and refuses a body
  of another length than the one declared, so a caller's ``Content-Length`` can never
  let body bytes pass for the start of another request.
* ``Host`` goes first (RFC 9112 §3.2), the other headers in their order.
* ``Connection: close`` is noted, so the connection is not reused after the answer.
* The error names a refused value's header but does not show the value (h11 does):
  it may be a credential, and error messages end up in logs.

Checking the headers of a head costs 3-4 µs, so the header lists that passed are
remembered (a bounded set of the exact ``(name, value)`` pairs, per transport):
repeated calls send the same headers.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

import httpx

__all__ = ["Framing", "RequestHeadWriter"]

_TOKEN_RE: Final = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_VALUE_RE: Final = re.compile(rb"(?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?")
_COMMON_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}
)
#: Distinct header lists remembered per transport before the memory starts over.
_REMEMBERED: Final = 256

_Headers = tuple[tuple[bytes, bytes], ...]


class Framing(NamedTuple):
    """How a request head frames its body."""

    #: The declared ``Content-Length``; None when chunked or when none is declared
    #: (then the body must be empty).
    length: int | None
    chunked: bool
    #: ``Connection: close``: the connection is not reused after the response.
    close: bool = False


class RequestHeadWriter:
    """Writes request heads; one per transport (it remembers the headers it checked)."""

    __slots__ = ("_passed",)

    def __init__(self) -> None:
        #: Header lists checked, each with the list to write and its framing.
        self._passed: dict[_Headers, tuple[_Headers, Framing]] = {}

    def head(self, request: httpx.Request) -> tuple[bytes, Framing]:
        """The request line and headers of ``request`` (ending with the blank line), and
        how they frame its body.

        Raises:
            httpx.LocalProtocolError: the method, a header name or a value is not valid
                HTTP/1.1, or the framing headers are not ones to keep to (nothing was
                sent).
        """
        method = request.method
        if method not in _COMMON_METHODS and not _TOKEN_RE.fullmatch(method.encode()):
            raise httpx.LocalProtocolError("Illegal method characters", request=request)
        headers = tuple(request.headers.raw)
        passed = self._passed
        checked = passed.get(headers)
        if checked is None:
            checked = _check_headers(headers, request)
            if len(passed) >= _REMEMBERED:
                passed.clear()
            passed[headers] = checked
        written, framing = checked
        lines = [method.encode(), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
        for name, value in written:
            lines += (name, b": ", value, b"\r\n")
        lines.append(b"\r\n")
        return b"".join(lines), framing


def _check_headers(headers: _Headers, request: httpx.Request) -> tuple[_Headers, Framing]:
    """The headers to write (``Host`` first, framing headers normalised) and their framing.

    Raises:
        httpx.LocalProtocolError: as :meth:`RequestHeadWriter.head` says.
    """
    length: int | None = None
    chunked = close = False
    host: list[tuple[bytes, bytes]] = []
    written: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        if not _TOKEN_RE.fullmatch(name):
            raise httpx.LocalProtocolError(f"Illegal header name {name!r}", request=request)
        if not _VALUE_RE.fullmatch(value):  # named, not shown: it may be a credential
            raise httpx.LocalProtocolError(
                f"Illegal header value for {name.decode('ascii')!r}: a NUL, CR or LF, or "
                "whitespace at either end",
                request=request,
            )
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            if chunked:
                raise httpx.LocalProtocolError(
                    "multiple Transfer-Encoding headers", request=request
                )
            if value.lower() != b"chunked":
                raise httpx.LocalProtocolError(
                    "Only Transfer-Encoding: chunked is supported", request=request
                )
            chunked = True
            value = b"chunked"
        elif lowered == b"content-length":
            given = {part.strip() for part in value.split(b",")}
            number = given.pop() if len(given) == 1 else b""
            if not number.isdigit() or (length is not None and int(number) != length):
                raise httpx.LocalProtocolError(
                    f"bad Content-Length {value.decode('ascii')!r}", request=request
                )
            if length is not None:
                continue  # the same again: sent once
            length = int(number)
            value = number
        elif lowered == b"connection":
            close = close or b"close" in [token.strip() for token in value.lower().split(b",")]
        (host if lowered == b"host" else written).append((name, value))
    return (*host, *written), Framing(None if chunked else length, chunked, close)
