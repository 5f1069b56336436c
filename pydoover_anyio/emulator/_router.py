"""Path routing for the emulator: a segment trie with ``{name}`` parameters.

Rules this module enforces:

* Paths are matched segment by segment after percent-decoding each segment on its own,
  so a channel name containing ``/`` (sent as ``%2F``) stays one segment.
* A literal segment wins over a parameter (``messages/timeseries`` is not message
  ``timeseries``), with backtracking when the literal branch leads nowhere.
* A parameter never matches an empty segment.
* A path that matches but not for the method is reported with the allowed methods
  (the app answers 405); a path that matches nothing is a 404.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._http import Request, Response
    from ._state import DooverState

__all__ = ["Handler", "Route", "Router"]

Handler = Callable[["DooverState", "Request"], "Response"]
"""A route handler: synchronous, called with the state lock held."""


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint.

    Attributes:
        method: The HTTP method.
        pattern: The path below the mount point, e.g. ``/agents/{agent_id}/channels``.
        handler: The function serving it.
        public: Whether it is served without a bearer token.
    """

    method: str
    pattern: str
    handler: Handler
    public: bool = False


@dataclass(slots=True)
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    param: tuple[str, _Node] | None = None
    methods: dict[str, Route] = field(default_factory=dict)


class Router:
    """Matches decoded path segments to routes.

    Args:
        routes: The routes to serve.

    Raises:
        ValueError: Two routes for the same method and pattern, or two parameter names
            at the same position.
    """

    def __init__(self, routes: Iterable[Route]) -> None:
        self._root = _Node()
        for route in routes:
            self._add(route)

    def _add(self, route: Route) -> None:
        node = self._root
        for segment in route.pattern.strip("/").split("/"):
            if segment.startswith("{") and segment.endswith("}"):
                name = segment[1:-1]
                if node.param is None:
                    node.param = (name, _Node())
                elif node.param[0] != name:
                    raise ValueError(f"conflicting parameter names at {route.pattern}")
                node = node.param[1]
            else:
                node = node.literals.setdefault(segment, _Node())
        if route.method in node.methods:
            raise ValueError(f"duplicate route {route.method} {route.pattern}")
        node.methods[route.method] = route

    def match(self, segments: list[str]) -> tuple[dict[str, Route], dict[str, str]] | None:
        """Find the routes of a path.

        Args:
            segments: The decoded path segments.

        Returns:
            The routes by method and the captured parameters, or ``None``.
        """
        params: dict[str, str] = {}
        node = _walk(self._root, segments, 0, params)
        return None if node is None else (node.methods, params)


def _walk(node: _Node, segments: list[str], index: int, params: dict[str, str]) -> _Node | None:
    if index == len(segments):
        return node if node.methods else None
    segment = segments[index]
    child = node.literals.get(segment)
    if child is not None:
        found = _walk(child, segments, index + 1, params)
        if found is not None:
            return found
    if node.param is not None and segment:
        name, child = node.param
        params[name] = segment
        found = _walk(child, segments, index + 1, params)
        if found is not None:
            return found
        del params[name]
    return None
