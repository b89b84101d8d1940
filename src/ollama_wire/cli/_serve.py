"""`ollama-wire serve`: the project's server, with the server's own options."""

from __future__ import annotations

import os

from ollama_wire.cli._autoserve import ENGINE_ENV, LLAMA_MODEL, SCRIPTED_EMBED_MODEL, default_engine
from ollama_wire.cli._context import Context

#: Pulled at start unless `--model` is given, so that `verify` just works.
START_MODELS = {"scripted": (LLAMA_MODEL, SCRIPTED_EMBED_MODEL), "llama": (LLAMA_MODEL,)}


def _given(words: list[str], *flags: str) -> bool:
    return any(w in flags or w.split("=", 1)[0] in flags for w in words)


def _bind_address(text: str) -> tuple[str, str | None]:
    """Split an OLLAMA_HOST-style value into a bind host and port (`0.0.0.0:11434`)."""
    text = text.split("://", 1)[-1].split("/", 1)[0]
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, rest.lstrip(":") or None
    host, sep, port = text.rpartition(":")
    return (host, port) if sep else (text, None)


def run_serve(ctx: Context) -> int:
    """Run the server in the foreground until Ctrl-C."""
    from ollama_wire.server.__main__ import build_parser, serve, server_from_args

    words = list(ctx.args.server_args)
    help_only = _given(words, "-h", "--help")
    if not help_only and not _given(words, "--engine"):
        engine = default_engine()
        words = ["--engine", engine, *words]
        why = ("" if engine == "llama" or os.environ.get(ENGINE_ENV) else
               " (no llama.cpp engine: pip install 'ollama-wire[local]')")
        ctx.note(f"engine: {engine}{why}")
    # Like `ollama serve`, bind where the client would dial: --host, else OLLAMA_HOST.
    bind = ctx.host or os.environ.get("OLLAMA_HOST")
    if bind and not help_only and not _given(words, "--host", "--port"):
        host, port = _bind_address(bind)
        words = [*(["--host", host] if host else []), *(["--port", port] if port else []),
                 *words]
    args = build_parser("ollama-wire serve").parse_args(words)
    if not args.model:
        args.model = list(START_MODELS[args.engine])
        ctx.note(f"models: {', '.join(args.model)} (pass --model NAME to choose)")
    try:
        server = server_from_args(args)
    except (ValueError, ImportError) as exc:
        ctx.stderr.write(f"error: {exc}\n")
        return 2
    return serve(server)
