"""The client-credentials flow ("DataService", spec §2.5).

``POST {data_base_url}/oauth2/token`` with HTTP Basic auth ``client_id:client_secret``
and the form body ``grant_type=client_credentials&scope=``; the answer's
``access_token`` and ``expires_in`` are used.
"""

from __future__ import annotations

import httpx

from ._base import Clock
from ._defaults import DEFAULT_DATA_BASE_URL
from ._endpoint import TokenEndpointAuth, basic_credentials, missing_names
from ._token import ExpiryInput


class ClientCredentialsAuth(TokenEndpointAuth):
    """Gets access tokens with a client id and secret, when needed.

    Args:
        token: an initial access token, if one is at hand.
        token_expires: its expiry: a ``datetime`` (naive means UTC) or Unix seconds;
            by default the JWT ``exp`` claim.
        data_base_url: the data API base URL; the token endpoint lives under it.
        client_id: the OAuth client id.
        client_secret: the OAuth client secret.
        timeout: seconds one token request may take in total.
        http_client: a caller-owned ``httpx.AsyncClient`` for token requests (by
            default each token request opens and closes its own).
        clock: returns the current time in Unix seconds (for tests).
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        token_expires: ExpiryInput = None,
        data_base_url: str | None = DEFAULT_DATA_BASE_URL,
        client_id: str | None = None,
        client_secret: str | None = None,
        timeout: float = 60.0,
        http_client: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            token=token,
            token_expires=token_expires,
            data_base_url=data_base_url or DEFAULT_DATA_BASE_URL,
            timeout=timeout,
            http_client=http_client,
            clock=clock,
        )
        self.client_id = client_id
        self.client_secret = client_secret

    @property
    def token_url(self) -> str:
        """Where tokens are requested."""
        return f"{self.data_base_url}/oauth2/token"

    def _refresh_blocker(self) -> str | None:
        missing = missing_names(client_id=self.client_id, client_secret=self.client_secret)
        return f"missing {' and '.join(missing)}" if missing else None

    async def _refresh(self) -> None:
        client_id, client_secret = self.client_id, self.client_secret
        if not (client_id and client_secret):
            raise self._cannot_refresh()
        authorization = basic_credentials(client_id, client_secret)
        response = await self._post_token(
            self.token_url,
            headers={
                "Authorization": authorization,
                "Content-Type": "application/x-www-form-urlencoded",
            },
            data={"grant_type": "client_credentials", "scope": ""},
            secrets=(client_secret, authorization.removeprefix("Basic "), self.token),
        )
        self._accept_token(response.access_token, response.expires_in)

    def _repr_fields(self) -> list[str]:
        return [
            *super()._repr_fields(),
            f"client_id={self.client_id!r}",
            f"client_secret={'<set>' if self.client_secret else None}",
        ]
