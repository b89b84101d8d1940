"""The tool loop's decisions, fed replies directly (it is sans-IO, so no server is needed)."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
import json
from typing import Any

import pydantic
import pytest

from ollama_wire import ChatResponse, tool_from_function
from ollama_wire._tools import Aggregator, ToolLoop, ToolLoopError, collect_stream


class Size(enum.Enum):
    SMALL = "s"
    LARGE = "l"


@dataclasses.dataclass
class Box:
    width: int
    tags: tuple[str, ...] = ()


class Reading(pydantic.BaseModel):
    value: float
    at: datetime.date


def measure(box: Box, size: Size, scale: float = 1.0, note: str | None = None) -> dict[str, Any]:
    """Measure a box."""
    return {"box": box, "size": size, "scale": scale, "note": note}


def pair(a: int, b: tuple[int, str], /, weights: dict[str, int]) -> list[Any]:
    """Take a pair."""
    return [a, b, weights]


def read() -> Reading:
    """Read the meter."""
    return Reading(value=1.5, at=datetime.date(2026, 1, 2))


def nothing() -> None:
    """Return nothing."""


def call(name: str, arguments: Any, call_id: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"function": {"name": name, "arguments": arguments}}
    if call_id is not None:
        result["id"] = call_id
    return result


def reply(*calls: dict[str, Any], content: str = "", **message: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": content, **message}
    if calls:
        msg["tool_calls"] = list(calls)
    return {"model": "m", "message": msg, "done": True}


def run_one(tools: list[Any], *calls: dict[str, Any]) -> tuple[ToolLoop, list[str]]:
    loop = ToolLoop([{"role": "user", "content": "go"}], tools)
    pending = loop.receive(reply(*calls))
    return loop, [p.run() for p in pending]


def test_arguments_are_converted_to_the_annotations() -> None:
    _, [text] = run_one(
        [measure], call("measure", {"box": {"width": 3, "tags": ["a"]}, "size": "l"})
    )
    assert json.loads(text) == {
        "box": {"width": 3, "tags": ["a"]},
        "size": "l",
        "scale": 1.0,
        "note": None,
    }


class Connection:
    """Something with no JSON form, which a caller fixes with functools.partial."""


def query(sql: str, conn: Connection, limit: int = 10) -> str:
    """Run a query."""
    return f"{sql} on {type(conn).__name__} limit {limit}"


def test_a_keyword_fixed_by_partial_is_neither_shown_nor_taken() -> None:
    tool = functools.partial(query, conn=Connection(), limit=3)
    assert tool_from_function(tool)["function"]["parameters"] == {
        "type": "object", "properties": {"sql": {"type": "string"}}, "required": ["sql"]}
    _, [ran, refused] = run_one([tool], call("query", {"sql": "q"}),
                                call("query", {"sql": "q", "limit": 1000}))
    assert ran == "q on Connection limit 3"
    assert refused == "Error: invalid arguments for query(): limit: not expected (known: sql)"


def test_positional_only_parameters_and_fixed_tuples() -> None:
    _, [text] = run_one([pair], call("pair", {"a": 1, "b": [2, "x"], "weights": {"k": 3}}))
    assert json.loads(text) == [1, [2, "x"], {"k": 3}]


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"size": "s"}, "box: required but missing"),
        ({"box": {"width": "3"}, "size": "s"}, 'box.width: expected integer, got string "3"'),
        (
            {"box": {"width": 3}, "size": "medium"},
            'size: expected one of "s", "l", got string "medium"',
        ),
        (
            {"box": {"width": 3}, "size": "s", "colour": 1},
            "colour: not expected (known: box, size, scale, note)",
        ),
        (
            {"box": {"width": 3, "tags": [1]}, "size": "s"},
            "box.tags[0]: expected string, got integer 1",
        ),
        (
            {"box": {"width": 3}, "size": "s", "scale": True},
            "scale: expected number, got boolean true",
        ),
        ([1, 2], "expected object, got array [1, 2]"),
    ],
)
def test_bad_arguments_are_fed_back_naming_the_problem(arguments: Any, problem: str) -> None:
    loop, [text] = run_one([measure], call("measure", arguments))
    assert text == f"Error: invalid arguments for measure(): {problem}"
    assert loop.messages[-1] == {"role": "tool", "content": text, "tool_name": "measure"}


def test_what_tools_leave_out_is_still_checked() -> None:
    _, [text] = run_one([pair], call("pair", {"a": 1, "b": [2, 3], "weights": {"k": "x"}}))
    assert text == ("Error: invalid arguments for pair(): b[1]: expected string, got integer 3")
    _, [text] = run_one([pair], call("pair", {"a": 1, "b": [2, "x"], "weights": {"k": "x"}}))
    assert text.endswith('weights.k: expected integer, got string "x"')


def test_an_unknown_tool_is_fed_back_with_the_known_ones() -> None:
    _, [text] = run_one([measure, read], call("weigh", {}))
    assert text == "Error: there is no tool named 'weigh' (tools: measure, read)"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"a": 1, "b": [2, "x"], "weights": {}}', '[1, [2, "x"], {}]'),
        ("{bad", "Error: arguments for pair() are not JSON: '{bad'"),
    ],
)
def test_arguments_as_a_json_string(arguments: str, expected: str) -> None:
    _, [text] = run_one([pair], call("pair", arguments))
    assert text == expected


@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        (read, '{"value": 1.5, "at": "2026-01-02"}'),
        (nothing, "null"),
    ],
)
def test_results_are_sent_as_json(tool: Any, expected: str) -> None:
    _, [text] = run_one([tool], call(tool.__name__, {}))
    assert text == expected


def test_missing_arguments_object_means_no_arguments() -> None:
    _, [text] = run_one([nothing], {"function": {"name": "nothing"}})
    assert text == "null"


def test_several_calls_get_one_tool_message_each_in_order() -> None:
    loop, texts = run_one(
        [read, nothing],
        call("nothing", {}, "call_1"),
        call("read", {}, "call_2"),
        call("nothing", {}),
    )
    assert [m.get("tool_call_id") for m in loop.messages[2:]] == ["call_1", "call_2", None]
    assert [m["tool_name"] for m in loop.messages[2:]] == ["nothing", "read", "nothing"]
    assert [m["content"] for m in loop.messages[2:]] == texts
    assert [c.id for c in loop.calls] == ["call_1", "call_2", None]


def test_the_assistant_message_keeps_thinking_and_tool_calls() -> None:
    loop = ToolLoop([], [nothing])
    response = ChatResponse(reply(call("nothing", {}, "call_9"), thinking="hmm", content="ok"))
    [pending] = loop.receive(response)
    assert loop.messages == [
        {
            "role": "assistant",
            "content": "ok",
            "thinking": "hmm",
            "tool_calls": [{"id": "call_9", "function": {"name": "nothing", "arguments": {}}}],
        }
    ]
    assert pending.id == "call_9"
    assert loop.receive(ChatResponse(reply(content="done"))) == []
    result = loop.result()
    assert result.response.message.content == "done"
    assert result.message.content == "done"
    assert result.rounds == 2


def chunk(done: bool, content: str = "", **message: Any) -> ChatResponse:
    data: dict[str, Any] = {
        "model": "m",
        "message": {"role": "assistant", "content": content, **message},
        "done": done,
    }
    if content:
        data["logprobs"] = [{"token": content, "logprob": -0.5}]
    if done:
        data.update(done_reason="stop", eval_count=3)
    return ChatResponse(data)


@pytest.mark.parametrize("on_final", [False, True], ids=["on-chunk", "on-final"])
def test_a_stream_folds_into_one_response(on_final: bool) -> None:
    calls = [call("read", {}, "call_1")]
    chunks = [
        chunk(False, thinking="let me "),
        chunk(False, thinking="see"),
        chunk(False, "It "),
        chunk(False, "is", **({} if on_final else {"tool_calls": calls})),
        chunk(True, **({"tool_calls": calls} if on_final else {})),
    ]
    folded = collect_stream(iter(chunks))
    assert isinstance(folded, ChatResponse)
    assert folded.to_dict() == {
        "model": "m",
        "message": {
            "role": "assistant",
            "content": "It is",
            "thinking": "let me see",
            "tool_calls": calls,
        },
        "done": True,
        "done_reason": "stop",
        "eval_count": 3,
        "logprobs": [{"token": "It ", "logprob": -0.5}, {"token": "is", "logprob": -0.5}],
    }


def test_an_empty_stream_is_an_error() -> None:
    with pytest.raises(Exception, match="ended without a single chunk"):
        Aggregator().result()


def test_plain_dict_chunks_fold_into_a_dict() -> None:
    aggregator = Aggregator()
    aggregator.add({"message": {"role": "assistant", "content": "a"}, "done": False})
    aggregator.add({"message": {"role": "assistant", "content": "b"}, "done": True})
    assert aggregator.result() == {"message": {"role": "assistant", "content": "ab"}, "done": True}


@pytest.mark.parametrize("max_rounds", [1, 2, 3])
def test_max_rounds_counts_chat_calls(max_rounds: int) -> None:
    loop = ToolLoop([], [nothing], max_rounds=max_rounds)
    for _ in range(max_rounds - 1):
        [pending] = loop.receive(reply(call("nothing", {})))
        pending.run()
    with pytest.raises(ToolLoopError, match=f"after max_rounds={max_rounds} chat calls"):
        loop.receive(reply(call("nothing", {})))
    assert loop.rounds == max_rounds
    assert len(loop.calls) == max_rounds - 1


def test_the_last_allowed_round_may_answer() -> None:
    loop = ToolLoop([], [nothing], max_rounds=2)
    [pending] = loop.receive(reply(call("nothing", {})))
    pending.run()
    assert loop.receive(reply(content="done")) == []
    assert loop.result().rounds == 2
