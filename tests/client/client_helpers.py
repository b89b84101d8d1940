"""Helpers shared by the client tests."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Iterator
from typing import Any, Generic, TypeAlias, TypeVar

from ollama_wire import AsyncClient, Client, Stream
from ollama_wire._async_client import AsyncStream
from ollama_wire.server import OllamaServer
from ollama_wire.testing import open_loopback_sockets

T = TypeVar("T")


#: Count this process's sockets connected to a loopback ``port``: the client's side only.
client_sockets = open_loopback_sockets


#: What the shared tests get as ``client``: a `Client` or a `SyncAsyncClient`.
AnyClient: TypeAlias = "Client | SyncAsyncClient"


def connections(server: OllamaServer) -> int:
    """Count the connections the server saw requests on."""
    return len({record.connection for record in server.requests})


class LoopThread:
    """An event loop running in its own thread, as in an async application."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run ``awaitable`` on the loop and return its result (or raise its error)."""

        async def wrap() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result()

    def stop(self) -> None:
        """Close the loop's async generators, then stop and close the loop."""
        self.run(self.loop.shutdown_asyncgens())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class _Driven:
    """An async object (``inner``) driven from sync code on a `LoopThread`."""

    def __init__(self, inner: Any, loop: LoopThread) -> None:
        self.inner = inner
        self._loop = loop

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return repr(self.inner)

    def close(self) -> None:
        closing = getattr(self.inner, "aclose", None) or self.inner.close
        self._loop.run(closing())


class SyncStream(_Driven, Generic[T]):
    """An `AsyncStream` driven from sync code."""

    inner: AsyncStream[T]

    @property
    def chunks(self) -> list[T]:
        return self.inner.chunks

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        try:
            return self._loop.run(self.inner.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None


class SyncAsyncClient(_Driven):
    """An `AsyncClient` driven from sync code, so one test body serves both clients.

    Each method call runs on the loop thread; a stream comes back as a `SyncStream`. Bad
    input raises at the call, as it does in async code before any ``await``.
    """

    inner: AsyncClient

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name.startswith("_") or not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            if isinstance(result, AsyncStream):
                return SyncStream(result, self._loop)
            return self._loop.run(result) if inspect.isawaitable(result) else result

        return call


class ClientKind:
    """Make clients of one kind (``"sync"`` or ``"async"``) for the shared client tests.

    ``kind(url, **options)`` makes one (closed after the test); ``kind.stream_type`` is the
    class its streams are; ``kind.unwrap(obj)`` is the real client or stream behind one.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.stream_type: type[Any] = Stream if name == "sync" else AsyncStream
        self._loop: LoopThread | None = None
        self._made: list[Any] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        made: Any
        if self.name == "sync":
            made = Client(*args, **kwargs)
        else:
            inner = AsyncClient(*args, **kwargs)
            if self._loop is None:
                self._loop = LoopThread()
            made = SyncAsyncClient(inner, self._loop)
        self._made.append(made)
        return made

    def __repr__(self) -> str:
        return self.name

    @staticmethod
    def unwrap(obj: Any) -> Any:
        return getattr(obj, "inner", obj)

    def close(self) -> None:
        for made in self._made:
            made.close()
        if self._loop is not None:
            self._loop.stop()
