"""What decoding untrusted JSON with msgspec raises, in one place.

msgspec raises ``msgspec.DecodeError`` (``ValidationError`` is one) for JSON that is
invalid or of the wrong shape, and ``RecursionError`` for valid JSON nested past its depth
limit. Both mean "a malformed answer" to every client, the gateway and the emulator.
"""

from __future__ import annotations

from typing import Final

import msgspec

__all__ = ["UNDECODABLE_JSON"]

UNDECODABLE_JSON: Final = (msgspec.DecodeError, RecursionError)
