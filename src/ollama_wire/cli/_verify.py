"""`ollama-wire verify`: generate, stream, a two-turn chat and embed, checked end to end."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ollama_wire.cli._context import Context
from ollama_wire.cli._render import ELLIPSIS, ellipsis, field, human_duration, table
from ollama_wire.cli._textout import closing, rate

if TYPE_CHECKING:
    from ollama_wire import Client

NUM_PREDICT = 24  # keeps every check well under a second on a small CPU model
UNIT_NORM_TOLERANCE = 1e-3
PROMPT = "Why is the sky blue? Answer in one sentence."
SECRET = "Zanzibar"
CHAT_TURNS = (f"Remember this code word: {SECRET}. Reply with just OK.",
              "What was the code word I gave you? Reply with the word only.")
EMBED_TEXTS = ("The cat sat on the mat.", "A kitten sat on a rug.")


@dataclass
class Check:
    """One row of the verify table."""

    name: str
    ok: bool | None  # None: skipped
    seconds: float | None = None
    tokens_per_second: float | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """Return the row as JSON data."""
        return {"check": self.name, "ok": self.ok, "skipped": self.ok is None,
                "seconds": None if self.seconds is None else round(self.seconds, 4),
                "tokens_per_second": None if self.tokens_per_second is None
                else round(self.tokens_per_second, 2),
                "detail": self.detail}


class Failed(Exception):
    """A check's assertion failed; the message is the table's detail."""


def _timed(name: str, body: Callable[[], tuple[float | None, str]],
           describe: Callable[[BaseException], str]) -> Check:
    started = time.perf_counter()
    try:
        speed, detail = body()
    except Failed as exc:
        return Check(name, False, time.perf_counter() - started, None, str(exc))
    except Exception as exc:
        return Check(name, False, time.perf_counter() - started, None, describe(exc))
    return Check(name, True, time.perf_counter() - started, speed, detail)


def _clip(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


class Verifier:
    """Run the checks against one client."""

    def __init__(self, client: Client, model: str, embed_model: str) -> None:
        self.client = client
        self.model = model
        self.embed_model = embed_model
        self.options = {"num_predict": NUM_PREDICT, "temperature": 0}

    def generate(self) -> tuple[float | None, str]:
        """Check a plain generate returns non-empty text."""
        response = self.client.generate(self.model, PROMPT, options=self.options)
        text = str(field(response, "response", ""))
        if not text.strip():
            raise Failed("the response text is empty")
        count = field(response, "eval_count", 0)
        return rate(count, field(response, "eval_duration")), f"{count} tokens: {_clip(text)!r}"

    def stream(self) -> tuple[float | None, str]:
        """Check a streamed generate arrives in more than one chunk and ends with done."""
        chunks = 0
        parts: list[str] = []
        final: Any = None
        with closing(self.client.generate(self.model, PROMPT, options=self.options,
                                          stream=True)) as stream:
            for chunk in stream:
                piece = field(chunk, "response", "")
                if piece:
                    chunks += 1
                    parts.append(piece)
                final = chunk
        if chunks < 2:
            raise Failed(f"expected the text in more than one chunk, got {chunks}")
        if not field(final, "done", False):
            raise Failed("the stream ended without a done chunk")
        speed = rate(field(final, "eval_count"), field(final, "eval_duration"))
        return speed, f"{chunks} chunks, done_reason {field(final, 'done_reason', '-')}"

    def chat(self) -> tuple[float | None, str]:
        """Check a second chat turn sees the first (the reply names it, or its prompt grew)."""
        messages: list[dict[str, Any]] = [{"role": "user", "content": CHAT_TURNS[0]}]
        first = self.client.chat(self.model, messages, options=self.options)
        first_reply = str(field(field(first, "message"), "content", ""))
        if not first_reply.strip():
            raise Failed("the first reply is empty")
        messages += [{"role": "assistant", "content": first_reply},
                     {"role": "user", "content": CHAT_TURNS[1]}]
        second = self.client.chat(self.model, messages, options=self.options)
        reply = str(field(field(second, "message"), "content", ""))
        if not reply.strip():
            raise Failed("the second reply is empty")
        speed = rate(field(second, "eval_count"), field(second, "eval_duration"))
        if SECRET.lower() in reply.lower():
            return speed, f"turn 2 named the code word: {_clip(reply, 30)!r}"
        before = field(first, "prompt_eval_count", 0) or 0
        after = field(second, "prompt_eval_count", 0) or 0
        if after > before:
            return speed, f"turn 2 prompt carried turn 1 ({after} > {before} prompt tokens)"
        raise Failed(f"turn 2 shows no sign of turn 1 (prompt {after} <= {before} tokens, "
                     f"reply {_clip(reply, 30)!r})")

    def embed(self) -> tuple[float | None, str]:
        """Check embed returns one unit-norm vector per input, of equal width."""
        response = self.client.embed(self.embed_model, list(EMBED_TEXTS))
        vectors = [list(v) for v in field(response, "embeddings", [])]
        if len(vectors) != len(EMBED_TEXTS):
            raise Failed(f"expected {len(EMBED_TEXTS)} vectors, got {len(vectors)}")
        dims = {len(v) for v in vectors}
        if len(dims) != 1 or 0 in dims:
            raise Failed(f"vector widths {sorted(dims)}: expected one width > 0")
        norms = [math.sqrt(sum(x * x for x in v)) for v in vectors]
        if any(abs(n - 1) > UNIT_NORM_TOLERANCE for n in norms):
            raise Failed("vectors are not unit norm: " + ", ".join(f"{n:.4f}" for n in norms))
        cosine = sum(a * b for a, b in zip(*vectors, strict=True))
        speed = rate(field(response, "prompt_eval_count"), field(response, "total_duration"))
        return speed, f"{len(vectors)} x {dims.pop()} dims, unit norm, cosine {cosine:.2f}"


def _pull_hint(model: str) -> str:
    return f"model {model!r} not found: run `ollama pull {model}` (or `ollama-wire pull {model}`)"


def run_checks(client: Client, host: str, model: str, embed_model: str,
               served_by: str) -> list[Check]:
    """Run the checks in order; a missing model fails the checks that need it, naming the fix."""
    from ollama_wire.cli._run import describe

    checks: list[Check] = []
    started = time.perf_counter()
    try:
        version = field(client.version(), "version", "?")
    except Exception as exc:
        checks.append(Check("server", False, time.perf_counter() - started, None, describe(exc)))
        checks += [Check(n, None, detail="skipped: no server")
                   for n in ("generate", "stream", "chat", "embed")]
        return checks
    who = f"{served_by}, " if served_by else ""
    checks.append(Check("server", True, time.perf_counter() - started, None,
                        f"{who}version {version} at {host}"))
    available = {}
    for name in dict.fromkeys((model, embed_model)):
        available[name] = _has_model(client, name, describe)
    verifier = Verifier(client, model, embed_model)
    for name, body, needs in (("generate", verifier.generate, model),
                              ("stream", verifier.stream, model),
                              ("chat", verifier.chat, model),
                              ("embed", verifier.embed, embed_model)):
        problem = available[needs]
        if problem:
            checks.append(Check(name, False, None, None, problem))
        else:
            checks.append(_timed(name, body, describe))
    return checks


def _has_model(client: Client, model: str, describe: Callable[[BaseException], str]) -> str:
    """Return '' when the server has `model`, else what to do about it."""
    from ollama_wire._errors import NotFoundError

    try:
        client.show(model)
    except NotFoundError:
        return _pull_hint(model)
    except Exception as exc:
        return describe(exc)
    return ""


def _print_table(ctx: Context, checks: list[Check]) -> None:
    style = ctx.style
    rows = []
    for check in checks:
        if check.ok is None:
            result = style("skip", "yellow")
        else:
            result = style("pass", "green") if check.ok else style("FAIL", "bold", "red")
        rows.append([check.name, result,
                     human_duration(check.seconds),
                     "-" if check.tokens_per_second is None else f"{check.tokens_per_second:.1f}",
                     check.detail.replace(ELLIPSIS, ellipsis(ctx.stdout))])
    table(rows, ["CHECK", "RESULT", "TIME", "TOKENS/S", "DETAIL"], ctx.stdout, style)


def run_verify(ctx: Context) -> int:
    """Run the checks, print the table, and exit 0 only if all pass."""
    from ollama_wire.cli import _autoserve

    args = ctx.args
    served = None
    engine = None
    if args.auto_serve and not _autoserve.answers(ctx):
        engine = _autoserve.default_engine()
    default_model, default_embed = _autoserve.defaults(engine)
    model = args.model or default_model
    embed_model = args.embed_model or (model if engine == "llama" else default_embed)
    if engine is not None:
        served = _autoserve.start(ctx, [model, embed_model])
    try:
        if served is not None:
            client, host, served_by = served.client(ctx), served.url, served.description
        else:
            client, host, served_by = ctx.client(), _autoserve.client_host(ctx), ""
        checks = run_checks(client, host, model, embed_model, served_by)
    finally:
        if served is not None:
            served.stop()
    ok = all(c.ok for c in checks)
    if ctx.json:
        ctx.emit_json({"ok": ok, "host": host, "served_by": served_by or None, "model": model,
                       "embed_model": embed_model, "checks": [c.to_json() for c in checks]})
    else:
        _print_table(ctx, checks)
        failed = sum(1 for c in checks if c.ok is False)
        skipped = sum(1 for c in checks if c.ok is None)
        summary = (ctx.style(f"all {len(checks)} checks passed", "green") if ok else
                   ctx.style(f"{failed} of {len(checks)} checks failed"
                             + (f", {skipped} skipped" if skipped else ""), "bold", "red"))
        ctx.stdout.write(f"\n{summary} (model {model}, embed model {embed_model})\n")
    return 0 if ok else 1
