"""0.9.2's silent coercions, for answers that fail the exact decode (spec §3).

0.9.2 built each model with per-field converters, so some values of the wrong type went
through; :func:`relaxed` applies the same coercions to the plain JSON so that a second
decode accepts them. Both the clients' decoders and ``datatypes.form`` use it, and only
after the exact decode failed, so a well-formed answer costs nothing.
"""

from __future__ import annotations

import enum
import math
import typing
from typing import Any, Final

import msgspec

__all__ = ["relaxed"]

#: Texts a ``bool`` field takes for what they say (0.9.2 truth-tested text: "false" was True).
_BOOL_TEXTS: Final = {"true": True, "false": False, "1": True, "0": False}
#: Text fields 0.9.2 type-checked (str or null only) instead of converting (spec §3).
_STRICT_TEXT: Final = frozenset({"board_name", "image", "model"})
#: Int fields read as enums: a float there is taken only when it is a whole number.
_ENUM_NUMBERS: Final = frozenset({"icon", "mode"})
_NONE_TYPE: Final = type(None)


def relaxed(value: Any, kind: Any, name: str = "") -> Any:
    """``value`` (plain JSON) with 0.9.2's silent coercions applied for type ``kind``.

    - A number, bool, object or list in a text field becomes its text (Python's
      ``str()``, as 0.9.2 gave: ``"{'a': 1}"``), and so does ``null`` where the field may
      not be ``null`` (``"None"``); not in the strict ``model``, ``board_name`` and
      ``image``.
    - A float in an int field is truncated (``58.9``: 58), in a list (``profiles``) too;
      only a whole one is read as an enum (``icon``, ``mode``, ``method``: ``3.0`` is 3).
    - A bool in a number field is its number (``True``: 1), as ``int()`` and ``float()``
      made it.
    - A ``bool`` field takes the truth of a number, of ``null`` where it may not be
      ``null``, and of text (``"true"``/``"false"``/``"1"``/``"0"`` mean what they say).
    - An enum member becomes its value.

    Nothing else changes: ``null`` for a number or a nested object, or a number for a
    datetime, are still refused. ``name`` is the field's wire name.
    """
    # The types a value may take: a union's members, else the type itself.
    options = (kind,) if typing.get_origin(kind) is list else typing.get_args(kind) or (kind,)
    text = str in options and set(options) <= {str, _NONE_TYPE} and name not in _STRICT_TEXT
    if text and isinstance(value, list | dict):
        return str(value)
    if isinstance(value, list):
        for option in options:
            if typing.get_origin(option) is list:
                (item,) = typing.get_args(option)
                return [relaxed(element, item, name) for element in value]
        return value
    if isinstance(value, dict):
        for option in options:
            if isinstance(option, type) and issubclass(option, msgspec.Struct):
                return _relaxed_object(value, option)
        return value
    if isinstance(value, enum.Enum):  # a member where its wire value goes (form() input)
        return value.value
    nullable = _NONE_TYPE in options
    if text:
        if type(value) in (int, float, bool) or (value is None and not nullable):
            return str(value)
    elif bool in options:
        if type(value) in (int, float) or (value is None and not nullable):
            return bool(value)
        if isinstance(value, str):
            return _BOOL_TEXTS.get(value.lower(), bool(value))
    elif type(value) is bool and (int in options or float in options):
        return int(value) if int in options else float(value)
    elif type(value) is float and float not in options and math.isfinite(value):
        truncated = int in options and name not in _ENUM_NUMBERS  # enums: whole ones only
        if truncated or (value.is_integer() and _takes_ints(options)):
            return int(value)
    return value


def _takes_ints(options: tuple[Any, ...]) -> bool:
    """Whether one of ``options`` is ``int`` or an enum of int values."""
    return any(
        option is int
        or (
            isinstance(option, type)
            and issubclass(option, enum.Enum)
            and all(type(member.value) is int for member in option)
        )
        for option in options
    )


def _relaxed_object(value: dict[str, Any], kind: type[msgspec.Struct]) -> dict[str, Any]:
    """A JSON object for model ``kind`` with :func:`relaxed` applied to each field."""
    relaxed_value = dict(value)
    for field in msgspec.structs.fields(kind):
        name = field.encode_name
        if name in relaxed_value:
            relaxed_value[name] = relaxed(relaxed_value[name], field.type, name)
    return relaxed_value
