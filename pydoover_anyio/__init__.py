"""Async-first (anyio) client for the Doover Data API, with a sync facade.

The shared machinery both this package and :mod:`gps_tracker` are built on lives in
:mod:`pydoover_anyio.runtime`.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
