"""``AnyioHTTPTransport`` against a raw socket server that produces HTTP edge cases."""

from __future__ import annotations

import gzip
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx
import pytest
from anyio.abc import SocketStream
from raw_http_support import UPLOAD, Server, client, deaf_server, ok, respond, serve, tls_contexts

from pydoover_anyio.runtime import AnyioHTTPTransport

pytestmark = pytest.mark.anyio


async def test_keep_alive_reuses_one_connection() -> None:
    async with serve(ok) as server, client() as http:
        for i in range(10):
            response = await http.get(f"http://127.0.0.1:{server.port}/r{i}")
            assert response.text == f"echo:/r{i}:"
        assert server.connections == 1


async def test_post_bodies_in_memory_and_streamed() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"ab"
        yield b"cd"

    async with serve(ok) as server, client() as http:
        url = f"http://127.0.0.1:{server.port}/p"
        assert (await http.post(url, content=b"payload")).text == "echo:/p:payload"
        streamed = await http.post(url, content=chunks())
        assert streamed.text == "echo:/p:2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n"


async def test_chunked_close_delimited_head_204_304() -> None:
    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        path = head.split(b" ")[1]
        if path == b"/chunked":
            await stream.send(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Trailer: 1\r\n\r\n"
            )
        elif path == b"/head":
            await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n")
        elif path == b"/204":
            await stream.send(b"HTTP/1.1 204 No Content\r\n\r\n")
        elif path == b"/304":
            await stream.send(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n")
        elif path == b"/continue":
            await stream.send(b"HTTP/1.1 100 Continue\r\n\r\n" + respond(b"final"))
        elif path == b"/close":
            await stream.send(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-eof")
            return False
        return True

    async with serve(handler) as server, client() as http:
        base = f"http://127.0.0.1:{server.port}"
        assert (await http.get(f"{base}/chunked")).text == "abcdefg"
        head = await http.head(f"{base}/head")
        assert (head.status_code, head.content) == (200, b"")
        assert (await http.get(f"{base}/204")).status_code == 204
        assert (await http.get(f"{base}/304")).status_code == 304
        assert (await http.get(f"{base}/continue")).text == "final"
        assert (await http.get(f"{base}/chunked")).text == "abcdefg"  # same connection
        assert server.connections == 1
        assert (await http.get(f"{base}/close")).text == "until-eof"
        assert (await http.get(f"{base}/204")).status_code == 204
        assert server.connections == 2


async def test_bytes_after_a_complete_response_end_its_connection_not_the_response() -> None:
    answers = {
        b"/overlong": b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbodyEXTRA",
        b"/twice": respond(b"first") + respond(b"", status="404 Not Found"),
        b"/204": b"HTTP/1.1 204 No Content\r\n\r\n" + respond(b"unasked"),
        b"/head": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nJUNK!",
    }

    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        path = head.split(b" ")[1]
        if path in answers:
            await stream.send(answers[path])
        else:
            await stream.send(respond(b"next:" + path))
        return True  # the connection stays open: only the client can tell it is spoilt

    async with serve(handler) as server, client() as http:
        base = f"http://127.0.0.1:{server.port}"
        for path, method, status, content in (
            ("/overlong", "GET", 200, b"body"),
            ("/twice", "GET", 200, b"first"),
            ("/204", "GET", 204, b""),
            ("/head", "HEAD", 200, b""),
        ):
            response = await http.request(method, f"{base}{path}")
            assert (response.status_code, response.content) == (status, content)
            # The next request gets its own answer, on a new connection (the stray bytes
            # would otherwise be read as its response).
            assert (await http.get(f"{base}/after")).content == b"next:/after"
        assert server.connections == 5  # one per spoilt connection, and the last one's


async def test_framing_a_server_must_not_send_is_refused() -> None:
    answers = {  # h11 accepts both (Transfer-Encoding wins; the fold is unfolded)
        b"/both": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked"
        b"\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        b"/folded": b"HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 2\r\n\r\nok",
    }

    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        await stream.send(answers[head.split(b" ")[1]])
        return False

    async with serve(handler) as server, client() as http:
        for path in answers:
            with pytest.raises(httpx.RemoteProtocolError, match="invalid HTTP response"):
                await http.get(f"http://127.0.0.1:{server.port}{path.decode()}")


async def test_gzip_and_large_bodies() -> None:
    big = bytes(range(256)) * 20_000  # 5 MB
    packed = gzip.compress(b'{"a": 1}')

    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        if head.split(b" ")[1] == b"/gzip":
            await stream.send(respond(packed, extra="Content-Encoding: gzip\r\n"))
        else:
            await stream.send(respond(big))
        return True

    async with serve(handler) as server, client() as http:
        assert (await http.get(f"http://127.0.0.1:{server.port}/gzip")).json() == {"a": 1}
        assert (await http.get(f"http://127.0.0.1:{server.port}/big")).content == big


async def test_a_server_closed_idle_connection_is_replaced() -> None:
    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        await stream.send(respond(b"fresh"))
        return False  # close after every response

    async with serve(handler) as server, client() as http:
        url = f"http://127.0.0.1:{server.port}/"
        for _ in range(3):
            await anyio.sleep(0.01)
            assert (await http.get(url)).text == "fresh"
        assert server.connections == 3


async def test_a_reused_connection_dying_unanswered_is_retried_only_when_safe() -> None:
    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        if n % 2 == 0:
            return False  # every second request: close without answering
        await stream.send(respond(b"answer"))
        return True

    async with serve(handler) as server, client() as http:
        url = f"http://127.0.0.1:{server.port}/"
        assert (await http.get(url)).text == "answer"  # request 1, connection 1
        assert (await http.get(url)).text == "answer"  # 2 dropped; repeated as 3, fresh
        assert (server.requests, server.connections) == (3, 2)
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(url, content=b"x")  # 4 dropped on a reused connection: a POST
        assert server.requests == 4  # is never repeated by the transport


async def test_errors_map_to_httpx_exceptions() -> None:
    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        path = head.split(b" ")[1]
        if path == b"/slow":
            await anyio.sleep(5)
        elif path == b"/garbage":
            await stream.send(b"NOT HTTP AT ALL\r\n\r\n")
        elif path == b"/truncated":
            await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
            return False
        return True

    async with serve(handler) as server, client() as http:
        base = f"http://127.0.0.1:{server.port}"
        with pytest.raises(httpx.ReadTimeout):
            await http.get(f"{base}/slow", timeout=0.1)
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(f"{base}/garbage")
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(f"{base}/truncated")
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("http://127.0.0.1:9/")
        with pytest.raises(httpx.UnsupportedProtocol):
            await http.get("ftp://127.0.0.1/")


async def test_a_refused_header_value_is_named_but_not_shown() -> None:
    async with client() as http:  # refused before connecting: no server needed
        with pytest.raises(httpx.LocalProtocolError) as caught:
            await http.get("http://127.0.0.1:9/", headers={"Authorization": "Bearer s3cret\n"})
    assert "'Authorization'" in str(caught.value)
    assert "s3cret" not in str(caught.value)


async def test_more_distinct_header_lists_than_remembered_are_each_checked() -> None:
    async with serve(ok) as server, client() as http:
        base = f"http://127.0.0.1:{server.port}"
        for n in range(300):  # past the remembered 256: the memory starts over
            assert (await http.get(f"{base}/{n}", headers={"X-N": str(n)})).status_code == 200
        with pytest.raises(httpx.LocalProtocolError):
            await http.get(f"{base}/last", headers={"X-N": "1\r\nX-N: 2"})
        assert server.requests == 300


@pytest.mark.parametrize(("declared", "sent"), [(5, b"0123456789"), (10, b"01234")])
async def test_a_streamed_body_of_another_length_than_declared_is_refused(
    declared: int, sent: bytes
) -> None:
    async def upload() -> AsyncIterator[bytes]:
        yield sent

    async with serve(ok) as server, client() as http:
        base = f"http://127.0.0.1:{server.port}"
        with pytest.raises(httpx.LocalProtocolError, match="data for declared Content-Length"):
            await http.post(
                f"{base}/up", content=upload(), headers={"Content-Length": str(declared)}
            )
        assert (await http.get(f"{base}/next")).text == "echo:/next:"
        # The refused request's connection was closed with its head only: no handler saw
        # it, and no body byte passed for the start of another request.
        assert server.requests == 1


async def test_an_upload_the_server_does_not_read_is_a_write_timeout() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(UPLOAD), 1 << 20):
            yield UPLOAD[start : start + (1 << 20)]

    timeout = httpx.Timeout(5, write=0.2)
    with deaf_server() as port:
        async with client() as http:
            url = f"http://127.0.0.1:{port}/upload"
            for content in (UPLOAD, chunks()):  # in memory, then streamed (chunked)
                with anyio.fail_after(3), pytest.raises(httpx.WriteTimeout):
                    await http.post(url, content=content, timeout=timeout)


@asynccontextmanager
async def early_answer_server(
    answer: bytes, tls: ssl.SSLContext | None = None
) -> AsyncIterator[Server]:
    """A server that reads only a request's head, sends ``answer`` (if any) and closes,
    leaving the body unread; it counts connections."""
    server = Server(ok)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    server.port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def answer_early(stream: SocketStream) -> None:
        server.connections += 1
        async with stream:
            sock: anyio.abc.ByteStream = stream
            if tls is not None:
                sock = await anyio.streams.tls.TLSStream.wrap(
                    stream, server_side=True, ssl_context=tls, standard_compatible=False
                )
            head = b""
            while b"\r\n\r\n" not in head:
                head += await sock.receive()
            if answer:
                await sock.send(answer)

    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, answer_early)
        yield server
        group.cancel_scope.cancel()


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_an_answer_sent_before_the_upload_ended_is_returned(scheme: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(UPLOAD), 1 << 20):
            yield UPLOAD[start : start + (1 << 20)]

    server_tls, client_tls = tls_contexts() if scheme == "https" else (None, None)
    rejected = respond(b"too big", status="413 Payload Too Large")  # keep-alive announced
    async with (
        early_answer_server(rejected, server_tls) as server,
        client(verify=client_tls or True) as http,
    ):
        url = f"{scheme}://127.0.0.1:{server.port}/upload"
        for content in (UPLOAD, chunks(), UPLOAD):
            with anyio.fail_after(5):
                response = await http.post(url, content=content)
            assert (response.status_code, response.content) == (413, b"too big")
        assert server.connections == 3  # a connection whose request was cut is not reused
    async with (
        early_answer_server(b"", server_tls) as server,
        client(verify=client_tls or True) as http,
    ):
        with anyio.fail_after(5), pytest.raises(httpx.RemoteProtocolError):
            await http.post(f"{scheme}://127.0.0.1:{server.port}/upload", content=UPLOAD)


async def test_pool_timeout_when_every_connection_is_busy() -> None:
    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        await anyio.sleep(1)
        await stream.send(respond())
        return True

    async with serve(handler) as server, client(max_connections=1) as http:
        url = f"http://127.0.0.1:{server.port}/"
        async with anyio.create_task_group() as group:
            group.start_soon(http.get, url)
            await anyio.sleep(0.05)
            with pytest.raises(httpx.PoolTimeout):
                await http.get(url, timeout=httpx.Timeout(5, pool=0.1))
            group.cancel_scope.cancel()


async def test_after_a_pool_wait_the_exchange_has_its_own_timeouts() -> None:
    """The pool wait's deadline ends with the wait: a response slower than the pool
    timeout still arrives, and a stalled one raises ReadTimeout, not PoolTimeout."""

    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        path = head.split(b" ")[1]
        await anyio.sleep({b"/busy": 0.2, b"/slow": 0.5, b"/stall": 5}.get(path, 0))
        await stream.send(respond(path))
        return True

    async with serve(handler) as server, client(max_connections=1) as http:
        base = f"http://127.0.0.1:{server.port}"
        waited = httpx.Timeout(2, pool=0.4)
        async with anyio.create_task_group() as group:
            group.start_soon(http.get, f"{base}/busy")
            await anyio.sleep(0.05)
            assert (await http.get(f"{base}/slow", timeout=waited)).text == "/slow"
        async with anyio.create_task_group() as group:
            group.start_soon(http.get, f"{base}/busy")
            await anyio.sleep(0.05)
            with pytest.raises(httpx.ReadTimeout):
                await http.get(f"{base}/stall", timeout=httpx.Timeout(0.3, pool=0.4))
        assert (await http.get(f"{base}/after")).text == "/after"  # the slot came back


async def test_the_pool_timeout_does_not_bound_the_connect_after_the_wait() -> None:
    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        await anyio.sleep(0.1)
        await stream.send(respond(extra="Connection: close\r\n"))
        return False

    server_context, client_context = tls_contexts()
    async with (
        serve(handler, tls=server_context, handshake_delay=0.5) as server,
        client(verify=client_context, max_connections=1) as http,
    ):
        url = f"https://127.0.0.1:{server.port}/"
        async with anyio.create_task_group() as group:
            group.start_soon(http.get, url)  # holds the slot for about 0.6 s
            await anyio.sleep(0.05)
            # The slot frees at about 0.6 s, within the pool timeout; the new connection's
            # handshake then runs past the pool deadline, which no longer applies.
            response = await http.get(url, timeout=httpx.Timeout(5, pool=0.8))
            assert response.text == "ok"
        assert server.connections == 2


async def test_a_request_cancelled_in_the_pool_wait_takes_no_slot() -> None:
    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        await anyio.sleep(0.2 if head.split(b" ")[1] == b"/busy" else 0)
        await stream.send(respond())
        return True

    async with serve(handler) as server, client(max_connections=1) as http:
        base = f"http://127.0.0.1:{server.port}"
        async with anyio.create_task_group() as group:
            group.start_soon(http.get, f"{base}/busy")
            await anyio.sleep(0.05)
            with anyio.move_on_after(0.05) as scope:
                await http.get(f"{base}/waiting")
            assert scope.cancelled_caught
        with anyio.fail_after(2):  # both slots' holders are gone: the one slot is free
            assert (await http.get(f"{base}/next")).text == "ok"
        assert server.requests == 2


async def test_cancellation_mid_response_closes_that_connection_only() -> None:
    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        if head.split(b" ")[1] == b"/hang":
            await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            await anyio.sleep(5)
            return False
        await stream.send(respond(b"fine"))
        return True

    async with serve(handler) as server, client() as http:
        base = f"http://127.0.0.1:{server.port}"
        with anyio.move_on_after(0.1) as scope:
            await http.get(f"{base}/hang")
        assert scope.cancelled_caught
        assert (await http.get(f"{base}/ok")).text == "fine"


async def test_many_concurrent_requests() -> None:
    async with serve(ok) as server, client() as http:
        results: list[str] = []

        async def one(i: int) -> None:
            results.append((await http.get(f"http://127.0.0.1:{server.port}/{i}")).text)

        async with anyio.create_task_group() as group:
            for i in range(64):
                group.start_soon(one, i)
        assert sorted(results) == sorted(f"echo:/{i}:" for i in range(64))


async def test_tls_with_a_verified_certificate() -> None:
    server_context, client_context = tls_contexts()
    async with serve(ok, tls=server_context) as server:
        async with client(verify=client_context) as http:
            for _ in range(3):
                response = await http.get(f"https://127.0.0.1:{server.port}/secure")
                assert response.text == "echo:/secure:"
            assert server.connections == 1
        async with client() as untrusting:  # the system store does not know this CA
            with pytest.raises(httpx.ConnectError):
                await untrusting.get(f"https://127.0.0.1:{server.port}/secure")


# -- large bodies stream ------------------------------------------------------------------

BIG = bytes(range(256)) * 8192  # 2 MiB


async def test_a_large_body_is_streamed_before_the_server_sent_it_all() -> None:
    first_chunk = anyio.Event()

    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        if head.split(b" ")[1] == b"/big":
            half = len(BIG) // 2
            await stream.send(respond(BIG)[: -len(BIG) + half])
            await first_chunk.wait()  # the rest only once the client has read something
            await stream.send(BIG[half:])
        else:
            await stream.send(respond(b"small"))
        return True

    async with serve(handler) as server, client(buffer_limit=65536) as http:
        base = f"http://127.0.0.1:{server.port}"
        received = bytearray()
        with anyio.fail_after(5):  # a transport buffering the whole body would hang here
            async with http.stream("GET", f"{base}/big") as response:
                async for chunk in response.aiter_raw():
                    received += chunk
                    first_chunk.set()
        assert received == BIG
        assert (await http.get(f"{base}/after")).text == "small"
        assert server.connections == 1  # the finished stream gave its connection back


async def test_a_stream_closed_early_closes_its_connection_and_frees_its_slot() -> None:
    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        await stream.send(respond(BIG))
        return True

    async with serve(handler) as server, client(max_connections=1, buffer_limit=65536) as http:
        url = f"http://127.0.0.1:{server.port}/big"
        for _ in range(3):
            async with http.stream("GET", url) as response:
                async for _chunk in response.aiter_raw():
                    break
        assert (await http.get(url, timeout=httpx.Timeout(5, pool=1))).content == BIG
        assert server.connections == 4  # each abandoned stream's connection was closed


async def test_a_streamed_body_cut_or_stalled_raises_the_httpx_error() -> None:
    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        await stream.send(respond(BIG)[: len(BIG) // 2])
        if head.split(b" ")[1] == b"/stall":
            await anyio.sleep(5)
        return False  # close the connection with the body unfinished

    async with serve(handler) as server, client(buffer_limit=65536) as http:
        base = f"http://127.0.0.1:{server.port}"
        with pytest.raises(httpx.RemoteProtocolError):
            async with http.stream("GET", f"{base}/cut") as response:
                await response.aread()
        with pytest.raises(httpx.ReadTimeout):
            async with http.stream("GET", f"{base}/stall", timeout=0.2) as response:
                await response.aread()
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(f"{base}/cut")  # the same when buffered by httpx


async def test_redirects_through_httpx_resend_bodies_with_their_own_framing() -> None:
    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        path = head.split(b" ")[1]
        if path in (b"/get", b"/post"):
            target = b"/final-get" if path == b"/get" else b"/final-post"
            status = b"302 Found" if path == b"/get" else b"307 Temporary Redirect"
            await stream.send(
                b"HTTP/1.1 %b\r\nLocation: %b\r\nContent-Length: 0\r\n\r\n" % (status, target)
            )
        else:
            await stream.send(respond(path + b":" + body))
        return True

    async with serve(handler) as server:
        async with httpx.AsyncClient(transport=AnyioHTTPTransport(), follow_redirects=True) as http:
            base = f"http://127.0.0.1:{server.port}"
            assert (await http.get(f"{base}/get")).text == "/final-get:"
            assert (await http.post(f"{base}/post", content=b"abc")).text == "/final-post:abc"
            assert (await http.get(f"{base}/again")).text == "/again:"  # nothing stray sent
        assert server.requests == 5
