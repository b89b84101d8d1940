"""What only the AsyncClient has: awaitable streams, cancellation, tasks, event loops, httpx.

Everything the two clients share is tested once for both in the other files of this folder.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from typing import Any

import pytest
from client_helpers import client_sockets, connections

from ollama_wire import (
    AsyncClient,
    AsyncStream,
    ChatResponse,
    OllamaError,
    RequestError,
    ServerBusyError,
)
from ollama_wire import _async_client as async_client_module
from ollama_wire._protocol import DEFAULT_POOL_SIZE
from ollama_wire.server import OllamaServer, RequestRecord
from ollama_wire.testing import CHAT_MODEL, open_loopback_sockets, wait_for_generation_stop

MESSAGES = [{"role": "user", "content": "Why is the sky blue?"}]


def test_stream_forms(ollama_server: OllamaServer) -> None:
    async def main() -> None:
        async with AsyncClient(ollama_server.url) as c:
            whole = (await c.chat(CHAT_MODEL, MESSAGES)).message.content
            awaited = c.chat(CHAT_MODEL, MESSAGES, stream=True)
            assert isinstance(awaited, AsyncStream)
            assert await awaited is awaited
            parts = [p.message.content async for p in awaited]  # the SDK's form, with await
            assert "".join(parts) == whole
            assert "".join([p.message.content async for p in c.chat(CHAT_MODEL, MESSAGES,
                                                                       stream=True)]) == whole
            async with c.generate(CHAT_MODEL, "hi", stream=True) as s:
                first = await s.__anext__()
                assert s.chunks == [first]
                assert "AsyncStream POST /api/generate, 1 chunks" in repr(s)
            await s.aclose()  # idempotent
            assert [p async for p in s] == []
            unstarted = c.chat(CHAT_MODEL, MESSAGES, stream=True)
            await unstarted.aclose()
            assert [p async for p in unstarted] == []

    asyncio.run(main())
    assert len(ollama_server.requests.matching("/api/chat")) == 3


def test_bad_input_raises_at_the_call_before_any_await(ollama_server: OllamaServer) -> None:
    async def main() -> None:
        async with AsyncClient(ollama_server.url) as c:
            with pytest.raises(RequestError, match="role"):
                c.chat(CHAT_MODEL, [{"content": "no role"}])
            with pytest.raises(RequestError, match="timeout"):
                c.chat(CHAT_MODEL, MESSAGES, stream=True, timeout=-1)

    asyncio.run(main())
    assert len(ollama_server.requests) == 0


def test_cancelling_the_consuming_task_stops_generation(ollama_server_factory: Any) -> None:
    server: OllamaServer = ollama_server_factory(engine_options={"tokens_per_second": 200})

    async def main() -> tuple[RequestRecord, int]:
        async with AsyncClient(server.url) as c:
            got: list[ChatResponse] = []
            first = asyncio.Event()

            async def consume() -> None:
                async for part in await c.chat(CHAT_MODEL, MESSAGES, stream=True,
                                               options={"num_predict": 100_000}):
                    got.append(part)
                    first.set()

            task = asyncio.create_task(consume())
            await first.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # Still inside the loop, the client open: the cancellation itself hung up.
            record = await asyncio.to_thread(wait_for_generation_stop, server, "/api/chat")
            return record, len(got)

    record, received = asyncio.run(main())
    assert received >= 1
    assert record.wait_finished()
    assert record.disconnected
    assert record.tokens < 1000


def test_a_dropped_stream_is_closed_by_the_loop(ollama_server_factory: Any) -> None:
    server: OllamaServer = ollama_server_factory(engine_options={"tokens_per_second": 200})

    async def main() -> RequestRecord:
        c = AsyncClient(server.url)
        async for _ in c.generate(CHAT_MODEL, "hi", stream=True,
                                  options={"num_predict": 100_000}):
            break
        return await asyncio.to_thread(wait_for_generation_stop, server, "/api/generate")

    record = asyncio.run(main())
    assert record.disconnected
    assert record.tokens < 1000


@pytest.mark.ollama_server(num_parallel=8)
def test_64_concurrent_streams_share_a_pool(ollama_server: OllamaServer) -> None:
    prompts = [[{"role": "user", "content": f"question {i % 8}"}] for i in range(64)]

    async def main() -> tuple[list[str], list[str], int]:
        async with AsyncClient(ollama_server.url) as c:
            expected = [(await c.chat(CHAT_MODEL, p)).message.content for p in prompts[:8]]
            ollama_server.requests.clear()
            open_streams = 0
            all_open = asyncio.Event()

            async def one(messages: list[dict[str, str]]) -> str:
                nonlocal open_streams
                stream = await c.chat(CHAT_MODEL, messages, stream=True)
                parts = [(await stream.__anext__()).message.content]
                open_streams += 1
                if open_streams == len(prompts):
                    all_open.set()
                await asyncio.wait_for(all_open.wait(), 10)  # all 64 streams at once
                parts += [part.message.content async for part in stream]
                return "".join(parts)

            texts = await asyncio.gather(*(one(p) for p in prompts))
            idle = client_sockets(ollama_server.port)
            for p in prompts[:8]:
                assert [x async for x in await c.chat(CHAT_MODEL, p, stream=True)][-1].done
            return list(texts), [expected[i % 8] for i in range(64)], idle

    texts, expected, idle = asyncio.run(main())
    assert texts == expected
    assert len(ollama_server.requests.matching("/api/chat")) == 64 + 8
    assert connections(ollama_server) == 64  # one per stream, then reused
    assert 0 < idle <= DEFAULT_POOL_SIZE  # the pool kept some, closed the rest
    assert client_sockets(ollama_server.port) == 0


def test_one_client_across_successive_asyncio_runs(ollama_server: OllamaServer) -> None:
    c = AsyncClient(ollama_server.url)

    async def use() -> str:
        streamed = [p.response async for p in await c.generate(CHAT_MODEL, "hi", stream=True)]
        whole = (await c.generate(CHAT_MODEL, "hi")).response
        assert "".join(streamed) == whole
        return (await c.version()).version

    for _ in range(3):
        assert asyncio.run(use()) == "0.12.6"
        assert client_sockets(ollama_server.port) == 0  # closed when that loop ended
    assert connections(ollama_server) == 3  # one per run, reused within it


def test_one_client_in_two_threads_loops_at_once(ollama_server: OllamaServer) -> None:
    c = AsyncClient(ollama_server.url)
    both_started = threading.Barrier(2, timeout=5)
    results: list[str] = []

    async def use() -> None:
        await c.version()
        await asyncio.to_thread(both_started.wait)
        results.append((await c.chat(CHAT_MODEL, MESSAGES)).message.content)

    threads = [threading.Thread(target=asyncio.run, args=(use(),)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2
    assert results[0] == results[1] != ""
    assert client_sockets(ollama_server.port) == 0


def test_retries_wait_on_the_loop(ollama_server: OllamaServer,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    ollama_server.faults.add(path="/api/chat", status=503, retry_after="2", times=2)
    waits: list[float] = []
    ticks: list[int] = []

    async def recorded_sleep(delay: float) -> None:
        waits.append(delay)
        await asyncio.sleep(0)  # a real wait yields to the loop; so does this one

    monkeypatch.setattr(async_client_module, "sleep", recorded_sleep)

    async def ticker() -> None:
        while True:
            ticks.append(1)
            await asyncio.sleep(0)

    async def main() -> str:
        async with AsyncClient(ollama_server.url) as c:
            tick = asyncio.create_task(ticker())
            try:
                return (await c.chat(CHAT_MODEL, MESSAGES)).message.content
            finally:
                tick.cancel()

    assert asyncio.run(main())
    assert waits == [2.0, 2.0]
    assert len(ticks) > 2


def test_retries_run_out_the_same_way(ollama_server: OllamaServer,
                                      sleeps: list[float]) -> None:
    ollama_server.faults.add(path="/api/generate", status=503, times=None)

    async def main() -> None:
        async with AsyncClient(ollama_server.url, max_retries=1) as c:
            with pytest.raises(ServerBusyError):
                await c.generate(CHAT_MODEL, "hi")
            with pytest.raises(ServerBusyError):
                await (await c.generate(CHAT_MODEL, "hi", stream=True)).__anext__()

    asyncio.run(main())
    assert len(sleeps) == 2


def run_python(code: str) -> Any:
    """Run ``code`` in a fresh interpreter and return the JSON it prints."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout)


def test_without_httpx_the_error_names_the_extra() -> None:
    assert run_python(
        "import json, sys\n"
        "sys.modules['httpx'] = None\n"  # makes `import httpx` fail as if not installed
        "import ollama_wire\n"
        "try:\n"
        "    ollama_wire.AsyncClient()\n"
        "except ImportError as e:\n"
        "    print(json.dumps({'error': str(e), 'name': e.name}))\n"
    ) == {
        "error": "AsyncClient needs httpx, which is not installed: "
                 "pip install 'ollama-wire[async]'",
        "name": "httpx",
    }


def test_httpx_loads_with_the_first_async_client_and_requests_never() -> None:
    assert run_python(
        "import json, sys\n"
        "import ollama_wire\n"
        "before = 'httpx' in sys.modules\n"
        "ollama_wire.AsyncClient('http://127.0.0.1:9')\n"
        "print(json.dumps([before, 'httpx' in sys.modules, 'requests' in sys.modules]))\n"
    ) == [False, True, False]


def test_httpx_options_go_to_httpx_as_the_sdk_passes_them(ollama_server: OllamaServer) -> None:
    """``auth=``, ``event_hooks=`` and the like reach httpx, and every call goes through it."""
    import httpx

    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request.url.path)

    async def main() -> None:
        async with AsyncClient(ollama_server.url, auth=httpx.BasicAuth("me", "pw"),
                               event_hooks={"request": [hook]}) as c:
            await c.version()
            assert [part.done async for part in await c.chat(CHAT_MODEL, MESSAGES, stream=True)
                    ][-1]

    asyncio.run(main())
    assert seen == ["/api/version", "/api/chat"]
    assert ollama_server.requests.last("/api/chat").header("authorization") == (
        "Basic bWU6cHc=")


def test_an_option_neither_ours_nor_httpx_fails_when_the_client_is_made() -> None:
    for options in ({"retries": 3}, {"base_url": "http://x"}, {"session": None}):
        with pytest.raises(TypeError, match="neither its own setting nor an httpx"):
            AsyncClient(**options)


def test_a_transport_given_serves_the_next_loop_after_one_closed_without_shutdown(
    ollama_server: OllamaServer,
) -> None:
    """The connections a closed loop left in the user's httpx transport are forgotten.

    A loop closed without ``shutdown_asyncgens()`` (``run_until_complete`` then ``close``,
    not ``asyncio.run``) could not close them; reused, they failed with "Event loop is closed".
    """
    import httpx

    c = AsyncClient(ollama_server.url, transport=httpx.AsyncHTTPTransport())
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(c.version()).version == "0.12.6"
    finally:
        loop.close()

    async def use() -> str:
        async with c:
            return (await c.chat(CHAT_MODEL, MESSAGES)).message.content

    assert asyncio.run(use())
    assert asyncio.run(use())


def test_a_transport_given_in_use_on_another_loop_is_refused_saying_why(
    ollama_server: OllamaServer,
) -> None:
    """One httpx transport cannot serve two loops at once: a clear error, not a hang.

    Two loops at once on one transport hung, or failed with "<asyncio.locks.Event ...> is
    bound to a different event loop".
    """
    import httpx
    from client_helpers import LoopThread

    c = AsyncClient(ollama_server.url, transport=httpx.AsyncHTTPTransport())
    other = LoopThread()
    try:
        assert other.run(c.version()).version == "0.12.6"

        async def use() -> str:
            return (await c.version()).version

        with pytest.raises(RequestError, match="in use on another event loop"):
            asyncio.run(use())
        other.run(c.close())
        assert asyncio.run(use()) == "0.12.6"
    finally:
        other.stop()


def test_one_client_with_a_transport_in_threads_loops_at_once_never_hangs(
    ollama_server: OllamaServer,
) -> None:
    """Loops of several threads register at once: one gets the transport, the others an error."""
    import httpx

    c = AsyncClient(ollama_server.url, transport=httpx.AsyncHTTPTransport(), timeout=5)
    start = threading.Barrier(4, timeout=5)
    outcomes: list[str] = []

    async def use() -> None:
        await asyncio.to_thread(start.wait)
        try:
            for _ in range(10):
                await c.chat(CHAT_MODEL, MESSAGES)
            outcomes.append("ok")
        except OllamaError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=asyncio.run, args=(use(),)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") >= 1
    assert all(o == "ok" or "in use on another event loop" in o for o in outcomes)
    assert len(outcomes) == 4


def test_close_returns_with_the_connections_closed(ollama_server: OllamaServer) -> None:
    port = int(ollama_server.url.rsplit(":", 1)[1])

    async def main() -> None:
        c = AsyncClient(ollama_server.url)
        await asyncio.gather(*(c.version() for _ in range(4)))
        assert open_loopback_sockets(port) >= 1
        await c.close()
        assert open_loopback_sockets(port) == 0  # not on the loop's next turn: now

    asyncio.run(main())
