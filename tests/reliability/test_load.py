"""Load: many calls and streams through one client at once; zero errors, nothing leaks.

The issue's size, 10,000 calls and 1,000 streams from 32 workers, is what the suite and CI
run; ``OLLAMA_WIRE_LOAD=quick`` runs a tenth of it (the same mix and checks) for a fast local
round. See docs/reliability.md for the measured times.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable

import pytest
from reliability_helpers import (
    LOAD_WORKERS,
    ClientKind,
    Job,
    open_fds,
    open_sockets,
    rss_bytes,
    text_of,
    wait_until,
)

from ollama_wire.server import OllamaServer

FULL = os.environ.get("OLLAMA_WIRE_LOAD", "").lower() != "quick"
CALLS = 10_000 if FULL else 1_000
STREAMS = 1_000 if FULL else 100
#: The work is done in rounds; the first warms up, the rest must leave memory flat.
ROUNDS = 5
MODEL = "llama3.2"
MIB = 1024 * 1024
#: RSS growth of the process (client and server both) allowed after the first round.
RSS_SLACK = 8 * MIB


def reply(i: int) -> str:
    """Return the scripted answer to prompt ``i``: distinct per prompt, several tokens long."""
    return f"answer number {i} is {i * 7919 % 10007} and nothing else."


def jobs(start: int, calls: int, streams: int) -> list[Job]:
    """Interleave generate and chat calls with streams, each asking its own prompt."""
    out: list[Job] = []
    every = max(1, calls // max(1, streams))
    n = start
    for i in range(calls):
        chat = i % 2 == 1
        out.append(_job(n, chat, stream=False))
        n += 1
        if i % every == 0 and streams:
            out.append(_job(n, chat, stream=True))
            streams -= 1
            n += 1
    while streams:
        out.append(_job(n, False, stream=True))
        streams -= 1
        n += 1
    return out


def _job(n: int, chat: bool, *, stream: bool) -> Job:
    if chat:
        messages = [{"role": "user", "content": f"q{n}"}]
        return Job("chat", stream=stream, tag=n, model=MODEL, messages=messages)
    return Job("generate", stream=stream, tag=n, model=MODEL, prompt=f"q{n}")


def check(results: list[object], todo: list[Job]) -> None:
    """Assert zero errors and, for every job, exactly its own answer."""
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == [], f"{len(errors)} errors, first: {errors[0]!r}"
    for job, result in zip(todo, results, strict=True):
        expected = reply(job.tag)
        if job.stream:
            assert isinstance(result, list)
            assert result[-1].done is True
            assert text_of(result) == expected
        elif job.method == "chat":
            assert result.message.content == expected  # type: ignore[attr-defined]
        else:
            assert result.response == expected  # type: ignore[attr-defined]


@pytest.mark.timeout(900)
def test_load_through_one_client(
    kind: ClientKind, ollama_server_factory: Callable[..., OllamaServer]
) -> None:
    size = CALLS // ROUNDS
    rounds = [jobs(r * (size + STREAMS), size, STREAMS // ROUNDS) for r in range(ROUNDS)]
    todo = [job for one in rounds for job in one]
    assert (len(todo), sum(job.stream for job in todo)) == (CALLS + STREAMS, STREAMS)
    server = ollama_server_factory(
        models=[MODEL],
        num_parallel=LOAD_WORKERS,
        request_log_limit=100,
        engine_options={"replies": {f"q{job.tag}": reply(job.tag) for job in todo}},
    )
    kind.open(server.url)

    def other_fds() -> int:
        """Descriptors besides the client's pooled sockets and the server's connections."""
        return open_fds() - open_sockets(server.port) - (len(server.threads()) - 1)

    marks = []
    for one in rounds:
        results = kind.many(one)
        check(results, one)
        del results
        gc.collect()
        # The first round is the warm-up: pools, caches and allocator arenas fill up.
        marks.append((rss_bytes(), other_fds()))

    assert [fds for _, fds in marks[1:]] == [marks[0][1]] * (ROUNDS - 1)
    assert open_sockets(server.port) <= LOAD_WORKERS  # the pool stays bounded
    grew = max(rss for rss, _ in marks[1:]) - marks[0][0]
    assert grew < RSS_SLACK, f"RSS grew {grew / MIB:.1f} MiB after the first round"
    kind.close()
    gc.collect()
    assert open_sockets(server.port) == 0
    wait_until(lambda: len(server.threads()) == 1, what="server connections closed")
