"""The AsyncClient: httpx under the shared endpoint methods.

Everything but moving bytes is shared with the sync `Client`: the endpoint methods and
settings (``_endpoints``), request building, retries, trace and errors (``_protocol``'s
`Exchange`), and the NDJSON decoder. httpx is the HTTP API; a call to an ``http://`` host
that httpx would add nothing to goes on the client's own asyncio connections
(``_aio_transport``), as the sync client's go on its own sockets. httpx is imported when
the first AsyncClient is made.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine, Generator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast
from urllib.parse import urlsplit

from ollama_wire import _errors as E
from ollama_wire import _protocol as P
from ollama_wire import _types as R
from ollama_wire._endpoints import Endpoints
from ollama_wire._errors import RequestError
from ollama_wire._host import is_loopback
from ollama_wire._http11 import READ_SIZE, ConnectFailed, ConnectTimedOut, origin
from ollama_wire._protocol import Call, StreamDecoder, TimeoutLike
from ollama_wire._retry import DEFAULT_MAX_RETRIES

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    import httpx

    from ollama_wire._aio_transport import AioPool, AioResponse
    from ollama_wire._protocol import MessageLike
    from ollama_wire._tools import ToolRun

__all__ = ["INSTALL_HINT", "AsyncClient", "AsyncStream"]

T = TypeVar("T")
Result = Coroutine[Any, Any, T]

#: What to run when httpx is missing.
INSTALL_HINT = "pip install 'ollama-wire[async]'"
#: Bytes read from a file per step of a blob upload.
UPLOAD_CHUNK = 1024 * 1024

#: Patched by tests so retries do not sleep.
sleep = asyncio.sleep


class AsyncStream(Generic[T]):
    """An async iterator over a streamed response that is also an async context manager.

    Nothing is sent until the first chunk is asked for. Awaiting a stream returns it, so the
    official SDK's ``async for part in await client.chat(..., stream=True)`` works, and so
    does leaving out the ``await``. ``aclose()``, leaving ``async with``, or cancelling the
    task that reads it closes the connection, which makes Ollama stop generating; a stream
    read to its end returns its connection to the pool. ``chunks`` holds what was received
    so far.
    """

    __slots__ = ("_call", "_decoder", "_gen")

    def __init__(self, client: AsyncClient, exchange: P.Exchange, limits: Any) -> None:
        self._call: Call[T] = exchange.call
        self._decoder: StreamDecoder[T] = StreamDecoder(
            self._call, client._max_line_size, trace=client._trace
        )
        # The generator does not refer back to this object, so a stream dropped unread is
        # freed and the event loop closes its generator, and with it the connection.
        self._gen: AsyncGenerator[T, None] = _iterate(client, exchange, limits, self._decoder)

    @property
    def chunks(self) -> list[T]:
        """Return the chunks received so far (decoded again from their bytes on each access)."""
        return self._decoder.chunks

    def __aiter__(self) -> AsyncIterator[T]:
        return self._gen

    async def __anext__(self) -> T:
        return await self._gen.__anext__()

    def __await__(self) -> Generator[Any, None, AsyncStream[T]]:
        yield from ()
        return self

    async def __aenter__(self) -> AsyncStream[T]:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (f"<AsyncStream {self._call.method} {self._call.path}, "
                f"{self._decoder.count} chunks>")

    async def aclose(self) -> None:
        """Close the connection; the server stops generating. Safe to call twice."""
        await self._gen.aclose()


async def _iterate(
    client: AsyncClient, exchange: P.Exchange, limits: Any, decoder: StreamDecoder[T]
) -> AsyncGenerator[T, None]:
    """Send a streaming call and yield its chunks; close the response however it ends."""
    call = exchange.call
    body = _Reader(await client._send(exchange, limits))
    try:
        while True:
            try:
                data = await body.read()
            except Exception as exc:
                raise decoder.fail(client._failure(exc, call, reading=True).error) from None
            if not data:
                break
            for part in decoder.parts(data):
                yield part
        for chunk in decoder.finish():
            yield chunk
    finally:
        await body.aclose()


class _Reader:
    """The body of a response from either path: the client's own (`AioResponse`) or httpx's.

    A compressed body is decoded as the sync client's is, by urllib3's decoders, at most
    ``READ_SIZE`` bytes at a time (httpx inflates each block it receives whole: 64 KiB of a
    gzip bomb is 64 MiB), and with urllib3's reading of ``x-gzip`` and of several gzip
    members, which httpx lacks.
    """

    __slots__ = ("_blocks", "_response", "read")

    def __init__(self, response: AioResponse | httpx.Response) -> None:
        from ollama_wire._aio_transport import AioResponse

        self._response: Any = response
        self._blocks: AsyncGenerator[bytes, None] | None = None  # httpx's only
        if isinstance(response, AioResponse):
            self.read = response.read
            return
        decoder = _content_decoder(response.headers.get("content-encoding", ""))
        # httpx makes these async generators; closing them ourselves spares the loop a task.
        if decoder is None:
            self._blocks = cast("AsyncGenerator[bytes, None]", response.aiter_bytes())
        else:
            self._blocks = _decoded(response.aiter_raw(), decoder)
        self.read = self._next

    async def _next(self) -> bytes:
        assert self._blocks is not None
        return await anext(self._blocks, b"")

    async def aclose(self) -> None:
        """Close the response; its connection goes back to the pool if its body was read."""
        if self._blocks is None:
            self._response.close()
            return
        await self._blocks.aclose()
        await self._response.aclose()


def _content_decoder(coding: str) -> Any:
    """Return urllib3's decoder for a ``Content-Encoding``, or None to leave it to httpx.

    None for a plain body, and where urllib3 cannot decode in bounded steps (before 2.6) or
    does not know a coding (``br`` without brotli), as the sync client's urllib3 would not.
    """
    codings = [c.strip() for c in coding.lower().split(",") if c.strip() not in ("", "identity")]
    if not codings:
        return None
    try:
        import urllib3.response
    except ImportError:  # requests always brings it; nothing lost without it
        return None
    module: Any = urllib3.response
    make = getattr(module, "_get_decoder", None)  # private, hence the fallback: httpx's
    bounded = hasattr(getattr(module, "ContentDecoder", None), "has_unconsumed_tail")
    known = getattr(module.HTTPResponse, "CONTENT_DECODERS", ())
    if make is None or not bounded or not all(c in known for c in codings):
        return None
    return make(", ".join(codings))


async def _decoded(raw: AsyncIterator[bytes], decoder: Any) -> AsyncGenerator[bytes, None]:
    """Decode a compressed body in blocks of at most ``READ_SIZE`` bytes, as urllib3's read1."""
    try:
        async for data in raw:
            while True:
                block = decoder.decompress(data, max_length=READ_SIZE)
                data = b""
                if block:
                    yield block
                if not block or not decoder.has_unconsumed_tail:
                    break
        block = decoder.decompress(b"") + decoder.flush()
        if block:
            yield block
    finally:
        closing = getattr(raw, "aclose", None)
        if closing is not None:
            await closing()


class _Transport:
    """The httpx client and the client's own pool of one event loop, closed when it shuts down.

    Connections belong to the loop they were opened on. ``asyncio.run()`` closes
    every async generator still open when it ends; ``keeper`` is one, parked until then, so
    the connections are closed while their loop still runs.
    """

    __slots__ = ("_elsewhere", "closed", "http", "keeper", "pool")

    def __init__(self, http: httpx.AsyncClient, pool: AioPool | None) -> None:
        self.http = http
        #: The client's own connections, for the calls httpx would add nothing to.
        self.pool = pool
        self._elsewhere: httpx.AsyncClient | None = None
        self.closed = False
        self.keeper = self._keep()

    def elsewhere(self, client: AsyncClient) -> httpx.AsyncClient:
        """Return the httpx client for calls to another server than the client's host.

        ollama.com's web API gets httpx's defaults for TLS and the environment's proxies:
        the settings made for the client's host (``verify=`` above all) are not its own.
        """
        if self._elsewhere is None:
            self._elsewhere = client._make_http(elsewhere=True)
        return self._elsewhere

    async def _keep(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            if not self.closed:
                self.closed = True
                if self.pool is not None:
                    self.pool.close()
                await self.http.aclose()
                if self._elsewhere is not None:
                    await self._elsewhere.aclose()

    def drop(self) -> None:
        """Let go of a transport whose loop was closed without closing async generators.

        Its sockets can no longer be closed through the loop; they close when freed.
        """
        self.closed = True
        finisher = self.keeper.aclose()
        try:
            finisher.send(None)  # runs the ``finally`` above, with nothing to await
        except StopIteration:
            pass


class AsyncClient(
    Endpoints[
        Result[R.ChatResponse], AsyncStream[R.ChatResponse], Result[R.GenerateResponse],
        AsyncStream[R.GenerateResponse], Result[R.ProgressResponse],
        AsyncStream[R.ProgressResponse], Result[R.EmbedResponse], Result[R.EmbeddingsResponse],
        Result[R.ListResponse], Result[R.ShowResponse], Result[R.ProcessResponse],
        Result[R.StatusResponse], Result[R.VersionResponse], Result[str],
        Result[R.WebSearchResponse], Result[R.WebFetchResponse],
    ]
):
    """An async Ollama client on httpx; a drop-in for ``ollama.AsyncClient``.

    Settings as for `Client`, but for ``session``: ``AsyncClient(host, timeout=,
    max_retries=, headers=, trace=, max_line_size=, verify=)``. Proxies and CA bundles come
    from the environment, as httpx reads them (``SSL_CERT_FILE``, ``SSL_CERT_DIR``); an
    explicit ``verify=`` (a CA bundle file or directory, or ``False``) beats them. Every
    `Client` method, with the same arguments, payloads, results, errors, retries, timeouts
    and trace, is a coroutine::

        async with AsyncClient() as c:
            r = await c.chat("llama3.2", [{"role": "user", "content": "hi"}])
            async for part in await c.chat(..., stream=True):   # or without the await
                ...

    Streams: ``stream=True`` gives an `AsyncStream`; leave the loop, ``aclose()`` it or cancel
    its task to stop generation. Retries wait with ``asyncio.sleep``, timeouts run on the
    event loop's clock, and ``create_blob`` reads its file in a worker thread: nothing blocks
    the loop.

    Proxies: as with `Client`, the environment's apply except to a loopback host, which is
    always dialled directly; a ``proxy=`` or ``mounts=`` given for httpx applies.

    Event loops: connections belong to the loop that opened them, so each loop gets its own
    pool, closed when ``asyncio.run()`` ends (a loop closed without ``shutdown_asyncgens()``
    leaves its sockets to the garbage collector). One AsyncClient therefore works across
    successive ``asyncio.run()`` calls, and in several threads' loops at once; given a
    ``transport=`` or ``mounts=`` (one object, whose connections belong to one loop), in one
    loop at a time: a call from a second loop while the first still holds it raises
    `RequestError`. Connections:
    as many as the calls at once need, never waiting for a free one (like `Client`); up to
    ``DEFAULT_POOL_SIZE`` idle ones are kept.

    httpx's own client options (``auth=``, ``transport=``, ``proxy=``, ``limits=``,
    ``event_hooks=``, ...) go to each event loop's ``httpx.AsyncClient``, as the official
    SDK passes them; a client given any sends every call through httpx.

    Needs httpx: ``pip install 'ollama-wire[async]'``.
    """

    def __init__(
        self,
        host: str | None = None,
        *,
        timeout: TimeoutLike = P.UNSET,
        max_retries: int = DEFAULT_MAX_RETRIES,
        headers: Mapping[str, str | None] | None = None,
        trace: bool | None = None,
        max_line_size: int = P.DEFAULT_MAX_LINE_SIZE,
        verify: bool | str | os.PathLike[str] = True,
        follow_redirects: bool = True,
        **httpx_options: Any,
    ) -> None:
        #: Options for each ``httpx.AsyncClient``, checked when the client is made.
        self._httpx_options = httpx_options
        super().__init__(host, timeout=timeout, max_retries=max_retries, headers=headers,
                         trace=trace, max_line_size=max_line_size, verify=verify,
                         follow_redirects=follow_redirects)

    def _setup_transport(self) -> None:
        try:
            import httpx  # fail now, not at the first call
        except ImportError:
            raise ImportError(
                f"AsyncClient needs httpx, which is not installed: {INSTALL_HINT}",
                name="httpx",
            ) from None
        if self._httpx_options:
            import inspect

            known = inspect.signature(httpx.AsyncClient).parameters
            ours = {"base_url", "timeout", "headers", "verify", "follow_redirects"}
            unknown = [name for name in self._httpx_options if name not in known or name in ours]
            if unknown:
                raise TypeError(f"AsyncClient() got {', '.join(map(repr, unknown))}, which is "
                                "neither its own setting nor an httpx.AsyncClient option")
        self._transports: dict[asyncio.AbstractEventLoop, _Transport] = {}
        self._tls: ssl.SSLContext | None = None
        self._registry = threading.Lock()
        #: Whether every loop's httpx client shares the user's transport objects.
        self._shared_transport = bool({"transport", "mounts"} & self._httpx_options.keys())

    # Lifecycle -----------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the connections; the client can still be used and opens new ones."""
        running = asyncio.get_running_loop()
        with self._registry:
            closing, self._transports = self._transports, {}
        for loop, transport in closing.items():
            if loop is running:
                await transport.keeper.aclose()
            elif loop.is_closed():
                transport.drop()
            else:
                asyncio.run_coroutine_threadsafe(transport.keeper.aclose(), loop)
        # asyncio closes a transport's socket on the loop's next turn: let it come, so that
        # the connections are gone when this returns.
        await asyncio.sleep(0)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def create_blob(self, path: str | Path, *, timeout: TimeoutLike = P.UNSET) -> str:
        """Upload a file as a blob and return its digest ``sha256:<hex>``."""
        call = await asyncio.to_thread(P.blob, path)  # hashing a model file takes seconds
        result: str = await self._run(call, timeout)
        return result

    # Tools ---------------------------------------------------------------------------------

    async def run_tools(
        self, model: str, messages: Sequence[MessageLike] | None,
        tools: Sequence[Callable[..., Any]], *, max_rounds: int = P.DEFAULT_MAX_ROUNDS,
        **chat_options: Any,
    ) -> ToolRun:
        """Chat until the model stops asking for tools, running (or awaiting) the ones it asks for.

        Returns a `ToolRun` (``.response``, ``.messages``); see `tool_from_function`. A tool's
        exception or arguments that do not fit its schema go back to the model as its result.
        """
        from ollama_wire._tools import arun_tools

        return await arun_tools(
            self.chat, model, messages, tools, max_rounds=max_rounds, **chat_options
        )

    # Transport -----------------------------------------------------------------------------

    def _run(self, call: Call[Any], timeout: Any) -> Any:
        """Start a call: a coroutine for its result, or a lazy `AsyncStream`."""
        limits = self._limits(timeout)
        exchange = self._exchange(call)  # encodes the body: bad values fail here, not later
        if call.stream:
            return AsyncStream(self, exchange, limits)
        return self._send(exchange, limits)

    async def _send(self, exchange: P.Exchange, limits: Any) -> Any:
        """Run a call's attempts; return its result, or the open response of a stream."""
        for step, arg in exchange:
            exchange.result = await self._perform(exchange, step, arg, limits)
        return exchange.value

    async def _perform(self, exchange: P.Exchange, step: str, arg: Any, limits: Any) -> Any:
        """Perform one step of an exchange with httpx."""
        if step == P.SEND:
            return await self._open(exchange, limits)
        if step == P.SLEEP:
            return await sleep(arg)
        received = _Reader(arg)
        try:
            body = P.BodyReader(self._max_line_size)
            while data := await received.read():
                body.feed(data)
            return body.body()
        except Exception as exc:
            return self._failure(exc, exchange.call, reading=True)
        finally:
            await received.aclose()

    async def _open(self, exchange: P.Exchange, limits: Any) -> Any:
        """Send the request and return its `Head`, or the `Failure` that stopped it."""
        call = exchange.call
        transport = await self._transport()
        http = transport.http if call.origin is None else transport.elsewhere(self)
        if (transport.pool is not None and call.origin is None and call.upload is None
                and not http.cookies):
            try:
                head = await self._open_direct(transport.pool, http, exchange, limits)
            except Exception as exc:
                return self._failure(exc, call)
            if head is not None:
                return head
        headers = self._headers
        content: Any = exchange.data
        if call.upload is not None:
            try:
                size = os.stat(call.upload).st_size
            except OSError as exc:
                raise RequestError(f"cannot read {str(call.upload)!r}: {exc}") from None
            headers = {**headers, "content-type": "application/octet-stream",
                       "content-length": str(size)}
            content = _upload(call.upload)
        try:
            request = http.build_request(call.method, exchange.url, content=content,
                                         headers=headers, timeout=_timeout(limits))
            response = await http.send(request, stream=True)
        except Exception as exc:
            if call.upload is not None and isinstance(exc, OSError):  # httpx's are not
                raise RequestError(f"cannot read {str(call.upload)!r}: {exc}") from None
            return self._failure(exc, call)
        return P.Head(response.status_code, response.reason_phrase, response.headers, response)

    async def _open_direct(
        self, pool: AioPool, http: httpx.AsyncClient, exchange: P.Exchange, limits: Any
    ) -> P.Head | None:
        """Send on the client's own connections, as httpx would; None: send it with httpx.

        What httpx does beyond that is done here only when a response needs it: a compressed
        body is decoded by httpx, cookies it sets go to httpx's jar (later calls then go
        through httpx, which sends them) and redirects are followed by httpx.
        """
        call = exchange.call
        response = await pool.send(call.method, self._prefix + call.path, exchange.data, limits)
        headers = response.headers
        redirect = self._follow_redirects and 300 <= response.status < 400 and (
            "location" in headers)
        if not redirect and "set-cookie" not in headers and (
            headers.get("content-encoding", "").strip().lower() in ("", "identity")
        ):
            return P.Head(response.status, response.reason, headers, response)
        request = http.build_request(call.method, exchange.url, content=exchange.data,
                                     headers=self._headers, timeout=_timeout(limits))
        first = response.to_httpx(request)
        http.cookies.extract_cookies(first)
        if not redirect:
            return P.Head(response.status, response.reason, headers, first)
        # What httpx does on a redirect (private, hence the fallback: send it with httpx).
        follow: Any = getattr(http, "_build_redirect_request", None)
        await first.aclose()
        if follow is None:
            return None
        final = await http.send(follow(request, first), stream=True)
        final.history = [first, *final.history]
        return P.Head(final.status_code, final.reason_phrase, final.headers, final)

    async def _transport(self) -> _Transport:
        """Return the transports of the running loop, making them on first use there.

        A ``transport=`` (or ``mounts=``) given is one object for every loop's httpx client,
        and its connections belong to the loop that opened them: it serves one loop at a
        time, and forgets the connections of a loop closed without closing them.
        """
        loop = asyncio.get_running_loop()
        transport = self._transports.get(loop)
        if transport is not None and not transport.closed:
            return transport
        with self._registry:  # loops in other threads look and register at the same time
            stale = [(old, self._transports.pop(old)) for old in list(self._transports)
                     if old.is_closed()]
            if self._shared_transport and any(
                not other.closed for other in self._transports.values()
            ):
                raise RequestError(
                    "this AsyncClient's httpx transport (transport= or mounts=) is in use on "
                    "another event loop, and its connections belong to that loop: make one "
                    "AsyncClient per event loop, or `await client.close()` on the other loop "
                    "first")
            http = self._make_http()
            transport = self._transports[loop] = _Transport(http, self._make_pool(http))
        if any(not old.closed for _, old in stale):
            await self._forget_connections()
        for _, old in stale:
            old.drop()
        await transport.keeper.__anext__()  # parked, and known to the loop
        return transport

    async def _forget_connections(self) -> None:
        """Empty the user's httpx transports of a closed loop's connections.

        Closing a pool first takes its connections out, then closes them one by one: the
        first fails, its loop being closed, and the rest close when freed.
        """
        options = self._httpx_options
        for shared in [options.get("transport"), *(options.get("mounts") or {}).values()]:
            if shared is not None:
                try:
                    await shared.aclose()
                except Exception:
                    pass

    def _make_pool(self, http: httpx.AsyncClient) -> AioPool | None:
        """Return the client's own connection pool for the host, or None where httpx must go.

        Only for an ``http://`` host that httpx would send to directly, that is, one no
        proxy from the environment claims (asked of httpx's own routing, a private method:
        if a future httpx lacks it, every call goes through httpx).
        """
        import httpx

        from ollama_wire._aio_transport import AioPool

        base = self._base
        route: Any = getattr(http, "_transport_for_url", None)
        if self._httpx_options:  # the user's transport, auth or hooks: all through httpx
            return None
        if not (base.startswith("http://") and base.isascii() and route is not None
                and route(httpx.URL(base)) is getattr(http, "_transport", None)):
            return None
        host, port, host_field = origin(base)
        fields = [(b"Host", host_field)]
        ours = self._headers  # lower-case names; they replace httpx's defaults, as httpx does
        fields.extend((name, value) for name, value in http.headers.raw
                      if name.decode("latin-1").lower() not in ours)
        fields.extend((name.encode("latin-1"), value.encode("latin-1"))
                      for name, value in ours.items())
        return AioPool(host, port, fields)

    def _make_http(self, elsewhere: bool = False) -> httpx.AsyncClient:
        """Make the httpx client of one loop (proxies from the environment, as httpx reads them).

        ``elsewhere``: for another server than the client's host, with httpx's own TLS
        defaults and none of the options given for the host.
        """
        import httpx

        timeout = _timeout(self._timeout)
        if elsewhere:
            return httpx.AsyncClient(timeout=timeout, follow_redirects=self._follow_redirects)
        limits = httpx.Limits(max_connections=None,
                              max_keepalive_connections=P.DEFAULT_POOL_SIZE)
        options = {"limits": limits, **self._httpx_options}
        if is_loopback(self._base) and "proxy" not in options:
            # The environment's proxies never take a loopback host, as in `Client`; a mount of
            # None is httpx's "no proxy here". Mounts given for the host still win.
            name = urlsplit(self._base).hostname or ""
            pattern = f"all://[{name}]" if ":" in name else f"all://{name}"
            options["mounts"] = {pattern: None, **(options.get("mounts") or {})}
        return httpx.AsyncClient(verify=self._tls_context(), timeout=timeout,
                                 follow_redirects=self._follow_redirects, **options)

    def _tls_context(self) -> ssl.SSLContext | bool:
        """Return the TLS settings for httpx, made once: loading CA bundles takes ~50 ms.

        httpx would load its bundle again for each event loop's client.
        """
        if self._verify is False:
            return False
        if self._tls is None:
            import httpx

            if not isinstance(self._verify, str):  # httpx's default: certifi or SSL_CERT_FILE
                self._tls = httpx.create_ssl_context()
            elif os.path.isdir(self._verify):  # a context, not the path: httpx deprecates paths
                self._tls = ssl.create_default_context(capath=self._verify)
            else:
                self._tls = ssl.create_default_context(cafile=self._verify)
        return self._tls

    def _describe(self, exc: BaseException, reading: bool) -> tuple[str, str]:
        return _classify(exc, reading), _reason(exc)


async def _upload(path: Path) -> AsyncGenerator[bytes, None]:
    """Yield a file's bytes, read in a worker thread so the loop never waits on the disk."""
    with path.open("rb") as file:
        while block := await asyncio.to_thread(file.read, UPLOAD_CHUNK):
            yield block


def _timeout(limits: tuple[float | None, float | None] | None) -> httpx.Timeout:
    """Map (connect, read) seconds to httpx: writes get the read limit, as with requests."""
    import httpx

    if limits is None:
        return httpx.Timeout(None)
    connect, read = limits
    return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)


def _classify(exc: BaseException, reading: bool) -> str:
    """Name the transport failure behind an httpx or ``_aio_transport`` exception."""
    import httpx

    if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout, ConnectTimedOut)):
        return E.CONNECT_TIMED_OUT
    if isinstance(exc, (httpx.TimeoutException, TimeoutError)):
        return E.READ_TIMED_OUT
    if _caused_by_ssl(exc):
        return E.TLS_FAILED
    if isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError)):
        return E.INVALID_REQUEST
    if reading:
        return E.DROPPED_READING
    if isinstance(exc, (httpx.ConnectError, httpx.ProxyError, ConnectFailed)):
        return E.CONNECT_FAILED
    if isinstance(exc, (httpx.TransportError, OSError)):
        return E.DROPPED
    return E.OTHER


def _reason(exc: BaseException) -> str:
    """Say what went wrong, as the socket said it where httpx wrapped a socket's error.

    httpx's ``ReadError`` says nothing (its cause, through httpcore and anyio, says
    "Connection reset by peer"), and its ``ConnectError`` says "All connection attempts
    failed" over the refusal itself.
    """
    import httpx

    if isinstance(exc, httpx.HTTPError):
        inner: BaseException | None = exc
        found: BaseException | None = None
        for _ in range(10):
            if inner is None:
                break
            if isinstance(inner, OSError) and str(inner):
                found = inner  # the innermost one: the socket's own
            inner = inner.__cause__ or inner.__context__
        if found is not None:
            return str(found)
    return str(exc) or type(exc).__name__


def _caused_by_ssl(exc: BaseException) -> bool:
    """Look through httpx's and httpcore's wrapping for an `ssl.SSLError`."""
    inner: BaseException | None = exc
    for _ in range(10):
        if inner is None:
            return False
        if isinstance(inner, ssl.SSLError):
            return True
        inner = inner.__cause__ or inner.__context__
    return False
