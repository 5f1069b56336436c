"""The Doover exception tree: pydoover's names and hierarchy (spec §6.1), messages,
redaction, status mapping, and transport failures."""

from __future__ import annotations

import itertools
import pickle

import httpx
import pydoover.api as pydoover_api
import pytest

from pydoover_anyio import errors
from pydoover_anyio.errors import (
    MAX_BODY_CHARS,
    BadRequestError,
    DooverAPIError,
    DooverConnectionError,
    DooverTimeoutError,
    ForbiddenError,
    HTTPError,
    NotFoundError,
    ResponseDecodeError,
    TokenRefreshError,
    UnauthorizedError,
    connection_error,
    error_for_status,
)
from pydoover_anyio.runtime import RetryPolicy, Transport

URL = "https://data.doover.com/api/agents/1/channels/pump/messages"
PYDOOVER_NAMES = [
    "DooverAPIError",
    "HTTPError",
    "BadRequestError",
    "UnauthorizedError",
    "ForbiddenError",
    "NotFoundError",
    "TokenRefreshError",
]


def test_tree_of_spec_section_6_1() -> None:
    assert issubclass(DooverAPIError, Exception)
    for cls in (BadRequestError, UnauthorizedError, ForbiddenError, NotFoundError):
        assert issubclass(cls, HTTPError)
    for cls in (HTTPError, TokenRefreshError, ResponseDecodeError, DooverConnectionError):
        assert issubclass(cls, DooverAPIError)
    assert issubclass(DooverTimeoutError, DooverConnectionError)
    assert not issubclass(TokenRefreshError, HTTPError)
    assert not issubclass(ResponseDecodeError, HTTPError)


def test_names_and_hierarchy_match_pydoover() -> None:
    for first, second in itertools.product(PYDOOVER_NAMES, repeat=2):
        mine = issubclass(getattr(errors, first), getattr(errors, second))
        reference = issubclass(getattr(pydoover_api, first), getattr(pydoover_api, second))
        assert mine == reference, (first, second)


def test_connection_errors_are_also_httpx_transport_errors() -> None:
    assert issubclass(DooverConnectionError, httpx.TransportError)
    assert issubclass(DooverTimeoutError, httpx.TimeoutException)
    assert issubclass(DooverTimeoutError, TimeoutError)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, UnauthorizedError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (409, HTTPError),
        (422, HTTPError),
        (429, HTTPError),
        (500, HTTPError),
        (503, HTTPError),
    ],
)
def test_status_mapping_and_message(status: int, cls: type[HTTPError]) -> None:
    error = error_for_status(status, "get", URL, '{"message":"nope"}')
    assert type(error) is cls
    assert (error.status, error.method, error.url, error.body) == (
        status,
        "GET",
        URL,
        '{"message":"nope"}',
    )
    assert str(error) == f'HTTP {status} on GET {URL}: {{"message":"nope"}}'


def test_urls_are_redacted() -> None:
    url = "https://user:secret@data.doover.com/api/x?token=abc&limit=5&refresh_token=def"
    error = error_for_status(401, "POST", url, "expired")
    assert "secret" not in str(error)
    assert "abc" not in str(error)
    assert "def" not in str(error)
    assert (
        error.url == "https://data.doover.com/api/x?token=REDACTED&limit=5&refresh_token=REDACTED"
    )


def test_long_bodies_are_truncated_and_empty_ones_show_the_phrase() -> None:
    error = error_for_status(500, "GET", URL, "x" * (MAX_BODY_CHARS + 10))
    assert error.body.startswith("x" * MAX_BODY_CHARS)
    assert error.body.endswith("[10 more characters]")
    assert len(str(error)) < MAX_BODY_CHARS + 200
    assert str(error_for_status(404, "GET", URL, "")).endswith(": Not Found")
    assert error_for_status(404, "GET", URL, "").body == ""
    assert str(error_for_status(599, "GET", URL, " ")).endswith(": (empty body)")


def test_pydoover_style_constructors() -> None:
    assert str(NotFoundError()) == "HTTP 404 on : Not found"
    for name in ("BadRequestError", "UnauthorizedError", "ForbiddenError", "NotFoundError"):
        ours, theirs = getattr(errors, name)(), getattr(pydoover_api, name)()
        assert str(ours) == str(theirs), name
        assert ours.args == theirs.args, name
    assert str(NotFoundError("gone", "https://h/x")) == "HTTP 404 on https://h/x: gone"
    assert str(HTTPError(409, "conflict", "https://h/x")) == "HTTP 409 on https://h/x: conflict"
    assert (
        str(pydoover_api.HTTPError(409, "conflict", "https://h/x"))
        == "HTTP 409 on https://h/x: conflict"
    )
    error = ForbiddenError("no", "https://h/x", method="delete")
    assert (error.status, error.method, str(error)) == (
        403,
        "DELETE",
        "HTTP 403 on DELETE https://h/x: no",
    )
    assert UnauthorizedError().status == 401
    assert BadRequestError().status == 400


@pytest.mark.parametrize(
    "error",
    [
        error_for_status(404, "GET", URL, "missing"),
        error_for_status(418, "PUT", URL, "teapot"),
        ResponseDecodeError("GET", URL, 200, "Expected `int`, got `str` - at `$.id`"),
    ],
)
def test_errors_survive_pickling(error: DooverAPIError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.__dict__ == error.__dict__


def test_response_decode_error() -> None:
    error = ResponseDecodeError("get", URL + "?access_token=tok", 200, "JSON is malformed")
    assert (error.method, error.status, error.reason) == ("GET", 200, "JSON is malformed")
    assert error.url == URL + "?access_token=REDACTED"
    assert (
        str(error)
        == f"unexpected response to GET {URL}?access_token=REDACTED (HTTP 200): JSON is malformed"
    )


def test_token_refresh_error() -> None:
    error = TokenRefreshError("no refresh token configured")
    assert str(error) == "no refresh token configured"
    assert isinstance(error, DooverAPIError)


def test_connection_error_factory() -> None:
    request = httpx.Request("GET", URL)
    refused = connection_error(
        httpx.ConnectError("[Errno 111] Connection refused", request=request), f"GET {URL}"
    )
    assert type(refused) is DooverConnectionError
    assert str(refused) == f"GET {URL} failed: ConnectError: [Errno 111] Connection refused"
    assert (refused.method, refused.url, refused.request) == ("GET", URL, request)
    slow = connection_error(httpx.ReadTimeout(""), f"POST {URL}")
    assert type(slow) is DooverTimeoutError
    assert str(slow) == f"POST {URL} failed: ReadTimeout"
    with pytest.raises(RuntimeError):
        _ = slow.request  # like httpx: no request attached


@pytest.mark.anyio
async def test_transport_maps_failures_to_doover_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    transport = Transport(
        "https://data.doover.com/api",
        client=client,
        retry=RetryPolicy(max_retries=0),
        map_transport_error=connection_error,
    )
    from pydoover_anyio.runtime import Request

    with pytest.raises(DooverConnectionError) as caught:
        await transport.send(Request("GET", "/agents/1?token=secret"))
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert "secret" not in str(caught.value)
    assert caught.value.url == "https://data.doover.com/api/agents/1?token=REDACTED"
    await client.aclose()
