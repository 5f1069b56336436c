"""Request encoding: query strings, path segments, JSON and multipart bodies (spec §1.3,
§3.4, §6.4), byte-compatible with what pydoover 1.18.3 sends.

Rules this module enforces:

* Query values: ``None``/:data:`UNSET` are dropped, booleans are ``true``/``false``, a list
  repeats its key once per element (an empty list sends nothing), enums send their value,
  and a ``datetime`` is only accepted for ``before``/``after``, where it becomes a snowflake
  bound (naive = UTC). The pairs come back in the given order; httpx form-encodes them
  (spaces as ``+``), as pydoover's ``urlencode`` did.
* Channel names are percent-escaped into one path segment (pydoover inserted them raw, so a
  ``/``, ``?`` or ``#`` in a name reached another route). Names made only of unreserved
  characters (``A-Z a-z 0-9 - . _ ~``) give the same path as pydoover.
* JSON bodies are compact (no spaces) UTF-8, as pydoover with orjson sends them. A value
  JSON cannot hold exactly is refused, not rewritten: a NaN or infinite float (msgspec
  would send ``null``, which in an aggregate update deletes the key) is a ``ValueError``,
  as with pydoover's stdlib encoder. A ``Decimal`` is sent as the number it is (msgspec's
  default is a string; pydoover refuses it). As msgspec does, ``bytes`` go as base64
  text, sets and tuples as arrays, datetimes as RFC 3339 text. With
  ``compress="gzip"`` a body of 50 bytes or more is gzip-compressed (``mtime`` 0, so equal
  bodies compress to equal bytes). Argument models in a body are sent as their
  ``to_dict()``.
* Multipart bodies (one implementation for the async and the sync client): part
  ``json_payload`` is a form field with ``Content-Type: application/json`` holding the
  compact JSON payload, followed by parts ``attachment-1``, ``attachment-2``, ... (numbered
  from 1 as pydoover does) carrying each file's bytes, ``filename`` and content type. A
  ``filename`` is escaped as pydoover's sync client (httpx) escapes it.
  Multipart bodies are never compressed.
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Final
from urllib.parse import quote

import msgspec

from pydoover_anyio.models._base import PlainModel, enc_hook
from pydoover_anyio.models.channels import File
from pydoover_anyio.snowflake import snowflake_bound

__all__ = [
    "MIN_COMPRESS_SIZE",
    "SUPPORTED_ENCODINGS",
    "UNSET",
    "Unset",
    "build_query",
    "channel_segment",
    "encode_json",
    "json_body",
    "multipart_body",
]

#: "Not given", as opposed to ``None`` (which may mean "clear this field"); falsy.
#: This is msgspec's own sentinel, so a Struct field defaulting to it is left out when
#: encoded.
UNSET: Final = msgspec.UNSET
#: The type of :data:`UNSET`.
Unset = msgspec.UnsetType

#: Content encodings ``json_body`` can apply.
SUPPORTED_ENCODINGS: Final = ("gzip",)
#: Bodies shorter than this (in bytes of JSON) are sent uncompressed.
MIN_COMPRESS_SIZE: Final = 50
_DEFAULT_LEVEL: Final = 6

_BOUND_KEYS: Final = frozenset({"before", "after"})
_ENCODER: Final = msgspec.json.Encoder(enc_hook=enc_hook, decimal_format="number")
#: Types that cannot hold a float (exact types: a subclass takes the slower checks).
_JSON_LEAVES: Final = frozenset({str, int, bool, type(None)})


def _query_value(key: str, value: object) -> str | None:
    """The wire text of one scalar query value, or ``None`` to drop it."""
    if value is None or value is UNSET:
        return None
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if key not in _BOUND_KEYS:
            raise TypeError(f"query parameter {key!r} does not take a datetime")
        return str(snowflake_bound(value))
    if isinstance(value, str | int | float):
        return str(value)
    raise TypeError(f"query parameter {key!r} cannot be a {type(value).__name__}")


def build_query(items: Iterable[tuple[str, object]]) -> tuple[tuple[str, str], ...]:
    """Query pairs in pydoover's encoding (see the module docstring).

    Args:
        items: ``(key, value)`` pairs in wire order; a list or tuple value repeats the key.

    Returns:
        ``(key, text)`` pairs, ready for ``httpx`` ``params``.

    Raises:
        TypeError: A value has no query form (e.g. a ``datetime`` outside ``before``/
            ``after``, or a dict).
    """
    pairs: list[tuple[str, str]] = []
    for key, value in items:
        values = value if isinstance(value, list | tuple) else (value,)
        for element in values:
            text = _query_value(key, element)
            if text is not None:
                pairs.append((key, text))
    return tuple(pairs)


def channel_segment(name: str) -> str:
    """``name`` as one percent-escaped path segment (nothing left unescaped but
    ``A-Z a-z 0-9 - . _ ~``).

    Args:
        name: A channel name.

    Returns:
        The segment, e.g. ``"pump%20log"`` for ``"pump log"``.

    Raises:
        TypeError: ``name`` is not a str.
        ValueError: ``name`` is empty, ``"."`` or ``".."`` (HTTP clients resolve those
            segments away, so the request would reach another route).
    """
    if not isinstance(name, str):
        raise TypeError(f"a channel name must be a str, not {type(name).__name__}")
    if name in ("", ".", ".."):
        raise ValueError(f"{name!r} cannot be used as a channel name in a URL")
    return quote(name, safe="")


def encode_json(obj: object) -> bytes:
    """Compact UTF-8 JSON of ``obj``; argument models are encoded as their ``to_dict()``.

    Raises:
        TypeError: ``obj`` holds a value with no JSON form.
        ValueError: ``obj`` holds a NaN or an infinity (a float or a ``Decimal``), a
            ``Decimal`` beyond a double's range (``1E+400``: valid JSON no server reads
            as a number), or is nested too deeply.
    """
    try:
        raw = _ENCODER.encode(obj)
    except ValueError as exc:  # a non-finite Decimal
        raise ValueError(f"no JSON form: {exc}") from None
    except RecursionError:
        raise ValueError("the value is nested too deeply to send as JSON") from None
    # msgspec writes a non-finite float as null, a Decimal with an exponent as "1E+400":
    # only then can the value hold one of those.
    if (b"null" in raw or b"E+" in raw or b"E-" in raw) and _holds_non_finite(obj):
        raise ValueError("NaN, infinities and numbers beyond a double's range have no JSON form")
    return raw


def _holds_non_finite(value: object) -> bool:
    """Whether ``value`` holds a NaN or an infinite float, or a ``Decimal`` a double
    cannot hold (the common types first: this walks every value of a body that holds a
    ``null`` or an exponent)."""
    kind = type(value)
    if kind in _JSON_LEAVES:
        return False
    if kind is float:
        return not math.isfinite(value)  # type: ignore[arg-type]
    if isinstance(value, Decimal):
        as_float = float(value)
        return math.isinf(as_float) or (as_float == 0.0 and value != 0)
    if kind is dict:
        return _any_non_finite(value.values())  # type: ignore[attr-defined]
    if kind is list or kind is tuple:
        return _any_non_finite(value)  # type: ignore[arg-type]
    # Rarer: subclasses, sets, argument models, msgspec Structs, dataclasses.
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return _any_non_finite(value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return _any_non_finite(value)
    if isinstance(value, PlainModel):
        return _holds_non_finite(value.to_dict())
    if isinstance(value, msgspec.Struct):
        return _holds_non_finite(msgspec.structs.asdict(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _holds_non_finite(vars(value))
    return False


def _any_non_finite(values: Iterable[object]) -> bool:
    for item in values:  # noqa: SIM110 - a loop is faster than any() over a generator
        if type(item) not in _JSON_LEAVES and _holds_non_finite(item):
            return True
    return False


def json_body(obj: object, compress: str | None, level: int | None) -> tuple[bytes, dict[str, str]]:
    """Encode a JSON request body, gzip-compressed when asked and worth it.

    Args:
        obj: The JSON value.
        compress: ``"gzip"`` or ``None``.
        level: The gzip level (0-9), or ``None`` for 6.

    Returns:
        The body and its ``Content-Type`` (and ``Content-Encoding`` if compressed) headers.

    Raises:
        TypeError: ``obj`` has no JSON form.
        ValueError: ``compress`` or ``level`` is not supported, or ``obj`` holds a value
            JSON cannot hold (see :func:`encode_json`).
    """
    if compress is not None and compress not in SUPPORTED_ENCODINGS:
        raise ValueError(f"compress must be one of {SUPPORTED_ENCODINGS} or None, not {compress!r}")
    if level is not None and not 0 <= level <= 9:
        raise ValueError(f"compress_level must be in 0..9, not {level!r}")
    raw = encode_json(obj)
    if compress is None or len(raw) < MIN_COMPRESS_SIZE:
        return raw, {"Content-Type": "application/json"}
    packed = gzip.compress(raw, compresslevel=_DEFAULT_LEVEL if level is None else level, mtime=0)
    return packed, {"Content-Type": "application/json", "Content-Encoding": compress}


#: How a ``filename`` is written inside its quotes, as httpx (pydoover's sync client)
#: writes it: ``"`` and the C0 controls but ESC percent-escaped, as browsers do, and a
#: backslash doubled, so a server reading the value as an RFC 822 quoted-string (most
#: multipart parsers) gets the backslash back.
_FILENAME_ESCAPES: Final = str.maketrans(
    {'"': "%22", "\\": "\\\\", **{chr(c): f"%{c:02X}" for c in range(0x20) if c != 0x1B}}
)


def _quote_header_value(value: str) -> str:
    """A ``filename`` parameter value, to go between double quotes."""
    return value.translate(_FILENAME_ESCAPES)


def _part(boundary: bytes, disposition: str, content_type: str, content: bytes) -> bytes:
    if "\r" in content_type or "\n" in content_type:
        raise ValueError(f"invalid content type {content_type!r}")
    head = f"Content-Disposition: form-data; {disposition}\r\nContent-Type: {content_type}\r\n\r\n"
    return b"--" + boundary + b"\r\n" + head.encode() + content + b"\r\n"


def multipart_body(json_payload: object, files: Sequence[File]) -> tuple[bytes, dict[str, str]]:
    """Encode a ``multipart/form-data`` upload (layout in the module docstring).

    Args:
        json_payload: What the endpoint takes as JSON without files (``{"data": ...}``
            for messages, the data object itself for aggregates).
        files: The files, sent as ``attachment-1``, ``attachment-2``, ...

    Returns:
        The body and its ``Content-Type`` header (with the boundary).

    Raises:
        TypeError: ``json_payload`` has no JSON form, or a file's data is not bytes.
        ValueError: A content type contains a line break, or ``json_payload`` holds a
            value JSON cannot hold (see :func:`encode_json`).
    """
    payload = encode_json(json_payload)
    contents: list[tuple[str, str, bytes]] = [('name="json_payload"', "application/json", payload)]
    for number, file in enumerate(files, start=1):
        if not isinstance(file.data, bytes | bytearray | memoryview):
            raise TypeError(f"File.data must be bytes, not {type(file.data).__name__}")
        disposition = f'name="attachment-{number}"; filename="{_quote_header_value(file.filename)}"'
        content_type = file.content_type or "application/octet-stream"
        contents.append((disposition, content_type, bytes(file.data)))
    boundary = secrets.token_hex(16).encode()
    while any(boundary in content for _, _, content in contents):
        boundary = secrets.token_hex(16).encode()
    body = b"".join(_part(boundary, *content) for content in contents)
    body += b"--" + boundary + b"--\r\n"
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary.decode()}"}
