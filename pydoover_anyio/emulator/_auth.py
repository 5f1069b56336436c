"""Bearer tokens and the two OAuth token flows of the emulated Doover (spec §2.5, §2.6).

Access tokens are HS256 JWTs signed with the emulator's own secret (PyJWT). Claims:
``sub`` (the agent id, as a string), ``iat`` and ``exp`` (Unix seconds), ``iat_ms`` (the
issue instant in milliseconds, strictly increasing across tokens) and ``jti`` (unique).

Rules this module enforces:

* A request is authenticated by ``Authorization: Bearer <jwt>``: a missing header, a
  bad signature, a malformed token, an expired one (``now >= exp``), one issued before
  its agent's revocation floor (device-token confirm, spec §3.13) or one revoked by a
  test is a 401.
* A verified signature is cached per token string, so the hot path does not re-run the
  HMAC; expiry, floor and revocation are checked on every request.
* The client-credentials grant takes HTTP Basic credentials (or ``client_id`` /
  ``client_secret`` form fields) and a form body; the refresh-token grant takes its
  parameters from the query string (as pydoover sends them) or the form body. Both are
  served on either token path and answer ``{"access_token", "token_type",
  "expires_in"}`` (plus ``refresh_token`` when refresh tokens rotate).
* Token endpoint errors follow OAuth 2 (``error``) and also carry ``message``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

import jwt

from ._http import ApiError, Request, Response, json_response
from ._ids import now_ms

__all__ = ["TokenAuthority"]

_CACHE_LIMIT = 4096
_BEARER = "bearer "


def _oauth_error(status: int, error: str, description: str) -> Response:
    body = {"error": error, "error_description": description, "message": description}
    return json_response(body, status)


class TokenAuthority:
    """Issues and checks the emulator's tokens and serves the token endpoint.

    Args:
        secret: The HS256 signing key.
        default_subject: The agent the token flows issue tokens for.
        client_id: The client-credentials id.
        client_secret: The client-credentials secret.
        refresh_token: The refresh token the refresh flow accepts.
        auth_server_client_id: The ``client_id`` the refresh flow requires.
        token_lifetime: Seconds until tokens from the token endpoint expire.
        rotate_refresh_tokens: Whether each refresh returns a new refresh token and
            retires the old one.
    """

    def __init__(
        self,
        *,
        secret: bytes,
        default_subject: int,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        auth_server_client_id: str,
        token_lifetime: int = 3600,
        rotate_refresh_tokens: bool = False,
    ) -> None:
        self._secret = secret
        self._lock = threading.Lock()
        self.default_subject = default_subject
        self.client_id = client_id
        self.client_secret = client_secret
        self.auth_server_client_id = auth_server_client_id
        self.token_lifetime = token_lifetime
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self._refresh_token = refresh_token
        self._verified: dict[str, dict[str, Any]] = {}
        self._floors: dict[int, int] = {}
        self._revoked: set[str] = set()
        self._last_ms = 0
        self._serial = 0

    @property
    def refresh_token(self) -> str:
        """The refresh token currently accepted."""
        return self._refresh_token

    # -- issuing -------------------------------------------------------------------------

    def issue(self, subject: int | None = None, expires_in: float = 3600) -> str:
        """Sign a new access token.

        Args:
            subject: The agent it authenticates (default: the default agent).
            expires_in: Seconds until it expires (0 or negative: already expired).

        Returns:
            The JWT.
        """
        with self._lock:
            issued_ms = max(now_ms(), self._last_ms + 1)
            self._last_ms = issued_ms
            self._serial += 1
            serial = self._serial
        claims = {
            "sub": str(self.default_subject if subject is None else subject),
            "iat": issued_ms // 1000,
            "exp": int(issued_ms / 1000 + expires_in),
            "iat_ms": issued_ms,
            "jti": f"{serial:x}",
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def revoke(self, token: str) -> None:
        """Reject a token from now on (401), as if the server had revoked it."""
        with self._lock:
            self._revoked.add(token)

    def set_floor(self, agent_id: int, floor_ms: int) -> int:
        """Reject the agent's tokens issued before ``floor_ms`` (never lowers the floor).

        Returns:
            The floor now in force.
        """
        with self._lock:
            floor = max(self._floors.get(agent_id, 0), floor_ms)
            self._floors[agent_id] = floor
            return floor

    # -- checking ------------------------------------------------------------------------

    def authenticate(self, headers: Mapping[str, str]) -> dict[str, Any]:
        """Check a request's bearer token.

        Returns:
            The token's claims.

        Raises:
            ApiError: 401 for a missing, invalid, expired or revoked token.
        """
        header = headers.get("authorization", "")
        if header[: len(_BEARER)].lower() != _BEARER:
            raise ApiError(401, "authentication credentials were not provided")
        return self.verify(header[len(_BEARER) :].strip())

    def verify(self, token: str) -> dict[str, Any]:
        """Check one token (see :meth:`authenticate`)."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode(token)
        if time.time() >= claims["exp"]:
            raise ApiError(401, "token has expired")
        if claims["iat_ms"] < self._floors.get(claims["agent"], 0) or token in self._revoked:
            raise ApiError(401, "token has been revoked")
        return claims

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                options={"verify_exp": False, "require": ["sub", "exp", "iat_ms"]},
            )
            claims["agent"] = int(claims["sub"])
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise ApiError(401, "invalid token") from None
        with self._lock:
            if len(self._verified) >= _CACHE_LIMIT:
                self._verified.clear()
            self._verified[token] = claims
        return claims

    # -- the token endpoint --------------------------------------------------------------

    def client_credentials_endpoint(self, request: Request) -> Response:
        """Serve the data API's token endpoint, as spec §2.5 has it: Basic credentials,
        a form body with ``grant_type=client_credentials``; nothing else is taken."""
        form = _form(request)
        grant = form.get("grant_type", [None])[0]
        if grant != "client_credentials":
            return _wrong_grant(grant, "client_credentials in a form body")
        basic = _basic_credentials(request.headers.get("authorization", ""))
        if basic is None:
            return _oauth_error(401, "invalid_client", "Basic client credentials are required")
        client_ok = hmac.compare_digest(basic[0].encode(), self.client_id.encode())
        secret_ok = hmac.compare_digest(basic[1].encode(), self.client_secret.encode())
        if not (client_ok and secret_ok):
            return _oauth_error(401, "invalid_client", "invalid client credentials")
        return self._grant()

    def refresh_endpoint(self, request: Request) -> Response:
        """Serve the auth server's token endpoint, as spec §2.6 has it: the refresh grant
        in query-string parameters, no body."""
        if request.body:
            return _oauth_error(400, "invalid_request", "parameters go in the query string")
        grant = request.first("grant_type")
        if grant != "refresh_token":
            return _wrong_grant(grant, "refresh_token in the query string")
        refresh_token = request.first("refresh_token")
        client_id = request.first("client_id")
        if not refresh_token or not client_id:
            return _oauth_error(400, "invalid_request", "refresh_token and client_id are required")
        if not hmac.compare_digest(client_id.encode(), self.auth_server_client_id.encode()):
            return _oauth_error(401, "invalid_client", "unknown client_id")
        with self._lock:
            current = self._refresh_token
            if not hmac.compare_digest(refresh_token.encode(), current.encode()):
                return _oauth_error(400, "invalid_grant", "invalid refresh token")
            rotated = None
            if self.rotate_refresh_tokens:
                rotated = self._refresh_token = "rt_" + secrets.token_urlsafe(24)
        return self._grant(rotated)

    def _grant(self, refresh_token: str | None = None) -> Response:
        body: dict[str, Any] = {
            "access_token": self.issue(expires_in=self.token_lifetime),
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
        }
        if refresh_token is not None:
            body["refresh_token"] = refresh_token
        return json_response(body)


def _form(request: Request) -> dict[str, list[str]]:
    if request.content_type != "application/x-www-form-urlencoded" or not request.body:
        return {}
    return parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)


def _wrong_grant(grant: str | None, expected: str) -> Response:
    if grant is None:
        return _oauth_error(400, "invalid_request", f"grant_type is required: {expected}")
    return _oauth_error(400, "unsupported_grant_type", f"this endpoint takes {expected}")


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        text = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = text.partition(":")
    return (user, password) if colon else None
