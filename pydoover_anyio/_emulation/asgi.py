"""Minimal ASGI types and response helpers shared by the local emulators.

The emulators are raw ASGI applications (no web framework); these aliases describe the
three-callable interface and ``send_response`` writes one complete HTTP response.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

__all__ = [
    "HTML_CONTENT_TYPE",
    "JSON_CONTENT_TYPE",
    "TEXT_CONTENT_TYPE",
    "ASGIApp",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "decode_headers",
    "send_response",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON_CONTENT_TYPE = "application/json"
HTML_CONTENT_TYPE = "text/html; charset=utf-8"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"

# Statuses that must carry neither a body nor a Content-Length header (RFC 9110 §8.6).
_BODYLESS = frozenset({204, 304})


def decode_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """ASGI header pairs as text: names lower-cased, repeated headers joined with ``, ``."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


async def send_response(
    send: Send,
    status: int,
    body: bytes = b"",
    *,
    content_type: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> None:
    """Send one complete HTTP response.

    Args:
        send: The ASGI ``send`` callable.
        status: The HTTP status code.
        body: The response body (ignored for 204 and 304).
        content_type: The ``Content-Type`` header value, if any.
        headers: Extra ``(name, value)`` header pairs (latin-1 encodable).
    """
    raw: list[tuple[bytes, bytes]] = []
    if status in _BODYLESS:
        body = b""
    else:
        raw.append((b"content-length", str(len(body)).encode("ascii")))
    if content_type is not None:
        raw.append((b"content-type", content_type.encode("latin-1")))
    raw.extend((name.encode("latin-1"), value.encode("latin-1")) for name, value in headers)
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
