"""Property tests: the NDJSON decoder and the host parser under any input (hypothesis)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ollama_wire import _protocol as P
from ollama_wire._errors import LineTooLongError, OllamaError, RequestError
from ollama_wire._host import Host, parse_host
from ollama_wire._protocol import Call, LineDecoder, StreamDecoder

# Bounded, deterministic runs: the same examples every time, no deadline flakiness.
BOUNDED = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SHORT = settings(BOUNDED, max_examples=40)

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=6,
)
records = st.dictionaries(
    st.text(max_size=10).filter(lambda k: k not in ("error", "done")), json_values, max_size=5
)


def raw_call() -> Call[dict[str, Any]]:
    """A stream call whose chunks are the decoded dicts themselves."""
    return Call("POST", "/api/generate", dict, {"model": "m"}, stream=True)


def encode_stream(objs: list[dict[str, Any]], newline: bytes) -> bytes:
    return b"".join(
        json.dumps(o, ensure_ascii=False).encode("utf-8") + newline for o in objs
    )


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return pieces


@SHORT
@given(
    objs=st.lists(records, min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12),
    newline=st.sampled_from([b"\n", b"\r\n"]),
)
def test_any_split_of_a_valid_stream_gives_the_same_records(
    objs: list[dict[str, Any]], cuts: list[int], newline: bytes
) -> None:
    objs = [*objs[:-1], {**objs[-1], "done": True}]
    data = encode_stream(objs, newline)
    decoder = StreamDecoder(raw_call())
    got = []
    for piece in split_at(data, cuts):
        got.extend(decoder.feed(piece))
    got.extend(decoder.finish())
    assert got == objs
    assert decoder.chunks == objs
    assert decoder.done


@SHORT
@given(objs=st.lists(records, min_size=1, max_size=4))
def test_byte_at_a_time_equals_all_at_once(objs: list[dict[str, Any]]) -> None:
    stream = encode_stream(objs, b"\n")
    whole = LineDecoder().feed(stream)
    one = LineDecoder()
    single = [line for i in range(len(stream)) for line in one.feed(stream[i : i + 1])]
    assert single == whole == [json.dumps(o, ensure_ascii=False).encode() for o in objs]
    # A stream without its last newline gives its last line at flush.
    cut = LineDecoder()
    assert [*cut.feed(stream[:-1]), *cut.flush()] == whole


@SHORT
@given(
    objs=st.lists(records, min_size=1, max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=8),
)
def test_typed_chunks_do_not_depend_on_the_split(
    objs: list[dict[str, Any]], cuts: list[int]
) -> None:
    call = P.chat("llama3.2", [{"role": "user", "content": "hi"}], stream=True)
    data = encode_stream([*objs, {"done": True}], b"\n")
    whole: StreamDecoder[Any] = StreamDecoder(call)
    expected = [c.to_dict() for c in [*whole.feed(data), *whole.finish()]]
    parts: StreamDecoder[Any] = StreamDecoder(call)
    got = [c.to_dict() for piece in split_at(data, cuts) for c in parts.feed(piece)]
    got.extend(c.to_dict() for c in parts.finish())
    assert got == expected == [*objs, {"done": True}]


def _decode_all(call: Call[Any], pieces: list[bytes], max_line_size: int) -> None:
    decoder: StreamDecoder[Any] = StreamDecoder(call, max_line_size)
    out: list[Any] = []
    failed: OllamaError | None = None
    try:
        for piece in pieces:
            out.extend(decoder.feed(piece))
        out.extend(decoder.finish())
    except OllamaError as exc:
        failed = exc
    if failed is None:
        assert decoder.done
        assert out == decoder.chunks
    else:
        # Whatever failed, the chunks decoded before it are kept, and the message says what.
        assert list(failed.chunks) == decoder.chunks
        assert decoder.chunks[: len(out)] == out
        assert str(failed)


ndjsonish = st.lists(
    st.one_of(
        st.binary(max_size=40),
        records.map(lambda o: json.dumps(o).encode()),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.sampled_from(
            [b"\n", b"\r\n", b"{", b"}", b'{"error": 1}', b'{"done": true}', b"\xff\xfe",
             b'"\\ud800"', b"[" * 3000, b"NaN", b"1e999999", b"\x00", b"\xc0\xaf"]
        ),
    ),
    max_size=12,
)


@BOUNDED
@given(pieces=ndjsonish, max_line_size=st.sampled_from([1, 7, 64, P.DEFAULT_MAX_LINE_SIZE]))
def test_any_bytes_give_records_or_the_librarys_own_error(
    pieces: list[bytes], max_line_size: int
) -> None:
    for call in (
        raw_call(),
        P.generate("llama3.2", "hi", stream=True),
        P.chat("llama3.2", [{"role": "user", "content": "hi"}], stream=True),
        P.pull("llama3.2", stream=True),
    ):
        _decode_all(call, pieces, max_line_size)
        _decode_all(call, [b"".join(pieces)], max_line_size)


@BOUNDED
@given(chunk=st.binary(min_size=1, max_size=200), limit=st.integers(min_value=1, max_value=64))
def test_an_overlong_line_raises_before_it_is_kept_whole(chunk: bytes, limit: int) -> None:
    decoder = LineDecoder(limit)
    piece = chunk.replace(b"\n", b"x")
    with pytest.raises(LineTooLongError, match=f"{limit}-byte limit"):  # noqa: PT012
        for _ in range(limit + 1):
            decoder.feed(piece)


@BOUNDED
@given(body=st.binary(max_size=300), status=st.sampled_from([200, 201, 400, 404, 429, 500, 503]))
def test_any_whole_body_gives_a_result_or_the_librarys_own_error(body: bytes, status: int) -> None:
    for call in (P.generate("m", "p"), P.list_models(), P.show("m"), P.copy("a", "b")):
        failed: OllamaError | None = None
        try:
            P.parse_body(call, status, body, "Reason")
        except OllamaError as exc:
            failed = exc
        assert failed is not None or status < 400
        assert failed is None or str(failed)


# the host parser

SECRET = "s3cr3t-pw"

# (host text, whether it carries SECRET as a URL password)
hostish = st.one_of(
    st.text(max_size=60).map(lambda text: (text, False)),
    st.builds(
        lambda scheme, user, host, port, path: (
            f"{scheme}{user}{host}{port}{path}", f":{SECRET}@" in user
        ),
        st.sampled_from(["", "http://", "https://", "HTTP://", "ftp://", "://", "h ttp://", "é://"]),
        st.sampled_from(
            ["", "u@", f"u:{SECRET}@", f"u:{SECRET}:q@", "@", f"%zz:{SECRET}@", f"a@b:{SECRET}@"]
        ),
        st.sampled_from(
            ["", "localhost", "127.0.0.1", "0.0.0.0", "::1", "[::1]", "::", "[fe80::1%eth0]",
             "example.com", "ollama.com", "xn--nxa.example", "ünïcode.com", "[", "]", "a b"]
        ),
        st.one_of(
            st.just(""),
            st.integers(min_value=-10, max_value=70000).map(lambda n: f":{n}"),
            st.sampled_from([":", ":abc", ":\uff11\uff12", ":+80", ": 80"]),
        ),
        st.sampled_from(["", "/", "/api", "/a/b/", "?q=1", "#frag", "/p?x#y", "/%2F"]),
    ),
)


@BOUNDED
@given(host=hostish, quote=st.sampled_from(["", "'", '"']), pad=st.sampled_from(["", " ", "\t"]))
def test_the_host_parser_raises_only_its_own_clear_error(
    host: tuple[str, bool], quote: str, pad: str
) -> None:
    text = f"{pad}{quote}{host[0]}{quote}{pad}"
    password = host[1]
    failed: RequestError | None = None
    try:
        parsed = parse_host(text)
    except RequestError as exc:
        failed = exc
    if failed is not None:
        assert str(failed).startswith("Invalid Ollama host")
        assert not password or SECRET not in str(failed)
        return
    assert isinstance(parsed, Host)
    scheme, sep, rest = parsed.url.partition("://")
    assert scheme
    assert sep
    parts = urlsplit(f"http://{rest}")
    assert parts.hostname is not None
    assert "@" not in parts.netloc  # credentials never stay in the URL
    assert not password or SECRET not in parsed.url
    assert parts.port is not None
    assert not parsed.url.endswith("/")
