"""The types against the official SDK 0.6.3 (pydantic 2.14): every expected value was printed by it.

Where ours differs on purpose, the test says so: unknown server fields are kept, timestamps in
``mode="json"`` are the server's text, and ``Options(...)`` raises ``RequestError``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from ollama_wire import (
    ChatResponse,
    Image,
    ListResponse,
    Message,
    Options,
    ProcessResponse,
    RequestError,
    ShowResponse,
    Tool,
)
from ollama_wire._protocol import convert_options
from ollama_wire._types import ByteSize

CHAT = {
    "model": "m", "created_at": "2023-08-04T19:22:45.499127Z",
    "message": {"role": "assistant", "content": "hi",
                "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1, "y": None}}}]},
    "done": True, "eval_count": 20,
    "logprobs": [{"token": "a", "logprob": -0.5,
                  "top_logprobs": [{"token": "b", "logprob": -1.0}]}],
}
LIST = {"models": [
    {"model": "a", "modified_at": "2025-05-10T08:06:48.639712-07:00", "size": 1234567,
     "digest": "d", "details": {"family": "llama"}},
    {"model": "b", "modified_at": "2025-01-02T03:04:05Z", "size": 2019393189},
]}
SHOW = {"model_info": {"general.architecture": "llama"}, "license": "MIT",
        "modified_at": "2025-01-02T03:04:05.5Z", "capabilities": ["completion"]}

MESSAGE_DUMP = {
    "role": "assistant", "content": "hi", "thinking": None, "images": None, "tool_name": None,
    "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1, "y": None}}}],
}
CHAT_DUMP = {
    "model": "m", "created_at": "2023-08-04T19:22:45.499127Z", "done": True,
    "done_reason": None, "total_duration": None, "load_duration": None,
    "prompt_eval_count": None, "prompt_eval_duration": None, "eval_count": 20,
    "eval_duration": None, "message": MESSAGE_DUMP,
    "logprobs": [{"token": "a", "logprob": -0.5,
                  "top_logprobs": [{"token": "b", "logprob": -1.0}]}],
}
CHAT_SET = {
    "model": "m", "created_at": "2023-08-04T19:22:45.499127Z", "done": True, "eval_count": 20,
    "message": {"role": "assistant", "content": "hi",
                "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1, "y": None}}}]},
    "logprobs": [{"token": "a", "logprob": -0.5,
                  "top_logprobs": [{"token": "b", "logprob": -1.0}]}],
}
UTC = timezone.utc
DETAILS = {"parent_model": None, "format": None, "family": "llama", "families": None,
           "parameter_size": None, "quantization_level": None}
MODEL_B = {"model": "b", "modified_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
           "digest": None, "size": 2019393189, "details": None}
LIST_DUMP = {"models": [
    {"model": "a",
     "modified_at": datetime(2025, 5, 10, 8, 6, 48, 639712, tzinfo=timezone(timedelta(hours=-7))),
     "digest": "d", "size": 1234567, "details": DETAILS},
    MODEL_B,
]}
SHOW_DUMP = {"modified_at": datetime(2025, 1, 2, 3, 4, 5, 500000, tzinfo=UTC), "template": None,
             "modelfile": None, "license": "MIT", "details": None,
             "modelinfo": {"general.architecture": "llama"}, "parameters": None,
             "capabilities": ["completion"]}


def chat() -> ChatResponse:
    return ChatResponse.model_validate(CHAT)


def models() -> ListResponse:
    return ListResponse.model_validate(LIST)


def show() -> ShowResponse:
    return ShowResponse.model_validate(SHOW)


DUMPS: list[tuple[str, Callable[[], Any], Any]] = [
    ("chat", lambda: chat().model_dump(), CHAT_DUMP),
    ("chat json", lambda: chat().model_dump(mode="json"), CHAT_DUMP),
    ("chat exclude_none", lambda: chat().model_dump(exclude_none=True), CHAT_SET),
    ("chat exclude_unset", lambda: chat().model_dump(exclude_unset=True), CHAT_SET),
    ("chat exclude_defaults", lambda: chat().model_dump(exclude_defaults=True), CHAT_SET),
    ("include set", lambda: chat().model_dump(include={"model", "done"}),
     {"model": "m", "done": True}),
    ("include nested", lambda: chat().model_dump(include={"message": {
        "content": True, "tool_calls": {"__all__": {"function": {"name"}}}}}),
     {"message": {"content": "hi", "tool_calls": [{"function": {"name": "f"}}]}}),
    ("exclude nested", lambda: chat().model_dump(
        exclude={"message": {"tool_calls": {0: {"function": {"arguments": {"y"}}}}},
                 "logprobs": True}, exclude_none=True),
     {"model": "m", "created_at": "2023-08-04T19:22:45.499127Z", "done": True,
      "eval_count": 20, "message": {"role": "assistant", "content": "hi", "tool_calls": [
          {"function": {"name": "f", "arguments": {"x": 1}}}]}}),
    ("exclude list item field", lambda: chat().model_dump(
        exclude={"logprobs": {0: {"top_logprobs"}}}, include={"logprobs"}),
     {"logprobs": [{"token": "a", "logprob": -0.5}]}),
    ("iter", lambda: [name for name, _ in chat()], list(CHAT_DUMP)),
    ("dict(message)", lambda: {k: v for k, v in dict(chat().message).items()
                               if k != "tool_calls"},
     {k: v for k, v in MESSAGE_DUMP.items() if k != "tool_calls"}),
    ("list", lambda: models().model_dump(), LIST_DUMP),
    ("list include index", lambda: models().model_dump(include={"models": {1: {"model"}}}),
     {"models": [{"model": "b"}]}),
    ("list include all and index", lambda: models().model_dump(
        include={"models": {"__all__": {"model"}, 0: {"digest"}}}),
     {"models": [{"model": "a", "digest": "d"}, {"model": "b"}]}),
    ("list exclude index set", lambda: models().model_dump(exclude={"models": {0}}),
     {"models": [MODEL_B]}),
    ("list sizes", lambda: [type(m.size) for m in models().models], [ByteSize, ByteSize]),
    ("list size dumped as int", lambda: type(models().model_dump()["models"][0]["size"]), int),
    ("list json", lambda: models().model_dump_json(),
     '{"models":[{"model":"a","modified_at":"2025-05-10T08:06:48.639712-07:00","digest":"d",'
     '"size":1234567,"details":{"parent_model":null,"format":null,"family":"llama",'
     '"families":null,"parameter_size":null,"quantization_level":null}},{"model":"b",'
     '"modified_at":"2025-01-02T03:04:05Z","digest":null,"size":2019393189,"details":null}]}'),
    ("show", lambda: show().model_dump(), SHOW_DUMP),
    ("show by_alias", lambda: list(show().model_dump(by_alias=True)),
     [k.replace("modelinfo", "model_info") for k in SHOW_DUMP]),
    ("show include by field name", lambda: (show().model_dump(include={"modelinfo"}),
                                            show().model_dump(include={"model_info"})),
     ({"modelinfo": {"general.architecture": "llama"}}, {})),
    ("show unset by_alias", lambda: show().model_dump(exclude_unset=True, by_alias=True),
     {"modified_at": datetime(2025, 1, 2, 3, 4, 5, 500000, tzinfo=UTC), "license": "MIT",
      "model_info": {"general.architecture": "llama"}, "capabilities": ["completion"]}),
    ("ps", lambda: ProcessResponse.model_validate({"models": [
        {"model": "a", "size": 10, "size_vram": 2048, "expires_at": "2025-01-02T03:04:05Z"},
    ]}).model_dump(), {"models": [
        {"model": "a", "name": None, "digest": None,
         "expires_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), "size": 10, "size_vram": 2048,
         "details": None, "context_length": None}]}),
    ("tool", lambda: Tool(function=Tool.Function(name="f")).model_dump(exclude_none=True),
     {"type": "function", "function": {"name": "f"}}),
    ("tool exclude_defaults",
     lambda: Tool(function=Tool.Function(name="f")).model_dump(exclude_defaults=True),
     {"function": {"name": "f"}}),
    ("$defs", lambda: Tool.Function.Parameters.model_validate(
        {"$defs": {"a": 1}, "type": "object"}).model_dump(exclude_none=True),
     {"type": "object", "defs": {"a": 1}}),
    ("$defs by_alias", lambda: Tool.Function.Parameters.model_validate(
        {"$defs": {"a": 1}, "type": "object"}).model_dump(exclude_none=True, by_alias=True),
     {"type": "object", "$defs": {"a": 1}}),
    ("image", lambda: Image(value=b"x").model_dump(), "eA=="),
    ("message image", lambda: Message(role="user", images=[Image(value=b"x")]).model_dump(
        exclude_none=True), {"role": "user", "images": ["eA=="]}),
    ("options", lambda: Options(num_ctx="2048", temperature="0.2", numa="yes", stop=("a",),
                                seed=7.0).model_dump(exclude_none=True),
     {"numa": True, "num_ctx": 2048, "seed": 7, "temperature": 0.2, "stop": ("a",)}),
    ("options json", lambda: Options(num_ctx="2048", top_k=" 40 ", top_p=1).model_dump_json(
        exclude_none=True), '{"num_ctx":2048,"top_k":40,"top_p":1.0}'),
    ("model_fields", lambda: list(ChatResponse.model_fields), list(CHAT_DUMP)),
    ("model_fields_set", lambda: sorted(chat().model_fields_set),
     ["created_at", "done", "eval_count", "logprobs", "message", "model"]),
]


@pytest.mark.parametrize(("call", "expected"), [d[1:] for d in DUMPS], ids=[d[0] for d in DUMPS])
def test_matches_the_sdk(call: Callable[[], Any], expected: Any) -> None:
    assert call() == expected


def test_model_dump_json_is_compact_or_indented_like_pydantic() -> None:
    compact = chat().model_dump_json()
    assert compact.startswith('{"model":"m","created_at":"2023-08-04T19:22:45.499127Z"')
    assert json.loads(compact) == CHAT_DUMP
    indented = chat().model_dump_json(indent=2)
    assert indented.startswith('{\n  "model": "m",\n  "created_at"')
    assert '\n    "tool_calls": [\n      {\n        "function": {\n' in indented
    assert json.loads(indented) == CHAT_DUMP
    text = ChatResponse(model="é").model_dump_json(include={"model"})
    assert text == '{"model":"é"}'
    assert ChatResponse(model="é").model_dump_json(include={"model"}, ensure_ascii=True) == (
        '{"model":"\\u00e9"}')


@pytest.mark.parametrize("method", ["model_dump", "model_dump_json"])
def test_unknown_dump_arguments_raise_type_error(method: str) -> None:
    with pytest.raises(TypeError):
        getattr(chat(), method)(foo=1)
    with pytest.raises(TypeError):
        chat().model_dump_json(mode="json")  # as in pydantic: model_dump_json has no mode


def test_pydantic_arguments_without_effect_are_accepted() -> None:
    r = chat()
    assert r.model_dump(round_trip=True, warnings=False, context={}, serialize_as_any=True,
                        exclude_computed_fields=True) == CHAT_DUMP
    with pytest.raises(ValueError, match="mode"):
        r.model_dump(mode="yaml")


def test_unknown_fields_are_kept_after_the_declared_ones() -> None:
    # The SDK drops fields it does not declare; we keep what the server sent.
    r = ChatResponse({**CHAT, "brand_new": {"a": [1]}})
    assert r.model_dump() == {**CHAT_DUMP, "brand_new": {"a": [1]}}
    assert list(r.model_dump())[-1] == "brand_new"
    assert dict(r)["brand_new"] == {"a": [1]}
    assert r.model_dump(exclude={"brand_new"}) == CHAT_DUMP


def test_our_added_fields_appear_only_when_present() -> None:
    # Fields the SDK does not declare (tool call ids, a model's name) are dumped like unknown
    # fields: absent ones do not add None keys the SDK's dump lacks.
    data = {"models": [{"name": "a:latest", "model": "a:latest"}, {"model": "b"}]}
    dumped = ListResponse(data).model_dump()["models"]
    assert dumped[0]["name"] == "a:latest"
    assert "name" not in dumped[1]
    assert "name" in ListResponse.Model.model_fields


def test_timestamps_in_json_mode_are_the_servers_text() -> None:
    # pydantic renders "2025-01-02T03:04:05.500000Z"; we keep what Ollama sent (with its
    # nanoseconds, where it sends them). Set a datetime and it is rendered as pydantic does.
    r = show()
    assert r.model_dump(mode="json")["modified_at"] == "2025-01-02T03:04:05.5Z"
    r.modified_at = datetime(2025, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)
    assert r.model_dump(mode="json")["modified_at"] == "2025-01-02T03:04:05.500000Z"


def test_byte_size_like_pydantic() -> None:
    m = models().models
    assert m[0].size.human_readable() == "1.2MiB"
    assert m[1].size.human_readable(decimal=True) == "2.0GB"
    assert m[1].size.human_readable(separator=" ") == "1.9 GiB"
    assert m[1].size.to("MB") == pytest.approx(2019.393189)
    assert m[0].size.to("kib") == pytest.approx(1205.6318359375)
    assert m[0].size + 1 == 1234568
    assert ByteSize(512).human_readable() == "512B"
    assert ByteSize(2**70).human_readable() == "1024.0EiB"
    with pytest.raises(ValueError, match="unit"):
        ByteSize(1).to("parsecs")
    ps = ProcessResponse({"models": [{"size": 10, "size_vram": 2048}]})
    assert ps.models[0].size_vram.human_readable() == "2.0KiB"
    assert type(ps.to_dict()["models"][0]["size"]) is int


# Options: pydantic's lax conversions, printed by the SDK's Options(**{field: value}).
OPTION_CONVERSIONS = [
    ("num_ctx", "2048", 2048), ("num_ctx", " 2048 ", 2048), ("num_ctx", "2_048", 2048),
    ("num_ctx", "2048.0", 2048), ("num_ctx", 2048.0, 2048), ("num_ctx", True, 1),
    ("num_ctx", b"12", 12), ("num_ctx", "+5", 5), ("num_ctx", "-5", -5),
    ("temperature", "0.2", 0.2), ("temperature", 1, 1.0), ("temperature", True, 1.0),
    ("temperature", " 0.5 ", 0.5), ("temperature", "1_0.5", 10.5), ("temperature", b"0.5", 0.5),
    ("temperature", "1e-3", 0.001), ("temperature", "inf", float("inf")),
    ("numa", "true", True), ("numa", "false", False), ("numa", "1", True), ("numa", "0", False),
    ("numa", "yes", True), ("numa", "no", False), ("numa", "on", True), ("numa", "off", False),
    ("numa", "t", True), ("numa", "f", False), ("numa", "y", True), ("numa", "n", False),
    ("numa", "TRUE", True), ("numa", 1, True), ("numa", 0, False), ("numa", 1.0, True),
    ("stop", ["a", "b"], ["a", "b"]), ("stop", ("a",), ("a",)), ("stop", [b"x"], ["x"]),
]


@pytest.mark.parametrize(("field", "value", "expected"), OPTION_CONVERSIONS)
def test_options_convert_like_pydantic(field: str, value: Any, expected: Any) -> None:
    converted = Options(**{field: value})[field]
    assert converted == expected
    assert type(converted) is type(expected)
    assert Options({field: value})[field] == expected
    assert Options.model_validate({field: value})[field] == expected


OPTION_ERRORS = [
    ("num_ctx", "2048.5"), ("num_ctx", 2048.5), ("num_ctx", "1e3"), ("num_ctx", ""),
    ("num_ctx", "abc"), ("num_ctx", float("nan")), ("num_ctx", float("inf")), ("num_ctx", "\uff10"),
    ("num_ctx", [1]), ("temperature", "abc"), ("temperature", "hot"), ("numa", " true"),
    ("numa", 2), ("numa", 0.5), ("numa", "maybe"), ("stop", "a"), ("stop", [1]), ("stop", {"a"}),
]


@pytest.mark.parametrize(("field", "value"), OPTION_ERRORS)
def test_options_that_do_not_convert_raise_request_error(field: str, value: Any) -> None:
    with pytest.raises(RequestError, match=rf"Options {field}=") as info:
        Options(**{field: value})
    assert isinstance(info.value, ValueError)


def test_only_options_objects_are_converted() -> None:
    # As in the SDK: a plain dict passed as options= is sent as it is, unknown keys are kept,
    # and assigning to a built Options is not converted.
    assert convert_options({"num_ctx": "2048"}) == {"num_ctx": "2048"}
    assert convert_options(Options(num_ctx="2048", my_key="x")) == {"num_ctx": 2048, "my_key": "x"}
    o = Options(num_ctx=1)
    o.num_ctx = "2"
    assert o.num_ctx == "2"
    assert Options(temperature=None, min_p="0.05").to_dict() == {"min_p": 0.05}
