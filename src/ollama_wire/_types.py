"""Request and response value types: dict-backed, attribute and item access, unknown fields kept.

Every object wraps the JSON dict it was built from, so building one per streamed chunk costs one
allocation. A nested object or list is converted the first time it is read and stored in place
of its JSON, so it is the same object on the next read and changes to it stick
(``r.models.sort(...)``, ``r.message.tool_calls.append(...)``), as in the SDK. Objects you build
copy the dicts and lists you pass, as pydantic does.

Two ways back to plain data:

- ``to_dict()``: the JSON as Ollama sent it: its keys (``model_info``), absent fields left out,
  timestamps as sent (nanoseconds kept), unknown fields kept.
- ``model_dump(...)``, ``model_dump_json(...)``: the official SDK's pydantic shape: every declared
  field (None when absent), field names unless ``by_alias=True``, datetimes in ``mode="python"``,
  and pydantic's ``include``, ``exclude``, ``exclude_none``... arguments. Unknown fields follow the
  declared ones, as with pydantic's ``extra="allow"`` (the SDK drops them: we keep what the
  server sent). In ``mode="json"`` a timestamp is the server's text.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeAlias, TypeVar, overload

from ollama_wire._errors import RequestError

__all__ = [
    "ByteSize",
    "ChatResponse",
    "EmbedResponse",
    "EmbeddingsResponse",
    "FieldInfo",
    "GenerateResponse",
    "Image",
    "IncEx",
    "ListResponse",
    "Logprob",
    "Message",
    "ModelDetails",
    "Options",
    "ProcessResponse",
    "ProgressResponse",
    "ShowResponse",
    "StatusResponse",
    "SubscriptableBaseModel",
    "TokenLogprob",
    "Tool",
    "VersionResponse",
    "WebFetchResponse",
    "WebSearchResponse",
    "parse_datetime",
]

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_options: Any) -> Callable[[type], type]:
        return lambda cls: cls


_T = TypeVar("_T", bound="SubscriptableBaseModel")
_Parsed = TypeVar("_Parsed")
_Wrap = Callable[[Any], Any]
_MISSING = object()

#: pydantic's ``include=`` / ``exclude=``: a set of field names, or a dict of them to nested specs
#: (``True`` for the whole field; list items by index or ``"__all__"``).
IncEx: TypeAlias = "AbstractSet[int] | AbstractSet[str] | Mapping[int, Any] | Mapping[str, Any]"

_DATETIME = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)?$", re.IGNORECASE
)


def parse_datetime(value: Any) -> Any:
    """Parse an RFC 3339 timestamp with 0 to 9 fractional digits; leave anything else as is."""
    if not isinstance(value, str):
        return value
    match = _DATETIME.match(value)
    if match is None:
        return value
    stamp, fraction, zone = match.groups()
    result = datetime.fromisoformat(stamp)
    if fraction:
        result = result.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    if zone:
        if zone.upper() == "Z":
            result = result.replace(tzinfo=timezone.utc)
        else:
            sign = 1 if zone[0] == "+" else -1
            offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
            result = result.replace(tzinfo=timezone(sign * offset))
    return result


_BYTE_UNITS: dict[str, float] = {
    "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15, "eb": 10**18,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50, "eib": 2**60,
    "bit": 1 / 8, "kbit": 10**3 / 8, "mbit": 10**6 / 8, "gbit": 10**9 / 8, "tbit": 10**12 / 8,
    "pbit": 10**15 / 8, "ebit": 10**18 / 8, "kibit": 2**10 / 8, "mibit": 2**20 / 8,
    "gibit": 2**30 / 8, "tibit": 2**40 / 8, "pibit": 2**50 / 8, "eibit": 2**60 / 8,
}
# pydantic also reads a bare first letter as the decimal unit ("k" is "kb").
_BYTE_UNITS.update({unit[0]: size for unit, size in list(_BYTE_UNITS.items()) if "i" not in unit})


class ByteSize(int):
    """A number of bytes, as pydantic's ``ByteSize`` (the SDK's type for model sizes)::

        size.human_readable()              # '1.9GiB'
        size.human_readable(decimal=True)  # '2.0GB'
        size.to("MB")                      # 2019.393189
    """

    __slots__ = ()

    def human_readable(self, decimal: bool = False, separator: str = "") -> str:
        """Return the size in binary units (``'1.5KiB'``), or decimal ones with ``decimal=True``."""
        divisor = 1000 if decimal else 1024
        units = ("B", "KB", "MB", "GB", "TB", "PB", "EB") if decimal else (
            "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
        num = float(self)
        for unit in units[:-1]:
            if abs(num) < divisor:
                return f"{num:0.0f}{separator}B" if unit == "B" else f"{num:0.1f}{separator}{unit}"
            num /= divisor
        return f"{num:0.1f}{separator}{units[-1]}"

    def to(self, unit: str) -> float:
        """Return the size in ``unit``: B, KB ... EB, KiB ... EiB, or bits (bit, kbit, kibit...)."""
        try:
            return self / _BYTE_UNITS[unit.lower()]
        except KeyError:
            raise ValueError(
                f"unknown byte unit {unit!r}: use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB or bit"
            ) from None


def _byte_size(value: Any) -> Any:
    return ByteSize(value) if type(value) is int else value


def _to_json(value: Any) -> Any:
    if isinstance(value, SubscriptableBaseModel):
        return _to_json(value._data)
    if isinstance(value, Mapping):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _copy(value: Any) -> Any:
    """Copy the dicts and lists of a value, so an object never shares them with its caller."""
    if type(value) is dict:
        return {k: _copy(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy(v) for v in value]
    return value


def _each(wrap: _Wrap) -> _Wrap:
    """Convert a list of JSON objects into a new list once; a converted list is returned as is.

    A list whose first item is already converted counts as converted, so a dict appended later
    stays a dict, as an item appended to a pydantic model's list stays what it was.
    """

    def wrap_list(value: Any) -> Any:
        if type(value) is list and value and type(value[0]) is dict:
            return [wrap(v) for v in value]
        return value

    return wrap_list


def _each_value(wrap: _Wrap) -> _Wrap:
    """Convert the values of a dict of JSON objects, as ``_each`` does for a list."""

    def wrap_map(value: Any) -> Any:
        if type(value) is dict and value and type(next(iter(value.values()))) is dict:
            return {k: wrap(v) for k, v in value.items()}
        return value

    return wrap_map


def _read(obj: SubscriptableBaseModel, key: str, value: Any) -> Any:
    """Return a present field's value for reading, converting it (see ``_Field``)."""
    wrap = obj._nested.get(key)
    return value if wrap is None else _convert(obj._data, key, value, wrap)


def _convert(data: dict[str, Any], key: str, value: Any, wrap: _Wrap) -> Any:
    """Convert a nested value; a converted dict or list replaces its JSON in ``data``."""
    converted = wrap(value)
    if converted is not value and (type(value) is dict or type(value) is list):
        data[key] = converted
    return converted


class _Field:
    """A declared field: reads the JSON key, converting nested values; absent reads as None.

    A converted dict or list replaces its JSON in ``_data``, so it is converted once and changes
    to it persist. Timestamps and byte sizes are converted on every read instead: they are
    immutable, and keeping the server's text lets ``to_dict()`` return it unchanged.
    """

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def __get__(self, obj: Any, owner: Any) -> Any:
        if obj is None:
            return self
        data = obj._data
        value = data.get(self.key)
        if value is None:
            return None
        wrap = owner._nested.get(self.key)  # inlined `_read`: the per-chunk path
        return value if wrap is None else _convert(data, self.key, value, wrap)


class FieldInfo:
    """A declared field as ``Model.model_fields`` lists it; ``annotation`` is the hint's text."""

    __slots__ = ("alias", "annotation", "default")

    def __init__(self, annotation: str, default: Any = None, alias: str | None = None) -> None:
        self.annotation = annotation
        self.default = default
        self.alias = alias

    def __repr__(self) -> str:
        alias = f", alias={self.alias!r}" if self.alias else ""
        return f"FieldInfo(annotation={self.annotation}, default={self.default!r}{alias})"


class _ModelFields:
    """``Model.model_fields``: the declared fields by name, built when first read."""

    def __get__(self, obj: Any, owner: type[SubscriptableBaseModel]) -> dict[str, FieldInfo]:
        fields: dict[str, FieldInfo] | None = owner.__dict__.get("_model_fields")
        if fields is None:
            hints: dict[str, Any] = {}
            for klass in reversed(owner.__mro__):
                hints.update(vars(klass).get("__annotations__", {}))
            fields = {
                name: FieldInfo(str(hints[name]), owner._defaults.get(name),
                                key if key != name else None)
                for name, key in owner._fields
            }
            owner._model_fields = fields
        return fields


# Type checkers make each subclass's ``__init__`` from its fields, keyword-only, as they do for
# the SDK's pydantic models: ``Message(role="user", contents="x")`` is an error.
@dataclass_transform(kw_only_default=True)
class SubscriptableBaseModel:
    """A JSON object with attribute access, item access, ``get``, ``in`` and ``to_dict``.

    Fields the class does not know are kept and readable both ways; a known field that is
    absent reads as ``None`` (``r.thinking``) but ``r["thinking"]`` raises ``KeyError``.
    The pydantic methods the SDK's models have work too: ``model_dump``, ``model_dump_json``,
    ``model_copy``, ``model_validate``, ``model_fields``; ``dict(r)`` has every declared field.
    Type checkers see the declared fields only (read an unknown one as ``r["field"]``) and
    check each class's keyword arguments, as they do for the SDK's models.
    """

    if not TYPE_CHECKING:
        # Hidden from mypy, which would reject setting a field: a field is a descriptor on
        # the class, not an attribute that ``__slots__`` lacks.
        __slots__ = ("_data",)
    _data: dict[str, Any]

    #: Nested fields converted on access: JSON key -> converter.
    _nested: ClassVar[dict[str, _Wrap]] = {}
    #: Attribute names that differ from the JSON key: attribute -> key.
    _aliases: ClassVar[dict[str, str]] = {}
    #: Defaults other than None (the SDK's), for ``model_dump``.
    _defaults: ClassVar[dict[str, Any]] = {}
    #: Declared fields the SDK's model lacks: dumped and iterated only when present, as unknown
    #: fields are, so a dump of what the SDK knows has the SDK's keys.
    _added: ClassVar[frozenset[str]] = frozenset()
    #: Declared fields in pydantic's order, base classes first: (name, JSON key).
    _fields: ClassVar[tuple[tuple[str, str], ...]] = ()
    _known: ClassVar[frozenset[str]] = frozenset()
    _keys: ClassVar[frozenset[str]] = frozenset()
    _model_fields: ClassVar[dict[str, FieldInfo] | None] = None

    model_fields: ClassVar[_ModelFields] = _ModelFields()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, str] = {}
        defaults = dict(cls._defaults)
        for klass in reversed(cls.__mro__):
            for name, annotation in vars(klass).get("__annotations__", {}).items():
                if not name.startswith("_") and not str(annotation).startswith("ClassVar"):
                    fields[name] = cls._aliases.get(name, name)
                    if klass is cls:
                        # The class body's value is the field's default (``= None`` mostly,
                        # which tells type checkers that the argument may be left out).
                        if vars(cls).get(name) is not None:
                            defaults[name] = vars(cls)[name]
                        setattr(cls, name, _Field(fields[name]))
        cls._fields = tuple(fields.items())
        cls._known = frozenset(fields)
        cls._keys = frozenset(fields.values())
        cls._defaults = defaults

    def __init__(
        self, data: Mapping[str, Any] | SubscriptableBaseModel | None = None, /, **fields: Any
    ) -> None:
        if isinstance(data, SubscriptableBaseModel):
            data = data._data
        merged = {k: _copy(v) for k, v in data.items()} if data is not None else {}
        for name, value in fields.items():
            if value is not None:
                merged[self._aliases.get(name, name)] = _copy(value)
        for name, value in self._defaults.items():
            merged.setdefault(self._aliases.get(name, name), value)
        object.__setattr__(self, "_data", merged)
        self._validate()

    def _validate(self) -> None:
        """Check or convert the fields of an object just built (``Options`` converts)."""

    @classmethod
    def _wrap(cls: type[_T], data: dict[str, Any]) -> _T:
        """Wrap a decoded JSON dict without copying it (the per-chunk hot path)."""
        obj = _new(cls)
        _set_data(obj, data)
        return obj

    @classmethod
    def _coerce(cls, value: Any) -> Any:
        if type(value) is dict:
            obj = _new(cls)
            _set_data(obj, value)
            return obj
        return value

    def _getattr(self, name: str) -> Any:
        if name == "_data" or name.startswith("__"):
            raise AttributeError(name)
        key = self._aliases.get(name, name)
        value = self._data.get(key, _MISSING)
        if value is _MISSING:
            if name in self._known or key in self._known:
                return None
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return _read(self, key, value)

    def _setattr(self, name: str, value: Any) -> None:
        self._data[self._aliases.get(name, name)] = value

    if not TYPE_CHECKING:
        # Unknown fields read and set as attributes at run time, but type checkers see only the
        # declared fields, as with the SDK's models: ``r.mesage`` is an error, not ``Any``.
        __getattr__ = _getattr
        __setattr__ = _setattr

    def __delattr__(self, name: str) -> None:
        self._data.pop(self._aliases.get(name, name), None)

    def __getitem__(self, key: str) -> Any:
        key = self._aliases.get(key, key)
        return _read(self, key, self._data[key])

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[self._aliases.get(key, key)] = value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and bool(self._aliases.get(key, key) in self._data)

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        """Yield ``(field, value)`` pairs as pydantic does: every declared field, None when
        absent, then the unknown fields."""
        data = self._data
        for name, key in self._fields:
            value = data.get(key)
            if value is None and name in self._added and key not in data:
                continue
            yield name, None if value is None else _read(self, key, value)
        for key in [k for k in data if k not in self._keys]:
            yield key, data[key]

    def __eq__(self, other: object) -> bool:
        """Compare as pydantic does: field values, a None field as an absent one, defaults
        filled in, timestamps as datetimes; a mapping compares with ``to_dict()``."""
        if isinstance(other, SubscriptableBaseModel):
            return type(self) is type(other) and _compared(self) == _compared(other)
        if isinstance(other, Mapping):
            return bool(self.to_dict() == _to_json(other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like dict

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={_short(v)}" for k, v in self._data.items())
        return f"{type(self).__name__}({parts})"

    def __getstate__(self) -> dict[str, Any]:
        return self._data

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "_data", state)

    def __copy__(self: _T) -> _T:
        return self.model_copy()

    def get(self, key: str, default: Any = None) -> Any:
        """Return the field's value, or ``default`` when it is absent."""
        return self[key] if key in self else default  # noqa: SIM401

    def to_dict(self) -> dict[str, Any]:
        """Return a deep copy as plain JSON-compatible data, as the server sent it."""
        result: dict[str, Any] = _to_json(self._data)
        return result

    @property
    def model_fields_set(self) -> set[str]:
        """Return the names of the declared fields that are present."""
        data = self._data
        return {name for name, key in self._fields if key in data}

    def model_dump(
        self,
        *,
        mode: Literal["python", "json"] | str = "python",
        include: IncEx | None = None,
        exclude: IncEx | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        exclude_unset: bool = False,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        exclude_computed_fields: bool = False,
        round_trip: bool = False,
        warnings: bool | Literal["none", "warn", "error"] = True,
        fallback: Callable[[Any], Any] | None = None,
        serialize_as_any: bool = False,
        polymorphic_serialization: bool | None = None,
    ) -> dict[str, Any]:
        """Return the object as the SDK's pydantic ``model_dump`` does (see the module doc).

        ``context``, ``exclude_computed_fields``, ``round_trip``, ``warnings``,
        ``serialize_as_any`` and ``polymorphic_serialization`` are accepted and change nothing:
        these models have no computed fields, validators or subclassed fields.
        """
        if mode not in ("python", "json"):
            raise ValueError(f"mode must be 'python' or 'json', not {mode!r}")
        dump = _Dump(mode == "json", bool(by_alias), exclude_unset, exclude_defaults,
                     exclude_none, fallback)
        result: dict[str, Any] = dump.model(self, _norm(include), _norm(exclude))
        return result

    def model_dump_json(
        self, *, indent: int | None = None, ensure_ascii: bool = False, **options: Any
    ) -> str:
        """Return ``model_dump(mode="json", **options)`` as JSON: compact, or indented by
        ``indent``. ``options`` are `model_dump`'s (``include``, ``exclude``, ``by_alias``...);
        an unknown one is a ``TypeError``, as in pydantic.
        """
        data = self.model_dump(mode="json", **options)
        separators = (",", ":") if indent is None else (",", ": ")
        return json.dumps(data, ensure_ascii=ensure_ascii, indent=indent, separators=separators)

    def model_copy(self: _T, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> _T:
        """Return a copy sharing nested objects, or copying them with ``deep=True``.

        ``update`` sets fields by name on the copy, unchecked, as pydantic does.
        """
        for key in self._nested:  # shared nested objects, as in pydantic, not two wrappers
            if key in self._data:
                _read(self, key, self._data[key])
        if deep:
            import copy

            data = copy.deepcopy(self._data)
        else:
            data = dict(self._data)
        for name, value in (update or {}).items():
            data[self._aliases.get(name, name)] = value
        obj = _new(type(self))
        _set_data(obj, data)
        return obj

    @classmethod
    def model_validate(cls: type[_T], data: Mapping[str, Any] | SubscriptableBaseModel) -> _T:
        """Build from a mapping (pydantic-compatible spelling)."""
        return cls(data)

    @classmethod
    def model_validate_json(cls: type[_T], data: str | bytes | bytearray) -> _T:
        """Build from a JSON object's text."""
        return cls(json.loads(data))


_new = object.__new__
_set_data = SubscriptableBaseModel.__dict__["_data"].__set__


def _compared(value: Any) -> Any:
    """Return a value as ``==`` sees it: an object's present fields with nested values read."""
    if isinstance(value, SubscriptableBaseModel):
        fields = {key: value._defaults[name] for name, key in value._fields
                  if name in value._defaults}
        for key, item in value._data.items():
            if item is not None:
                fields[key] = _compared(_read(value, key, item))
        return fields
    if isinstance(value, Mapping):
        return {k: _compared(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_compared(v) for v in value]
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:70]}...({len(text)} chars)"


# model_dump ------------------------------------------------------------------------------------


def _norm(spec: Any) -> Any:
    """Return an include/exclude spec as None, True (the whole value) or a dict of sub-specs."""
    if spec is None:
        return None
    if isinstance(spec, Mapping):
        return spec
    if isinstance(spec, (AbstractSet, list, tuple)):
        return dict.fromkeys(spec, True)
    return True


def _merge(a: Any, b: Any) -> Any:
    """Merge two specs for one item (its ``"__all__"`` one and its own), as pydantic does."""
    if a is None:
        return b
    if b is None:
        return a
    a, b = _norm(a), _norm(b)
    if a is True or b is True:
        return True
    return {k: _merge(a.get(k), b.get(k)) for k in [*a, *(k for k in b if k not in a)]}


def _item_spec(spec: Any, index: int, size: int) -> Any:
    if spec is None:
        return None
    return _merge(spec.get("__all__"), spec.get(index, spec.get(index - size)))


def _iso(value: datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class _Dump:
    """The options of one ``model_dump`` call, and the walk over the value."""

    __slots__ = ("by_alias", "fallback", "json", "none", "skip_defaults", "unset")

    def __init__(self, json: bool, by_alias: bool, unset: bool, skip_defaults: bool,
                 none: bool, fallback: Callable[[Any], Any] | None) -> None:
        self.json = json
        self.by_alias = by_alias
        self.unset = unset
        self.skip_defaults = skip_defaults
        self.none = none
        self.fallback = fallback

    def model(self, obj: SubscriptableBaseModel, include: Any, exclude: Any) -> Any:
        if isinstance(obj, Image):
            return encode_image(obj)  # the SDK's Image serializes to its base64 text
        if include is True:
            include = None
        if exclude is True:
            return {}
        data = obj._data
        defaults = obj._defaults
        unknown = [(key, key) for key in data if key not in obj._keys]
        out: dict[str, Any] = {}
        for name, key in (*obj._fields, *unknown):
            if include is not None and name not in include:
                continue
            sub_exclude = _norm(exclude.get(name)) if exclude is not None else None
            if sub_exclude is True:
                continue
            value = data.get(key, _MISSING)
            if value is _MISSING:
                if self.unset or name in obj._added:
                    continue
                value = defaults.get(name)
            elif value is not None and not (self.json and type(value) in _SCALARS):
                # In JSON mode a scalar is dumped as sent: a timestamp keeps its digits.
                value = _read(obj, key, value)
            if value is None and self.none:
                continue
            if self.skip_defaults and name in obj._known and value == defaults.get(name):
                continue
            sub_include = None if include is None else _norm(include[name])
            out[key if self.by_alias else name] = self.value(value, sub_include, sub_exclude)
        return out

    def value(self, value: Any, include: Any, exclude: Any) -> Any:
        kind = type(value)
        if kind in _SCALARS or value is None:
            return value
        if include is True:
            include = None
        if isinstance(value, SubscriptableBaseModel):
            return self.model(value, include, exclude)
        if isinstance(value, Mapping):
            out = {}
            for key, item in value.items():
                if include is not None and key not in include:
                    continue
                sub_exclude = _norm(exclude.get(key)) if exclude is not None else None
                if sub_exclude is True:
                    continue
                sub_include = None if include is None else _norm(include[key])
                out[key] = self.value(item, sub_include, sub_exclude)
            return out
        if kind is list or kind is tuple:
            items = []
            size = len(value)
            for index, item in enumerate(value):
                sub_include = _item_spec(include, index, size)
                if include is not None and sub_include is None:
                    continue
                sub_exclude = _norm(_item_spec(exclude, index, size))
                if sub_exclude is True:
                    continue
                items.append(self.value(item, _norm(sub_include), sub_exclude))
            return tuple(items) if kind is tuple and not self.json else items
        if isinstance(value, datetime):
            return _iso(value) if self.json else value
        if kind is ByteSize:
            return int(value)  # pydantic dumps ByteSize as a plain int
        if self.json:
            if isinstance(value, (bytes, bytearray)):
                return base64.b64encode(value).decode("ascii")
            if isinstance(value, Path):
                return str(value)
            if self.fallback is not None:
                return self.fallback(value)
        return value


_SCALARS = frozenset({str, int, float, bool})


# Requests ------------------------------------------------------------------------------------


class Image(SubscriptableBaseModel):
    """An image given as a path, raw bytes or a base64 string.

    ``model_dump()`` returns the image's base64 text, as the SDK's serializer does.
    """

    __slots__ = ()
    value: str | bytes | Path

    @overload
    def __init__(self, value: str | bytes | Path, /) -> None: ...
    @overload
    def __init__(self, *, value: str | bytes | Path) -> None: ...
    def __init__(self, *args: Any, **fields: Any) -> None:
        # A mapping is model_validate's {"value": ...}; anything else is the image itself.
        if len(args) == 1 and not isinstance(args[0], (Mapping, SubscriptableBaseModel)):
            fields["value"] = args[0]
            args = ()
        super().__init__(*args, **fields)


class Options(SubscriptableBaseModel):
    """Model options; keys Ollama does not know are passed through unchanged.

    Building one converts the declared fields to their types as the SDK's pydantic model does
    (lax mode), so values read from text work, and raises ``RequestError`` naming a field whose
    value does not convert:

    ============================================  ========================================
    ``Options(num_ctx="2048", temperature="0.2")``  ``num_ctx=2048, temperature=0.2``
    ``Options(num_ctx=2048.0, numa="true")``        ``num_ctx=2048, numa=True``
    ``Options(num_ctx=2048.5)``                     ``RequestError`` (not a whole number)
    ============================================  ========================================

    As in the SDK, a plain dict passed as ``options=`` is sent as it is, and setting a field
    on an existing object does not convert it.
    """

    __slots__ = ()
    # Load time.
    numa: bool | None = None
    num_ctx: int | None = None
    num_batch: int | None = None
    num_gpu: int | None = None
    main_gpu: int | None = None
    low_vram: bool | None = None
    f16_kv: bool | None = None
    logits_all: bool | None = None
    vocab_only: bool | None = None
    use_mmap: bool | None = None
    use_mlock: bool | None = None
    embedding_only: bool | None = None
    num_thread: int | None = None
    draft_num_predict: int | None = None
    # Runtime.
    num_keep: int | None = None
    seed: int | None = None
    num_predict: int | None = None
    top_k: int | None = None
    top_p: float | None = None
    min_p: float | None = None
    tfs_z: float | None = None
    typical_p: float | None = None
    repeat_last_n: int | None = None
    temperature: float | None = None
    repeat_penalty: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    mirostat: int | None = None
    mirostat_tau: float | None = None
    mirostat_eta: float | None = None
    penalize_newline: bool | None = None
    stop: Sequence[str] | None = None
    _added: ClassVar[frozenset[str]] = frozenset({"draft_num_predict", "min_p"})

    def _validate(self) -> None:
        values = self._data
        for name, value in values.items():
            rule = _OPTION_RULES.get(name)
            if rule is not None and value is not None:
                convert, expected = rule
                try:
                    values[name] = convert(value)
                except (ValueError, TypeError):
                    raise RequestError(
                        f"Options {name}={value!r} is not {expected}"
                    ) from None


_INT_TEXT = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*(?:\.0*)?", re.ASCII)
_TRUE_TEXT = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE_TEXT = frozenset({"0", "off", "f", "false", "n", "no"})


def _text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return value.decode()
    if isinstance(value, str):
        return value
    raise TypeError(type(value).__name__)


def _as_int(value: Any) -> int:
    """Convert as pydantic's lax ``int``: 2048.0 and "2048" yes, 2048.5 and "2e3" no."""
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        raise ValueError(value)
    text = _text(value).strip()
    if _INT_TEXT.fullmatch(text) is None:
        raise ValueError(value)
    return int(text.partition(".")[0])


def _as_float(value: Any) -> float:
    """Convert as pydantic's lax ``float``: ints, bools and numeric text."""
    if isinstance(value, (int, float)):
        return float(value)
    return float(_text(value).strip())


def _as_bool(value: Any) -> bool:
    """Convert as pydantic's lax ``bool``: 0 and 1, and "true", "no", "on", "f" and the like."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, (str, bytes, bytearray)):
        text = _text(value).lower()
        if text in _TRUE_TEXT:
            return True
        if text in _FALSE_TEXT:
            return False
    raise ValueError(value)


def _as_strings(value: Any) -> Sequence[str]:
    """Convert as pydantic's ``Sequence[str]``: a list or tuple of text, not one string."""
    if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, Sequence):
        raise ValueError(value)
    items = [_text(item) for item in value]
    return tuple(items) if isinstance(value, tuple) else items


_OPTION_RULES: dict[str, tuple[Callable[[Any], Any], str]] = {}
_RULE_BY_HINT: dict[str, tuple[Callable[[Any], Any], str]] = {
    "int | None": (_as_int, "an integer: pass a whole number such as 2048"),
    "float | None": (_as_float, "a number: pass one such as 0.7"),
    "bool | None": (_as_bool, "a boolean: pass True or False"),
    "Sequence[str] | None": (_as_strings, "a list of strings: pass one such as ['\\n']"),
}
for _name, _ in Options._fields:
    _OPTION_RULES[_name] = _RULE_BY_HINT[str(Options.__annotations__[_name])]


class Tool(SubscriptableBaseModel):
    """A tool the model may call (a JSON-Schema function description)."""

    __slots__ = ()

    class Function(SubscriptableBaseModel):
        """The function part of a tool."""

        __slots__ = ()

        class Parameters(SubscriptableBaseModel):
            """The JSON-Schema object describing the arguments."""

            __slots__ = ()

            class Property(SubscriptableBaseModel):
                """One argument."""

                __slots__ = ()
                type: str | Sequence[str] | None = None
                items: Any | None = None
                description: str | None = None
                enum: Sequence[Any] | None = None

            type: str | None = "object"
            defs: Any | None = None
            items: Any | None = None
            required: Sequence[str] | None = None
            properties: Mapping[str, Tool.Function.Parameters.Property] | None = None
            _aliases: ClassVar[dict[str, str]] = {"defs": "$defs"}

        name: str | None = None
        description: str | None = None
        parameters: Tool.Function.Parameters | None = None

    type: str | None = "function"
    function: Tool.Function | None = None


Tool.Function.Parameters._nested = {
    "properties": _each_value(Tool.Function.Parameters.Property._coerce)
}
Tool.Function._nested = {"parameters": Tool.Function.Parameters._coerce}
Tool._nested = {"function": Tool.Function._coerce}


class Message(SubscriptableBaseModel):
    """A chat message; ``role`` is any string (system, user, assistant, tool)."""

    __slots__ = ()

    class ToolCall(SubscriptableBaseModel):
        """A tool call the model made."""

        __slots__ = ()

        class Function(SubscriptableBaseModel):
            """The called function and its arguments (a JSON object)."""

            __slots__ = ()
            name: str
            arguments: Mapping[str, Any]
            index: int | None = None

        id: str | None = None
        function: Message.ToolCall.Function

    role: str
    content: str | None = None
    thinking: str | None = None
    images: Sequence[Image | str | bytes | Path] | None = None
    tool_name: str | None = None
    tool_call_id: str | None = None
    tool_calls: Sequence[Message.ToolCall] | None = None


Message.ToolCall._nested = {"function": Message.ToolCall.Function._coerce}
Message._nested = {"tool_calls": _each(Message.ToolCall._coerce)}
Message.ToolCall.Function._added = frozenset({"index"})
Message.ToolCall._added = frozenset({"id"})
Message._added = frozenset({"tool_call_id"})


# Responses -----------------------------------------------------------------------------------


class TokenLogprob(SubscriptableBaseModel):
    """A token and its log probability."""

    __slots__ = ()
    token: str
    logprob: float
    bytes: Sequence[int] | None = None


class Logprob(TokenLogprob):
    """A token's log probability and its most likely alternatives."""

    __slots__ = ()
    top_logprobs: Sequence[TokenLogprob] | None = None


Logprob._nested = {"top_logprobs": _each(TokenLogprob._coerce)}
TokenLogprob._added = Logprob._added = frozenset({"bytes"})

_NS = 1e9


class BaseGenerateResponse(SubscriptableBaseModel):
    """Fields shared by generate, chat and embed responses, with metric helpers."""

    __slots__ = ()
    model: str | None = None
    created_at: str | None = None
    done: bool | None = None
    done_reason: str | None = None
    total_duration: int | None = None
    load_duration: int | None = None
    prompt_eval_count: int | None = None
    prompt_eval_duration: int | None = None
    eval_count: int | None = None
    eval_duration: int | None = None

    def _seconds(self, key: str) -> float | None:
        value = self._data.get(key)
        return value / _NS if isinstance(value, (int, float)) else None

    def _rate(self, count: str, duration: str) -> float | None:
        tokens, nanos = self._data.get(count), self._data.get(duration)
        if isinstance(tokens, (int, float)) and isinstance(nanos, (int, float)) and nanos > 0:
            return tokens * _NS / nanos
        return None

    @property
    def total_seconds(self) -> float | None:
        """Return ``total_duration`` in seconds."""
        return self._seconds("total_duration")

    @property
    def load_seconds(self) -> float | None:
        """Return ``load_duration`` in seconds."""
        return self._seconds("load_duration")

    @property
    def prompt_eval_seconds(self) -> float | None:
        """Return ``prompt_eval_duration`` in seconds."""
        return self._seconds("prompt_eval_duration")

    @property
    def eval_seconds(self) -> float | None:
        """Return ``eval_duration`` in seconds."""
        return self._seconds("eval_duration")

    @property
    def prompt_tokens_per_second(self) -> float | None:
        """Return the prompt evaluation speed, or None before the final chunk."""
        return self._rate("prompt_eval_count", "prompt_eval_duration")

    @property
    def tokens_per_second(self) -> float | None:
        """Return the generation speed, or None before the final chunk."""
        return self._rate("eval_count", "eval_duration")


def _parse_structured(cls: type[_Parsed], text: str | None) -> _Parsed:
    from ollama_wire import _tools

    parsed: _Parsed = _tools.parse_structured(cls, text or "")
    return parsed


class GenerateResponse(BaseGenerateResponse):
    """A /api/generate response or chunk."""

    __slots__ = ()
    response: str | None = None
    thinking: str | None = None
    context: Sequence[int] | None = None
    logprobs: Sequence[Logprob] | None = None
    tool_calls: Sequence[Message.ToolCall] | None = None
    image: str | None = None
    completed: int | None = None
    total: int | None = None

    def parse(self, cls: type[_Parsed]) -> _Parsed:
        """Parse ``response`` as structured output into ``cls``."""
        return _parse_structured(cls, self.response)


class ChatResponse(BaseGenerateResponse):
    """A /api/chat response or chunk."""

    __slots__ = ()
    message: Message
    logprobs: Sequence[Logprob] | None = None

    def parse(self, cls: type[_Parsed]) -> _Parsed:
        """Parse ``message.content`` as structured output into ``cls``."""
        message = self.message  # converted once: the object a reader of .message already has
        return _parse_structured(cls, None if message is None else message.content)


_logprobs = _each(Logprob._coerce)
GenerateResponse._nested = {"logprobs": _logprobs, "tool_calls": _each(Message.ToolCall._coerce)}
ChatResponse._nested = {"message": Message._coerce, "logprobs": _logprobs}
GenerateResponse._added = frozenset({"tool_calls"})


class EmbedResponse(BaseGenerateResponse):
    """A /api/embed response."""

    __slots__ = ()
    embeddings: Sequence[Sequence[float]]


class EmbeddingsResponse(SubscriptableBaseModel):
    """A legacy /api/embeddings response."""

    __slots__ = ()
    embedding: Sequence[float]


class StatusResponse(SubscriptableBaseModel):
    """A status-only response (``status='success'`` for copy and delete)."""

    __slots__ = ()
    status: str | None = None


class ProgressResponse(StatusResponse):
    """A pull, push or create progress chunk."""

    __slots__ = ()
    completed: int | None = None
    total: int | None = None
    digest: str | None = None


class ModelDetails(SubscriptableBaseModel):
    """A model's family, format, size and quantization."""

    __slots__ = ()
    parent_model: str | None = None
    format: str | None = None
    family: str | None = None
    families: Sequence[str] | None = None
    parameter_size: str | None = None
    quantization_level: str | None = None


class ListResponse(SubscriptableBaseModel):
    """The local models (/api/tags)."""

    __slots__ = ()

    class Model(SubscriptableBaseModel):
        """A local model; ``name`` is kept."""

        __slots__ = ()
        name: str | None = None
        model: str | None = None
        modified_at: datetime | None = None
        digest: str | None = None
        size: ByteSize | None = None
        details: ModelDetails | None = None

    models: Sequence[ListResponse.Model]


class ProcessResponse(SubscriptableBaseModel):
    """The loaded models (/api/ps)."""

    __slots__ = ()

    class Model(SubscriptableBaseModel):
        """A loaded model."""

        __slots__ = ()
        model: str | None = None
        name: str | None = None
        digest: str | None = None
        expires_at: datetime | None = None
        size: ByteSize | None = None
        size_vram: ByteSize | None = None
        details: ModelDetails | None = None
        context_length: int | None = None

    models: Sequence[ProcessResponse.Model]


ListResponse.Model._nested = {
    "details": ModelDetails._coerce, "modified_at": parse_datetime, "size": _byte_size,
}
ProcessResponse.Model._nested = {
    "details": ModelDetails._coerce, "expires_at": parse_datetime, "size": _byte_size,
    "size_vram": _byte_size,
}
ListResponse._nested = {"models": _each(ListResponse.Model._coerce)}
ListResponse.Model._added = frozenset({"name"})
ProcessResponse._nested = {"models": _each(ProcessResponse.Model._coerce)}


class ShowResponse(SubscriptableBaseModel):
    """A model's details (/api/show); ``modelinfo`` reads ``model_info`` as in the SDK."""

    __slots__ = ()
    modified_at: datetime | None = None
    template: str | None = None
    modelfile: str | None = None
    license: str | None = None
    system: str | None = None
    details: ModelDetails | None = None
    modelinfo: Mapping[str, Any] | None = None
    projector_info: Mapping[str, Any] | None = None
    parameters: str | None = None
    capabilities: Sequence[str] | None = None
    messages: Sequence[Message] | None = None
    tensors: Sequence[Mapping[str, Any]] | None = None
    _aliases: ClassVar[dict[str, str]] = {"modelinfo": "model_info"}


_show_fields: dict[str, _Wrap] = {
    "details": ModelDetails._coerce,
    "modified_at": parse_datetime,
    "messages": _each(Message._coerce),
}
ShowResponse._nested = _show_fields
ShowResponse._added = frozenset({"messages", "projector_info", "system", "tensors"})


class VersionResponse(SubscriptableBaseModel):
    """The server version (/api/version)."""

    __slots__ = ()
    version: str | None = None


class WebSearchResponse(SubscriptableBaseModel):
    """Results of a web search on ollama.com (``web_search``)."""

    __slots__ = ()

    class Result(SubscriptableBaseModel):
        """One page found: its title, URL and the text that matched."""

        __slots__ = ()
        content: str | None = None
        title: str | None = None
        url: str | None = None

    results: list[WebSearchResponse.Result] | None = None


WebSearchResponse._nested = {"results": _each(WebSearchResponse.Result._coerce)}


class WebFetchResponse(SubscriptableBaseModel):
    """A web page fetched by ollama.com (``web_fetch``): its title, text and links."""

    __slots__ = ()
    title: str | None = None
    content: str | None = None
    links: list[str] | None = None


# Image encoding --------------------------------------------------------------------------------

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")


def encode_image(image: Any) -> str:
    """Return an image as standard base64, or raise ``ValueError`` saying why it is bad."""
    if isinstance(image, Image):
        image = image._data.get("value")
    if isinstance(image, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(image)).decode("ascii")
    if isinstance(image, Path):
        try:
            return base64.b64encode(image.read_bytes()).decode("ascii")
        except OSError as exc:
            raise ValueError(f"cannot read image file {str(image)!r}: {exc.strerror}") from None
    if not isinstance(image, str):
        raise ValueError(
            f"an image must be a path, bytes or a base64 string, not {type(image).__name__}"
        )
    text = image.strip()
    if text.startswith("data:"):
        _, comma, text = text.partition(",")
        if not comma:
            raise ValueError("a data: URL image has no ',' before its data")
    elif len(text) < 4096:
        path = Path(text)
        try:
            if path.is_file():
                return base64.b64encode(path.read_bytes()).decode("ascii")
        except OSError:
            pass
        if text.lower().endswith(_IMAGE_SUFFIXES):
            raise ValueError(f"image file {text!r} does not exist")
    compact = "".join(text.split())
    try:
        base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        shown = compact if len(compact) <= 40 else compact[:40] + "..."
        raise ValueError(
            f"image {shown!r} is neither an existing file nor valid base64"
        ) from None
    return compact
