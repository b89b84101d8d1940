"""A schema-constrained reply from the real model (llama.cpp engine) parsed into a class.

Needs the ``local`` extra; without it this fails rather than skips, as ``tests/e2e`` does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from ollama_wire import Client
from ollama_wire._tools import format_schema
from ollama_wire.server import OllamaServer

MODEL = "gemma3:270m"


@dataclasses.dataclass
class Person:
    name: str
    age: int


@pytest.fixture(scope="module")
def llama_server() -> Iterator[OllamaServer]:
    # One thread: a second spinning llama.cpp thread slows a loaded 2-core runner down.
    with OllamaServer(engine="llama", engine_options={"num_thread": 1}, models=[MODEL]) as server:
        yield server


@pytest.mark.engine
@pytest.mark.slow
def test_a_real_reply_constrained_by_a_dataclass_parses_into_it(
    llama_server: OllamaServer,
) -> None:
    with Client(llama_server.url, timeout=120) as client:
        response = client.chat(
            MODEL,
            [{"role": "user", "content": "Describe a person as JSON with a name and an age."}],
            format=Person,
            options={"temperature": 0, "seed": 7, "num_predict": 64},
        )
    person = response.parse(Person)
    assert isinstance(person, Person)
    assert isinstance(person.name, str)
    assert isinstance(person.age, int)
    assert llama_server.requests.last("/api/chat").body["format"] == format_schema(Person)
