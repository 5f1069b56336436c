"""Attachment downloads (spec §3.2, §3.5, §8 #17): streamed, retried, resumed, timed out.

Every download is one :class:`AttachmentDownload`. ``fetch_*_attachment`` reads it whole
(pydoover's ``bytes``), ``download_*_attachment`` writes it to a path or a file, and
``stream_*_attachment`` hands it to the caller to iterate. Rules this module enforces:

* Memory: the body passes through in chunks of at most ``chunk_size`` bytes; nothing
  holds the whole body unless the caller asks for it (``read()``, ``fetch_*``).
* Retries follow the client's policy for a request that is safe to repeat (a GET):
  failed connects, timeouts and 408/429/5xx before the body (``Retry-After`` honoured),
  and a connection lost or stalled in the middle of the body. ``max_retries`` counts
  re-sends wherever they happen.
* A download interrupted mid-body continues where it stopped, and the caller never sees
  a byte twice: with ``Range: bytes=N-`` when the first response offered byte ranges
  (``Accept-Ranges: bytes``) and was not content-encoded, checked against the 206's
  ``Content-Range``; otherwise the body is fetched again and its first N bytes skipped.
  A 416 whose ``Content-Range`` is ``bytes */N`` means every byte had arrived (only the
  end of the earlier body was lost): the download is complete.
* Two versions are never spliced: a continuation whose ``ETag`` or size differs from the
  first response's, or a 206 at the wrong offset, restarts the download from byte 0
  where nothing has left yet (``read()``, a path destination, which is truncated) and
  otherwise fails it with :class:`DooverConnectionError`.
* Timeouts: each attempt's response head must arrive within the client's ``timeout``,
  and no read of the body may wait longer than ``timeout``. There is no deadline for
  the whole body (its size is unbounded): wrap the call in ``anyio.fail_after`` for one.
* A token about to expire is refreshed before each attempt, and a 401 refreshes it once
  per (re)connect and re-sends, as for every request. The token goes only
  to the API's origin; httpx drops it when the server redirects to storage elsewhere.
* A body shorter than its announced size is a :class:`DooverConnectionError`.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Final, Protocol

import anyio
import httpx

from ..errors import DooverAPIError, DooverConnectionError, ResponseDecodeError
from ..runtime import Request, describe

if TYPE_CHECKING:
    from ._base import ClientCore

__all__ = ["DEFAULT_CHUNK_SIZE", "AttachmentDownload", "Destination", "Writable"]

logger = logging.getLogger("pydoover_anyio.client")

#: Bytes per chunk handed to the caller (the last one may be shorter).
DEFAULT_CHUNK_SIZE: Final = 64 * 1024

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
#: A 416's ``Content-Range``: the complete length of the representation.
_UNSATISFIED_RANGE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)


class Writable(Protocol):
    """A binary file-like destination: ``write(bytes)``, plain or a coroutine function."""

    def write(self, data: bytes, /) -> object: ...


#: Where ``download_*_attachment`` writes: a path, or a binary file opened for writing.
Destination = str | os.PathLike[str] | Writable


def _encoded(headers: httpx.Headers) -> bool:
    return headers.get("content-encoding", "identity").strip().lower() not in ("", "identity")


def _length(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


class AttachmentDownload:
    """One attachment being downloaded: an async iterator of its bytes, in chunks.

    Get one from ``stream_message_attachment`` or ``stream_channel_aggregate_attachment``
    (an async context manager: entering sends the request and raises its error, leaving
    closes the connection)::

        async with client.stream_message_attachment(attachment) as download:
            async for chunk in download:
                ...

    It can be consumed once: iterate it, or call :meth:`read` or :meth:`write_to`.

    Attributes:
        url: The download URL.
        size: The total bytes the server announced, or ``None`` (not announced, or the
            body is content-encoded and its decoded size is unknown).
        content_type: The response's ``Content-Type``, or ``None``.
        received: Bytes delivered so far.
    """

    def __init__(
        self,
        core: ClientCore,
        url_or_path: str,
        *,
        organisation_id: int | None = None,
        chunk_size: int | None = DEFAULT_CHUNK_SIZE,
    ) -> None:
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be 1 or more (or None), got {chunk_size!r}")
        _check_fetchable(url_or_path)
        self._core = core
        self._path = url_or_path
        self._organisation_id = organisation_id
        self._chunk_size = chunk_size
        self.url: str = core._transport.url(url_or_path)
        self.size: int | None = None
        self.content_type: str | None = None
        self.received = 0
        self._where = describe("GET", self.url)
        self._send_token = core._sends_token(url_or_path)
        self._attempts = 0  # sends so far, a re-send after a token refresh not counted
        self._entered = False
        self._opened = False  # a first response was taken (its size, ETag, ranges)
        self._ranges = False
        self._etag: str | None = None
        self._skip = 0
        self._on_restart: Callable[[], Awaitable[None]] | None = None
        self._response: httpx.Response | None = None
        self._status = 0
        self._chunks: AsyncIterator[bytes] | None = None

    def __repr__(self) -> str:
        return f"<AttachmentDownload {self._where} received={self.received} size={self.size}>"

    # -- the async context manager ----------------------------------------------------

    async def __aenter__(self) -> AttachmentDownload:
        if self._entered:
            raise RuntimeError("an AttachmentDownload can be entered once")
        self._entered = True
        await self._connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._release()

    # -- consuming ------------------------------------------------------------------------

    def __aiter__(self) -> AttachmentDownload:
        return self

    async def __anext__(self) -> bytes:
        if not self._entered:
            raise RuntimeError("enter the download first: async with client.stream_...(...)")
        while True:
            chunks = self._chunks
            if chunks is None:
                raise StopAsyncIteration
            failure: httpx.TransportError
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                await self._finish()
                raise
            except httpx.TransportError as exc:
                failure = exc
            except httpx.DecodingError as exc:
                await self._release()
                raise ResponseDecodeError("GET", self.url, self._status, str(exc)) from exc
            else:
                if self._skip:  # a resumed body sent from its start: drop what we gave
                    if len(chunk) <= self._skip:
                        self._skip -= len(chunk)
                        continue
                    chunk, self._skip = chunk[self._skip :], 0
                self.received += len(chunk)
                return chunk
            await self._release()
            if self.size is not None and self.received >= self.size:
                raise StopAsyncIteration  # every byte arrived; only the ending failed
            await self._wait_before_retry(failure)
            await self._connect()

    async def read(self) -> bytes:
        """The rest of the body, in one ``bytes`` (it is all held in memory)."""
        parts: list[bytes] = []

        async def restart() -> None:
            parts.clear()

        self._on_restart = restart if not self.received else None
        try:
            async for chunk in self:
                parts.append(chunk)
        finally:
            self._on_restart = None
        return b"".join(parts)

    async def write_to(self, destination: Destination) -> int:
        """Write the rest of the body to ``destination``, chunk by chunk.

        Args:
            destination: A path (created or truncated; removed again if the download
                fails), or a binary file-like object whose ``write`` is called with each
                chunk: awaited if it is a coroutine function (e.g. an ``anyio`` file),
                else run in a worker thread so the event loop never blocks on disk.

        Returns:
            The number of bytes written.
        """
        written = 0
        if isinstance(destination, str | os.PathLike):
            path = anyio.Path(os.fspath(destination))
            try:
                async with await anyio.open_file(path, "wb") as file:

                    async def restart() -> None:
                        nonlocal written
                        await file.seek(0)
                        await file.truncate()
                        written = 0

                    self._on_restart = restart if not self.received else None
                    async for chunk in self:
                        await file.write(chunk)
                        written += len(chunk)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await path.unlink(missing_ok=True)
                raise
            finally:
                self._on_restart = None
            return written
        write = destination.write
        is_async = inspect.iscoroutinefunction(write)
        async for chunk in self:
            result = write(chunk) if is_async else await anyio.to_thread.run_sync(write, chunk)
            if inspect.isawaitable(result):  # also an async write not spotted as one
                await result
            written += len(chunk)
        return written

    # -- attempts -------------------------------------------------------------------------

    async def _connect(self) -> None:
        """Open a response that continues at byte :attr:`received`, retrying per policy.

        Raises:
            HTTPError: a final error status.
            DooverConnectionError: the last attempt failed in transport, or the server
                resumed at the wrong place, or the attachment changed.
        """
        core = self._core
        policy = core._transport.retry
        refreshed = False  # each (re)connect may refresh once: a long download may outlive
        while True:  # several tokens
            if self._send_token:
                await core._ensure_token()
            headers: tuple[tuple[str, str], ...] = ()
            if self.received and self._ranges:
                headers = (("Range", f"bytes={self.received}-"),)
            rejected = core.auth.token if self._send_token else None
            request = core._signed(
                Request("GET", self._path, headers=headers), self._organisation_id, self._send_token
            )
            self._attempts += 1
            try:
                response = await core._transport.open(request)
            except httpx.TransportError as exc:
                await self._wait_before_retry(exc)
                continue
            except httpx.TooManyRedirects as exc:
                raise core._transport.map_error(exc, self._where) from exc
            if response.status_code == 416 and self._all_given(response):
                await response.aclose()  # the earlier body had ended: only its end was lost
                return
            if 200 <= response.status_code < 300:
                try:
                    usable = await self._adopt(response)
                except BaseException:
                    await response.aclose()
                    raise
                if usable:
                    return
                await response.aclose()
                continue
            try:
                await response.aread()  # an error body, for the error message
            except httpx.TransportError as exc:
                await response.aclose()
                await self._wait_before_retry(exc)
                continue
            await response.aclose()
            if (
                response.status_code == 401
                and self._send_token
                and not refreshed
                and await core._refresh_after_unauthorized(rejected)
            ):
                refreshed = True
                self._attempts -= 1  # the re-send with a fresh token is not a retry
                continue
            if not policy.should_retry_response(self._attempts, response, idempotent=True):
                core._transport.check(response)  # raises the error for its status
                raise DooverConnectionError(  # pragma: no cover - 1xx/3xx never get here
                    f"{self._where} failed: unexpected HTTP {response.status_code}",
                    method="GET",
                    url=self.url,
                )
            delay = policy.delay(self._attempts, response)
            logger.info(
                "retrying %s after status %d in %.2f s (attempt %d)",
                self._where,
                response.status_code,
                delay,
                self._attempts + 1,
            )
            await anyio.sleep(delay)

    async def _adopt(self, response: httpx.Response) -> bool:
        """Take a 2xx ``response`` as the source of the bytes from :attr:`received` on.

        Returns:
            ``False`` when the download restarted and needs a new request from byte 0.

        Raises:
            DooverConnectionError: it cannot continue what was given and the download
                cannot restart.
        """
        if not self.received:
            self._opened = False  # nothing was given yet: this response is the first
        mismatch = self._mismatch(response)
        if mismatch is not None:
            if self._on_restart is None:
                raise DooverConnectionError(
                    f"{self._where} failed: {mismatch}", method="GET", url=self.url
                )
            logger.info("restarting %s from byte 0: %s", self._where, mismatch)
            await self._on_restart()
            self.received = 0
            self._opened = False
            if response.status_code == 206:  # only a part of the new version
                return False
        self._start(response)
        return True

    def _mismatch(self, response: httpx.Response) -> str | None:
        """Why ``response`` cannot continue the bytes given so far, or ``None`` if it can."""
        if not self._opened:
            return None
        headers = response.headers
        if self._etag_changed(headers):
            return "the attachment changed during the download (another ETag)"
        if response.status_code == 206:
            matched = _CONTENT_RANGE.match(headers.get("content-range", ""))
            if matched is None or int(matched.group(1)) != self.received:
                return (
                    f"asked to resume at byte {self.received}, the server sent "
                    f"Content-Range {headers.get('content-range')!r}"
                )
            total = _length(matched.group(3))
        else:
            total = None if _encoded(headers) else _length(headers.get("content-length"))
        if self.size is not None and total is not None and total != self.size:
            return f"the attachment changed during the download ({total} bytes, not {self.size})"
        return None

    def _etag_changed(self, headers: httpx.Headers) -> bool:
        """Whether ``headers`` name another version than the first response's ETag."""
        etag = headers.get("etag")
        return self._etag is not None and etag is not None and etag != self._etag

    def _all_given(self, response: httpx.Response) -> bool:
        """Whether a 416 to ``Range: bytes=N-`` says the attachment is the N bytes given."""
        if not (self.received and self._ranges):
            return False
        if self._etag_changed(response.headers):
            return False
        matched = _UNSATISFIED_RANGE.match(response.headers.get("content-range", ""))
        return matched is not None and int(matched.group(1)) == self.received

    def _start(self, response: httpx.Response) -> None:
        """Take ``response`` (checked by :meth:`_mismatch`) as the source of the bytes
        from :attr:`received` on."""
        headers = response.headers
        if not self._opened:
            encoded = _encoded(headers)
            self._opened = True
            self._etag = headers.get("etag")
            self._ranges = not encoded and headers.get("accept-ranges", "").lower() == "bytes"
            self.content_type = headers.get("content-type")
            self.size = None if encoded else _length(headers.get("content-length"))
            self._skip = 0
        elif response.status_code == 206:
            self._skip = 0
        else:  # the whole body again: skip what the caller already has
            self._skip = self.received
        self._response = response
        self._status = response.status_code
        self._chunks = response.aiter_bytes(self._chunk_size)

    async def _wait_before_retry(self, failure: httpx.TransportError) -> None:
        """Sleep before the next attempt, or raise the error for ``failure``."""
        policy = self._core._transport.retry
        if not policy.should_retry_error(self._attempts, failure, idempotent=True):
            raise self._core._transport.map_error(failure, self._where) from failure
        delay = policy.delay(self._attempts)
        logger.info(
            "retrying %s after %s at byte %d in %.2f s (attempt %d)",
            self._where,
            type(failure).__name__,
            self.received,
            delay,
            self._attempts + 1,
        )
        await anyio.sleep(delay)

    async def _finish(self) -> None:
        await self._release()
        if self._skip:  # the body sent again ended before the bytes already given
            raise DooverConnectionError(
                f"{self._where} failed: the attachment changed during the download (sent "
                f"again, it ended {self._skip} bytes before the {self.received} already given)",
                method="GET",
                url=self.url,
            )
        if self.size is not None and self.received != self.size:
            raise DooverConnectionError(
                f"{self._where} failed: got {self.received} of {self.size} bytes",
                method="GET",
                url=self.url,
            )

    async def _release(self) -> None:
        """Close the current response (and its connection, if the body is unfinished)."""
        chunks, self._chunks = self._chunks, None
        response, self._response = self._response, None
        with anyio.CancelScope(shield=True):
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()
            if response is not None:
                await response.aclose()


def _check_fetchable(url_or_path: str) -> None:
    """Refuse an attachment URL no request can be made to (bad server data).

    Raises:
        DooverAPIError: ``url_or_path`` is not a URL, or not an http(s) one (the URL is
            left out of the message: a presigned one holds a credential).
    """
    try:
        scheme = httpx.URL(url_or_path).scheme
    except httpx.InvalidURL as exc:
        raise DooverAPIError(f"the attachment's URL is not a valid URL: {exc}") from None
    if scheme not in ("", "http", "https"):
        raise DooverAPIError(f"the attachment's URL is not an http(s) URL (scheme {scheme!r})")
