"""Run the server: ``python -m ollama_wire.server --host 127.0.0.1 --port 11434``."""

from __future__ import annotations

import argparse
import re
import signal
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from ollama_wire.server.app import (
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_VERSION,
    OllamaServer,
)

__all__ = ["add_arguments", "build_parser", "main", "serve", "server_from_args"]


def build_parser(prog: str = "ollama-wire-server") -> argparse.ArgumentParser:
    """Return the argument parser (the CLI's ``serve`` reuses it)."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Serve the Ollama REST API with a scripted or llama.cpp engine."
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the server's options to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=11434, help="port (0 picks a free one)")
    parser.add_argument(
        "--engine", choices=("scripted", "llama"), default="scripted", help="model backend"
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME",
        help="model to have pulled at start (repeatable; default: none)",
    )
    parser.add_argument(
        "--token-rate",
        type=float,
        default=None,
        metavar="TPS",
        help="scripted engine: tokens per second (0 = as fast as possible)",
    )
    parser.add_argument(
        "--tool-placement",
        choices=("chunk", "final"),
        default=None,
        help="scripted engine: put tool calls on a done:false chunk or on the final chunk",
    )
    parser.add_argument(
        "--num-thread",
        type=_positive_int,
        default=None,
        metavar="N",
        help="llama engine: CPU threads per model (default: 2, at most one per core); a "
        "request's options.num_thread still wins. More threads help only on idle cores: "
        "llama.cpp's threads spin while they wait for each other, so where a busy client "
        "shares the cores (a test run on 2 cores), fewer threads stream faster",
    )
    parser.add_argument("--num-parallel", type=int, default=1, help="requests per model at once")
    parser.add_argument("--max-queue", type=int, default=512, help="queued requests before 503")
    parser.add_argument(
        "--keep-alive", default="5m", help="default keep_alive: a Go duration or seconds"
    )
    parser.add_argument("--version-string", default=DEFAULT_VERSION, help="/api/version value")
    parser.add_argument(
        "--origins",
        default="",
        metavar="LIST",
        help="extra allowed CORS origins, comma-separated, * wildcards (like OLLAMA_ORIGINS)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=DEFAULT_MAX_CONNECTIONS,
        metavar="N",
        help=f"open connections before new ones get 503 (default: {DEFAULT_MAX_CONNECTIONS})",
    )
    parser.add_argument(
        "--max-body",
        type=int,
        default=DEFAULT_MAX_BODY,
        metavar="BYTES",
        help=f"largest request body before 413, blobs excepted (default: {DEFAULT_MAX_BODY})",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log each request")


_SECONDS = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def server_from_args(args: argparse.Namespace) -> OllamaServer:
    """Build (but do not start) a server from parsed arguments."""
    options: dict[str, Any] = {}
    if args.engine == "scripted":
        if args.token_rate is not None:
            options["tokens_per_second"] = args.token_rate
        if args.tool_placement is not None:
            options["tool_placement"] = args.tool_placement
    if args.engine == "llama" and args.num_thread is not None:
        options["num_thread"] = args.num_thread
    keep: str | float = args.keep_alive
    # Like OLLAMA_KEEP_ALIVE, a plain number means seconds ("nan" and "1e3" are not numbers).
    if _SECONDS.fullmatch(args.keep_alive):
        keep = float(args.keep_alive)
    return OllamaServer(
        args.host,
        args.port,
        engine=args.engine,
        engine_options=options,
        models=args.model,
        num_parallel=args.num_parallel,
        max_queue=args.max_queue,
        keep_alive=keep,
        version=args.version_string,
        verbose=args.verbose,
        origins=[o.strip() for o in args.origins.split(",") if o.strip()],
        max_connections=args.max_connections,
        max_body=args.max_body,
    )


def serve(server: OllamaServer) -> int:
    """Run ``server`` in the foreground until SIGINT or SIGTERM; return an exit code."""

    def _stop(signum: int, frame: object) -> None:
        server.stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    failed: OSError | None = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            server.start()
        except OSError as exc:
            failed = exc
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr, flush=True)
    if failed is not None:
        print(f"error: cannot listen on {server.host}:{server.port}: {failed}", file=sys.stderr)
        return 1
    print(f"ollama-wire server ({server.engine.name} engine) listening on {server.url}", flush=True)
    try:
        server.stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and serve."""
    args = build_parser().parse_args(argv)
    try:
        server = server_from_args(args)
    except (ValueError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return serve(server)


if __name__ == "__main__":
    sys.exit(main())
