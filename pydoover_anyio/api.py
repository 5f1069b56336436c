"""``pydoover.api``'s data-client names, for code that imports from there.

``from pydoover.api import DataClient, NotFoundError`` becomes
``from pydoover_anyio.api import DataClient, NotFoundError``. pydoover's control-API
clients (``ControlClient``, ``AsyncControlClient``, ...) are not part of this package.
Everything else public is in :mod:`pydoover_anyio` itself.
"""

from __future__ import annotations

from ._wire import UNSET
from .client import AsyncDataClient
from .errors import (
    BadRequestError,
    DooverAPIError,
    ForbiddenError,
    HTTPError,
    NotFoundError,
    TokenRefreshError,
    UnauthorizedError,
)
from .sync import DataClient

__all__ = [
    "UNSET",
    "AsyncDataClient",
    "BadRequestError",
    "DataClient",
    "DooverAPIError",
    "ForbiddenError",
    "HTTPError",
    "NotFoundError",
    "TokenRefreshError",
    "UnauthorizedError",
]
