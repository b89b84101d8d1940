"""Serve pre-rendered Ollama responses on loopback, fast enough never to be the bottleneck.

Run `python bench/fastserver.py` and read the first line of stdout: `PORT CONTROL_PORT`.

- `POST /api/generate` answers from a cache of rendered bodies keyed by (`stream`,
  `options.num_predict`): streams are chunked NDJSON with one line per chunk and a final chunk
  carrying `done_reason`, `context` and the metrics, as Ollama sends them; `"stream": false`
  gets one JSON object with `Content-Length`.
- `POST /api/embed` answers `len(input)` vectors of 768 floats (or `dimensions`).
- `GET /` and `GET /api/version` answer as Ollama does.
- The control port answers `GET /stats` with `{"connections": N, "requests": M}` for the main port,
  so a worker can count the connections a client opens without opening one there itself.

One thread per connection with blocking sockets: on loopback this has the lowest latency per
request that Python offers, and `sendall` of a pre-rendered body releases the GIL while it blocks.
Only the standard library is used, so any interpreter can run it.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
from collections.abc import Callable

MODEL = "bench"
CREATED_AT = "2026-11-29T18:00:00.123456789Z"
DATE_HEADER = b"Date: Sun, 29 Nov 2026 18:00:00 GMT\r\n"
EMBED_DIMS = 768
PROMPT_TOKENS = 26
DEFAULT_NUM_PREDICT = 20

_WORDS = (
    " the",
    " model",
    " streams",
    " tokens",
    " quickly",
    ",",
    " and",
    " every",
    " line",
    " is",
    " one",
    " JSON",
    " object",
    ".",
    " Hello",
    " world",
    "!",
    " a",
    " benchmark",
    "\n",
)


def token_text(i: int) -> str:
    """Return the text of token `i` of any generated answer."""
    return _WORDS[i % len(_WORDS)]


def expected_text(num_predict: int) -> str:
    """Return the whole answer of a generate with `num_predict` tokens."""
    return "".join(token_text(i) for i in range(num_predict))


def _created_at(i: int) -> str:
    # Go trims trailing zeros, so real timestamps vary in length; a varying value also keeps
    # clients from benefiting from any interning of identical strings.
    return f"2026-11-29T18:00:{i // 100000 % 60:02d}.{i % 100000:05d}1234Z"


def _final_fields(num_predict: int) -> dict[str, object]:
    return {
        "done": True,
        "done_reason": "stop" if num_predict else "load",
        "context": list(range(1000, 1000 + PROMPT_TOKENS + num_predict)),
        "total_duration": 4_935_886_791 + num_predict,
        "load_duration": 534_986_708,
        "prompt_eval_count": PROMPT_TOKENS,
        "prompt_eval_duration": 107_345_000,
        "eval_count": num_predict,
        "eval_duration": 4_289_432_000 + num_predict,
    }


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def render_generate_lines(num_predict: int) -> list[bytes]:
    """Return the NDJSON lines (each ending in a newline) of a streamed generate."""
    lines = [
        _dumps(
            {
                "model": MODEL,
                "created_at": _created_at(i),
                "response": token_text(i),
                "done": False,
            }
        )
        + b"\n"
        for i in range(num_predict)
    ]
    final: dict[str, object] = {
        "model": MODEL,
        "created_at": _created_at(num_predict),
        "response": "",
    }
    final.update(_final_fields(num_predict))
    lines.append(_dumps(final) + b"\n")
    return lines


def render_generate_stream(num_predict: int) -> bytes:
    """Return the whole HTTP response of a streamed generate: chunked, one line per chunk."""
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
        + DATE_HEADER
        + b"Transfer-Encoding: chunked\r\n\r\n"
    )
    parts = [head]
    for line in render_generate_lines(num_predict):
        parts.append(b"%x\r\n%s\r\n" % (len(line), line))
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


def _json_response(body: bytes, status: bytes = b"200 OK") -> bytes:
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\nContent-Type: application/json; charset=utf-8\r\n"
        + DATE_HEADER
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


def render_generate_whole(num_predict: int) -> bytes:
    """Return the whole HTTP response of a generate with `"stream": false`."""
    obj: dict[str, object] = {
        "model": MODEL,
        "created_at": _created_at(num_predict),
        "response": expected_text(num_predict),
    }
    obj.update(_final_fields(num_predict))
    return _json_response(_dumps(obj))


def embed_vector(row: int, dims: int) -> list[float]:
    """Return embedding `row`: deterministic float32-looking values, as Go prints them."""
    return [
        float(f"{((row * 7919 + j * 104729) % 20011 - 10005) / 10005 / 27.7:.7g}")
        for j in range(dims)
    ]


def render_embed(count: int, dims: int) -> bytes:
    """Return the whole HTTP response of an embed of `count` inputs."""
    body = _dumps(
        {
            "model": MODEL,
            "embeddings": [embed_vector(r, dims) for r in range(count)],
            "total_duration": 14_143_917,
            "load_duration": 1_019_500,
            "prompt_eval_count": 8 * count,
        }
    )
    return _json_response(body)


_ROOT = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
    + DATE_HEADER
    + b"Content-Length: 17\r\n\r\nOllama is running"
)
_NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
    + DATE_HEADER
    + b"Content-Length: 18\r\n\r\n404 page not found"
)


def _error(status: bytes, message: str) -> bytes:
    return _json_response(_dumps({"error": message}), status)


class Responses:
    """Pre-rendered responses, rendered once per distinct request shape."""

    def __init__(self) -> None:
        self._cache: dict[tuple[object, ...], bytes] = {}
        self._lock = threading.Lock()

    def _get(self, key: tuple[object, ...], render: Callable[[], bytes]) -> bytes:
        found = self._cache.get(key)
        if found is None:
            with self._lock:
                found = self._cache.get(key)
                if found is None:
                    found = render()
                    self._cache[key] = found
        return found

    def warm(self, stream_sizes: list[int], embed_counts: list[int]) -> None:
        """Render the responses the benchmark asks for, before it starts timing."""
        for n in stream_sizes:
            self.generate(True, n)
            self.generate(False, n)
        for c in embed_counts:
            self.embed(c, EMBED_DIMS)

    def generate(self, stream: bool, num_predict: int) -> bytes:
        if stream:
            return self._get(("gs", num_predict), lambda: render_generate_stream(num_predict))
        return self._get(("gw", num_predict), lambda: render_generate_whole(num_predict))

    def embed(self, count: int, dims: int) -> bytes:
        return self._get(("e", count, dims), lambda: render_embed(count, dims))

    def answer(self, method: bytes, path: bytes, body: bytes) -> bytes:
        """Return the full HTTP response to one request."""
        if path in (b"/", b"") and method in (b"GET", b"HEAD"):
            return _ROOT
        if path == b"/api/version":
            return _json_response(b'{"version":"0.33.0"}')
        if method != b"POST" or path not in (b"/api/generate", b"/api/embed"):
            return _NOT_FOUND
        try:
            req = json.loads(body)
        except ValueError:
            return _error(b"400 Bad Request", "invalid character in request body")
        if not isinstance(req, dict):
            return _error(b"400 Bad Request", "request body must be an object")
        if path == b"/api/embed":
            inputs = req.get("input", [])
            count = 1 if isinstance(inputs, str) else len(inputs)
            return self.embed(count, int(req.get("dimensions") or EMBED_DIMS))
        options = req.get("options") or {}
        num_predict = int(options.get("num_predict", DEFAULT_NUM_PREDICT))
        return self.generate(req.get("stream", True) is not False, max(num_predict, 0))


class Counters:
    """Connections and requests seen on the main port."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self.lock = threading.Lock()


def _header_value(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == name:
            return value.strip()
    return None


def serve_connection(conn: socket.socket, responses: Responses, counters: Counters) -> None:
    """Answer HTTP/1.1 requests on one connection until the client closes it."""
    buf = b""
    try:
        while True:
            end = buf.find(b"\r\n\r\n")
            while end < 0:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                end = buf.find(b"\r\n\r\n")
            head, buf = buf[:end], buf[end + 4 :]
            request_line = head[: head.find(b"\r\n")] if b"\r\n" in head else head
            method, _, rest = request_line.partition(b" ")
            path = rest.partition(b" ")[0].partition(b"?")[0]
            length = int(_header_value(head, b"content-length") or 0)
            while len(buf) < length:
                data = conn.recv(max(65536, length - len(buf)))
                if not data:
                    return
                buf += data
            body, buf = buf[:length], buf[length:]
            with counters.lock:
                counters.requests += 1
            conn.sendall(responses.answer(method, path, body))
            if (_header_value(head, b"connection") or b"").lower() == b"close":
                return
    except OSError:
        return
    finally:
        conn.close()


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    return sock


def _accept_loop(sock: socket.socket, responses: Responses, counters: Counters | None) -> None:
    while True:
        conn, _ = sock.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if counters is None:
            handler = threading.Thread(target=_serve_control, args=(conn, responses), daemon=True)
        else:
            counters.connections += 1
            handler = threading.Thread(
                target=serve_connection, args=(conn, responses, counters), daemon=True
            )
        handler.start()


_COUNTERS = Counters()


def _serve_control(conn: socket.socket, responses: Responses) -> None:
    del responses
    with conn:
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = conn.recv(4096)
            if not data:
                return
            buf += data
        stats = {"connections": _COUNTERS.connections, "requests": _COUNTERS.requests}
        body = _dumps(stats)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + b"Content-Length: %d\r\n\r\n" % len(body)
            + body
        )


def main(argv: list[str] | None = None) -> None:
    """Start the server, print `PORT CONTROL_PORT`, and serve until killed or stdin closes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--warm-streams",
        default="20,100000",
        help="comma-separated num_predict values to render before serving",
    )
    parser.add_argument(
        "--warm-embeds",
        default="16",
        help="comma-separated embed input counts to render before serving",
    )
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the bench server listens on loopback only")
    responses = Responses()
    responses.warm(
        [int(x) for x in args.warm_streams.split(",") if x],
        [int(x) for x in args.warm_embeds.split(",") if x],
    )
    main_sock = _listen(args.host, args.port)
    control_sock = _listen(args.host, 0)
    for sock, counters in ((main_sock, _COUNTERS), (control_sock, None)):
        threading.Thread(target=_accept_loop, args=(sock, responses, counters), daemon=True).start()
    print(main_sock.getsockname()[1], control_sock.getsockname()[1], flush=True)
    # Stop with the parent: the harness holds our stdin open and closes it when done.
    sys.stdin.read()


if __name__ == "__main__":
    main()
