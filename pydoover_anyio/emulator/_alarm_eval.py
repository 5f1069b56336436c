"""Alarm evaluation of the emulated Doover (spec §3.8, §4.3): pure functions, no I/O.

The emulator calls :func:`evaluate_alarm` for every enabled alarm of a channel each time
the channel's aggregate changes (see :meth:`DooverState.update_aggregate`); this module
only decides, the caller stores the result and publishes the ``AlarmTrigger``.

Rules this module enforces:

* Each condition gives a verdict: met, not met, or *no data*. Conditions are AND-ed:
  the target state is ``NoData`` when any data-reading condition has no data, else
  ``Alarm`` when every condition is met, else ``OK``.
* ``threshold``: ``<key> <op> value``. ``compare``: ``<key> <op> <other_key> + offset``
  (offset 0 when absent). Keys are dotted paths into the aggregate data.
* A value is *no data* when its key is missing or it cannot be compared with its
  operand: ``eq`` compares any JSON values; ``ge``/``gt``/``le``/``lt`` need two numbers
  (booleans are not numbers) or two strings; an ``offset`` needs numbers.
* ``time_of_day``: the evaluation instant's milliseconds since UTC midnight lie in
  ``[from_ms, to_ms)``; ``from_ms > to_ms`` wraps midnight and ``from_ms == to_ms`` is an
  empty window; ``invert`` means outside the window. It never lacks data.
* ``rate`` is an approximation: the average rate of change, in units per second,
  between the condition's baseline sample (``condition_state[id].baseline_value`` /
  ``baseline_ts``) and the current value, compared with ``rate_threshold``. The first
  sample only becomes the baseline (no data yet); the baseline moves to the current
  sample once ``rate_window_ms`` has passed since it. A sample at the baseline's own
  instant repeats the last verdict. The real server's windowing is not documented.
* ``alarm_pending_ms`` > 0: a target of ``Alarm`` from ``OK`` or ``NoData`` enters
  ``AlarmPending``; ``AlarmPending`` becomes ``Alarm`` at the first evaluation at least
  ``alarm_pending_ms`` after it was entered (there is no timer: something must trigger
  that evaluation - an aggregate write, or ``DooverState.evaluate_alarms``); any other
  target leaves ``AlarmPending`` at once.
* ``expiry_mins`` is stored but not evaluated (the alarm never clears by itself).
* Runtime state per condition id: ``last_verdict`` and ``last_seen_ts`` (when its keys
  were all found), plus the rate baseline; the alarm's ``last_seen_ts`` is the last
  evaluation at which some data-reading condition found its key.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ._jsondata import MISSING, get_path

__all__ = ["AlarmEvaluation", "condition_verdict", "evaluate_alarm", "next_state"]

NO_DATA: Final = "NoData"
OK: Final = "OK"
ALARM: Final = "Alarm"
PENDING: Final = "AlarmPending"
DAY_MS: Final = 86_400_000

_COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "eq": operator.eq,
    "ge": operator.ge,
    "gt": operator.gt,
    "le": operator.le,
    "lt": operator.lt,
}


@dataclass(frozen=True, slots=True)
class AlarmEvaluation:
    """What one evaluation decided.

    Attributes:
        state: The alarm's state after the evaluation.
        condition_state: The new runtime state by condition id.
        last_seen_ts: The alarm's new ``last_seen_ts`` (unchanged when no key was found).
    """

    state: str
    condition_state: dict[str, dict[str, Any]]
    last_seen_ts: int | None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compare(left: Any, op: str, right: Any) -> bool | None:
    """``left <op> right``, or ``None`` when the two cannot be compared."""
    if op == "eq":
        if _number(left) and _number(right):
            return bool(left == right)
        return type(left) is type(right) and bool(left == right)
    if (_number(left) and _number(right)) or (isinstance(left, str) and isinstance(right, str)):
        return _COMPARE[op](left, right)
    return None


def _in_window(condition: Mapping[str, Any], now_ms: int) -> bool:
    start: int = condition["from_ms"]
    end: int = condition["to_ms"]
    at = now_ms % DAY_MS
    inside = start <= at < end if start <= end else (at >= start or at < end)
    return inside != bool(condition.get("invert", False))


def condition_verdict(
    condition: Mapping[str, Any],
    data: Any,
    now_ms: int,
    previous: Mapping[str, Any] | None = None,
) -> tuple[bool | None, dict[str, Any]]:
    """Evaluate one condition.

    Args:
        condition: The condition, wire-shaped (``type``, ``id``, ``key``, ...).
        data: The channel's aggregate data.
        now_ms: The evaluation instant (Unix ms).
        previous: The condition's runtime state so far.

    Returns:
        The verdict (``None``: no data) and the condition's new runtime state.
    """
    state = dict(previous or {})
    kind = condition["type"]
    if kind == "time_of_day":
        verdict: bool | None = _in_window(condition, now_ms)
        state["last_verdict"] = verdict
        return verdict, state
    value = get_path(data, condition["key"])
    if value is MISSING:
        return None, state
    op = condition["operator"]
    if kind == "threshold":
        verdict = _compare(value, op, condition.get("value"))
    elif kind == "compare":
        other = get_path(data, condition["other_key"])
        if other is MISSING:
            return None, state
        offset = condition.get("offset")
        if offset is not None:
            other = other + offset if _number(other) else None
        verdict = None if other is None else _compare(value, op, other)
    else:
        verdict = _rate_verdict(condition, value, now_ms, state)
    state["last_seen_ts"] = now_ms
    if verdict is not None:
        state["last_verdict"] = verdict
    return verdict, state


def _rate_verdict(
    condition: Mapping[str, Any], value: Any, now_ms: int, state: dict[str, Any]
) -> bool | None:
    """The approximate rate verdict; moves the baseline in ``state`` (see the module)."""
    if not _number(value):
        return None
    base_value, base_ts = state.get("baseline_value"), state.get("baseline_ts")
    if not _number(base_value) or not isinstance(base_ts, int) or now_ms < base_ts:
        state["baseline_value"], state["baseline_ts"] = value, now_ms
        return None
    if now_ms == base_ts:
        last = state.get("last_verdict")
        return last if isinstance(last, bool) else None
    rate = (value - base_value) * 1000 / (now_ms - base_ts)
    if now_ms - base_ts >= condition["rate_window_ms"]:
        state["baseline_value"], state["baseline_ts"] = value, now_ms
    return _COMPARE[condition["operator"]](rate, condition["rate_threshold"])


def next_state(
    current: str, entered_ms: int, target: str, pending_ms: int | None, now_ms: int
) -> str:
    """The alarm's next state, applying the ``alarm_pending_ms`` debounce.

    Args:
        current: Its state now.
        entered_ms: When it entered ``current`` (Unix ms).
        target: What the conditions say (``NoData``, ``OK`` or ``Alarm``).
        pending_ms: ``alarm_pending_ms`` (``None`` or 0: no debounce).
        now_ms: The evaluation instant.
    """
    if target != ALARM or not pending_ms:
        return target
    if current == ALARM:
        return ALARM
    if current == PENDING:
        return ALARM if now_ms - entered_ms >= pending_ms else PENDING
    return PENDING


def evaluate_alarm(alarm: Mapping[str, Any], data: Any, now_ms: int) -> AlarmEvaluation:
    """Evaluate a stored alarm against its channel's aggregate data.

    Args:
        alarm: The stored alarm (``conditions``, ``state``, ``entered_state_ts``,
            ``alarm_pending_ms``, ``condition_state``, ``last_seen_ts``).
        data: The aggregate data.
        now_ms: The evaluation instant (Unix ms).

    Returns:
        The new state and runtime state; the caller stores them.
    """
    previous: Mapping[str, Any] = alarm.get("condition_state") or {}
    states: dict[str, dict[str, Any]] = {}
    verdicts: list[bool | None] = []
    seen = False
    for condition in alarm["conditions"]:
        verdict, state = condition_verdict(condition, data, now_ms, previous.get(condition["id"]))
        states[condition["id"]] = state
        verdicts.append(verdict)
        if condition["type"] != "time_of_day":
            seen = seen or get_path(data, condition["key"]) is not MISSING
    if any(verdict is None for verdict in verdicts):
        target = NO_DATA
    elif all(verdicts):
        target = ALARM
    else:
        target = OK
    state_now = next_state(
        alarm["state"], alarm["entered_state_ts"], target, alarm.get("alarm_pending_ms"), now_ms
    )
    return AlarmEvaluation(state_now, states, now_ms if seen else alarm.get("last_seen_ts"))
