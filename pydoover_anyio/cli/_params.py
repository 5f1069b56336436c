"""Argument types the commands share: each refuses a bad value as a usage error (exit 2)."""

from __future__ import annotations

import math
from typing import Any, Final

import click

from .._wire import channel_segment

__all__ = ["CHANNEL", "SECONDS"]


class _ChannelName(click.ParamType[str]):
    """A channel name that can be part of a URL (not ``""``, ``"."`` or ``".."``)."""

    name = "channel"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            channel_segment(value)
        except (TypeError, ValueError) as exc:
            self.fail(str(exc), param, ctx)
        return str(value)


class _Seconds(click.ParamType[float]):
    """A finite, non-negative number of seconds (``nan`` and ``inf`` are refused)."""

    name = "seconds"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or seconds < 0:
            self.fail(f"{value!r} is not a finite number of seconds >= 0", param, ctx)
        return seconds


CHANNEL: Final = _ChannelName()
SECONDS: Final = _Seconds()
