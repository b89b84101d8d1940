"""The sans-IO core: line and stream decoding byte by byte, payloads, input checks."""

from __future__ import annotations

import base64
import dataclasses
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ollama_wire import (
    ChatResponse,
    IncompleteStreamError,
    InvalidResponseError,
    LineTooLongError,
    Message,
    OllamaError,
    Options,
    RequestError,
    ResponseError,
    StreamError,
    Tool,
)
from ollama_wire import _protocol as P
from ollama_wire._protocol import DEFAULT_MAX_LINE_SIZE, LineDecoder, StreamDecoder

RECORDS = [
    {"model": "m", "response": "a\u2028b", "done": False},
    {"model": "m", "response": "c\x85d\u2029é😀", "done": False},
    {"model": "m", "response": "", "done": True, "eval_count": 2},
]
BODY = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in RECORDS)


def _decode_all(pieces: list[bytes], max_line_size: int = DEFAULT_MAX_LINE_SIZE) -> list[Any]:
    decoder = StreamDecoder(P.generate("m", "hi", stream=True), max_line_size)
    out = []
    for piece in pieces:
        out.extend(decoder.feed(piece))
    out.extend(decoder.finish())
    return [c.to_dict() for c in out]


def test_the_default_line_limit_is_16_mib() -> None:
    assert DEFAULT_MAX_LINE_SIZE == 16 * 1024 * 1024


def test_split_at_every_offset() -> None:
    for cut in range(len(BODY) + 1):
        assert _decode_all([BODY[:cut], BODY[cut:]]) == RECORDS, cut


def test_one_byte_at_a_time() -> None:
    assert _decode_all([BODY[i : i + 1] for i in range(len(BODY))]) == RECORDS


def test_u2028_and_nel_stay_inside_strings() -> None:
    chunks = _decode_all([BODY])
    assert chunks[0]["response"] == "a\u2028b"
    assert chunks[1]["response"] == "c\x85d\u2029é😀"


def test_blank_lines_crlf_and_a_last_line_without_newline() -> None:
    body = b'\n\r\n{"response":"a","done":false}\r\n  \n\n{"response":"b","done":true}'
    assert [c["response"] for c in _decode_all([body])] == ["a", "b"]


def test_line_decoder_keeps_partial_lines() -> None:
    decoder = LineDecoder()
    assert decoder.feed(b"ab") == []
    assert decoder.feed(b"c\nde") == [b"abc"]
    assert decoder.feed(b"\n\n") == [b"de"]
    assert decoder.flush() == []


def test_a_very_long_line_in_many_pieces() -> None:
    text = "x" * 3_000_000
    line = json.dumps({"response": text, "done": True}).encode() + b"\n"
    pieces = [line[i : i + 1000] for i in range(0, len(line), 1000)]
    assert _decode_all(pieces)[0]["response"] == text


def test_a_line_past_the_limit_raises_without_buffering_it() -> None:
    decoder = LineDecoder(max_line_size=100)
    decoder.feed(b"x" * 60)
    with pytest.raises(LineTooLongError, match="100-byte limit") as info:
        decoder.feed(b"y" * 60)
    assert decoder._size == 0
    assert decoder._parts == []
    assert isinstance(info.value, ResponseError)


def test_a_complete_line_past_the_limit_raises() -> None:
    with pytest.raises(LineTooLongError):
        LineDecoder(max_line_size=10).feed(b'{"a": "0123456789"}\n')


def test_a_line_at_the_limit_passes() -> None:
    line = b'{"done":true}'
    assert LineDecoder(max_line_size=len(line)).feed(line + b"\n") == [line]


def test_line_too_long_carries_the_chunks_received() -> None:
    decoder = StreamDecoder(P.generate("m", stream=True), max_line_size=50)
    decoder.feed(b'{"response":"a","done":false}\n')
    with pytest.raises(LineTooLongError) as info:
        decoder.feed(b"z" * 100)
    assert [c.response for c in info.value.chunks] == ["a"]


def test_an_error_line_raises_stream_error_with_the_chunks() -> None:
    decoder = StreamDecoder(P.chat("m", stream=True))
    body = b'{"message":{"role":"assistant","content":"hi"},"done":false}\n{"error":"boom"}\n'
    with pytest.raises(StreamError) as info:
        decoder.feed(body)
    err = info.value
    assert err.error == "boom"
    assert err.status_code == -1
    assert str(err) == "boom (status code: -1)"
    assert isinstance(err, ResponseError)
    assert [c.message.content for c in err.chunks] == ["hi"]


def test_an_early_end_raises_incomplete_stream_with_the_chunks() -> None:
    decoder = StreamDecoder(P.pull("m", stream=True))
    decoder.feed(b'{"status":"pulling manifest"}\n')
    with pytest.raises(IncompleteStreamError, match="without its final chunk") as info:
        decoder.finish()
    assert [c.status for c in info.value.chunks] == ["pulling manifest"]
    assert isinstance(info.value, ConnectionError)


def test_progress_streams_end_with_success() -> None:
    decoder = StreamDecoder(P.pull("m", stream=True))
    chunks = decoder.feed(b'{"status":"pulling manifest"}\n{"status":"success"}\n')
    assert decoder.finish() == []
    assert [c.status for c in chunks] == ["pulling manifest", "success"]


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (b"not json\n", "not json"),
        (b'{"done": tru\n', "tru"),
        (b"[1, 2]\n", "[1, 2]"),
        (b'"text"\n', "text"),
        (b'{"response": "\xff\xfe"}\n', "response"),
        (b"[" * 100_000 + b"\n", "[[["),
    ],
)
def test_malformed_lines_give_a_clear_error_showing_what_arrived(line: bytes, shown: str) -> None:
    decoder = StreamDecoder(P.generate("m", stream=True))
    with pytest.raises(InvalidResponseError) as info:
        decoder.feed(line)
    assert shown in str(info.value)
    assert len(str(info.value)) < 400


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=20))
def test_any_bytes_give_records_or_our_own_error(pieces: list[bytes]) -> None:
    decoder = StreamDecoder(P.generate("m", stream=True), max_line_size=200)
    try:
        for piece in pieces:
            for chunk in decoder.feed(piece):
                assert isinstance(chunk.to_dict(), dict)
        decoder.finish()
    except OllamaError:
        pass


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.dictionaries(st.text(max_size=5), st.text(max_size=20), max_size=3), max_size=5),
    st.data(),
)
def test_any_split_of_valid_records_round_trips(records: list[dict[str, str]], data: Any) -> None:
    records = [{k: v for k, v in r.items() if k != "error"} for r in records]
    records.append({"done": True})
    body = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=6)))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=False)]
    decoder = StreamDecoder(P.generate("m", stream=True))
    out = [c.to_dict() for piece in pieces for c in decoder.feed(piece)]
    out += [c.to_dict() for c in decoder.finish()]
    assert out == records


# Whole bodies -----------------------------------------------------------------------------


def test_parse_body_maps_statuses_and_empty_bodies() -> None:
    assert P.parse_body(P.copy("a", "b"), 200, b"").status == "success"
    assert P.parse_body(P.version(), 200, b'{"version":"1"}').version == "1"
    with pytest.raises(InvalidResponseError, match="empty response body"):
        P.parse_body(P.version(), 200, b"")
    with pytest.raises(InvalidResponseError, match="<html>"):
        P.parse_body(P.version(), 200, b"<html>proxy</html>")


# Payloads: the same JSON as the official SDK ------------------------------------------------


def test_chat_payload_always_sends_tools_and_stream() -> None:
    call = P.chat("m", [{"role": "user", "content": "hi"}])
    assert call.body == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [],
        "stream": False,
    }
    assert (call.method, call.path, call.stream, call.side_effects) == (
        "POST", "/api/chat", False, False,
    )


def test_chat_payload_with_every_option() -> None:
    call = P.chat(
        "m",
        [Message(role="user", content="hi")],
        tools=[{"type": "function", "function": {"name": "f"}}],
        stream=True,
        think="high",
        logprobs=True,
        top_logprobs=3,
        format="json",
        options=Options(temperature=0.5, min_p=0.1, custom_key=1),
        keep_alive="5m",
    )
    assert call.body == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "stream": True,
        "think": "high",
        "logprobs": True,
        "top_logprobs": 3,
        "format": "json",
        "options": {"temperature": 0.5, "min_p": 0.1, "custom_key": 1},
        "keep_alive": "5m",
    }


def test_generate_payload_sends_only_given_fields() -> None:
    assert P.generate("m", "hi").body == {"model": "m", "prompt": "hi", "stream": False}
    body = P.generate("m", "hi", "end", system="s", raw=True, context=(1, 2), keep_alive=0).body
    assert body == {
        "model": "m", "prompt": "hi", "suffix": "end", "system": "s", "raw": True,
        "context": [1, 2], "keep_alive": 0, "stream": False,
    }


def test_other_payloads() -> None:
    assert P.embed("m", ["a", "b"], dimensions=4).body == {
        "model": "m", "input": ["a", "b"], "dimensions": 4,
    }
    assert P.embed("m").body == {"model": "m", "input": ""}
    assert P.embeddings("m", "hi").body == {"model": "m", "prompt": "hi"}
    assert P.pull("m").body == {"model": "m", "insecure": False, "stream": False}
    assert P.push("m", stream=True).body == {"model": "m", "insecure": False, "stream": True}
    assert P.create("new", from_="m", system="s").body == {
        "model": "new", "stream": False, "from": "m", "system": "s",
    }
    assert P.delete("m").body == {"model": "m"}
    assert P.delete("m").method == "DELETE"
    assert P.copy("a", "b").body == {"source": "a", "destination": "b"}
    assert P.show("m").body == {"model": "m"}
    assert P.show("m", verbose=True).body == {"model": "m", "verbose": True}
    assert P.unload("m").body == {"model": "m", "keep_alive": 0, "stream": False}
    assert (P.list_models().method, P.list_models().path) == ("GET", "/api/tags")
    assert (P.ps().path, P.version().path) == ("/api/ps", "/api/version")


def test_side_effects() -> None:
    assert [c.side_effects for c in (P.push("m"), P.create("m"), P.delete("m"))] == [True] * 3
    # Sent twice, a copy or a blob upload does what it does once.
    assert [c.side_effects for c in (P.pull("m"), P.chat("m"), P.generate("m"),
                                     P.embed("m"), P.show("m"), P.copy("a", "b"))] == [False] * 6


def test_blob_hashes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "w.gguf"
    path.write_bytes(b"weights")
    call = P.blob(path)
    assert call.path == "/api/blobs/sha256:" + __import__("hashlib").sha256(b"weights").hexdigest()
    assert call.result == call.path.rsplit("/", 1)[1]
    assert call.upload == path
    assert not call.side_effects  # named by its content: sent twice, stored once
    with pytest.raises(RequestError, match="cannot read blob file"):
        P.blob(tmp_path / "missing")


# Input checks --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["300", "-1", "5 minutes", "", True, [1]])
def test_bad_keep_alive_is_rejected_before_sending(value: Any) -> None:
    with pytest.raises(RequestError, match="keep_alive"):
        P.chat("m", keep_alive=value)


@pytest.mark.parametrize(
    ("value", "sent"),
    [(0, 0), (-1, -1), (1.5, 1.5), ("0", "0"), ("5m", "5m"), ("1h30m", "1h30m"),
     ("-1m", "-1m"), ("1.5s", "1.5s"), (" 10s ", "10s")],
)
def test_good_keep_alive(value: Any, sent: Any) -> None:
    assert P.generate("m", keep_alive=value).body["keep_alive"] == sent  # type: ignore[index]


@pytest.mark.parametrize("think", [True, False, "low", "medium", "high", "max"])
def test_think_values(think: Any) -> None:
    assert P.chat("m", think=think).body["think"] == think  # type: ignore[index]


@pytest.mark.parametrize("think", ["none", "HIGH", 1])
def test_bad_think(think: Any) -> None:
    with pytest.raises(RequestError, match="think"):
        P.chat("m", think=think)


def test_format_forms() -> None:
    class Point:
        @classmethod
        def model_json_schema(cls) -> dict[str, Any]:
            return {"type": "object", "properties": {"x": {"type": "integer"}}}

    schema = {"type": "object"}
    assert P.chat("m", format="json").body["format"] == "json"  # type: ignore[index]
    assert P.chat("m", format=schema).body["format"] == schema  # type: ignore[index]
    sent = P.chat("m", format=Point).body["format"]  # type: ignore[index]
    assert sent["properties"]["x"]["type"] == "integer"
    with pytest.raises(RequestError, match="format"):
        P.chat("m", format="yaml")  # type: ignore[arg-type]


def test_options_checks() -> None:
    assert P.chat("m", options={"stop": ["\n"]}).body["options"] == {"stop": ["\n"]}  # type: ignore[index]
    with pytest.raises(RequestError, match="stop"):
        P.chat("m", options={"stop": "\n"})
    with pytest.raises(RequestError, match="options"):
        P.chat("m", options=[("temperature", 1)])  # type: ignore[arg-type]


def test_model_is_required() -> None:
    for build in (lambda: P.chat(""), lambda: P.generate(""), lambda: P.embed(" "),
                  lambda: P.show(None)):  # type: ignore[arg-type]
        with pytest.raises(RequestError, match="model is required") as info:
            build()
        assert isinstance(info.value, ValueError)


def test_messages_checks_and_falsy_fields_dropped() -> None:
    sent = P.chat("m", [{"role": "user", "content": "", "images": None, "x": 1}]).body
    assert sent["messages"] == [{"role": "user", "x": 1}]  # type: ignore[index]
    with pytest.raises(RequestError, match="role"):
        P.chat("m", [{"content": "hi"}])
    with pytest.raises(RequestError, match="list of messages"):
        P.chat("m", {"role": "user"})  # type: ignore[arg-type]
    with pytest.raises(RequestError, match=r"messages\[0\]"):
        P.chat("m", ["hi"])  # type: ignore[list-item]


def test_tool_objects_and_dicts() -> None:
    tool = Tool(function=Tool.Function(
        name="add",
        parameters=Tool.Function.Parameters(
            type="object", required=["a"], defs={"X": {}},
            properties={"a": Tool.Function.Parameters.Property(type="integer")},
        ),
    ))
    assert P.convert_tools([tool]) == [{
        "type": "function",
        "function": {
            "name": "add",
            "parameters": {"type": "object", "required": ["a"], "$defs": {"X": {}},
                           "properties": {"a": {"type": "integer"}}},
        },
    }]


def test_python_functions_become_tools() -> None:
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    (tool,) = P.convert_tools([add])
    assert tool["function"]["name"] == "add"
    assert set(tool["function"]["parameters"]["properties"]) == {"a", "b"}


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
PNG64 = base64.b64encode(PNG).decode()


def test_images_as_path_bytes_base64_and_data_url(tmp_path: Path) -> None:
    path = tmp_path / "i.png"
    path.write_bytes(PNG)
    images = [path, str(path), PNG, PNG64, f"data:image/png;base64,{PNG64}"]
    assert P.generate("m", images=images).body["images"] == [PNG64] * 5  # type: ignore[index]
    sent = P.chat("m", [{"role": "user", "content": "x", "images": [PNG]}]).body
    assert sent["messages"][0]["images"] == [PNG64]  # type: ignore[index]


@pytest.mark.parametrize(
    ("image", "match"),
    [("missing.png", "does not exist"), ("not base64!", "neither an existing file"),
     ("abc", "neither"), (12, "path, bytes or a base64"), ("data:image/png", "no ','")],
)
def test_bad_images_are_rejected_before_sending(image: Any, match: str) -> None:
    with pytest.raises(RequestError, match=match):
        P.generate("m", images=[image])
    with pytest.raises(RequestError, match=r"messages\[0\]"):
        P.chat("m", [{"role": "user", "images": [image]}])


def test_chat_response_wraps_without_copying() -> None:
    data = {"message": {"role": "assistant", "content": "x"}, "done": True}
    response = ChatResponse._wrap(data)
    response.message.content = "y"
    assert data["message"]["content"] == "y"


# Values JSON cannot carry, and other input checks ------------------------------------------

_CYCLE: list[Any] = []
_CYCLE.append(_CYCLE)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"options": {"temperature": float("nan")}}, "options['temperature'] is nan, "),
        ({"options": {"temperature": float("inf")}}, "options['temperature'] is inf, "),
        ({"options": {"x": [1, float("-inf")]}}, "options['x'][1] is -inf, "),
        ({"options": {"seed": object()}}, "options['seed'] is of type object, "),
        ({"options": {"seed": {1, 2}}}, "options['seed'] is of type set, "),
        ({"messages": [{"role": "user", "content": "\ud800"}]},
         "messages[0]['content'] holds a lone surrogate"),
        ({"format": {(1, 2): "x"}}, "format has a key of type tuple, "),
        ({"options": {"stop": _CYCLE}}, "options['stop'][0] contains itself"),
    ],
)
def test_values_json_cannot_carry_are_named(body: dict[str, Any], message: str) -> None:
    with pytest.raises(RequestError) as info:
        P.encode_json(body)
    assert str(info.value).startswith(message)
    assert isinstance(info.value, ValueError)


def test_encode_json_is_compact_utf8() -> None:
    body = {"a": [1, 2.5, "é😀", None, True], "b": {"c": 1e300}}
    assert P.encode_json(body) == json.dumps(body, ensure_ascii=False,
                                             separators=(",", ":")).encode()


def test_a_bad_value_fails_when_the_call_is_built_into_an_exchange() -> None:
    call = P.generate("m", "hi", options={"temperature": float("nan")}, stream=True)
    with pytest.raises(RequestError, match=r"options\['temperature'\] is nan"):
        P.Exchange(call, "http://h/api/generate", {}, 0, False)


@pytest.mark.parametrize("value", [42, 4.2, None, b"ab", [1], ["a", None], {"a": 1}])
def test_embed_input_must_be_strings(value: Any) -> None:
    with pytest.raises(RequestError, match="input must be a string or a list of strings"):
        P.embed("m", value)


def test_embed_input_forms() -> None:
    assert P.embed("m", "x").body == {"model": "m", "input": "x"}
    assert P.embed("m", ("a", "b")).body == {"model": "m", "input": ["a", "b"]}


def test_verify_values(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert P.check_verify(True) is True
    assert P.check_verify(False) is False
    assert P.check_verify(str(bundle)) == str(bundle)
    assert P.check_verify(bundle) == str(bundle)
    assert P.check_verify(tmp_path) == str(tmp_path)
    with pytest.raises(RequestError, match=r"no CA bundle at '.*missing\.pem'"):
        P.check_verify(tmp_path / "missing.pem")
    with pytest.raises(RequestError, match="no CA bundle at ''"):
        P.check_verify("")
    for bad in (1, None, b"/etc/ssl/cert.pem"):
        with pytest.raises(RequestError, match="verify must be True, False or a CA bundle"):
            P.check_verify(bad)


# Whole bodies ------------------------------------------------------------------------------


def test_a_body_at_the_limit_passes_in_any_pieces() -> None:
    body = b'{"response":"' + b"x" * 80 + b'"}'
    for cut in range(len(body) + 1):
        reader = P.BodyReader(len(body))
        reader.feed(body[:cut])
        reader.feed(body[cut:])
        assert reader.body() == body


def test_a_body_past_the_limit_raises_with_its_start() -> None:
    reader = P.BodyReader(100)
    reader.feed(b'{"response":"' + b"y" * 50)
    shown = r"longer than the 100-byte limit \(max_line_size\); it starts with '\{\"response\""
    with pytest.raises(LineTooLongError, match=shown) as info:
        reader.feed(b"y" * 51)
    assert isinstance(info.value, InvalidResponseError)
    assert reader.body() == b""  # what was read is let go


# Chunks are kept as the bytes they came from -----------------------------------------------


def test_chunks_are_rebuilt_from_the_bytes_received() -> None:
    decoder = StreamDecoder(P.generate("m", "hi", stream=True))
    data = b"\r\n".join(json.dumps(r, ensure_ascii=False).encode() for r in RECORDS[:2])
    got = decoder.feed(b"\n \n" + data[:7])
    got += decoder.feed(data[7:] + b"\r\n\n" + BODY[-20:-1])  # a partial line stays out
    assert [c.to_dict() for c in got] == RECORDS[:2]
    assert decoder.chunks == got
    assert decoder.chunks == decoder.chunks
    assert decoder.count == 2
    last = json.dumps(RECORDS[2]).encode()
    decoder = StreamDecoder(P.generate("m", "hi", stream=True))
    got = decoder.feed(BODY[: -len(last) - 1]) + decoder.feed(last)
    got += decoder.finish()  # the last line had no newline
    assert [c.to_dict() for c in decoder.chunks] == RECORDS
    assert decoder.chunks == got


def test_an_error_keeps_the_chunks_of_its_own_read() -> None:
    decoder = StreamDecoder(P.generate("m", "hi", stream=True))
    good = json.dumps(RECORDS[0]).encode()
    with pytest.raises(StreamError) as info:
        decoder.feed(good + b"\n" + good + b'\n{"error":"boom"}\n')
    assert [c.to_dict() for c in info.value.chunks] == [RECORDS[0], RECORDS[0]]
    decoder = StreamDecoder(P.generate("m", "hi", stream=True))
    with pytest.raises(InvalidResponseError) as bad:
        decoder.feed(good + b"\n[1]\n")
    assert [c.to_dict() for c in bad.value.chunks] == [RECORDS[0]]


def test_a_long_stream_keeps_its_bytes_compressed_and_every_chunk() -> None:
    """Past `KEEP_RAW`, the history is kept compressed: far less than the bytes received."""
    lines = [
        json.dumps({"model": "m", "created_at": f"2026-11-29T18:00:00.{i:09d}Z",
                    "response": f" token{i}", "done": False}).encode()
        for i in range(20_000)
    ]
    data = b"\n".join(lines) + b"\n"
    assert len(data) > 4 * P.KEEP_RAW
    pieces = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    tracemalloc.start()
    try:
        decoder = StreamDecoder(P.generate("m", "hi", stream=True))
        for piece in pieces[: len(pieces) // 2]:
            decoder.feed(piece)  # the caller drops each chunk, as a loop over a stream does
        halfway = decoder.chunks  # reading the history does not stop it growing
        for piece in pieces[len(pieces) // 2 :]:
            decoder.feed(piece)
        del halfway
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert decoder.count == len(lines)
    assert kept < P.KEEP_RAW + len(data) / 4
    chunks = decoder.chunks
    assert [c.response for c in chunks] == [f" token{i}" for i in range(20_000)]
    assert chunks[7].created_at == "2026-11-29T18:00:00.000000007Z"


def test_a_short_stream_keeps_its_bytes_as_they_are() -> None:
    decoder = StreamDecoder(P.generate("m", "hi", stream=True))
    decoder.feed(b'{"response":"a","done":false}\n{"response":"b","done":false}\n')
    assert [c.response for c in decoder.chunks] == ["a", "b"]
    decoder.feed(b'{"response":"c","done":true}\n')
    assert [c.response for c in decoder.chunks] == ["a", "b", "c"]


def test_format_takes_an_annotation_such_as_a_list_of_dataclasses() -> None:
    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    schema = P.convert_format(list[Point])
    assert schema == {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
            "required": ["x", "y"],
            "additionalProperties": False,
        },
    }
