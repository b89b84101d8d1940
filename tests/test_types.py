"""Response and request types: access styles, unknown fields, datetimes, metrics, repr."""

from __future__ import annotations

import dataclasses
import json
import pickle
from datetime import datetime, timedelta, timezone

import pytest

from ollama_wire import (
    ChatResponse,
    GenerateResponse,
    Image,
    ListResponse,
    Message,
    Options,
    ProcessResponse,
    ShowResponse,
    Tool,
)
from ollama_wire._types import parse_datetime

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
    assert r.model_dump() == CHAT
    assert json.loads(r.model_dump_json()) == CHAT
    assert dict(r)["model"] == "m"


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
