"""`ollama-wire generate MODEL [PROMPT...]`."""

from __future__ import annotations

from typing import Any

from ollama_wire.cli._context import Context, UsageError
from ollama_wire.cli._options import model_kwargs, read_images
from ollama_wire.cli._render import field, is_tty, to_jsonable
from ollama_wire.cli._textout import TextPrinter, closing, print_stats


def read_prompt(ctx: Context, words: list[str]) -> str:
    """Join the PROMPT words; no words, or a `-` word, means stdin."""
    if words and "-" not in words:
        return " ".join(words)
    if is_tty(ctx.stdin):
        raise UsageError("give a PROMPT, or pipe one on stdin")
    stdin_text = ctx.stdin.read()
    if not words:
        prompt = stdin_text
    else:
        prompt = " ".join(stdin_text.rstrip("\n") if w == "-" else w for w in words)
    if not prompt.strip():
        raise UsageError("the prompt is empty")
    return prompt


def run_generate(ctx: Context) -> int:
    """Generate a completion and print it as it arrives."""
    args = ctx.args
    prompt = read_prompt(ctx, args.prompt)
    kwargs: dict[str, Any] = model_kwargs(args)
    if args.system is not None:
        kwargs["system"] = args.system
    if args.image:
        kwargs["images"] = read_images(args.image)
    if args.raw:
        kwargs["raw"] = True
    client = ctx.client()
    printer = TextPrinter(ctx, quiet=ctx.json)
    final: Any = None
    try:
        if args.stream:
            with closing(client.generate(args.model, prompt, stream=True, **kwargs)) as stream:
                for chunk in stream:
                    printer.feed(field(chunk, "response", ""), field(chunk, "thinking", ""))
                    final = chunk
        else:
            final = client.generate(args.model, prompt, stream=False, **kwargs)
            printer.feed(field(final, "response", ""), field(final, "thinking", ""))
    finally:
        printer.end()
    if ctx.json:
        result = to_jsonable(final) if final is not None else {}
        result["response"] = "".join(printer.text)
        if printer.thinking:
            result["thinking"] = "".join(printer.thinking)
        ctx.emit_json(result)
    if args.stats and final is not None:
        print_stats(ctx, final)
    return 0
