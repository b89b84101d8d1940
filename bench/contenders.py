"""The contenders: one way each of making the same calls on the same bytes.

Every contender does the same user-level work per measure, and imports its library only when it
is built, so one module serves every venv:

| measure       | work                                                                   |
|---------------|------------------------------------------------------------------------|
| `call`        | `generate(stream=False)` of a 20-token answer, keep `response`          |
| `stream`      | one streamed generate, keep every chunk's `response`, the final `context`|
| `short`       | many 20-token streamed generates, as `stream`                           |
| `embed`       | `embed` of 16 inputs, keep the 16 x 768 floats                          |
| `concurrent`  | 64 streamed generates at once on one event loop (async contenders only) |

Each method returns what it received, so the worker can check that all contenders got the same
records (a benchmark that drops data would win).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

MODEL = "bench"
PROMPT = "Why is the sky blue?"

# (text of every response, total chunks, length of the final context)
StreamResult = tuple[str, int, int]


def _payload(num_predict: int, stream: bool) -> dict[str, Any]:
    return {
        "model": MODEL,
        "prompt": PROMPT,
        "stream": stream,
        "options": {"num_predict": num_predict},
    }


class Contender:
    """A sync contender; async ones subclass `AsyncContender`."""

    name = ""
    kind = "sync"

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.base = f"http://{host}:{port}"

    def call(self, num_predict: int) -> str:
        raise NotImplementedError

    def stream(self, num_predict: int) -> StreamResult:
        raise NotImplementedError

    def embed(self, inputs: list[str]) -> list[list[float]]:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""


# --- raw socket: the floor and the server's own capacity -------------------------------------


class _RawHttp:
    """A persistent HTTP/1.1 connection doing the least work a Python client can do."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._sock: socket.socket | None = None
        self._rfile: Any = None
        self._prefix = (
            f"POST {{}} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\n"
            "Content-Length: {}\r\n\r\n"
        )

    def _connect(self) -> None:
        sock = socket.create_connection((self.host, self.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._rfile = sock.makefile("rb", buffering=65536)

    def request(self, path: str, body: object) -> tuple[int, dict[bytes, bytes]]:
        """Send one POST and read the status line and headers."""
        if self._sock is None:
            self._connect()
        assert self._sock is not None
        data = json.dumps(body).encode()
        self._sock.sendall(self._prefix.format(path, len(data)).encode() + data)
        rfile = self._rfile
        status = int(rfile.readline().split(b" ", 2)[1])
        headers: dict[bytes, bytes] = {}
        while True:
            line = rfile.readline()
            if line in (b"\r\n", b""):
                break
            key, _, value = line.partition(b":")
            headers[key.strip().lower()] = value.strip()
        return status, headers

    def read_body(self, headers: dict[bytes, bytes]) -> bytes:
        return bytes(self._rfile.read(int(headers[b"content-length"])))

    def iter_chunks(self) -> Any:
        """Yield each chunk of a chunked body (one NDJSON line each, newline kept)."""
        rfile = self._rfile
        readline = rfile.readline
        read = rfile.read
        while True:
            size = int(readline(), 16)
            if size == 0:
                readline()
                return
            yield read(size + 2)[:-2]

    def drain_chunked(self) -> int:
        """Read a chunked body to its end without parsing it; return the bytes read."""
        rfile = self._rfile
        total = 0
        tail = b""
        while True:
            data = rfile.read1(262144)
            if not data:
                raise ConnectionError("server closed mid-body")
            total += len(data)
            tail = (tail + data)[-5:]
            if tail == b"0\r\n\r\n":
                return total

    def close(self) -> None:
        if self._sock is not None:
            self._rfile.close()
            self._sock.close()
            self._sock = None


class Floor(Contender):
    """`socket` + persistent connection + `json.loads` per line: the least any client can do."""

    name = "floor (socket)"

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.http = _RawHttp(host, port)

    def call(self, num_predict: int) -> str:
        _, headers = self.http.request("/api/generate", _payload(num_predict, False))
        return str(json.loads(self.http.read_body(headers))["response"])

    def stream(self, num_predict: int) -> StreamResult:
        self.http.request("/api/generate", _payload(num_predict, True))
        loads = json.loads
        parts: list[str] = []
        append = parts.append
        part: dict[str, Any] = {}
        for line in self.http.iter_chunks():
            part = loads(line)
            append(part["response"])
        return "".join(parts), len(parts), len(part.get("context", ()))

    def embed(self, inputs: list[str]) -> list[list[float]]:
        _, headers = self.http.request("/api/embed", {"model": MODEL, "input": inputs})
        return list(json.loads(self.http.read_body(headers))["embeddings"])

    def close(self) -> None:
        self.http.close()


class Capacity(Contender):
    """The server and the socket alone: read the bytes, parse nothing (the server's capacity)."""

    name = "server capacity (socket, no parsing)"

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.http = _RawHttp(host, port)

    def call(self, num_predict: int) -> str:
        _, headers = self.http.request("/api/generate", _payload(num_predict, False))
        self.http.read_body(headers)
        return ""

    def stream(self, num_predict: int) -> StreamResult:
        self.http.request("/api/generate", _payload(num_predict, True))
        self.http.drain_chunked()
        return "", 0, 0

    def embed(self, inputs: list[str]) -> list[list[float]]:
        _, headers = self.http.request("/api/embed", {"model": MODEL, "input": inputs})
        self.http.read_body(headers)
        return []

    def close(self) -> None:
        self.http.close()


# --- the plain-requests recipes --------------------------------------------------------------


class RequestsRecipe(Contender):
    """`requests.post(...).json()["response"]` and the `iter_lines()` loop, a new pool per call."""

    name = "requests.post"

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        import requests

        self.post: Callable[..., Any] = requests.post

    def call(self, num_predict: int) -> str:
        return str(
            self.post(self.base + "/api/generate", json=_payload(num_predict, False)).json()[
                "response"
            ]
        )

    def stream(self, num_predict: int) -> StreamResult:
        parts: list[str] = []
        part: dict[str, Any] = {}
        with self.post(
            self.base + "/api/generate", json=_payload(num_predict, True), stream=True
        ) as r:
            for line in r.iter_lines():
                if line:
                    part = json.loads(line)
                    parts.append(part["response"])
        return "".join(parts), len(parts), len(part.get("context", ()))

    def embed(self, inputs: list[str]) -> list[list[float]]:
        return list(
            self.post(self.base + "/api/embed", json={"model": MODEL, "input": inputs}).json()[
                "embeddings"
            ]
        )


class RequestsSession(RequestsRecipe):
    """The same recipe on one `requests.Session` (a persistent connection)."""

    name = "requests.Session"

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        import requests

        self.session = requests.Session()
        self.post = self.session.post

    def close(self) -> None:
        self.session.close()


# --- client libraries ------------------------------------------------------------------------


class _ClientLike(Contender):
    """A client with the official SDK's API: `generate`, `embed`, `.response`, `.context`."""

    client: Any

    def call(self, num_predict: int) -> str:
        r = self.client.generate(model=MODEL, prompt=PROMPT, options={"num_predict": num_predict})
        return str(r.response)

    def stream(self, num_predict: int) -> StreamResult:
        parts: list[str] = []
        part: Any = None
        for part in self.client.generate(
            model=MODEL, prompt=PROMPT, options={"num_predict": num_predict}, stream=True
        ):
            parts.append(part.response)
        context = part.context if part is not None else None
        return "".join(parts), len(parts), len(context or ())

    def embed(self, inputs: list[str]) -> list[list[float]]:
        return list(self.client.embed(model=MODEL, input=inputs).embeddings)

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if close is not None:
            close()


class SdkClient(_ClientLike):
    """The official SDK: `ollama.Client` (httpx + pydantic)."""

    name = "ollama Client (SDK)"

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        import ollama  # type: ignore[import-not-found]

        self.client = ollama.Client(host=self.base)


class WireClient(_ClientLike):
    """This project: `ollama_wire.Client` (requests)."""

    name = "ollama-wire Client"

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        import ollama_wire

        self.client = ollama_wire.Client(host=self.base)


# --- async contenders ------------------------------------------------------------------------


class AsyncContender(Contender):
    """An async contender: each sync measure runs on its own event loop."""

    kind = "async"

    async def acall(self, num_predict: int) -> str:
        raise NotImplementedError

    async def astream(self, num_predict: int) -> StreamResult:
        raise NotImplementedError

    async def aembed(self, inputs: list[str]) -> list[list[float]]:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release connections."""


def split_chunks(buf: bytes, pos: int) -> tuple[list[bytes], int, bool]:
    """Parse the complete chunks of a chunked body in `buf` from `pos`.

    Return the chunks' payloads, the offset of the first byte not consumed, and whether the
    last chunk was seen.
    """
    out: list[bytes] = []
    find = buf.find
    size_of = int
    n = len(buf)
    while True:
        eol = find(b"\r\n", pos)
        if eol < 0:
            return out, pos, False
        size = size_of(buf[pos:eol], 16)
        if size == 0:
            if n >= eol + 4:
                return out, eol + 4, True
            return out, pos, False
        end = eol + 2 + size
        if end + 2 > n:
            return out, pos, False
        out.append(buf[eol + 2 : end])
        pos = end + 2


class AsyncFloor(AsyncContender):
    """`asyncio` streams, big reads, one persistent connection per task, `json.loads` per line."""

    name = "floor (asyncio)"

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._prefix = (
            f"POST {{}} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\n"
            "Content-Length: {}\r\n\r\n"
        )

    async def _request(
        self, path: str, body: object
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, dict[bytes, bytes]]:
        if self._idle:
            reader, writer = self._idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 22)
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        data = json.dumps(body).encode()
        writer.write(self._prefix.format(path, len(data)).encode() + data)
        head = await reader.readuntil(b"\r\n\r\n")
        headers: dict[bytes, bytes] = {}
        for line in head.split(b"\r\n")[1:]:
            key, sep, value = line.partition(b":")
            if sep:
                headers[key.strip().lower()] = value.strip()
        return reader, writer, headers

    async def acall(self, num_predict: int) -> str:
        reader, writer, headers = await self._request("/api/generate", _payload(num_predict, False))
        body = await reader.readexactly(int(headers[b"content-length"]))
        self._idle.append((reader, writer))
        return str(json.loads(body)["response"])

    async def astream(self, num_predict: int) -> StreamResult:
        reader, writer, _ = await self._request("/api/generate", _payload(num_predict, True))
        loads = json.loads
        parts: list[str] = []
        append = parts.append
        part: dict[str, Any] = {}
        buf = b""
        pos = 0
        done = False
        while not done:
            data = await reader.read(262144)
            if not data:
                raise ConnectionError("server closed mid-stream")
            buf = buf[pos:] + data if pos < len(buf) else data
            chunks, pos, done = split_chunks(buf, 0)
            for line in chunks:
                part = loads(line)
                append(part["response"])
        self._idle.append((reader, writer))
        return "".join(parts), len(parts), len(part.get("context", ()))

    async def aembed(self, inputs: list[str]) -> list[list[float]]:
        reader, writer, headers = await self._request(
            "/api/embed", {"model": MODEL, "input": inputs}
        )
        body = await reader.readexactly(int(headers[b"content-length"]))
        self._idle.append((reader, writer))
        return list(json.loads(body)["embeddings"])

    async def aclose(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


async def _maybe_await(value: Any) -> Any:
    if isinstance(value, Awaitable):
        return await value
    return value


class _AsyncClientLike(AsyncContender):
    """An async client with the SDK's API (`async for part in await client.generate(...)`)."""

    client: Any

    async def acall(self, num_predict: int) -> str:
        r = await self.client.generate(
            model=MODEL, prompt=PROMPT, options={"num_predict": num_predict}
        )
        return str(r.response)

    async def astream(self, num_predict: int) -> StreamResult:
        parts: list[str] = []
        part: Any = None
        # The SDK returns a coroutine that gives the async iterator; accept either shape.
        stream = await _maybe_await(
            self.client.generate(
                model=MODEL, prompt=PROMPT, options={"num_predict": num_predict}, stream=True
            )
        )
        async for part in stream:
            parts.append(part.response)
        context = part.context if part is not None else None
        return "".join(parts), len(parts), len(context or ())

    async def aembed(self, inputs: list[str]) -> list[list[float]]:
        return list((await self.client.embed(model=MODEL, input=inputs)).embeddings)

    async def aclose(self) -> None:
        close = getattr(self.client, "close", None)
        if close is None:
            close = getattr(self.client, "aclose", None)
        if close is not None:
            await _maybe_await(close())


class SdkAsyncClient(_AsyncClientLike):
    """The official SDK: `ollama.AsyncClient` (httpx + pydantic)."""

    name = "ollama AsyncClient (SDK)"

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        import ollama

        self.client = ollama.AsyncClient(host=self.base)


class WireAsyncClient(_AsyncClientLike):
    """This project: `ollama_wire.AsyncClient` (httpx; asyncio streams for http://)."""

    name = "ollama-wire AsyncClient"

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        import ollama_wire

        self.client = ollama_wire.AsyncClient(host=self.base)


CONTENDERS: dict[str, type[Contender]] = {
    "capacity": Capacity,
    "floor": Floor,
    "requests": RequestsRecipe,
    "session": RequestsSession,
    "sdk": SdkClient,
    "wire": WireClient,
    "floor-async": AsyncFloor,
    "sdk-async": SdkAsyncClient,
    "wire-async": WireAsyncClient,
}
