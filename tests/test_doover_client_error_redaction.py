"""What an ``HTTPError`` may show: the URL the caller asked for, never where a redirect
led (a presigned storage URL is a credential), and no bearer token a server echoed."""

from __future__ import annotations

import json

import anyio
import pytest
from anyio.abc import SocketStream
from raw_http_support import respond, serve

from pydoover_anyio import AsyncDataClient
from pydoover_anyio.errors import ForbiddenError, HTTPError, UnauthorizedError
from pydoover_anyio.models import Attachment
from pydoover_anyio.runtime import describe

pytestmark = pytest.mark.anyio

SIGNATURE = "deadbeefcafebabe0123456789abcdef"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.SUPERSECRETSIGNATURE"


def presigned(base: str) -> str:
    return (
        f"{base}/bucket/k.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAEXAMPLE%2F20260101%2Fap-southeast-2%2Fs3%2Faws4_request"
        f"&X-Amz-Security-Token={SESSION_TOKEN}&X-Amz-Signature={SIGNATURE}"
    )


async def refused(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
    await stream.send(respond(b"<Error>AccessDenied</Error>", status="403 Forbidden"))
    return True


async def test_an_error_after_a_redirect_names_the_url_asked_for() -> None:
    async with serve(refused) as storage:
        target = presigned(f"http://127.0.0.1:{storage.port}")

        async def redirect(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
            await stream.send(respond(b"", status="302 Found", extra=f"Location: {target}\r\n"))
            return True

        async with (
            serve(redirect) as api,
            AsyncDataClient(f"http://127.0.0.1:{api.port}/api", token=TOKEN, max_retries=0) as c,
        ):
            path = "/api/agents/1/channels/cam/messages/5/attachments/9"
            attachment = Attachment("k.jpg", "image/jpeg", 1, f"http://127.0.0.1:{api.port}{path}")
            errors: list[HTTPError] = []
            with anyio.fail_after(10):
                for call in (
                    lambda: c.fetch_message_attachment(attachment),
                    lambda: c.fetch_channel_aggregate_attachment(1, "cam", 9),
                ):
                    with pytest.raises(ForbiddenError) as caught:
                        await call()
                    errors.append(caught.value)
    for error in errors:
        assert SIGNATURE not in str(error)
        assert SESSION_TOKEN not in str(error)
        assert error.url.startswith(f"http://127.0.0.1:{api.port}/api/agents/1/channels/cam/")


async def test_an_echoed_bearer_token_is_scrubbed_from_the_error() -> None:
    async def echo(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        sent = next(
            line.split(b":", 1)[1].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"authorization:")
        )
        message = json.dumps({"message": f"rejected credentials: {sent.decode()}"})
        await stream.send(respond(message.encode(), status="401 Unauthorized"))
        return True

    async with (
        serve(echo) as server,
        AsyncDataClient(f"http://127.0.0.1:{server.port}/api", token=TOKEN, max_retries=0) as c,
    ):
        with anyio.fail_after(10), pytest.raises(UnauthorizedError) as caught:
            await c.list_messages(1, "pump_log")
    assert TOKEN not in str(caught.value)
    assert TOKEN not in caught.value.body
    assert "rejected credentials: Bearer REDACTED" in caught.value.body


@pytest.mark.parametrize(
    "name",
    ["X-Amz-Signature", "X-Amz-Security-Token", "X-Amz-Credential", "X-Goog-Signature", "sig"],
)
def test_presigned_url_credentials_are_redacted(name: str) -> None:
    shown = describe("GET", f"https://storage.example/k.jpg?{name}=s3cr3t&X-Amz-Expires=60")
    assert "s3cr3t" not in shown
    assert f"{name}=REDACTED" in shown
    assert "X-Amz-Expires=60" in shown
