"""Progress for pull, push and create: per-layer bars on a terminal, plain lines otherwise."""

from __future__ import annotations

import collections
import io
import os
import time
from collections.abc import Callable
from typing import IO, Any

from ollama_wire.cli._render import encodes, field, human_bytes, human_duration

BAR_WIDTH = 25
REDRAW_INTERVAL = 0.1  # seconds between terminal redraws; final states always draw
SPEED_WINDOW = 5.0  # seconds of samples behind the speed and ETA estimate
PLAIN_STEP = 10  # percent between plain progress lines
BAR_GLYPHS = ("\u2588", "\u2595", "\u258f")  # fill, left edge, right edge, as Ollama draws them
ASCII_BAR_GLYPHS = ("#", "[", "]")  # where the locale has no block characters


def _columns(stream: IO[str]) -> int | None:
    try:
        return os.get_terminal_size(stream.fileno()).columns or None
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
        return None


class _Layer:
    def __init__(self, status: str) -> None:
        self.status = status
        self.total = 0
        self.completed = 0
        self.samples: collections.deque[tuple[float, int]] = collections.deque()
        self.plain_percent = -1

    def record(self, now: float) -> None:
        self.samples.append((now, self.completed))
        while len(self.samples) > 2 and now - self.samples[0][0] > SPEED_WINDOW:
            self.samples.popleft()

    def speed(self) -> float | None:
        if len(self.samples) < 2:
            return None
        (t0, c0), (t1, c1) = self.samples[0], self.samples[-1]
        if t1 <= t0 or c1 <= c0:
            return None
        return (c1 - c0) / (t1 - t0)

    @property
    def percent(self) -> int:
        if self.total <= 0:
            return 0
        return min(100, int(self.completed * 100 / self.total))


class Progress:
    """Render a stream of progress events (`status`, `digest`, `total`, `completed`)."""

    def __init__(self, stream: IO[str], *, tty: bool,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.tty = tty
        self.clock = clock
        self._lines: list[str | _Layer] = []
        self._layers: dict[str, _Layer] = {}
        self._drawn = 0
        self._last_draw = float("-inf")
        self._glyphs = BAR_GLYPHS if encodes(stream, "".join(BAR_GLYPHS)) else ASCII_BAR_GLYPHS

    def update(self, event: Any) -> None:
        """Take one progress event and show it."""
        status = str(field(event, "status", ""))
        digest = field(event, "digest")
        total = field(event, "total")
        now = self.clock()
        if digest and total:
            layer = self._layers.get(digest)
            if layer is None:
                layer = self._layers[digest] = _Layer(status)
                self._lines.append(layer)
            layer.status = status or layer.status
            layer.total = int(total)
            layer.completed = int(field(event, "completed", 0))
            layer.record(now)
            final = layer.completed >= layer.total
            if self.tty:
                self._redraw(now, force=final)
            else:
                self._plain_layer(layer)
            return
        if not status or (self._lines and self._lines[-1] == status):
            return
        self._lines.append(status)
        if self.tty:
            self._redraw(now, force=True)
        else:
            self.stream.write(status + "\n")
            self.stream.flush()

    def finish(self) -> None:
        """Draw the final state."""
        if self.tty:
            self._redraw(self.clock(), force=True)

    def _plain_layer(self, layer: _Layer) -> None:
        step = layer.percent // PLAIN_STEP * PLAIN_STEP
        if step <= layer.plain_percent:
            return
        layer.plain_percent = step
        self.stream.write(f"{layer.status}: {layer.percent}% "
                          f"({human_bytes(layer.completed)}/{human_bytes(layer.total)})\n")
        self.stream.flush()

    def _redraw(self, now: float, *, force: bool) -> None:
        if not force and now - self._last_draw < REDRAW_INTERVAL:
            return
        self._last_draw = now
        out = []
        if self._drawn:
            out.append(f"\x1b[{self._drawn}F")
        width = _columns(self.stream)
        for line in self._lines:
            text = line if isinstance(line, str) else self._bar(line)
            if width and len(text) >= width:
                text = text[: width - 1]  # a wrapped line would break the cursor-up count
            out.append("\x1b[2K" + text + "\n")
        self._drawn = len(self._lines)
        self.stream.write("".join(out))
        self.stream.flush()

    def _bar(self, layer: _Layer) -> str:
        fill, left, right = self._glyphs
        filled = layer.percent * BAR_WIDTH // 100
        bar = fill * filled + " " * (BAR_WIDTH - filled)
        head = f"{layer.status} {layer.percent:3d}% {left}{bar}{right} "
        if layer.completed >= layer.total:
            return head + human_bytes(layer.total)
        text = head + f"{human_bytes(layer.completed)}/{human_bytes(layer.total)}"
        speed = layer.speed()
        if speed:
            eta = (layer.total - layer.completed) / speed
            text += f"  {human_bytes(speed)}/s  {human_duration(eta)}"
        return text
