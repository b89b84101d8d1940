"""Show model output as it arrives, and the statistics after it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from ollama_wire.cli._context import Context
from ollama_wire.cli._render import field, human_duration

NS = 1e9


class TextPrinter:
    """Print answer text as it streams; thinking goes dim on a terminal, to stderr otherwise."""

    def __init__(self, ctx: Context, *, quiet: bool = False) -> None:
        self.ctx = ctx
        self.quiet = quiet
        self.text: list[str] = []
        self.thinking: list[str] = []
        self._in_thinking = False
        self._last = "\n"

    def feed(self, text: str, thinking: str = "") -> None:
        """Show one piece of output."""
        if thinking:
            self.thinking.append(thinking)
            if not self.quiet:
                self._think(thinking)
        if text:
            self.text.append(text)
            if not self.quiet:
                self._end_thinking()
                self._write(text)

    def end(self) -> None:
        """Finish the output with a newline (also after a failure, keeping what arrived)."""
        if self.quiet:
            return
        try:
            self._end_thinking()
            if self._last != "\n":
                self._write("\n")
                self.ctx.ended_line(self.ctx.stdout)
        except BrokenPipeError:
            pass  # the reader is gone; the caller's own error says why we are here

    def _think(self, thinking: str) -> None:
        ctx = self.ctx
        if ctx.out_tty:
            if not self._in_thinking:
                self._write(ctx.style("Thinking...", "dim") + "\n")
                self._in_thinking = True
            self._write(ctx.style(thinking, "dim"))
        else:
            ctx.stderr.write(thinking)
            ctx.stderr.flush()
            self._in_thinking = True

    def _end_thinking(self) -> None:
        if not self._in_thinking:
            return
        self._in_thinking = False
        if self.ctx.out_tty:
            self._write(self.ctx.style("\n...done thinking.", "dim") + "\n\n")
            self.ctx.ended_line(self.ctx.stdout)
        else:
            self.ctx.stderr.write("\n")
            self.ctx.stderr.flush()
            self.ctx.ended_line(self.ctx.stderr)

    def _write(self, text: str) -> None:
        self.ctx.stdout.write(text)
        self.ctx.stdout.flush()
        self._last = text[-1]


@contextlib.contextmanager
def closing(stream: Iterable[Any]) -> Iterator[Iterable[Any]]:
    """Close a response stream however the block ends (Ctrl-C included): the server stops."""
    try:
        yield stream
    finally:
        close = getattr(stream, "close", None)
        if callable(close):
            close()


def rate(count: Any, duration_ns: Any) -> float | None:
    """Return tokens per second, or None when the server did not say."""
    if not count or not duration_ns:
        return None
    return float(count) * NS / float(duration_ns)


def stats_lines(final: Any) -> list[str]:
    """Describe a final response's metrics the way `ollama run --verbose` does."""
    lines = []

    def seconds(name: str) -> float | None:
        value = field(final, name)
        return float(value) / NS if value else None

    total, load = seconds("total_duration"), seconds("load_duration")
    if total is not None:
        lines.append(f"total duration:       {human_duration(total)}")
    if load is not None:
        lines.append(f"load duration:        {human_duration(load)}")
    for prefix, label in (("prompt_eval", "prompt eval"), ("eval", "eval")):
        count = field(final, f"{prefix}_count")
        duration = field(final, f"{prefix}_duration")
        if count is not None:
            lines.append(f"{label + ' count:':<22}{count} token(s)")
        if duration:
            lines.append(f"{label + ' duration:':<22}{human_duration(duration / NS)}")
        speed = rate(count, duration)
        if speed is not None:
            lines.append(f"{label + ' rate:':<22}{speed:.2f} tokens/s")
    return lines or ["no statistics in the response"]


def print_stats(ctx: Context, final: Any) -> None:
    """Write the statistics on stderr, keeping stdout for the answer."""
    for line in stats_lines(final):
        ctx.stderr.write(line + "\n")
    ctx.stderr.flush()
