"""Test doubles for the auth tests: JWTs, a settable clock, a scripted token endpoint."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import jwt

_SIGNING_KEY = "test-signing-key-that-is-32-bytes!"

#: A fixed "now" for tests: 2026-01-01T00:00:00Z.
NOW = 1_767_225_600.0


def make_jwt(exp: float | str | None = None, **claims: Any) -> str:
    """A signed JWT (the auth code never checks the signature) with an optional ``exp``."""
    if exp is not None:
        claims["exp"] = exp
    return jwt.encode(claims, _SIGNING_KEY, algorithm="HS256")


@dataclass
class FakeClock:
    """A clock the test moves by hand."""

    now: float = NOW

    def __call__(self) -> float:
        return self.now


Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


@dataclass
class TokenServer:
    """A token endpoint behind ``httpx.MockTransport`` that records what it receives.

    ``replies`` are served in order (the last one repeats): a response, an exception to
    raise, or a callable building a response. While ``gate`` is set, each request waits
    for it before answering.
    """

    replies: list[Reply] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    gate: anyio.Event | None = None

    def reply_json(self, status: int = 200, **body: Any) -> TokenServer:
        """Queue a JSON reply; returns self for chaining."""
        self.replies.append(httpx.Response(status, json=body))
        return self

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.gate is not None:
            await self.gate.wait()
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, httpx.Response):
            return httpx.Response(reply.status_code, headers=reply.headers, content=reply.content)
        return reply(request)

    def client(self) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` whose every request reaches this server."""
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))


def assert_no_secret(text: str, *secrets: str | None) -> None:
    """``text`` contains none of ``secrets``."""
    for secret in secrets:
        if secret:
            assert secret not in text, f"secret leaked into {text!r}"
