"""Python callables as tool schemas, classes as ``format`` schemas, and the tool loop (sans-IO).

Three entry points serve the clients:

| call                            | gives                                                       |
|---------------------------------|-------------------------------------------------------------|
| ``tool_from_function(fn)``      | ``{"type": "function", "function": {...}}`` for ``tools=``  |
| ``format_schema(Point)``        | the JSON schema sent as ``format=``                         |
| ``parse_structured(Point, s)``  | ``s`` parsed and validated into a ``Point``                 |

The tool loop is written once for both clients: ``ToolLoop`` decides what happens next,
``collect_stream`` / ``Aggregator`` fold a streamed reply, and ``PendingCall.run`` (sync) or
``PendingCall.arun`` (async) runs a tool. ``run_tools`` below is the sync driver.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
import inspect
import json
import logging
import pathlib
import re
import types
import typing
import uuid
from collections.abc import (
    AsyncIterable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from typing import Any, Literal, Union, get_args, get_origin

from ollama_wire._docstrings import parse_docstring
from ollama_wire._errors import OllamaError, RequestError, preview
from ollama_wire._protocol import DEFAULT_MAX_ROUNDS
from ollama_wire._types import ChatResponse, Message, _to_json

__all__ = [
    "DEFAULT_MAX_ROUNDS",
    "Aggregator",
    "PendingCall",
    "StructuredOutputError",
    "ToolCallError",
    "ToolCallRecord",
    "ToolLoop",
    "ToolLoopError",
    "ToolRun",
    "arun_tools",
    "collect_stream",
    "format_schema",
    "parse_structured",
    "run_tools",
    "tool_from_function",
    "validate",
]

logger = logging.getLogger("ollama_wire")


# The keys Ollama keeps on a tool property (api.ToolProperty); it drops every other keyword.
_TOOL_PROPERTY_KEYS = ("type", "anyOf", "enum", "items", "properties", "required", "description")
_TOOL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_SCALARS: dict[type, str] = {bool: "boolean", int: "integer", float: "number", str: "string"}
_STRING_FORMATS: dict[type, str | None] = {
    datetime.datetime: "date-time",
    datetime.date: "date",
    datetime.time: "time",
    uuid.UUID: "uuid",
    pathlib.Path: None,
    pathlib.PurePath: None,
}
_ARRAYS = {list, tuple, set, frozenset}
_ABC_ARRAYS = {"Sequence", "MutableSequence", "Set", "MutableSet", "Collection", "Iterable"}
_ABC_OBJECTS = {"Mapping", "MutableMapping"}
_TYPED_DICT_WRAPPERS = {"Required", "NotRequired", "ReadOnly"}


class StructuredOutputError(OllamaError, ValueError):
    """The model's reply does not parse or validate as the requested class."""

    def __init__(self, message: str, text: str) -> None:
        super().__init__(f"{message}; the reply was {preview(text)}")
        self.text = text


class ToolLoopError(OllamaError, RuntimeError):
    """The model still asked for tools after ``max_rounds`` chat calls."""

    def __init__(self, message: str, messages: list[Any], response: Any) -> None:
        super().__init__(message)
        self.messages = messages
        self.response = response


class ToolCallError(OllamaError, ValueError):
    """The model called a tool that does not exist, or with arguments that do not fit."""


StructuredOutputError.__module__ = "ollama_wire"
ToolCallError.__module__ = "ollama_wire"
ToolLoopError.__module__ = "ollama_wire"


class _Invalid(Exception):
    """A value or annotation that does not fit; ``where`` says which part."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}" if where else problem)
        self.where = where
        self.problem = problem


def _at(where: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


# Schemas -----------------------------------------------------------------------------------


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    raise TypeError(type(value).__name__)


def _enum_schema(values: Sequence[object], where: str) -> dict[str, Any]:
    try:
        kinds = list(dict.fromkeys(_json_type(v) for v in values))
    except TypeError as exc:
        raise _Invalid(where, f"enum value of type {exc} has no JSON form") from None
    if "integer" in kinds and "number" in kinds:
        kinds = list(dict.fromkeys("number" if k == "integer" else k for k in kinds))
    return {"type": kinds[0] if len(kinds) == 1 else kinds, "enum": list(values)}


def _is_typed_dict(tp: object) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def _has_model_schema(tp: object) -> bool:
    return isinstance(tp, type) and callable(getattr(tp, "model_json_schema", None))


def _model_schema(cls: Any) -> Any:
    return cls.model_json_schema()


def _type_name(tp: object) -> str:
    return getattr(tp, "__qualname__", None) or repr(tp)


def _class_description(cls: type) -> str:
    doc = cls.__doc__ or ""
    # dataclasses invent "Point(x: int, y: int)" when a class has no docstring.
    if dataclasses.is_dataclass(cls) and doc.startswith(f"{cls.__name__}("):
        return ""
    return parse_docstring(doc).description


def _hints(obj: object, where: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(obj, include_extras=True)
    except Exception as exc:
        problem = f"cannot resolve the type hints of {_type_name(obj)}: {exc}"
        raise _Invalid(where, problem) from None


def _unwrap_annotated(tp: Any) -> tuple[Any, str]:
    """Return the bare type and the first description found in ``Annotated`` metadata."""
    description = ""
    while get_origin(tp) is typing.Annotated:
        args = get_args(tp)
        tp = args[0]
        for meta in args[1:]:
            text = meta if isinstance(meta, str) else getattr(meta, "description", None)
            if isinstance(text, str) and text and not description:
                description = text
    return tp, description


def _described_by_annotation(tp: Any) -> bool:
    """Tell whether ``Annotated`` metadata describes ``tp``, which beats the docstring."""
    return bool(_unwrap_annotated(_strip_typed_dict_wrapper(tp))[1])


def _strip_typed_dict_wrapper(tp: Any) -> Any:
    while getattr(get_origin(tp), "_name", None) in _TYPED_DICT_WRAPPERS:
        tp = get_args(tp)[0]
    return tp


def _union_members(tp: Any) -> tuple[Any, ...] | None:
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return get_args(tp)
    return None


def _any_of(schemas: list[dict[str, Any]]) -> dict[str, Any]:
    """Join distinct schemas: one stays itself, bare types make a type array, else anyOf."""
    if len(schemas) == 1:
        return schemas[0]
    if all(set(s) == {"type"} and isinstance(s["type"], str) for s in schemas):
        return {"type": [s["type"] for s in schemas]}
    return {"anyOf": schemas}


class _SchemaBuilder:
    """Turn annotations into JSON Schema, inlining nested classes (no ``$ref``)."""

    def __init__(self) -> None:
        self._building: list[object] = []

    def build(self, tp: Any, where: str) -> dict[str, Any]:
        tp, description = _unwrap_annotated(tp)
        schema = self._build(tp, where)
        if description:
            schema = {**schema, "description": description}
        return schema

    def _build(self, tp: Any, where: str) -> dict[str, Any]:
        if tp is Any or tp is object or tp is inspect.Parameter.empty:
            return {}
        if tp is None or tp is type(None):
            return {"type": "null"}
        if isinstance(tp, (str, typing.ForwardRef)):
            raise _Invalid(where, f"unresolved forward reference {tp!r}")
        if isinstance(tp, typing.TypeVar):
            raise _Invalid(where, f"type variable {tp} has no JSON form")
        supertype = getattr(tp, "__supertype__", None)
        if supertype is not None:
            return self.build(supertype, where)
        if isinstance(tp, type) and tp in _SCALARS:
            return {"type": _SCALARS[tp]}
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return _enum_schema([m.value for m in tp], where)
        if isinstance(tp, type) and tp in _STRING_FORMATS:
            fmt = _STRING_FORMATS[tp]
            return {"type": "string", "format": fmt} if fmt else {"type": "string"}
        members = _union_members(tp)
        if members is not None:
            return self._union(members, where)
        origin = get_origin(tp)
        if origin is Literal:
            values = [v.value if isinstance(v, enum.Enum) else v for v in get_args(tp)]
            return _enum_schema(values, where)
        if origin is not None:
            return self._generic(tp, origin, get_args(tp), where)
        if isinstance(tp, type) and tp in _ARRAYS:
            return {"type": "array"}
        if tp is dict:
            return {"type": "object"}
        if isinstance(tp, type):
            return self._class(tp, where)
        raise _Invalid(where, f"annotation {tp!r} has no JSON schema")

    def _union(self, members: Sequence[Any], where: str) -> dict[str, Any]:
        schemas: list[dict[str, Any]] = []
        for member in members:
            schema = self.build(member, where)
            if schema == {}:
                return {}
            if schema not in schemas:
                schemas.append(schema)
        enums = [s for s in schemas if "enum" in s]
        if enums and all(set(s) <= {"type", "enum"} for s in schemas):
            plain = [s for s in schemas if "enum" not in s]
            # Literal["a", "b"] | None stays one enum: the null joins the values.
            if all(s == {"type": "null"} for s in plain):
                values = [v for s in enums for v in s["enum"]] + [None] * bool(plain)
                return _enum_schema(list(dict.fromkeys(values)), where)
        return _any_of(schemas)

    def _generic(self, tp: Any, origin: Any, args: tuple[Any, ...], where: str) -> dict[str, Any]:
        name = getattr(origin, "__name__", "")
        module = getattr(origin, "__module__", "")
        is_abc = module == "collections.abc"
        if origin is tuple:
            return self._tuple(args, where)
        if origin in _ARRAYS or (is_abc and name in _ABC_ARRAYS):
            schema: dict[str, Any] = {"type": "array"}
            if args:
                schema["items"] = self.build(args[0], _at(where, "item"))
            if origin in (set, frozenset) or name in ("Set", "MutableSet"):
                schema["uniqueItems"] = True
            return schema
        if origin is dict or (is_abc and name in _ABC_OBJECTS):
            schema = {"type": "object"}
            if args:
                key, value = args
                key = _unwrap_annotated(key)[0]
                if key is not str:
                    raise _Invalid(where, f"dict keys must be str in JSON, not {_type_name(key)}")
                schema["additionalProperties"] = self.build(value, _at(where, "value"))
            return schema
        if origin is type:
            raise _Invalid(where, f"{tp!r} has no JSON form")
        raise _Invalid(where, f"annotation {tp!r} has no JSON schema")

    def _tuple(self, args: tuple[Any, ...], where: str) -> dict[str, Any]:
        if not args:
            return {"type": "array"}
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": self.build(args[0], _at(where, "item"))}
        if args == ((),):
            return {"type": "array", "maxItems": 0}
        items = [self.build(a, _at(where, i)) for i, a in enumerate(args)]
        return {
            "type": "array",
            "prefixItems": items,
            "minItems": len(items),
            "maxItems": len(items),
        }

    def _class(self, cls: type, where: str) -> dict[str, Any]:
        if cls in self._building:
            raise _Invalid(where, f"recursive type {cls.__qualname__} cannot be inlined")
        self._building.append(cls)
        try:
            if _has_model_schema(cls):
                return _inline_refs(_model_schema(cls), where)
            if dataclasses.is_dataclass(cls):
                return self._dataclass(cls, where)
            if _is_typed_dict(cls):
                return self._typed_dict(cls, where)
        finally:
            self._building.pop()
        if issubclass(cls, (bytes, bytearray)):
            raise _Invalid(where, f"{cls.__name__} has no JSON form (send base64 text as str)")
        raise _Invalid(
            where,
            f"{cls.__qualname__} has no JSON schema (use a dataclass, a TypedDict or a class "
            "with model_json_schema())",
        )

    def _object(
        self,
        cls: type,
        fields: Iterable[tuple[str, Any]],
        required: Iterable[str],
        where: str,
    ) -> dict[str, Any]:
        docs = parse_docstring(cls.__doc__).params
        properties: dict[str, Any] = {}
        for name, (tp, description) in fields:
            schema = self.build(tp, _at(where, name))
            text = description or docs.get(name, "")
            if text and not _described_by_annotation(tp):
                schema["description"] = text
            properties[name] = schema
        schema = {
            "type": "object",
            "properties": properties,
            "required": list(required),
            "additionalProperties": False,
        }
        description = _class_description(cls)
        return {**schema, "description": description} if description else schema

    def _dataclass(self, cls: type, where: str) -> dict[str, Any]:
        hints = _hints(cls, where)
        fields = [f for f in dataclasses.fields(cls) if f.init]
        required = [
            f.name
            for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        described = [
            (f.name, (hints.get(f.name, Any), str(f.metadata.get("description", ""))))
            for f in fields
        ]
        return self._object(cls, described, required, where)

    def _typed_dict(self, cls: type, where: str) -> dict[str, Any]:
        hints = _hints(cls, where)
        keys = set(getattr(cls, "__required_keys__", ()))
        for name, tp in hints.items():
            # Under postponed annotations the class cannot see these wrappers; the hints can.
            wrapper = getattr(get_origin(tp), "_name", None)
            if wrapper == "NotRequired":
                keys.discard(name)
            elif wrapper == "Required":
                keys.add(name)
        described = [(n, (_strip_typed_dict_wrapper(tp), "")) for n, tp in hints.items()]
        return self._object(cls, described, [n for n in hints if n in keys], where)


def _inline_refs(schema: dict[str, Any], where: str) -> dict[str, Any]:
    """Replace local ``$ref``s by what they point at, dropping ``$defs``."""
    defs: dict[str, Any] = {**schema.get("definitions", {}), **schema.get("$defs", {})}

    def resolve(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [resolve(v, seen) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name in seen:
                raise _Invalid(where, f"recursive schema {name!r} cannot be inlined")
            if name not in defs:
                raise _Invalid(where, f"schema reference {ref!r} points nowhere")
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return {**resolve(defs[name], (*seen, name)), **resolve(rest, seen)}
        return {
            k: _resolve_map(v, seen) if k == "properties" else resolve(v, seen)
            for k, v in node.items()
            if k not in ("$defs", "definitions")
        }

    def _resolve_map(value: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(value, dict):
            return {k: resolve(v, seen) for k, v in value.items()}
        return value

    result: dict[str, Any] = resolve(schema, ())
    return result


def _for_tools(schema: dict[str, Any]) -> dict[str, Any]:
    """Keep what Ollama's ToolProperty keeps; turn what it would drop into its nearest form."""
    schema = dict(schema)
    if "const" in schema and "enum" not in schema:
        schema["enum"] = [schema["const"]]
    if "oneOf" in schema and "anyOf" not in schema:
        schema["anyOf"] = schema["oneOf"]
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
        schema = {**all_of[0], **{k: v for k, v in schema.items() if k != "allOf"}}
    prefix = schema.get("prefixItems")
    if isinstance(prefix, list) and "items" not in schema and prefix:
        schema["items"] = _any_of([s for i, s in enumerate(prefix) if s not in prefix[:i]])
    result: dict[str, Any] = {}
    for key in _TOOL_PROPERTY_KEYS:
        if key not in schema:
            continue
        value = schema[key]
        if key == "items" and isinstance(value, dict):
            value = _for_tools(value)
        elif key == "anyOf" and isinstance(value, list):
            value = [_for_tools(v) if isinstance(v, dict) else v for v in value]
        elif key == "properties" and isinstance(value, dict):
            value = {k: _for_tools(v) if isinstance(v, dict) else v for k, v in value.items()}
        result[key] = value
    return result


# tool_from_function ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Param:
    name: str
    annotation: Any
    kind: Any
    default: Any
    schema: dict[str, Any]
    required: bool


@dataclasses.dataclass(frozen=True)
class _ToolSpec:
    """A callable with everything needed to describe it and to call it."""

    name: str
    fn: Callable[..., Any]
    params: tuple[_Param, ...]
    schema: dict[str, Any]
    wire: dict[str, Any]


def _target(fn: Callable[..., Any]) -> Callable[..., Any]:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


def _bound_keywords(fn: Callable[..., Any]) -> set[str]:
    """Return the arguments ``functools.partial`` fixed by keyword: not the model's to give."""
    bound: set[str] = set()
    while isinstance(fn, functools.partial):
        bound.update(fn.keywords)
        fn = fn.func
    return bound


def _tool_name(fn: Callable[..., Any]) -> str:
    target = _target(fn)
    name = getattr(target, "__name__", None)
    if name is None and not inspect.isroutine(target):
        name = type(target).__name__
    if not isinstance(name, str) or not _TOOL_NAME.match(name):
        raise RequestError(
            f"cannot make a tool of {fn!r}: its name {name!r} is not a valid tool name "
            "(use a def with a name, not a lambda)"
        )
    return name


def _spec(fn: Callable[..., Any]) -> _ToolSpec:
    if not callable(fn):
        raise RequestError(f"a tool must be a callable or a tool dict, not {type(fn).__name__}")
    name = _tool_name(fn)
    target = _target(fn)
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise RequestError(f"cannot read the signature of tool {name}(): {exc}") from None
    hint_source = target if inspect.isroutine(target) else type(target).__call__
    try:
        hints = typing.get_type_hints(hint_source, include_extras=True)
    except Exception as exc:
        raise RequestError(f"cannot resolve the type hints of tool {name}(): {exc}") from None
    doc = parse_docstring(
        inspect.getdoc(target)
        or (None if inspect.isroutine(target) else inspect.getdoc(type(target).__call__))
    )
    builder = _SchemaBuilder()
    params: list[_Param] = []
    bound = _bound_keywords(fn)
    for param in signature.parameters.values():
        if param.name in bound:
            continue  # a value the caller fixed (a key, a connection): neither shown nor taken
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            stars = "*" if param.kind is param.VAR_POSITIONAL else "**"
            raise RequestError(
                f"tool {name}(): parameter '{stars}{param.name}' cannot be described to a "
                "model; name each argument"
            )
        annotation = hints.get(param.name, param.annotation)
        try:
            schema = builder.build(annotation, "")
        except _Invalid as exc:
            inner = f" ({exc.where})" if exc.where else ""
            raise RequestError(
                f"tool {name}(): parameter {param.name!r}{inner}: {exc.problem}"
            ) from None
        description = doc.params.get(param.name, "")
        if description and not _described_by_annotation(annotation):
            schema["description"] = description
        optional = _accepts_none(schema) or _union_with_none(annotation)
        params.append(
            _Param(
                name=param.name,
                annotation=annotation,
                kind=param.kind,
                default=param.default,
                schema=schema,
                required=param.default is param.empty and not optional,
            )
        )
    schema = {
        "type": "object",
        "properties": {p.name: p.schema for p in params},
        "required": [p.name for p in params if p.required],
        "additionalProperties": False,
    }
    wire = {
        "type": "function",
        "function": {
            "name": name,
            "description": doc.description,
            "parameters": {
                "type": "object",
                "properties": {p.name: _for_tools(p.schema) for p in params},
                "required": [p.name for p in params if p.required],
            },
        },
    }
    return _ToolSpec(name=name, fn=fn, params=tuple(params), schema=schema, wire=wire)


def _union_with_none(annotation: Any) -> bool:
    """Tell whether a hint names None itself (``Optional[Any]``, whose schema is just ``{}``)."""
    if get_origin(annotation) is typing.Annotated:
        annotation = get_args(annotation)[0]
    return get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(
        annotation)


def _accepts_none(schema: dict[str, Any]) -> bool:
    if schema == {}:
        return False
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_accepts_none(s) for s in schema.get("anyOf", ()))


def tool_from_function(fn: Callable[..., Any]) -> dict[str, Any]:
    """Describe ``fn`` as a tool: ``{"type": "function", "function": {...}}``, JSON-ready.

    The description and each parameter's description come from the docstring (Google, NumPy
    or reST); types come from the hints:

    | annotation                          | schema                                          |
    |-------------------------------------|-------------------------------------------------|
    | ``str``, ``int``, ``float``, ``bool`` | ``{"type": "string"}`` ...                    |
    | ``Literal["c", "f"]``, an ``Enum``  | ``{"type": "string", "enum": ["c", "f"]}``      |
    | ``list[X]``, ``tuple[X, ...]``, ``set[X]`` | ``{"type": "array", "items": X}``        |
    | ``Union[int, str]``                 | ``{"type": ["integer", "string"]}``             |
    | ``Union[int, list[int]]``           | ``{"anyOf": [...]}``                            |
    | dataclass, TypedDict, pydantic model | a nested ``object`` with ``properties``        |
    | ``Annotated[X, "text"]``            | X with ``"description": "text"``                |
    | no annotation, ``Any``              | ``{}`` (any value)                              |

    A parameter with a default, or one that accepts ``None``, is not required. An annotation
    with no JSON form (``bytes``, ``*args``, a recursive class) raises ``RequestError`` naming
    the parameter.

    Ollama keeps only ``type``, ``anyOf``, ``enum``, ``items``, ``properties``, ``required``
    and ``description`` on a parameter, so these are left out of the tool: ``dict[str, X]``'s
    value type (``additionalProperties``), ``format`` (dates, UUIDs), ``uniqueItems``,
    ``minItems``/``maxItems``, ``default`` and pydantic's ``title`` and constraints. A fixed
    tuple ``tuple[int, str]`` becomes an array whose items are any of its element types.
    ``run_tools`` still checks arguments against the full schema, with what was left out.
    """
    return _spec(fn).wire


# format_schema / parse_structured ----------------------------------------------------------


def format_schema(cls: Any) -> dict[str, Any]:
    """Return the JSON schema to send as ``format=`` for a class or annotation.

    A class with ``model_json_schema()`` (pydantic) sends that schema as is; a dataclass, a
    TypedDict or an annotation such as ``list[Point]`` sends a schema built from its hints,
    with nested classes inlined and ``additionalProperties: false`` on each object.
    """
    if isinstance(cls, Mapping):
        return dict(cls)
    if _has_model_schema(cls):
        schema = _model_schema(cls)
        if not isinstance(schema, dict):
            raise RequestError(f"{_type_name(cls)}.model_json_schema() did not return a dict")
        return schema
    try:
        return _SchemaBuilder().build(cls, "")
    except _Invalid as exc:
        raise RequestError(f"format={_type_name(cls)}: {exc}") from None


def parse_structured(cls: Any, text: str) -> Any:
    """Parse ``text`` (a model's JSON reply) into ``cls``, validating it on the way.

    Pydantic-style classes use ``model_validate_json`` (or ``model_validate``); dataclasses,
    TypedDicts and annotations such as ``list[Point]`` are checked against ``format_schema(cls)``
    and built recursively (enums, tuples, sets, dates and nested dataclasses included).
    Raises ``StructuredOutputError`` (a ``ValueError``) showing the text when it does not fit.
    """
    name = _type_name(cls)
    invalid = f"the reply does not validate as {name}"
    validate_json = getattr(cls, "model_validate_json", None)
    if isinstance(cls, type) and callable(validate_json):
        try:
            return validate_json(text)
        except ValueError as exc:
            raise StructuredOutputError(f"{invalid}: {exc}", text) from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        problem = f"the reply is not JSON ({exc}), so not a {name}"
        raise StructuredOutputError(problem, text) from None
    validate_data = getattr(cls, "model_validate", None)
    if isinstance(cls, type) and callable(validate_data):
        try:
            return validate_data(data)
        except ValueError as exc:
            raise StructuredOutputError(f"{invalid}: {exc}", text) from exc
    try:
        schema = format_schema(cls)
        validate(data, schema, "$")
        return _Converter().convert(cls, data, "$")
    except _Invalid as exc:
        raise StructuredOutputError(f"{invalid}: {exc}", text) from None


# Validation and conversion -----------------------------------------------------------------


def _is_type(value: object, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "null":
        return value is None
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    return True


def _describe(value: object) -> str:
    try:
        kind = _json_type(value)
    except TypeError:
        kind = "array" if isinstance(value, list) else "object" if isinstance(value, dict) else ""
    text = json.dumps(value, default=str)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{kind} {text}" if kind else text


def validate(value: Any, schema: Mapping[str, Any], where: str = "$") -> None:
    """Check decoded JSON against a schema; raise an error that names the offending part.

    Understands ``type``, ``enum``, ``const``, ``anyOf``/``oneOf``/``allOf``, ``items``,
    ``prefixItems``, ``minItems``/``maxItems``, ``uniqueItems``, ``properties``, ``required``
    and ``additionalProperties``; other keywords are not checked.
    """
    kind = schema.get("type")
    if kind is not None:
        kinds = [kind] if isinstance(kind, str) else list(kind)
        if not any(_is_type(value, k) for k in kinds):
            raise _Invalid(where, f"expected {' or '.join(kinds)}, got {_describe(value)}")
    if "enum" in schema and not any(_same(value, v) for v in schema["enum"]):
        allowed = ", ".join(json.dumps(v) for v in schema["enum"])
        raise _Invalid(where, f"expected one of {allowed}, got {_describe(value)}")
    if "const" in schema and not _same(value, schema["const"]):
        raise _Invalid(where, f"expected {json.dumps(schema['const'])}, got {_describe(value)}")
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            problems = []
            for option in options:
                try:
                    validate(value, option, where)
                    break
                except _Invalid as exc:
                    problems.append(exc.problem)
            else:
                raise _Invalid(where, "matches none of: " + "; ".join(problems))
    for option in schema.get("allOf", ()):
        validate(value, option, where)
    if isinstance(value, list):
        _validate_array(value, schema, where)
    if isinstance(value, dict):
        _validate_object(value, schema, where)


def _same(a: object, b: object) -> bool:
    # True == 1 in Python, but not in JSON.
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _validate_array(value: list[Any], schema: Mapping[str, Any], where: str) -> None:
    prefix = schema.get("prefixItems")
    if isinstance(prefix, list):
        for i, (item, item_schema) in enumerate(zip(value, prefix, strict=False)):
            validate(item, item_schema, _at(where, i))
    items = schema.get("items")
    if isinstance(items, dict):
        start = len(prefix) if isinstance(prefix, list) else 0
        for i in range(start, len(value)):
            validate(value[i], items, _at(where, i))
    low, high = schema.get("minItems"), schema.get("maxItems")
    if isinstance(low, int) and len(value) < low:
        raise _Invalid(where, f"expected at least {low} items, got {len(value)}")
    if isinstance(high, int) and len(value) > high:
        raise _Invalid(where, f"expected at most {high} items, got {len(value)}")
    if schema.get("uniqueItems"):
        seen: list[str] = []
        for item in value:
            key = json.dumps(item, sort_keys=True)
            if key in seen:
                raise _Invalid(where, f"items must be unique; {_describe(item)} repeats")
            seen.append(key)


def _validate_object(value: dict[str, Any], schema: Mapping[str, Any], where: str) -> None:
    properties = schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    for name in schema.get("required", ()):
        if name not in value:
            raise _Invalid(_at(where, name), "required but missing")
    extra = schema.get("additionalProperties")
    for name, item in value.items():
        if name in properties:
            validate(item, properties[name], _at(where, name))
        elif extra is False:
            known = ", ".join(properties) or "none"
            raise _Invalid(_at(where, name), f"not expected (known: {known})")
        elif isinstance(extra, Mapping):
            validate(item, extra, _at(where, name))


class _Converter:
    """Build Python values from validated JSON, following the annotation."""

    def __init__(self) -> None:
        self._schemas = _SchemaBuilder()

    def convert(self, tp: Any, value: Any, where: str) -> Any:
        tp, _ = _unwrap_annotated(tp)
        if tp is Any or tp is object or tp is inspect.Parameter.empty or value is None:
            return value
        supertype = getattr(tp, "__supertype__", None)
        if supertype is not None:
            return self.convert(supertype, value, where)
        if tp is float:
            return float(value)
        if tp is int:
            return int(value)
        if isinstance(tp, type) and tp in _SCALARS:
            return value
        members = _union_members(tp)
        if members is not None:
            return self._union(members, value, where)
        origin = get_origin(tp)
        if origin is Literal:
            for option in get_args(tp):
                if _same(option.value if isinstance(option, enum.Enum) else option, value):
                    return option
            return value
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return tp(value)
        if isinstance(tp, type) and tp in _STRING_FORMATS:
            return self._string(tp, value, where)
        if origin is not None:
            return self._generic(origin, get_args(tp), value, where)
        if tp in (set, frozenset, tuple):
            return tp(value)
        if isinstance(tp, type):
            return self._class(tp, value, where)
        return value

    def _union(self, members: Sequence[Any], value: Any, where: str) -> Any:
        for member in members:
            try:
                validate(value, self._schemas.build(member, where), where)
            except _Invalid:
                continue
            return self.convert(member, value, where)
        return value

    def _string(self, tp: type, value: str, where: str) -> Any:
        try:
            if tp is datetime.datetime:
                return datetime.datetime.fromisoformat(re.sub(r"[Zz]$", "+00:00", value))
            if tp in (datetime.date, datetime.time):
                return tp.fromisoformat(value)
            return tp(value)
        except ValueError as exc:
            raise _Invalid(where, f"not a valid {tp.__name__}: {exc}") from None

    def _generic(self, origin: Any, args: tuple[Any, ...], value: Any, where: str) -> Any:
        if isinstance(value, list):
            if origin is tuple:
                if len(args) == 2 and args[1] is Ellipsis:
                    args = (args[0],) * len(value)
                elif args == ((),):
                    args = ()
                return tuple(
                    self.convert(a, v, _at(where, i))
                    for i, (a, v) in enumerate(zip(args, value, strict=False))
                )
            item = args[0] if args else Any
            items = [self.convert(item, v, _at(where, i)) for i, v in enumerate(value)]
            if origin in (set, frozenset):
                return origin(items)
            if getattr(origin, "__name__", "") in ("Set", "MutableSet"):
                return set(items)
            return items
        if isinstance(value, dict) and len(args) == 2:
            return {k: self.convert(args[1], v, _at(where, k)) for k, v in value.items()}
        return value

    def _class(self, cls: type, value: Any, where: str) -> Any:
        if _has_model_schema(cls) and callable(getattr(cls, "model_validate", None)):
            try:
                return cls.model_validate(value)  # type: ignore[attr-defined]
            except ValueError as exc:
                raise _Invalid(where, str(exc)) from None
        if not isinstance(value, dict):
            return value
        if dataclasses.is_dataclass(cls):
            hints = _hints(cls, where)
            kwargs = {
                f.name: self.convert(hints.get(f.name, Any), value[f.name], _at(where, f.name))
                for f in dataclasses.fields(cls)
                if f.init and f.name in value
            }
            try:
                return cls(**kwargs)
            except (TypeError, ValueError) as exc:
                raise _Invalid(where, f"{cls.__qualname__}(...) failed: {exc}") from None
        if _is_typed_dict(cls):
            hints = _hints(cls, where)
            return {
                k: self.convert(_strip_typed_dict_wrapper(hints.get(k, Any)), v, _at(where, k))
                for k, v in value.items()
            }
        return value


# The tool loop -----------------------------------------------------------------------------


def _as_json(value: Any) -> Any:
    """Return a tool's result as JSON-ready data."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, enum.Enum):
        return _as_json(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _as_json(dataclasses.asdict(value))
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return _as_json(dump(mode="json"))
        except TypeError:
            return _as_json(dump())
    if isinstance(value, Mapping):
        return {str(k): _as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_as_json(v) for v in value]
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


def _result_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(_as_json(value), ensure_ascii=False)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, ToolCallError):
        return f"Error: {exc}"
    return f"Error: {type(exc).__name__}: {exc}"


@dataclasses.dataclass
class ToolCallRecord:
    """One tool call the loop handled: what the model asked for and what it got back."""

    name: str
    arguments: Any
    id: str | None
    content: str
    error: BaseException | None = None


@dataclasses.dataclass
class ToolRun:
    """The outcome of ``run_tools``: the final response and the whole conversation."""

    response: ChatResponse
    messages: list[Mapping[str, Any] | Message]
    calls: list[ToolCallRecord]
    rounds: int

    @property
    def message(self) -> Message:
        """Return the final assistant message."""
        return self.response.message


class PendingCall:
    """A tool call to run: ``run()`` (sync) or ``await arun()`` (async) returns the reply text.

    A failure never raises: an unknown tool, arguments that do not match the schema, or an
    exception from the tool becomes the text the model reads, so it can correct itself.
    """

    def __init__(self, loop: ToolLoop, call: Mapping[str, Any]) -> None:
        function = call.get("function")
        function = function if isinstance(function, Mapping) else {}
        self._loop = loop
        self.name = str(function.get("name", ""))
        self.arguments: Any = function.get("arguments", {})
        self.id: str | None = call.get("id") if isinstance(call.get("id"), str) else None
        self.record = ToolCallRecord(self.name, self.arguments, self.id, "")

    def _prepare(self) -> tuple[Callable[..., Any], list[Any], dict[str, Any]]:
        spec = self._loop.specs.get(self.name)
        if spec is None:
            known = ", ".join(self._loop.specs) or "none"
            raise ToolCallError(f"there is no tool named {self.name!r} (tools: {known})")
        arguments = self.arguments
        if isinstance(arguments, str):
            # The OpenAI-style layer sends arguments as a JSON string.
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except ValueError:
                problem = f"arguments for {spec.name}() are not JSON: {preview(arguments)}"
                raise ToolCallError(problem) from None
        if arguments is None:
            arguments = {}
        try:
            validate(arguments, spec.schema, "")
        except _Invalid as exc:
            raise ToolCallError(f"invalid arguments for {spec.name}(): {exc}") from None
        converter = _Converter()
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for param in spec.params:
            if param.name in arguments:
                try:
                    value = converter.convert(param.annotation, arguments[param.name], param.name)
                except _Invalid as exc:
                    raise ToolCallError(f"invalid arguments for {spec.name}(): {exc}") from None
            elif param.default is not inspect.Parameter.empty:
                value = param.default
            else:
                value = None
            if param.kind is inspect.Parameter.POSITIONAL_ONLY:
                args.append(value)
            elif param.name in arguments or param.default is inspect.Parameter.empty:
                kwargs[param.name] = value
        return spec.fn, args, kwargs

    def _finish(self, result: Any = None, error: BaseException | None = None) -> str:
        if error is not None:
            logger.debug("tool %s failed: %r", self.name, error)
            content = _error_text(error)
        else:
            try:
                content = _result_text(result)
            except (TypeError, ValueError) as exc:
                error, content = exc, _error_text(exc)
        self.record.content, self.record.error = content, error
        self._loop.record(self, content)
        return content

    def run(self) -> str:
        """Run the tool and record its reply in the conversation."""
        try:
            fn, args, kwargs = self._prepare()
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                close = getattr(result, "close", None)
                if callable(close):
                    close()
                raise TypeError(f"tool {self.name}() is async: use AsyncClient.run_tools")
        except Exception as exc:
            return self._finish(error=exc)
        return self._finish(result)

    async def arun(self) -> str:
        """Run the tool, awaiting it when it is async, and record its reply."""
        try:
            fn, args, kwargs = self._prepare()
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            return self._finish(error=exc)
        return self._finish(result)


class ToolLoop:
    """Decide each step of a tool conversation; the caller does the I/O.

    ::

        loop = ToolLoop(messages, tools, max_rounds=8)
        while True:
            reply = client.chat(model, loop.messages, tools=loop.tools)   # or a folded stream
            calls = loop.receive(reply)
            if not calls:
                return loop.result()
            for call in calls:
                call.run()
    """

    def __init__(
        self,
        messages: Sequence[Any] | None,
        tools: Sequence[Callable[..., Any]],
        *,
        max_rounds: int = DEFAULT_MAX_ROUNDS,
    ) -> None:
        if isinstance(max_rounds, bool) or not isinstance(max_rounds, int) or max_rounds < 1:
            raise RequestError(f"max_rounds must be an int of at least 1, not {max_rounds!r}")
        if messages is None:
            messages = []
        if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence):
            raise RequestError(
                f"messages must be a list of messages, not {type(messages).__name__}"
            )
        if isinstance(tools, Mapping) or not isinstance(tools, Sequence):
            raise RequestError(f"tools must be a list of functions, not {type(tools).__name__}")
        self.specs: dict[str, _ToolSpec] = {}
        for tool in tools:
            if not callable(tool):
                raise RequestError(
                    f"run_tools needs the functions themselves, not {type(tool).__name__} "
                    f"{preview(repr(tool))}: it calls them"
                )
            spec = _spec(tool)
            if spec.name in self.specs:
                raise RequestError(f"two tools are named {spec.name!r}")
            self.specs[spec.name] = spec
        self.messages: list[Any] = list(messages)
        self.tools: list[dict[str, Any]] = [s.wire for s in self.specs.values()]
        self.max_rounds = max_rounds
        self.rounds = 0
        self.calls: list[ToolCallRecord] = []
        self.response: Any = None

    @property
    def async_tools(self) -> list[str]:
        """Return the names of the tools that are coroutine functions."""
        return [
            name
            for name, spec in self.specs.items()
            if inspect.iscoroutinefunction(_target(spec.fn))
            or inspect.iscoroutinefunction(type(_target(spec.fn)).__call__)
        ]

    def receive(self, response: Any) -> list[PendingCall]:
        """Take the model's reply; return the tool calls to run, or ``[]`` when it is done.

        Appends the assistant message. Raises ``ToolLoopError`` when the reply asks for tools
        and ``max_rounds`` chat calls have been made.
        """
        self.rounds += 1
        if isinstance(response, Mapping):  # plain JSON (a sans-IO caller's), as the client's
            response = ChatResponse.model_validate(response)
        self.response = response
        message = _to_json(getattr(response, "message", None))
        if not isinstance(message, Mapping):
            message = {}
        calls = [c for c in (message.get("tool_calls") or []) if isinstance(c, Mapping)]
        assistant: dict[str, Any] = {"role": "assistant", "content": message.get("content") or ""}
        if message.get("thinking"):
            assistant["thinking"] = message["thinking"]
        if calls:
            assistant["tool_calls"] = [dict(c) for c in calls]
        self.messages.append(assistant)
        if not calls:
            return []
        if self.rounds >= self.max_rounds:
            names = ", ".join(str(c.get("function", {}).get("name")) for c in calls)
            raise ToolLoopError(
                f"the model still asked for tools ({names}) after max_rounds={self.max_rounds} "
                "chat calls; raise max_rounds or check the tools' replies (see .messages)",
                self.messages,
                response,
            )
        return [PendingCall(self, c) for c in calls]

    def record(self, call: PendingCall, content: str) -> None:
        """Append the ``tool`` message that answers ``call``."""
        message: dict[str, Any] = {"role": "tool", "content": content, "tool_name": call.name}
        if call.id:
            message["tool_call_id"] = call.id
        self.messages.append(message)
        self.calls.append(call.record)

    def result(self) -> ToolRun:
        """Return the final response with the whole conversation."""
        return ToolRun(self.response, self.messages, self.calls, self.rounds)


class Aggregator:
    """Fold streamed chat chunks into one response, as Ollama does for ``stream: false``.

    ``content``, ``thinking`` and ``logprobs`` are concatenated, ``tool_calls`` from every
    chunk (a ``done: false`` one or the final one) are kept in order, the rest comes from the
    last chunk. Chunks are library responses or plain dicts.
    """

    def __init__(self) -> None:
        self._content: list[str] = []
        self._thinking: list[str] = []
        self._tool_calls: list[Any] = []
        self._logprobs: list[Any] = []
        self._last: Any = None

    def add(self, chunk: Any) -> None:
        """Take one chunk."""
        self._last = chunk
        self._logprobs.extend(chunk.get("logprobs") or ())
        message = chunk.get("message")
        if message is None:
            return
        if message.get("content"):
            self._content.append(message.get("content"))
        if message.get("thinking"):
            self._thinking.append(message.get("thinking"))
        self._tool_calls.extend(message.get("tool_calls") or ())

    def result(self) -> Any:
        """Return the folded response, of the chunks' own type."""
        if self._last is None:
            raise OllamaError("the chat stream ended without a single chunk")
        data = _to_json(self._last)
        message = dict(data.get("message") or {"role": "assistant"})
        message["content"] = "".join(self._content)
        message.pop("thinking", None)
        message.pop("tool_calls", None)
        if self._thinking:
            message["thinking"] = "".join(self._thinking)
        if self._tool_calls:
            message["tool_calls"] = _to_json(self._tool_calls)
        data["message"] = message
        if self._logprobs:
            data["logprobs"] = _to_json(self._logprobs)
        return data if isinstance(self._last, dict) else type(self._last)(data)


def collect_stream(chunks: Iterable[Any]) -> Any:
    """Read a streamed chat reply to its end and return it folded into one response."""
    aggregator = Aggregator()
    try:
        for chunk in chunks:
            aggregator.add(chunk)
    finally:
        close = getattr(chunks, "close", None)
        if callable(close):
            close()
    return aggregator.result()


async def acollect_stream(chunks: AsyncIterable[Any]) -> Any:
    """Read an async streamed chat reply to its end and return it folded into one response."""
    aggregator = Aggregator()
    try:
        async for chunk in chunks:
            aggregator.add(chunk)
    finally:
        aclose = getattr(chunks, "aclose", None) or getattr(chunks, "close", None)
        if callable(aclose):
            result = aclose()
            if inspect.isawaitable(result):
                await result
    return aggregator.result()


def run_tools(
    chat: Callable[..., Any],
    model: str,
    messages: Sequence[Any] | None,
    tools: Sequence[Callable[..., Any]],
    *,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
    **chat_options: Any,
) -> ToolRun:
    """Chat until the model stops asking for tools, running the ones it asks for.

    ``chat`` is a client's ``chat`` method. Each tool call is matched by name, its arguments
    are checked against the tool's schema and converted to the annotated types; an unknown
    tool, bad arguments or an exception from the tool is sent back to the model as that
    tool's result (``"Error: ..."``), so it can retry. With ``stream=True`` each reply is read
    to its end before the tools run. Raises ``ToolLoopError`` after ``max_rounds`` chat calls.
    """
    loop = ToolLoop(messages, tools, max_rounds=max_rounds)
    if loop.async_tools:
        raise RequestError(
            f"tools {', '.join(loop.async_tools)} are async: use AsyncClient.run_tools"
        )
    stream = bool(chat_options.get("stream"))
    while True:
        reply = chat(model, loop.messages, tools=loop.tools, **chat_options)
        calls = loop.receive(collect_stream(reply) if stream else reply)
        if not calls:
            return loop.result()
        for call in calls:
            call.run()


async def arun_tools(
    chat: Callable[..., Any],
    model: str,
    messages: Sequence[Any] | None,
    tools: Sequence[Callable[..., Any]],
    *,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
    **chat_options: Any,
) -> ToolRun:
    """Do what ``run_tools`` does with an async ``chat``; async tools are awaited."""
    loop = ToolLoop(messages, tools, max_rounds=max_rounds)
    stream = bool(chat_options.get("stream"))
    while True:
        reply = await chat(model, loop.messages, tools=loop.tools, **chat_options)
        calls = loop.receive(await acollect_stream(reply) if stream else reply)
        if not calls:
            return loop.result()
        for call in calls:
            await call.arun()
