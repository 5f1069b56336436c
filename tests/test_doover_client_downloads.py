"""Attachment downloads (spec §3.2, §3.5, §8 #17) on asyncio, trio and from plain threads.

* The same bytes from ``fetch_*`` (buffered), ``stream_*`` (chunks) and ``download_*``
  (a path, a binary file, an async file), for message and aggregate attachments.
* Bounded memory: streaming or writing a several-MB attachment never holds it whole
  (measured with tracemalloc against an emulator in another process, so the server's
  own buffers are not counted; ``fetch_*`` is the control that does hold it).
* Retries: 5xx, 429 and HTML error pages before the body; a connection lost or stalled
  mid-body resumes with ``Range`` (or re-fetches and skips, when the server offers no
  ranges); the retry budget is ``max_retries`` re-sends; the client's ``timeout`` bounds
  the response head and every body read.
* Two versions are never spliced: a changed ETag or a wrong ``Content-Range`` fails a
  stream and restarts a buffered read.
* The emulator serves byte ranges like object storage does.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import subprocess
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from doover_client_support import api_requests, client_options

from pydoover_anyio import (
    AsyncDataClient,
    Attachment,
    AttachmentDownload,
    DataClient,
    DooverAPIError,
    DooverConnectionError,
    DooverTimeoutError,
    HTTPError,
    NotFoundError,
)
from pydoover_anyio.client import DEFAULT_CHUNK_SIZE
from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.emulator._http import Upload

pytest_plugins = ["pydoover_anyio.emulator.pytest_plugin", "doover_client_fixtures"]

SIZE = 6 * 1024 * 1024 + 321  # several MB, not a multiple of the chunk size
BODY = random.Random(17).randbytes(SIZE)
DIGEST = hashlib.sha256(BODY).hexdigest()
FILES = "files"
#: Peak traced memory allowed while streaming SIZE bytes: a third of the body. (Measured:
#: ~0.9 MB, mostly the event loop's 256 KiB socket reads and their slices.)
STREAM_PEAK = SIZE // 3


@dataclass(frozen=True)
class Stored:
    """One message attachment and one aggregate attachment holding BODY."""

    agent: int
    attachment: Attachment
    message_path: str
    aggregate_id: int
    aggregate_path: str


def store(emu: DooverEmulator) -> Stored:
    """Attach BODY to a new message and to the aggregate of channel ``files``."""
    state = emu.state
    agent = emu.default_agent_id
    channel = state.create_channel(agent, FILES)
    upload = Upload("big.bin", "application/octet-stream", BODY)
    record, _ = state.create_message(channel, agent, {"kind": "log"}, uploads=[upload])
    aggregate = state.update_aggregate(channel, {"kind": "state"}, uploads=[upload])
    attachment = Attachment.from_dict(record.attachments[0])
    aggregate_url = str(aggregate.attachments[0]["url"])
    return Stored(
        agent,
        attachment,
        "/api" + attachment.url.split("/api", 1)[1],
        int(aggregate_url.rsplit("/", 1)[1]),
        "/api" + aggregate_url.split("/api", 1)[1],
    )


@pytest.fixture
def stored(emu: DooverEmulator) -> Stored:
    return store(emu)


@pytest.fixture
def own_emu() -> Iterator[DooverEmulator]:
    """An emulator of the test's own, for stalls: stalled requests finish after the test,
    and this one does not wait for them when it stops (nor log them into another test)."""
    with DooverEmulator(shutdown_timeout=0.05) as emulator:
        yield emulator


@pytest.fixture
def own_stored(own_emu: DooverEmulator) -> Stored:
    return store(own_emu)


def fetcher(client: Any, stored: Stored, kind: str) -> Callable[..., Any]:
    if kind == "message":
        return lambda: client.fetch_message_attachment(stored.attachment)
    return lambda: client.fetch_channel_aggregate_attachment(
        stored.agent, FILES, stored.aggregate_id
    )


def streamer(client: Any, stored: Stored, kind: str) -> Callable[..., Any]:
    if kind == "message":
        return lambda **kw: client.stream_message_attachment(stored.attachment, **kw)
    return lambda **kw: client.stream_channel_aggregate_attachment(
        stored.agent, FILES, stored.aggregate_id, **kw
    )


def downloader(client: Any, stored: Stored, kind: str) -> Callable[..., Any]:
    if kind == "message":
        return lambda target, **kw: client.download_message_attachment(
            stored.attachment, target, **kw
        )
    return lambda target, **kw: client.download_channel_aggregate_attachment(
        stored.agent, FILES, stored.aggregate_id, target, **kw
    )


async def streamed(client: AsyncDataClient, stored: Stored, kind: str = "message") -> bytes:
    async with streamer(client, stored, kind)() as download:
        return b"".join([chunk async for chunk in download])


def paths(emu: DooverEmulator, stored: Stored) -> list[tuple[int | None, str | None]]:
    """(status, Range header) of each attachment request, in order."""
    return [
        (r.status, r.headers.get("range"))
        for r in api_requests(emu)
        if r.path in (stored.message_path, stored.aggregate_path)
    ]


# -- the same bytes every way -----------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["message", "aggregate"])
async def test_fetch_stream_and_download_give_the_same_bytes(
    client: AsyncDataClient, stored: Stored, kind: str, tmp_path: Path
) -> None:
    assert await fetcher(client, stored, kind)() == BODY

    async with streamer(client, stored, kind)() as download:
        assert isinstance(download, AttachmentDownload)
        assert (download.size, download.content_type) == (SIZE, "application/octet-stream")
        chunks = [chunk async for chunk in download]
        assert download.received == SIZE
    assert b"".join(chunks) == BODY
    assert {len(c) for c in chunks[:-1]} == {DEFAULT_CHUNK_SIZE}
    assert 0 < len(chunks[-1]) <= DEFAULT_CHUNK_SIZE

    async with streamer(client, stored, kind)(chunk_size=1000) as download:
        assert max([len(c) async for c in download]) == 1000

    download_to = downloader(client, stored, kind)
    assert await download_to(tmp_path / "a.bin") == SIZE
    assert (tmp_path / "a.bin").read_bytes() == BODY
    assert await download_to(str(tmp_path / "b.bin"), chunk_size=4096) == SIZE
    assert (tmp_path / "b.bin").read_bytes() == BODY
    buffer = io.BytesIO()
    assert await download_to(buffer) == SIZE
    assert buffer.getvalue() == BODY
    async with await anyio.open_file(tmp_path / "c.bin", "wb") as file:  # write is async
        assert await download_to(file) == SIZE
    assert (tmp_path / "c.bin").read_bytes() == BODY


@pytest.mark.anyio
async def test_a_download_is_consumed_once_and_only_inside_its_block(
    client: AsyncDataClient, stored: Stored
) -> None:
    download = client.stream_message_attachment(stored.attachment)
    with pytest.raises(RuntimeError, match="enter"):
        await download.__anext__()
    async with download:
        first = await download.__anext__()
        assert await download.read() == BODY[len(first) :]  # read() gives the rest
        assert await download.read() == b""
    with pytest.raises(RuntimeError, match="once"):
        await download.__aenter__()
    with pytest.raises(ValueError, match="chunk_size"):
        client.stream_message_attachment(stored.attachment, chunk_size=0)


@pytest.mark.anyio
async def test_errors_are_raised_on_entry_and_leave_no_file(
    client: AsyncDataClient, stored: Stored, tmp_path: Path
) -> None:
    missing = Attachment("x", None, 1, stored.attachment.url.rsplit("/", 1)[0] + "/1")
    with pytest.raises(NotFoundError):
        async with client.stream_message_attachment(missing):
            pass
    with pytest.raises(NotFoundError):
        await client.download_message_attachment(missing, tmp_path / "never.bin")
    assert not (tmp_path / "never.bin").exists()


# -- retries and resumption ---------------------------------------------------------------

#: Faults before the body, each answered by a retry.
HEAD_FAULTS: dict[str, Callable[[DooverEmulator, str], None]] = {
    "500": lambda e, p: e.faults.fail(1, 500, path=p),
    "503 twice": lambda e, p: e.faults.fail(2, 503, path=p),
    "429": lambda e, p: e.faults.rate_limit(1, retry_after=0, path=p),
    "html 502": lambda e, p: e.faults.html(1, 502, path=p),
    "dropped before the body": lambda e, p: e.faults.drop(1, path=p),
}


@pytest.mark.anyio
@pytest.mark.parametrize("fault", HEAD_FAULTS)
@pytest.mark.parametrize("kind", ["message", "aggregate"])
async def test_faults_before_the_body_are_retried(
    emu: DooverEmulator, client: AsyncDataClient, stored: Stored, fault: str, kind: str
) -> None:
    path = stored.message_path if kind == "message" else stored.aggregate_path
    HEAD_FAULTS[fault](emu, path)
    assert await fetcher(client, stored, kind)() == BODY
    HEAD_FAULTS[fault](emu, path)
    assert await streamed(client, stored, kind) == BODY
    assert emu.faults.pending == 0


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["fetch", "stream", "download"])
async def test_a_connection_lost_mid_body_resumes_with_a_range(
    emu: DooverEmulator, client: AsyncDataClient, stored: Stored, how: str, tmp_path: Path
) -> None:
    emu.faults.drop(1, path=stored.message_path, at_byte=2_500_000)
    if how == "fetch":
        assert await client.fetch_message_attachment(stored.attachment) == BODY
    elif how == "stream":
        assert await streamed(client, stored) == BODY
    else:
        target = tmp_path / "out.bin"
        assert await client.download_message_attachment(stored.attachment, target) == SIZE
        assert target.read_bytes() == BODY
    (first, _), (second, resumed_at) = paths(emu, stored)
    assert (first, second) == (200, 206)
    assert resumed_at is not None
    offset = int(resumed_at.removeprefix("bytes=").removesuffix("-"))
    assert 0 < offset <= 2_500_000  # what the caller had got; nothing is fetched twice


@pytest.mark.anyio
async def test_repeated_losses_each_resume_further(
    emu: DooverEmulator, client: AsyncDataClient, stored: Stored
) -> None:
    for cut in (1_000_000, 1_000_000, 1_000_000):  # each at 1 MB of its own response
        emu.faults.drop(1, path=stored.message_path, at_byte=cut)
    assert await streamed(client, stored) == BODY  # 3 retries: max_retries is 3
    offsets = [int(r.removeprefix("bytes=").rstrip("-")) for _, r in paths(emu, stored)[1:] if r]
    assert len(offsets) == 3
    assert offsets == sorted(offsets)
    assert offsets[-1] > 2_000_000


@pytest.mark.anyio
async def test_the_retry_budget_counts_every_re_send(
    emu: DooverEmulator, stored: Stored, tmp_path: Path
) -> None:
    async with AsyncDataClient(emu.url, token=emu.token, **client_options(max_retries=2)) as c:
        emu.faults.fail(10, 503, path=stored.message_path)
        with pytest.raises(HTTPError) as caught:
            await c.fetch_message_attachment(stored.attachment)
        assert caught.value.status == 503
        assert len(paths(emu, stored)) == 3
        emu.faults.clear()
        emu.requests.clear()

        emu.faults.fail(1, 503, path=stored.message_path)  # one retry before the body,
        emu.faults.drop(5, path=stored.message_path, at_byte=1_000_000)  # then one more
        target = tmp_path / "partial.bin"
        with pytest.raises(DooverConnectionError):
            await c.download_message_attachment(stored.attachment, target)
        assert [status for status, _ in paths(emu, stored)] == [503, 200, 206]
        assert not target.exists()  # a failed download leaves no partial file


@pytest.mark.anyio
async def test_a_401_refreshes_the_token_and_re_sends_once(
    emu: DooverEmulator, stored: Stored
) -> None:
    async with AsyncDataClient(
        emu.url, client_id=emu.client_id, client_secret=emu.client_secret, **client_options()
    ) as c:
        emu.faults.fail(1, 401, path=stored.message_path)
        assert await streamed(c, stored) == BODY
    assert emu.token_requests == 2
    assert [status for status, _ in paths(emu, stored)] == [401, 200]


@pytest.mark.anyio
async def test_the_refresh_after_a_401_outlasts_a_busy_token_endpoint(
    emu: DooverEmulator, stored: Stored
) -> None:
    async with AsyncDataClient(
        emu.url, client_id=emu.client_id, client_secret=emu.client_secret, **client_options()
    ) as c:
        await c.auth.ensure_token()
        emu.faults.fail(1, 401, path=stored.message_path)
        emu.faults.fail(2, 503, path="/api/oauth2/token")
        assert await streamed(c, stored) == BODY
    assert emu.token_requests == 4  # the first token, two failures, the refresh
    assert [status for status, _ in paths(emu, stored)] == [401, 200]


@pytest.mark.anyio
async def test_each_resume_may_refresh_an_expired_token(
    emu: DooverEmulator, stored: Stored
) -> None:
    # A long download can outlive several tokens: every reconnect gets its own refresh.
    # Drops for the first response, the 401 that follows (it ends before the byte), and
    # the first resume.
    for _ in range(3):
        emu.faults.drop(1, path=stored.message_path, at_byte=1_000_000)
    async with AsyncDataClient(
        emu.url, client_id=emu.client_id, client_secret=emu.client_secret, **client_options()
    ) as c:
        got = bytearray()
        async with streamer(c, stored, "message")() as download:
            async for chunk in download:
                # Just before each drop (a response's first 1,000,000 bytes, about 983,040
                # and 1,966,080 given): "the token expired meanwhile".
                if any(len(got) < mark <= len(got) + len(chunk) for mark in (900_000, 1_900_000)):
                    emu.revoke_token(c.token)
                got += chunk
        assert bytes(got) == BODY
    assert [status for status, _ in paths(emu, stored)] == [200, 401, 206, 401, 206]


# -- timeouts -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_stalled_body_times_out_and_resumes(
    own_emu: DooverEmulator, own_stored: Stored
) -> None:
    options = client_options(timeout=0.3)
    async with AsyncDataClient(own_emu.url, token=own_emu.token, **options) as client:
        own_emu.faults.stall(1, 3.0, path=own_stored.message_path, at_byte=1_000_000)
        started = time.monotonic()
        assert await streamed(client, own_stored) == BODY
        assert time.monotonic() - started < 2.5  # did not sit out the 3 s stall
    # The resumed request (the stalled one is logged once its stall ends, after the test).
    ((status, resumed_at),) = paths(own_emu, own_stored)
    assert status == 206
    assert resumed_at is not None
    assert resumed_at != "bytes=0-"


@pytest.mark.anyio
async def test_a_stalled_head_times_out_after_the_retries(
    own_emu: DooverEmulator, own_stored: Stored
) -> None:
    options = client_options(max_retries=1, timeout=0.2)
    async with AsyncDataClient(own_emu.url, token=own_emu.token, **options) as c:
        own_emu.faults.stall(5, 3.0, path=own_stored.message_path)
        started = time.monotonic()
        with pytest.raises(DooverTimeoutError):
            await c.fetch_message_attachment(own_stored.attachment)
        assert time.monotonic() - started < 2.0
    assert own_emu.faults.pending == 3  # two attempts were made


# -- never splice two versions (a scripted server) -----------------------------------------


class Flaky(httpx.AsyncByteStream):
    """A body that fails with ``ReadError`` after ``cut`` bytes (never, when ``None``)."""

    def __init__(self, data: bytes, cut: int | None) -> None:
        self.data, self.cut = data, cut

    async def __aiter__(self) -> AsyncIterator[bytes]:
        end = len(self.data) if self.cut is None else self.cut
        for start in range(0, end, 10_000):
            yield self.data[start : min(start + 10_000, end)]
        if self.cut is not None:
            raise httpx.ReadError("connection lost")


Script = Callable[[httpx.Request, int], Awaitable[httpx.Response]]


@contextmanager
def scripted(client: AsyncDataClient, script: Script) -> Iterator[list[httpx.Request]]:
    """Route the client's requests to ``script(request, n)`` (n counts from 1)."""
    seen: list[httpx.Request] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return await script(request, len(seen))

    transport = client._transport
    original = transport._client
    transport._client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    try:
        yield seen
    finally:
        transport._client = original


def _headers(data: bytes, extra: dict[str, str]) -> dict[str, str]:
    return {"content-length": str(len(data)), **{k.replace("_", "-"): v for k, v in extra.items()}}


def full(data: bytes, cut: int | None = None, **headers: str) -> httpx.Response:
    """A 200 with ``data`` (failing after ``cut`` bytes); header names use ``_`` for ``-``."""
    return httpx.Response(200, headers=_headers(data, headers), stream=Flaky(data, cut))


def part(data: bytes, start: int, total: int, **headers: str) -> httpx.Response:
    """A 206 with ``data`` as the bytes from ``start`` of a ``total``-byte file."""
    content_range = f"bytes {start}-{start + len(data) - 1}/{total}"
    return httpx.Response(
        206,
        headers=_headers(data, {"content_range": content_range, **headers}),
        stream=Flaky(data, None),
    )


URL = "http://files.example/a.bin"
DATA = random.Random(3).randbytes(200_000)
OTHER = random.Random(4).randbytes(200_000)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://[::1", "not a valid URL"),
        ("https://storage.example.com/a\x00b", "not a valid URL"),
        ("ftp://storage.example.com/a", "not an http"),
    ],
)
async def test_an_attachment_url_no_request_can_go_to_is_a_typed_error(
    client: AsyncDataClient, url: str, why: str
) -> None:
    # Bad server data: the message decoded, its attachment's URL is not one.
    attachment = Attachment("a", None, 1, url)
    with pytest.raises(DooverAPIError, match=why):
        await client.fetch_message_attachment(attachment)
    with pytest.raises(DooverAPIError, match=why):
        client.stream_message_attachment(attachment)


@pytest.mark.anyio
async def test_without_ranges_the_body_is_fetched_again_and_the_prefix_skipped(
    client: AsyncDataClient,
) -> None:
    async def script(request: httpx.Request, n: int) -> httpx.Response:
        return full(DATA, cut=55_555 if n == 1 else None)

    with scripted(client, script) as seen:
        async with client.stream_message_attachment(Attachment("a", None, 1, URL)) as download:
            assert b"".join([c async for c in download]) == DATA
    assert [r.headers.get("range") for r in seen] == [None, None]


@pytest.mark.anyio
async def test_a_changed_etag_fails_a_stream_and_restarts_a_buffered_read(
    client: AsyncDataClient,
) -> None:
    async def script(request: httpx.Request, n: int) -> httpx.Response:
        if n % 2:
            return full(DATA, cut=100_000, etag='"v1"', accept_ranges="bytes")
        return full(OTHER, etag='"v2"', accept_ranges="bytes")  # ignores the Range

    attachment = Attachment("a", None, 1, URL)
    with scripted(client, script) as seen:
        with pytest.raises(DooverConnectionError, match="changed"):
            await streamed_from(client, attachment, chunk_size=1000)
        assert await client.fetch_message_attachment(attachment) == OTHER  # all of v2
    assert seen[1].headers["range"].startswith("bytes=")


@pytest.mark.anyio
async def test_a_resume_at_the_wrong_offset_is_refused(client: AsyncDataClient) -> None:
    async def script(request: httpx.Request, n: int) -> httpx.Response:
        if n == 1:
            return full(DATA, cut=100_000, accept_ranges="bytes")
        return part(DATA[10:], 10, len(DATA))

    with scripted(client, script), pytest.raises(DooverConnectionError, match="resume"):
        await streamed_from(client, Attachment("a", None, 1, URL), chunk_size=1000)


def chunked(data: bytes, cut: int | None = None, **headers: str) -> httpx.Response:
    """A 200 with ``data`` and no ``Content-Length`` (its size unknown until the end)."""
    extra = {k.replace("_", "-"): v for k, v in headers.items()}
    return httpx.Response(200, headers=extra, stream=Flaky(data, cut))


@pytest.mark.anyio
async def test_a_body_sent_again_shorter_than_what_was_given_fails(
    client: AsyncDataClient,
) -> None:
    async def script(request: httpx.Request, n: int) -> httpx.Response:
        return chunked(DATA, cut=100_000) if n == 1 else chunked(DATA[:50_000])

    with scripted(client, script) as seen, pytest.raises(DooverConnectionError, match="changed"):
        await streamed_from(client, Attachment("a", None, 1, URL), chunk_size=1000)
    assert len(seen) == 2


@pytest.mark.anyio
async def test_a_resume_answered_416_at_the_end_completes_the_download(
    client: AsyncDataClient,
) -> None:
    # Every byte arrived; the connection was lost before the chunked body's end.
    async def script(request: httpx.Request, n: int) -> httpx.Response:
        if n == 1:
            return chunked(DATA, cut=len(DATA), accept_ranges="bytes", etag='"v1"')
        assert request.headers["range"] == f"bytes={len(DATA)}-"
        return httpx.Response(416, headers={"content-range": f"bytes */{len(DATA)}"})

    with scripted(client, script):
        assert await streamed_from(client, Attachment("a", None, 1, URL), chunk_size=1000) == DATA

    async def shorter(request: httpx.Request, n: int) -> httpx.Response:
        if n == 1:
            return chunked(DATA, cut=len(DATA), accept_ranges="bytes")
        return httpx.Response(416, headers={"content-range": "bytes */10"})  # it changed

    with scripted(client, shorter), pytest.raises(HTTPError):
        await streamed_from(client, Attachment("a", None, 1, URL), chunk_size=1000)


@pytest.mark.anyio
async def test_an_encoded_body_is_resumed_without_ranges(client: AsyncDataClient) -> None:
    packed = gzip.compress(DATA)

    async def script(request: httpx.Request, n: int) -> httpx.Response:
        assert "range" not in request.headers
        cut = len(packed) // 2 if n == 1 else None
        return full(packed, cut, content_encoding="gzip", accept_ranges="bytes")

    with scripted(client, script):
        data = await streamed_from(client, Attachment("a", None, 1, URL), chunk_size=1000)
    assert data == DATA


async def streamed_from(client: AsyncDataClient, attachment: Attachment, **kw: Any) -> bytes:
    async with client.stream_message_attachment(attachment, **kw) as download:
        return b"".join([chunk async for chunk in download])


# -- memory (an emulator in another process) -------------------------------------------------

_SERVER = """
import json, random, sys
from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.emulator._http import Upload
body = random.Random(17).randbytes({size})
with DooverEmulator() as emu:
    agent = emu.default_agent_id
    channel = emu.state.create_channel(agent, "files")
    upload = Upload("big.bin", "application/octet-stream", body)
    record, _ = emu.state.create_message(channel, agent, {{}}, uploads=[upload])
    info = {{"url": emu.url, "token": emu.token, "attachment": record.attachments[0]}}
    print(json.dumps(info), flush=True)
    sys.stdin.read()
"""


@dataclass(frozen=True)
class Remote:
    url: str
    token: str
    attachment: Attachment


@pytest.fixture(scope="module")
def remote() -> Iterator[Remote]:
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVER.format(size=SIZE)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdin is not None
    try:
        info = json.loads(process.stdout.readline())
        yield Remote(info["url"], info["token"], Attachment.from_dict(info["attachment"]))
    finally:
        process.stdin.close()
        process.wait(timeout=30)


@contextmanager
def peak() -> Iterator[list[int]]:
    """Measure the peak of traced allocations (every thread) inside the block."""
    result = [0]
    tracemalloc.start()
    try:
        yield result
    finally:
        result[0] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


class Sink:
    """A binary file that keeps only a digest of what it is given."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return len(data)


@pytest.mark.anyio
async def test_streaming_holds_a_few_chunks_not_the_body(remote: Remote) -> None:
    async with AsyncDataClient(remote.url, token=remote.token) as client:
        await client.fetch_message_attachment(remote.attachment)  # warm up the connection
        with peak() as buffered:
            data = await client.fetch_message_attachment(remote.attachment)
        assert hashlib.sha256(data).hexdigest() == DIGEST
        del data

        sink = Sink()
        with peak() as streaming:
            async with client.stream_message_attachment(remote.attachment) as download:
                async for chunk in download:
                    sink.write(chunk)
        assert (sink.size, sink.hash.hexdigest()) == (SIZE, DIGEST)

        sink = Sink()
        with peak() as writing:
            assert await client.download_message_attachment(remote.attachment, sink) == SIZE
        assert sink.hash.hexdigest() == DIGEST
    assert buffered[0] > SIZE  # the control: a buffered fetch is seen holding the body
    assert streaming[0] < STREAM_PEAK
    assert writing[0] < STREAM_PEAK


def test_sync_streaming_holds_a_few_chunks_not_the_body(remote: Remote) -> None:
    with DataClient(remote.url, token=remote.token) as client:
        client.fetch_message_attachment(remote.attachment)  # warm up the connection
        sink = Sink()
        with peak() as streaming, client.stream_message_attachment(remote.attachment) as chunks:
            for chunk in chunks:
                sink.write(chunk)
        assert (sink.size, sink.hash.hexdigest()) == (SIZE, DIGEST)
        sink = Sink()
        with peak() as writing:
            assert client.download_message_attachment(remote.attachment, sink) == SIZE
        assert sink.hash.hexdigest() == DIGEST
    assert streaming[0] < STREAM_PEAK
    assert writing[0] < STREAM_PEAK


# -- the sync client, from a plain thread -----------------------------------------------------


@pytest.fixture
def sync_client(emu: DooverEmulator) -> Iterator[DataClient]:
    with DataClient(emu.url, token=emu.token, **client_options()) as client:
        yield client


@pytest.mark.parametrize("kind", ["message", "aggregate"])
def test_sync_fetch_stream_and_download(
    emu: DooverEmulator, sync_client: DataClient, stored: Stored, kind: str, tmp_path: Path
) -> None:
    assert fetcher(sync_client, stored, kind)() == BODY
    with streamer(sync_client, stored, kind)() as chunks:
        received = list(chunks)
    assert b"".join(received) == BODY
    assert max(len(c) for c in received) == DEFAULT_CHUNK_SIZE
    assert downloader(sync_client, stored, kind)(tmp_path / "s.bin") == SIZE
    assert (tmp_path / "s.bin").read_bytes() == BODY
    with open(tmp_path / "f.bin", "wb") as file:
        assert downloader(sync_client, stored, kind)(file) == SIZE
    assert (tmp_path / "f.bin").read_bytes() == BODY


def test_sync_downloads_retry_and_resume(
    emu: DooverEmulator, sync_client: DataClient, stored: Stored
) -> None:
    emu.faults.fail(1, 503, path=stored.message_path)
    emu.faults.drop(1, path=stored.message_path, at_byte=3_000_000)
    with sync_client.stream_message_attachment(stored.attachment) as chunks:
        assert b"".join(chunks) == BODY
    assert [status for status, _ in paths(emu, stored)] == [503, 200, 206]


def test_sync_downloads_time_out(
    own_emu: DooverEmulator, own_stored: Stored, tmp_path: Path
) -> None:
    with DataClient(own_emu.url, token=own_emu.token, **client_options(timeout=0.3)) as client:
        own_emu.faults.stall(1, 3.0, path=own_stored.message_path, at_byte=500_000)
        started = time.monotonic()
        assert client.download_message_attachment(own_stored.attachment, tmp_path / "t") == SIZE
        assert time.monotonic() - started < 2.5
        assert (tmp_path / "t").read_bytes() == BODY

        client.max_retries = 0
        own_emu.faults.stall(1, 3.0, path=own_stored.message_path)
        with pytest.raises(DooverTimeoutError):
            client.fetch_message_attachment(own_stored.attachment)


def test_sync_stream_closed_early_frees_its_connection(
    sync_client: DataClient, stored: Stored
) -> None:
    for _ in range(3):
        with sync_client.stream_message_attachment(stored.attachment) as chunks:
            assert len(next(chunks)) == DEFAULT_CHUNK_SIZE
    assert sync_client.fetch_message_attachment(stored.attachment) == BODY


# -- the emulator serves byte ranges ---------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "status", "content_range", "body"),
    [
        (None, 200, None, BODY),
        ("bytes=0-9", 206, f"bytes 0-9/{SIZE}", BODY[:10]),
        ("bytes=100-", 206, f"bytes 100-{SIZE - 1}/{SIZE}", BODY[100:]),
        ("bytes=-5", 206, f"bytes {SIZE - 5}-{SIZE - 1}/{SIZE}", BODY[-5:]),
        (f"bytes=10-{SIZE * 2}", 206, f"bytes 10-{SIZE - 1}/{SIZE}", BODY[10:]),
        ("bytes=9-3", 200, None, BODY),  # malformed: ignored
        ("items=0-3", 200, None, BODY),  # another unit: ignored
        (f"bytes={SIZE}-", 416, f"bytes */{SIZE}", None),
    ],
)
def test_the_emulator_serves_byte_ranges(
    emu: DooverEmulator,
    stored: Stored,
    sent: str | None,
    status: int,
    content_range: str | None,
    body: bytes | None,
) -> None:
    headers = {"authorization": f"Bearer {emu.token}"}
    if sent is not None:
        headers["range"] = sent
    for url in (stored.attachment.url, emu.url + stored.aggregate_path.removeprefix("/api")):
        response = httpx.get(url, headers=headers)
        assert response.status_code == status
        assert response.headers.get("content-range") == content_range
        if body is not None:
            assert response.content == body
            assert response.headers["accept-ranges"] == "bytes"
            assert response.headers["etag"].startswith('"')


@pytest.mark.parametrize("sent", ["bytes=-5", "bytes=0-", "bytes=0-0"])
def test_the_emulator_refuses_every_range_of_an_empty_file(emu: DooverEmulator, sent: str) -> None:
    channel = emu.state.create_channel(emu.default_agent_id, "empty-files")
    record, _ = emu.state.create_message(
        channel, emu.default_agent_id, {}, uploads=[Upload("empty.bin", None, b"")]
    )
    url = Attachment.from_dict(record.attachments[0]).url
    response = httpx.get(url, headers={"authorization": f"Bearer {emu.token}", "range": sent})
    assert (response.status_code, response.headers["content-range"]) == (416, "bytes */0")


def test_interrupting_faults_check_their_arguments(emu: DooverEmulator) -> None:
    with pytest.raises(ValueError, match="at_byte"):
        emu.faults.drop(at_byte=10, after=True)
    with pytest.raises(ValueError, match="at_byte"):
        emu.faults.stall(at_byte=-1)
