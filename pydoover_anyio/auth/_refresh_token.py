"""The refresh-token flow ("Doover2", spec §2.6), and profiles that use it (§2.3).

``POST {auth_server_url}/oauth2/token`` with the query parameters
``grant_type=refresh_token``, ``access_token`` (left out when no token is held),
``refresh_token`` and ``client_id``, and no body. The server contract puts the tokens in
the query string, so that is where they go (pydoover does the same); they never reach a
log record or an error message (see :mod:`._endpoint`). A rotated ``refresh_token`` in
the answer replaces the old one (pydoover ignores it, §8 #9). A failed refresh keeps
the refresh token: one bad answer does not wipe a session (§8 #30), and a refresh once
sent runs to its end even if its caller is cancelled (the answer may hold the only
refresh token that still works).

An auth object loaded from a profile by name writes every refreshed token back to
that profile (``TOKEN``, ``TOKEN_EXPIRES``, ``REFRESH_TOKEN``; everything else in the
file untouched), atomically, with mode ``0600``, and under the file's lock
(:meth:`~.profile.ConfigManager.editing`). That is the default because an
auth server that rotates refresh tokens invalidates the one on disk: without the
write-back the next run, or the doover CLI, would be locked out (§8 #10).
"""

from __future__ import annotations

import logging
import os

import anyio.to_thread
import httpx

from ._base import Clock
from ._defaults import DEFAULT_AUTH_SERVER_URL, DEFAULT_CONTROL_BASE_URL, DEFAULT_DATA_BASE_URL
from ._endpoint import TokenEndpointAuth, missing_names
from ._token import ExpiryInput
from .profile import AuthProfile, ConfigManager

logger = logging.getLogger("pydoover_anyio.auth")


class RefreshTokenAuth(TokenEndpointAuth):
    """Refreshes access tokens at the Doover auth server with a refresh token.

    Args:
        token: the current access token, if any.
        token_expires: its expiry: a ``datetime`` (naive means UTC) or Unix seconds;
            by default the JWT ``exp`` claim.
        refresh_token: the refresh token.
        refresh_token_id: the refresh token's id (kept for the profile, never sent).
        control_base_url: the control API base.
        data_base_url: the data API base.
        auth_server_url: the auth server base.
        auth_server_client_id: the OAuth client id sent with each refresh.
        timeout: seconds one token request may take in total.
        http_client: a caller-owned ``httpx.AsyncClient`` for token requests (by
            default each token request opens and closes its own).
        clock: returns the current time in Unix seconds (for tests).
        persist_profile: a profile name: every refreshed token is written back to that
            profile of the config file. ``None`` keeps tokens in memory only.
        config_path: the config file for ``persist_profile`` (default ``~/.doover/config``).
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        token_expires: ExpiryInput = None,
        refresh_token: str | None = None,
        refresh_token_id: str | None = None,
        control_base_url: str | None = DEFAULT_CONTROL_BASE_URL,
        data_base_url: str | None = DEFAULT_DATA_BASE_URL,
        auth_server_url: str | None = DEFAULT_AUTH_SERVER_URL,
        auth_server_client_id: str | None = None,
        timeout: float = 60.0,
        http_client: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
        persist_profile: str | None = None,
        config_path: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(
            token=token,
            token_expires=token_expires,
            data_base_url=data_base_url or DEFAULT_DATA_BASE_URL,
            timeout=timeout,
            http_client=http_client,
            clock=clock,
        )
        self.refresh_token = refresh_token
        self.refresh_token_id = refresh_token_id
        self.control_base_url = (control_base_url or DEFAULT_CONTROL_BASE_URL).rstrip("/")
        self.auth_server_url = (auth_server_url or DEFAULT_AUTH_SERVER_URL).rstrip("/")
        self.auth_server_client_id = auth_server_client_id
        self.persist_profile = persist_profile
        self.config_path = config_path

    @classmethod
    def from_profile(
        cls,
        profile: str | AuthProfile,
        *,
        timeout: float = 60.0,
        config_path: str | os.PathLike[str] | None = None,
        persist: bool | None = None,
        http_client: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
    ) -> RefreshTokenAuth:
        """Build from a profile of the config file, or from an :class:`AuthProfile`.

        Args:
            profile: a profile name (read from ``config_path``) or a profile object.
            timeout: seconds one token request may take in total.
            config_path: the config file (default ``~/.doover/config``).
            persist: write refreshed tokens back to the profile in the file. By default
                ``True`` for a profile read by name, ``False`` for a profile object.
            http_client: a caller-owned ``httpx.AsyncClient`` for token requests.
            clock: returns the current time in Unix seconds (for tests).

        Returns:
            The auth object.

        Raises:
            RuntimeError: no profile of that name exists.
            TypeError: ``profile`` is neither a name nor an :class:`AuthProfile`.
            OSError: the config file exists but cannot be read.
        """
        if isinstance(profile, AuthProfile):
            data = profile
            persist = bool(persist)
        elif isinstance(profile, str):
            found = ConfigManager(profile, path=config_path).get(profile)
            if found is None:
                raise RuntimeError(f"No configuration found for profile {profile}.")
            data = found
            persist = persist is None or persist
        else:
            raise TypeError(
                f"profile must be a profile name or an AuthProfile, not {type(profile).__name__}"
            )
        return cls(
            token=data.token,
            token_expires=data.token_expires,
            refresh_token=data.refresh_token,
            refresh_token_id=data.refresh_token_id,
            control_base_url=data.control_base_url,
            data_base_url=data.data_base_url,
            auth_server_url=data.auth_server_url,
            auth_server_client_id=data.auth_server_client_id,
            timeout=timeout,
            http_client=http_client,
            clock=clock,
            persist_profile=data.profile if persist else None,
            config_path=config_path,
        )

    @property
    def token_url(self) -> str:
        """Where tokens are refreshed."""
        return f"{self.auth_server_url}/oauth2/token"

    def _refresh_blocker(self) -> str | None:
        missing = missing_names(
            refresh_token=self.refresh_token, auth_server_client_id=self.auth_server_client_id
        )
        return (
            f"refresh configuration is incomplete: missing {', '.join(missing)}"
            if missing
            else None
        )

    async def _refresh(self) -> None:
        refresh_token, client_id = self.refresh_token, self.auth_server_client_id
        if not (refresh_token and client_id):
            raise self._cannot_refresh()
        params = [("grant_type", "refresh_token")]
        if self.token is not None:
            params.append(("access_token", self.token))
        params += [("refresh_token", refresh_token), ("client_id", client_id)]
        # Shielded, so a caller cancelled meanwhile waits for it (at most ``timeout``):
        # once sent, the server may have rotated the refresh token away, and the answer
        # holds the only one that still works; dropping it would end the session.
        with anyio.CancelScope(shield=True):
            response = await self._post_token(
                self.token_url, params=params, secrets=(self.token, refresh_token)
            )
            self._accept_token(response.access_token, response.expires_in)
            if response.refresh_token:
                self.refresh_token = response.refresh_token
            if self.persist_profile is not None:
                await anyio.to_thread.run_sync(self._write_profile, self.persist_profile)

    def _write_profile(self, name: str) -> None:
        """Store the current tokens in profile ``name`` (created if missing); never raises."""
        try:
            with ConfigManager.editing(name, path=self.config_path) as manager:
                entry = manager.get(name) or AuthProfile(
                    profile=name,
                    control_base_url=self.control_base_url,
                    data_base_url=self.data_base_url,
                    refresh_token_id=self.refresh_token_id,
                    auth_server_url=self.auth_server_url,
                    auth_server_client_id=self.auth_server_client_id,
                )
                entry.token = self.token
                entry.token_expires = self.token_expires
                entry.refresh_token = self.refresh_token
                manager.create(entry)
                manager.write()
        except OSError as exc:
            # The refresh itself worked: keep going with the token in memory.
            logger.warning("could not save the refreshed token to profile %r: %s", name, exc)

    def _repr_fields(self) -> list[str]:
        return [
            *super()._repr_fields(),
            f"auth_server_url={self.auth_server_url!r}",
            f"auth_server_client_id={self.auth_server_client_id!r}",
            f"refresh_token={'<set>' if self.refresh_token else None}",
            f"persist_profile={self.persist_profile!r}",
        ]
