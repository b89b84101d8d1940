"""The endpoint methods and settings, written once for both clients.

`Endpoints` holds the settings both clients share (host, timeout, retries, headers, trace, TLS)
and every public method with the official SDK's signature. Each body is one line: build a
`Call` with ``_protocol`` and hand it to ``self._run``, which the concrete client
implements (run the call's `Exchange`, or return a stream). The type parameters
say what each method returns in that client, so ``mypy`` sees ``ChatResponse`` for
``Client.chat(...)`` and an awaitable of it for the async client, with the ``stream``
overloads intact::

    class Client(Endpoints[ChatResponse, Stream[ChatResponse], ...]):
        def _run(self, call, timeout): ...
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, cast, overload

from ollama_wire import _protocol as P
from ollama_wire._errors import OTHER, OllamaError, RequestError, transport_error
from ollama_wire._host import parse_host
from ollama_wire._http11 import LocalProtocolError, encode_fields
from ollama_wire._protocol import (
    DEFAULT_MAX_LINE_SIZE,
    DEFAULT_TIMEOUT,
    UNSET,
    Call,
    FormatLike,
    ImageLike,
    KeepAlive,
    MessageLike,
    OptionsLike,
    ThinkLike,
    TimeoutLike,
    ToolLike,
    check_timeout,
    check_verify,
)
from ollama_wire._retry import DEFAULT_MAX_RETRIES
from ollama_wire._trace import redact_text, trace_enabled

__all__ = ["Endpoints"]

#: Where the exceptions of a call's transport come from: the standard library's sockets, TLS,
#: HTTP and decoders, and the HTTP libraries the clients use. Others are not the transport's.
_TRANSPORT_MODULES = frozenset({
    "builtins", "socket", "ssl", "http", "email", "io", "zlib", "asyncio", "concurrent",
    "exceptiongroup", "ollama_wire", "urllib3", "requests", "httpx", "httpcore", "h11", "anyio",
    "sniffio", "brotli", "brotlicffi", "zstandard", "compression",
})

Chat = TypeVar("Chat")
ChatStream = TypeVar("ChatStream")
Gen = TypeVar("Gen")
GenStream = TypeVar("GenStream")
Progress = TypeVar("Progress")
ProgressStream = TypeVar("ProgressStream")
Embed = TypeVar("Embed")
Embeddings = TypeVar("Embeddings")
Listing = TypeVar("Listing")
Show = TypeVar("Show")
Processes = TypeVar("Processes")
Status = TypeVar("Status")
Version = TypeVar("Version")
Digest = TypeVar("Digest")
WebSearch = TypeVar("WebSearch")
WebFetch = TypeVar("WebFetch")


class Endpoints(
    Generic[
        Chat, ChatStream, Gen, GenStream, Progress, ProgressStream, Embed, Embeddings,
        Listing, Show, Processes, Status, Version, Digest, WebSearch, WebFetch,
    ]
):
    """Every Ollama endpoint as a method, and the settings both clients share.

    A subclass moves the bytes: ``_run`` runs a `Call` (through ``_exchange``), ``_describe``
    names its transport's exceptions, and ``_setup_transport`` prepares the transport.
    """

    def __init__(
        self,
        host: str | None = None,
        *,
        timeout: TimeoutLike = UNSET,
        max_retries: int = DEFAULT_MAX_RETRIES,
        headers: Mapping[str, str | None] | None = None,
        trace: bool | None = None,
        max_line_size: int = DEFAULT_MAX_LINE_SIZE,
        verify: bool | str | os.PathLike[str] = True,
        follow_redirects: bool = True,
    ) -> None:
        parsed = parse_host(host or os.environ.get("OLLAMA_HOST"))
        if not isinstance(max_retries, int) or max_retries < 0:
            raise RequestError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        if not isinstance(max_line_size, int) or isinstance(max_line_size, bool) or (
            max_line_size < 1
        ):
            raise RequestError(f"max_line_size must be a number of bytes >= 1, "
                               f"got {max_line_size!r}")
        self._base = parsed.url
        #: The base URL's path, before each call's (a server behind a path prefix), quoted as
        #: a request target: spaces and other bytes a target cannot hold as %XX.
        self._prefix = urllib.parse.quote(urllib.parse.urlsplit(parsed.url).path.rstrip("/"),
                                          safe="!$%&'()*+,/:;=@~")
        self._shown = parsed.display
        self._timeout = DEFAULT_TIMEOUT if timeout is UNSET else check_timeout(timeout)
        self._max_retries = max_retries
        self._max_line_size = max_line_size
        #: True (the default CA bundles), False (no TLS checks) or a CA bundle path.
        self._verify = check_verify(verify)
        self._trace = trace_enabled(trace)
        #: Whether redirects are followed (as by the official SDK, by default); a redirect
        #: not followed is an error.
        self._follow_redirects = bool(follow_redirects)
        #: The headers every request carries (a client may merge in its transport's own).
        self._headers: Mapping[str, str] = P.client_headers(headers, parsed.auth)
        try:  # a header that could split the request fails here, before anything is sent
            encode_fields((k.encode("latin-1"), v.encode("latin-1"))
                          for k, v in self._headers.items())
        except (LocalProtocolError, UnicodeEncodeError) as exc:
            raise RequestError(str(exc)) from None
        self._setup_transport()

    def _setup_transport(self) -> None:
        """Prepare the client's transport; called at the end of ``__init__``."""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(host={self._shown!r}, timeout={self._timeout!r}, "
            f"max_retries={self._max_retries})"
        )

    @property
    def host(self) -> str:
        """Return the base URL (without credentials)."""
        return self._base

    def _limits(self, timeout: Any) -> tuple[float | None, float | None] | None:
        """Return a call's (connect, read) timeouts: its own, else the client's."""
        return self._timeout if timeout is UNSET else check_timeout(timeout)

    def _exchange(self, call: Call[Any]) -> P.Exchange:
        """Start the attempts of ``call``."""
        return P.Exchange(call, (call.origin or self._base) + call.path, self._headers,
                          self._max_retries, self._trace)

    def _failure(self, exc: BaseException, call: Call[Any], reading: bool = False) -> P.Failure:
        """Turn an exception from the transport into a `Failure` that says what to do next.

        An exception from elsewhere is raised as it is: one a signal handler raised during
        the call (Celery's ``SoftTimeLimitExceeded``), or a custom transport's or auth's own.
        """
        if type(exc).__module__.partition(".")[0] not in _TRANSPORT_MODULES:
            raise exc
        if isinstance(exc, OllamaError):
            return P.Failure(OTHER, exc)
        kind, reason = self._describe(exc, reading)
        host = call.origin or self._shown
        return P.Failure(kind, transport_error(kind, host, call.path, redact_text(reason),
                                               local=call.origin is None))

    def _describe(self, exc: BaseException, reading: bool) -> tuple[str, str]:
        """Return the kind of a transport exception (an ``_errors`` constant) and its reason."""
        raise NotImplementedError

    def _run(self, call: Call[Any], timeout: Any) -> Any:
        """Send ``call``; return its result, or a stream when ``call.stream`` is set."""
        raise NotImplementedError

    @overload
    def generate(
        self, model: str = "", prompt: str | None = None, suffix: str | None = None, *,
        system: str | None = None, template: str | None = None,
        context: Sequence[int] | None = None, stream: Literal[False] = False,
        think: ThinkLike = None, logprobs: bool | None = None, top_logprobs: int | None = None,
        raw: bool | None = None, format: FormatLike = None,
        images: Sequence[ImageLike] | None = None, options: OptionsLike | None = None,
        keep_alive: KeepAlive = None, width: int | None = None, height: int | None = None,
        steps: int | None = None, timeout: TimeoutLike = UNSET,
    ) -> Gen: ...
    @overload
    def generate(
        self, model: str = "", prompt: str | None = None, suffix: str | None = None, *,
        system: str | None = None, template: str | None = None,
        context: Sequence[int] | None = None, stream: Literal[True],
        think: ThinkLike = None, logprobs: bool | None = None, top_logprobs: int | None = None,
        raw: bool | None = None, format: FormatLike = None,
        images: Sequence[ImageLike] | None = None, options: OptionsLike | None = None,
        keep_alive: KeepAlive = None, width: int | None = None, height: int | None = None,
        steps: int | None = None, timeout: TimeoutLike = UNSET,
    ) -> GenStream: ...
    @overload
    def generate(
        self, model: str = "", prompt: str | None = None, suffix: str | None = None, *,
        system: str | None = None, template: str | None = None,
        context: Sequence[int] | None = None, stream: bool,
        think: ThinkLike = None, logprobs: bool | None = None, top_logprobs: int | None = None,
        raw: bool | None = None, format: FormatLike = None,
        images: Sequence[ImageLike] | None = None, options: OptionsLike | None = None,
        keep_alive: KeepAlive = None, width: int | None = None, height: int | None = None,
        steps: int | None = None, timeout: TimeoutLike = UNSET,
    ) -> Gen | GenStream: ...
    def generate(
        self, model: str = "", prompt: str | None = None, suffix: str | None = None, *,
        timeout: TimeoutLike = UNSET, **kwargs: Any,
    ) -> Gen | GenStream:
        """Generate a completion (POST /api/generate)."""
        return cast("Gen", self._run(P.generate(model, prompt, suffix, **kwargs), timeout))

    @overload
    def chat(
        self, model: str = "", messages: Sequence[MessageLike] | None = None, *,
        tools: Sequence[ToolLike] | None = None, stream: Literal[False] = False,
        think: ThinkLike = None, logprobs: bool | None = None, top_logprobs: int | None = None,
        format: FormatLike = None, options: OptionsLike | None = None,
        keep_alive: KeepAlive = None, timeout: TimeoutLike = UNSET,
    ) -> Chat: ...
    @overload
    def chat(
        self, model: str = "", messages: Sequence[MessageLike] | None = None, *,
        tools: Sequence[ToolLike] | None = None, stream: Literal[True],
        think: ThinkLike = None, logprobs: bool | None = None, top_logprobs: int | None = None,
        format: FormatLike = None, options: OptionsLike | None = None,
        keep_alive: KeepAlive = None, timeout: TimeoutLike = UNSET,
    ) -> ChatStream: ...
    @overload
    def chat(
        self, model: str = "", messages: Sequence[MessageLike] | None = None, *,
        tools: Sequence[ToolLike] | None = None, stream: bool,
        think: ThinkLike = None, logprobs: bool | None = None, top_logprobs: int | None = None,
        format: FormatLike = None, options: OptionsLike | None = None,
        keep_alive: KeepAlive = None, timeout: TimeoutLike = UNSET,
    ) -> Chat | ChatStream: ...
    def chat(
        self, model: str = "", messages: Sequence[MessageLike] | None = None, *,
        timeout: TimeoutLike = UNSET, **kwargs: Any,
    ) -> Chat | ChatStream:
        """Chat with a model (POST /api/chat)."""
        return cast("Chat", self._run(P.chat(model, messages, **kwargs), timeout))

    def embed(
        self, model: str = "", input: str | Sequence[str] = "", truncate: bool | None = None,
        options: OptionsLike | None = None, keep_alive: KeepAlive = None,
        dimensions: int | None = None, *, timeout: TimeoutLike = UNSET,
    ) -> Embed:
        """Embed one or more texts (POST /api/embed)."""
        return cast("Embed", self._run(
            P.embed(model, input, truncate, options, keep_alive, dimensions), timeout
        ))

    def embeddings(
        self, model: str = "", prompt: str | None = None, options: OptionsLike | None = None,
        keep_alive: KeepAlive = None, *, timeout: TimeoutLike = UNSET,
    ) -> Embeddings:
        """Embed one text with the legacy endpoint (POST /api/embeddings); prefer ``embed``."""
        return cast("Embeddings", self._run(P.embeddings(model, prompt, options, keep_alive),
                                            timeout))

    @overload
    def pull(
        self, model: str, *, insecure: bool = False, stream: Literal[False] = False,
        timeout: TimeoutLike = UNSET,
    ) -> Progress: ...
    @overload
    def pull(
        self, model: str, *, insecure: bool = False, stream: Literal[True],
        timeout: TimeoutLike = UNSET,
    ) -> ProgressStream: ...
    @overload
    def pull(
        self, model: str, *, insecure: bool = False, stream: bool,
        timeout: TimeoutLike = UNSET,
    ) -> Progress | ProgressStream: ...
    def pull(
        self, model: str, *, insecure: bool = False, stream: bool = False,
        timeout: TimeoutLike = UNSET,
    ) -> Progress | ProgressStream:
        """Download a model (POST /api/pull)."""
        return cast("Progress", self._run(P.pull(model, insecure=insecure, stream=stream),
                                          timeout))

    @overload
    def push(
        self, model: str, *, insecure: bool = False, stream: Literal[False] = False,
        timeout: TimeoutLike = UNSET,
    ) -> Progress: ...
    @overload
    def push(
        self, model: str, *, insecure: bool = False, stream: Literal[True],
        timeout: TimeoutLike = UNSET,
    ) -> ProgressStream: ...
    @overload
    def push(
        self, model: str, *, insecure: bool = False, stream: bool,
        timeout: TimeoutLike = UNSET,
    ) -> Progress | ProgressStream: ...
    def push(
        self, model: str, *, insecure: bool = False, stream: bool = False,
        timeout: TimeoutLike = UNSET,
    ) -> Progress | ProgressStream:
        """Upload a model (POST /api/push)."""
        return cast("Progress", self._run(P.push(model, insecure=insecure, stream=stream),
                                          timeout))

    @overload
    def create(
        self, model: str, quantize: str | None = None, from_: str | None = None,
        files: Mapping[str, str] | None = None, adapters: Mapping[str, str] | None = None,
        template: str | None = None, license: str | Sequence[str] | None = None,
        system: str | None = None, parameters: OptionsLike | None = None,
        messages: Sequence[MessageLike] | None = None, *, stream: Literal[False] = False,
        timeout: TimeoutLike = UNSET,
    ) -> Progress: ...
    @overload
    def create(
        self, model: str, quantize: str | None = None, from_: str | None = None,
        files: Mapping[str, str] | None = None, adapters: Mapping[str, str] | None = None,
        template: str | None = None, license: str | Sequence[str] | None = None,
        system: str | None = None, parameters: OptionsLike | None = None,
        messages: Sequence[MessageLike] | None = None, *, stream: Literal[True],
        timeout: TimeoutLike = UNSET,
    ) -> ProgressStream: ...
    @overload
    def create(
        self, model: str, quantize: str | None = None, from_: str | None = None,
        files: Mapping[str, str] | None = None, adapters: Mapping[str, str] | None = None,
        template: str | None = None, license: str | Sequence[str] | None = None,
        system: str | None = None, parameters: OptionsLike | None = None,
        messages: Sequence[MessageLike] | None = None, *, stream: bool,
        timeout: TimeoutLike = UNSET,
    ) -> Progress | ProgressStream: ...
    def create(
        self, model: str, *args: Any, timeout: TimeoutLike = UNSET, **kwargs: Any,
    ) -> Progress | ProgressStream:
        """Create a model from another, or from uploaded files (POST /api/create)."""
        return cast("Progress", self._run(P.create(model, *args, **kwargs), timeout))

    def create_blob(self, path: str | Path, *, timeout: TimeoutLike = UNSET) -> Digest:
        """Upload a file as a blob and return its digest ``sha256:<hex>``."""
        return cast("Digest", self._run(P.blob(path), timeout))

    def list(self, *, timeout: TimeoutLike = UNSET) -> Listing:
        """List the local models (GET /api/tags)."""
        return cast("Listing", self._run(P.list_models(), timeout))

    def show(
        self, model: str, verbose: bool | None = None, *, timeout: TimeoutLike = UNSET
    ) -> Show:
        """Show a model's details (POST /api/show)."""
        return cast("Show", self._run(P.show(model, verbose), timeout))

    def ps(self, *, timeout: TimeoutLike = UNSET) -> Processes:
        """List the loaded models (GET /api/ps)."""
        return cast("Processes", self._run(P.ps(), timeout))

    def copy(self, source: str, destination: str, *, timeout: TimeoutLike = UNSET) -> Status:
        """Copy a model (POST /api/copy)."""
        return cast("Status", self._run(P.copy(source, destination), timeout))

    def delete(self, model: str, *, timeout: TimeoutLike = UNSET) -> Status:
        """Delete a model (DELETE /api/delete)."""
        return cast("Status", self._run(P.delete(model), timeout))

    def version(self, *, timeout: TimeoutLike = UNSET) -> Version:
        """Return the server version (GET /api/version)."""
        return cast("Version", self._run(P.version(), timeout))

    def unload(self, model: str, *, timeout: TimeoutLike = UNSET) -> Gen:
        """Unload a model from memory now (generate with ``keep_alive=0``)."""
        return cast("Gen", self._run(P.unload(model), timeout))

    def web_search(
        self, query: str, max_results: int = 3, *, timeout: TimeoutLike = UNSET
    ) -> WebSearch:
        """Search the web through ollama.com (POST https://ollama.com/api/web_search).

        Needs an ollama.com API key: ``OLLAMA_API_KEY``, or an ``Authorization: Bearer``
        header; without one, `RequestError` (a ``ValueError``, as in the SDK).
        """
        call = P.web_search(query, max_results)
        self._check_web_key("web search")
        return cast("WebSearch", self._run(call, timeout))

    def web_fetch(self, url: str, *, timeout: TimeoutLike = UNSET) -> WebFetch:
        """Fetch a web page through ollama.com (POST https://ollama.com/api/web_fetch).

        Needs an ollama.com API key, as `web_search` does.
        """
        call = P.web_fetch(url)
        self._check_web_key("web fetch")
        return cast("WebFetch", self._run(call, timeout))

    def _check_web_key(self, what: str) -> None:
        if not self._headers.get("authorization", "").startswith("Bearer "):
            raise RequestError(
                f"Authorization header with Bearer token is required for {what}: set "
                "OLLAMA_API_KEY to an ollama.com API key, or pass headers={'Authorization': "
                "'Bearer <key>'}")
