"""What the HTTP stack costs on top of the llama.cpp engine: tokens/s and first-token latency.

Run `python bench/engine_overhead.py` (needs the `local` extra). It measures the same greedy
generation (`--num-predict` tokens, `--reps` times, interleaved) three ways:

| path        | what runs                                                                     |
|-------------|-------------------------------------------------------------------------------|
| `engine`    | `LlamaEngine.generate()` called in this process: no server, no HTTP           |
| `http`      | `ollama_wire.Client.generate(stream=True)` against `ollama-wire-server         |
|             | --engine llama` in a child process (what a user of `ollama-wire serve` gets)   |
| `http-sync` | the same with `stream=False`: one JSON reply (first token = whole reply)      |

For each it reports the median of: first-token latency (call to first text in hand), decode
rate seen by the caller (tokens after the first / time from first to last piece), and the rate
the engine itself reports (`eval_count / eval_duration`). The difference between `engine` and
`http` is the stack's overhead. Use `--num-thread` to set llama.cpp's threads for both paths
(sent as the `num_thread` option over HTTP). Run it on an otherwise idle machine: llama.cpp's
threads spin while they wait for each other, so with as many threads as cores any other load
(even the client parsing chunks) can slow decoding several times over.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

MODEL = "gemma3:270m"
PROMPT = "Tell me a story about a lighthouse keeper."


@dataclass
class Run:
    """One generation as the caller saw it."""

    first_token_s: float
    decode_tps: float
    engine_tps: float
    tokens: int


@dataclass
class Series:
    """Every run of one path."""

    name: str
    runs: list[Run] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return float(statistics.median(float(getattr(r, attr)) for r in self.runs))


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "temperature": 0,
        "num_predict": args.num_predict,
        "num_thread": args.num_thread,
        "seed": 1,
    }


def run_engine(engine: Any, card: Any, args: argparse.Namespace) -> Run:
    """Generate in-process, straight from the engine."""
    from ollama_wire.server.engine import GenerationRequest

    request = GenerationRequest(
        kind="generate", model=MODEL, card=card, prompt=PROMPT, options=_options(args)
    )
    start = time.perf_counter()
    first = last = 0.0
    gen = engine.generate(request)
    try:
        while True:
            piece = next(gen)
            now = time.perf_counter()
            if piece.content and not first:
                first = now
            last = now
    except StopIteration as stop:
        result = stop.value
    return _run(start, first, last, result.eval_count, result.eval_duration)


def run_http(client: Any, args: argparse.Namespace) -> Run:
    """Generate through HTTP with a streamed reply."""
    start = time.perf_counter()
    first = last = 0.0
    final: Any = None
    for chunk in client.generate(MODEL, PROMPT, options=_options(args), stream=True):
        now = time.perf_counter()
        if chunk.response and not first:
            first = now
        if chunk.response:
            last = now
        final = chunk
    return _run(start, first, last, final.eval_count, final.eval_duration)


def run_http_sync(client: Any, args: argparse.Namespace) -> Run:
    """Generate through HTTP with one JSON reply."""
    start = time.perf_counter()
    reply = client.generate(MODEL, PROMPT, options=_options(args))
    end = time.perf_counter()
    return Run(
        first_token_s=end - start,
        decode_tps=float("nan"),
        engine_tps=reply.eval_count / (reply.eval_duration / 1e9),
        tokens=reply.eval_count,
    )


def _run(start: float, first: float, last: float, count: int, eval_ns: int) -> Run:
    decode = (count - 1) / (last - first) if last > first and count > 1 else float("nan")
    return Run(
        first_token_s=first - start,
        decode_tps=decode,
        engine_tps=count / (eval_ns / 1e9) if eval_ns else float("nan"),
        tokens=count,
    )


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    """Start `ollama_wire.server --engine llama` on a free port; return it and its URL."""
    cmd = [
        sys.executable, "-m", "ollama_wire.server", "--engine", "llama",
        "--model", MODEL, "--port", "0",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on " not in line:
        proc.kill()
        raise RuntimeError(f"the server did not start: {line!r}")
    return proc, line.rsplit("listening on ", 1)[1].strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--num-predict", type=int, default=64)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--num-thread", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print the runs as JSON")
    args = parser.parse_args(argv)

    from ollama_wire import Client
    from ollama_wire.server.llama import LlamaEngine

    engine = LlamaEngine(num_thread=args.num_thread)
    card = engine.describe(MODEL)
    assert card is not None
    engine.load(MODEL, card, _options(args))
    proc, url = start_server(args)
    series = {name: Series(name) for name in ("engine", "http", "http-sync")}
    try:
        with Client(url, timeout=600) as client:
            # Warm-up: load the model in the server, fill both processes' caches.
            client.generate(MODEL, PROMPT, options={**_options(args), "num_predict": 2})
            run_engine(engine, card, argparse.Namespace(**{**vars(args), "num_predict": 2}))
            for _ in range(args.reps):
                series["engine"].runs.append(run_engine(engine, card, args))
                series["http"].runs.append(run_http(client, args))
                series["http-sync"].runs.append(run_http_sync(client, args))
    finally:
        proc.terminate()
        proc.wait(10)
        engine.close()

    if args.json:
        print(json.dumps({k: [vars(r) for r in s.runs] for k, s in series.items()}, indent=2))
        return 0
    base = series["engine"]
    print(f"{MODEL}, {args.num_predict} tokens, {args.num_thread} thread(s), "
          f"median of {args.reps}, {os.cpu_count()} CPUs")
    print()
    print("| path | first token ms | decode tok/s (caller) | engine tok/s | tokens |")
    print("|---|---|---|---|---|")
    for s in series.values():
        decode = s.median("decode_tps")
        print(
            f"| `{s.name}` | {s.median('first_token_s') * 1000:.1f} | "
            f"{'n/a' if math.isnan(decode) else f'{decode:.1f}'} | "
            f"{s.median('engine_tps'):.1f} | {s.median('tokens'):.0f} |"
        )
    http = series["http"]
    print()
    first_ms = (http.median("first_token_s") - base.median("first_token_s")) * 1000
    rate = 100 * (http.median("decode_tps") / base.median("decode_tps") - 1)
    print(f"HTTP overhead: first token {first_ms:+.1f} ms, decode rate {rate:+.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
