"""The sans-IO HTTP/1.1 of both clients' own transports: heads, framing, keep-alive, requests.

Byte by byte, without sockets: the response head however it is split, the body framing a
head asks for, when a connection may serve another request, and the request head that is
written. What the transports do with sockets is tested in ``client/test_sock_transport.py``
(the sync `Client`) and ``client/test_aio_transport.py`` (the `AsyncClient`).
"""

from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ollama_wire import InvalidResponseError
from ollama_wire._http11 import (
    MAX_HEAD_SIZE,
    MAX_HEADERS,
    ChunkedDecoder,
    HeadParser,
    LengthDecoder,
    LocalProtocolError,
    RemoteProtocolError,
    ResponseHead,
    UntilClose,
    body_framing,
    encode_fields,
    keeps_alive,
    parse_head,
    readable,
    request_head,
)

# The head parser ----------------------------------------------------------------------------

GOOD_HEADS = [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
     ResponseHead(b"HTTP/1.1", 200, b"OK", [(b"Content-Length", b"2")])),
    (b"HTTP/1.0 404 Not Found\r\nA: 1\r\nB:2\r\nC:  spaced \t\r\n\r\n",
     ResponseHead(b"HTTP/1.0", 404, b"Not Found", [(b"A", b"1"), (b"B", b"2"), (b"C", b"spaced")])),
    (b"HTTP/1.1 204\r\n\r\n", ResponseHead(b"HTTP/1.1", 204, b"", [])),
    (b"HTTP/1.1 200 OK\nBare: newlines\n\n",
     ResponseHead(b"HTTP/1.1", 200, b"OK", [(b"Bare", b"newlines")])),
    (b"HTTP/1.1 200 OK\r\nX-Folded: one\r\n  two\r\n\r\n",
     ResponseHead(b"HTTP/1.1", 200, b"OK", [(b"X-Folded", b"one two")])),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nA: b\r\n\r\n"
     b"HTTP/1.1 201 Created\r\n\r\n", ResponseHead(b"HTTP/1.1", 201, b"Created", [])),
    (b"HTTP/1.1 500 Internal Server Error \xe9\r\nEmpty:\r\n\r\n",
     ResponseHead(b"HTTP/1.1", 500, b"Internal Server Error \xe9", [(b"Empty", b"")])),
]


def feed_in_pieces(data: bytes, cuts: list[int]) -> tuple[ResponseHead | None, HeadParser]:
    """Feed ``data`` cut at ``cuts``; return the first head the parser gives, and the parser."""
    parser = HeadParser()
    for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
        head = parser.feed(data[start:end])
        if head is not None:
            parser.rest += data[end:]
            return head, parser
    return None, parser


@pytest.mark.parametrize(("raw", "expected"), GOOD_HEADS)
def test_a_head_parses_however_it_is_split(raw: bytes, expected: ResponseHead) -> None:
    data = raw + b"body\r\n\r\nmore"
    splits = [[cut] for cut in range(len(data) + 1)] + [list(range(1, len(data)))]
    for cuts in splits:
        head, parser = feed_in_pieces(data, cuts)
        assert head == expected, cuts
        assert parser.rest == b"body\r\n\r\nmore", cuts
        assert parser.received <= len(data)


def test_the_end_of_the_stream_says_whether_any_of_the_head_came() -> None:
    assert "closed the connection without sending" in str(HeadParser().closed())
    parser = HeadParser()
    assert parser.feed(b"HTTP/1.1 200 OK\r\nContent-") is None
    assert "in the middle of the response head, after 25 bytes" in str(parser.closed())


def test_nothing_is_returned_until_the_blank_line() -> None:
    parser = HeadParser()
    assert parser.feed(b"HTTP/1.1 200 OK\r\nA: b\r\n") is None
    assert parser.feed(b"\r") is None
    assert parser.received == 24
    assert parser.feed(b"\nrest") == ResponseHead(b"HTTP/1.1", 200, b"OK", [(b"A", b"b")])
    assert parser.rest == b"rest"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"HTTP/2 200 OK\r\n\r\n", r"invalid status line from the server: 'HTTP/2 200 OK'"),
        (b"HTTP/1.1 20 OK\r\n\r\n", "invalid status line"),
        (b"ICY 200 OK\r\n\r\n", "invalid status line"),
        (b"<html>hello</html>\r\n\r\n", r"invalid status line from the server: '<html>"),
        (b"\r\n\r\n", "invalid status line from the server: ''"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
         "invalid header line from the server: 'no colon here'"),
        (b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "invalid header line"),
        (b"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n", "invalid header line"),
        (b"HTTP/1.1 200 OK\r\n folded first\r\n\r\n", "invalid header line"),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "switched protocols"),
        (b"HTTP/1.1 200 OK\r\n" + b"A: b\r\n" * (MAX_HEADERS + 1) + b"\r\n",
         f"more than {MAX_HEADERS} header lines"),
        (b"HTTP/1.1 200 OK\r\nBig: " + b"x" * MAX_HEAD_SIZE + b"\r\n\r\n",
         f"longer than {MAX_HEAD_SIZE} bytes: 'HTTP/1.1 200 OK"),
    ],
)
def test_a_bad_head_says_what_arrived(raw: bytes, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        HeadParser().feed(raw)


def test_a_head_without_end_is_refused_once_past_the_limit() -> None:
    parser = HeadParser()
    assert parser.feed(b"HTTP/1.1 200 OK\r\n") is None
    for _ in range(MAX_HEAD_SIZE // 1024 - 1):
        assert parser.feed(b"X: " + b"y" * 1019 + b"\r\n") is None
    with pytest.raises(RemoteProtocolError, match="longer than"):
        parser.feed(b"X: " + b"y" * 2000)


def test_a_whole_head_parses_without_its_blank_line() -> None:
    assert parse_head(b"HTTP/1.1 404 Not Found\r\nA: b\r\nC:d") == ResponseHead(
        b"HTTP/1.1", 404, b"Not Found", [(b"A", b"b"), (b"C", b"d")])
    with pytest.raises(RemoteProtocolError, match="invalid status line"):
        parse_head(b"HTTP/1.1 OK")


def test_exactly_the_header_limit_is_accepted() -> None:
    raw = b"HTTP/1.1 200 OK\r\n" + b"A: b\r\n" * MAX_HEADERS + b"\r\n"
    head = HeadParser().feed(raw)
    assert head is not None
    assert len(head.headers) == MAX_HEADERS


# Framing and keep-alive ------------------------------------------------------------------------


def head(status: int = 200, *headers: tuple[bytes, bytes], version: bytes = b"HTTP/1.1"
         ) -> ResponseHead:
    return ResponseHead(version, status, b"", list(headers))


@pytest.mark.parametrize(
    ("method", "response", "kind", "payload", "extra"),
    [
        ("GET", head(200, (b"Content-Length", b"3")), LengthDecoder, b"abc", b"def"),
        ("GET", head(200, (b"content-length", b"3, 3")), LengthDecoder, b"abc", b"def"),
        ("HEAD", head(200, (b"Content-Length", b"3")), LengthDecoder, b"", b"abcdef"),
        ("GET", head(204), LengthDecoder, b"", b"abcdef"),
        ("GET", head(304, (b"Content-Length", b"3")), LengthDecoder, b"", b"abcdef"),
        ("GET", head(200, (b"Transfer-Encoding", b"Chunked"), (b"Content-Length", b"1")),
         ChunkedDecoder, b"abc", b"def"),
        ("GET", head(200), UntilClose, b"abcdef", b""),
        ("GET", head(200, version=b"HTTP/1.0"), UntilClose, b"abcdef", b""),
    ],
)
def test_the_body_framing_follows_the_head(
    method: str, response: ResponseHead, kind: type, payload: bytes, extra: bytes
) -> None:
    framing = body_framing(method, response)
    assert type(framing) is kind
    wire = b"3\r\nabc\r\n0\r\n\r\ndef" if kind is ChunkedDecoder else b"abcdef"
    assert framing.feed(wire) == payload
    assert framing.done is (kind is not UntilClose)
    assert framing.extra == extra


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (head(200, (b"Transfer-Encoding", b"gzip, chunked")), "unsupported Transfer-Encoding"),
        (head(200, (b"Content-Length", b"-1")), "invalid Content-Length from the server: '-1'"),
        (head(200, (b"Content-Length", b"1, 2")), "invalid Content-Length"),
        (head(200, (b"Content-Length", b"1"), (b"Content-Length", b"2")),
         "invalid Content-Length from the server: '1, 2'"),
        (head(200, (b"Content-Length", b"")), "invalid Content-Length"),
        (head(200, (b"Content-Length", b"9" * 30)), "invalid Content-Length"),
    ],
)
def test_bad_framing_headers_are_refused(response: ResponseHead, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        body_framing("GET", response)


def test_a_length_body_split_anywhere() -> None:
    for cut in range(12):
        framing = LengthDecoder(10)
        data = b"0123456789NEXT"
        out = framing.feed(data[:cut])
        assert framing.done is (cut >= 10)
        out += framing.feed(data[cut:])
        assert (out, framing.done, framing.extra) == (b"0123456789", True, b"NEXT")


def test_a_body_until_the_close_takes_everything() -> None:
    framing = UntilClose()
    assert [framing.feed(b"ab"), framing.feed(b""), framing.feed(b"\r\n0\r\n\r\n")] == [
        b"ab", b"", b"\r\n0\r\n\r\n"]
    assert (framing.done, framing.extra, framing.error) == (False, b"", None)


@pytest.mark.parametrize(
    ("response", "connection", "expected"),
    [
        (head(200), b"", True),
        (head(200), b"keep-alive", True),
        (head(200, (b"Connection", b"keep-alive")), b"", True),
        (head(200, (b"Connection", b"Close")), b"", False),
        (head(200, (b"Connection", b"upgrade, close")), b"", False),
        (head(200, (b"Connection", b"keep-alive"), (b"Connection", b"close")), b"", False),
        (head(200), b"close", False),
        (head(200), b"keep-alive, Close", False),
        (head(200, (b"Connection", b"keep-alive"), version=b"HTTP/1.0"), b"", False),
        (head(200, version=b"HTTP/1.0"), b"keep-alive", False),
    ],
)
def test_keep_alive(response: ResponseHead, connection: bytes, expected: bool) -> None:
    assert keeps_alive(response, connection) is expected


def test_keep_alive_by_default_when_the_request_says_nothing() -> None:
    assert keeps_alive(head(200)) is True
    assert keeps_alive(head(200, (b"Connection", b"close"))) is False


# The request head ------------------------------------------------------------------------------


def test_the_request_head_is_the_line_the_fields_and_the_length() -> None:
    fields = encode_fields([(b"Host", b"127.0.0.1:8"), (b"X-Tag", b"a")])
    assert fields == b"Host: 127.0.0.1:8\r\nX-Tag: a\r\n"
    assert request_head("POST", "/api/chat?x=1%202", fields, b"{}") == (
        b"POST /api/chat?x=1%202 HTTP/1.1\r\nHost: 127.0.0.1:8\r\nX-Tag: a\r\n"
        b"Content-Length: 2\r\n\r\n"
    )
    assert encode_fields(iter([])) == b""  # any iterable


@pytest.mark.parametrize(
    ("method", "length"),
    [("GET", b""), ("HEAD", b""), ("POST", b"Content-Length: 0\r\n"),
     ("DELETE", b"Content-Length: 0\r\n")],
)
def test_a_request_without_a_body_says_so_as_requests_does(method: str, length: bytes) -> None:
    assert request_head(method, "/", b"", None) == b"%s / HTTP/1.1\r\n%s\r\n" % (
        method.encode(), length)


@pytest.mark.parametrize(
    "header",
    [(b"X-Evil", b"a\r\nInjected: 1"), (b"X-Evil", b"a\nInjected: 1"),
     (b"X-Evil", b"a\x00Injected"), (b"Bad Name", b"Injected"), (b"", b"Injected"),
     (b"X\tTab", b"Injected")],
)
def test_a_header_that_would_split_the_head_is_not_sent(header: tuple[bytes, bytes]) -> None:
    with pytest.raises(LocalProtocolError, match="invalid header") as info:
        encode_fields([(b"Host", b"127.0.0.1"), header])
    assert "Injected" not in str(info.value)  # the value may be a secret: never shown


def test_the_errors_are_the_kinds_the_clients_classify() -> None:
    # An OSError is a transport failure to the sync client; a ValueError is the caller's.
    assert issubclass(RemoteProtocolError, OSError)
    assert issubclass(LocalProtocolError, ValueError)
    assert not issubclass(LocalProtocolError, OSError)


# Whether an idle socket has something to read ------------------------------------------------


def test_readable_tells_bytes_and_the_end_from_nothing() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert readable(ours.fileno()) is False  # idle: nothing to read, and no wait
        theirs.sendall(b"x")
        assert readable(ours.fileno()) is True
        assert ours.recv(1) == b"x"
        assert readable(ours.fileno()) is False
        theirs.shutdown(socket.SHUT_WR)
        assert readable(ours.fileno()) is True  # the end of the stream: recv returns b""
        assert ours.recv(1) == b""


# HTTP/1.1 chunked framing ----------------------------------------------------------------------

#: Three NDJSON lines, as a stream's payload.
BODY = b"".join(b'{"response":"%d","done":false}\n' % i for i in range(3))
# One chunk per line as Ollama sends them, with upper-case hex, an extension and a bare LF.
FRAMED = (
    b"".join(b"%x\r\n%s\r\n" % (len(line) + 1, line + b"\n") for line in BODY.splitlines()[:2])
    + b"%X;ext=1\r\n%s\r\n" % (len(BODY.splitlines()[2]) + 1, BODY.splitlines()[2] + b"\n")
    + b"0\r\n\r\n"
)


def _unframe(pieces: list[bytes]) -> ChunkedDecoder:
    decoder = ChunkedDecoder()
    payload = b"".join(decoder.feed(piece) for piece in pieces)
    assert payload == BODY
    return decoder


def test_chunked_split_at_every_offset() -> None:
    for cut in range(len(FRAMED) + 1):
        decoder = _unframe([FRAMED[:cut], FRAMED[cut:]])
        assert decoder.done
        assert decoder.extra == b""


def test_chunked_one_byte_at_a_time_ends_only_at_the_final_crlf() -> None:
    decoder = ChunkedDecoder()
    payload = b""
    for index in range(len(FRAMED)):
        assert not decoder.done
        payload += decoder.feed(FRAMED[index:index + 1])
    assert decoder.done
    assert payload == BODY


def test_chunked_trailers_and_bytes_past_the_end() -> None:
    data = b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\nHTTP/1.1 200"
    for cut in range(len(data) + 1):
        decoder = ChunkedDecoder()
        assert decoder.feed(data[:cut]) + decoder.feed(data[cut:]) == b"hello"
        assert decoder.done
        assert decoder.extra == b"HTTP/1.1 200"
    assert decoder.feed(b"more") == b""
    assert decoder.extra == b"HTTP/1.1 200more"


def test_chunked_a_chunk_split_across_many_feeds() -> None:
    payload = bytes(range(256)) * 300  # CR and LF bytes inside a chunk are data
    framed = b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload)
    decoder = ChunkedDecoder()
    out = b"".join(decoder.feed(framed[i:i + 1000]) for i in range(0, len(framed), 1000))
    assert out == payload
    assert decoder.done


@given(st.lists(st.binary(min_size=1, max_size=40), max_size=8), st.data())
@settings(max_examples=60, deadline=None)
def test_chunked_any_chunks_any_split(chunks: list[bytes], data: st.DataObject) -> None:
    framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    cuts = sorted(data.draw(st.lists(st.integers(0, len(framed)), max_size=6)))
    pieces = [framed[a:b] for a, b in zip([0, *cuts], [*cuts, len(framed)], strict=True)]
    decoder = ChunkedDecoder()
    assert b"".join(decoder.feed(p) for p in pieces) == b"".join(chunks)
    assert decoder.done


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"zz\r\n", "a chunk size line"),
        (b"-5\r\nhello\r\n", "a chunk size line"),
        (b"0x5\r\nhello\r\n", "a chunk size line"),
        (b"+5\r\nhello\r\n", "a chunk size line"),
        (b"\r\n", "a chunk size line"),
        (b"11111111111111111\r\n", "a chunk size line"),
        (b"5" * 5000, "a chunk size line"),
        (b"5\r\nhelloXX", "CRLF after a chunk"),
        (b"5\r\nhello\n0\r\n\r\n", "CRLF after a chunk"),
        (b"0\r\n" + b"X: y\r\n" * 20_000, "trailers within"),
        (b"0\r\nX: " + b"y" * 70_000, "a trailer line"),
    ],
)
def test_chunked_bad_framing_says_what_arrived(data: bytes, expected: str) -> None:
    decoder = ChunkedDecoder()
    with pytest.raises(InvalidResponseError, match="broken chunked encoding") as info:  # noqa: PT012
        decoder.feed(data)
        decoder.feed(b"")  # raises what the payload before it held back
    assert expected in str(info.value)
    step = 1 if len(data) < 10_000 else 997
    with pytest.raises(InvalidResponseError, match="broken chunked encoding"):  # noqa: PT012
        decoder = ChunkedDecoder()
        for index in range(0, len(data), step):
            decoder.feed(data[index:index + step])
        decoder.feed(b"")


def test_chunked_payload_before_broken_framing_is_returned_first() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(b"3\r\nab\n\r\n3\r\ncd\n\r\nzz\r\n") == b"ab\ncd\n"
    assert isinstance(decoder.error, InvalidResponseError)
    assert "'zz\\r\\n'" in str(decoder.error)
    for _ in range(2):
        with pytest.raises(InvalidResponseError, match="expected a chunk size line"):
            decoder.feed(b"1\r\nx\r\n")
