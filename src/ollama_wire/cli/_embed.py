"""`ollama-wire embed MODEL [TEXT...]`."""

from __future__ import annotations

import math
from typing import Any

from ollama_wire.cli._context import CommandError, Context, UsageError
from ollama_wire.cli._options import parse_keep_alive
from ollama_wire.cli._render import ellipsis, field, is_tty

SHOWN = 4  # values shown at each end of an abbreviated vector


def run_embed(ctx: Context) -> int:
    """Embed the texts and print their vectors."""
    args = ctx.args
    texts = list(args.texts)
    if not texts:
        if is_tty(ctx.stdin):
            raise UsageError("give TEXT arguments, or pipe texts on stdin (one per line)")
        texts = [line.rstrip("\r\n") for line in ctx.stdin if line.strip()]
        if not texts:
            raise UsageError("no text to embed on stdin")
    kwargs: dict[str, Any] = {}
    if args.dimensions:
        kwargs["dimensions"] = args.dimensions
    if args.truncate is not None:
        kwargs["truncate"] = args.truncate
    keep_alive = parse_keep_alive(args.keep_alive)
    if keep_alive is not None:
        kwargs["keep_alive"] = keep_alive
    response = ctx.client().embed(args.model, texts, **kwargs)
    vectors = [list(v) for v in field(response, "embeddings", [])]
    if len(vectors) != len(texts):
        raise CommandError(f"the server returned {len(vectors)} embeddings for {len(texts)} inputs")
    model = field(response, "model", args.model)
    if ctx.json:
        for text, vector in zip(texts, vectors, strict=True):
            ctx.emit_json({"model": model, "input": text, "dimensions": len(vector),
                           "embedding": vector})
        return 0
    dims = sorted({len(v) for v in vectors})
    out = ctx.stdout
    out.write(f"model: {model}   inputs: {len(texts)}   dimensions: "
              f"{', '.join(str(d) for d in dims)}\n")
    for text, vector in zip(texts, vectors, strict=True):
        norm = math.sqrt(sum(x * x for x in vector))
        out.write(f"{ctx.style(repr(_clip(text, ellipsis(out))), 'bold')}  norm {norm:.4f}\n")
        out.write(f"  {format_vector(vector, full=args.full)}\n")
    return 0


def format_vector(vector: list[float], *, full: bool) -> str:
    """Format a vector, abbreviated to its ends unless `full`."""
    if full or len(vector) <= 2 * SHOWN:
        return "[" + ", ".join(f"{x:.6g}" for x in vector) + "]"
    head = ", ".join(f"{x:.6g}" for x in vector[:SHOWN])
    tail = ", ".join(f"{x:.6g}" for x in vector[-SHOWN:])
    return f"[{head}, ... {len(vector) - 2 * SHOWN} more ..., {tail}]"


def _clip(text: str, mark: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - len(mark)] + mark
