"""The shared machinery every client in this distribution is built on.

* :class:`Transport` / :class:`Request`: HTTP over ``httpx.AsyncClient`` with real
  timeouts, retries and error-mapping hooks.
* :class:`RetryPolicy`: what is retried and how long to wait (I/O-free), driven by
  tenacity with ``anyio.sleep``.
* :class:`SyncFacade` with :class:`sync_method`, :class:`sync_iterator`,
  :class:`sync_context`, :class:`sync_stream` and :class:`sync_wrapped_context`: blocking
  clients over an async client, on a dedicated event-loop thread, with no hand-copied
  method bodies.
* :func:`gather_bounded` / :func:`pipeline`: bounded concurrent work in a task group.
* :class:`AnyioHTTPTransport`: the fast HTTP/1.1 connection layer used under httpx.

See ``docs/runtime.md`` for a walkthrough of building a client on it.
"""

from __future__ import annotations

from .concurrency import gather_bounded, pipeline
from .errors import ClientClosedError
from .facade import (
    BlockingIterator,
    LoopHandle,
    SyncFacade,
    sync_context,
    sync_iterator,
    sync_method,
    sync_stream,
    sync_wrapped_context,
)
from .fast_transport import AnyioHTTPTransport
from .retry import RetryPolicy, parse_retry_after
from .transport import DEFAULT_LIMITS, DEFAULT_TIMEOUT, Request, Transport, describe, redact_url

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_TIMEOUT",
    "AnyioHTTPTransport",
    "BlockingIterator",
    "ClientClosedError",
    "LoopHandle",
    "Request",
    "RetryPolicy",
    "SyncFacade",
    "Transport",
    "describe",
    "redact_url",
    "gather_bounded",
    "parse_retry_after",
    "pipeline",
    "sync_context",
    "sync_iterator",
    "sync_method",
    "sync_stream",
    "sync_wrapped_context",
]
