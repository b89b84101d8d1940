"""``/api/generate``: streaming, aggregation, the scripted engine's contract, validation."""

from __future__ import annotations

import datetime
import json
import re
import uuid
from typing import Any

import pytest
from server_wire import Wire

from ollama_wire.server import OllamaServer
from ollama_wire.server._wire import parse_go_duration

UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
METRICS = [
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
]


def gen(wire: Wire, **body: Any) -> list[dict[str, Any]]:
    body.setdefault("model", "llama3.2")
    reply = wire.post("/api/generate", body)
    assert reply.status == 200, reply.body
    return reply.lines()


def text(lines: list[dict[str, Any]]) -> str:
    return "".join(line["response"] for line in lines)


def test_stream_is_the_default_and_chunked_one_line_per_chunk(wire: Wire) -> None:
    raw = wire.raw(
        "POST", "/api/generate", json.dumps({"model": "llama3.2", "prompt": "Why?"}).encode()
    )
    assert raw.status == 200
    assert raw.headers["content-type"] == "application/x-ndjson"
    assert raw.headers["transfer-encoding"] == "chunked"
    assert raw.complete
    assert len(raw.chunks) > 2
    for chunk in raw.chunks:
        assert chunk.endswith(b"\n")
        assert chunk.count(b"\n") == 1
        assert b": " not in chunk.split(b'"response"')[0]  # compact JSON like Go
    lines = raw.lines()
    assert all(not line["done"] for line in lines[:-1])
    assert lines[-1]["done"] is True


def test_chunk_fields_in_ollama_order(wire: Wire) -> None:
    lines = gen(wire, prompt="Why is the sky blue?")
    for line in lines[:-1]:
        assert list(line) == ["model", "created_at", "response", "done"]
        assert line["model"] == "llama3.2"
        assert UTC.match(line["created_at"])
    final = lines[-1]
    assert list(final) == [
        "model",
        "created_at",
        "response",
        "done",
        "done_reason",
        "context",
        *METRICS,
    ]
    assert final["response"] == ""
    assert final["done_reason"] == "stop"


def test_metrics_are_consistent_with_what_was_sent(wire: Wire) -> None:
    lines = gen(wire, prompt="Tell me about rivers and mountains")
    final = lines[-1]
    assert final["eval_count"] == len(lines) - 1
    assert final["prompt_eval_count"] > 0
    for key in METRICS:
        assert isinstance(final[key], int)
        assert final[key] > 0
    parts = final["load_duration"] + final["prompt_eval_duration"] + final["eval_duration"]
    assert final["total_duration"] >= parts
    assert final["context"][-1] != 0
    assert len(final["context"]) >= final["prompt_eval_count"]


def test_stream_false_aggregates_the_same_output(wire: Wire) -> None:
    streamed = gen(wire, prompt="Why is the sky blue?")
    reply = wire.post(
        "/api/generate", {"model": "llama3.2", "prompt": "Why is the sky blue?", "stream": False}
    )
    assert reply.headers["content-type"] == "application/json; charset=utf-8"
    whole = reply.json()
    assert whole["response"] == text(streamed)
    assert whole["done"] is True
    assert whole["context"] == streamed[-1]["context"]
    assert whole["eval_count"] == streamed[-1]["eval_count"]
    assert list(whole)[:5] == ["model", "created_at", "response", "done", "done_reason"]


def test_same_request_same_tokens_and_seed_changes_them(wire: Wire) -> None:
    a = text(gen(wire, prompt="hello", options={"seed": 1}))
    b = text(gen(wire, prompt="hello", options={"seed": 1}))
    others = {text(gen(wire, prompt="hello", options={"seed": s})) for s in range(2, 6)}
    assert a == b
    assert others - {a}


def test_num_predict_limits_tokens_with_done_reason_length(wire: Wire) -> None:
    natural = gen(wire, prompt="Tell me a story")
    assert natural[-1]["eval_count"] > 3
    cut = gen(wire, prompt="Tell me a story", options={"num_predict": 3})
    assert cut[-1]["done_reason"] == "length"
    assert cut[-1]["eval_count"] == 3
    assert len(cut) == 4
    assert text(natural).startswith(text(cut))


def test_num_predict_zero_produces_nothing(wire: Wire) -> None:
    lines = gen(wire, prompt="Tell me a story", options={"num_predict": 0})
    assert len(lines) == 1
    assert "eval_count" not in lines[0]  # omitempty, like Go
    assert lines[0]["done_reason"] == "length"


def test_stop_sequence_ends_the_output(wire: Wire) -> None:
    full = text(gen(wire, prompt="Tell me a story"))
    word = full.split()[2]
    cut = gen(wire, prompt="Tell me a story", options={"stop": [word]})
    assert cut[-1]["done_reason"] == "stop"
    assert text(cut) == full[: full.index(word)]
    assert word not in text(cut)


def test_format_json_gives_valid_json(wire: Wire) -> None:
    whole = wire.post(
        "/api/generate", {"model": "llama3.2", "prompt": "x", "format": "json", "stream": False}
    ).json()
    assert isinstance(json.loads(whole["response"]), dict)


def test_format_schema_gives_a_conforming_value(wire: Wire) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer", "minimum": 0, "maximum": 120},
            "tags": {"type": "array", "items": {"type": "string"}},
            "kind": {"enum": ["a", "b"]},
            "ok": {"type": "boolean"},
        },
        "required": ["name", "age"],
    }
    value = json.loads(text(gen(wire, prompt="Describe a person", format=schema)))
    assert isinstance(value["name"], str)
    assert isinstance(value["age"], int)
    assert 0 <= value["age"] <= 120
    assert all(isinstance(t, str) for t in value["tags"])
    assert value["kind"] in ("a", "b")
    assert isinstance(value["ok"], bool)


def test_format_schema_formats_and_fixed_tuples_conform(wire: Wire) -> None:
    """What a dataclass with a date, a datetime, a UUID and a tuple[float, float] asks for."""
    schema = {
        "type": "object",
        "properties": {
            "day": {"type": "string", "format": "date"},
            "at": {"type": "string", "format": "date-time"},
            "id": {"type": "string", "format": "uuid"},
            "where": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "string"}],
                      "minItems": 2, "maxItems": 2},
        },
    }
    value = json.loads(text(gen(wire, prompt="An event", format=schema)))
    assert datetime.date.fromisoformat(value["day"])
    assert datetime.datetime.fromisoformat(value["at"].replace("Z", "+00:00"))
    assert uuid.UUID(value["id"])
    assert [type(v) for v in value["where"]] == [float, str]


def test_context_continues_the_conversation(wire: Wire) -> None:
    first = gen(wire, prompt="Hello")
    again = gen(wire, prompt="More", context=first[-1]["context"])
    fresh = gen(wire, prompt="More")
    assert again[-1]["prompt_eval_count"] > fresh[-1]["prompt_eval_count"]
    assert again[-1]["context"][: len(first[-1]["context"])] == first[-1]["context"]


def test_raw_mode_returns_no_context(wire: Wire) -> None:
    lines = gen(wire, prompt="Hello", raw=True)
    assert "context" not in lines[-1]


def test_thinking_model_thinks_by_default(wire: Wire) -> None:
    whole = wire.post("/api/generate", {"model": "qwen3", "prompt": "2+2?", "stream": False}).json()
    assert whole["thinking"]
    assert whole["response"]
    assert list(whole)[:5] == ["model", "created_at", "response", "thinking", "done"]
    off = wire.post(
        "/api/generate", {"model": "qwen3", "prompt": "2+2?", "stream": False, "think": False}
    ).json()
    assert "thinking" not in off


def test_thinking_streams_before_the_answer(wire: Wire) -> None:
    lines = gen(wire, model="qwen3", prompt="2+2?", think="high")
    kinds = ["thinking" if "thinking" in ln else "response" for ln in lines[:-1]]
    assert kinds == sorted(kinds, key=lambda k: k != "thinking")
    assert kinds[0] == "thinking"
    assert kinds[-1] == "response"


def test_logprobs(wire: Wire) -> None:
    lines = gen(wire, prompt="hi", logprobs=True, top_logprobs=2)
    for line in lines[:-1]:
        (entry,) = line["logprobs"]
        assert entry["token"] == line["response"]
        assert entry["logprob"] <= 0
        assert bytes(entry["bytes"]).decode() == line["response"]
        assert len(entry["top_logprobs"]) == 2


def test_load_and_unload_replies(wire: Wire, ollama_server: OllamaServer) -> None:
    reply = wire.post("/api/generate", {"model": "llama3.2"})
    assert reply.headers["content-type"] == "application/json; charset=utf-8"
    body = reply.json()
    assert list(body) == ["model", "created_at", "response", "done", "done_reason"]
    assert (body["response"], body["done"], body["done_reason"]) == ("", True, "load")
    names = [m["name"] for m in wire.get("/api/ps").json()["models"]]
    assert names == ["llama3.2:latest"]
    body = wire.post("/api/generate", {"model": "llama3.2", "keep_alive": 0}).json()
    assert (body["done"], body["done_reason"]) == (True, "unload")
    assert wire.get("/api/ps").json()["models"] == []


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"prompt": "x"}, 404, "model '' not found"),
        ({"model": "nope", "prompt": "x"}, 404, "model 'nope' not found"),
        (
            {"model": "llama3.2", "prompt": "x", "keep_alive": "300"},
            400,
            'time: missing unit in duration "300"',
        ),
        (
            {"model": "llama3.2", "prompt": "x", "keep_alive": "-1"},
            400,
            'time: missing unit in duration "-1"',
        ),
        (
            {"model": "llama3.2", "prompt": "x", "keep_alive": "soon"},
            400,
            'time: invalid duration "soon"',
        ),
        ({"model": "llama3.2", "prompt": "x", "keep_alive": True}, 400, "Unsupported type: 'bool'"),
        (
            {"model": "llama3.2", "prompt": "x", "options": {"temperature": "hot"}},
            500,
            'option "temperature" must be of type float32',
        ),
        (
            {"model": "llama3.2", "prompt": "x", "options": {"num_ctx": "big"}},
            500,
            'option "num_ctx" must be of type integer',
        ),
        (
            {"model": "llama3.2", "prompt": "x", "options": {"stop": "\n"}},
            500,
            'option "stop" must be of type array',
        ),
        (
            {"model": "llama3.2", "prompt": "x", "options": {"use_mmap": 1}},
            500,
            'option "use_mmap" must be of type boolean',
        ),
        (
            {"model": "llama3.2", "prompt": "x", "stream": "yes"},
            400,
            "json: cannot unmarshal string into Go struct field GenerateRequest.stream "
            "of type bool",
        ),
        (
            {"model": "llama3.2", "prompt": 5},
            400,
            "json: cannot unmarshal number into Go struct field GenerateRequest.prompt "
            "of type string",
        ),
        (
            {"model": "llama3.2", "prompt": "x", "raw": True, "system": "s"},
            400,
            "raw mode does not support template, system, or context",
        ),
        (
            {"model": "llama3.2", "prompt": "x", "think": True},
            400,
            '"llama3.2" does not support thinking',
        ),
        (
            {"model": "qwen3", "prompt": "x", "think": "hard"},
            400,
            'invalid think value: "hard" (must be "high", "medium", "low", "max", true, or false)',
        ),
        (
            {"model": "llama3.2", "prompt": "x", "top_logprobs": 21},
            400,
            "top_logprobs must be between 0 and 20",
        ),
        ({"model": "all-minilm", "prompt": "x"}, 400, '"all-minilm" does not support generate'),
        (
            {"model": "llama3.2", "prompt": "x", "suffix": "y"},
            400,
            "registry.ollama.ai/library/llama3.2:latest does not support insert",
        ),
        (
            {"model": "llama3.2", "prompt": "x", "format": "yaml"},
            500,
            'invalid format: "\\"yaml\\""; expected "json" or a valid JSON Schema object',
        ),
        (
            {"model": "llama3.2", "prompt": "x", "images": ["data:image/png;base64,AAAA"]},
            400,
            "illegal base64 data at input byte 4",
        ),
    ],
)
def test_errors(wire: Wire, body: dict[str, Any], status: int, error: str) -> None:
    reply = wire.post("/api/generate", body)
    assert (reply.status, reply.json()) == (status, {"error": error})


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"", "missing request body"),
        (b"{nope", "invalid character 'n' looking for beginning of object key string"),
        (b"x", "invalid character 'x' looking for beginning of value"),
        (b'{"model": "llama3.2"', "unexpected EOF"),
        (b"[1]", "json: cannot unmarshal array into Go value of type api.GenerateRequest"),
    ],
)
def test_bad_bodies(wire: Wire, raw: bytes, error: str) -> None:
    reply = wire.post("/api/generate", raw)
    assert (reply.status, reply.json()) == (400, {"error": error})


@pytest.mark.parametrize("keep_alive", ["5m", "1h30m", 10, 2.5, "0.5s"])
def test_keep_alive_accepted(wire: Wire, keep_alive: Any) -> None:
    reply = wire.post(
        "/api/generate",
        {"model": "llama3.2", "prompt": "x", "stream": False, "keep_alive": keep_alive},
    )
    assert reply.status == 200


def test_unknown_options_are_ignored(wire: Wire) -> None:
    reply = wire.post(
        "/api/generate",
        {
            "model": "llama3.2",
            "prompt": "x",
            "stream": False,
            "options": {"mirostat": 2, "penalize_newline": True},
        },
    )
    assert reply.status == 200


def test_debug_render_only_does_not_generate(wire: Wire, ollama_server: OllamaServer) -> None:
    body = wire.post(
        "/api/generate",
        {
            "model": "llama3.2",
            "prompt": "Hello there",
            "system": "Be kind",
            "stream": False,
            "_debug_render_only": True,
        },
    ).json()
    assert list(body) == ["model", "created_at", "response", "done", "_debug_info"]
    assert body["done"] is False
    info = body["_debug_info"]
    assert "Hello there" in info["rendered_template"]
    assert "Be kind" in info["rendered_template"]
    assert info["image_count"] == 0
    assert ollama_server.requests.last("/api/generate").tokens == 0
    assert wire.get("/api/ps").json()["models"] == []


def test_a_long_num_predict_makes_a_long_stream(wire: Wire) -> None:
    lines = gen(wire, prompt="Go on", options={"num_predict": 60})
    assert len(lines) == 61
    assert lines[-1]["eval_count"] == 60
    assert lines[-1]["done_reason"] == "length"


def test_images_need_a_vision_model(wire: Wire) -> None:
    image = "iVBORw0KGgo="
    wire.post("/api/pull", {"model": "llava", "stream": False})
    ok = wire.post(
        "/api/generate",
        {"model": "llava", "prompt": "What is this?", "images": [image], "stream": False},
    )
    assert ok.status == 200
    assert ok.json()["response"]
    refused = wire.post("/api/generate", {"model": "llama3.2", "prompt": "x", "images": [image]})
    assert (refused.status, refused.json()) == (
        400,
        {"error": "registry.ollama.ai/library/llama3.2:latest does not support vision"},
    )


@pytest.mark.parametrize(
    "body",
    [
        {"model": "all-minilm", "keep_alive": 0},
        {"model": "llama3.2", "keep_alive": 0, "think": True},
        {"model": "llama3.2", "keep_alive": "0s", "raw": True, "system": "s"},
        {"model": "llama3.2", "keep_alive": 0, "suffix": "y"},
        {"model": "llama3.2", "keep_alive": 0, "options": {"temperature": "hot"}},
        {"model": "llama3.2", "keep_alive": 0, "format": "yaml"},
        {"Model": "llama3.2", "Keep_Alive": 0},
    ],
)
def test_unload_answers_before_the_model_checks(wire: Wire, body: dict[str, Any]) -> None:
    wire.post("/api/generate", {"model": body.get("model", "llama3.2")})
    reply = wire.post("/api/generate", body)
    assert reply.status == 200, reply.body
    assert reply.json()["done_reason"] == "unload"
    assert wire.get("/api/ps").json()["models"] == []


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"model": "nope", "keep_alive": 0}, 404, "model 'nope' not found"),
        (
            {"model": "llama3.2", "keep_alive": 0, "top_logprobs": 21},
            400,
            "top_logprobs must be between 0 and 20",
        ),
        ({"model": "all-minilm"}, 400, '"all-minilm" does not support generate'),
        ({"model": "llama3.2", "think": True}, 400, '"llama3.2" does not support thinking'),
        (
            {"model": "llama3.2", "raw": True, "system": "s"},
            400,
            "raw mode does not support template, system, or context",
        ),
        (
            {"model": "llama3.2", "options": {"stop": "x"}},
            500,
            'option "stop" must be of type array',
        ),
        # Ollama checks thinking in the handler, before the scheduler checks capabilities.
        (
            {"model": "all-minilm", "prompt": "x", "think": True},
            400,
            '"all-minilm" does not support thinking',
        ),
    ],
)
def test_what_is_checked_before_a_load(
    wire: Wire, body: dict[str, Any], status: int, error: str
) -> None:
    reply = wire.post("/api/generate", body)
    assert (reply.status, reply.json()) == (status, {"error": error})


def test_format_is_checked_after_the_load_reply(wire: Wire) -> None:
    body = wire.post("/api/generate", {"model": "llama3.2", "format": "yaml"}).json()
    assert body["done_reason"] == "load"


def test_only_a_requested_keep_alive_of_0_unloads(ollama_server_factory: Any) -> None:
    wire = Wire(ollama_server_factory(keep_alive=0).url)
    body = wire.post("/api/generate", {"model": "llama3.2"}).json()
    assert body["done_reason"] == "load"
    body = wire.post("/api/generate", {"model": "llama3.2", "keep_alive": None}).json()
    assert body["done_reason"] == "load"


@pytest.mark.parametrize("path", ["/api/generate", "/api/embed"])
@pytest.mark.parametrize(
    ("keep_alive", "error"),
    [
        ("", 'time: invalid duration ""'),
        ("+", 'time: invalid duration "+"'),
        ("-", 'time: invalid duration "-"'),
        (".", 'time: invalid duration "."'),
        (".s", 'time: invalid duration ".s"'),
        (" 5m", 'time: invalid duration " 5m"'),
        ("1.", 'time: missing unit in duration "1."'),
        ("00", 'time: missing unit in duration "00"'),
        ("1h-2m", 'time: unknown unit "h-" in duration "1h-2m"'),
        ("1e3s", 'time: unknown unit "e" in duration "1e3s"'),
        ("5m ", 'time: unknown unit "m " in duration "5m "'),
        ("1é", 'time: unknown unit "\\xc3\\xa9" in duration "1\\xc3\\xa9"'),
        ('1"', 'time: unknown unit "\\"" in duration "1\\""'),
        ("9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"'),
        ("2562048h", 'time: invalid duration "2562048h"'),
    ],
)
def test_keep_alive_strings_fail_like_go(
    wire: Wire, path: str, keep_alive: str, error: str
) -> None:
    model = "all-minilm" if path == "/api/embed" else "llama3.2"
    reply = wire.post(path, {"model": model, "prompt": "x", "input": "x", "keep_alive": keep_alive})
    assert (reply.status, reply.json()) == (400, {"error": error})


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("-0", 0),
        ("+5m", 300_000_000_000),
        (".5s", 500_000_000),
        ("-.5s", -500_000_000),
        ("1.h", 3_600_000_000_000),
        ("1.5h", 5_400_000_000_000),
        ("1h30m", 5_400_000_000_000),
        ("0.1µs", 100),
        ("1.9999999999s", 1_999_999_999),
        ("1.0000000000000000000001s", 1_000_000_000),
        ("9223372036854775807ns", 2**63 - 1),
        ("-9223372036854775808ns", -(2**63)),
    ],
)
def test_go_durations(text: str, ns: int) -> None:
    assert parse_go_duration(text) == ns


@pytest.mark.parametrize("keep_alive", [".5s", "1.h", "-0", 1e300])
def test_more_keep_alives_accepted(wire: Wire, keep_alive: Any) -> None:
    reply = wire.post(
        "/api/generate",
        {"model": "llama3.2", "prompt": "x", "stream": False, "keep_alive": keep_alive},
    )
    assert reply.status == 200, reply.body


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (
            b'{"model": "llama3.2", "keep_alive": NaN}',
            "invalid character 'N' looking for beginning of value",
        ),
        (
            b'{"model": "llama3.2", "keep_alive": Infinity}',
            "invalid character 'I' looking for beginning of value",
        ),
        (
            b'{"model": "llama3.2", "keep_alive": -Infinity}',
            "invalid character 'I' in numeric literal",
        ),
    ],
)
def test_python_only_json_is_refused(wire: Wire, raw: bytes, error: str) -> None:
    reply = wire.post("/api/generate", raw)
    assert (reply.status, reply.json()) == (400, {"error": error})


def test_field_names_match_in_any_case(wire: Wire) -> None:
    reply = wire.post("/api/generate", {"Model": "llama3.2", "PROMPT": "hi", "Stream": False})
    assert reply.status == 200, reply.body
    same = wire.post("/api/generate", {"model": "llama3.2", "prompt": "hi", "stream": False})
    assert reply.json()["response"] == same.json()["response"]
    refused = wire.post("/api/generate", {"Model": "llama3.2", "Stream": "yes"})
    assert (refused.status, refused.json()) == (
        400,
        {
            "error": "json: cannot unmarshal string into Go struct field GenerateRequest.stream "
            "of type bool"
        },
    )


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b'{"model": "nope", "Model": "llama3.2", "prompt": "x", "stream": false}', 200),
        (b'{"Model": "llama3.2", "model": "nope", "prompt": "x", "stream": false}', 404),
        (b'{"MODEL": "nope", "model": "llama3.2", "Model": "nope", "prompt": "x"}', 404),
    ],
)
def test_the_last_of_repeated_keys_wins(wire: Wire, raw: bytes, status: int) -> None:
    assert wire.post("/api/generate", raw).status == status
