"""``python -m pydoover_anyio.cli``: the same as the ``doover-anyio`` command."""

from __future__ import annotations

from . import main

if __name__ == "__main__":
    main()
