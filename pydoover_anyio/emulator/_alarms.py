"""Alarm bodies of the emulated Doover: validation, create/replace, PATCH (spec §3.8, §4.3).

Stored alarms are plain dicts; these functions build, patch and encode them and raise
a 400 :class:`ApiError` for any body the server would refuse. A new alarm is in state
``NoData``; it changes state when its channel's aggregate changes (evaluated by
:mod:`._alarm_eval`, driven by :class:`DooverState`), not when the alarm is written.

Rules this module enforces:

* A create/replace body names ``conditions`` **or** the legacy ``key`` + ``operator``
  (+ ``value``, or + ``rate_threshold`` and ``rate_window_ms`` for a rate alarm) - never
  both, never neither. At least one condition must read data (not only time windows).
* Conditions are validated per type; a condition without ``id`` is new and gets the
  first ``c<n>`` not used by the set it replaces. Replacing the set keeps the runtime
  state of the ids sent back.
* PATCH: an omitted key is unchanged; ``null`` clears ``value``, ``expiry_mins``,
  ``alarm_pending_ms``, ``rate_threshold``, ``rate_window_ms`` and ``messages``.
  Legacy fields edit the primary condition: ``value: null`` + both rate fields turns a
  threshold into a rate condition, both rate fields ``null`` + a ``value`` turns it back.
  ``messages`` merges state by state and field by field.
* ``key``/``operator``/``value`` and the legacy rate fields in a response describe the
  primary condition: the first threshold, else the first rate, else the first compare.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._http import ApiError

__all__ = ["alarm_wire", "build_alarm", "patch_alarm"]

_OPERATORS = {"eq": "==", "ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
_TYPES = ("threshold", "rate", "compare", "time_of_day")
_POLICIES = ("default", "opt-in")
_MESSAGE_STATES = ("alarm", "ok", "pending", "no_data")
_LEGACY = ("key", "operator", "value", "rate_threshold", "rate_window_ms")
_DAY_MS = 86_400_000


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ApiError(400, message)


def _condition(raw: Any) -> dict[str, Any]:
    """Validate one condition; return it in wire form (``id`` may still be missing)."""
    _require(isinstance(raw, dict), "each condition must be an object")
    kind = raw.get("type")
    _require(kind in _TYPES, f"condition type must be one of {', '.join(_TYPES)}")
    condition: dict[str, Any] = {"type": kind}
    if raw.get("id") is not None:
        _require(isinstance(raw["id"], str) and bool(raw["id"]), "condition id must be a string")
        condition["id"] = raw["id"]
    if kind == "time_of_day":
        for field in ("from_ms", "to_ms"):
            value = raw.get(field)
            _require(
                isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _DAY_MS,
                f"{field} must be milliseconds since UTC midnight",
            )
            condition[field] = value
        _require(isinstance(raw.get("invert", False), bool), "invert must be a boolean")
        if raw.get("invert"):
            condition["invert"] = True
        return condition
    operator, key = raw.get("operator"), raw.get("key")
    _require(operator in _OPERATORS, f"operator must be one of {', '.join(_OPERATORS)}")
    _require(isinstance(key, str) and bool(key), "a condition needs a key")
    condition.update(operator=operator, key=key)
    if kind == "threshold":
        condition["value"] = raw.get("value")
    elif kind == "rate":
        _require(operator != "eq", "a rate condition cannot use eq")
        _require(_number(raw.get("rate_threshold")), "rate_threshold must be a number")
        window = raw.get("rate_window_ms")
        _require(
            isinstance(window, int) and not isinstance(window, bool) and window > 0,
            "rate_window_ms must be a positive integer",
        )
        condition.update(rate_threshold=raw["rate_threshold"], rate_window_ms=window)
    else:
        other = raw.get("other_key")
        _require(isinstance(other, str) and bool(other), "a compare condition needs other_key")
        condition["other_key"] = other
        if raw.get("offset") is not None:
            _require(_number(raw["offset"]), "offset must be a number")
            condition["offset"] = raw["offset"]
    return condition


def _condition_set(raw: Any, reserved: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Validate a whole condition set and give new conditions ids.

    Args:
        raw: The ``conditions`` value of a body.
        reserved: Ids a new condition must not get (those of the conditions it replaces),
            so that it never inherits another condition's runtime state.
    """
    _require(isinstance(raw, list) and bool(raw), "conditions must be a non-empty list")
    conditions = [_condition(item) for item in raw]
    _require(
        any(c["type"] != "time_of_day" for c in conditions),
        "at least one condition must read data",
    )
    taken = [c["id"] for c in conditions if "id" in c]
    _require(len(taken) == len(set(taken)), "condition ids must be unique")
    used, number = {*taken, *reserved}, 0
    for condition in conditions:
        if "id" not in condition:
            number += 1
            while f"c{number}" in used:
                number += 1
            condition["id"] = f"c{number}"
            used.add(condition["id"])
    return [{"type": c.pop("type"), "id": c.pop("id"), **c} for c in conditions]


def _legacy_conditions(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The single condition the legacy ``key``/``operator``/... fields describe."""
    rate = body.get("rate_threshold") is not None or body.get("rate_window_ms") is not None
    raw = {field: body.get(field) for field in _LEGACY}
    raw["type"] = "rate" if rate else "threshold"
    if rate:
        _require(body.get("value") is None, "a rate alarm takes no value")
    return _condition_set([raw])


def _primary(conditions: list[dict[str, Any]]) -> dict[str, Any] | None:
    for kind in ("threshold", "rate", "compare"):
        for condition in conditions:
            if condition["type"] == kind:
                return condition
    return None


def _messages(raw: Any, stored: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Validate ``messages`` and merge it into the stored overrides."""
    if raw is None:
        return None
    _require(isinstance(raw, dict), "messages must be an object")
    merged = {state: dict(value) for state, value in (stored or {}).items()}
    for state, value in raw.items():
        _require(state in _MESSAGE_STATES, f"messages keys are {', '.join(_MESSAGE_STATES)}")
        if value is None:
            merged.pop(state, None)
            continue
        _require(isinstance(value, dict), f"messages.{state} must be an object")
        entry = merged.setdefault(state, {"notify": True})
        if "notify" in value:
            _require(isinstance(value["notify"], bool), "notify must be a boolean")
            entry["notify"] = value["notify"]
        if "text" in value:
            _require(value["text"] is None or isinstance(value["text"], str), "text: a string")
            if value["text"] is None:
                entry.pop("text", None)
            else:
                entry["text"] = value["text"]
    return merged


def _settings(body: dict[str, Any], alarm: dict[str, Any]) -> None:
    """Apply the plain (non-condition) fields present in ``body`` to ``alarm``."""
    checks: dict[str, tuple[Any, str]] = {
        "name": (lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
        "description": (lambda v: isinstance(v, str), "a string"),
        "enabled": (lambda v: isinstance(v, bool), "a boolean"),
        "topic_name": (lambda v: isinstance(v, str), "a string"),
        "notification_policy": (lambda v: v in _POLICIES, "default or opt-in"),
        "expiry_mins": (lambda v: v is None or (_number(v) and v > 0), "a positive number"),
        "alarm_pending_ms": (
            lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0),
            "a non-negative integer",
        ),
    }
    for field, (check, wanted) in checks.items():
        if field in body:
            _require(check(body[field]), f"{field} must be {wanted}")
            alarm[field] = body[field]
    if "messages" in body:
        alarm["messages"] = _messages(body["messages"], alarm.get("messages"))


def build_alarm(
    alarm_id: int,
    channel_name: str,
    body: dict[str, Any],
    now_ms: int,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build a stored alarm from a create (POST) or replace (PUT) body.

    Args:
        alarm_id: Its id.
        channel_name: Its channel.
        body: The request body.
        now_ms: The current time (Unix ms), the new alarm's ``entered_state_ts``.
        previous: The alarm being replaced, whose runtime state carries over.

    Returns:
        The stored alarm.
    """
    _require("name" in body, "name is required")
    has_legacy = any(body.get(field) is not None for field in ("key", "operator"))
    if "conditions" in body and body["conditions"] is not None:
        _require(
            not any(body.get(field) is not None for field in _LEGACY),
            "give either conditions or key/operator/value, not both",
        )
        conditions = _condition_set(body["conditions"], _ids_of(previous))
    else:
        _require(has_legacy, "give conditions, or key and operator")
        conditions = _legacy_conditions(body)
    alarm: dict[str, Any] = {
        "id": alarm_id,
        "channel_name": channel_name,
        "description": "",
        "enabled": True,
        "topic_name": "",
        "notification_policy": "default",
        "expiry_mins": None,
        "alarm_pending_ms": None,
        "messages": None,
        "conditions": conditions,
        "state": "NoData",
        "entered_state_ts": now_ms,
        "last_seen_ts": None,
        "condition_state": {},
    }
    if previous is not None:
        for field in ("state", "entered_state_ts", "last_seen_ts"):
            alarm[field] = previous[field]
        alarm["condition_state"] = _kept_state(previous, conditions)
    _settings(body, alarm)
    return alarm


def patch_alarm(stored: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Apply a PATCH body to a stored alarm; return the new stored alarm."""
    alarm = dict(stored)
    legacy = {field: body[field] for field in _LEGACY if field in body}
    if "conditions" in body and body["conditions"] is not None:
        _require(not legacy, "give either conditions or key/operator/value, not both")
        alarm["conditions"] = _condition_set(body["conditions"], _ids_of(stored))
        alarm["condition_state"] = _kept_state(stored, alarm["conditions"])
    elif legacy:
        alarm["conditions"] = _patch_primary(stored["conditions"], legacy)
    _settings(body, alarm)
    return alarm


def _ids_of(alarm: dict[str, Any] | None) -> set[str]:
    if alarm is None:
        return set()
    return {c["id"] for c in alarm["conditions"]} | set(alarm["condition_state"])


def _kept_state(previous: dict[str, Any], conditions: list[dict[str, Any]]) -> dict[str, Any]:
    ids = {condition["id"] for condition in conditions}
    return {key: value for key, value in previous["condition_state"].items() if key in ids}


def _patch_primary(
    conditions: list[dict[str, Any]], legacy: dict[str, Any]
) -> list[dict[str, Any]]:
    """Edit the primary condition from legacy PATCH fields."""
    primary = _primary(conditions)
    if primary is None:
        raise ApiError(400, "the alarm has no primary condition to edit")
    raw = dict(primary)
    for field in ("key", "operator"):
        if legacy.get(field) is not None:
            raw[field] = legacy[field]
    rate_fields = [f for f in ("rate_threshold", "rate_window_ms") if f in legacy]
    rate_values = [legacy[f] for f in rate_fields]
    if raw["type"] == "threshold" and rate_fields:
        if len(rate_fields) == 2 and None not in rate_values:
            _require(legacy.get("value") is None, "send value: null to make a rate alarm")
            raw = {k: v for k, v in raw.items() if k != "value"}
            raw.update(type="rate", rate_threshold=rate_values[0], rate_window_ms=rate_values[1])
        else:
            _require(rate_values == [None] * len(rate_values), "send both rate fields")
    elif raw["type"] == "rate" and rate_fields:
        if len(rate_fields) == 2 and rate_values == [None, None]:
            _require("value" in legacy, "send a value to make a threshold alarm")
            raw = {k: v for k, v in raw.items() if k not in ("rate_threshold", "rate_window_ms")}
            raw["type"] = "threshold"
        else:
            _require(None not in rate_values, "send both rate fields as null to drop the rate")
            raw.update(dict(zip(rate_fields, rate_values, strict=True)))
    if "value" in legacy:
        if raw["type"] == "threshold":
            raw["value"] = legacy["value"]
        else:
            _require(legacy["value"] is None, f"a {raw['type']} condition takes no value")
    edited = _condition(raw)
    return [edited if c is primary else c for c in conditions]


def _summary(conditions: list[dict[str, Any]]) -> str:
    parts = []
    for c in conditions:
        if c["type"] == "time_of_day":
            span = f"{_clock(c['from_ms'])} and {_clock(c['to_ms'])} UTC"
            parts.append(("outside " if c.get("invert") else "between ") + span)
            continue
        symbol = _OPERATORS[c["operator"]]
        if c["type"] == "threshold":
            parts.append(f"{c['key']} {symbol} {c['value']}")
        elif c["type"] == "rate":
            window = c["rate_window_ms"]
            parts.append(f"rate of {c['key']} {symbol} {c['rate_threshold']}/s over {window} ms")
        else:
            offset = f" + {c['offset']}" if c.get("offset") is not None else ""
            parts.append(f"{c['key']} {symbol} {c['other_key']}{offset}")
    return " and ".join(parts)


def _clock(ms: int) -> str:
    minutes = ms // 60_000
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


def alarm_wire(alarm: dict[str, Any]) -> dict[str, Any]:
    """The Alarm object of a stored alarm."""
    conditions = alarm["conditions"]
    primary = _primary(conditions) or {}
    rate = primary.get("type") == "rate"
    baseline = alarm["condition_state"].get(primary.get("id"), {}) if rate else {}
    return {
        "id": str(alarm["id"]),
        "name": alarm["name"],
        "description": alarm["description"],
        "enabled": alarm["enabled"],
        "key": primary.get("key"),
        "operator": primary.get("operator"),
        "value": primary.get("value"),
        "state": alarm["state"],
        "entered_state_ts": alarm["entered_state_ts"],
        "conditions": conditions,
        "condition_state": alarm["condition_state"],
        "condition_summary": _summary(conditions),
        "expiry_mins": alarm["expiry_mins"],
        "topic_name": alarm["topic_name"],
        "notification_policy": alarm["notification_policy"],
        "channel_name": alarm["channel_name"],
        "last_seen_ts": alarm["last_seen_ts"],
        "alarm_pending_ms": alarm["alarm_pending_ms"],
        "messages": alarm["messages"],
        "rate_threshold": primary.get("rate_threshold") if rate else None,
        "rate_window_ms": primary.get("rate_window_ms") if rate else None,
        "rate_baseline_value": baseline.get("baseline_value") if rate else None,
        "rate_baseline_ts": baseline.get("baseline_ts") if rate else None,
    }
