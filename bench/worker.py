"""Run one measure for one contender in this fresh process and print one JSON line.

    python bench/worker.py MEASURE CONTENDER --port P --control-port C [--n N] [--num-predict K]

The harness (`bench/run.py`) starts one worker per contender and round, under the interpreter of
the contender's venv. Only the standard library is imported here; the contender imports its own.
Every result is checked against what the server sent, so a contender that drops data fails.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import resource
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

import contenders
import fastserver

EMBED_INPUTS = 16
SHORT_TOKENS = 20
CALL_TOKENS = 20
CONCURRENT_STREAMS = 64


def control_stats(host: str, control_port: int) -> dict[str, int]:
    """Ask the server how many connections and requests it has seen on its main port."""
    with socket.create_connection((host, control_port)) as sock:
        sock.sendall(b"GET /stats HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return dict(json.loads(data.partition(b"\r\n\r\n")[2]))


def current_rss_kib() -> int:
    """Return this process's resident set size now, in KiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def peak_rss_kib() -> int:
    """Return this process's peak resident set size so far, in KiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def embed_inputs() -> list[str]:
    return [f"benchmark input sentence number {i}" for i in range(EMBED_INPUTS)]


class Check:
    """Collect what does not match the server's records."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def equal(self, what: str, got: object, expected: object) -> None:
        if got != expected:
            shown = repr(got)
            if len(shown) > 120:
                shown = shown[:120] + "..."
            self.problems.append(f"{what}: got {shown}, expected {expected!r:.120}")


def check_stream(check: Check, got: contenders.StreamResult, num_predict: int) -> None:
    text, chunks, context = got
    check.equal("text", text, fastserver.expected_text(num_predict))
    check.equal("chunks", chunks, num_predict + 1)
    check.equal("context length", context, fastserver.PROMPT_TOKENS + num_predict)


def check_embed(check: Check, got: list[list[float]]) -> None:
    expected = [fastserver.embed_vector(r, fastserver.EMBED_DIMS) for r in range(EMBED_INPUTS)]
    check.equal("embeddings", [list(v) for v in got], expected)


class Timing:
    """Wall and CPU seconds of a timed part, and the connections the server saw open."""

    def __init__(self, wall: float, cpu: float, connections: int) -> None:
        self.wall = wall
        self.cpu = cpu
        self.connections = connections

    def per(self, units: int) -> dict[str, float]:
        """Return microseconds per unit (call, token or stream) and connections per unit."""
        return {
            "wall_us": self.wall / units * 1e6,
            "cpu_us": self.cpu / units * 1e6,
            "connections": self.connections,
            "connections_per_unit": self.connections / units,
        }


class Runner:
    """Warm up, then time one measure, counting the server's new connections."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.check = Check()
        self.profile: cProfile.Profile | None = cProfile.Profile() if args.profile else None

    def stats(self) -> dict[str, int]:
        return control_stats(self.args.host, self.args.control_port)

    def timed(self, body: Callable[[], Any]) -> tuple[Timing, Any]:
        """Run `body` once; return its timing and its result."""
        before = self.stats()["connections"]
        if self.profile is not None:
            self.profile.enable()
        c0 = time.process_time()
        t0 = time.perf_counter()
        result = body()
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - c0
        if self.profile is not None:
            self.profile.disable()
        return Timing(elapsed, cpu, self.stats()["connections"] - before), result


def run_sync(runner: Runner, c: contenders.Contender) -> dict[str, Any]:
    args = runner.args
    check = runner.check
    capacity = isinstance(c, contenders.Capacity)
    n = args.n
    out: dict[str, Any] = {}
    if args.measure == "call":
        for _ in range(min(20, n)):
            c.call(CALL_TOKENS)

        def calls() -> str:
            text = ""
            for _ in range(n):
                text = c.call(CALL_TOKENS)
            return text

        timing, text = runner.timed(calls)
        if not capacity:
            check.equal("response", text, fastserver.expected_text(CALL_TOKENS))
        out.update(timing.per(n))
    elif args.measure == "stream":
        c.stream(1000)
        rss_before = current_rss_kib()
        timing, got = runner.timed(lambda: c.stream(args.num_predict))
        if not capacity:
            check_stream(check, got, args.num_predict)
        out.update(timing.per(args.num_predict))
        out.update(rss_before_kib=rss_before, peak_rss_kib=peak_rss_kib())
    elif args.measure == "short":
        for _ in range(min(5, n)):
            c.stream(SHORT_TOKENS)

        def streams() -> contenders.StreamResult:
            got: contenders.StreamResult = ("", 0, 0)
            for _ in range(n):
                got = c.stream(SHORT_TOKENS)
            return got

        timing, got = runner.timed(streams)
        if not capacity:
            check_stream(check, got, SHORT_TOKENS)
        out.update(timing.per(n))
    elif args.measure == "embed":
        inputs = embed_inputs()
        for _ in range(min(5, n)):
            c.embed(inputs)

        def embeds() -> list[list[float]]:
            got: list[list[float]] = []
            for _ in range(n):
                got = c.embed(inputs)
            return got

        timing, got = runner.timed(embeds)
        if not capacity:
            check_embed(check, got)
        out.update(timing.per(n))
    else:
        raise SystemExit(f"measure {args.measure!r} needs an async contender")
    c.close()
    return out


async def run_async(runner: Runner, c: contenders.AsyncContender) -> dict[str, Any]:
    args = runner.args
    check = runner.check
    n = args.n
    out: dict[str, Any] = {}
    loop = asyncio.get_running_loop()

    async def atimed(body: Callable[[], Any]) -> tuple[Timing, Any]:
        before = (await loop.run_in_executor(None, runner.stats))["connections"]
        if runner.profile is not None:
            runner.profile.enable()
        c0 = time.process_time()
        t0 = time.perf_counter()
        result = await body()
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - c0
        if runner.profile is not None:
            runner.profile.disable()
        after = (await loop.run_in_executor(None, runner.stats))["connections"]
        return Timing(elapsed, cpu, after - before), result

    if args.measure == "call":
        for _ in range(min(20, n)):
            await c.acall(CALL_TOKENS)

        async def calls() -> str:
            text = ""
            for _ in range(n):
                text = await c.acall(CALL_TOKENS)
            return text

        timing, text = await atimed(calls)
        check.equal("response", text, fastserver.expected_text(CALL_TOKENS))
        out.update(timing.per(n))
    elif args.measure == "stream":
        await c.astream(1000)
        rss_before = current_rss_kib()
        timing, got = await atimed(lambda: c.astream(args.num_predict))
        check_stream(check, got, args.num_predict)
        out.update(timing.per(args.num_predict))
        out.update(rss_before_kib=rss_before, peak_rss_kib=peak_rss_kib())
    elif args.measure == "short":
        for _ in range(min(5, n)):
            await c.astream(SHORT_TOKENS)

        async def streams() -> contenders.StreamResult:
            got: contenders.StreamResult = ("", 0, 0)
            for _ in range(n):
                got = await c.astream(SHORT_TOKENS)
            return got

        timing, got = await atimed(streams)
        check_stream(check, got, SHORT_TOKENS)
        out.update(timing.per(n))
    elif args.measure == "embed":
        inputs = embed_inputs()
        for _ in range(min(5, n)):
            await c.aembed(inputs)

        async def embeds() -> list[list[float]]:
            got: list[list[float]] = []
            for _ in range(n):
                got = await c.aembed(inputs)
            return got

        timing, got = await atimed(embeds)
        check_embed(check, got)
        out.update(timing.per(n))
    elif args.measure == "concurrent":
        # Warm up with as many streams at once, so the pool holds its connections.
        await asyncio.gather(*(c.astream(SHORT_TOKENS) for _ in range(CONCURRENT_STREAMS)))

        async def concurrent() -> list[contenders.StreamResult]:
            return list(
                await asyncio.gather(
                    *(c.astream(args.num_predict) for _ in range(CONCURRENT_STREAMS))
                )
            )

        timing, results = await atimed(concurrent)
        for got in results:
            check_stream(check, got, args.num_predict)
        total = CONCURRENT_STREAMS * args.num_predict
        out.update(timing.per(total))
        out.update(ms_total=timing.wall * 1e3, peak_rss_kib=peak_rss_kib())
    else:
        raise SystemExit(f"unknown measure {args.measure!r}")
    await c.aclose()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("measure", choices=["call", "stream", "short", "embed", "concurrent"])
    parser.add_argument("contender", choices=sorted(contenders.CONTENDERS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--n", type=int, default=100, help="calls or streams to time")
    parser.add_argument(
        "--num-predict",
        type=int,
        default=100_000,
        help="tokens per stream for `stream` and `concurrent`",
    )
    parser.add_argument("--profile", help="write cProfile stats of the timed part here")
    args = parser.parse_args(argv)

    cls = contenders.CONTENDERS[args.contender]
    runner = Runner(args)
    c = cls(args.host, args.port)
    if isinstance(c, contenders.AsyncContender):
        out = asyncio.run(run_async(runner, c))
    else:
        out = run_sync(runner, c)
    if runner.profile is not None:
        runner.profile.dump_stats(args.profile)
    out.update(
        measure=args.measure,
        contender=args.contender,
        ok=not runner.check.problems,
        problems=runner.check.problems,
    )
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
