"""Alarm endpoints (spec §3.8): list, fetch, create, replace, partially update, delete.

Rules this module enforces before anything is sent:

* An alarm is described EITHER by ``conditions`` OR by the single-condition fields
  (``key``/``operator``/``value``/``rate_threshold``/``rate_window_ms``); mixing the two is a
  ``ValueError`` (an explicit ``None`` counts as not given, as in pydoover).
* Create and replace need one of the two styles: ``conditions``, or both ``key`` and
  ``operator``.
* A ``conditions`` list is sent as given, as pydoover sends it: the server refuses one
  that reads no data (empty, or only time windows) with a 400, raised as an ``HTTPError``.
* In a PATCH, :data:`~pydoover_anyio.UNSET` means "leave unchanged" and ``None`` means
  "clear" for the nullable fields (``value``, ``expiry_mins``, ``alarm_pending_ms``, the
  ``rate_*`` fields and ``messages``); the other fields are left unchanged when ``None``.

Retries: create (POST, the server mints the id) is only re-sent when it provably never
reached the server; replace (PUT), delete and reads are idempotent; the PATCH is retried
freely too, because it sets fields to given values (``conditions`` replaces the whole set,
``messages`` merges per field), so a repeat leaves the same alarm.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._wire import UNSET, Unset
from ..models import Alarm, AlarmMessages, AlarmOperator, Condition, NotificationPolicy
from ._base import ClientCore

__all__ = ["AlarmMethods"]


def _given(value: object) -> bool:
    return value is not None and value is not UNSET


def _condition_wire(condition: Condition | Mapping[str, Any]) -> dict[str, Any]:
    """A condition's JSON object; a pre-built mapping is sent as it is (as pydoover does)."""
    if isinstance(condition, Condition):
        return condition.to_dict()
    return dict(condition)


def _serialise_conditions(conditions: list[Condition]) -> list[dict[str, Any]]:
    """The wire list of ``conditions``."""
    return [_condition_wire(condition) for condition in conditions]


def _check_one_style(
    conditions: list[Condition] | None,
    *,
    key: str | None,
    operator: AlarmOperator | str | None,
    value: Any,
    rate_threshold: Any,
    rate_window_ms: Any,
) -> None:
    """Raise ``ValueError`` when ``conditions`` is combined with single-condition fields."""
    if conditions is None:
        return
    legacy = [
        name
        for name, given in (
            ("key", key is not None),
            ("operator", operator is not None),
            ("value", _given(value)),
            ("rate_threshold", _given(rate_threshold)),
            ("rate_window_ms", _given(rate_window_ms)),
        )
        if given
    ]
    if legacy:
        raise ValueError(
            "pass either `conditions` or the single-condition fields "
            f"({', '.join(legacy)}), not both"
        )


def _messages_wire(messages: AlarmMessages | Mapping[str, Any] | None) -> dict[str, Any] | None:
    if messages is None:
        return None
    if isinstance(messages, AlarmMessages):
        return messages.to_dict()
    return dict(messages)


def _alarm_body(
    *,
    name: str,
    key: str | None,
    operator: AlarmOperator | str | None,
    value: Any,
    description: str,
    enabled: bool,
    expiry_mins: float | None,
    conditions: list[Condition] | None,
    topic_name: str | None,
    notification_policy: NotificationPolicy | str | None,
    alarm_pending_ms: int | None,
    rate_threshold: float | None,
    rate_window_ms: int | None,
    messages: AlarmMessages | None,
) -> dict[str, Any]:
    """The full body of a create (POST) or replace (PUT).

    Raises:
        ValueError: both condition styles, neither, or an unknown operator /
            notification policy.
    """
    _check_one_style(
        conditions,
        key=key,
        operator=operator,
        value=value,
        rate_threshold=rate_threshold,
        rate_window_ms=rate_window_ms,
    )
    body: dict[str, Any] = {"name": name, "description": description, "enabled": enabled}
    if conditions is not None:
        body["conditions"] = _serialise_conditions(conditions)
    else:
        if key is None or operator is None:
            raise ValueError(
                "an alarm needs `conditions`, or a `key` and an `operator` for a "
                "single-condition alarm"
            )
        body["key"] = key
        body["operator"] = AlarmOperator(operator).value
    if value is not UNSET:
        body["value"] = value
    optional: tuple[tuple[str, Any], ...] = (
        ("topic_name", topic_name),
        (
            "notification_policy",
            None if notification_policy is None else NotificationPolicy(notification_policy).value,
        ),
        ("expiry_mins", expiry_mins),
        ("alarm_pending_ms", alarm_pending_ms),
        ("rate_threshold", rate_threshold),
        ("rate_window_ms", rate_window_ms),
        ("messages", _messages_wire(messages)),
    )
    body.update((field, given) for field, given in optional if given is not None)
    return body


def _alarm_patch(
    *,
    name: str | None,
    key: str | None,
    operator: AlarmOperator | str | None,
    value: Any,
    description: str | None,
    enabled: bool | None,
    expiry_mins: float | Unset | None,
    conditions: list[Condition] | None,
    topic_name: str | None,
    notification_policy: NotificationPolicy | str | None,
    alarm_pending_ms: int | Unset | None,
    rate_threshold: float | Unset | None,
    rate_window_ms: int | Unset | None,
    messages: AlarmMessages | Unset | None,
) -> dict[str, Any]:
    """The partial body of an update (PATCH).

    Raises:
        ValueError: both condition styles, or an unknown operator / notification
            policy.
    """
    _check_one_style(
        conditions,
        key=key,
        operator=operator,
        value=value,
        rate_threshold=rate_threshold,
        rate_window_ms=rate_window_ms,
    )
    body: dict[str, Any] = {}
    if conditions is not None:
        body["conditions"] = _serialise_conditions(conditions)
    # None means "unchanged" for these (they cannot be cleared).
    unchanged_when_none: tuple[tuple[str, Any], ...] = (
        ("name", name),
        ("topic_name", topic_name),
        (
            "notification_policy",
            None if notification_policy is None else NotificationPolicy(notification_policy).value,
        ),
        ("key", key),
        ("operator", None if operator is None else AlarmOperator(operator).value),
        ("description", description),
        ("enabled", enabled),
    )
    body.update((field, given) for field, given in unchanged_when_none if given is not None)
    # UNSET means "unchanged" for these; None is sent as null and clears the field.
    cleared_when_none: tuple[tuple[str, Any], ...] = (
        ("value", value),
        ("expiry_mins", expiry_mins),
        ("alarm_pending_ms", alarm_pending_ms),
        ("rate_threshold", rate_threshold),
        ("rate_window_ms", rate_window_ms),
        ("messages", messages if messages is UNSET else _messages_wire(messages)),
    )
    body.update((field, given) for field, given in cleared_when_none if given is not UNSET)
    return body


def _alarm_path(client: ClientCore, agent_id: int | None, channel_name: str, alarm_id: int) -> str:
    return f"{client._channel_path(agent_id, channel_name)}/alarms/{int(alarm_id)}"


class AlarmMethods(ClientCore):
    """Alarms on an agent's channels."""

    async def list_alarms(
        self,
        agent_id: int | None,
        channel_name: str,
        organisation_id: int | None = None,
    ) -> list[Alarm]:
        """List the alarms of one channel.

        Args:
            agent_id: the agent owning the channel (``None`` = the client's default).
            channel_name: the channel's name.
            organisation_id: organisation header for this call.

        Returns:
            The channel's alarms.
        """
        result: list[Alarm] = await self._call(
            list[Alarm],
            "GET",
            f"{self._channel_path(agent_id, channel_name)}/alarms",
            organisation_id=organisation_id,
        )
        return result

    async def list_agent_alarms(
        self,
        agent_id: int | None,
        organisation_id: int | None = None,
    ) -> list[Alarm]:
        """List the alarms of every channel of an agent (each names its ``channel_name``).

        Alarms on private channels are left out unless the caller may read those.

        Args:
            agent_id: the agent (``None`` = the client's default).
            organisation_id: organisation header for this call.

        Returns:
            The agent's alarms.
        """
        result: list[Alarm] = await self._call(
            list[Alarm],
            "GET",
            f"/agents/{self._agent(agent_id)}/alarms",
            organisation_id=organisation_id,
        )
        return result

    async def fetch_alarm(
        self,
        agent_id: int | None,
        channel_name: str,
        alarm_id: int,
        organisation_id: int | None = None,
    ) -> Alarm:
        """Fetch one alarm.

        Args:
            agent_id: the agent owning the channel (``None`` = the client's default).
            channel_name: the channel's name.
            alarm_id: the alarm's id.
            organisation_id: organisation header for this call.

        Returns:
            The alarm.
        """
        result: Alarm = await self._call(
            Alarm,
            "GET",
            _alarm_path(self, agent_id, channel_name, alarm_id),
            organisation_id=organisation_id,
        )
        return result

    async def create_alarm(
        self,
        agent_id: int | None,
        channel_name: str,
        name: str,
        key: str | None = None,
        operator: AlarmOperator | str | None = None,
        value: Any = UNSET,
        description: str = "",
        enabled: bool = True,
        expiry_mins: float | None = None,
        organisation_id: int | None = None,
        *,
        conditions: list[Condition] | None = None,
        topic_name: str | None = None,
        notification_policy: NotificationPolicy | str | None = None,
        alarm_pending_ms: int | None = None,
        rate_threshold: float | None = None,
        rate_window_ms: int | None = None,
        messages: AlarmMessages | None = None,
    ) -> Alarm:
        """Create an alarm; the server picks its id.

        Describe it with ``conditions`` (all must hold; at least one must read data), or
        for a single condition with ``key``/``operator``/``value`` (or the rate fields),
        never both. The request is not re-sent after an ambiguous failure (it could create
        a second alarm); use :meth:`put_alarm` with an id of your own to get retries.

        Args:
            agent_id: the agent owning the channel (``None`` = the client's default).
            channel_name: the channel's name.
            name: the alarm's name.
            key: dotted path of the aggregate value (single-condition form).
            operator: ``eq``, ``ge``, ``gt``, ``le`` or ``lt`` (single-condition form).
            value: the threshold (single-condition form); sent, even as ``None``, once given.
            description: free text.
            enabled: whether the alarm is evaluated.
            expiry_mins: minutes after which the alarm clears itself.
            organisation_id: organisation header for this call.
            conditions: the AND-ed conditions (see :class:`~pydoover_anyio.models.Condition`).
            topic_name: the notification topic name.
            notification_policy: ``"default"`` or ``"opt-in"``.
            alarm_pending_ms: how long a condition must hold before ``Alarm``.
            rate_threshold: units per second (single rate condition).
            rate_window_ms: the rate's window (single rate condition).
            messages: per-state notification overrides.

        Returns:
            The created alarm.

        Raises:
            ValueError: both condition forms or neither, or an unknown operator / policy.
            HTTPError: the server refused the alarm (400 for conditions that read no data).
        """
        body = _alarm_body(
            name=name,
            key=key,
            operator=operator,
            value=value,
            description=description,
            enabled=enabled,
            expiry_mins=expiry_mins,
            conditions=conditions,
            topic_name=topic_name,
            notification_policy=notification_policy,
            alarm_pending_ms=alarm_pending_ms,
            rate_threshold=rate_threshold,
            rate_window_ms=rate_window_ms,
            messages=messages,
        )
        result: Alarm = await self._call(
            Alarm,
            "POST",
            f"{self._channel_path(agent_id, channel_name)}/alarms",
            json=body,
            organisation_id=organisation_id,
            idempotent=False,
        )
        return result

    async def put_alarm(
        self,
        agent_id: int | None,
        channel_name: str,
        alarm_id: int,
        name: str,
        key: str | None = None,
        operator: AlarmOperator | str | None = None,
        value: Any = UNSET,
        description: str = "",
        enabled: bool = True,
        expiry_mins: float | None = None,
        organisation_id: int | None = None,
        *,
        conditions: list[Condition] | None = None,
        topic_name: str | None = None,
        notification_policy: NotificationPolicy | str | None = None,
        alarm_pending_ms: int | None = None,
        rate_threshold: float | None = None,
        rate_window_ms: int | None = None,
        messages: AlarmMessages | None = None,
    ) -> Alarm:
        """Create or replace the alarm at ``alarm_id`` (same arguments as :meth:`create_alarm`).

        Args:
            agent_id: the agent owning the channel (``None`` = the client's default).
            channel_name: the channel's name.
            alarm_id: the alarm's id (e.g. from :func:`pydoover_anyio.snowflake`).
            name: the alarm's name.
            key: dotted path of the aggregate value (single-condition form).
            operator: the comparison (single-condition form).
            value: the threshold (single-condition form); sent, even as ``None``, once given.
            description: free text.
            enabled: whether the alarm is evaluated.
            expiry_mins: minutes after which the alarm clears itself.
            organisation_id: organisation header for this call.
            conditions: the AND-ed conditions.
            topic_name: the notification topic name.
            notification_policy: ``"default"`` or ``"opt-in"``.
            alarm_pending_ms: how long a condition must hold before ``Alarm``.
            rate_threshold: units per second (single rate condition).
            rate_window_ms: the rate's window (single rate condition).
            messages: per-state notification overrides.

        Returns:
            The alarm as stored.

        Raises:
            ValueError: as for :meth:`create_alarm`.
        """
        body = _alarm_body(
            name=name,
            key=key,
            operator=operator,
            value=value,
            description=description,
            enabled=enabled,
            expiry_mins=expiry_mins,
            conditions=conditions,
            topic_name=topic_name,
            notification_policy=notification_policy,
            alarm_pending_ms=alarm_pending_ms,
            rate_threshold=rate_threshold,
            rate_window_ms=rate_window_ms,
            messages=messages,
        )
        result: Alarm = await self._call(
            Alarm,
            "PUT",
            _alarm_path(self, agent_id, channel_name, alarm_id),
            json=body,
            organisation_id=organisation_id,
        )
        return result

    async def update_alarm(
        self,
        agent_id: int | None,
        channel_name: str,
        alarm_id: int,
        name: str | None = None,
        key: str | None = None,
        operator: AlarmOperator | str | None = None,
        value: Any = UNSET,
        description: str | None = None,
        enabled: bool | None = None,
        expiry_mins: float | Unset | None = UNSET,
        organisation_id: int | None = None,
        *,
        topic_name: str | None = None,
        notification_policy: NotificationPolicy | str | None = None,
        alarm_pending_ms: int | Unset | None = UNSET,
        rate_threshold: float | Unset | None = UNSET,
        rate_window_ms: int | Unset | None = UNSET,
        messages: AlarmMessages | Unset | None = UNSET,
        conditions: list[Condition] | None = None,
    ) -> Alarm:
        """Change some fields of an alarm (PATCH).

        ``UNSET`` leaves a nullable field alone and ``None`` clears it (``value``,
        ``expiry_mins``, ``alarm_pending_ms``, ``rate_threshold``, ``rate_window_ms``,
        ``messages``); the other fields are left alone when ``None``. Threshold to rate:
        ``value=None`` plus both rate fields; rate to threshold: both rate fields ``None``
        plus a ``value``. ``conditions`` replaces the whole set: pass each kept
        condition's ``id`` back so the server keeps its state. ``messages`` merges per
        state and field.

        Args:
            agent_id: the agent owning the channel (``None`` = the client's default).
            channel_name: the channel's name.
            alarm_id: the alarm's id.
            name: a new name.
            key: a new key (single-condition form).
            operator: a new operator (single-condition form).
            value: a new threshold, or ``None`` to clear it.
            description: a new description.
            enabled: enable or disable.
            expiry_mins: new auto-clear minutes, or ``None`` to clear.
            organisation_id: organisation header for this call.
            topic_name: a new notification topic name.
            notification_policy: ``"default"`` or ``"opt-in"``.
            alarm_pending_ms: a new pending delay, or ``None`` to clear.
            rate_threshold: a new rate threshold, or ``None`` to clear.
            rate_window_ms: a new rate window, or ``None`` to clear.
            messages: overrides to merge, or ``None`` to clear all of them.
            conditions: the complete new condition set.

        Returns:
            The updated alarm.

        Raises:
            ValueError: ``conditions`` together with single-condition fields, or an
                unknown operator / policy.
            HTTPError: the server refused the change (400 for conditions that read no data).
        """
        body = _alarm_patch(
            name=name,
            key=key,
            operator=operator,
            value=value,
            description=description,
            enabled=enabled,
            expiry_mins=expiry_mins,
            conditions=conditions,
            topic_name=topic_name,
            notification_policy=notification_policy,
            alarm_pending_ms=alarm_pending_ms,
            rate_threshold=rate_threshold,
            rate_window_ms=rate_window_ms,
            messages=messages,
        )
        result: Alarm = await self._call(
            Alarm,
            "PATCH",
            _alarm_path(self, agent_id, channel_name, alarm_id),
            json=body,
            organisation_id=organisation_id,
            idempotent=True,
        )
        return result

    async def delete_alarm(
        self,
        agent_id: int | None,
        channel_name: str,
        alarm_id: int,
        organisation_id: int | None = None,
    ) -> None:
        """Delete an alarm.

        Args:
            agent_id: the agent owning the channel (``None`` = the client's default).
            channel_name: the channel's name.
            alarm_id: the alarm's id.
            organisation_id: organisation header for this call.
        """
        await self._call(
            None,
            "DELETE",
            _alarm_path(self, agent_id, channel_name, alarm_id),
            organisation_id=organisation_id,
        )
