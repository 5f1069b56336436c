"""Loader for the captured Invoxia API exchanges and an httpx transport that replays them.

The fixtures are the JSON files described in ``tests/fixtures/invoxia/README.md``: one
HTTP exchange each (``url``, ``status``, ``content`` as a JSON string, or ``exception`` for
a network failure). They are read from ``$INVOXIA_FIXTURES_DIR`` when set, else from
``tests/fixtures/invoxia`` (a byte-for-byte copy of the shared capture set).

Names are the file names without ``.json`` (``"200_users"``); ``load`` accepts both.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import httpx

FIXTURES_DIR = Path(
    os.environ.get(
        "INVOXIA_FIXTURES_DIR",
        Path(__file__).resolve().parent / "fixtures" / "invoxia",
    )
)


@dataclass(frozen=True)
class Fixture:
    """One recorded exchange.

    Attributes:
        name: File name without ``.json``.
        url: Full request URL (trailing slash and query included).
        status: HTTP status, or ``None`` for the network-failure fixtures.
        content: Response body bytes, or ``None`` when the response had no body.
        exception: Dotted name of the transport error the original mock raised, or ``None``.
    """

    name: str
    url: str
    status: int | None
    content: bytes | None
    exception: str | None

    @property
    def target(self) -> str:
        """Path plus query of ``url`` (what the mock transport matches on)."""
        parts = urlsplit(self.url)
        return f"{parts.path}?{parts.query}" if parts.query else parts.path

    @property
    def content_type(self) -> str | None:
        """Content type to replay: HTML for the 404 page, JSON otherwise, none without body."""
        if self.content is None:
            return None
        return "text/html" if self.name == "404_test" else "application/json"


def all_names() -> list[str]:
    """Return the names of every fixture, sorted.

    Raises:
        FileNotFoundError: The fixture folder does not exist.
    """
    if not FIXTURES_DIR.is_dir():
        raise FileNotFoundError(
            f"Invoxia fixtures not found in {FIXTURES_DIR}; set INVOXIA_FIXTURES_DIR."
        )
    return sorted(path.stem for path in FIXTURES_DIR.glob("*.json"))


@cache
def load(name: str) -> Fixture:
    """Read one fixture.

    Args:
        name: The fixture name, with or without ``.json``.

    Returns:
        The recorded exchange.
    """
    stem = name.removesuffix(".json")
    raw = json.loads((FIXTURES_DIR / f"{stem}.json").read_text(encoding="utf-8"))
    content = raw.get("content")
    return Fixture(
        name=stem,
        url=raw["url"],
        status=raw.get("status"),
        content=None if content is None else content.encode("utf-8"),
        exception=raw.get("exception"),
    )


def _respond(fixture: Fixture, request: httpx.Request) -> httpx.Response:
    if fixture.exception is not None:
        raise httpx.ConnectError(f"replayed {fixture.exception}", request=request)
    assert fixture.status is not None
    headers = {} if fixture.content_type is None else {"Content-Type": fixture.content_type}
    return httpx.Response(fixture.status, headers=headers, content=fixture.content or b"")


def mock_transport(
    names: Iterable[str], *, seen: list[httpx.Request] | None = None
) -> httpx.MockTransport:
    """Build a transport that answers each fixture's request, whatever the host.

    A request is matched on path plus query. A fixture whose URL has no query also answers
    that path with any query (as the original test mocks did, e.g. for paged
    ``tracker_data`` requests). The ``*_except-*`` fixtures raise ``httpx.ConnectError``.
    Any other request fails the test with an ``AssertionError``.

    Args:
        names: Fixture names to serve; two fixtures for the same URL are rejected.
        seen: If given, every request received is appended to it.

    Returns:
        The transport, usable by ``httpx.Client`` and ``httpx.AsyncClient``.

    Raises:
        ValueError: Two fixtures answer the same path and query.
    """
    routes: dict[str, Fixture] = {}
    for name in names:
        fixture = load(name)
        if fixture.target in routes:
            other = routes[fixture.target].name
            raise ValueError(f"{fixture.name} and {other} both answer {fixture.target}")
        routes[fixture.target] = fixture

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        assert request.method == "GET", f"unexpected {request.method} {request.url}"
        path = request.url.path
        query = request.url.query.decode("ascii")
        fixture = routes.get(f"{path}?{query}" if query else path) or routes.get(path)
        assert fixture is not None, f"no fixture for {request.url}; have {sorted(routes)}"
        return _respond(fixture, request)

    return httpx.MockTransport(handler)
