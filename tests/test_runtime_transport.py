"""The runtime transport: headers, timeouts, retries, error hooks, ownership, concurrency."""

from __future__ import annotations

import anyio
import httpx
import pytest

from pydoover_anyio.runtime import (
    ClientClosedError,
    Request,
    RetryPolicy,
    Transport,
    describe,
    gather_bounded,
    pipeline,
)
from pydoover_anyio.runtime.transport import earlier_attempt_may_have_applied

FAST_RETRY = RetryPolicy(max_retries=3, backoff_base=0.001)


class ApiError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"status {status}")
        self.status = status


class UnreachableError(Exception):
    pass


def check(response: httpx.Response) -> None:
    if response.status_code >= 400:
        raise ApiError(response.status_code)


def mapped(exc: httpx.TransportError, where: str) -> Exception:
    return UnreachableError(f"{where}: {type(exc).__name__}")


def transport_for(handler: httpx.MockTransport, **kwargs: object) -> Transport:
    session = httpx.AsyncClient(transport=handler)
    return Transport(
        "https://api.test/base/",
        client=session,
        retry=FAST_RETRY,
        check_response=check,
        map_transport_error=mapped,
        **kwargs,
    )  # type: ignore[arg-type]


def test_describe_removes_secrets() -> None:
    assert describe("get", "https://u:p@h.test/a?token=abc&x=1") == (
        "GET https://h.test/a?token=REDACTED&x=1"
    )


@pytest.mark.anyio
async def test_paths_params_and_headers_reach_the_wire() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    transport = transport_for(httpx.MockTransport(handle), headers={"Authorization": "Basic x"})
    response = await transport.send(
        Request(
            "GET",
            "/devices/1/",
            params=(("a", "1"), ("a", "2"), ("b", "x y")),
            headers=(("X-Extra", "yes"),),
        )
    )
    assert response.json() == {"ok": True}
    (request,) = seen
    assert str(request.url) == "https://api.test/base/devices/1/?a=1&a=2&b=x+y"
    assert request.headers["authorization"] == "Basic x"
    assert request.headers["x-extra"] == "yes"


@pytest.mark.anyio
async def test_owned_client_sets_the_user_agent_and_is_closed() -> None:
    transport = Transport("https://api.test", user_agent="ua/1")
    request = transport._build(Request("GET", "x"))
    assert request.headers["user-agent"] == "ua/1"
    await transport.aclose()
    assert transport.client.is_closed
    with pytest.raises(ClientClosedError):
        await transport.send(Request("GET", "x"))


@pytest.mark.anyio
async def test_a_caller_owned_client_is_never_closed() -> None:
    session = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    transport = Transport("https://api.test", client=session)
    await transport.aclose()
    assert not session.is_closed
    await session.aclose()


@pytest.mark.anyio
async def test_server_errors_are_retried_then_mapped() -> None:
    statuses = iter([503, 502, 200])
    transport = transport_for(httpx.MockTransport(lambda r: httpx.Response(next(statuses))))
    assert (await transport.send(Request("GET", "x"))).status_code == 200

    transport = transport_for(httpx.MockTransport(lambda r: httpx.Response(500)))
    with pytest.raises(ApiError) as caught:
        await transport.send(Request("GET", "x"))
    assert caught.value.status == 500


@pytest.mark.anyio
async def test_the_final_error_says_whether_an_earlier_attempt_may_have_applied() -> None:
    """A 403 after a 503 says nothing ran *then*; the 503's attempt may have run."""
    statuses = iter([503, 403])
    transport = transport_for(httpx.MockTransport(lambda r: httpx.Response(next(statuses))))
    with pytest.raises(ApiError) as caught:
        await transport.send(Request("PUT", "x", content=b"{}"))
    assert caught.value.status == 403
    assert earlier_attempt_may_have_applied(caught.value)

    refused = transport_for(httpx.MockTransport(lambda r: httpx.Response(403)))
    with pytest.raises(ApiError) as caught:
        await refused.send(Request("PUT", "x", content=b"{}"))
    assert not earlier_attempt_may_have_applied(caught.value)

    limited = iter([429, 403])  # a 429 ran nothing either
    transport = transport_for(httpx.MockTransport(lambda r: httpx.Response(next(limited))))
    with pytest.raises(ApiError) as caught:
        await transport.send(Request("PUT", "x", content=b"{}"))
    assert not earlier_attempt_may_have_applied(caught.value)


@pytest.mark.anyio
async def test_a_post_is_not_resent_after_a_server_error() -> None:
    calls = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(500)

    with pytest.raises(ApiError):
        await transport_for(httpx.MockTransport(handle)).send(Request("POST", "x", content=b"{}"))
    assert calls == 1


@pytest.mark.anyio
async def test_transport_errors_are_mapped_without_leaking_httpx() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(
        UnreachableError, match=r"GET https://api.test/base/x: ConnectError"
    ) as caught:
        await transport_for(httpx.MockTransport(handle)).send(Request("GET", "x"))
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


@pytest.mark.anyio
async def test_the_attempt_deadline_applies_to_a_slow_server() -> None:
    attempts = 0

    async def handle(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        await anyio.sleep(5)
        return httpx.Response(200)

    transport = transport_for(httpx.MockTransport(handle), attempt_timeout=0.05)
    transport.retry = RetryPolicy(max_retries=1, backoff_base=0.001)
    with anyio.fail_after(3), pytest.raises(UnreachableError, match="ReadTimeout"):
        await transport.send(Request("GET", "x"))
    assert attempts == 2


@pytest.mark.anyio
async def test_httpx_timeouts_are_applied_to_a_real_socket() -> None:
    async def silent(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.receive()
            await anyio.sleep(5)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, silent)
        transport = Transport(
            f"http://127.0.0.1:{port}",
            timeout=0.1,
            retry=RetryPolicy(max_retries=0),
            map_transport_error=mapped,
        )
        with anyio.fail_after(3), pytest.raises(UnreachableError, match="ReadTimeout"):
            await transport.send(Request("GET", "x"))
        await transport.aclose()
        group.cancel_scope.cancel()


@pytest.mark.anyio
async def test_gather_bounded_limits_concurrency_and_keeps_order() -> None:
    running = peak = 0

    async def job(value: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.01)
        running -= 1
        return value * 2

    calls = [lambda v=v: job(v) for v in range(20)]
    assert await gather_bounded(calls, 4) == [v * 2 for v in range(20)]
    assert peak == 4


@pytest.mark.anyio
async def test_gather_bounded_raises_the_first_error_itself_and_cancels_the_rest() -> None:
    finished: list[int] = []

    async def job(value: int) -> int:
        if value == 3:
            raise LookupError("three")
        await anyio.sleep(1)
        finished.append(value)
        return value

    with anyio.fail_after(3), pytest.raises(LookupError, match="three"):
        await gather_bounded([lambda v=v: job(v) for v in range(8)], 8)
    assert finished == []


@pytest.mark.anyio
async def test_pipeline_refills_as_results_arrive_and_feeds_in_completion_order() -> None:
    planned: list[int] = []
    fed: list[int] = []
    remaining = list(range(12))

    def plan(free: int) -> list[int]:
        batch, remaining[:] = remaining[:free], remaining[free:]
        planned.extend(batch)
        return batch

    async def run(item: int) -> int:
        await anyio.sleep(0.02 if item % 3 == 0 else 0.001)
        return item * 10

    def feed(item: int, result: int) -> None:
        assert result == item * 10
        fed.append(item)

    await pipeline(plan, run, feed, limit=3, done=lambda: len(fed) == 12)
    assert sorted(fed) == list(range(12))
    assert fed != list(range(12))  # slow items finish later: completion order, not plan order


@pytest.mark.anyio
async def test_pipeline_stops_early_and_raises_errors_unwrapped() -> None:
    started: list[int] = []

    async def run(item: int) -> int:
        started.append(item)
        await anyio.sleep(0 if item == 0 else 5)
        return item

    fed: list[int] = []
    with anyio.fail_after(3):
        await pipeline(
            lambda free: list(range(free)) if not started else [],
            run,
            lambda i, r: fed.append(i),
            limit=4,
            done=lambda: bool(fed),
        )
    assert fed == [0]

    async def boom(item: int) -> int:
        raise LookupError("bad page")

    with pytest.raises(LookupError, match="bad page"):
        await pipeline(lambda free: [1], boom, lambda i, r: None, limit=2, done=lambda: False)


def test_proxies_in_the_environment_select_httpx_own_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pydoover_anyio.runtime import AnyioHTTPTransport

    direct = Transport("http://api.test")
    assert isinstance(direct.client._transport, AnyioHTTPTransport)
    assert not isinstance(
        Transport("http://api.test", http="httpx").client._transport, AnyioHTTPTransport
    )
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    assert not isinstance(Transport("http://api.test").client._transport, AnyioHTTPTransport)


def test_a_platform_without_poll_selects_httpx_own_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import select

    from pydoover_anyio.runtime import AnyioHTTPTransport

    monkeypatch.delattr(select, "poll")  # as on Windows
    transport = Transport("http://api.test")
    assert not isinstance(transport.client._transport, AnyioHTTPTransport)
    assert not transport.fast_path
