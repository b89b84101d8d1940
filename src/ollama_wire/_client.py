"""The sync Client: the requests transport under the shared endpoint methods."""

from __future__ import annotations

import functools
import os
import re
import sys
import threading
import time
import urllib.parse
import weakref
from collections.abc import Generator, Iterator, Mapping
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Generic, TypeVar

from ollama_wire import _errors as E
from ollama_wire import _protocol as P
from ollama_wire._endpoints import Endpoints
from ollama_wire._errors import RequestError
from ollama_wire._host import is_loopback
from ollama_wire._http11 import (
    BODY_CUT,
    ConnectFailed,
    ConnectTimedOut,
    RemoteProtocolError,
    origin,
)
from ollama_wire._protocol import (
    DEFAULT_MAX_LINE_SIZE,
    DEFAULT_POOL_SIZE,
    DEFAULT_TIMEOUT,
    UNSET,
    Call,
    Head,
    StreamDecoder,
    TimeoutLike,
)
from ollama_wire._retry import DEFAULT_MAX_RETRIES
from ollama_wire._sock_transport import READ_SIZE, SocketResponse, SocketTransport
from ollama_wire._types import (
    ChatResponse,
    EmbeddingsResponse,
    EmbedResponse,
    GenerateResponse,
    ListResponse,
    ProcessResponse,
    ProgressResponse,
    ShowResponse,
    StatusResponse,
    VersionResponse,
    WebFetchResponse,
    WebSearchResponse,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import requests

    from ollama_wire._protocol import MessageLike
    from ollama_wire._tools import ToolRun

__all__ = ["DEFAULT_POOL_SIZE", "DEFAULT_TIMEOUT", "Client", "Stream"]

T = TypeVar("T")

#: Patched by tests so retries do not sleep.
sleep = time.sleep


class Stream(Generic[T]):
    """An iterator over a streamed response that is also a context manager.

    Nothing is sent until the first chunk is asked for. Leaving the loop, ``close()`` or
    ``with`` closes the connection, which makes Ollama stop generating; a stream read to its
    end returns its connection to the pool. ``chunks`` holds what was received so far.
    """

    __slots__ = ("_call", "_decoder", "_gen")

    def __init__(self, client: Client, exchange: P.Exchange, limits: Any) -> None:
        self._call: Call[T] = exchange.call
        self._decoder: StreamDecoder[T] = StreamDecoder(
            self._call, client._max_line_size, trace=client._trace
        )
        # The generator must not refer back to this object: when a loop over a temporary
        # Stream ends, the generator is freed at once and its ``finally`` closes the socket.
        self._gen: Generator[T, None, None] = _iterate(client, exchange, limits, self._decoder)

    @property
    def chunks(self) -> list[T]:
        """Return the chunks received so far (decoded again from their bytes on each access)."""
        return self._decoder.chunks

    def __iter__(self) -> Iterator[T]:
        return self._gen

    def __next__(self) -> T:
        return next(self._gen)

    def __enter__(self) -> Stream[T]:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Stream {self._call.method} {self._call.path}, {self._decoder.count} chunks>"

    def close(self) -> None:
        """Close the connection; the server stops generating. Safe to call twice."""
        self._gen.close()


def _iterate(
    client: Client, exchange: P.Exchange, limits: Any, decoder: StreamDecoder[T]
) -> Generator[T, None, None]:
    """Send a streaming call and yield its chunks; close the response however it ends."""
    call = exchange.call
    response = client._send(exchange, limits)
    try:
        read = _reader(response)
        while True:
            try:
                data = read()
            except Exception as exc:
                raise decoder.fail(client._failure(exc, call, reading=True).error) from None
            if not data:
                break
            yield from decoder.parts(data)
        yield from decoder.finish()
    finally:
        if decoder.done and isinstance(response, SocketResponse):
            # Left right after its last chunk (``if part.done: break``): the end of the body
            # follows at once, and read, it lets the connection serve the next call.
            response.finish_within(_BODY_END_WAIT)
        _close(response)


class Client(
    Endpoints[
        ChatResponse, Stream[ChatResponse], GenerateResponse, Stream[GenerateResponse],
        ProgressResponse, Stream[ProgressResponse], EmbedResponse, EmbeddingsResponse,
        ListResponse, ShowResponse, ProcessResponse, StatusResponse, VersionResponse, str,
        WebSearchResponse, WebFetchResponse,
    ]
):
    """A sync Ollama client on requests; a drop-in for ``ollama.Client``.

    ==========================================  ====================================
    ``Client()``                                ``OLLAMA_HOST`` or 127.0.0.1:11434
    ``Client("http://u:p@host:8080/prefix")``   basic auth, path prefix kept
    ``Client(timeout=30)``                      30 s to connect and between bytes
    ``Client(timeout=(2, None))``               2 s to connect, wait forever for bytes
    ``Client(max_retries=0)``                   no retries
    ``Client(session=my_session)``              your adapters, auth, proxies, certs
    ``Client(verify="corp-ca.pem")``            this CA bundle (False: no checks)
    ``Client(trace=True)``                      log the wire on ``ollama_wire.wire``
    ``c.chat(..., timeout=600)``                per-call timeout
    ==========================================  ====================================

    ==================================================  =================================
    ``c.chat("llama3.2", [{"role": "user", ...}])``     a `ChatResponse`
    ``for part in c.chat(..., stream=True): ...``       `ChatResponse` chunks
    ``c.generate("llama3.2", "Why?")``                  a `GenerateResponse`
    ``c.embed("all-minilm", ["a", "b"]).embeddings``    one vector per input
    ``c.list()``, ``c.ps()``, ``c.show(m)``             models: local, loaded, one
    ``c.pull(m)``, ``c.push(m)``, ``c.create(...)``     progress (``stream=True`` too)
    ``c.copy(a, b)``, ``c.delete(m)``, ``c.unload(m)``  model management
    ``c.create_blob(path)``, ``c.version()``            ``"sha256:..."``, server version
    ==================================================  =================================

    Timeouts: ``timeout`` is seconds (connect and read) or a ``(connect, read)`` pair. The read
    timeout bounds the silence between bytes, not the whole call; Ollama sends nothing while
    it loads a model, hence the long default ``(5, 300)``.

    Retries: up to ``max_retries`` (default 2) retries with backoff ``min(0.5 * 2**n, 8)``
    times a jitter in [0.75, 1], or the server's ``Retry-After``. Connection failures before
    sending are always retried; 429, 502, 503, 504 and dropped connections only for calls
    that may be sent twice (not push, create or delete). Read timeouts and
    streams that already yielded are never retried. Each retry is logged at INFO on logger
    ``ollama_wire``.

    Streams: ``stream=True`` returns a `Stream`: iterate it, leave the loop or call
    ``close()`` to stop generation. An ``{"error"}`` line raises `StreamError`; a stream that
    ends early raises `IncompleteStreamError`; both carry ``.chunks``.

    Threads: one Client may be shared by many threads for calls and streams. It never mutates
    its session after construction, and its own pool keeps ``DEFAULT_POOL_SIZE`` connections
    (a session you pass keeps its adapters' sizes). A `Stream` belongs to the thread that
    iterates it. Processes: a client made before ``os.fork()`` works in the child too, on
    new connections (the child lets go of the idle ones it inherited).

    Sessions: the session's headers, auth, proxies and certificate settings (and the
    environment's proxies and CA bundle) are read once, when the client is made. To an
    ``http://`` host, with its own session and nothing for requests to add (no proxy, netrc
    auth or cookie; not an upload), the client speaks HTTP/1.1 itself on a pool of sockets
    (``_sock_transport``), sending the headers requests would send; a response that sets a
    cookie, redirects or is compressed is handed to requests and urllib3, as
    ``Session.send`` would have had them. Everything else goes through the session. Where
    the client can tell alone that a new session would add nothing (no proxy variable but
    ``no_proxy`` and no netrc file, on a system whose proxies come from the environment),
    it does not import requests until a response needs it, which saves about 9 MiB.

    Proxies: the environment's (``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``...) apply, except
    to a loopback host (``localhost``, 127.0.0.0/8, ``::1``), which is always dialled
    directly, as Go's net/http and so the ``ollama`` command do; a global proxy setting must
    not turn calls to a local Ollama into a proxy's 502. A session's own ``proxies`` apply.

    TLS: certificates are always verified by default, against ``REQUESTS_CA_BUNDLE`` or
    ``CURL_CA_BUNDLE`` when set, else the session's ``verify`` (certifi's bundle). An
    explicit ``verify=`` (a CA bundle file or directory, or ``False``) beats both.
    ``verify=False`` was asked for, so urllib3's ``InsecureRequestWarning`` is not repeated
    on every request: one warnings filter, for this host only, silences it (see
    `_quiet_unverified`).
    """

    def __init__(
        self,
        host: str | None = None,
        *,
        timeout: TimeoutLike = UNSET,
        max_retries: int = DEFAULT_MAX_RETRIES,
        headers: Mapping[str, str | None] | None = None,
        trace: bool | None = None,
        session: requests.Session | None = None,
        max_line_size: int = DEFAULT_MAX_LINE_SIZE,
        verify: bool | str | os.PathLike[str] = True,
        follow_redirects: bool = True,
        **httpx_options: Any,
    ) -> None:
        if httpx_options:
            raise TypeError(
                f"Client() got {', '.join(map(repr, httpx_options))}: the official SDK passes "
                "such options to httpx, but this Client runs on requests. Pass a "
                "requests.Session set up as needed (auth, proxies, cert) as session=, or use "
                "AsyncClient, which takes httpx's options")
        super().__init__(host, timeout=timeout, max_retries=max_retries, headers=headers,
                         trace=trace, max_line_size=max_line_size, verify=verify,
                         follow_redirects=follow_redirects)
        self._own_session = session is None
        self._session = session
        self._made = threading.Lock()
        self._send_options: dict[str, Any] = {}
        self._auth: Any = None
        self._transport: SocketTransport | None = None
        _CLIENTS.add(self)
        if session is None and _requests_would_add_nothing(self._base):
            # The common case, decided without importing requests: the client's own sockets,
            # and a session only if a response needs one (see `_open_direct`).
            self._headers = _wire_headers(_NEW_SESSION_HEADERS, self._headers)
            self._transport = self._open_transport()
            return
        import requests.utils

        self._base = requests.utils.requote_uri(self._base)
        session = self._requests_session()
        # Settings that requests would work out again on every call (environment proxies,
        # CA bundle, netrc, merged headers) are worked out once here.
        self._headers = _wire_headers(session.headers, self._headers)
        auth = session.auth
        if auth is None and session.trust_env:
            auth = requests.utils.get_netrc_auth(self._base)
        self._auth = auth
        # When requests would add nothing to a call to an http:// host (our own session: no
        # proxy, auth handler or cookie), calls go on the client's own sockets, skipping
        # requests', urllib3's and http.client's per-call work; see `_open_direct`.
        if (self._own_session and auth is None and self._base.isascii()
                and self._base.startswith("http://")
                and requests.utils.select_proxy(self._base, self._send_options["proxies"]) is None):
            self._transport = self._open_transport()

    def _requests_session(self) -> requests.Session:
        """Return the session, making the client's own when first needed.

        Its environment settings (proxies, client certificate, CA bundle) are read here, once.
        """
        session = self._session
        if session is not None and self._send_options:
            return session
        with self._made:
            if self._session is not None and self._send_options:
                return self._session
            import requests
            import requests.adapters

            if session is None:
                session = requests.Session()
                adapter = requests.adapters.HTTPAdapter(
                    pool_connections=4, pool_maxsize=DEFAULT_POOL_SIZE, max_retries=0
                )
                session.mount("http://", adapter)
                session.mount("https://", adapter)
            env = session.merge_environment_settings(self._base, {}, True, None, None)
            # A loopback host gets only the proxies the session was given (see `is_loopback`).
            proxies = dict(session.proxies) if is_loopback(self._base) else env["proxies"]
            self._send_options = {
                "proxies": proxies, "cert": env["cert"],
                "allow_redirects": self._follow_redirects,
                # requests lets the environment's bundle beat ``session.verify``; not ours.
                "verify": env["verify"] if self._verify is True else self._verify,
            }
            if self._verify is False:
                _quiet_unverified(urllib.parse.urlsplit(self._base).hostname or "")
            self._session = session
            return session

    # Lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connections (a session you passed in is left open)."""
        if not self._own_session:
            return
        if self._transport is not None:
            self._transport.close()
            self._transport = self._open_transport()  # a client closed may still be used
        if self._session is None:
            return
        # urllib3 2 forgets its pools on ``clear()`` without closing them, so their idle
        # sockets would stay open for as long as anything (a kept error) refers to them.
        for adapter in self._session.adapters.values():
            managers: list[Any] = [getattr(adapter, "poolmanager", None),
                                   *getattr(adapter, "proxy_manager", {}).values()]
            for manager in managers:
                pools: Any = getattr(manager, "pools", None)
                for key in list(pools.keys()) if pools is not None else ():
                    pool = pools.get(key)
                    if pool is not None:
                        pool.close()
        self._session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # Tools ---------------------------------------------------------------------------------

    def run_tools(
        self, model: str, messages: Sequence[MessageLike] | None,
        tools: Sequence[Callable[..., Any]], *, max_rounds: int = P.DEFAULT_MAX_ROUNDS,
        **chat_options: Any,
    ) -> ToolRun:
        """Chat until the model stops asking for tools, running the ones it asks for.

        Returns a `ToolRun` (``.response``, ``.messages``); see `tool_from_function`. A tool's
        exception or arguments that do not fit its schema go back to the model as its result.
        """
        from ollama_wire._tools import run_tools

        return run_tools(self.chat, model, messages, tools, max_rounds=max_rounds, **chat_options)

    # Transport -----------------------------------------------------------------------------

    def _run(self, call: Call[Any], timeout: Any) -> Any:
        """Run a call: a typed result, or a lazy `Stream` when the call streams."""
        limits = self._limits(timeout)
        exchange = self._exchange(call)  # encodes the body: bad values fail here, not later
        return Stream(self, exchange, limits) if call.stream else self._send(exchange, limits)

    def _send(self, exchange: P.Exchange, limits: Any) -> Any:
        """Run a call's attempts; return its result, or the open response of a stream."""
        for step, arg in exchange:
            exchange.result = self._perform(exchange, step, arg, limits)
        return exchange.value

    def _perform(self, exchange: P.Exchange, step: str, arg: Any, limits: Any) -> Any:
        """Perform one step of an exchange with requests."""
        call = exchange.call
        if step == P.SLEEP:
            sleep(arg)
            return None
        if step == P.READ:
            try:
                body = P.BodyReader(self._max_line_size)
                read = _reader(arg)
                while data := read():
                    body.feed(data)
                return body.body()
            except Exception as exc:
                return self._failure(exc, call, reading=True)
            finally:
                _close(arg)
        if call.origin is not None:
            return self._open_elsewhere(exchange, limits)
        session = self._session
        if call.upload is None and self._transport is not None and (
            session is None or not session.cookies
        ):
            try:
                return self._open_direct(exchange, limits)
            except Exception as exc:
                return self._failure(exc, call)
        upload: IO[bytes] | None = None
        try:
            if call.upload is not None:
                upload = call.upload.open("rb")
            response = self._requests_session().send(
                self._prepare(call.method, exchange.url, exchange.data, upload),
                timeout=limits, stream=True, **self._send_options,
            )
        except Exception as exc:
            if isinstance(exc, OSError) and not _is_requests_error(exc):
                raise RequestError(f"cannot read {str(call.upload)!r}: {exc}") from None
            return self._failure(exc, call)
        finally:
            if upload is not None:
                upload.close()
        return Head(response.status_code, response.reason or "", response.headers, response)

    def _open_elsewhere(self, exchange: P.Exchange, limits: Any) -> Any:
        """Send a call to another server than the client's host (ollama.com's web API).

        It goes as ``Session.request`` would send it, with that server's proxies, netrc and
        CA bundle: none of the settings worked out for the client's host, ``verify=``
        included, applies to it.
        """
        import requests

        call = exchange.call
        session = self._requests_session()
        try:
            prepared = session.prepare_request(requests.Request(
                call.method, exchange.url, headers=dict(self._headers), data=exchange.data))
            # proxies, stream (True here), verify and cert, as ``Session.request`` finds them
            settings = session.merge_environment_settings(exchange.url, {}, True, None, None)
            response = session.send(prepared, timeout=limits,
                                    allow_redirects=self._follow_redirects, **settings)
        except Exception as exc:
            return self._failure(exc, call)
        return Head(response.status_code, response.reason or "", response.headers, response)

    def _open_direct(self, exchange: P.Exchange, limits: Any) -> Head:
        """Send on the client's own sockets (`SocketTransport`), as requests would.

        What requests does beyond that is done here only when a response needs it: a
        compressed body is decoded by urllib3, cookies it sets go to the session's jar
        (later calls then go through requests, which sends them) and redirects are followed
        by requests.
        """
        call = exchange.call
        transport: Any = self._transport
        response = transport.send(call.method, self._prefix + call.path, exchange.data, limits)
        headers = response.headers
        redirect = (self._follow_redirects and 300 <= response.status < 400
                    and "location" in headers)
        handed = redirect or "set-cookie" in headers
        if not handed:
            if headers.get("content-encoding", "").strip().lower() not in ("", "identity"):
                return Head(response.status, response.reason, headers, response.to_urllib3())
            return Head(response.status, response.reason, headers, response)
        # What ``Session.send`` does after the adapter: cookies, then redirects.
        import requests

        raw = response.to_urllib3()
        session = self._requests_session()
        prepared = self._prepare(call.method, exchange.url, exchange.data, None)
        adapter: Any = session.get_adapter(exchange.url)
        first: requests.Response = adapter.build_response(prepared, raw)
        cookies: Any = requests.cookies  # untyped
        cookies.extract_cookies_to_jar(session.cookies, prepared, raw)
        if not redirect:
            return Head(first.status_code, first.reason or "", first.headers, first)
        sending = {k: v for k, v in self._send_options.items() if k != "allow_redirects"}
        history = list(session.resolve_redirects(first, prepared, stream=True, timeout=limits,
                                                 **sending))
        final = history.pop() if history else first
        final.history = [first, *history] if final is not first else []
        return Head(final.status_code, final.reason or "", final.headers, final)

    def _open_transport(self) -> SocketTransport:
        """Return a transport to the host, with the headers requests would send."""
        host, port, host_field = origin(self._base)
        fields = [(b"Host", host_field)]
        fields.extend((name.encode("latin-1"), value.encode("latin-1"))
                      for name, value in self._headers.items())
        return SocketTransport(host, port, fields)

    def _prepare(
        self, method: str, url: str, data: bytes | None, upload: IO[bytes] | None
    ) -> requests.PreparedRequest:
        """Build the request as ``Session.prepare_request`` would, minus the repeated work."""
        import requests

        prepared = requests.PreparedRequest()
        prepared.method = method
        prepared.url = url
        prepared.headers = requests.structures.CaseInsensitiveDict(self._headers)
        session = self._requests_session()
        prepared.hooks = session.hooks
        if upload is not None:
            prepared.prepare_body(upload, None)
            prepared.headers["Content-Type"] = "application/octet-stream"
        elif data is not None:
            prepared.body = data
            prepared.headers["Content-Length"] = str(len(data))
        # Redirects read and extend ``_cookies``; requests fails on a 3xx without it.
        jar = requests.cookies.RequestsCookieJar()
        if session.cookies:
            jar.update(session.cookies)
            prepared.prepare_cookies(jar)
        else:
            prepared._cookies = jar  # type: ignore[attr-defined]  # what prepare_cookies sets
        if self._auth is not None:
            prepared.prepare_auth(self._auth, url)
        return prepared

    def _describe(self, exc: BaseException, reading: bool) -> tuple[str, str]:
        return _classify(exc, reading), _reason(exc)


#: Seconds a stream left after its final chunk waits for the end of the body (Ollama sends it
#: straight after) before its connection is closed instead of kept.
_BODY_END_WAIT = 0.05

#: What a new ``requests.Session`` sends that the client's own headers do not replace
#: (``requests.utils.default_headers()``, with the encodings every urllib3 decodes).
_NEW_SESSION_HEADERS = {"Accept-Encoding": "gzip, deflate", "Connection": "keep-alive"}

#: An ``http://`` URL that ``requests.utils.requote_uri`` leaves as it is.
_PLAIN_HTTP_URL = re.compile(r"http://[\w.~:/\[\]-]+", re.ASCII)


def _requests_would_add_nothing(base: str) -> bool:
    """Tell, without importing requests, that a new session would add nothing to a call.

    True only when sure: an ``http://`` URL that requests would not requote; proxies that
    come from the environment alone (not macOS's or Windows' settings) and no proxy variable
    in it but ``no_proxy``; no netrc file where requests looks for one. Otherwise the client
    asks requests.
    """
    if sys.platform in ("darwin", "win32") or not _PLAIN_HTTP_URL.fullmatch(base):
        return False
    if not is_loopback(base):
        for name, value in os.environ.items():
            if value and name.lower().endswith("_proxy") and name.lower() != "no_proxy":
                return False
    netrc = os.environ.get("NETRC")
    places = [netrc] if netrc is not None else ["~/.netrc", "~/_netrc"]
    try:
        return not any(os.path.exists(os.path.expanduser(place)) for place in places)
    except KeyError:  # no home directory to look in
        return False


def _wire_headers(
    session: Mapping[str, str | bytes | None], own: Mapping[str, str]
) -> dict[str, str]:
    """Merge the session's headers and the client's, the client's winning, as requests does."""
    merged: dict[str, tuple[str, str]] = {}
    for name, value in session.items():
        if value is not None:
            text = value if isinstance(value, str) else value.decode("latin-1")
            merged[name.lower()] = (name, text)
    merged.update((name.lower(), (name, value)) for name, value in own.items())
    return dict(merged.values())


def _raw(response: Any) -> Any:
    """Return the urllib3 response of a requests response, or the urllib3 response given."""
    import requests

    return response.raw if isinstance(response, requests.Response) else response


def _reader(response: Any) -> Callable[[], bytes]:
    """Return a function that returns the body's next bytes as they arrive, b"" at its end.

    The bytes are decoded as the body's ``Content-Encoding`` says.
    """
    if isinstance(response, SocketResponse):
        return response.read
    raw = _raw(response)
    fp: Any = getattr(raw, "_fp", None)
    encoding = raw.headers.get("content-encoding", "").strip().lower()
    if not hasattr(fp, "read1") or encoding not in ("", "identity"):
        return functools.partial(raw.read1, READ_SIZE, decode_content=True)
    # Reading http.client's response directly skips urllib3's per-read bookkeeping, which
    # costs more than decoding a line.

    def read() -> bytes:
        data: bytes = fp.read1(READ_SIZE)
        if not data:
            # http.client counts a Content-Length down: bytes still due mean a close cut it.
            if getattr(fp, "length", None):
                raise RemoteProtocolError(BODY_CUT)
            raw.release_conn()  # what urllib3 does when it sees the body end
        return data

    return read


def _close(response: Any) -> None:
    """Close a response: its connection goes back to the pool if its body was read."""
    response.close()
    if isinstance(response, SocketResponse):
        return
    import requests

    if not isinstance(response, requests.Response):
        response.release_conn()  # what ``requests.Response.close`` does after closing


#: Every client, for `_forget_the_parents_connections`.
_CLIENTS: weakref.WeakSet[Client] = weakref.WeakSet()


def _forget_the_parents_connections() -> None:
    """In a child process just forked, let go of the idle connections: the parent shares them.

    Two processes on one keep-alive connection read each other's answers (gunicorn
    ``--preload``, Celery's prefork pool, ``multiprocessing`` after a first call). Closing
    closes this process's descriptors only, on the client's own sockets and requests' pools.
    """
    for client in list(_CLIENTS):
        if client._transport is not None:
            client._transport.forget_idle()
        session = client._session
        if session is not None:
            try:
                session.close()  # its pools are emptied; it makes new connections
            except Exception:
                pass


os.register_at_fork(after_in_child=_forget_the_parents_connections)


def _quiet_unverified(host: str) -> None:
    """Silence urllib3's per-request ``InsecureRequestWarning`` for ``host``.

    urllib3 has no per-pool or per-connection switch for it, and ``warnings.catch_warnings``
    around each request is not thread-safe. So this adds one filter, as narrow as the
    warnings module allows: that category, warned from ``urllib3.connectionpool``, with the
    message naming this host. Other hosts, other warnings and other modules still warn; a
    second client for the host replaces the filter rather than adding one; an application's
    own later filters (``-W error``, ``resetwarnings()``) still win.
    """
    import re
    import warnings

    from urllib3.exceptions import InsecureRequestWarning

    warnings.filterwarnings(
        "ignore", f"Unverified HTTPS request is being made to host '{re.escape(host)}'",
        InsecureRequestWarning, r"urllib3\.connectionpool\Z")


def _classify(exc: BaseException, reading: bool) -> str:
    """Name the transport failure behind a requests, urllib3 or socket exception."""
    if isinstance(exc, ConnectTimedOut):
        return E.CONNECT_TIMED_OUT
    if isinstance(exc, ConnectFailed):
        return E.CONNECT_FAILED
    if "urllib3" in sys.modules:  # else nothing here came from requests or urllib3
        kind = _classify_library(exc, reading)
        if kind is not None:
            return kind
    if isinstance(exc, TimeoutError):
        return E.READ_TIMED_OUT
    if reading:
        return E.DROPPED_READING
    return E.DROPPED if isinstance(exc, OSError) else E.OTHER


def _classify_library(exc: BaseException, reading: bool) -> str | None:
    """Name a failure that requests or urllib3 raised or wrapped; None for any other."""
    import requests.exceptions as rex
    import urllib3.exceptions as u3

    if isinstance(exc, u3.NewConnectionError) and not reading:
        return E.CONNECT_FAILED  # urllib3 makes it a connect timeout for compatibility
    if isinstance(exc, (rex.ConnectTimeout, u3.ConnectTimeoutError)):
        return E.CONNECT_TIMED_OUT
    if isinstance(exc, (rex.ReadTimeout, u3.ReadTimeoutError)) or (
        isinstance(exc, rex.ConnectionError) and (
            _caused_by(exc, u3.ReadTimeoutError)
            # A write that timed out (the server stopped reading): "Connection aborted."
            # with the socket's TimeoutError; one under a connect timeout is no such thing.
            or (_caused_by(exc, TimeoutError) and not _caused_by(exc, u3.ConnectTimeoutError))
        )
    ):
        return E.READ_TIMED_OUT
    if isinstance(exc, rex.SSLError) or _caused_by(exc, u3.SSLError):
        return E.TLS_FAILED
    if isinstance(exc, (rex.InvalidURL, rex.InvalidHeader, rex.MissingSchema, rex.InvalidSchema)):
        return E.INVALID_REQUEST
    if isinstance(exc, rex.TooManyRedirects):
        return E.OTHER  # an OSError to requests, but nothing dropped and a retry would loop
    if reading:
        return None
    if isinstance(exc, rex.ProxyError) or _caused_by(exc, u3.NewConnectionError):
        return E.CONNECT_FAILED
    if isinstance(exc, (rex.ConnectionError, u3.HTTPError)):
        return E.DROPPED
    return None


def _is_requests_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith(("requests", "urllib3"))


def _caused_by(
    exc: BaseException, kind: type[BaseException] | tuple[type[BaseException], ...]
) -> bool:
    """Look through requests' and urllib3's wrapping for an exception of ``kind``."""
    seen = 0
    todo: list[Any] = [exc]
    while todo and seen < 20:
        item = todo.pop()
        seen += 1
        if isinstance(item, kind):
            return True
        if isinstance(item, BaseException):
            todo.extend(item.args)
            todo.extend(x for x in (getattr(item, "reason", None), item.__cause__,
                                    item.__context__) if x is not None)
    return False


def _reason(exc: BaseException) -> str:
    inner: Any = exc
    for _ in range(5):
        nxt = getattr(inner, "reason", None)
        if nxt is None and inner.args and isinstance(inner.args[0], BaseException):
            nxt = inner.args[0]
        if not isinstance(nxt, BaseException):
            break
        inner = nxt
    return str(inner) or type(inner).__name__

