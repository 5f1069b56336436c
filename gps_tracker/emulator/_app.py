"""The Invoxia API as a raw ASGI application over an :class:`InvoxiaState`.

It answers the seven read-only endpoints of spec §0 the way a Django REST Framework
server would, judging by the captured responses:

* URL resolution comes first: an unknown path gets Django's HTML 404 page, and a known
  path missing its trailing slash gets a 301 to the slashed path (``APPEND_SLASH``).
* Then HTTP Basic auth on every request (credentials decoded as UTF-8, falling back to
  latin-1): 401 with a DRF ``detail`` and ``WWW-Authenticate`` when it fails.
* Then the method: only GET and HEAD; anything else is 405.
* ``/users/{id}/`` of another user is 403; an unknown device id is a JSON 404.
* ``tracker_status`` / ``tracker_config`` of a device without that object (a phone) is
  204 with an empty body.
* ``tracker_data`` returns one page chosen by :func:`select_page` under the current
  :class:`PagingRules`, which can be swapped at any time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from urllib.parse import parse_qsl

import msgspec

from pydoover_anyio._emulation.asgi import (
    HTML_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    Receive,
    Scope,
    Send,
    send_response,
)

from ._paging import PagingRules, select_page
from ._state import InvoxiaState, matches_kind

__all__ = ["InvoxiaApp"]

_NOT_PROVIDED = "Authentication credentials were not provided."
_INVALID_CREDENTIALS = "Invalid username/password."
_NO_CREDENTIALS = "Invalid basic header. No credentials provided."
_SPACES = "Invalid basic header. Credentials string should not contain spaces."
_BAD_BASE64 = "Invalid basic header. Credentials not correctly base64 encoded."
_FORBIDDEN = b'{"detail":"You do not have permission to perform this action."}'
_NOT_FOUND = b'{"detail":"Not found."}'
_WHOLE_NUMBER = "Enter a whole number."
_DEVICE_VIEWS = ("tracker_data", "tracker_status", "tracker_config")
_ALLOWED = ("GET", "HEAD")

_NOT_FOUND_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
    <meta charset="utf-8">
    <title>Page not found</title>
</head>
<body>
<div class="container">
    <h1>Not Found</h1>
    <p>The requested URL {path} was not found on this server.</p>
</div>
</body>
</html>"""

Route = tuple[str, int | None]
"""A view name and the id captured from the path, if any."""


def _is_id(segment: str) -> bool:
    return segment.isascii() and segment.isdigit()


def _resolve(path: str) -> Route | None:
    """Match a path against the URL table (trailing slash required)."""
    if not path.endswith("/"):
        return None
    head, *rest = path[1:-1].split("/")
    if head == "users":
        if not rest:
            return "users", None
        return ("user", int(rest[0])) if len(rest) == 1 and _is_id(rest[0]) else None
    if head != "devices":
        return None
    if not rest:
        return "devices", None
    if not _is_id(rest[0]) or len(rest) > 2:
        return None
    if len(rest) == 1:
        return "device", int(rest[0])
    return (rest[1], int(rest[0])) if rest[1] in _DEVICE_VIEWS else None


def _auth_error(header: bytes | None, username: str, password: str) -> str | None:
    """Check a Basic ``Authorization`` header the way DRF does.

    Returns:
        ``None`` when the credentials are right, else the 401 ``detail`` text.
    """
    parts = header.split() if header is not None else []
    if not parts or parts[0].lower() != b"basic":
        return _NOT_PROVIDED
    if len(parts) == 1:
        return _NO_CREDENTIALS
    if len(parts) > 2:
        return _SPACES
    try:
        raw = base64.b64decode(parts[1])
    except (binascii.Error, ValueError):
        return _BAD_BASE64
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    user, colon, secret = text.partition(":")
    if not colon:
        return _BAD_BASE64
    user_ok = hmac.compare_digest(user.encode(), username.encode())
    secret_ok = hmac.compare_digest(secret.encode(), password.encode())
    return None if user_ok and secret_ok else _INVALID_CREDENTIALS


def _json_error(detail: str) -> bytes:
    return msgspec.json.encode({"detail": detail})


class InvoxiaApp:
    """ASGI app serving an :class:`InvoxiaState` as the Invoxia API.

    Args:
        state: The account to serve.
        paging: How ``tracker_data`` pages are cut; the attribute can be replaced at any
            time and takes effect on the next request.
    """

    def __init__(self, state: InvoxiaState, paging: PagingRules) -> None:
        self.state = state
        self.paging = paging

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        query = bytes(scope.get("query_string", b"")).decode("latin-1")
        route = _resolve(path)
        if route is None:
            if _resolve(path + "/") is not None:
                location = f"{path}/?{query}" if query else f"{path}/"
                await send_response(send, 301, headers=[("location", location)])
            else:
                page = _NOT_FOUND_PAGE.format(path=path).encode()
                await send_response(send, 404, page, content_type=HTML_CONTENT_TYPE)
            return
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        error = _auth_error(header, self.state.username, self.state.password)
        if error is not None:
            await send_response(
                send,
                401,
                _json_error(error),
                content_type=JSON_CONTENT_TYPE,
                headers=[("www-authenticate", 'Basic realm="api"')],
            )
            return
        if scope["method"] not in _ALLOWED:
            body = _json_error(f'Method "{scope["method"]}" not allowed.')
            allow = [("allow", ", ".join(_ALLOWED))]
            await send_response(send, 405, body, content_type=JSON_CONTENT_TYPE, headers=allow)
            return
        name, ident = route
        if ident is None or name == "user":
            status, body = self._account_view(name, ident, query)
        else:
            status, body = self._device_view(name, ident, query)
        await send_response(send, status, body, content_type=JSON_CONTENT_TYPE)

    def _account_view(self, name: str, ident: int | None, query: str) -> tuple[int, bytes]:
        """``/users/``, ``/users/{id}/`` and ``/devices/``: the status and JSON body."""
        state = self.state
        if name == "users":
            return 200, b"[" + state.user_body + b"]"
        if name == "user":
            return (200, state.user_body) if ident == state.user_id else (403, _FORBIDDEN)
        kind = dict(parse_qsl(query, keep_blank_values=True)).get("type") or None
        bodies = [r.body for r in state.records() if kind is None or matches_kind(r.type, kind)]
        return 200, b"[" + b",".join(bodies) + b"]"

    def _device_view(self, name: str, device_id: int, query: str) -> tuple[int, bytes]:
        """``/devices/{id}/`` and its three sub-resources: the status and JSON body."""
        record = self.state.record(device_id)
        if record is None:
            return 404, _NOT_FOUND
        if name == "device":
            return 200, record.body
        if name == "tracker_status":
            return (200, record.status) if record.status is not None else (204, b"")
        if name == "tracker_config":
            return (200, record.config) if record.config is not None else (204, b"")
        return self._tracker_data(device_id, dict(parse_qsl(query, keep_blank_values=True)))

    def _tracker_data(self, device_id: int, params: dict[str, str]) -> tuple[int, bytes]:
        """One page of locations (or 400 for a bound that is not an integer)."""
        bounds: dict[str, int | None] = {}
        for name in ("timestamp", "timestamp_max"):
            value = params.get(name, "").strip()
            try:
                bounds[name] = int(value) if value else None
            except ValueError:
                return 400, msgspec.json.encode({name: [_WHOLE_NUMBER]})
        track = self.state.track(device_id)
        indices = select_page(
            track.times, self.paging, bounds["timestamp"], bounds["timestamp_max"], device_id
        )
        records = track.records
        return 200, b"[" + b",".join([records[i] for i in indices]) + b"]"
