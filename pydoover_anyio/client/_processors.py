"""Processor, TURN and device-token endpoints (spec §3.11-§3.13).

Retries: the PUTs, DELETE and reads may be repeated. ``invoke_ingestion_endpoint`` runs a
function and ``regenerate_schedule_token`` mints a long-lived credential, so both are
only re-sent when they provably never reached the server. ``fetch_turn_token`` (a
short-lived credential; a lost one just expires), ``rotate_device_token`` (a lost new token
is never confirmed, and confirming a later one retires it) and ``confirm_device_token``
(the server raises the same revocation floor again) are safe to repeat.

``rotate_device_token`` and ``confirm_device_token`` take no ``organisation_id`` (the
client's default organisation header still applies); call
:meth:`~pydoover_anyio.client._base.ClientCore.set_token` with the new token, after
persisting it, before confirming.
"""

from __future__ import annotations

from typing import Any

from ..models import (
    ConfirmedDeviceToken,
    ProcessorTokenResponse,
    RotatedDeviceToken,
    SubscriptionInfo,
    TurnCredential,
)
from ..models._envelopes import Token
from ._base import ClientCore

__all__ = ["ProcessorMethods"]


def _processors_path(client: ClientCore, agent_id: int | None, kind: str, item_id: int) -> str:
    return f"/agents/{client._agent(agent_id)}/processors/{kind}/{int(item_id)}"


class ProcessorMethods(ClientCore):
    """Processor subscriptions, schedules and ingestion endpoints; TURN; device tokens."""

    async def fetch_subscription_info(
        self,
        subscription_id: int,
        organisation_id: int | None = None,
    ) -> SubscriptionInfo:
        """Fetch what a processor subscription runs with.

        Args:
            subscription_id: the subscription's id.
            organisation_id: organisation header for this call.

        Returns:
            Its agent, app, configuration and token.
        """
        result: SubscriptionInfo = await self._call(
            SubscriptionInfo,
            "GET",
            f"/processors/subscriptions/{int(subscription_id)}",
            organisation_id=organisation_id,
        )
        return result

    async def fetch_schedule_info(
        self,
        schedule_id: int,
        organisation_id: int | None = None,
    ) -> SubscriptionInfo:
        """Fetch what a processor schedule runs with.

        Args:
            schedule_id: the schedule's id.
            organisation_id: organisation header for this call.

        Returns:
            Its agent, app, configuration and token.
        """
        result: SubscriptionInfo = await self._call(
            SubscriptionInfo,
            "GET",
            f"/processors/schedules/{int(schedule_id)}",
            organisation_id=organisation_id,
        )
        return result

    async def put_schedule(
        self,
        agent_id: int | None,
        schedule_id: int,
        app_key: str,
        permissions: list[dict[str, str]],
        is_org: bool | None = None,
        organisation_id: int | None = None,
    ) -> ProcessorTokenResponse:
        """Create or replace a processor schedule.

        Args:
            agent_id: the agent (``None`` = the client's default).
            schedule_id: the schedule's id.
            app_key: the app it runs.
            permissions: ``{"permission_id": ..., "permission": ...}`` grants for its token.
            is_org: whether it acts for the organisation.
            organisation_id: organisation header for this call.

        Returns:
            The schedule's id and token.
        """
        body: dict[str, Any] = {"app_key": app_key, "permissions": permissions}
        if is_org is not None:
            body["is_org"] = is_org
        result: ProcessorTokenResponse = await self._call(
            ProcessorTokenResponse,
            "PUT",
            _processors_path(self, agent_id, "schedules", schedule_id),
            json=body,
            organisation_id=organisation_id,
        )
        return result

    async def regenerate_schedule_token(
        self,
        agent_id: int | None,
        schedule_id: int,
        organisation_id: int | None = None,
    ) -> str:
        """Mint a new long-lived token for a processor schedule.

        Args:
            agent_id: the agent (``None`` = the client's default).
            schedule_id: the schedule's id.
            organisation_id: organisation header for this call.

        Returns:
            The token.
        """
        result: Token = await self._call(
            Token,
            "POST",
            f"{_processors_path(self, agent_id, 'schedules', schedule_id)}/token",
            organisation_id=organisation_id,
            idempotent=False,
        )
        return result.token

    async def put_subscription(
        self,
        agent_id: int | None,
        subscription_id: int,
        subscription_arn: str,
        app_key: str,
        permissions: list[dict[str, str]],
        is_org: bool | None = None,
        organisation_id: int | None = None,
        subscribed_to_agent: int | None = None,
    ) -> None:
        """Create or replace a processor subscription.

        Args:
            agent_id: the agent (``None`` = the client's default).
            subscription_id: the subscription's id.
            subscription_arn: the subscribed function's ARN.
            app_key: the app it runs.
            permissions: grants for its token.
            is_org: whether it acts for the organisation.
            organisation_id: organisation header for this call.
            subscribed_to_agent: the agent whose events it receives (sent as a number, as
                pydoover does).
        """
        body: dict[str, Any] = {
            "subscription_arn": subscription_arn,
            "app_key": app_key,
            "permissions": permissions,
        }
        if is_org is not None:
            body["is_org"] = is_org
        if subscribed_to_agent is not None:
            body["subscribed_to_agent"] = int(subscribed_to_agent)
        await self._call(
            None,
            "PUT",
            _processors_path(self, agent_id, "subscriptions", subscription_id),
            json=body,
            organisation_id=organisation_id,
        )

    async def put_ingestion_endpoint(
        self,
        agent_id: int | None,
        ingestion_id: int,
        lambda_arn: str,
        cidr_ranges: list[str],
        throttle_limit: int,
        app_key: str,
        permissions: list[dict[str, str]],
        signing_key: str | None = None,
        signing_key_hash_header: str | None = None,
        never_replace_token: bool = False,
        mini_token: bool = False,
        is_org: bool | None = None,
        organisation_id: int | None = None,
        origin: str | None = None,
    ) -> ProcessorTokenResponse:
        """Create or fully replace an ingestion endpoint (omitted options are cleared).

        Args:
            agent_id: the agent (``None`` = the client's default).
            ingestion_id: the endpoint's id.
            lambda_arn: the function invoked.
            cidr_ranges: source networks allowed to call it.
            throttle_limit: its rate limit.
            app_key: the app it belongs to.
            permissions: grants for its token.
            signing_key: the key callers sign payloads with.
            signing_key_hash_header: the header carrying that signature.
            never_replace_token: keep the existing token on replace.
            mini_token: issue a short (mini) token.
            is_org: whether it acts for the organisation.
            organisation_id: organisation header for this call.
            origin: the external system allowed to complete the unauthenticated setup
                handshake (e.g. an AWS IoT rule destination ARN).

        Returns:
            The endpoint's id and token.
        """
        body: dict[str, Any] = {
            "lambda_arn": lambda_arn,
            "cidr_ranges": cidr_ranges,
            "throttle_limit": throttle_limit,
            "app_key": app_key,
            "permissions": permissions,
            "never_replace_token": never_replace_token,
            "mini_token": mini_token,
        }
        optional = (
            ("signing_key", signing_key),
            ("signing_key_hash_header", signing_key_hash_header),
            ("is_org", is_org),
            ("origin", origin),
        )
        body.update((field, given) for field, given in optional if given is not None)
        result: ProcessorTokenResponse = await self._call(
            ProcessorTokenResponse,
            "PUT",
            _processors_path(self, agent_id, "ingestions", ingestion_id),
            json=body,
            organisation_id=organisation_id,
        )
        return result

    async def delete_ingestion_endpoint(
        self,
        agent_id: int | None,
        ingestion_id: int,
        organisation_id: int | None = None,
    ) -> None:
        """Delete an ingestion endpoint.

        Args:
            agent_id: the agent (``None`` = the client's default).
            ingestion_id: the endpoint's id.
            organisation_id: organisation header for this call.
        """
        await self._call(
            None,
            "DELETE",
            _processors_path(self, agent_id, "ingestions", ingestion_id),
            organisation_id=organisation_id,
        )

    async def invoke_ingestion_endpoint(
        self,
        agent_id: int | None,
        ingestion_id: int,
        payload: dict[str, Any],
        wait: bool = False,
        json_response: bool = False,
        organisation_id: int | None = None,
    ) -> dict[str, Any] | None:
        """Send a payload to an ingestion endpoint's function.

        Not re-sent after an ambiguous failure (the function could run twice).

        Args:
            agent_id: the agent (``None`` = the client's default).
            ingestion_id: the endpoint's id.
            payload: the JSON body handed to the function.
            wait: wait for the function and return its result.
            json_response: parse the function's output as JSON instead of base64 text.
            organisation_id: organisation header for this call.

        Returns:
            ``None`` without ``wait``; else ``{"status_code", "payload"}`` plus
            ``"function_error"`` and ``"log_result"`` when the function failed.
        """
        result: dict[str, Any] | None = await self._call(
            dict[str, Any] | None,
            "POST",
            f"{_processors_path(self, agent_id, 'ingestions', ingestion_id)}/invoke",
            query=(("wait", wait), ("json_response", json_response)),
            json=payload,
            organisation_id=organisation_id,
            idempotent=False,
            allow_empty=True,
        )
        return result

    async def fetch_turn_token(
        self,
        role: str,
        camera_name: str,
        device_id: int | None = None,
        organisation_id: int | None = None,
    ) -> TurnCredential:
        """Get short-lived TURN credentials for a camera stream.

        Args:
            role: ``"client"`` or ``"device"``.
            camera_name: the camera.
            device_id: the device (agent) id, if any.
            organisation_id: organisation header for this call.

        Returns:
            The credentials and TURN server URIs.
        """
        body: dict[str, Any] = {"role": role, "camera_name": camera_name}
        if device_id is not None:
            body["device_id"] = str(int(device_id))
        result: TurnCredential = await self._call(
            TurnCredential,
            "POST",
            "/turn/token",
            json=body,
            organisation_id=organisation_id,
            idempotent=True,
        )
        return result

    async def rotate_device_token(self, agent_id: int | None) -> RotatedDeviceToken:
        """Mint a new device token, authenticated with the current one.

        The old token stays valid until :meth:`confirm_device_token`. The agent must be
        allowed to rotate its own token.

        Args:
            agent_id: the agent (``None`` = the client's default).

        Returns:
            The new token and when it was issued.
        """
        result: RotatedDeviceToken = await self._call(
            RotatedDeviceToken,
            "POST",
            f"/agents/{self._agent(agent_id)}/token/rotate",
            idempotent=False,  # a re-send after a lost answer would mint a second token
        )
        return result

    async def confirm_device_token(self, agent_id: int | None) -> ConfirmedDeviceToken:
        """Retire every token of the agent older than the one this client now holds.

        Call :meth:`set_token` with the new token (and persist it) first: the request
        must carry it.

        Args:
            agent_id: the agent (``None`` = the client's default).

        Returns:
            The new revocation floor.
        """
        result: ConfirmedDeviceToken = await self._call(
            ConfirmedDeviceToken,
            "POST",
            f"/agents/{self._agent(agent_id)}/token/confirm",
            idempotent=True,
        )
        return result
