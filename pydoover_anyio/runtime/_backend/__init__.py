"""The only code in the library that touches asyncio or trio directly.

Everything else is plain anyio. What lives here needs a backend's own machinery that
anyio does not expose cheaply enough:

* :mod:`.loop_thread`: a client's event-loop thread and the sync bridge into it (each
  backend's thread-safe scheduler; on asyncio, lending an idle loop to the caller);
* :mod:`.readiness`: waiting for a socket to become readable with one selector
  registration per socket on asyncio, instead of one per wait.
"""
