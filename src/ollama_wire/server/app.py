"""`OllamaServer`: the HTTP server, routing, scheduling and lifecycle."""

from __future__ import annotations

import collections
import contextlib
import fnmatch
import http.server
import ipaddress
import itertools
import json
import selectors
import socket
import ssl
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from ollama_wire.server import api
from ollama_wire.server._http import ClientGone, Exchange, HTTPError
from ollama_wire.server._validate import keep_alive_ns
from ollama_wire.server.engine import Engine, EngineError
from ollama_wire.server.faults import Fault, Faults
from ollama_wire.server.log import RequestLog, RequestRecord
from ollama_wire.server.registry import ModelEntry, Registry

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_MAX_BLOB_SIZE",
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_VERSION",
    "QUEUE_FULL",
    "TOO_MANY_CONNECTIONS",
    "OllamaServer",
    "PublicBindWarning",
    "allowed_host",
    "is_loopback",
    "make_engine",
]

DEFAULT_VERSION = "0.12.6"
QUEUE_FULL = "server busy, please try again.  maximum pending requests exceeded"
FAULT_HEADER = "x-ollama-wire-fault"
#: The largest request body accepted, except blob uploads (64 MiB: images included, a chat
#: request is far smaller).
DEFAULT_MAX_BODY = 64 * 1024 * 1024
#: The largest blob upload accepted (1 GiB): this server keeps blobs in memory.
DEFAULT_MAX_BLOB_SIZE = 1024 * 1024 * 1024
#: Connections served at once; more are answered 503 and closed instead of each taking a thread.
DEFAULT_MAX_CONNECTIONS = 512
#: Seconds a connection may stay silent while the server waits to read from it.
DEFAULT_IDLE_TIMEOUT = 300.0
TOO_MANY_CONNECTIONS = "server busy, please try again.  too many open connections"
#: How long a refused or over-limit connection is drained before it is closed, so that the
#: client reads the reply instead of a reset.
_LINGER_SECONDS = 2.0
_LINGER_BYTES = 256 * 1024 * 1024
#: Refused connections drained at once; past this they are closed at once.
_MAX_DRAINING = 1024


class PublicBindWarning(UserWarning):
    """The server listens on an address other machines can reach."""


def is_loopback(host: str) -> bool:
    """Tell whether ``host`` is a loopback address (or ``localhost``)."""
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def allowed_host(header: str | None) -> bool:
    """Tell whether a ``Host`` header may reach a server bound to loopback (DNS rebinding).

    Like Ollama: no header, ``localhost``, this machine's name, names under ``.localhost``,
    ``.local`` and ``.internal``, and loopback, private or unspecified IP addresses. Unlike
    Ollama, names without a dot pass too: public DNS, which a rebinding attack needs, cannot
    answer for them.
    """
    if not header:
        return True
    host = header.strip().lower()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return address.is_loopback or address.is_private or address.is_unspecified
    host = host.rstrip(".")
    if "." not in host or host == socket.gethostname().lower():
        return True
    return host.endswith((".localhost", ".local", ".internal"))


def _busy_reply(message: str) -> bytes:
    body = json.dumps({"error": message}).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        "Retry-After: 1\r\n"
        "Connection: close\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


_Handler = Callable[["OllamaServer", Exchange], None]
_HeadHandler = Callable[["OllamaServer", Exchange, bool], None]

_POST_ROUTES: dict[str, _Handler] = {
    "/api/generate": api.generate,
    "/api/chat": api.chat,
    "/api/embed": api.embed,
    "/api/embeddings": api.embeddings,
    "/api/show": api.show,
    "/api/pull": api.pull,
    "/api/push": api.push,
    "/api/create": api.create,
    "/api/copy": api.copy,
}
_GET_ROUTES: dict[str, _HeadHandler] = {
    "/": api.root,
    "/api/version": api.version,
    "/api/tags": api.tags,
    "/api/ps": api.ps,
    "/api/status": api.status,
}
_HEAD_OK = {"/", "/api/version", "/api/tags"}
# The routes that stream unless asked not to; the others reply with one JSON object.
_STREAMING_ROUTES = {"/api/generate", "/api/chat", "/api/pull", "/api/push", "/api/create"}
# Routes of the real server this one does not serve, with their methods: the right method
# gets the router's 404 (as if the route did not exist), a wrong one its 405.
_OTHER_ROUTES = {
    "/api/experimental/model-recommendations": {"GET"},
    "/api/me": {"POST"},
    "/api/signout": {"POST"},
    "/api/experimental/web_search": {"POST"},
    "/api/experimental/web_fetch": {"POST"},
    "/v1/chat/completions": {"POST"},
    "/v1/completions": {"POST"},
    "/v1/embeddings": {"POST"},
    "/v1/models": {"GET"},
    "/v1/responses": {"POST"},
    "/v1/messages": {"POST"},
    "/v1/audio/transcriptions": {"POST"},
}
# The same for routes with a parameter, by prefix (``/v1/models/:model``).
_OTHER_PREFIXES = {
    "/v1/models/": {"GET"},
    "/api/user/keys/": {"DELETE"},
}


_CORS_METHODS = "GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS"
_CORS_HEADERS = (
    "Authorization,Content-Type,User-Agent,Accept,X-Requested-With,OpenAI-Beta,"
    "x-stainless-arch,x-stainless-async,x-stainless-custom-poll-interval,x-stainless-helper-method,"
    "x-stainless-lang,x-stainless-os,x-stainless-package-version,x-stainless-poll-helper,"
    "x-stainless-retry-count,x-stainless-runtime,x-stainless-runtime-version,x-stainless-timeout"
)
_DEFAULT_ORIGINS = (
    "http://localhost",
    "https://localhost",
    "http://localhost:*",
    "https://localhost:*",
    "http://127.0.0.1",
    "https://127.0.0.1",
    "http://127.0.0.1:*",
    "https://127.0.0.1:*",
    "http://0.0.0.0",
    "https://0.0.0.0",
    "http://0.0.0.0:*",
    "https://0.0.0.0:*",
    "app://*",
    "file://*",
    "tauri://*",
    "vscode-webview://*",
    "vscode-file://*",
)


def make_engine(engine: str | Engine, options: dict[str, Any] | None = None) -> Engine:
    """Return the engine named ``engine`` (``scripted`` or ``llama``), or ``engine`` itself."""
    if not isinstance(engine, str):
        return engine
    options = dict(options or {})
    if engine == "scripted":
        from ollama_wire.server.scripted import ScriptedEngine

        return ScriptedEngine(**options)
    if engine == "llama":
        from ollama_wire.server import llama  # type: ignore[attr-defined,unused-ignore]

        made: Engine = llama.LlamaEngine(**options)
        return made
    raise ValueError(f"unknown engine {engine!r}: expected 'scripted' or 'llama'")


def _drain(sock: socket.socket) -> None:
    """Send FIN, then read and discard what the client still sends, for a short while.

    Closing a socket with unread input makes the kernel send RST, which can destroy the
    reply the client has not read yet; draining first lets it arrive.
    """
    deadline = time.monotonic() + _LINGER_SECONDS
    left = _LINGER_BYTES
    try:
        sock.shutdown(socket.SHUT_WR)
        while left > 0:
            wait = deadline - time.monotonic()
            if wait <= 0:
                return
            sock.settimeout(wait)
            data = sock.recv(1024 * 1024)
            if not data:
                return
            left -= len(data)
    except OSError:
        return


class _Connection(http.server.BaseHTTPRequestHandler):
    """One client connection: parses requests and hands them to the server."""

    protocol_version = "HTTP/1.1"
    app: OllamaServer
    #: Set when the request body was left unread: drain it before closing (see `finish`).
    linger = False
    #: Numbers the server's connections from 1, in the order they were accepted.
    serial = 0

    def setup(self) -> None:
        super().setup()
        self.serial = next(self.app.connection_serials)
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def finish(self) -> None:
        if self.linger:
            _drain(self.connection)
        super().finish()

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except (OSError, ValueError):
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.requestline = ""
            self.request_version = ""
            self.command = ""
            self.send_error(414)
            return
        if not self.raw_requestline or self.app.stopping.is_set():
            self.close_connection = True
            return
        if not self.parse_request():
            return
        try:
            self.app.dispatch(self)
        except (OSError, ClientGone):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        if self.app.verbose:
            super().log_message(format, *args)

    def read_body(self, limit: int, what: str) -> bytes:
        """Read the request body (Content-Length or chunked), at most ``limit`` bytes.

        A longer body is a 413 that closes the connection once the reply is out.
        """
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            total = 0
            while True:
                size_line = self.rfile.readline(65537)
                if not size_line:
                    raise ClientGone
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size < 0:
                    raise ValueError("negative chunk size")
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > limit:
                    self._too_large(f"more than {limit}", limit, what)
                part = self.rfile.read(size)
                if len(part) < size:
                    raise ClientGone
                parts.append(part)
                self.rfile.readline(65537)
            return b"".join(parts)
        text = (self.headers.get("Content-Length") or "0").strip()
        if not text.isdigit():
            self.close_connection = True
            raise HTTPError(400, f"invalid Content-Length {text[:40]!r}")
        length = int(text)
        if length > limit:
            self._too_large(str(length), limit, what)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            raise ClientGone
        return body

    def _too_large(self, size: str, limit: int, what: str) -> None:
        self.close_connection = True
        self.linger = True
        raise HTTPError(
            413,
            f"request body too large: {size} bytes, the limit for {what} is {limit} bytes",
        )


#: Seconds between looks for models whose keep-alive ran out.
REAP_EVERY = 0.25


class _Slot:
    """A model's places for requests at once, and the requests waiting for one, in order."""

    __slots__ = ("free", "waiting")

    def __init__(self, places: int) -> None:
        self.free = places
        self.waiting: collections.deque[object] = collections.deque()


class OllamaServer:
    """An Ollama-compatible server on loopback, with a pluggable engine.

    ==============================================  ======================================
    ``OllamaServer()``                              scripted engine, free port, no models
    ``OllamaServer(models=["llama3.2"])``           those models already pulled
    ``OllamaServer(port=11434, host="0.0.0.0")``    a fixed address (binds loopback unless told)
    ``OllamaServer(engine="llama")``                the llama.cpp engine
    ``OllamaServer(engine_options={...})``          keyword arguments for the engine
    ``OllamaServer(origins=["https://my.app"])``    more CORS origins (like OLLAMA_ORIGINS)
    ``OllamaServer(max_connections=64)``            answer 503 past 64 open connections
    ``OllamaServer(max_body=1 << 20)``              answer 413 to bodies over 1 MiB
    ``OllamaServer(ssl_context=context)``           serve HTTPS (``context`` has the cert)
    ==============================================  ======================================

    Limits: request bodies up to ``max_body`` bytes (`DEFAULT_MAX_BODY`, blob uploads
    ``max_blob_size``, `DEFAULT_MAX_BLOB_SIZE`), else 413; at most ``max_connections`` open
    connections (`DEFAULT_MAX_CONNECTIONS`), past that a new connection gets 503 with
    ``Retry-After: 1`` and is closed; a connection silent for ``idle_timeout`` seconds while
    the server reads from it is closed. On loopback, a request whose ``Host`` header names
    another site gets 403, as in Ollama (`allowed_host`: a DNS-rebinding guard;
    ``check_host=False`` turns it off). Binding an address other than loopback works but
    warns (`PublicBindWarning`; the command line prints it): the server has no
    authentication.

    ``with OllamaServer() as server: server.url`` starts it in a background thread and stops
    it on exit: open connections are closed (even mid-stream) and every thread is joined.
    ``server.faults`` scripts failures, ``server.requests`` records what arrived.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        engine: str | Engine = "scripted",
        engine_options: dict[str, Any] | None = None,
        models: tuple[str, ...] | list[str] = (),
        num_parallel: int = 1,
        max_queue: int = 512,
        keep_alive: str | float = "5m",
        version: str = DEFAULT_VERSION,
        verbose: bool = False,
        request_log_limit: int = 10_000,
        origins: tuple[str, ...] | list[str] = (),
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_body: int = DEFAULT_MAX_BODY,
        max_blob_size: int = DEFAULT_MAX_BLOB_SIZE,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
        check_host: bool | None = None,
    ) -> None:
        if num_parallel < 1:
            raise ValueError("num_parallel must be at least 1")
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if max_body < 0 or max_blob_size < 0:
            raise ValueError("max_body and max_blob_size must be >= 0")
        if idle_timeout is not None and idle_timeout <= 0:
            raise ValueError("idle_timeout must be a positive number of seconds or None")
        self.max_connections = max_connections
        self.max_body = max_body
        self.max_blob_size = max_blob_size
        self.idle_timeout = idle_timeout
        self.ssl_context = ssl_context
        #: Refuse unknown ``Host`` headers (403), as Ollama does when bound to loopback.
        self.check_host = check_host if check_host is not None else is_loopback(host)
        #: Connections refused because ``max_connections`` were open.
        self.refused_connections = 0
        self.host = host
        self.port = port
        self.engine: Engine = make_engine(engine, engine_options)
        self.registry = Registry()
        self.faults = Faults()
        self.requests = RequestLog(request_log_limit)
        #: Serial numbers for accepted connections (``next`` is atomic in CPython).
        self.connection_serials = itertools.count(1)
        self.origins = (*origins, *_DEFAULT_ORIGINS)
        self.version = version
        self.verbose = verbose
        self.num_parallel = num_parallel
        self.max_queue = max_queue
        try:
            self.default_keep_alive_ns = keep_alive_ns(keep_alive, 300_000_000_000)
        except HTTPError as exc:
            raise ValueError(f"keep_alive: {exc.message}") from None
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._queue_changed = threading.Condition(self._lock)
        self._slots: dict[str, _Slot] = {}
        self._waiting = 0
        self._cancels: set[threading.Event] = set()
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._draining: dict[socket.socket, float] = {}
        # ``timeout`` makes every read of the connection give up after ``idle_timeout``.
        self._handler = type("Connection", (_Connection,), {"app": self, "timeout": idle_timeout})
        for name in models:
            self.pull(name)

    # public API

    @property
    def url(self) -> str:
        """Return the base URL, e.g. ``http://127.0.0.1:43121`` (``https`` with TLS)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "http" if self.ssl_context is None else "https"
        return f"{scheme}://{host}:{self.port}"

    def pull(self, name: str) -> ModelEntry:
        """Add the model ``name`` to the registry, as a finished ``/api/pull`` would."""
        card = self.engine.describe(name)
        if card is None:
            raise ValueError(f"{name!r}: {api.MISSING_MANIFEST}")
        return self.registry.add(name, card)

    def start(self) -> OllamaServer:
        """Bind and start serving in a background thread; return self."""
        if self._acceptor is not None:
            raise RuntimeError("server already started")
        if not is_loopback(self.host):
            message = (
                f"the server listens on {self.host!r}, which other machines can reach; it has "
                "no authentication: anyone who can connect can use and delete its models"
            )
            warnings.warn(message, PublicBindWarning, stacklevel=2)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.host, self.port))
            listener.listen(128)
        except OSError:
            listener.close()
            raise
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._wake_r, self._wake_w = socket.socketpair()
        self.stopping.clear()
        self._acceptor = threading.Thread(
            target=self._accept_loop, name=f"ollama-wire-server:{self.port}", daemon=True
        )
        self._acceptor.start()
        return self

    def serve_forever(self) -> None:
        """Start and block until `stop` is called (or KeyboardInterrupt)."""
        self.start()
        try:
            self.stopping.wait()
        finally:
            self.stop()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every open connection, join every thread."""
        self.stopping.set()
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")
        if self._acceptor is not None and self._acceptor is not threading.current_thread():
            self._acceptor.join(timeout)
        with self._lock:
            for event in self._cancels:
                event.set()
            conns = dict(self._conns)
        for sock in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread in conns.values():
            thread.join(max(0.0, deadline - time.monotonic()))
        for owned in (self._listener, self._wake_r, self._wake_w):
            if owned is not None:
                owned.close()
        self._listener = self._wake_r = self._wake_w = None
        self._acceptor = None
        with contextlib.suppress(Exception):
            self.engine.close()

    def restart(self) -> OllamaServer:
        """Stop (closing every connection) and start again on the same port, as a crash would.

        Models, blobs, faults and the request log survive; loaded models do not.
        """
        self.stop()
        for loaded in self.registry.running():
            self.registry.unload(loaded.entry)
        return self.start()

    def __enter__(self) -> OllamaServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def queued(self) -> int:
        """Return how many requests wait for a busy model."""
        with self._lock:
            return self._waiting

    def wait_queued(self, count: int, timeout: float = 5.0) -> None:
        """Wait until exactly ``count`` requests are queued; raise TimeoutError otherwise."""
        with self._queue_changed:
            if not self._queue_changed.wait_for(lambda: self._waiting == count, timeout):
                raise TimeoutError(f"{self._waiting} requests queued, expected {count}")

    def threads(self) -> list[threading.Thread]:
        """Return the server's live threads (acceptor and connections)."""
        with self._lock:
            found = [t for t in self._conns.values() if t.is_alive()]
        if self._acceptor is not None and self._acceptor.is_alive():
            found.append(self._acceptor)
        return found

    # serving

    def _accept_loop(self) -> None:
        assert self._listener is not None
        assert self._wake_r is not None
        sel = selectors.DefaultSelector()
        sel.register(self._listener, selectors.EVENT_READ)
        sel.register(self._wake_r, selectors.EVENT_READ)
        try:
            while not self.stopping.is_set():
                # Also wake to unload models when their keep-alive runs out, not at the
                # next request.
                wait = REAP_EVERY
                if self._draining:
                    wait = min(wait, max(0.0, min(self._draining.values()) - time.monotonic()))
                for key, _ in sel.select(wait):
                    if key.fileobj is self._wake_r or self.stopping.is_set():
                        return
                    if key.fileobj is self._listener:
                        if not self._accept(sel):
                            return
                    else:
                        self._drain_some(sel, key.fileobj)  # type: ignore[arg-type]
                now = time.monotonic()
                for sock, deadline in list(self._draining.items()):
                    if deadline <= now:
                        self._forget_drained(sel, sock)
                self.reap_expired()
        finally:
            for sock in list(self._draining):
                self._forget_drained(sel, sock)
            sel.close()

    def _accept(self, sel: selectors.BaseSelector) -> bool:
        """Accept one connection; return False if the server is stopping."""
        assert self._listener is not None
        try:
            sock, addr = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            # Out of file descriptors, say: back off instead of dying.
            return not self.stopping.wait(0.05)
        with self._lock:
            full = len(self._conns) >= self.max_connections
            if full:
                self.refused_connections += 1
        if full:
            self._refuse(sel, sock)
            return True
        sock.setblocking(True)
        thread = threading.Thread(
            target=self._serve_connection,
            args=(sock, addr),
            name=f"ollama-wire-conn:{addr[1]}",
            daemon=True,
        )
        with self._lock:
            self._conns[sock] = thread
        thread.start()
        return True

    def _refuse(self, sel: selectors.BaseSelector, sock: socket.socket) -> None:
        """Answer 503 on a connection past ``max_connections``, without giving it a thread."""
        sock.setblocking(False)
        try:
            # A fresh socket's send buffer is empty, so this short reply goes out whole.
            sock.send(_busy_reply(TOO_MANY_CONNECTIONS))
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            sock.close()
            return
        if len(self._draining) >= _MAX_DRAINING:
            sock.close()
            return
        self._draining[sock] = time.monotonic() + _LINGER_SECONDS
        sel.register(sock, selectors.EVENT_READ)

    def _drain_some(self, sel: selectors.BaseSelector, sock: socket.socket) -> None:
        try:
            if sock.recv(65536):
                return
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self._forget_drained(sel, sock)

    def _forget_drained(self, sel: selectors.BaseSelector, sock: socket.socket) -> None:
        self._draining.pop(sock, None)
        with contextlib.suppress(KeyError, ValueError):
            sel.unregister(sock)
        sock.close()

    def _serve_connection(self, sock: socket.socket, addr: Any) -> None:
        conn = sock
        try:
            if self.ssl_context is not None:
                conn = self._handshake(sock)
            self._handler(conn, addr, None)
        except (OSError, ClientGone):
            pass
        finally:
            with self._lock:
                self._conns.pop(sock, None)
                self._conns.pop(conn, None)
            with contextlib.suppress(OSError):
                conn.close()

    def _handshake(self, sock: socket.socket) -> socket.socket:
        """Wrap ``sock`` in TLS (server side); the handshake gets ``idle_timeout``."""
        assert self.ssl_context is not None
        sock.settimeout(self.idle_timeout)
        tls = self.ssl_context.wrap_socket(sock, server_side=True)
        with self._lock:
            # Wrapping detached ``sock``: `stop` must shut the TLS socket down instead.
            thread = self._conns.pop(sock, None)
            if thread is not None:
                self._conns[tls] = thread
        if self.stopping.is_set():
            raise ClientGone
        return tls

    def dispatch(self, conn: _Connection) -> None:
        """Handle one parsed request on ``conn``."""
        method = conn.command
        path = conn.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in conn.headers.items()}
        peer = f"{conn.client_address[0]}:{conn.client_address[1]}"
        record = RequestRecord(
            method=method, path=path, headers=headers, peer=peer, connection=conn.serial
        )
        ex = Exchange(conn.connection, record, self.stopping, keep_alive=not conn.close_connection)
        self.requests.add(record)
        try:
            try:
                record.raw_body = conn.read_body(*self._body_limit(path))
            except ValueError as exc:
                conn.close_connection = True
                raise HTTPError(400, "invalid chunked body") from exc
            finally:
                if conn.close_connection:
                    ex.keep_alive = False
            if self.check_host and not allowed_host(headers.get("host")):
                record.error = "host not allowed"
                ex.send(403)
                return
            # Like Ollama, ignore Content-Type: curl -d sends JSON as a form.
            if record.raw_body and not path.startswith("/api/blobs/"):
                with contextlib.suppress(ValueError):
                    record.body = json.loads(record.raw_body)
            if self._cors(ex, method, headers.get("origin")):
                self._route(ex, method, path)
        except HTTPError as exc:
            ex.fail(exc.status, exc.message)
        except EngineError as exc:
            ex.fail(exc.status, exc.message)
        except ClientGone:
            if not ex.replied and record.status is None:
                record.status = 499
            conn.close_connection = True
        except Exception as exc:
            # A bug in an engine or here: answer like Ollama's crashed runner, keep serving.
            conn.close_connection = True
            with contextlib.suppress(OSError, ClientGone):
                ex.fail(500, f"{api.RUNNER_STOPPED}: {type(exc).__name__}: {exc}")
        finally:
            if ex.dropped or record.disconnected:
                conn.close_connection = True
            self.requests.finish(record)
            if self.verbose:
                gone = " (client gone)" if record.disconnected else ""
                took = (record.ended or record.started) - record.started
                sys.stderr.write(
                    f"{peer} {method} {path} {record.status} {took * 1000:.1f}ms "
                    f"tokens={record.tokens}{gone}\n"
                )

    def _body_limit(self, path: str) -> tuple[int, str]:
        if path.startswith("/api/blobs/"):
            return self.max_blob_size, "blob uploads (max_blob_size)"
        return self.max_body, "requests (max_body)"

    def _cors(self, ex: Exchange, method: str, origin: str | None) -> bool:
        """Apply Ollama's CORS rules; return False when the request is already answered."""
        if origin is None:
            return True
        if not any(fnmatch.fnmatchcase(origin, pattern) for pattern in self.origins):
            ex.send(403)
            return False
        ex.extra_headers = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
        if method == "OPTIONS":
            ex.extra_headers += [
                ("Access-Control-Allow-Methods", _CORS_METHODS),
                ("Access-Control-Allow-Headers", _CORS_HEADERS),
                ("Access-Control-Max-Age", "43200"),
            ]
            ex.send(204)
            return False
        return True

    def _route(self, ex: Exchange, method: str, path: str) -> None:
        head = method == "HEAD"
        if path.startswith("/_wire/"):
            self._control(ex, method, path)
            return
        if path.startswith("/api/blobs/"):
            digest = path[len("/api/blobs/") :]
            if method not in ("HEAD", "POST") or not digest or "/" in digest:
                self._not_routed(ex, wrong_method=bool(digest) and "/" not in digest)
                return
            if not self._apply_fault(ex, path, head):
                return
            if head:
                api.blob_head(self, ex, digest)
            else:
                api.blob_post(self, ex, digest)
            return
        if path in _GET_ROUTES and (method == "GET" or (head and path in _HEAD_OK)):
            if self._apply_fault(ex, path, head):
                _GET_ROUTES[path](self, ex, head)
            return
        if path in _POST_ROUTES and method == "POST":
            if self._apply_fault(ex, path, False):
                _POST_ROUTES[path](self, ex)
            return
        if path == "/api/delete" and method == "DELETE":
            if self._apply_fault(ex, path, False):
                api.delete(self, ex)
            return
        if path in _GET_ROUTES or path in _POST_ROUTES or path == "/api/delete":
            self._not_routed(ex, wrong_method=True)
            return
        allowed = _OTHER_ROUTES.get(path, set())
        for prefix, methods in _OTHER_PREFIXES.items():
            param = path[len(prefix) :]
            if path.startswith(prefix) and param and "/" not in param:
                allowed = methods
        self._not_routed(ex, wrong_method=bool(allowed) and method not in allowed)

    def _not_routed(self, ex: Exchange, wrong_method: bool) -> None:
        """Answer as Gin's router does: 405 when another method has the path, else 404."""
        head = ex.record.method == "HEAD"
        if wrong_method:
            ex.send_text(405, "405 method not allowed", head_only=head)
        else:
            ex.send_text(404, "404 page not found", head_only=head)

    def _apply_fault(self, ex: Exchange, path: str, head: bool) -> bool:
        """Pick this request's fault and apply the part that happens before any byte."""
        header = ex.record.header(FAULT_HEADER)
        fault: Fault | None
        if header:
            try:
                fault = Fault.from_header(header)
            except (ValueError, TypeError) as exc:
                raise HTTPError(400, f"bad {FAULT_HEADER} header: {exc}") from None
        else:
            model = ex.record.model
            if model is None and isinstance(ex.record.body, dict):
                src = ex.record.body.get("source")
                model = src if isinstance(src, str) else None
            fault = self.faults.take(model, path)
        if fault is None:
            return True
        ex.fault = fault
        ex.record.fault = fault
        ex.sleep(fault.delay_headers)
        if fault.status is not None:
            headers = [("Retry-After", fault.retry_after)] if fault.retry_after is not None else []
            ex.record.error = fault.message
            ex.send_json(fault.status, {"error": fault.message}, headers=headers, head_only=head)
            return False
        if fault.reset_after == 0:
            ex.reset()
            raise ClientGone
        streaming = (path in _STREAMING_ROUTES and isinstance(ex.record.body, dict)
                     and ex.record.body.get("stream") is not False)
        if fault.drop_after == 0 and not streaming:
            ex.drop()
            raise ClientGone
        return True

    # control endpoints (not part of Ollama's API)

    def _control(self, ex: Exchange, method: str, path: str) -> None:
        if path == "/_wire/faults":
            if method == "GET":
                ex.send_json(200, {"faults": [f.to_json() for f in self.faults.pending()]})
            elif method == "POST":
                try:
                    data = json.loads(ex.record.raw_body or b"{}")
                    if not isinstance(data, dict):
                        raise ValueError("expected a JSON object")
                    fault = self.faults.add(Fault.from_mapping(data))
                except (ValueError, TypeError) as exc:
                    raise HTTPError(400, f"bad fault: {exc}") from None
                ex.send_json(200, {"fault": fault.to_json()})
            elif method == "DELETE":
                self.faults.clear()
                ex.send(200)
            else:
                ex.send_text(405, "405 method not allowed")
            return
        if path == "/_wire/requests":
            if method == "GET":
                ex.send_json(
                    200,
                    {
                        "requests": [
                            {
                                "method": r.method,
                                "path": r.path,
                                "headers": r.headers,
                                "body": r.body,
                                "status": r.status,
                                "tokens": r.tokens,
                                "disconnected": r.disconnected,
                                "finished": r.finished.is_set(),
                            }
                            for r in self.requests
                            if not r.path.startswith("/_wire/")
                        ]
                    },
                )
            elif method == "DELETE":
                self.requests.clear()
                ex.send(200)
            else:
                ex.send_text(405, "405 method not allowed")
            return
        ex.send_text(404, "404 page not found")

    # scheduling

    def track(self, event: threading.Event) -> None:
        """Remember a generation's cancel event so `stop` can cancel it."""
        with self._lock:
            self._cancels.add(event)
            if self.stopping.is_set():
                event.set()

    def untrack(self, event: threading.Event) -> None:
        """Forget a generation's cancel event."""
        with self._lock:
            self._cancels.discard(event)

    def reap_expired(self) -> None:
        """Unload the unused models whose keep-alive ran out."""
        for entry in self.registry.expired():
            with contextlib.suppress(Exception):
                self.engine.unload(entry.name.display)

    def unload(self, entry: ModelEntry) -> None:
        """Unload ``entry`` now."""
        self.registry.unload(entry)
        with contextlib.suppress(Exception):
            self.engine.unload(entry.name.display)

    @contextlib.contextmanager
    def schedule(
        self, ex: Exchange, entry: ModelEntry, options: dict[str, Any], keep_alive: int
    ) -> Iterator[int]:
        """Queue for ``entry``, load it, and yield the load duration (ns, from request start).

        Raises HTTPError(503) when too many requests wait, ClientGone when the client leaves
        while queued.
        """
        slot = self._take_slot(ex, entry.name.key)
        try:
            self.reap_expired()
            # Every time, as Ollama's needsReload: a no-op for the same options, a reload for
            # another num_ctx, whose time then counts in this request's load_duration.
            info = self.engine.load(entry.name.display, entry.card, options)
            if self.registry.loaded(entry) is None:
                self.registry.mark_loaded(entry, info, keep_alive)
            else:
                self.registry.touch(entry, keep_alive)
                self.registry.update_info(entry, info)
            self.registry.begin(entry)
            load_ns = int((time.monotonic() - ex.record.started) * 1e9)
            try:
                yield load_ns
            finally:
                # The request may have changed the sizes (the first embed's context); an
                # optional engine method, see the engine module.
                current = getattr(self.engine, "loaded_info", None)
                if current is not None and (now := current(entry.name.display)) is not None:
                    self.registry.update_info(entry, now)
                if self.registry.end(entry, keep_alive) and keep_alive == 0:
                    self.unload(entry)
        finally:
            with self._lock:
                slot.free += 1
                self._queue_changed.notify_all()

    def _take_slot(self, ex: Exchange, key: str) -> _Slot:
        """Wait for one of a model's ``num_parallel`` places, in the order requests came.

        Raises HTTPError(503) when ``max_queue`` requests already wait, ClientGone when the
        client leaves while it waits.
        """
        with self._lock:
            slot = self._slots.setdefault(key, _Slot(self.num_parallel))
            if slot.free > 0 and not slot.waiting:
                slot.free -= 1
                return slot
            if self._waiting >= self.max_queue:
                raise HTTPError(503, QUEUE_FULL)
            ticket = object()
            slot.waiting.append(ticket)
            self._waiting += 1
            self._queue_changed.notify_all()
        try:
            while True:
                with self._lock:
                    if slot.free > 0 and slot.waiting[0] is ticket:
                        slot.waiting.popleft()
                        slot.free -= 1
                        return slot
                    self._queue_changed.wait(0.05)
                if ex.client_gone():
                    ex.record.disconnected = True
                    raise ClientGone
        finally:
            with self._lock:
                if ticket in slot.waiting:  # gone while waiting: the next one may go
                    slot.waiting.remove(ticket)
                self._waiting -= 1
                self._queue_changed.notify_all()
