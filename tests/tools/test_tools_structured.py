"""Structured output: classes as ``format`` schemas and replies parsed back into them."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
from collections.abc import Iterator
from typing import Any, Literal, TypedDict

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ollama_wire
from ollama_wire import ChatResponse, Client, GenerateResponse, RequestError, StructuredOutputError
from ollama_wire._tools import (
    _result_text,
    format_schema,
    parse_structured,
    validate,
)
from ollama_wire.server import OllamaServer
from ollama_wire.testing import CHAT_MODEL


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


@dataclasses.dataclass
class Pet:
    """A pet.

    Attributes:
        name: What it answers to.
    """

    name: str
    mood: Mood
    legs: int = 4


@dataclasses.dataclass
class Owner:
    name: str
    pets: list[Pet]
    born: datetime.date
    tags: set[str] = dataclasses.field(default_factory=set)
    spot: tuple[float, float] | None = None
    nickname: str | None = None


class Movie(TypedDict):
    title: str
    year: int
    rating: Literal["G", "PG", "R"]


class Country(pydantic.BaseModel):
    name: str
    capital: str
    languages: list[str]


class OnlyValidate:
    """A class that validates itself from a mapping, as pydantic-like libraries do."""

    def __init__(self, n: int) -> None:
        self.n = n

    @classmethod
    def model_validate(cls, data: Any) -> OnlyValidate:
        if not isinstance(data, dict) or not isinstance(data.get("n"), int):
            raise ValueError("n must be an int")
        return cls(data["n"])


PET_SCHEMA = {
    "type": "object",
    "description": "A pet.",
    "properties": {
        "name": {"type": "string", "description": "What it answers to."},
        "mood": {"type": "string", "enum": ["happy", "sad"]},
        "legs": {"type": "integer"},
    },
    "required": ["name", "mood"],
    "additionalProperties": False,
}


def test_dataclass_schema_is_full_json_schema() -> None:
    assert format_schema(Pet) == PET_SCHEMA


def test_nested_dataclass_schema_keeps_what_tools_would_drop() -> None:
    assert format_schema(Owner) == {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "pets": {"type": "array", "items": PET_SCHEMA},
            "born": {"type": "string", "format": "date"},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "spot": {
                "anyOf": [
                    {
                        "type": "array",
                        "prefixItems": [{"type": "number"}, {"type": "number"}],
                        "minItems": 2,
                        "maxItems": 2,
                    },
                    {"type": "null"},
                ]
            },
            "nickname": {"type": ["string", "null"]},
        },
        "required": ["name", "pets", "born"],
        "additionalProperties": False,
    }


def test_typed_dict_schema() -> None:
    assert format_schema(Movie) == {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "year": {"type": "integer"},
            "rating": {"type": "string", "enum": ["G", "PG", "R"]},
        },
        "required": ["title", "year", "rating"],
        "additionalProperties": False,
    }


def test_pydantic_schema_is_sent_as_is() -> None:
    assert format_schema(Country) == Country.model_json_schema()


def test_annotations_work_too() -> None:
    assert format_schema(list[Movie]) == {"type": "array", "items": format_schema(Movie)}
    assert format_schema(dict[str, int]) == {
        "type": "object",
        "additionalProperties": {"type": "integer"},
    }


def test_a_schema_dict_passes_through() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert format_schema(schema) == schema


def test_a_class_without_schema_is_rejected_before_sending() -> None:
    with pytest.raises(RequestError, match=r"format=OnlyValidate: OnlyValidate has no JSON schema"):
        format_schema(OnlyValidate)


def test_parse_builds_nested_dataclasses_with_their_types() -> None:
    text = json.dumps(
        {
            "name": "Ann",
            "pets": [{"name": "Rex", "mood": "happy"}, {"name": "Tom", "mood": "sad", "legs": 3}],
            "born": "1990-04-01",
            "tags": ["a", "b"],
            "spot": [1, 2.5],
        }
    )
    owner = parse_structured(Owner, text)
    assert owner == Owner(
        name="Ann",
        pets=[Pet("Rex", Mood.HAPPY), Pet("Tom", Mood.SAD, 3)],
        born=datetime.date(1990, 4, 1),
        tags={"a", "b"},
        spot=(1.0, 2.5),
    )
    assert isinstance(owner.spot[0], float)


def test_parse_typed_dict_and_list() -> None:
    movie = {"title": "Up", "year": 2009, "rating": "PG"}
    assert parse_structured(Movie, json.dumps(movie)) == movie
    assert parse_structured(list[Movie], json.dumps([movie, movie])) == [movie, movie]


def test_parse_pydantic_and_model_validate_classes() -> None:
    country = parse_structured(Country, '{"name": "Peru", "capital": "Lima", "languages": ["es"]}')
    assert country == Country(name="Peru", capital="Lima", languages=["es"])
    assert parse_structured(OnlyValidate, '{"n": 3}').n == 3


@pytest.mark.parametrize(
    ("cls", "text", "needle"),
    [
        (Pet, "not json", "the reply is not JSON"),
        (Pet, "", "the reply is not JSON"),
        (Pet, '{"name": "Rex"}', "$.mood: required but missing"),
        (Pet, '{"name": "Rex", "mood": "angry"}', '$.mood: expected one of "happy", "sad"'),
        (Pet, '{"name": 1, "mood": "sad"}', "$.name: expected string, got integer 1"),
        (
            Pet,
            '{"name": "R", "mood": "sad", "legs": true}',
            "$.legs: expected integer, got boolean",
        ),
        (Pet, '{"name": "R", "mood": "sad", "wings": 2}', "$.wings: not expected"),
        (Pet, "[]", "$: expected object, got array"),
        (
            Owner,
            '{"name": "A", "pets": [{"name": "R"}], "born": "1990-01-01"}',
            "$.pets[0].mood: required but missing",
        ),
        (Owner, '{"name": "A", "pets": [], "born": "yesterday"}', "$.born: not a valid date"),
        (
            Owner,
            '{"name": "A", "pets": [], "born": "1990-01-01", "tags": ["x", "x"]}',
            "$.tags: items must be unique",
        ),
        (
            Owner,
            '{"name": "A", "pets": [], "born": "1990-01-01", "spot": [1]}',
            "$.spot: matches none of: expected at least 2 items, got 1; expected null",
        ),
        (Movie, '{"title": "Up", "year": 2009.5, "rating": "PG"}', "$.year: expected integer"),
        (Country, '{"name": "Peru"}', "does not validate as Country"),
        (OnlyValidate, '{"n": "x"}', "n must be an int"),
    ],
)
def test_a_reply_that_does_not_fit_says_where_and_shows_the_text(
    cls: Any, text: str, needle: str
) -> None:
    with pytest.raises(StructuredOutputError) as caught:
        parse_structured(cls, text)
    assert needle in str(caught.value)
    assert f"the reply was {text!r}" in str(caught.value)
    assert caught.value.text == text
    assert isinstance(caught.value, ValueError)


def test_a_long_reply_is_truncated_in_the_message() -> None:
    text = '{"name": "' + "x" * 5000
    with pytest.raises(StructuredOutputError) as caught:
        parse_structured(Pet, text)
    assert "(5010 chars)" in str(caught.value)
    assert len(str(caught.value)) < 600
    assert caught.value.text == text


def test_response_parse_uses_the_reply_text() -> None:
    chat = ChatResponse({"message": {"role": "assistant", "content": '{"n": 5}'}})
    assert chat.parse(OnlyValidate).n == 5
    generated = GenerateResponse({"response": '{"name": "Rex", "mood": "sad"}'})
    assert generated.parse(Pet) == Pet("Rex", Mood.SAD)


def test_the_error_is_part_of_the_error_tree() -> None:
    with pytest.raises(ollama_wire.OllamaError):
        parse_structured(Pet, "{}")


owners = st.builds(
    Owner,
    name=st.text(),
    pets=st.lists(st.builds(Pet, name=st.text(), mood=st.sampled_from(Mood), legs=st.integers())),
    born=st.dates(),
    tags=st.sets(st.text()),
    spot=st.none() | st.tuples(st.floats(allow_nan=False), st.floats(allow_nan=False)),
    nickname=st.none() | st.text(),
)


@settings(max_examples=30, deadline=None)
@given(owners)
def test_what_a_tool_returns_parses_back_into_the_same_object(owner: Owner) -> None:
    text = _result_text(owner)
    validate(json.loads(text), format_schema(Owner))
    assert parse_structured(Owner, text) == owner


@pytest.fixture
def client(ollama_server: OllamaServer) -> Iterator[Client]:
    with Client(ollama_server.url) as client:
        yield client


@pytest.mark.parametrize("cls", [Pet, Movie, Country], ids=lambda c: c.__name__)
def test_a_schema_constrained_reply_parses_into_the_class(client: Client, cls: Any) -> None:
    ask = [{"role": "user", "content": "Make one up."}]
    chat = client.chat(CHAT_MODEL, ask, format=cls)
    parsed = chat.parse(cls)
    validate(json.loads(chat.message.content), format_schema(cls))
    assert parse_structured(cls, _result_text(parsed)) == parsed
    generated = client.generate(CHAT_MODEL, "Make one up.", format=cls)
    assert generated.parse(cls) is not None
