"""Serving stored attachment bytes, with byte ranges (what object storage does).

Rules this module enforces (RFC 9110 §14):

* Every attachment response says ``Accept-Ranges: bytes`` and carries a strong ``ETag``
  (attachments never change: the attachment id and size name the content).
* ``Range: bytes=a-b``, ``bytes=a-`` and ``bytes=-n`` (one range) are answered 206 with
  ``Content-Range``; a range that starts past the end is 416 with ``bytes */size``.
* A ``Range`` header that is not one well-formed byte range is ignored (200, whole file),
  as the RFC allows.
"""

from __future__ import annotations

import re

from ._http import ApiError, Request, Response, Upload

__all__ = ["attachment_response"]

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def attachment_response(upload: Upload, attachment_id: int, request: Request) -> Response:
    """The response to a GET of an attachment: the whole file, or the range asked for.

    Raises:
        ApiError: 416 for a range that starts past the end of the file.
    """
    data = upload.data
    size = len(data)
    content_type = upload.content_type or "application/octet-stream"
    headers = (("accept-ranges", "bytes"), ("etag", f'"{attachment_id}-{size}"'))
    wanted = _byte_range(request.headers.get("range"), size)
    if wanted is None:
        return Response(200, data, content_type, headers)
    start, end = wanted
    return Response(
        206,
        data[start : end + 1],
        content_type,
        (*headers, ("content-range", f"bytes {start}-{end}/{size}")),
    )


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(start, end)`` asked for, or ``None`` for the whole file."""
    if header is None:
        return None
    matched = _RANGE.match(header)
    if matched is None:
        return None
    first, last = matched.groups()
    if not first and not last:
        return None
    if not first:  # a suffix: the last n bytes
        length = int(last)
        if length == 0 or size == 0:  # no byte to give
            raise _unsatisfiable(size)
        return max(0, size - length), size - 1
    start = int(first)
    end = size - 1 if not last else min(int(last), size - 1)
    if last and int(last) < start:
        return None  # syntactically invalid: ignored
    if start >= size:
        raise _unsatisfiable(size)
    return start, end


def _unsatisfiable(size: int) -> ApiError:
    return ApiError(416, "range not satisfiable", (("content-range", f"bytes */{size}"),))
