"""The schema table: each function's generated tool is compared with a hand-written one."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
import uuid
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, NewType, Optional, TypedDict, TypeVar, Union

import pydantic
import pytest
from typing_extensions import NotRequired

from ollama_wire import RequestError, tool_from_function

# Functions and classes live at module level so that their string annotations resolve.


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass
class Point:
    """A point on the map.

    Attributes:
        lat: Latitude in degrees.
        lon: Longitude in degrees.
    """

    lat: float
    lon: float
    label: str = ""


@dataclasses.dataclass
class Undocumented:
    n: int


class Address(TypedDict):
    """A postal address."""

    street: str
    zip: NotRequired[str]


class Loose(TypedDict, total=False):
    a: int
    b: list[str]


class Person(pydantic.BaseModel):
    """Someone."""

    name: str = pydantic.Field(description="Full name")
    age: int | None = None


class Team(pydantic.BaseModel):
    lead: Person
    members: list[Person]


UserId = NewType("UserId", int)
T = TypeVar("T")


def no_params():
    pass


def scalars(text: str, count: int, ratio: float, flag: bool) -> None:
    """Take one of each scalar.

    Args:
        text (str): Some text.
        count (int): How many.
        ratio: A ratio,
            between 0 and 1.
        flag: Whether to.

    Returns:
        Nothing.
    """


def with_defaults(city: str, days: int = 3, unit: str = "c") -> None:
    """Forecast.

    More detail in a second paragraph
    that wraps.
    """


def optional_param(limit: Optional[int]) -> None:  # noqa: UP045 (the typing spelling)
    """Limit things."""


def literal_param(unit: Literal["celsius", "fahrenheit"] = "celsius") -> None:
    """Convert."""


def enum_param(color: Color, level: Level = Level.LOW) -> None:
    """Paint."""


def mixed_literal(value: Literal[1, "one", 2.5]) -> None:
    """Mix."""


def sequences(
    names: list[str], ids: tuple[int, ...], tags: set[str], pair: tuple[int, str]
) -> None:
    """Collect."""


def abstract_sequences(a: Sequence[float], b: Mapping[str, bool]) -> None:
    """Use the abstract kinds."""


def mappings(scores: dict[str, int], raw: dict, items: list) -> None:
    """Map."""


def simple_union(key: int | str, maybe: Union[bool, None] = None) -> None:  # noqa: UP007
    """Look up."""


def complex_union(value: int | list[int]) -> None:
    """Flatten."""


def optional_literal(mode: Literal["fast", "slow"] | None) -> None:
    """Choose."""


def dataclass_param(where: Point) -> None:
    """Go somewhere.

    Args:
        where: The destination.
    """


def nested_list(route: list[Point], spare: Undocumented | None = None) -> None:
    """Follow a route."""


def typed_dicts(address: Address, extra: Loose) -> None:
    """Mail."""


def pydantic_param(person: Person) -> None:
    """Greet."""


def pydantic_nested(team: Team) -> None:
    """Rank."""


def annotated(n: Annotated[int, "How many to fetch"], m: Annotated[str, pydantic.Field()]) -> None:
    """Fetch."""


def numpy_style(path: str, recursive: bool = False) -> None:
    """List files.

    Parameters
    ----------
    path : str
        Where to look.
    recursive : bool, optional
        Also look in
        subdirectories.

    Returns
    -------
    list of str
    """


def rest_style(query: str, limit: int = 10) -> None:
    """Search the index.

    :param str query: What to search for.
    :param limit: At most this
        many hits.
    :type limit: int
    :returns: hits
    :raises ValueError: never
    """


def any_params(anything: Any, untyped, obj: object = None) -> None:  # type: ignore[no-untyped-def]
    """Accept anything."""


def string_formats(when: datetime.datetime, day: datetime.date, ref: uuid.UUID) -> None:
    """Schedule."""


def new_type(user: UserId) -> None:
    """Find a user."""


def kinds(a: int, /, b: int, *, c: int = 0) -> None:
    """Mix parameter kinds."""


class Service:
    def lookup(self, key: str) -> str:
        """Look a key up.

        Args:
            key: The key.
        """
        return key

    def __call__(self, n: int) -> int:
        """Count."""
        return n


def partial_target(a: int, b: str) -> None:
    """Partly applied."""


def fn(props: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {"type": "function", "function": {**props, **overrides}}


def params(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


POINT = {
    "type": "object",
    "description": "A point on the map.",
    "properties": {
        "lat": {"type": "number", "description": "Latitude in degrees."},
        "lon": {"type": "number", "description": "Longitude in degrees."},
        "label": {"type": "string"},
    },
    "required": ["lat", "lon"],
}
PERSON = {
    "type": "object",
    "description": "Someone.",
    "properties": {
        "name": {"type": "string", "description": "Full name"},
        "age": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
    },
    "required": ["name"],
}

CASES: list[tuple[Any, dict[str, Any]]] = [
    (no_params, {"name": "no_params", "description": "", "parameters": params({}, [])}),
    (
        scalars,
        {
            "name": "scalars",
            "description": "Take one of each scalar.",
            "parameters": params(
                {
                    "text": {"type": "string", "description": "Some text."},
                    "count": {"type": "integer", "description": "How many."},
                    "ratio": {"type": "number", "description": "A ratio, between 0 and 1."},
                    "flag": {"type": "boolean", "description": "Whether to."},
                },
                ["text", "count", "ratio", "flag"],
            ),
        },
    ),
    (
        with_defaults,
        {
            "name": "with_defaults",
            "description": "Forecast.\n\nMore detail in a second paragraph that wraps.",
            "parameters": params(
                {
                    "city": {"type": "string"},
                    "days": {"type": "integer"},
                    "unit": {"type": "string"},
                },
                ["city"],
            ),
        },
    ),
    (
        optional_param,
        {
            "name": "optional_param",
            "description": "Limit things.",
            "parameters": params({"limit": {"type": ["integer", "null"]}}, []),
        },
    ),
    (
        literal_param,
        {
            "name": "literal_param",
            "description": "Convert.",
            "parameters": params(
                {"unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, []
            ),
        },
    ),
    (
        enum_param,
        {
            "name": "enum_param",
            "description": "Paint.",
            "parameters": params(
                {
                    "color": {"type": "string", "enum": ["red", "green"]},
                    "level": {"type": "integer", "enum": [1, 2]},
                },
                ["color"],
            ),
        },
    ),
    (
        mixed_literal,
        {
            "name": "mixed_literal",
            "description": "Mix.",
            "parameters": params(
                {"value": {"type": ["number", "string"], "enum": [1, "one", 2.5]}}, ["value"]
            ),
        },
    ),
    (
        sequences,
        {
            "name": "sequences",
            "description": "Collect.",
            "parameters": params(
                {
                    "names": {"type": "array", "items": {"type": "string"}},
                    "ids": {"type": "array", "items": {"type": "integer"}},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "pair": {"type": "array", "items": {"type": ["integer", "string"]}},
                },
                ["names", "ids", "tags", "pair"],
            ),
        },
    ),
    (
        abstract_sequences,
        {
            "name": "abstract_sequences",
            "description": "Use the abstract kinds.",
            "parameters": params(
                {"a": {"type": "array", "items": {"type": "number"}}, "b": {"type": "object"}},
                ["a", "b"],
            ),
        },
    ),
    (
        mappings,
        {
            "name": "mappings",
            "description": "Map.",
            "parameters": params(
                {
                    "scores": {"type": "object"},
                    "raw": {"type": "object"},
                    "items": {"type": "array"},
                },
                ["scores", "raw", "items"],
            ),
        },
    ),
    (
        simple_union,
        {
            "name": "simple_union",
            "description": "Look up.",
            "parameters": params(
                {"key": {"type": ["integer", "string"]}, "maybe": {"type": ["boolean", "null"]}},
                ["key"],
            ),
        },
    ),
    (
        complex_union,
        {
            "name": "complex_union",
            "description": "Flatten.",
            "parameters": params(
                {
                    "value": {
                        "anyOf": [
                            {"type": "integer"},
                            {"type": "array", "items": {"type": "integer"}},
                        ]
                    }
                },
                ["value"],
            ),
        },
    ),
    (
        optional_literal,
        {
            "name": "optional_literal",
            "description": "Choose.",
            "parameters": params(
                {"mode": {"type": ["string", "null"], "enum": ["fast", "slow", None]}}, []
            ),
        },
    ),
    (
        dataclass_param,
        {
            "name": "dataclass_param",
            "description": "Go somewhere.",
            "parameters": params(
                {"where": {**POINT, "description": "The destination."}}, ["where"]
            ),
        },
    ),
    (
        nested_list,
        {
            "name": "nested_list",
            "description": "Follow a route.",
            "parameters": params(
                {
                    "route": {"type": "array", "items": POINT},
                    "spare": {
                        "anyOf": [
                            {
                                "type": "object",
                                "properties": {"n": {"type": "integer"}},
                                "required": ["n"],
                            },
                            {"type": "null"},
                        ]
                    },
                },
                ["route"],
            ),
        },
    ),
    (
        typed_dicts,
        {
            "name": "typed_dicts",
            "description": "Mail.",
            "parameters": params(
                {
                    "address": {
                        "type": "object",
                        "description": "A postal address.",
                        "properties": {"street": {"type": "string"}, "zip": {"type": "string"}},
                        "required": ["street"],
                    },
                    "extra": {
                        "type": "object",
                        "properties": {
                            "a": {"type": "integer"},
                            "b": {"type": "array", "items": {"type": "string"}},
                        },
                        "required": [],
                    },
                },
                ["address", "extra"],
            ),
        },
    ),
    (
        pydantic_param,
        {
            "name": "pydantic_param",
            "description": "Greet.",
            "parameters": params({"person": PERSON}, ["person"]),
        },
    ),
    (
        pydantic_nested,
        {
            "name": "pydantic_nested",
            "description": "Rank.",
            "parameters": params(
                {
                    "team": {
                        "type": "object",
                        "properties": {
                            "lead": PERSON,
                            "members": {"type": "array", "items": PERSON},
                        },
                        "required": ["lead", "members"],
                    }
                },
                ["team"],
            ),
        },
    ),
    (
        annotated,
        {
            "name": "annotated",
            "description": "Fetch.",
            "parameters": params(
                {
                    "n": {"type": "integer", "description": "How many to fetch"},
                    "m": {"type": "string"},
                },
                ["n", "m"],
            ),
        },
    ),
    (
        numpy_style,
        {
            "name": "numpy_style",
            "description": "List files.",
            "parameters": params(
                {
                    "path": {"type": "string", "description": "Where to look."},
                    "recursive": {"type": "boolean", "description": "Also look in subdirectories."},
                },
                ["path"],
            ),
        },
    ),
    (
        rest_style,
        {
            "name": "rest_style",
            "description": "Search the index.",
            "parameters": params(
                {
                    "query": {"type": "string", "description": "What to search for."},
                    "limit": {"type": "integer", "description": "At most this many hits."},
                },
                ["query"],
            ),
        },
    ),
    (
        any_params,
        {
            "name": "any_params",
            "description": "Accept anything.",
            "parameters": params(
                {"anything": {}, "untyped": {}, "obj": {}}, ["anything", "untyped"]
            ),
        },
    ),
    (
        string_formats,
        {
            "name": "string_formats",
            "description": "Schedule.",
            "parameters": params(
                {"when": {"type": "string"}, "day": {"type": "string"}, "ref": {"type": "string"}},
                ["when", "day", "ref"],
            ),
        },
    ),
    (
        new_type,
        {
            "name": "new_type",
            "description": "Find a user.",
            "parameters": params({"user": {"type": "integer"}}, ["user"]),
        },
    ),
    (
        kinds,
        {
            "name": "kinds",
            "description": "Mix parameter kinds.",
            "parameters": params(
                {"a": {"type": "integer"}, "b": {"type": "integer"}, "c": {"type": "integer"}},
                ["a", "b"],
            ),
        },
    ),
    (
        Service().lookup,
        {
            "name": "lookup",
            "description": "Look a key up.",
            "parameters": params({"key": {"type": "string", "description": "The key."}}, ["key"]),
        },
    ),
    (
        Service(),
        {
            "name": "Service",
            "description": "Count.",
            "parameters": params({"n": {"type": "integer"}}, ["n"]),
        },
    ),
    (
        functools.partial(partial_target, 1),
        {
            "name": "partial_target",
            "description": "Partly applied.",
            "parameters": params({"b": {"type": "string"}}, ["b"]),
        },
    ),
]


@pytest.mark.parametrize(
    ("func", "expected"), CASES, ids=[getattr(c[1], "get", dict)("name") for c in CASES]
)
def test_schema_matches_the_hand_written_one(func: Any, expected: dict[str, Any]) -> None:
    assert tool_from_function(func) == {"type": "function", "function": expected}


def test_the_table_is_large() -> None:
    assert len(CASES) >= 20


def takes_bytes(data: bytes) -> None: ...
def takes_args(a: int, *rest: int) -> None: ...
def takes_kwargs(a: int, **options: int) -> None: ...
def takes_int_keys(table: dict[int, str]) -> None: ...
def takes_typevar(x: T) -> None: ...
def takes_unknown(x: NoSuchName) -> None: ...  # type: ignore[name-defined]  # noqa: F821
def takes_class(x: Service) -> None: ...
def takes_nested_bytes(p: list[tuple[int, bytes]]) -> None: ...


@dataclasses.dataclass
class Tree:
    value: int
    children: list[Tree]


def takes_tree(tree: Tree) -> None: ...


@pytest.mark.parametrize(
    ("func", "needle"),
    [
        (takes_bytes, "parameter 'data': bytes has no JSON form"),
        (takes_args, "parameter '*rest'"),
        (takes_kwargs, "parameter '**options'"),
        (takes_int_keys, "parameter 'table': dict keys must be str"),
        (takes_typevar, "parameter 'x': type variable"),
        (takes_unknown, "cannot resolve the type hints of tool takes_unknown()"),
        (takes_class, "parameter 'x': Service has no JSON schema"),
        (takes_nested_bytes, "parameter 'p' (item[1]): bytes has no JSON form"),
        (takes_tree, "parameter 'tree' (children.item): recursive type Tree"),
        (lambda x: x, "not a valid tool name"),
        (42, "must be a callable"),
    ],
)
def test_what_cannot_be_expressed_is_an_error_naming_the_parameter(func: Any, needle: str) -> None:
    with pytest.raises(RequestError) as caught:
        tool_from_function(func)
    assert needle in str(caught.value)


def takes_optional_any(
    a: Optional[Any], b: Any, c: Annotated[Any | None, "note"]  # noqa: UP045 (typing's spelling)
) -> None:
    """Take anything."""


def test_a_hint_that_names_none_is_not_required_even_when_its_schema_is_empty() -> None:
    parameters = tool_from_function(takes_optional_any)["function"]["parameters"]
    assert parameters["properties"] == {"a": {}, "b": {}, "c": {"description": "note"}}
    assert parameters["required"] == ["b"]  # Any alone may be None, but says nothing of it
