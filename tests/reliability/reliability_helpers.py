"""Helpers for the reliability tests: client kinds, open sockets, memory."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ollama_wire import AsyncClient, Client
from ollama_wire import _async_client as async_client_module
from ollama_wire import _client as client_module
from ollama_wire.testing import loopback_socket_states, open_loopback_sockets

#: Threads (or concurrent tasks) in the load tests, as the issue asks.
LOAD_WORKERS = 32


class Job:
    """One call for `ClientKind.many`: a method, its arguments, whether it streams, a tag."""

    def __init__(
        self, method: str, *, stream: bool = False, tag: Any = None, **kwargs: Any
    ) -> None:
        self.method = method
        self.stream = stream
        self.tag = tag
        self.kwargs = kwargs


class ClientKind:
    """How the tests drive one kind of client; a new kind is one subclass in `KINDS`.

    ==================================  ===========================================================
    ``kind.open(url, **options)``       make the client (``kind.client``); options go to it
    ``kind.call("generate", ...)``      one non-streaming call; its result
    ``kind.stream("chat", ...)``        one streaming call read to the end; the list of chunks
    ``kind.collect("chat", ...)``       the chunks the caller saw and the error that ended it
    ``kind.many(jobs, workers)``        run jobs concurrently through the one client; results
                                        (a chunk list for a stream) or exceptions, in order
    ``kind.sleeps``                     the retry delays asked for (nobody really sleeps)
    ``kind.before_retry``               called at each retry delay (restart a server, say)
    ``kind.close()``                    close the client (a kind may be closed twice)
    ==================================  ===========================================================
    """

    name = "abstract"

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.sleeps: list[float] = []
        self.before_retry: Callable[[], None] | None = None
        self.client: Any = None

    def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.before_retry is not None:
            self.before_retry()

    def open(self, url: str, **options: Any) -> Any:
        raise NotImplementedError

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def collect(self, method: str, *args: Any, **kwargs: Any) -> tuple[list[Any], Exception | None]:
        raise NotImplementedError

    def many(self, jobs: list[Job], workers: int = LOAD_WORKERS) -> list[Any]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def stream(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        chunks, error = self.collect(method, *args, **kwargs)
        if error is not None:
            raise error
        return chunks


class SyncKind(ClientKind):
    """`ollama_wire.Client` on requests; concurrency is threads."""

    name = "sync"

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(monkeypatch)
        monkeypatch.setattr(client_module, "sleep", self._sleep)

    def open(self, url: str, **options: Any) -> Client:
        client = Client(url, **options)
        self.client = client
        return client

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.client, method)(*args, **kwargs)

    def collect(self, method: str, *args: Any, **kwargs: Any) -> tuple[list[Any], Exception | None]:
        seen: list[Any] = []
        try:
            with getattr(self.client, method)(*args, stream=True, **kwargs) as stream:
                for chunk in stream:
                    seen.append(chunk)
        except Exception as exc:
            return seen, exc
        return seen, None

    def many(self, jobs: list[Job], workers: int = LOAD_WORKERS) -> list[Any]:
        def run(job: Job) -> Any:
            try:
                if job.stream:
                    return self.stream(job.method, **job.kwargs)
                return self.call(job.method, **job.kwargs)
            except Exception as exc:
                return exc

        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(run, jobs))

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


class AsyncKind(ClientKind):
    """`ollama_wire.AsyncClient` on httpx, driven from one event loop; concurrency is tasks."""

    name = "async"

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(monkeypatch)
        self.loop = asyncio.new_event_loop()

        async def sleep(seconds: float) -> None:
            self._sleep(seconds)

        monkeypatch.setattr(async_client_module, "sleep", sleep)

    def open(self, url: str, **options: Any) -> AsyncClient:
        client = AsyncClient(url, **options)
        self.client = client
        return client

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.loop.run_until_complete(getattr(self.client, method)(*args, **kwargs))

    async def _collect(
        self, method: str, *args: Any, **kwargs: Any
    ) -> tuple[list[Any], Exception | None]:
        seen: list[Any] = []
        try:
            stream = await getattr(self.client, method)(*args, stream=True, **kwargs)
            async with stream:
                async for chunk in stream:
                    seen.append(chunk)
        except Exception as exc:
            return seen, exc
        return seen, None

    def collect(self, method: str, *args: Any, **kwargs: Any) -> tuple[list[Any], Exception | None]:
        return self.loop.run_until_complete(self._collect(method, *args, **kwargs))

    def many(self, jobs: list[Job], workers: int = LOAD_WORKERS) -> list[Any]:
        async def run_all() -> list[Any]:
            gate = asyncio.Semaphore(workers)

            async def run(job: Job) -> Any:
                async with gate:
                    try:
                        if job.stream:
                            seen, error = await self._collect(job.method, **job.kwargs)
                            return seen if error is None else error
                        return await getattr(self.client, job.method)(**job.kwargs)
                    except Exception as exc:
                        return exc

            return list(await asyncio.gather(*(run(job) for job in jobs)))

        return self.loop.run_until_complete(run_all())

    def close(self) -> None:
        if self.loop.is_closed():
            return
        if self.client is not None:
            self.loop.run_until_complete(self.client.close())
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


#: Client kinds under test, by name.
KINDS: dict[str, type[ClientKind]] = {"async": AsyncKind, "sync": SyncKind}


#: Count this process's open TCP sockets connected to ``port`` (client side only); a socket
#: the server closed but the client never did (CLOSE_WAIT) counts: that is a leak.
open_sockets = open_loopback_sockets
#: The TCP states of those sockets (``"CLOSE_WAIT"``...), so a failed ``== []`` shows them.
socket_states = loopback_socket_states


def wait_until(check: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``check`` until it holds; raise TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout}s")
        time.sleep(0.005)


def open_fds() -> int:
    """Count this process's open file descriptors."""
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    """Return this process's resident set size."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def text_of(chunks: Iterable[Any]) -> str:
    """Join the text of generate or chat chunks."""
    out = []
    for chunk in chunks:
        if chunk.get("response") is not None:
            out.append(chunk["response"])
        elif chunk.get("message") is not None:
            out.append(chunk["message"]["content"] or "")
    return "".join(out)
