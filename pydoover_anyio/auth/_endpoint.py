"""Token requests over HTTP, shared by the client-credentials and refresh-token strategies.

Rules this module enforces (spec §2.5, §2.6, §2.9, §6.3; DESIGN rule 9):

* Without a caller-owned ``httpx.AsyncClient``, each token request opens its own and
  closes it afterwards. Refreshes are rare, and a client kept between them would belong
  to one event loop, while an auth object may be shared by clients on several loops
  (e.g. two ``DataClient`` instances). A caller-owned client is never closed.
* ``timeout`` bounds each token request as a whole (and each httpx operation).
* One attempt per refresh: retrying a refresh-token grant whose answer was lost could
  replay a refresh token the server has already rotated away.
* Every failure (HTTP >= 400, transport error, timeout, malformed JSON) becomes
  :class:`~pydoover_anyio.errors.TokenRefreshError`. Messages name the endpoint without
  its query string and have every secret of the request scrubbed from the response text.
* httpx logs each request URL at INFO level; a filter on the ``httpx`` logger redacts
  secret query parameters (the refresh-token flow carries tokens there by contract).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Final
from urllib.parse import quote, quote_plus

import anyio
import httpx
import msgspec

from ..errors import TokenRefreshError
from ..runtime import describe, redact_url
from ..runtime._json import UNDECODABLE_JSON
from ._base import Clock, TokenAuth
from ._token import ExpiryInput

logger = logging.getLogger("pydoover_anyio.auth")

#: Characters of a failed response's text kept in an error message.
_BODY_LIMIT: Final = 300


class TokenResponse(msgspec.Struct):
    """The fields of a token endpoint's JSON answer that matter here."""

    access_token: str
    expires_in: float | None = None
    refresh_token: str | None = None


#: Lax: pydoover read ``expires_in`` with ``float()``, so ``"3600"`` is taken too.
_decode_token_response = msgspec.json.Decoder(TokenResponse, strict=False).decode


class _RedactSecretParams(logging.Filter):
    """Rewrites ``httpx.URL`` log arguments that carry secret query parameters."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(arg, httpx.URL) for arg in record.args
        ):
            record.args = tuple(
                redact_url(arg) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


_LOG_FILTER: Final = _RedactSecretParams()


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every non-empty secret, plain or URL-encoded, replaced by ``REDACTED``.

    Args:
        text: text that may echo a secret (e.g. a server's error body).
        secrets: the values to remove.

    Returns:
        The scrubbed text.
    """
    forms = {form for s in secrets if s for form in (s, quote(s, safe=""), quote_plus(s))}
    for secret in sorted(forms, key=len, reverse=True):
        text = text.replace(secret, "REDACTED")
    return text


def missing_names(**values: str | None) -> list[str]:
    """The names of the empty ``values``, in the order given."""
    return [name for name, value in values.items() if not value]


def basic_credentials(client_id: str, client_secret: str) -> str:
    """The ``Authorization`` value for HTTP Basic auth with UTF-8 credentials."""
    raw = f"{client_id}:{client_secret}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


class TokenEndpointAuth(TokenAuth):
    """A :class:`TokenAuth` that gets its tokens from an OAuth-style token endpoint.

    Args:
        token: the initial access token.
        token_expires: its expiry (see :class:`TokenAuth`).
        data_base_url: the data API base URL.
        timeout: seconds one token request may take in total.
        http_client: a caller-owned ``httpx.AsyncClient`` for token requests (it ties
            the refreshes to that client's event loop).
        clock: returns the current time in Unix seconds.
    """

    def __init__(
        self,
        *,
        token: str | None,
        token_expires: ExpiryInput,
        data_base_url: str | None,
        timeout: float,
        http_client: httpx.AsyncClient | None,
        clock: Clock | None,
    ) -> None:
        super().__init__(
            token=token, token_expires=token_expires, data_base_url=data_base_url, clock=clock
        )
        self.timeout = timeout
        self._http = http_client

    async def aclose(self) -> None:
        """Nothing to release: token requests close their own connections, and a
        caller-owned ``httpx.AsyncClient`` stays open."""

    async def _post_token(
        self,
        url: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        secrets: Iterable[str | None] = (),
    ) -> TokenResponse:
        """POST to a token endpoint and decode its answer.

        Args:
            url: the endpoint, without a query string.
            params: query parameters.
            headers: request headers.
            data: a form body.
            secrets: values to scrub from error messages.

        Returns:
            The decoded token response.

        Raises:
            TokenRefreshError: the request failed or the answer is unusable.
        """
        where = describe("POST", url)
        hidden = list(secrets)
        logging.getLogger("httpx").addFilter(_LOG_FILTER)  # no-op once installed
        try:
            with anyio.fail_after(self.timeout):
                async with self._session() as http:
                    response = await http.post(
                        url,
                        params=list(params) or None,
                        headers=headers,
                        data=data,
                        timeout=self.timeout,
                    )
        except TimeoutError:
            raise TokenRefreshError(
                f"token request timed out after {self.timeout:g} s: {where}"
            ) from None
        except httpx.HTTPError as exc:
            detail = scrub(str(exc), hidden)
            raise TokenRefreshError(
                f"token request failed: {where}: {type(exc).__name__}: {detail}",
                # Only when it never reached the server: repeating a refresh the server
                # may have carried out (and rotated its refresh token for) is unsafe.
                transient=isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout),
            ) from exc
        if response.status_code >= 400:
            body = scrub(response.text, hidden)[:_BODY_LIMIT]
            status = response.status_code
            raise TokenRefreshError(
                f"token request failed: HTTP {status} on {where}: {body}",
                transient=status == 429 or status >= 500,
            )
        try:
            decoded = _decode_token_response(response.content)
        except UNDECODABLE_JSON as exc:
            raise TokenRefreshError(
                f"token endpoint sent a malformed answer (HTTP {response.status_code}) "
                f"on {where}: {exc}"
            ) from None
        if not decoded.access_token:
            raise TokenRefreshError(f"token endpoint sent an empty access_token on {where}")
        logger.info("got a new access token from %s", where)
        return decoded

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[httpx.AsyncClient]:
        """The caller-owned client, or a new one closed when the request is done."""
        if self._http is not None:
            yield self._http
            return
        async with httpx.AsyncClient(timeout=self.timeout) as http:
            yield http
