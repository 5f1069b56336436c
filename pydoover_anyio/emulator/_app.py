"""The emulated Doover as a raw ASGI application.

The data API is mounted at ``/api`` and the auth server's token endpoint at the root
(``/oauth2/token``); everything else is a 404. Each request goes through:

1. Routing on the raw path, each segment percent-decoded on its own: no route is a 404,
   a route without the method is a 405 with ``Allow``.
2. The body is read whole and, with ``Content-Encoding: gzip``, decompressed (a body
   that does not decompress, or another encoding, is a 400).
3. Unless the route is public, the bearer token is checked (401 with
   ``WWW-Authenticate: Bearer`` when missing, invalid, expired or revoked).
4. The handler runs synchronously with the state lock held, so each request sees and
   leaves a consistent state; refusals become ``{"message": ...}`` JSON errors.

WebSocket scopes are not served yet (the gateway is a later addition).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from urllib.parse import parse_qs, unquote_to_bytes

import msgspec

from pydoover_anyio._emulation.asgi import (
    JSON_CONTENT_TYPE,
    Receive,
    Scope,
    Send,
    decode_headers,
    send_response,
)

from ._http import ApiError, Request, Response
from ._router import Route, Router
from ._state import DooverState

__all__ = ["API_PREFIX", "DooverApp"]

API_PREFIX = "api"
"""The first path segment of the data API."""

_ENCODER = msgspec.json.Encoder()


def _error(error: ApiError) -> Response:
    headers = error.headers
    if error.status == 401:
        headers = (*headers, ("www-authenticate", "Bearer"))
    return Response(
        error.status, _ENCODER.encode({"message": error.message}), JSON_CONTENT_TYPE, headers
    )


def _segments(raw_path: bytes) -> list[str]:
    return [unquote_to_bytes(part).decode("utf-8", "replace") for part in raw_path.split(b"/")[1:]]


def _decompress(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if not encoding or encoding == "identity":
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise ApiError(400, f"unsupported Content-Encoding {encoding!r}")
    try:
        return zlib.decompress(body, wbits=zlib.MAX_WBITS | 16)
    except zlib.error as exc:
        raise ApiError(400, f"the gzip body does not decompress: {exc}") from None


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class DooverApp:
    """ASGI app serving a :class:`DooverState` as the Doover data API.

    Args:
        state: What to serve.
        routes: The data API routes (mounted under ``/api``).
        root_routes: Routes served at the root.
    """

    def __init__(
        self, state: DooverState, routes: Iterable[Route], root_routes: Iterable[Route]
    ) -> None:
        self.state = state
        self._api = Router(routes)
        self._root = Router(root_routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            response = await self._handle(scope, receive)
        except ApiError as error:
            response = _error(error)
        await send_response(
            send,
            response.status,
            response.body,
            content_type=response.content_type,
            headers=response.headers,
        )

    async def _handle(self, scope: Scope, receive: Receive) -> Response:
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        segments = _segments(raw_path)
        if segments and segments[0] == API_PREFIX:
            found = self._api.match(segments[1:])
        else:
            found = self._root.match(segments)
        if found is None:
            raise ApiError(404, f"no such endpoint: {scope['path']}")
        routes, params = found
        method: str = scope["method"]
        route = routes.get(method)
        if route is None:
            allow = ", ".join(sorted(routes))
            raise ApiError(405, f"method {method} not allowed", (("allow", allow),))
        headers = decode_headers(scope["headers"])
        body = _decompress(await _read_body(receive), headers.get("content-encoding", ""))
        query_string = bytes(scope.get("query_string", b"")).decode("utf-8", "replace")
        request = Request(
            method,
            scope["path"],
            params,
            parse_qs(query_string, keep_blank_values=True) if query_string else {},
            headers,
            body,
        )
        state = self.state
        if not route.public:
            request.claims = state.tokens.authenticate(headers)
            request.subject = request.claims["agent"]
        with state.lock:
            return route.handler(state, request)
