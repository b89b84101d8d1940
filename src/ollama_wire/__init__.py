"""ollama-wire: the Ollama REST API on requests alone.

A drop-in for the official SDK (``import ollama_wire as ollama``) with finite timeouts,
retries, one error tree, closeable streams and a wire trace. Importing this package creates
no client, touches no network and does not import requests; the module-level functions
(``ollama_wire.chat(...)``) use a default `Client` made on first use.
"""

from __future__ import annotations

import _thread
import builtins

from ollama_wire._version import __version__

# Not typing.TYPE_CHECKING: importing typing would double the cost of importing this package.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from ollama_wire._async_client import AsyncClient, AsyncStream
    from ollama_wire._client import Client, Stream
    from ollama_wire._errors import (
        BadRequestError,
        ConnectError,
        ConnectTimeout,
        IncompleteStreamError,
        InvalidResponseError,
        LineTooLongError,
        NotFoundError,
        OllamaError,
        ReadTimeout,
        RequestError,
        ResponseError,
        ServerBusyError,
        ServerError,
        StreamError,
        Timeout,
    )
    from ollama_wire._tools import (
        StructuredOutputError,
        ToolCallError,
        ToolLoopError,
        ToolRun,
        tool_from_function,
    )
    from ollama_wire._types import (
        ChatResponse,
        EmbeddingsResponse,
        EmbedResponse,
        GenerateResponse,
        Image,
        ListResponse,
        Message,
        ModelDetails,
        Options,
        ProcessResponse,
        ProgressResponse,
        ShowResponse,
        StatusResponse,
        SubscriptableBaseModel,
        Tool,
        VersionResponse,
        WebFetchResponse,
        WebSearchResponse,
    )

__all__ = [
    "AsyncClient",
    "AsyncStream",
    "BadRequestError",
    "ChatResponse",
    "Client",
    "ConnectError",
    "ConnectTimeout",
    "EmbedResponse",
    "EmbeddingsResponse",
    "GenerateResponse",
    "Image",
    "IncompleteStreamError",
    "InvalidResponseError",
    "LineTooLongError",
    "ListResponse",
    "Message",
    "ModelDetails",
    "NotFoundError",
    "OllamaError",
    "Options",
    "ProcessResponse",
    "ProgressResponse",
    "ReadTimeout",
    "RequestError",
    "ResponseError",
    "ServerBusyError",
    "ServerError",
    "ShowResponse",
    "StatusResponse",
    "Stream",
    "StreamError",
    "StructuredOutputError",
    "SubscriptableBaseModel",
    "Timeout",
    "Tool",
    "ToolCallError",
    "ToolLoopError",
    "ToolRun",
    "VersionResponse",
    "WebFetchResponse",
    "WebSearchResponse",
    "__version__",
    "tool_from_function",
]

#: Module-level functions: each calls the same-named method of the default client. Not in
#: ``__all__``, as in the SDK: ``from ollama_wire import *`` must not shadow ``list`` or ``copy``.
_FUNCTIONS = frozenset({
    "chat", "copy", "create", "create_blob", "delete", "embed", "embeddings", "generate",
    "list", "ps", "pull", "push", "show", "unload", "version", "web_fetch", "web_search",
})
#: Public classes, imported from their module on first access so that importing the package
#: stays cheap.
_HOMES = {
    "AsyncClient": "_async_client",
    "AsyncStream": "_async_client",
    "Client": "_client",
    "Stream": "_client",
    **dict.fromkeys(
        (
            "BadRequestError", "ConnectError", "ConnectTimeout",
            "IncompleteStreamError", "InvalidResponseError", "LineTooLongError",
            "NotFoundError", "OllamaError", "ReadTimeout", "RequestError",
            "ResponseError", "ServerBusyError", "ServerError", "StreamError", "Timeout",
        ),
        "_errors",
    ),
    **dict.fromkeys(
        (
            "ChatResponse", "EmbedResponse", "EmbeddingsResponse", "GenerateResponse",
            "Image", "ListResponse", "Message", "ModelDetails", "Options",
            "ProcessResponse", "ProgressResponse", "ShowResponse", "StatusResponse",
            "SubscriptableBaseModel", "Tool", "VersionResponse", "WebFetchResponse",
            "WebSearchResponse",
        ),
        "_types",
    ),
    **dict.fromkeys(
        (
            "StructuredOutputError", "ToolCallError", "ToolLoopError", "ToolRun",
            "tool_from_function",
        ),
        "_tools",
    ),
}
_default_client: Client | None = None
_lock = _thread.allocate_lock()


def _default() -> Client:
    """Return the default client, making it (from the environment) on first use."""
    global _default_client
    if _default_client is None:
        with _lock:
            if _default_client is None:
                from ollama_wire._client import Client

                _default_client = Client()
    return _default_client


def _forward(name: str) -> Any:
    """Make a module-level function that calls ``name`` on the default client."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(_default(), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"Call `Client.{name}` on the default client (made on first use)."
    return call


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is not None:
        import importlib

        value = getattr(importlib.import_module(f"ollama_wire.{home}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ollama_wire' has no attribute {name!r}")


def __dir__() -> builtins.list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    # Type checkers see the Client methods, overloads included.
    _typed = Client()
    chat = _typed.chat
    copy = _typed.copy
    create = _typed.create
    create_blob = _typed.create_blob
    delete = _typed.delete
    embed = _typed.embed
    embeddings = _typed.embeddings
    generate = _typed.generate
    list = _typed.list
    ps = _typed.ps
    pull = _typed.pull
    push = _typed.push
    show = _typed.show
    unload = _typed.unload
    version = _typed.version
    web_fetch = _typed.web_fetch
    web_search = _typed.web_search
else:
    for _name in _FUNCTIONS:
        globals()[_name] = _forward(_name)
    del _name
