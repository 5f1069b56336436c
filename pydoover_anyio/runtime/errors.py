"""Errors raised by the shared runtime itself (not by a particular API).

Exception tree::

    RuntimeError
    └── ClientClosedError      the client (or its event-loop thread) is closed
"""

from __future__ import annotations


class ClientClosedError(RuntimeError):
    """The client was used after ``close()``; create a new client instead."""
