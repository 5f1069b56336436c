"""What every Doover model shares: the response base class, and hooks for plain classes.

Response models are ``msgspec.Struct`` subclasses of :class:`Model`. They are decoded in
msgspec's lax mode (``strict=False``, see :mod:`pydoover_anyio.models._decode` for why),
which is what turns snowflake ids sent as JSON strings into exact ``int``.

Argument models (``Condition``, ``BatchMutationItem``, ``Notification``, ...) are plain
classes with pydoover's constructors, so they coerce and validate their arguments exactly
like pydoover. Those that also appear inside responses register a decoder here
(:func:`register_decoder`); :func:`dec_hook` hands them the JSON value msgspec decoded.
Plain classes are JSON-encoded through their ``to_dict()`` (:func:`enc_hook`), so putting one
in a request body can never send msgspec's field-by-field rendering by mistake.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Self

import msgspec

from pydoover_anyio.snowflake import ms_to_datetime

__all__ = [
    "REQUIRED",
    "Id",
    "OptionalMsDatetime",
    "Model",
    "PlainModel",
    "ValueObject",
    "dec_hook",
    "enc_hook",
    "ms_to_optional_datetime",
    "register_decoder",
    "coerce_ids",
    "to_builtin",
]

#: A snowflake id: a non-negative int (sent as a JSON string or number).
Id = Annotated[int, msgspec.Meta(ge=0)]

#: Default of required fields that follow optional ones (pydoover's argument order); the
#: model's ``__post_init__`` refuses it.
REQUIRED: Any = msgspec.UNSET

if TYPE_CHECKING:
    OptionalMsDatetime = datetime | None
else:  # on the wire: Unix milliseconds (the server sends ints; to_dict() writes a float,
    # as pydoover does, so that is read back too); __post_init__ makes it a datetime
    OptionalMsDatetime = int | float | None


def ms_to_optional_datetime(value: datetime | float | None) -> datetime | None:
    """The aware UTC datetime of Unix milliseconds; a datetime or ``None`` passes through."""
    return ms_to_datetime(value) if isinstance(value, int | float) else value


def coerce_ids(model: msgspec.Struct, *names: str) -> None:
    """``int()`` the named fields that are not ints yet (``None`` stays ``None``).

    Decoding already turns snowflake strings into ints; this covers models built by hand
    with string ids, which pydoover's constructors accept. Models decoded in bulk test
    ``type(value) is not int`` before calling it, which keeps decoding fast.

    Raises:
        ValueError: a value is not an integer.
    """
    for name in names:
        value = getattr(model, name)
        if value is not None and type(value) is not int:
            setattr(model, name, int(value))


_DECODERS: dict[type[Any], Callable[[Any], Any]] = {}


def register_decoder(cls: type[Any], build: Callable[[Any], Any]) -> None:
    """Let msgspec decoders build the plain class ``cls`` with ``build(json_value)``.

    Args:
        cls: A plain (non-Struct) model class.
        build: Turns the decoded JSON value into a ``cls``; raises ``ValueError`` or
            ``TypeError`` for a value of the wrong shape.
    """
    _DECODERS[cls] = build


def dec_hook(type_: type[Any], obj: Any) -> Any:
    """msgspec ``dec_hook``: build registered plain classes from their JSON value.

    Raises:
        NotImplementedError: ``type_`` is not a registered class (msgspec reports it).
    """
    build = _DECODERS.get(type_)
    if build is None:
        raise NotImplementedError(f"no decoder for {type_!r}")
    return build(obj)


def enc_hook(obj: Any) -> Any:
    """msgspec ``enc_hook``: encode plain models through their ``to_dict()``.

    Raises:
        TypeError: ``obj`` has no JSON form.
    """
    if isinstance(obj, PlainModel):
        return obj.to_dict()
    raise TypeError(f"objects of type {type(obj).__name__} cannot be sent as JSON")


def to_builtin(value: Any, *, by_name: bool = False) -> Any:
    """pydoover's ``to_dict`` rendering of one attribute value.

    Models become dicts, enums their value (their name when ``by_name``), datetimes Unix
    milliseconds as a float (as pydoover renders an aggregate's ``last_updated``).
    """
    if isinstance(value, Model | PlainModel):
        return value.to_dict()
    if isinstance(value, Enum):
        return value.name if by_name else value.value
    if isinstance(value, list):
        return [to_builtin(item) for item in value]
    if isinstance(value, dict):
        return {key: to_builtin(item) for key, item in value.items()}
    if isinstance(value, datetime):
        return value.timestamp() * 1000
    return value


#: Field values that take part in :func:`value_hash` (immutable, hashable by value).
_HASHED_SCALARS = (str, int, float, Enum, datetime, type(None))


def value_hash(model: object, values: list[Any]) -> int:
    """A model's hash, consistent with its field-by-field equality.

    pydoover's models could go in sets and be dict keys, so ours can too. The hash covers
    the type and the scalar field values (ids, names, enums, ...), never a dict or list
    field, so every model is hashable and equal models hash equal. As with any value
    hash, do not change a model's scalar fields while it is in a set or a dict key.
    """
    return hash((type(model), *[value for value in values if isinstance(value, _HASHED_SCALARS)]))


class Model(msgspec.Struct):
    """Base of the response models: ``from_dict``/``to_dict`` as in pydoover.

    Subclasses tune ``to_dict`` with class variables naming fields: ``_omit_none`` (left
    out when ``None``), ``_omit_empty`` (left out when empty or falsy) and ``_by_name``
    (enums rendered by member name).
    """

    _omit_none: ClassVar[frozenset[str]] = frozenset()
    _omit_empty: ClassVar[frozenset[str]] = frozenset()
    _by_name: ClassVar[frozenset[str]] = frozenset()

    def __hash__(self) -> int:
        """See :func:`value_hash`."""
        return value_hash(self, [getattr(self, name) for name in self.__struct_fields__])

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build the model from its JSON object (ids may be strings or ints).

        Args:
            data: The decoded JSON object.

        Returns:
            The model.

        Raises:
            msgspec.ValidationError: ``data`` does not have the model's shape (a
                ``ValueError``).
        """
        return msgspec.convert(data, cls, strict=False, dec_hook=dec_hook)

    def to_dict(self) -> dict[str, Any]:
        """The model as pydoover's ``to_dict`` renders it (ids as ints)."""
        cls = type(self)
        result: dict[str, Any] = {}
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if value is None and name in cls._omit_none:
                continue
            if not value and name in cls._omit_empty:
                continue
            result[name] = to_builtin(value, by_name=name in cls._by_name)
        return result


class ValueObject:
    """Equality and ``repr`` over ``__slots__``, for the plain (non-Struct) classes."""

    __slots__: tuple[str, ...] = ()

    def _items(self) -> tuple[tuple[str, Any], ...]:
        return tuple((name, getattr(self, name)) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, ValueObject)
        return self._items() == other._items()

    def __hash__(self) -> int:
        """See :func:`value_hash`."""
        return value_hash(self, [value for _, value in self._items()])

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self._items())
        return f"{type(self).__name__}({fields})"


class PlainModel(ValueObject):
    """Base of the argument models that have a JSON form (their ``to_dict()``)."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON object sent for this model."""
        raise NotImplementedError
