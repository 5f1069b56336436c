"""Plain helpers shared by the Doover client tests (no fixtures: see
``doover_client_fixtures``)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl

import anyio
from pydoover.models.data.exceptions import HTTPError as RefHTTPError

from pydoover_anyio.client import AsyncDataClient
from pydoover_anyio.emulator import DooverEmulator, LoggedRequest

T = TypeVar("T")

#: The channel the ``channel`` fixture creates.
CHANNEL = "pump_log"


def client_options(**overrides: Any) -> dict[str, Any]:
    """Constructor options for fast tests: tiny backoff, otherwise the defaults."""
    return {"retry_delay": 0.001, **overrides}


def api_requests(emu: DooverEmulator) -> list[LoggedRequest]:
    """Logged data API requests (token endpoint hits left out)."""
    return [r for r in emu.requests.entries() if not r.path.endswith("/oauth2/token")]


def multipart_parts(request: LoggedRequest) -> list[EmailMessage]:
    """The parts of a logged multipart request, in order."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    parsed = cast(EmailMessage, message_from_bytes(head + request.body, policy=policy.HTTP))
    return list(cast(Any, parsed.iter_parts()))


def wire(request: LoggedRequest) -> tuple[str, str, list[tuple[str, str]], Any]:
    """What two requests must share to count as the same: method, path, query, JSON body."""
    body = request.json() if request.body else None
    return request.method, request.path, parse_qsl(request.query, keep_blank_values=True), body


async def logged(emu: DooverEmulator, count: int) -> list[LoggedRequest]:
    """The request log once it holds ``count`` entries.

    The emulator logs a request as it sends the last part of the response; for an empty
    body the client may already be done by then, so wait (briefly) for the entry.
    """
    with anyio.fail_after(5):
        while True:
            entries = emu.requests.entries()
            if len(entries) >= count:
                return entries
            await anyio.sleep(0.001)


async def same_request(
    emu: DooverEmulator,
    ours: Callable[[], Awaitable[T]],
    theirs: Callable[[], object],
    *,
    theirs_may_fail: bool = False,
) -> tuple[T, LoggedRequest]:
    """Run our call, then pydoover's (in a thread); assert both sent the same request.

    Returns our result and our request. With ``theirs_may_fail`` pydoover's call may raise
    its ``HTTPError`` (e.g. deleting twice): only its request matters.
    """
    emu.requests.clear()
    result = await ours()
    (mine,) = await logged(emu, 1)
    emu.requests.clear()
    with contextlib.suppress(RefHTTPError) if theirs_may_fail else contextlib.nullcontext():
        await anyio.to_thread.run_sync(theirs)
    (theirs_sent,) = await logged(emu, 1)
    assert wire(mine) == wire(theirs_sent)
    return result, mine


async def same_call(
    emu: DooverEmulator,
    client: AsyncDataClient,
    reference: Any,
    call: Callable[[AsyncDataClient], Awaitable[T]],
    *,
    theirs_may_fail: bool = False,
) -> tuple[T, LoggedRequest]:
    """:func:`same_request` for a call written once: ``call`` gets our ``client``, then
    pydoover's ``reference`` (same method names and arguments)."""
    return await same_request(
        emu,
        lambda: call(client),
        lambda: call(cast(AsyncDataClient, reference)),
        theirs_may_fail=theirs_may_fail,
    )


def running_emulator(channel: str, **options: Any) -> Iterator[DooverEmulator]:
    """A started emulator (built with ``options``) whose default agent has ``channel``.

    A fixture body: ``yield from running_emulator(CHANNEL)``.
    """
    with DooverEmulator(**options) as emulator:
        emulator.state.create_channel(emulator.default_agent_id, channel)
        yield emulator
