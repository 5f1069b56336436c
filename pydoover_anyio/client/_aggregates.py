"""Channel aggregate endpoints (spec §3.5): fetch, merge/replace, attachment downloads."""

from __future__ import annotations

from typing import Any

from .._wire import channel_segment
from ..models import Aggregate, File
from ._base import ClientCore
from ._downloads import DEFAULT_CHUNK_SIZE, AttachmentDownload, Destination

__all__ = ["AggregateMethods"]


class AggregateMethods(ClientCore):
    """The aggregate (current merged state) of a channel."""

    async def fetch_channel_aggregate(
        self, agent_id: int, channel_name: str, organisation_id: int | None = None
    ) -> Aggregate:
        """Fetch a channel's aggregate.

        Args:
            agent_id: the agent owning the channel.
            channel_name: the channel's name.
            organisation_id: organisation header for this call.

        Returns:
            The aggregate.
        """
        result: Aggregate = await self._call(
            Aggregate,
            "GET",
            f"{self._channel_path(agent_id, channel_name)}/aggregate",
            organisation_id=organisation_id,
        )
        return result

    async def update_channel_aggregate(
        self,
        agent_id: int | None,
        channel_name: str,
        data: dict[str, Any],
        replace_data: bool = False,
        files: list[File] | None = None,
        suppress_response: bool = False,
        clear_attachments: bool = False,
        log_update: bool = False,
        replace_keys: list[str] | None = None,
        return_aggregate: bool = True,
        organisation_id: int | None = None,
    ) -> Aggregate | None:
        """Deep-merge into (PATCH) or replace (PUT, ``replace_data=True``) an aggregate.

        The body is ``data`` itself (not wrapped in ``{"data": ...}``).

        Args:
            agent_id: the agent owning the channel.
            channel_name: the channel's name.
            data: the patch, or the new aggregate data.
            replace_data: replace instead of merge.
            files: attachments to add (the request becomes multipart).
            suppress_response: ask the server not to echo the aggregate.
            clear_attachments: remove the existing attachments.
            log_update: also record the update as a channel message.
            replace_keys: dotted paths whose sub-trees are overwritten, not merged.
            return_aggregate: ``False`` is the same as ``suppress_response=True``.
            organisation_id: organisation header for this call.

        Returns:
            The aggregate after the update, or ``None`` when suppressed or empty.
        """
        suppress = suppress_response or not return_aggregate
        result: Aggregate | None = await self._call(
            None if suppress else Aggregate,
            "PUT" if replace_data else "PATCH",
            f"{self._channel_path(agent_id, channel_name)}/aggregate",
            query=(
                ("suppress_response", True if suppress else None),
                ("clear_attachments", True if clear_attachments else None),
                ("log_update", True if log_update else None),
                ("replace", replace_keys or None),
            ),
            json=data,
            files=files,
            organisation_id=organisation_id,
            # A repeated merge gives the same aggregate, but a logged update would be
            # logged twice and new attachments added twice: those are not re-sent.
            idempotent=not log_update and files is None,
            allow_empty=True,
        )
        return result

    async def fetch_channel_aggregate_attachment(
        self,
        agent_id: int | None,
        channel_name: str,
        attachment_id: int,
        organisation_id: int | None = None,
    ) -> bytes:
        """Download an aggregate attachment into memory (redirects followed).

        Retried and resumed like :meth:`stream_channel_aggregate_attachment`; for large
        files prefer that or :meth:`download_channel_aggregate_attachment`.

        Args:
            agent_id: the agent owning the channel.
            channel_name: the channel's name.
            attachment_id: the attachment's id.
            organisation_id: organisation header for this call.

        Returns:
            The file's bytes.
        """
        download = self.stream_channel_aggregate_attachment(
            agent_id, channel_name, attachment_id, organisation_id, chunk_size=None
        )
        async with download:
            return await download.read()

    def stream_channel_aggregate_attachment(
        self,
        agent_id: int | None,
        channel_name: str,
        attachment_id: int,
        organisation_id: int | None = None,
        chunk_size: int | None = DEFAULT_CHUNK_SIZE,
    ) -> AttachmentDownload:
        """Download an aggregate attachment as a stream of chunks (see
        ``stream_message_attachment``).

        Args:
            agent_id: the agent owning the channel.
            channel_name: the channel's name.
            attachment_id: the attachment's id.
            organisation_id: organisation header for this call.
            chunk_size: most bytes per chunk (``None``: as they arrive).

        Returns:
            An async context manager whose value is the :class:`AttachmentDownload`.
        """
        attachment = channel_segment(str(attachment_id))
        path = f"{self._channel_path(agent_id, channel_name)}/aggregate/attachments/{attachment}"
        return AttachmentDownload(
            self, path, organisation_id=organisation_id, chunk_size=chunk_size
        )

    async def download_channel_aggregate_attachment(
        self,
        agent_id: int | None,
        channel_name: str,
        attachment_id: int,
        destination: Destination,
        organisation_id: int | None = None,
        chunk_size: int | None = DEFAULT_CHUNK_SIZE,
    ) -> int:
        """Download an aggregate attachment to a file, chunk by chunk.

        Args:
            agent_id: the agent owning the channel.
            channel_name: the channel's name.
            attachment_id: the attachment's id.
            destination: a path (created or truncated, removed if the download fails),
                or a binary file-like object (``write`` may be a coroutine function).
            organisation_id: organisation header for this call.
            chunk_size: most bytes written per call.

        Returns:
            The number of bytes written.
        """
        download = self.stream_channel_aggregate_attachment(
            agent_id, channel_name, attachment_id, organisation_id, chunk_size
        )
        async with download:
            return await download.write_to(destination)
