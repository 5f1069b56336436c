"""Operations on stored JSON data: merge patches, dotted paths and projections.

Rules this module enforces (spec §3.5 and the "Doover diff" of pydoover's utilities):

* A merge patch merges objects key by key, recursively; any other value replaces the
  stored one; ``null`` deletes the key. Patching a non-object with an object starts from
  an empty object.
* A ``replace`` path (dotted, e.g. ``state.children.app``) present in the patch is
  assigned as a whole instead of merged (``null`` still deletes it); a replace path the
  patch does not mention leaves the stored value alone.
* Projections keep only the requested dotted paths, nesting preserved; a path that is
  missing is left out.

Inputs are never mutated: merges copy the objects they change.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

__all__ = ["MISSING", "get_path", "merge_patch", "project"]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""Returned by :func:`get_path` for a path that is not there."""


def merge_patch(target: Any, patch: Any, replace: Collection[str] = ()) -> Any:
    """Apply a merge patch.

    Args:
        target: The stored value.
        patch: The patch.
        replace: Dotted paths assigned whole rather than merged.

    Returns:
        The patched value (a new object where anything changed).
    """
    return _merge(target, patch, "", frozenset(replace))


def _merge(target: Any, patch: Any, prefix: str, replace: frozenset[str]) -> Any:
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        path = f"{prefix}{key}"
        if value is None:
            result.pop(key, None)
        elif path in replace or not isinstance(value, dict):
            result[key] = _without_nulls(value) if path in replace else value
        else:
            result[key] = _merge(result.get(key), value, path + ".", replace)
    return result


def _without_nulls(value: Any) -> Any:
    """A replaced subtree as stored: nested ``null`` members dropped, like a fresh merge."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def get_path(data: Any, path: str) -> Any:
    """Read a dotted path.

    Returns:
        The value, or :data:`MISSING`.
    """
    node = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def project(data: Any, paths: Iterable[str]) -> Any:
    """Keep only the given dotted paths of an object (a non-object is returned as is)."""
    if not isinstance(data, dict):
        return data
    result: dict[str, Any] = {}
    for path in paths:
        value = get_path(data, path)
        if value is MISSING:
            continue
        *parents, last = path.split(".")
        node = result
        for part in parents:
            child = node.get(part)
            child = node[part] = dict(child) if isinstance(child, dict) else {}
            node = child
        node[last] = value
    return result
