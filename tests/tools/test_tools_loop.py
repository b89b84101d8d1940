"""The tool loop against the scripted engine: both placements, streamed or not."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import enum
import json
from typing import Any, Literal

import pytest

from ollama_wire import (
    AsyncClient,
    Client,
    RequestError,
    ToolCallError,
    ToolLoopError,
    tool_from_function,
)
from ollama_wire._tools import ToolRun
from ollama_wire.server import OllamaServer

QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


@dataclasses.dataclass
class Place:
    city: str
    country: str = "FR"


class Recorder:
    """Tools that remember how they were called."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def get_weather(self, city: str, unit: Literal["c", "f"] = "c") -> dict[str, Any]:
        """Get the current weather in a city.

        Args:
            city: The city name.
            unit: Celsius or Fahrenheit.
        """
        self.calls.append({"city": city, "unit": unit})
        return {"city": city, "temperature": 21, "unit": unit}

    def forecast(self, place: Place, unit: Unit, days: int | None) -> str:
        """Forecast the weather."""
        self.calls.append({"place": place, "unit": unit, "days": days})
        return f"sunny in {place.city}"

    def broken(self, city: str) -> str:
        """Always fail."""
        self.calls.append({"city": city})
        raise ValueError(f"no station in {city}")


def placement(server: OllamaServer) -> str:
    return str(getattr(server.engine, "tool_placement"))  # noqa: B009


def check_round_trip(run: ToolRun, recorder: Recorder) -> None:
    """Assert the conversation is question, tool call, tool result, answer."""
    assert run.rounds == 2
    assert len(recorder.calls) == 1
    question, assistant, tool, answer = run.messages
    assert question == QUESTION[0]
    [call] = assistant["tool_calls"]
    assert assistant["role"] == "assistant"
    assert call["function"]["name"] == "get_weather"
    assert call["id"].startswith("call_")
    assert call["function"]["arguments"] == recorder.calls[0]
    assert tool == {
        "role": "tool",
        "tool_name": "get_weather",
        "tool_call_id": call["id"],
        "content": json.dumps(
            {
                "city": recorder.calls[0]["city"],
                "temperature": 21,
                "unit": recorder.calls[0]["unit"],
            }
        ),
    }
    assert answer["role"] == "assistant"
    assert answer["content"] == run.response.message.content != ""
    assert "tool_calls" not in answer
    assert run.response.done is True
    assert [c.name for c in run.calls] == ["get_weather"]
    assert run.calls[0].error is None


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_loop_runs_the_tool_and_returns_the_whole_conversation(
    tool_server: OllamaServer, tool_client: Client, tool_model: str, stream: bool
) -> None:
    recorder = Recorder()
    run = tool_client.run_tools(tool_model, QUESTION, [recorder.get_weather], stream=stream)
    check_round_trip(run, recorder)
    first, second = (r.body for r in tool_server.requests.matching("/api/chat"))
    assert first["messages"] == QUESTION
    # The client leaves out empty fields, as the official SDK does.
    assert second["messages"] == [{k: v for k, v in m.items() if v} for m in run.messages[:3]]
    assert second["stream"] is stream
    assert second["tools"] == [tool_from_function(recorder.get_weather)]


@dataclasses.dataclass
class Answer:
    text: str


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_the_loops_final_reply_parses_into_the_format(
    tool_client: Client, tool_model: str, stream: bool
) -> None:
    """The loop reads each reply's message; parsing the last one still reads its content."""
    run = tool_client.run_tools(tool_model, QUESTION, [Recorder().get_weather],
                                format=Answer, stream=stream)
    assert isinstance(run.response.parse(Answer), Answer)


def test_the_servers_place_tool_calls_where_the_fixture_says(
    tool_server: OllamaServer, tool_client: Client, tool_model: str
) -> None:
    chunks = list(
        tool_client.chat(tool_model, QUESTION, tools=[Recorder().get_weather], stream=True)
    )
    with_calls = [c.done for c in chunks if c.message.tool_calls]
    assert with_calls == ([False] if placement(tool_server) == "chunk" else [True])


def test_the_callers_messages_are_not_changed(tool_client: Client, tool_model: str) -> None:
    messages = list(QUESTION)
    run = tool_client.run_tools(tool_model, messages, [Recorder().get_weather])
    assert messages == QUESTION
    assert len(run.messages) == 4


def test_arguments_arrive_as_the_annotated_types(tool_client: Client, tool_model: str) -> None:
    recorder = Recorder()
    run = tool_client.run_tools(tool_model, QUESTION, [recorder.forecast])
    [call] = recorder.calls
    assert isinstance(call["place"], Place)
    assert isinstance(call["unit"], Unit)
    assert call["days"] is None or isinstance(call["days"], int)
    assert run.messages[2]["content"] == f"sunny in {call['place'].city}"


def test_an_exception_from_a_tool_is_fed_back_to_the_model(
    tool_client: Client, tool_model: str
) -> None:
    recorder = Recorder()
    run = tool_client.run_tools(tool_model, QUESTION, [recorder.broken])
    city = recorder.calls[0]["city"]
    assert run.messages[2]["content"] == f"Error: ValueError: no station in {city}"
    assert isinstance(run.calls[0].error, ValueError)
    assert run.rounds == 2
    assert run.messages[3]["content"] == run.response.message.content


def test_arguments_that_do_not_fit_are_fed_back_without_calling_the_tool(
    tool_client: Client, tool_model: str
) -> None:
    booked: list[datetime.date] = []

    def book(day: datetime.date) -> str:
        """Book a table."""
        booked.append(day)
        return "booked"

    run = tool_client.run_tools(tool_model, QUESTION, [book])
    assert booked == []
    sent = run.messages[1]["tool_calls"][0]["function"]["arguments"]["day"]
    assert run.messages[2]["content"] == (
        "Error: invalid arguments for book(): day: not a valid date: "
        f"Invalid isoformat string: {sent!r}"
    )
    assert isinstance(run.calls[0].error, ToolCallError)
    assert run.rounds == 2


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_max_rounds_stops_with_a_clear_error(
    tool_client: Client, tool_model: str, stream: bool
) -> None:
    recorder = Recorder()
    with pytest.raises(ToolLoopError) as caught:
        tool_client.run_tools(
            tool_model,
            QUESTION,
            [recorder.get_weather],
            max_rounds=1,
            stream=stream,
        )
    assert "still asked for tools (get_weather) after max_rounds=1" in str(caught.value)
    assert recorder.calls == []
    assert caught.value.messages[-1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert caught.value.response.message.tool_calls


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"max_rounds": 0}, "max_rounds must be an int of at least 1"),
        (
            {"tools": [{"type": "function", "function": {"name": "x"}}]},
            "run_tools needs the functions themselves",
        ),
        ({"tools": [lambda city: city]}, "not a valid tool name"),
        ({"messages": "hello"}, "messages must be a list of messages"),
    ],
)
def test_bad_input_is_rejected_before_anything_is_sent(
    tool_server: OllamaServer,
    tool_client: Client,
    tool_model: str,
    kwargs: dict[str, Any],
    needle: str,
) -> None:
    arguments: dict[str, Any] = {"messages": QUESTION, "tools": [Recorder().get_weather]}
    arguments.update(kwargs)
    with pytest.raises(RequestError, match=needle):
        tool_client.run_tools(tool_model, **arguments)
    assert tool_server.requests.matching("/api/chat") == []


def test_an_async_tool_needs_the_async_loop(
    tool_server: OllamaServer, tool_client: Client, tool_model: str
) -> None:
    async def lookup(city: str) -> str:
        return city

    with pytest.raises(RequestError, match=r"tools lookup are async: use AsyncClient\.run_tools"):
        tool_client.run_tools(tool_model, QUESTION, [lookup])
    assert tool_server.requests.matching("/api/chat") == []


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_async_loop_awaits_async_tools_and_runs_sync_ones(
    tool_server: OllamaServer, tool_model: str, stream: bool
) -> None:
    recorder = Recorder()
    seen: list[str] = []

    async def get_weather(city: str, unit: Literal["c", "f"] = "c") -> dict[str, Any]:
        """Get the current weather in a city."""
        await asyncio.sleep(0)
        seen.append(city)
        return recorder.get_weather(city, unit)

    async def main() -> tuple[ToolRun, ToolRun]:
        async with AsyncClient(tool_server.url) as client:
            run = await client.run_tools(tool_model, QUESTION, [get_weather], stream=stream)
            failed = await client.run_tools(tool_model, QUESTION, [Recorder().broken])
            return run, failed

    run, failed = asyncio.run(main())
    check_round_trip(run, recorder)
    assert len(tool_server.requests.matching("/api/chat")) == 4
    assert seen == [recorder.calls[0]["city"]]
    assert failed.messages[2]["content"].startswith("Error: ValueError: no station in ")
