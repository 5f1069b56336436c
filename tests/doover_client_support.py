"""Plain helpers shared by the Doover client tests (no fixtures: see
``doover_client_fixtures``)."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

from pydoover_anyio.emulator import DooverEmulator, LoggedRequest

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
