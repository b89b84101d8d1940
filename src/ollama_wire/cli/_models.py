"""Model management: list, ps, show, pull, push, create, cp, rm, stop, version."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from ollama_wire.cli._context import Context, UsageError
from ollama_wire.cli._modelfile import parse_modelfile
from ollama_wire.cli._options import parse_pairs
from ollama_wire.cli._progress import Progress
from ollama_wire.cli._render import field, human_bytes, human_since, table, to_jsonable
from ollama_wire.cli._textout import closing


def _short_digest(digest: Any) -> str:
    text = str(digest or "")
    return text.split(":", 1)[-1][:12]


def run_list(ctx: Context) -> int:
    """List local models."""
    response = ctx.client().list()
    if ctx.json:
        ctx.emit_json(response)
        return 0
    rows = [[str(field(m, "model") or field(m, "name", "")), _short_digest(field(m, "digest")),
             human_bytes(field(m, "size")), human_since(field(m, "modified_at"))]
            for m in field(response, "models", [])]
    table(rows, ["NAME", "ID", "SIZE", "MODIFIED"], ctx.stdout, ctx.style)
    return 0


def _processor(model: Any) -> str:
    size = field(model, "size", 0) or 0
    vram = field(model, "size_vram", 0) or 0
    if not size:
        return "-"
    if vram <= 0:
        return "100% CPU"
    if vram >= size:
        return "100% GPU"
    gpu = round(vram * 100 / size)
    return f"{100 - gpu}%/{gpu}% CPU/GPU"


def run_ps(ctx: Context) -> int:
    """List models loaded in memory."""
    response = ctx.client().ps()
    if ctx.json:
        ctx.emit_json(response)
        return 0
    rows = [[str(field(m, "model") or field(m, "name", "")), _short_digest(field(m, "digest")),
             human_bytes(field(m, "size")), _processor(m), str(field(m, "context_length", "-")),
             human_since(field(m, "expires_at"))]
            for m in field(response, "models", [])]
    table(rows, ["NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"], ctx.stdout, ctx.style)
    return 0


def _show(ctx: Context, model: str, verbose: bool) -> Any:
    return ctx.client().show(model, verbose=True if verbose else None)


def run_show(ctx: Context) -> int:
    """Show a model's details, or one part of them."""
    args = ctx.args
    info = _show(ctx, args.model, args.verbose)
    if ctx.json:
        data = to_jsonable(info)
        ctx.emit_json({args.part: data.get(args.part)} if args.part else data)
        return 0
    out = ctx.stdout
    if args.part:
        text = str(field(info, args.part, "") or "")
        out.write(text if text.endswith("\n") or not text else text + "\n")
        return 0
    details = field(info, "details", {})
    model_info = to_jsonable(field(info, "modelinfo") or field(info, "model_info") or {})
    arch = model_info.get("general.architecture") or field(details, "family", "")
    rows = [("architecture", arch),
            ("parameters", field(details, "parameter_size", "")),
            ("context length", model_info.get(f"{arch}.context_length", "")),
            ("embedding length", model_info.get(f"{arch}.embedding_length", "")),
            ("quantization", field(details, "quantization_level", ""))]
    _section(out, ctx, "Model", [(k, str(v)) for k, v in rows if v not in ("", None)])
    capabilities = field(info, "capabilities", []) or []
    if capabilities:
        _section(out, ctx, "Capabilities", [(str(c), "") for c in capabilities])
    parameters = str(field(info, "parameters", "") or "")
    if parameters.strip():
        pairs = []
        for line in parameters.splitlines():
            key, _, value = line.strip().partition(" ")
            pairs.append((key, value.strip()))
        _section(out, ctx, "Parameters", pairs)
    for name, title in (("system", "System"), ("license", "License")):
        text = str(field(info, name, "") or "").strip()
        if text:
            lines = text.splitlines()
            shown = lines if args.verbose else lines[:2]
            if len(shown) < len(lines):
                shown.append("...")
            _section(out, ctx, title, [(line, "") for line in shown])
    if args.verbose and model_info:
        _section(out, ctx, "Metadata", [(k, _short(v)) for k, v in sorted(model_info.items())])
    return 0


def _short(value: Any, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _section(out: Any, ctx: Context, title: str, rows: list[tuple[str, str]]) -> None:
    """Write an `ollama show`-style section: a bold title, then indented key/value rows."""
    out.write(f"  {ctx.style(title, 'bold')}\n")
    width = max((len(k) for k, v in rows if v), default=0)
    for key, value in rows:
        line = f"    {key.ljust(width)}    {value}" if value else f"    {key}"
        out.write(line.rstrip() + "\n")
    out.write("\n")


def _progress(ctx: Context, events: Iterable[Any]) -> Any:
    """Show a progress stream (NDJSON on stdout with --json) and return the last event."""
    # Bars redraw in place with cursor moves, which a dumb terminal cannot do.
    progress = Progress(ctx.stderr, tty=ctx.err_tty and os.environ.get("TERM") != "dumb")
    last: Any = None
    with closing(events) as stream:
        try:
            for event in stream:
                last = event
                if ctx.json:
                    ctx.emit_json(event)
                else:
                    progress.update(event)
        finally:
            if not ctx.json:
                progress.finish()
    return last


def run_pull(ctx: Context) -> int:
    """Pull a model, showing per-layer progress."""
    args = ctx.args
    _progress(ctx, ctx.client().pull(args.model, insecure=args.insecure, stream=True))
    if not ctx.json:
        ctx.stdout.write(f"pulled {args.model}\n")
    return 0


def run_push(ctx: Context) -> int:
    """Push a model, showing per-layer progress."""
    args = ctx.args
    _progress(ctx, ctx.client().push(args.model, insecure=args.insecure, stream=True))
    if not ctx.json:
        ctx.stdout.write(f"pushed {args.model}\n")
    return 0


def create_kwargs(ctx: Context) -> dict[str, Any]:
    """Gather `create` arguments from the Modelfile and the flags (flags win)."""
    args = ctx.args
    kwargs: dict[str, Any] = {}
    if args.file:
        if not os.path.isfile(args.file):
            raise UsageError(f"no such Modelfile: {args.file}")
        with open(args.file, encoding="utf-8") as handle:
            kwargs = parse_modelfile(handle.read(), os.path.dirname(os.path.abspath(args.file)))
    for name in ("from_", "system", "template", "license", "quantize"):
        value = getattr(args, name)
        if value is not None:
            kwargs[name] = value
            if name == "from_":
                kwargs.pop("from_path", None)
    if args.parameters:
        kwargs["parameters"] = {**kwargs.get("parameters", {}),
                                **parse_pairs(args.parameters, "--parameter")}
    if not any(k in kwargs for k in ("from_", "from_path")):
        raise UsageError("say what to build from: --from MODEL, or -f Modelfile with FROM")
    return kwargs


def run_create(ctx: Context) -> int:
    """Create a model, uploading local GGUF files as blobs first."""
    args = ctx.args
    kwargs = create_kwargs(ctx)
    client = ctx.client()
    from_path = kwargs.pop("from_path", None)
    adapter_paths = kwargs.pop("adapter_paths", [])
    if from_path:
        ctx.note(f"uploading {from_path}")
        kwargs["files"] = {os.path.basename(from_path): client.create_blob(from_path)}
    if adapter_paths:
        kwargs["adapters"] = {os.path.basename(p): client.create_blob(p) for p in adapter_paths}
    _progress(ctx, client.create(args.model, stream=True, **kwargs))
    if not ctx.json:
        ctx.stdout.write(f"created {args.model}\n")
    return 0


def run_cp(ctx: Context) -> int:
    """Copy a model."""
    args = ctx.args
    ctx.client().copy(args.source, args.destination)
    if ctx.json:
        ctx.emit_json({"status": "success", "source": args.source,
                       "destination": args.destination})
    else:
        ctx.stdout.write(f"copied '{args.source}' to '{args.destination}'\n")
    return 0


def run_rm(ctx: Context) -> int:
    """Delete models."""
    for model in ctx.args.models:
        ctx.client().delete(model)
        if ctx.json:
            ctx.emit_json({"status": "success", "deleted": model})
        else:
            ctx.stdout.write(f"deleted '{model}'\n")
    return 0


def run_stop(ctx: Context) -> int:
    """Unload models from memory."""
    for model in ctx.args.models:
        ctx.client().unload(model)
        if ctx.json:
            ctx.emit_json({"status": "success", "stopped": model})
        else:
            ctx.stdout.write(f"stopped '{model}'\n")
    return 0


def run_version(ctx: Context) -> int:
    """Print the client and server versions."""
    from ollama_wire import __version__

    client = ctx.client()
    if not ctx.json:
        # First, so that it shows even when no server answers (as `ollama -v` does).
        ctx.stdout.write(f"ollama-wire version {__version__}\n")
        ctx.stdout.flush()
    server = field(client.version(), "version", "unknown")
    host = client.host
    if ctx.json:
        ctx.emit_json({"client": __version__, "server": server, "host": host})
    else:
        ctx.stdout.write(f"server version {server}" + (f" at {host}" if host else "") + "\n")
    return 0
