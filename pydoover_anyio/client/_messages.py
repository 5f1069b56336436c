"""Message endpoints (spec §3.2): list/iterate, fetch, create, update, delete, logs,
attachments and the per-channel timeseries."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..models import Attachment, File, Message, MessageLogEntry, TimeseriesResponse
from ..snowflake import datetime_to_ms
from ._base import ClientCore
from ._downloads import DEFAULT_CHUNK_SIZE, AttachmentDownload, Destination
from ._iterators import AsyncMessageIterator, bound, now_bound
from ._paging import ChannelPlanner, PageBounds

__all__ = ["MessageMethods"]


class MessageMethods(ClientCore):
    """Messages of a channel."""

    async def list_messages(
        self,
        agent_id: int | None,
        channel_name: str,
        before: int | dt.datetime | None = None,
        after: int | dt.datetime | None = None,
        limit: int | None = None,
        field_names: list[str] | None = None,
        organisation_id: int | None = None,
    ) -> list[Message]:
        """One page of a channel's messages.

        Newest first when ``before`` is given (or neither bound); oldest first when only
        ``after`` is given. Bounds are exclusive.

        Args:
            agent_id: the agent owning the channel.
            channel_name: the channel's name.
            before: upper bound (snowflake id or datetime; naive = UTC).
            after: lower bound (snowflake id or datetime; naive = UTC).
            limit: most messages to return (server default when ``None``).
            field_names: only these data fields (dotted paths).
            organisation_id: organisation header for this call.

        Returns:
            The messages.
        """
        result: list[Message] = await self._call(
            list[Message],
            "GET",
            f"{self._channel_path(agent_id, channel_name)}/messages",
            query=(
                ("before", before),
                ("after", after),
                ("limit", limit),
                ("field_name", field_names),
            ),
            organisation_id=organisation_id,
        )
        return result

    def iter_messages(
        self,
        agent_id: int | None,
        channel_name: str,
        before: int | dt.datetime | None = None,
        after: int | dt.datetime | None = None,
        field_names: list[str] | None = None,
        organisation_id: int | None = None,
        page_size: int = 50,
    ) -> AsyncMessageIterator:
        """Iterate over a channel's messages, one page at a time.

        Exact: every message within the bounds is yielded once. Newest first, walking
        backward from ``before`` (default: now); with only ``after`` given, oldest first
        walking forward. Use ``async for`` or ``await ....collect()``.

        Args:
            agent_id: the agent owning the channel.
            channel_name: the channel's name.
            before: exclusive upper bound (snowflake id or datetime; naive = UTC).
            after: exclusive lower bound (snowflake id or datetime; naive = UTC).
            field_names: only these data fields (dotted paths).
            organisation_id: organisation header for this call.
            page_size: messages per request.

        Returns:
            An async iterator of :class:`Message` with ``collect()``.

        Raises:
            ValueError: ``page_size`` is below 1.
        """
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size!r}")
        planner: ChannelPlanner[Message] = ChannelPlanner(
            bound(before), bound(after), now_bound=now_bound()
        )

        async def fetch(bounds: PageBounds) -> list[Message]:
            return await self.list_messages(
                agent_id,
                channel_name,
                before=bounds.before,
                after=bounds.after,
                limit=page_size,
                field_names=field_names,
                organisation_id=organisation_id,
            )

        return AsyncMessageIterator(planner, fetch)

    async def fetch_message(
        self,
        agent_id: int | None,
        channel_name: str,
        message_id: int,
        organisation_id: int | None = None,
    ) -> Message:
        """Fetch one message.

        Args:
            agent_id: the agent owning the channel.
            channel_name: the channel's name.
            message_id: the message id.
            organisation_id: organisation header for this call.

        Returns:
            The message.
        """
        result: Message = await self._call(
            Message,
            "GET",
            f"{self._channel_path(agent_id, channel_name)}/messages/{int(message_id)}",
            organisation_id=organisation_id,
        )
        return result

    async def fetch_message_logs(
        self,
        agent_id: int | None,
        channel_name: str,
        message_id: int,
        organisation_id: int | None = None,
    ) -> list[MessageLogEntry]:
        """The processor invocation logs of a message.

        Args:
            agent_id: the agent owning the channel.
            channel_name: the channel's name.
            message_id: the message id.
            organisation_id: organisation header for this call.

        Returns:
            The log entries.
        """
        result: list[MessageLogEntry] = await self._call(
            list[MessageLogEntry],
            "GET",
            f"{self._channel_path(agent_id, channel_name)}/messages/{int(message_id)}/logs",
            organisation_id=organisation_id,
        )
        return result

    async def create_message(
        self,
        agent_id: int | None,
        channel_name: str,
        data: dict[str, Any],
        timestamp: int | dt.datetime | None = None,
        files: list[File] | None = None,
        message_id: int | None = None,
        organisation_id: int | None = None,
    ) -> Message:
        """Post a message.

        Without ``message_id`` the server picks the id, so the request is only re-sent
        when it provably never arrived; with one it is created at that id and retried
        freely (see :func:`pydoover_anyio.snowflake.generate_snowflake_id`).

        Args:
            agent_id: the agent owning the channel.
            channel_name: the channel's name.
            data: the message data.
            timestamp: the message time (Unix ms or datetime; naive = UTC).
            files: attachments (the request becomes multipart).
            message_id: a client-chosen id, making the create idempotent.
            organisation_id: organisation header for this call.

        Returns:
            The created message.
        """
        body: dict[str, Any] = {"data": data}
        if timestamp is not None:
            body["ts"] = (
                datetime_to_ms(timestamp) if isinstance(timestamp, dt.datetime) else int(timestamp)
            )
        path = f"{self._channel_path(agent_id, channel_name)}/messages"
        if message_id is not None:
            path = f"{path}/{int(message_id)}"
        result: Message = await self._call(
            Message,
            "POST",
            path,
            json=body,
            files=files,
            organisation_id=organisation_id,
            idempotent=message_id is not None,
        )
        return result

    async def update_message(
        self,
        agent_id: int | None,
        channel_name: str,
        message_id: int,
        data: dict[str, Any],
        replace_data: bool = False,
        files: list[File] | None = None,
        suppress_response: bool = False,
        clear_attachments: bool = False,
        organisation_id: int | None = None,
    ) -> Message | None:
        """Merge into (PATCH) or replace (PUT, ``replace_data=True``) a message's data.

        Args:
            agent_id: the agent owning the channel.
            channel_name: the channel's name.
            message_id: the message id.
            data: the data to merge, or the new data.
            replace_data: replace instead of merge.
            files: attachments to add (the request becomes multipart).
            suppress_response: ask the server not to echo the message.
            clear_attachments: remove the existing attachments.
            organisation_id: organisation header for this call.

        Returns:
            The updated message, or ``None`` when suppressed or the body is empty.
        """
        result: Message | None = await self._call(
            None if suppress_response else Message,
            "PUT" if replace_data else "PATCH",
            f"{self._channel_path(agent_id, channel_name)}/messages/{int(message_id)}",
            query=(
                ("suppress_response", True if suppress_response else None),
                ("clear_attachments", True if clear_attachments else None),
            ),
            json={"data": data},
            files=files,
            organisation_id=organisation_id,
            # Applying the same merge (or replacement) twice gives the same message;
            # new attachments would be added twice, so those are not re-sent.
            idempotent=files is None,
            allow_empty=True,
        )
        return result

    async def delete_message(
        self,
        agent_id: int | None,
        channel_name: str,
        message_id: int,
        organisation_id: int | None = None,
    ) -> None:
        """Delete a message.

        Args:
            agent_id: the agent owning the channel.
            channel_name: the channel's name.
            message_id: the message id.
            organisation_id: organisation header for this call.
        """
        await self._call(
            None,
            "DELETE",
            f"{self._channel_path(agent_id, channel_name)}/messages/{int(message_id)}",
            organisation_id=organisation_id,
        )

    async def fetch_message_attachment(
        self, attachment: Attachment, organisation_id: int | None = None
    ) -> bytes:
        """Download a message attachment into memory (redirects followed).

        Retried and resumed like :meth:`stream_message_attachment`; for large files
        prefer that or :meth:`download_message_attachment`, which never hold it whole.

        Args:
            attachment: the attachment, from ``Message.attachments``.
            organisation_id: organisation header for this call.

        Returns:
            The file's bytes.
        """
        download = self.stream_message_attachment(attachment, organisation_id, chunk_size=None)
        async with download:
            return await download.read()

    def stream_message_attachment(
        self,
        attachment: Attachment,
        organisation_id: int | None = None,
        chunk_size: int | None = DEFAULT_CHUNK_SIZE,
    ) -> AttachmentDownload:
        """Download a message attachment as a stream of chunks::

            async with client.stream_message_attachment(attachment) as download:
                async for chunk in download:
                    ...

        Entering sends the request (and raises its error); a connection lost or stalled
        mid-body is retried and resumes where it stopped, so every byte arrives once.

        Args:
            attachment: the attachment, from ``Message.attachments``.
            organisation_id: organisation header for this call.
            chunk_size: most bytes per chunk (``None``: as they arrive).

        Returns:
            An async context manager whose value is the :class:`AttachmentDownload`
            (an async iterator of ``bytes``, with ``size`` and ``content_type``).
        """
        return AttachmentDownload(
            self, attachment.url, organisation_id=organisation_id, chunk_size=chunk_size
        )

    async def download_message_attachment(
        self,
        attachment: Attachment,
        destination: Destination,
        organisation_id: int | None = None,
        chunk_size: int | None = DEFAULT_CHUNK_SIZE,
    ) -> int:
        """Download a message attachment to a file, chunk by chunk.

        Args:
            attachment: the attachment, from ``Message.attachments``.
            destination: a path (created or truncated, removed if the download fails),
                or a binary file-like object (``write`` may be a coroutine function).
            organisation_id: organisation header for this call.
            chunk_size: most bytes written per call.

        Returns:
            The number of bytes written.
        """
        download = self.stream_message_attachment(attachment, organisation_id, chunk_size)
        async with download:
            return await download.write_to(destination)

    async def fetch_timeseries(
        self,
        agent_id: int | None,
        channel_name: str,
        field_names: list[str],
        before: int | dt.datetime | None = None,
        after: int | dt.datetime | None = None,
        limit: int | None = None,
        organisation_id: int | None = None,
        *,
        paginate: bool = False,
    ) -> TimeseriesResponse:
        """Values of some data fields across a channel's messages.

        Args:
            agent_id: the agent owning the channel.
            channel_name: the channel's name.
            field_names: the data fields (dotted paths).
            before: exclusive upper bound (snowflake id or datetime; naive = UTC).
            after: exclusive lower bound (snowflake id or datetime; naive = UTC).
            limit: most values to return.
            organisation_id: organisation header for this call.
            paginate: ask for the ``next`` cursor (``paginate=true``, as doover-js sends
                it; spec §3.2). pydoover never sent it, so its ``next`` stayed ``None``.

        Returns:
            The values; with ``paginate``, a ``next`` cursor (while more remain) to pass
            back as ``before``.
        """
        result: TimeseriesResponse = await self._call(
            TimeseriesResponse,
            "GET",
            f"{self._channel_path(agent_id, channel_name)}/messages/timeseries",
            query=(
                ("field_name", field_names),
                ("before", before),
                ("after", after),
                ("limit", limit),
                ("paginate", True if paginate else None),
            ),
            organisation_id=organisation_id,
        )
        return result
