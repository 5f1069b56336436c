"""The emulated Doover's in-memory data: agents, channels, messages, aggregates, files.

One re-entrant lock guards everything. The ASGI app holds it for the whole of each
(synchronous) handler, and every public helper takes it, so tests may read and seed the
state from any thread while the server runs. Handlers call the underscore-free
"operation" methods with the lock already held; those raise :class:`NotFound` (a
``LookupError``) or :class:`ApiError` for requests the server must refuse.

Rules this module enforces (spec §3.1-§3.5, §3.10):

* Unknown agents and channels are 404s; channels are created explicitly (each new
  agent gets a ``notifications`` channel, since sending a notification posts to it).
* A message is minted at ``ts`` when one is given, else now; creating at a known id is
  idempotent (the stored message is returned untouched).
* Message PATCH and aggregate PATCH are merge patches (``null`` deletes a key);
  PUT replaces the data.
* A message on a ``notifications`` channel whose data is not a valid notification
  payload is stored as ``{"message": <the raw JSON text>}``, as the real server does.
* Uploaded files are kept by attachment id and served at the URL their Attachment
  object carries (built from :attr:`DooverState.base_url`).
* Every change of a channel's aggregate (PATCH/PUT, batch, and message creates when
  :attr:`DooverState.messages_update_aggregate` is on) evaluates the channel's enabled
  alarms (:mod:`._alarm_eval`); a state change is stored on the alarm and published as
  ``AlarmTrigger`` after the ``AggregateUpdate``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import msgspec

from ._alarm_eval import evaluate_alarm
from ._alarms import alarm_wire
from ._auth import TokenAuthority
from ._connections import ConnectionBook
from ._http import ApiError, NotFound, Upload
from ._ids import IdKind, Snowflakes, now_ms
from ._jsondata import merge_patch
from ._notifications import NotificationBook
from ._store import AgentRecord, AggregateRecord, ChannelRecord, MessageRecord, encode_message

__all__ = ["DooverState", "StoredFile"]

NOTIFICATIONS_CHANNEL = "notifications"
_WIRE_OBJECT = msgspec.json.Decoder(dict[str, Any])
_SEVERITY_NAMES = frozenset({"Trace", "Debug", "Info", "Warn", "Critical"})


@dataclass(frozen=True, slots=True)
class StoredFile:
    """One uploaded file and where it is attached.

    Attributes:
        upload: The file.
        agent_id: The agent owning the channel.
        channel_name: The channel.
        message_id: The message it belongs to, or ``None`` for the aggregate.
    """

    upload: Upload
    agent_id: int
    channel_name: str
    message_id: int | None


class DooverState:
    """Everything the emulated server stores.

    Args:
        snowflakes: The id generator.
        tokens: The token authority (processor and device tokens are minted with it).
        default_agent_id: The default user's agent id.
        organisation_id: The organisation every agent belongs to.
        default_limit: Messages per listing when no ``limit`` is sent.
        max_limit: The largest ``limit`` honoured; larger ones are capped to it.
        messages_update_aggregate: Whether a created message's data (an object) is also
            merged into its channel's aggregate (as the production server appears to).
    """

    def __init__(
        self,
        *,
        snowflakes: Snowflakes,
        tokens: TokenAuthority,
        default_agent_id: int,
        organisation_id: int,
        default_limit: int = 100,
        max_limit: int = 1000,
        messages_update_aggregate: bool = False,
    ) -> None:
        self.lock = threading.RLock()
        """Held by the server for each request; take it to change several things at once."""
        self.ids = snowflakes
        self.tokens = tokens
        self.default_agent_id = default_agent_id
        self.organisation_id = organisation_id
        self.default_limit = default_limit
        self.max_limit = max_limit
        self.messages_update_aggregate = messages_update_aggregate
        """Whether creating a message (an object) merge-patches it into the aggregate too
        (an ``AggregateUpdate`` after the ``MessageCreate``, alarms evaluated)."""
        self.base_url = "http://127.0.0.1/api"
        """The data API base URL attachment URLs are built on (set when the server starts)."""
        self.agents: dict[int, AgentRecord] = {}
        self.files: dict[int, StoredFile] = {}
        self.message_logs: dict[tuple[int, str, int], list[dict[str, Any]]] = {}
        """Processor log entries by (agent id, channel name, message id)."""
        self.notifications = NotificationBook(snowflakes)
        self.connections = ConnectionBook(snowflakes)
        self.schedules: dict[int, dict[str, Any]] = {}
        self.processor_subscriptions: dict[int, dict[str, Any]] = {}
        self.ingestions: dict[int, dict[str, Any]] = {}
        self.ingestion_invocations: list[dict[str, Any]] = []
        """Every ``invoke`` call received: ``agent_id``, ``ingestion_id``, ``payload`` bytes."""
        self.web_push_updates: list[dict[str, Any]] = []
        """Every ``update_web_push`` body received, with the caller's ``agent_id``."""
        self.gateway_listener: Callable[[str, ChannelRecord, dict[str, Any]], None] | None = None
        """Called as ``(event name, channel, info)`` by every write the gateway reports."""
        self._seed()

    def _seed(self) -> None:
        """The initial data: the default agent, its ``notifications`` channel, one session."""
        agent_id = self.default_agent_id
        self.add_agent("default user", agent_id=agent_id, is_superuser=True)
        session = self.connections.open(agent_id, default_session=True)
        self.connections.subscribe(session, agent_id, NOTIFICATIONS_CHANNEL)

    def reset(self) -> None:
        """Forget everything stored and re-seed (ids, tokens and settings are kept)."""
        with self.lock:
            self.agents.clear()
            self.files.clear()
            self.message_logs.clear()
            self.notifications = NotificationBook(self.ids)
            self.connections = ConnectionBook(self.ids)
            self.schedules.clear()
            self.processor_subscriptions.clear()
            self.ingestions.clear()
            self.ingestion_invocations.clear()
            self.web_push_updates.clear()
            self._seed()

    # -- lookups (lock held) ----------------------------------------------------------

    def agent(self, agent_id: int) -> AgentRecord:
        """Return an agent.

        Raises:
            NotFound: No such agent.
        """
        agent = self.agents.get(agent_id)
        if agent is None:
            raise NotFound(f"agent {agent_id} not found")
        return agent

    def channel(self, agent_id: int, name: str) -> ChannelRecord:
        """Return a channel (archived ones included).

        Raises:
            NotFound: No such agent or channel.
        """
        channel = self.agent(agent_id).channels.get(name)
        if channel is None:
            raise NotFound(f"channel {name!r} not found")
        return channel

    def message(self, channel: ChannelRecord, message_id: int) -> MessageRecord:
        """Return a message of a channel.

        Raises:
            NotFound: No such message.
        """
        record = channel.messages.get(message_id)
        if record is None:
            raise NotFound(f"message {message_id} not found")
        return record

    def clamp_limit(self, limit: int | None) -> int:
        """The number of messages a listing returns for the ``limit`` sent.

        Raises:
            ApiError: 400 for a zero limit.
        """
        if limit is None:
            return min(self.default_limit, self.max_limit)
        if limit < 1:
            raise ApiError(400, "limit must be at least 1")
        return min(limit, self.max_limit)

    # -- agents and channels ------------------------------------------------------------

    def add_agent(
        self,
        name: str | None = None,
        *,
        agent_id: int | None = None,
        is_superuser: bool = False,
        token_self_rotation: bool = True,
    ) -> int:
        """Add an agent, with a ``notifications`` channel.

        Args:
            name: A display name (default: ``agent <id>``).
            agent_id: Its id (default: a new snowflake).
            is_superuser: What ``/permissions`` reports.
            token_self_rotation: Whether it may rotate its device token.

        Returns:
            The agent id.

        Raises:
            ValueError: The id is taken.
        """
        with self.lock:
            if agent_id is None:
                agent_id = self.ids.mint(IdKind.AGENT)
            if agent_id in self.agents:
                raise ValueError(f"agent {agent_id} already exists")
            self.agents[agent_id] = AgentRecord(
                agent_id,
                name or f"agent {agent_id}",
                token_self_rotation=token_self_rotation,
                is_superuser=is_superuser,
                permissions_updated=now_ms(),
            )
            self.create_channel(agent_id, NOTIFICATIONS_CHANNEL)
            return agent_id

    def create_channel(
        self,
        agent_id: int,
        name: str,
        *,
        is_private: bool = False,
        message_schema: dict[str, Any] | None = None,
        aggregate_schema: dict[str, Any] | None = None,
        history_since: int | None = None,
        default_ttl: int | None = None,
    ) -> ChannelRecord:
        """Create a channel.

        Raises:
            NotFound: No such agent.
            ApiError: 409 when the channel exists.
        """
        with self.lock:
            agent = self.agent(agent_id)
            if name in agent.channels:
                raise ApiError(409, f"channel {name!r} already exists")
            channel = ChannelRecord(
                self.ids.mint(IdKind.CHANNEL),
                name,
                agent_id,
                is_private=is_private,
                message_schema=message_schema,
                aggregate_schema=aggregate_schema,
                history_since=history_since,
                default_ttl=default_ttl,
            )
            agent.channels[name] = channel
            return channel

    def put_channel(self, agent_id: int, name: str, settings: Mapping[str, Any]) -> ChannelRecord:
        """Create a channel or replace its settings (its data stays).

        Args:
            agent_id: The owner.
            name: The channel name.
            settings: ``is_private``, ``message_schema``, ``aggregate_schema``,
                ``history_since`` and ``default_ttl``; missing ones are reset.

        Raises:
            NotFound: No such agent.
        """
        with self.lock:
            channel = self.agent(agent_id).channels.get(name)
            if channel is None:
                return self.create_channel(agent_id, name, **settings)
            channel.is_private = bool(settings.get("is_private", False))
            channel.message_schema = settings.get("message_schema")
            channel.aggregate_schema = settings.get("aggregate_schema")
            channel.history_since = settings.get("history_since")
            channel.default_ttl = settings.get("default_ttl")
            return channel

    # -- messages -----------------------------------------------------------------------

    def create_message(
        self,
        channel: ChannelRecord,
        author_id: int,
        data: Any,
        *,
        at_ms: int | None = None,
        message_id: int | None = None,
        ttl: int | None = None,
        uploads: Sequence[Upload] = (),
        update_aggregate: bool = True,
    ) -> tuple[MessageRecord, bool]:
        """Store a new message, or find the one already at ``message_id``.

        With :attr:`messages_update_aggregate` on (and ``update_aggregate``, which an
        aggregate write logging itself as a message turns off), a new message whose data
        is an object is also merged into the aggregate.

        Returns:
            The message and whether it was created (``False``: it already existed).
        """
        with self.lock:
            if message_id is not None:
                existing = channel.messages.get(message_id)
                if existing is not None:
                    return existing, False
            else:
                message_id = self.ids.mint(IdKind.MESSAGE, at_ms)
                while channel.messages.get(message_id) is not None:  # a client-chosen id
                    message_id = self.ids.mint(IdKind.MESSAGE, at_ms)
            if channel.name == NOTIFICATIONS_CHANNEL:
                data = _notification_payload(data)
            attachments = [self._store_file(channel, message_id, u) for u in uploads]
            ttl = channel.default_ttl if ttl is None else ttl
            body = encode_message(message_id, author_id, channel.ref, data, attachments)
            record = MessageRecord(message_id, author_id, data, attachments, ttl, body)
            channel.messages.put(record)
            self._publish("MessageCreate", channel, {"message": record})
            if (
                update_aggregate
                and self.messages_update_aggregate
                and isinstance(data, dict)
                and channel.name != NOTIFICATIONS_CHANNEL
            ):
                self.update_aggregate(channel, data)
            return record, True

    def update_message(
        self,
        channel: ChannelRecord,
        message_id: int,
        data: Any,
        *,
        replace: bool,
        uploads: Sequence[Upload] = (),
        clear_attachments: bool = False,
    ) -> MessageRecord:
        """Merge into (or replace) a message's data; attach files.

        Raises:
            NotFound: No such message.
        """
        with self.lock:
            old = self.message(channel, message_id)
            new_data = data if replace else merge_patch(old.data, data)
            attachments = list(old.attachments)
            if clear_attachments:
                self._drop_files(attachments)
                attachments = []
            attachments += [self._store_file(channel, message_id, u) for u in uploads]
            body = encode_message(message_id, old.author_id, channel.ref, new_data, attachments)
            record = MessageRecord(message_id, old.author_id, new_data, attachments, old.ttl, body)
            channel.messages.put(record)
            self._publish("MessageUpdate", channel, {"message": record, "request_data": data})
            return record

    def delete_message(self, channel: ChannelRecord, message_id: int) -> None:
        """Delete a message with its files and logs.

        Raises:
            NotFound: No such message.
        """
        with self.lock:
            record = channel.messages.remove(message_id)
            if record is None:
                raise NotFound(f"message {message_id} not found")
            self._drop_files(record.attachments)
            self.message_logs.pop((channel.owner_id, channel.name, message_id), None)

    # -- aggregates ---------------------------------------------------------------------

    def update_aggregate(
        self,
        channel: ChannelRecord,
        data: dict[str, Any],
        *,
        replace: bool = False,
        replace_paths: Collection[str] = (),
        uploads: Sequence[Upload] = (),
        clear_attachments: bool = False,
    ) -> AggregateRecord:
        """Merge-patch (or replace) a channel's aggregate; attach files."""
        with self.lock:
            aggregate = channel.aggregate
            if replace:
                aggregate.data = merge_patch({}, data)
            else:
                aggregate.data = merge_patch(aggregate.data, data, replace_paths)
            if clear_attachments:
                self._drop_files(aggregate.attachments)
                aggregate.attachments = []
            aggregate.attachments = aggregate.attachments + [
                self._store_file(channel, None, upload) for upload in uploads
            ]
            aggregate.last_updated = now_ms()
            info = {"aggregate": aggregate, "request_data": data}
            self._publish("AggregateUpdate", channel, info)
            self._evaluate_alarms(channel, data, now_ms())
            return aggregate

    # -- alarms -------------------------------------------------------------------------

    def _evaluate_alarms(self, channel: ChannelRecord, request_data: Any, at_ms: int) -> None:
        """Evaluate the channel's enabled alarms; store and publish state changes."""
        data = channel.aggregate.data
        for alarm in list(channel.alarms.values()):
            if not alarm["enabled"]:
                continue
            result = evaluate_alarm(alarm, data, at_ms)
            alarm["condition_state"] = result.condition_state
            alarm["last_seen_ts"] = result.last_seen_ts
            if result.state != alarm["state"]:
                self._enter_state(channel, alarm, result.state, at_ms, request_data)

    def _enter_state(
        self,
        channel: ChannelRecord,
        alarm: dict[str, Any],
        new_state: str,
        at_ms: int,
        request_data: Any,
    ) -> None:
        old_state = alarm["state"]
        alarm["state"] = new_state
        alarm["entered_state_ts"] = at_ms
        info = {
            "alarm": alarm_wire(alarm),
            "old_state": old_state,
            "new_state": new_state,
            "aggregate": channel.aggregate.wire(),
            "request_data": None if request_data is None else {"data": request_data},
            "organisation_id": str(self.organisation_id),
        }
        self._publish("AlarmTrigger", channel, info)

    def _publish(self, kind: str, channel: ChannelRecord, info: dict[str, Any]) -> None:
        listener = self.gateway_listener
        if listener is not None:
            listener(kind, channel, info)

    # -- helpers for tests (any thread) --------------------------------------------------

    def add_message(
        self,
        agent_id: int,
        channel_name: str,
        data: Any,
        *,
        ts: int | None = None,
        message_id: int | None = None,
        author_id: int | None = None,
    ) -> int:
        """Store one message as if it had been posted.

        Args:
            agent_id: The channel's agent.
            channel_name: The channel.
            data: The message data.
            ts: The Unix millisecond to mint its id at (default: now).
            message_id: An explicit id (idempotent, as over the API).
            author_id: The author (default: the channel's agent).

        Returns:
            The message id.

        Raises:
            NotFound: No such agent or channel.
        """
        with self.lock:
            channel = self.channel(agent_id, channel_name)
            author = agent_id if author_id is None else author_id
            record, _ = self.create_message(channel, author, data, at_ms=ts, message_id=message_id)
            return record.id

    def add_messages(
        self,
        agent_id: int,
        channel_name: str,
        data: Iterable[Any],
        *,
        first_ms: int | None = None,
        step_ms: int = 1,
    ) -> list[int]:
        """Store many messages quickly, one every ``step_ms`` from ``first_ms``.

        Args:
            agent_id: The channel's agent.
            channel_name: The channel.
            data: The data of each message, oldest first.
            first_ms: The Unix millisecond of the first (default: now).
            step_ms: Milliseconds between consecutive messages.

        Returns:
            The new ids, oldest first.
        """
        with self.lock:
            channel = self.channel(agent_id, channel_name)
            at = now_ms() if first_ms is None else first_ms
            ids = []
            for index, item in enumerate(data):
                record, _ = self.create_message(channel, agent_id, item, at_ms=at + index * step_ms)
                ids.append(record.id)
            return ids

    def messages(self, agent_id: int, channel_name: str) -> list[dict[str, Any]]:
        """A channel's Message objects as the API sends them, oldest first."""
        with self.lock:
            records = self.channel(agent_id, channel_name).messages.all()
        return [_WIRE_OBJECT.decode(record.body) for record in records]

    def aggregate(self, agent_id: int, channel_name: str) -> dict[str, Any]:
        """A channel's Aggregate object as the API sends it."""
        with self.lock:
            encoded = msgspec.json.encode(self.channel(agent_id, channel_name).aggregate.wire())
        return _WIRE_OBJECT.decode(encoded)

    def alarms(self, agent_id: int, channel_name: str) -> dict[int, dict[str, Any]]:
        """A channel's stored alarms by id (change them to model state transitions)."""
        with self.lock:
            return self.channel(agent_id, channel_name).alarms

    def evaluate_alarms(
        self, agent_id: int, channel_name: str, *, at_ms: int | None = None
    ) -> None:
        """Evaluate a channel's enabled alarms against its current aggregate now.

        Aggregate writes do this by themselves; call it to let time act without a write:
        an ``AlarmPending`` whose ``alarm_pending_ms`` has passed, a ``time_of_day``
        window opening or closing. State changes publish ``AlarmTrigger``.

        Args:
            agent_id: The channel's agent.
            channel_name: The channel.
            at_ms: The evaluation instant (Unix ms; default now), e.g. a moment after
                the pending time, so that a test need not sleep.

        Raises:
            NotFound: No such agent or channel.
        """
        with self.lock:
            channel = self.channel(agent_id, channel_name)
            self._evaluate_alarms(channel, None, now_ms() if at_ms is None else at_ms)

    def set_alarm_state(
        self, agent_id: int, channel_name: str, alarm_id: int, new_state: str
    ) -> None:
        """Move a stored alarm to ``new_state`` (whatever its conditions say) and publish
        the ``AlarmTrigger`` (``request_data`` null).

        Raises:
            NotFound: No such agent, channel or alarm.
        """
        with self.lock:
            channel = self.channel(agent_id, channel_name)
            alarm = channel.alarms.get(alarm_id)
            if alarm is None:
                raise NotFound(f"alarm {alarm_id} not found")
            self._enter_state(channel, alarm, new_state, now_ms(), None)

    def add_message_log(
        self, agent_id: int, channel_name: str, message_id: int, entry: Mapping[str, Any]
    ) -> None:
        """Record one processor log entry (``timestamp``, ``type``, ...) for a message."""
        with self.lock:
            self.message(self.channel(agent_id, channel_name), message_id)
            key = (agent_id, channel_name, message_id)
            self.message_logs.setdefault(key, []).append(dict(entry))

    def set_permissions(
        self, agent_id: int, *, is_superuser: bool, resources: Iterable[Mapping[str, str]] = ()
    ) -> None:
        """Set what ``GET /agents/{a}/permissions`` reports for an agent."""
        with self.lock:
            agent = self.agent(agent_id)
            agent.is_superuser = is_superuser
            agent.resources = [
                {"permission_id": r["permission_id"], "permission": r["permission"]}
                for r in resources
            ]
            agent.permissions_updated = now_ms()

    # -- files --------------------------------------------------------------------------

    def file(self, attachment_id: int, channel: ChannelRecord, message_id: int | None) -> Upload:
        """Return an uploaded file attached where the download path says.

        Raises:
            NotFound: No such attachment there.
        """
        stored = self.files.get(attachment_id)
        where = (channel.owner_id, channel.name, message_id)
        if stored is None or (stored.agent_id, stored.channel_name, stored.message_id) != where:
            raise NotFound(f"attachment {attachment_id} not found")
        return stored.upload

    def _store_file(
        self, channel: ChannelRecord, message_id: int | None, upload: Upload
    ) -> dict[str, Any]:
        attachment_id = self.ids.mint(IdKind.ATTACHMENT)
        base = f"{self.base_url}/agents/{channel.owner_id}/channels/{quote(channel.name, safe='')}"
        if message_id is None:
            url = f"{base}/aggregate/attachments/{attachment_id}"
        else:
            url = f"{base}/messages/{message_id}/attachments/{attachment_id}"
        self.files[attachment_id] = StoredFile(upload, channel.owner_id, channel.name, message_id)
        return {
            "filename": upload.filename,
            "content_type": upload.content_type,
            "size": len(upload.data),
            "url": url,
        }

    def _drop_files(self, attachments: Iterable[Mapping[str, Any]]) -> None:
        for attachment in attachments:
            attachment_id = int(str(attachment["url"]).rsplit("/", 1)[-1])
            self.files.pop(attachment_id, None)


def _notification_payload(data: Any) -> Any:
    """A valid notification payload as is; anything else wrapped as its own JSON text."""
    if isinstance(data, dict):
        message = data.get("message")
        title, topic = data.get("title"), data.get("topic")
        severity = data.get("severity")
        if isinstance(severity, bool):
            severity_ok = False
        elif isinstance(severity, int):
            severity_ok = 3 <= severity <= 7
        else:
            severity_ok = severity is None or (
                isinstance(severity, str) and severity in _SEVERITY_NAMES
            )
        if (
            isinstance(message, str)
            and message
            and (title is None or isinstance(title, str))
            and (topic is None or isinstance(topic, str))
            and severity_ok
        ):
            return data
    return {"message": msgspec.json.encode(data).decode()}
