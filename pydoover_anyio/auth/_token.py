"""Access-token expiry: normalising ``token_expires``, reading a JWT's ``exp``, the refresh rule.

Rules this module enforces (spec §2.1):

* Expiries are kept as Unix seconds (``float``). A naive ``datetime`` means UTC.
* A JWT's ``exp`` claim is read without checking the signature; a token that is not a
  JWT, or has no usable ``exp``, has no known expiry and is never considered expired.
* A token needs refreshing when there is none, or when ``now >= expiry - 30 s``.
"""

from __future__ import annotations

import base64
import math
from datetime import UTC, datetime
from typing import Final, TypeAlias

import msgspec

from ..runtime._json import UNDECODABLE_JSON

#: Seconds before the expiry at which a token is already treated as expired.
EXPIRY_BUFFER_SECONDS: Final = 30.0

#: What callers may pass as ``token_expires``.
ExpiryInput: TypeAlias = datetime | float | int | None


def expiry_timestamp(value: ExpiryInput) -> float | None:
    """Unix seconds of a ``token_expires`` value.

    Args:
        value: a ``datetime`` (naive means UTC), Unix seconds, or ``None``.

    Returns:
        The expiry in Unix seconds, or ``None`` when unknown.

    Raises:
        TypeError: ``value`` is of another type.
        ValueError: ``value`` is NaN.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            "token_expires must be a datetime, Unix seconds (int or float) or None, "
            f"not {type(value).__name__}"
        )
    seconds = float(value)
    if math.isnan(seconds):
        raise ValueError("token_expires must not be NaN")
    return seconds


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT in Unix seconds, or ``None`` (no signature check).

    As the spec reads it: the payload segment, base64url-decoded, then ``float(exp)``,
    so ``"exp": "1700000000"`` counts too.

    Args:
        token: an access token, JWT or opaque.

    Returns:
        The expiry, or ``None`` for opaque tokens and JWTs without an ``exp`` that
        ``float`` takes (a NaN, a boolean or a number beyond a float's range neither).
    """
    segments = token.split(".")
    if len(segments) < 3:
        return None
    payload = segments[1]
    try:
        claims = msgspec.json.decode(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, *UNDECODABLE_JSON):  # binascii.Error is a ValueError
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if exp is None or isinstance(exp, bool):
        return None
    try:
        seconds = float(exp)
    except (TypeError, ValueError, OverflowError):
        return None
    return None if math.isnan(seconds) else seconds


def as_datetime(seconds: float | None) -> datetime | None:
    """An aware UTC ``datetime`` for Unix seconds (clamped to ``datetime``'s range).

    Args:
        seconds: Unix seconds, or ``None``.

    Returns:
        The instant, or ``None`` when ``seconds`` is ``None``.
    """
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return (datetime.max if seconds > 0 else datetime.min).replace(tzinfo=UTC)


def needs_refresh(token: str | None, expires_at: float | None, now: float) -> bool:
    """Whether a token must be replaced before it is used.

    Args:
        token: the access token held, if any.
        expires_at: its expiry in Unix seconds, if known.
        now: the current time in Unix seconds.

    Returns:
        ``True`` when there is no token or it expires within the 30 s buffer.
    """
    if not token:
        return True
    if expires_at is None:
        return False
    return now >= expires_at - EXPIRY_BUFFER_SECONDS
