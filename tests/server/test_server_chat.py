"""``/api/chat``: messages, tools, thinking, validation."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest
from server_wire import Wire

from ollama_wire.server import OllamaServer, ScriptedEngine

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather in a given city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city to get the weather for"}
            },
            "required": ["city"],
        },
    },
}
USER = [{"role": "user", "content": "What is the weather in Tokyo?"}]


def chat(wire: Wire, **body: Any) -> list[dict[str, Any]]:
    body.setdefault("model", "llama3.2")
    body.setdefault("messages", USER)
    reply = wire.post("/api/chat", body)
    assert reply.status == 200, reply.body
    return reply.lines()


def content(lines: list[dict[str, Any]]) -> str:
    return "".join(line["message"]["content"] for line in lines)


def test_stream_shape(wire: Wire) -> None:
    lines = chat(wire)
    for line in lines[:-1]:
        assert list(line) == ["model", "created_at", "message", "done"]
        assert list(line["message"]) == ["role", "content"]
        assert line["message"]["role"] == "assistant"
    final = lines[-1]
    assert list(final)[:5] == ["model", "created_at", "message", "done", "done_reason"]
    assert final["message"] == {"role": "assistant", "content": ""}
    assert "context" not in final
    assert final["eval_count"] == len(lines) - 1


def test_stream_false_aggregates(wire: Wire) -> None:
    streamed = content(chat(wire))
    whole = wire.post("/api/chat", {"model": "llama3.2", "messages": USER, "stream": False}).json()
    assert whole["message"] == {"role": "assistant", "content": streamed}
    assert whole["done"] is True
    assert whole["done_reason"] == "stop"


def test_answer_depends_on_the_messages(wire: Wire) -> None:
    a = content(chat(wire))
    b = content(chat(wire, messages=[{"role": "user", "content": "Something else"}]))
    assert a != b
    assert content(chat(wire)) == a


def test_tool_call_on_a_chunk_with_id_and_index(wire: Wire) -> None:
    lines = chat(wire, tools=[WEATHER_TOOL])
    calls = [c for ln in lines[:-1] for c in ln["message"].get("tool_calls", [])]
    assert len(calls) == 1
    (call,) = calls
    assert re.fullmatch(r"call_[a-z0-9]{8}", call["id"])
    assert call["function"]["index"] == 0
    assert call["function"]["name"] == "get_weather"
    assert isinstance(call["function"]["arguments"]["city"], str)
    assert "tool_calls" not in lines[-1]["message"]


def test_tool_call_only_on_the_final_chunk(ollama_server_factory: Any) -> None:
    server = ollama_server_factory(engine_options={"tool_placement": "final"})
    lines = chat(Wire(server.url), tools=[WEATHER_TOOL])
    assert all("tool_calls" not in ln["message"] for ln in lines[:-1])
    (call,) = lines[-1]["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather"


@pytest.mark.parametrize("placement", ["chunk", "final"])
def test_tool_calls_aggregate_without_stream(ollama_server_factory: Any, placement: str) -> None:
    server = ollama_server_factory(engine_options={"tool_placement": placement})
    whole = (
        Wire(server.url)
        .post(
            "/api/chat",
            {"model": "llama3.2", "messages": USER, "tools": [WEATHER_TOOL], "stream": False},
        )
        .json()
    )
    (call,) = whole["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather"


def test_tool_round_trip_answers_in_text(wire: Wire) -> None:
    first = wire.post(
        "/api/chat",
        {"model": "llama3.2", "messages": USER, "tools": [WEATHER_TOOL], "stream": False},
    ).json()
    history = [
        *USER,
        first["message"],
        {"role": "tool", "content": "22°C", "tool_name": "get_weather"},
    ]
    second = wire.post(
        "/api/chat",
        {"model": "llama3.2", "messages": history, "tools": [WEATHER_TOOL], "stream": False},
    ).json()
    assert "tool_calls" not in second["message"]
    assert second["message"]["content"]


def test_thinking_in_messages(wire: Wire) -> None:
    lines = chat(wire, model="qwen3")
    thinking = "".join(ln["message"].get("thinking", "") for ln in lines)
    assert thinking
    assert content(lines)
    whole = wire.post("/api/chat", {"model": "qwen3", "messages": USER, "stream": False}).json()
    assert whole["message"]["thinking"] == thinking
    assert list(whole["message"]) == ["role", "content", "thinking"]


def test_format_schema(wire: Wire) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "temp": {"type": "number"}},
    }
    value = json.loads(content(chat(wire, format=schema)))
    assert isinstance(value["city"], str)
    assert isinstance(value["temp"], float)


def test_scripted_reply(ollama_server_factory: Any) -> None:
    server = ollama_server_factory(engine_options={"replies": {"ping": "pong, twice over"}})
    lines = chat(Wire(server.url), messages=[{"role": "user", "content": "ping"}])
    assert content(lines) == "pong, twice over"
    assert isinstance(server.engine, ScriptedEngine)


def test_load_and_unload(wire: Wire) -> None:
    body = wire.post("/api/chat", {"model": "llama3.2"}).json()
    assert body["message"] == {"role": "assistant", "content": ""}
    assert body["done_reason"] == "load"
    body = wire.post("/api/chat", {"model": "llama3.2", "messages": [], "keep_alive": 0}).json()
    assert body["done_reason"] == "unload"


def test_roles_are_lower_cased(wire: Wire, ollama_server: OllamaServer) -> None:
    a = content(chat(wire, messages=[{"role": "USER", "content": "hey"}]))
    b = content(chat(wire, messages=[{"role": "user", "content": "hey"}]))
    assert a == b


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"messages": USER}, 400, "model is required"),
        ({"model": "nope", "messages": USER}, 404, "model 'nope' not found"),
        ({"model": "all-minilm", "messages": USER}, 400, '"all-minilm" does not support chat'),
        (
            {"model": "all-minilm", "messages": USER, "tools": [WEATHER_TOOL]},
            400,
            '"all-minilm" does not support chat',
        ),
        (
            {"model": "llama3.2", "messages": "hi"},
            400,
            "json: cannot unmarshal string into Go struct field ChatRequest.messages of type "
            "[]api.Message",
        ),
        (
            {"model": "llama3.2", "messages": USER, "think": True},
            400,
            '"llama3.2" does not support thinking',
        ),
        (
            {"model": "llama3.2", "messages": USER, "options": {"stop": [1]}},
            500,
            'option "stop" must be of type an array of strings',
        ),
        (
            {
                "model": "llama3.2",
                "messages": [{"role": "user", "content": "x", "images": ["!!!!"]}],
            },
            400,
            "illegal base64 data at input byte 0",
        ),
    ],
)
def test_errors(wire: Wire, body: dict[str, Any], status: int, error: str) -> None:
    reply = wire.post("/api/chat", body)
    assert (reply.status, reply.json()) == (status, {"error": error})


def test_tools_on_a_model_without_tools(ollama_server: OllamaServer, wire: Wire) -> None:
    base = ollama_server.registry.get("llama3.2")
    assert base is not None
    ollama_server.registry.add(
        "plain", dataclasses.replace(base.card, capabilities=("completion",))
    )
    reply = wire.post("/api/chat", {"model": "plain", "messages": USER, "tools": [WEATHER_TOOL]})
    assert (reply.status, reply.json()) == (
        400,
        {"error": "registry.ollama.ai/library/plain:latest does not support tools"},
    )


def test_debug_render_only(wire: Wire) -> None:
    body = wire.post(
        "/api/chat", {"model": "llama3.2", "messages": USER, "_debug_render_only": True}
    ).json()
    assert list(body) == ["model", "created_at", "message", "done", "_debug_info"]
    assert USER[0]["content"] in body["_debug_info"]["rendered_template"]


@pytest.mark.parametrize(
    "body",
    [
        {"model": "all-minilm", "keep_alive": 0},
        {"model": "llama3.2", "messages": [], "keep_alive": 0, "think": True},
        {"model": "all-minilm", "keep_alive": 0, "tools": [WEATHER_TOOL]},
        {"model": "llama3.2", "keep_alive": 0, "options": {"stop": "x"}},
    ],
)
def test_unload_answers_before_the_model_checks(wire: Wire, body: dict[str, Any]) -> None:
    reply = wire.post("/api/chat", body)
    assert reply.status == 200, reply.body
    assert reply.json()["done_reason"] == "unload"


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"model": "all-minilm"}, 400, '"all-minilm" does not support chat'),
        ({"model": "llama3.2", "think": True}, 400, '"llama3.2" does not support thinking'),
        (
            {"model": "all-minilm", "messages": USER, "think": True},
            400,
            '"all-minilm" does not support thinking',
        ),
    ],
)
def test_what_is_checked_before_a_load(
    wire: Wire, body: dict[str, Any], status: int, error: str
) -> None:
    reply = wire.post("/api/chat", body)
    assert (reply.status, reply.json()) == (status, {"error": error})


def test_format_is_checked_after_the_load_reply(wire: Wire) -> None:
    body = wire.post("/api/chat", {"model": "llama3.2", "format": "yaml"}).json()
    assert body["done_reason"] == "load"


@pytest.mark.parametrize(
    ("call", "where", "gotype"),
    [
        (
            {"function": {"name": "f", "arguments": '{"a": 1}'}},
            "function.arguments",
            "api.ToolCallFunctionArguments",
        ),
        (
            {"function": {"name": "f", "arguments": [1]}},
            "function.arguments",
            "api.ToolCallFunctionArguments",
        ),
        ({"function": "f"}, "function", "api.ToolCallFunction"),
        ({"function": {"name": 1, "arguments": {}}}, "function.name", "string"),
        ({"id": 7, "function": {"name": "f", "arguments": {}}}, "id", "string"),
    ],
)
def test_tool_calls_are_typed_like_go(
    wire: Wire, call: dict[str, Any], where: str, gotype: str
) -> None:
    history = [*USER, {"role": "assistant", "content": "", "tool_calls": [call]}]
    reply = wire.post("/api/chat", {"model": "llama3.2", "messages": history})
    value = call["function"] if where.startswith("function") else call["id"]
    for part in where.split(".")[1:]:
        value = value[part]
    kind = {str: "string", int: "number", list: "array"}[type(value)]
    assert (reply.status, reply.json()) == (
        400,
        {
            "error": f"json: cannot unmarshal {kind} into Go struct field "
            f"Message.messages.tool_calls.{where} of type {gotype}"
        },
    )


def test_tool_call_arguments_as_an_object_are_fine(wire: Wire) -> None:
    call = {"function": {"name": "get_weather", "arguments": {"city": "Tokyo"}}}
    history = [*USER, {"role": "assistant", "content": "", "tool_calls": [call]}]
    history.append({"role": "tool", "content": "sunny", "tool_name": "get_weather"})
    assert chat(wire, messages=history, stream=False)[0]["done"] is True


def test_nested_field_names_match_in_any_case(wire: Wire) -> None:
    folded = [{"ROLE": "user", "Content": USER[0]["content"]}]
    reply = wire.post("/api/chat", {"Model": "llama3.2", "Messages": folded, "Stream": False})
    assert reply.status == 200, reply.body
    assert reply.json()["message"]["content"] == content(chat(wire, stream=False))
    tools = [{"Type": "function", "Function": WEATHER_TOOL["function"]}]
    (line,) = chat(wire, TOOLS=tools, stream=False)
    assert line["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
