"""Response and request types: access styles, unknown fields, datetimes, metrics, repr."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from ollama_wire import (
    ChatResponse,
    Client,
    GenerateResponse,
    Image,
    ListResponse,
    Message,
    Options,
    ProcessResponse,
    ShowResponse,
    Tool,
)
from ollama_wire._types import SubscriptableBaseModel, parse_datetime
from ollama_wire.server import OllamaServer
from ollama_wire.testing import CHAT_MODEL

CHAT = {
    "model": "m",
    "created_at": "2023-08-04T19:22:45.499127Z",
    "message": {
        "role": "assistant",
        "content": "hi",
        "tool_calls": [{"id": "call_1", "function": {"index": 0, "name": "f",
                                                      "arguments": {"x": 1}}}],
    },
    "done": True,
    "prompt_eval_count": 10,
    "prompt_eval_duration": 500_000_000,
    "eval_count": 20,
    "eval_duration": 2_000_000_000,
    "total_duration": 3_000_000_000,
    "load_duration": 250_000_000,
    "brand_new_field": {"nested": [1, 2]},
}


def test_attribute_and_item_access() -> None:
    r = ChatResponse(CHAT)
    assert r.message.content == r["message"]["content"] == "hi"
    assert r.message.role == "assistant"
    assert r.message.tool_calls[0].function.arguments == {"x": 1}
    assert r["message"]["tool_calls"][0]["function"]["name"] == "f"
    assert r.get("missing", 5) == 5
    assert r.get("model") == "m"
    assert "model" in r
    assert "logprobs" not in r
    assert r.logprobs is None
    with pytest.raises(KeyError):
        r["logprobs"]
    with pytest.raises(AttributeError):
        r.no_such_thing  # noqa: B018


def test_unknown_fields_are_kept_and_round_trip() -> None:
    r = ChatResponse(CHAT)
    assert r.brand_new_field == {"nested": [1, 2]}
    assert r["brand_new_field"]["nested"] == [1, 2]
    assert json.loads(json.dumps(r.to_dict())) == CHAT
    assert r.model_dump(exclude_unset=True) == CHAT
    assert json.loads(r.model_dump_json(exclude_unset=True)) == CHAT
    assert dict(r)["model"] == "m"
    assert dict(r)["brand_new_field"] == {"nested": [1, 2]}


def test_to_dict_is_a_copy() -> None:
    r = ChatResponse(CHAT)
    r.to_dict()["message"]["content"] = "changed"
    assert r.message.content == "hi"


def test_setting_fields() -> None:
    r = GenerateResponse({"response": "a"})
    r.response = "b"
    r["done"] = True
    assert r.to_dict() == {"response": "b", "done": True}


def test_metrics_helpers() -> None:
    r = ChatResponse(CHAT)
    assert r.tokens_per_second == pytest.approx(10.0)
    assert r.prompt_tokens_per_second == pytest.approx(20.0)
    assert r.total_seconds == pytest.approx(3.0)
    assert r.load_seconds == pytest.approx(0.25)
    assert r.eval_seconds == pytest.approx(2.0)
    assert r.prompt_eval_seconds == pytest.approx(0.5)
    partial = ChatResponse({"message": {"role": "assistant", "content": "x"}, "done": False})
    assert partial.tokens_per_second is None
    assert partial.total_seconds is None
    assert ChatResponse({"eval_count": 3, "eval_duration": 0}).tokens_per_second is None


def test_repr_is_readable_and_short() -> None:
    r = GenerateResponse({"model": "m", "response": "x" * 500, "done": False})
    text = repr(r)
    assert text.startswith("GenerateResponse(model='m', response='xxx")
    assert "chars)" in text
    assert len(text) < 200


def test_list_keeps_name_and_parses_datetimes() -> None:
    r = ListResponse({"models": [{
        "name": "llama3.2:latest", "model": "llama3.2:latest",
        "modified_at": "2025-05-10T08:06:48.639712648-07:00", "size": 1,
        "details": {"family": "llama", "parameter_size": "3.2B"},
    }]})
    m = r.models[0]
    assert m.name == m["name"] == "llama3.2:latest"
    assert m.modified_at == datetime(2025, 5, 10, 8, 6, 48, 639712,
                                     tzinfo=timezone(timedelta(hours=-7)))
    assert m.details.family == "llama"
    assert r.to_dict()["models"][0]["modified_at"] == "2025-05-10T08:06:48.639712648-07:00"


@pytest.mark.parametrize(
    ("text", "micro"),
    [("2025-01-02T03:04:05Z", 0), ("2025-01-02T03:04:05.1Z", 100000),
     ("2025-01-02T03:04:05.123456789Z", 123456), ("2025-01-02T03:04:05.12+02:00", 120000)],
)
def test_datetimes_with_0_to_9_fraction_digits(text: str, micro: int) -> None:
    value = parse_datetime(text)
    assert isinstance(value, datetime)
    assert value.microsecond == micro
    assert value.tzinfo is not None


def test_unparsable_datetime_is_left_as_is() -> None:
    assert parse_datetime("yesterday") == "yesterday"
    assert ProcessResponse({"models": [{"expires_at": "soon"}]}).models[0].expires_at == "soon"


def test_show_modelinfo_alias() -> None:
    r = ShowResponse({"model_info": {"general.architecture": "llama"}, "projector_info": {}})
    assert r.modelinfo == r["modelinfo"] == r["model_info"] == {"general.architecture": "llama"}
    assert "modelinfo" in r
    assert r.projector_info == {}


def test_request_types() -> None:
    message = Message(role="user", content="hi", images=[Image(value=b"x")])
    assert message.role == "user"
    assert message["content"] == "hi"
    assert Options(temperature=0.1, min_p=0.05, unknown=3).to_dict() == {
        "temperature": 0.1, "min_p": 0.05, "unknown": 3,
    }
    assert Options(temperature=None).to_dict() == {}
    assert Tool(function={"name": "f"}).function.name == "f"
    assert Tool().type == "function"
    assert Image("abc").value == "abc"


def test_equality_and_pickle() -> None:
    r = ChatResponse(CHAT)
    assert r == ChatResponse(CHAT)
    assert r == CHAT
    assert r != GenerateResponse(CHAT)
    assert pickle.loads(pickle.dumps(r)) == r


@dataclasses.dataclass
class Point:
    x: int


def test_parse_calls_into_tools() -> None:
    r = ChatResponse({"message": {"role": "assistant", "content": '{"x": 3}'}})
    assert r.parse(Point).x == 3
    assert GenerateResponse({"response": '{"x": 4}'}).parse(Point).x == 4


def test_parse_after_the_message_was_read() -> None:
    """Reading ``.message`` converts it (once); parse reads the same message."""
    r = ChatResponse({"message": {"role": "assistant", "content": '{"x": 3}'}})
    assert r.message.content == '{"x": 3}'
    assert r.parse(Point).x == 3
    assert r["message"] is r.message
    assert r.parse(Point).x == 3


# Nested values: converted once, then the same object -----------------------------------------

LOGPROBS = [{"token": "a", "logprob": -0.1, "top_logprobs": [{"token": "b", "logprob": -2.0}]}]
TOOL_CALLS = [{"function": {"name": "f", "arguments": {"x": 1}}}]

# (response, how to read the nested value, JSON key path to it): every list- or object-valued
# field that is converted on access.
NESTED: list[tuple[str, SubscriptableBaseModel, Callable[[Any], Any], tuple[Any, ...]]] = [
    ("list models", ListResponse({"models": [{"model": "b"}, {"model": "a"}]}),
     lambda r: r.models, ("models",)),
    ("ps models", ProcessResponse({"models": [{"model": "b"}, {"model": "a"}]}),
     lambda r: r.models, ("models",)),
    ("model details", ListResponse({"models": [{"details": {"family": "x"}}]}),
     lambda r: r.models[0].details, ("models", 0, "details")),
    ("chat message", ChatResponse(CHAT), lambda r: r.message, ("message",)),
    ("chat tool_calls", ChatResponse(CHAT), lambda r: r.message.tool_calls,
     ("message", "tool_calls")),
    ("tool call function", ChatResponse(CHAT), lambda r: r.message.tool_calls[0].function,
     ("message", "tool_calls", 0, "function")),
    ("chat logprobs", ChatResponse({"logprobs": LOGPROBS}), lambda r: r.logprobs,
     ("logprobs",)),
    ("top_logprobs", ChatResponse({"logprobs": LOGPROBS}), lambda r: r.logprobs[0].top_logprobs,
     ("logprobs", 0, "top_logprobs")),
    ("generate logprobs", GenerateResponse({"logprobs": LOGPROBS}), lambda r: r.logprobs,
     ("logprobs",)),
    ("generate tool_calls", GenerateResponse({"tool_calls": TOOL_CALLS}),
     lambda r: r.tool_calls, ("tool_calls",)),
    ("show messages", ShowResponse({"messages": [{"role": "user", "content": "x"}]}),
     lambda r: r.messages, ("messages",)),
    ("show details", ShowResponse({"details": {"family": "x"}}), lambda r: r.details,
     ("details",)),
    ("tool parameters", Tool({"function": {"parameters": {"properties": {"a": {"type": "x"}}}}}),
     lambda r: r.function.parameters, ("function", "parameters")),
    ("tool properties", Tool({"function": {"parameters": {"properties": {"a": {"type": "x"}}}}}),
     lambda r: r.function.parameters.properties, ("function", "parameters", "properties")),
]


def _by_items(obj: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        obj = obj[step]
    return obj


@pytest.mark.parametrize(("response", "read", "path"), [n[1:] for n in NESTED],
                         ids=[n[0] for n in NESTED])
def test_a_nested_value_is_converted_once(
    response: SubscriptableBaseModel, read: Callable[[Any], Any], path: tuple[Any, ...]
) -> None:
    r = copy.deepcopy(response)
    first = read(r)
    assert first is not None
    assert read(r) is first
    assert _by_items(r, path) is first
    assert r.get(path[0]) is _by_items(r, path[:1])
    assert dict(r)[path[0]] is _by_items(r, path[:1])


def test_changes_to_nested_lists_stick() -> None:
    r = ListResponse({"models": [{"model": "a"}, {"model": "c"}, {"model": "b"}]})
    r.models.sort(key=lambda m: m.model, reverse=True)
    assert [m.model for m in r["models"]] == ["c", "b", "a"]
    assert [m["model"] for m in r.model_dump()["models"]] == ["c", "b", "a"]
    assert [m["model"] for m in r.to_dict()["models"]] == ["c", "b", "a"]
    del r.models[0]
    assert len(r.models) == 2

    chat = ChatResponse(CHAT)
    chat.message.tool_calls.append(chat.message.tool_calls[0])
    chat.message.tool_calls[0].function.arguments["y"] = 2
    assert len(chat["message"]["tool_calls"]) == 2
    assert len(chat.model_dump()["message"]["tool_calls"]) == 2
    assert chat.to_dict()["message"]["tool_calls"][0]["function"]["arguments"] == {"x": 1, "y": 2}
    # An appended dict stays a dict, as it would in a pydantic model's list.
    chat.message.tool_calls.append({"function": {"name": "g", "arguments": {}}})
    assert chat.message.tool_calls[-1]["function"]["name"] == "g"


def test_building_copies_the_callers_dicts_and_lists() -> None:
    data = json.loads(json.dumps(CHAT))
    r = ChatResponse(data)
    r.message.tool_calls.append(r.message.tool_calls[0])
    r.message.content = "changed"
    assert data == CHAT
    json.dumps(data)  # still plain JSON: no objects were stored into it
    tool_calls = [{"function": {"name": "f", "arguments": {}}}]
    m = Message(role="assistant", tool_calls=tool_calls)
    m.tool_calls.clear()
    assert len(tool_calls) == 1


def test_wrapping_a_decoded_chunk_does_not_copy_it() -> None:
    data = {"message": {"role": "assistant", "content": "x"}}
    inner = data["message"]
    r = ChatResponse._wrap(data)
    assert r._data is data
    assert r.message._data is inner


def test_timestamps_and_sizes_are_converted_on_read_and_kept_as_sent() -> None:
    text = "2025-05-10T08:06:48.639712648-07:00"
    r = ListResponse({"models": [{"modified_at": text, "size": 7}]})
    m = r.models[0]
    assert isinstance(m.modified_at, datetime)
    assert m.modified_at == m["modified_at"]
    assert isinstance(m.model_dump()["modified_at"], datetime)
    assert m.model_dump(mode="json")["modified_at"] == text
    assert r.to_dict() == {"models": [{"modified_at": text, "size": 7}]}


def test_model_copy() -> None:
    r = ChatResponse(CHAT)
    shallow = r.model_copy(update={"model": "other", "brand_new_field": 1})
    assert (shallow.model, r.model) == ("other", "m")
    assert shallow.brand_new_field == 1
    assert shallow.message is r.message  # nested objects are shared, as in pydantic
    deep = r.model_copy(deep=True)
    deep.message.content = "changed"
    assert r.message.content == "hi"
    assert deep.message.tool_calls == r.message.tool_calls
    s = ShowResponse({"model_info": {}}).model_copy(update={"modelinfo": {"a": 1}})
    assert s.to_dict() == {"model_info": {"a": 1}}
    assert type(shallow) is ChatResponse
    plain = copy.copy(r)
    plain.model = "x"
    assert r.model == "m"


def test_model_fields() -> None:
    fields = ShowResponse.model_fields
    assert list(fields)[:3] == ["modified_at", "template", "modelfile"]
    assert fields["modelinfo"].alias == "model_info"
    assert fields["license"].alias is None
    assert fields["license"].default is None
    assert "str" in fields["license"].annotation
    assert Tool.model_fields["type"].default == "function"
    assert ShowResponse.model_fields is fields
    assert ChatResponse(CHAT).model_fields == ChatResponse.model_fields
    assert "model_fields" not in ChatResponse.model_fields
    assert ChatResponse(CHAT).model_fields_set >= {"model", "message", "done"}


def test_iteration_yields_every_declared_field() -> None:
    r = GenerateResponse({"response": "x", "surprise": 1})
    pairs = list(r)
    assert pairs[0] == ("model", None)
    assert ("response", "x") in pairs
    assert ("thinking", None) in pairs
    assert pairs[-1] == ("surprise", 1)
    assert "tool_calls" not in dict(r)  # our addition: only when present
    assert dict(ShowResponse({"model_info": {}}))["modelinfo"] == {}


def test_image_model_validate_takes_a_dict() -> None:
    assert Image.model_validate({"value": "abc"}).value == "abc"
    assert Image("abc").value == Image(value="abc").value == "abc"


def test_tool_parameters_default_to_an_object_schema(ollama_server: OllamaServer) -> None:
    parameters = Tool.Function.Parameters(
        properties={"city": Tool.Function.Parameters.Property(type="string")}
    )
    assert parameters.type == "object"  # the SDK's default
    assert Tool.Function.Parameters.model_fields["type"].default == "object"
    assert Tool.Function.Parameters.model_validate({}).model_dump()["type"] == "object"
    tool = Tool(function=Tool.Function(name="weather", parameters=parameters))
    with Client(ollama_server.url) as client:
        client.chat(CHAT_MODEL, [{"role": "user", "content": "hi"}], tools=[tool])
    assert ollama_server.requests.last("/api/chat").body["tools"] == [{  # what the SDK sends
        "type": "function",
        "function": {"name": "weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}}},
    }]


@pytest.mark.parametrize(("a", "b"), [
    (Message.model_validate({"role": "user", "content": None}), Message(role="user")),
    (ChatResponse({"message": {"role": "assistant", "content": "x", "thinking": None}}),
     ChatResponse(message=Message(role="assistant", content="x"))),
    (ListResponse({"models": [{"modified_at": "2025-01-01T00:00:00Z"}]}),
     ListResponse({"models": [{"modified_at": "2025-01-01T00:00:00.000+00:00"}]})),
    (Tool({"function": {"name": "f"}}), Tool.model_validate({"type": "function",
                                                             "function": {"name": "f"}})),
    (Tool._wrap({"function": {"name": "f"}}), Tool(function=Tool.Function(name="f"))),
], ids=["none is absent", "nested none", "same instant", "default given", "default filled"])
def test_equality_is_pydantics(a: SubscriptableBaseModel, b: SubscriptableBaseModel) -> None:
    assert a == b
    assert b == a


def test_equality_still_tells_values_apart() -> None:
    assert Message(role="user", content="a") != Message(role="user", content="b")
    assert Message(role="user") != Message(role="user", content="")
    args = {"role": "a", "tool_calls": [{"function": {"name": "f", "arguments": {"x": None}}}]}
    assert Message.model_validate(args) != Message(  # inside a plain mapping None is a value
        role="a", tool_calls=[{"function": {"name": "f", "arguments": {}}}])
    assert ChatResponse(CHAT) != GenerateResponse(CHAT)
    assert Image(value="not-there.png") == Image(value="not-there.png")  # no file is read
