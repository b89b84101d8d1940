"""Terminal output: colour, JSON, tables and human-readable numbers."""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
ELLIPSIS = "\u2026"
BLOCK = "\u2588"
_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}


def color_enabled(stream: IO[str]) -> bool:
    """Return whether to colour `stream`: a terminal, and NO_COLOR unset or empty."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    return is_tty(stream)


def encodes(stream: IO[str], text: str) -> bool:
    """Return whether `stream` can write `text`: not in an ASCII or Latin-1 locale, say."""
    try:
        text.encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def tolerate_encoding(stream: IO[str]) -> None:
    """Let `stream` write what its encoding lacks as `?` instead of failing mid-output."""
    reconfigure = getattr(stream, "reconfigure", None)
    if callable(reconfigure) and not encodes(stream, ELLIPSIS + BLOCK):
        try:
            reconfigure(errors="replace")
        except (ValueError, OSError):
            pass


def ellipsis(stream: IO[str]) -> str:
    """Return the ellipsis `stream` can show."""
    return ELLIPSIS if encodes(stream, ELLIPSIS) else "..."


def is_tty(stream: IO[str]) -> bool:
    """Return whether `stream` is a terminal, treating odd file objects as not."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Style:
    """Wrap text in ANSI styles, or pass it through when colour is off."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, *styles: str) -> str:
        if not self.enabled or not styles or not text:
            return text
        codes = ";".join(_CODES[s] for s in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"


def to_jsonable(value: Any) -> Any:
    """Turn a response object (attribute or mapping access) into plain JSON data."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (bytes, bytearray)):
        import base64

        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    for name in ("to_dict", "model_dump"):
        method = getattr(value, name, None)
        if callable(method):
            return to_jsonable(method())
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "keys") and hasattr(value, "__getitem__"):
        return {str(k): to_jsonable(value[k]) for k in value.keys()}  # noqa: SIM118
    if hasattr(value, "__dict__"):
        return {k: to_jsonable(v) for k, v in vars(value).items() if not k.startswith("_")}
    return str(value)


def dump_json(value: Any, stream: IO[str]) -> None:
    """Write `value` as one compact JSON line and flush."""
    # Escaped when the locale cannot show every character: JSON must stay exact.
    data = to_jsonable(value)
    text = json.dumps(data, ensure_ascii=False)
    if not encodes(stream, text):
        text = json.dumps(data)
    stream.write(text + "\n")
    stream.flush()


def field(obj: Any, name: str, default: Any = None) -> Any:
    """Read `name` from a response object or a mapping, `default` when absent."""
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        value = obj.get(name, default)
    else:
        try:
            value = getattr(obj, name)
        except AttributeError:
            try:
                value = obj[name]
            except (KeyError, TypeError, IndexError):
                return default
    return default if value is None else value


def human_bytes(n: float | None) -> str:
    """Format a byte count the way Ollama does (decimal units): `2.0 GB`."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            if unit == "B":
                return f"{int(value)} B"
            # Like Ollama's format.HumanBytes: whole units from 10 up (`45 MB`, `2.0 GB`).
            return f"{value:.1f} {unit}" if value < 10 else f"{int(value)} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover - the loop always returns


def human_duration(seconds: float | None) -> str:
    """Format seconds as `850ms`, `4.2s`, `3m05s` or `1h02m`."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def parse_time(value: Any) -> _dt.datetime | None:
    """Parse an RFC 3339 timestamp with up to 9 fractional digits (Go's format)."""
    from ollama_wire._types import parse_datetime

    parsed = parse_datetime(value)
    return parsed if isinstance(parsed, _dt.datetime) else None


def human_since(value: Any, now: _dt.datetime | None = None) -> str:
    """Format a timestamp relative to now: `3 minutes ago`, `in 4 minutes`, `Forever`."""
    when = parse_time(value)
    if when is None:
        return "-"
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    now = now or _dt.datetime.now(_dt.timezone.utc)
    delta = (when - now).total_seconds()
    if delta > 100 * 365 * 86400:
        return "Forever"
    future = delta > 0
    seconds = abs(delta)
    for size, name in ((86400 * 365, "year"), (86400 * 30, "month"), (86400 * 7, "week"),
                       (86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = int(seconds // size)
            unit = name
            break
    else:
        return "in a few seconds" if future else "just now"
    text = f"{count} {unit}{'s' if count != 1 else ''}"
    return f"in {text}" if future else f"{text} ago"


def visible_len(text: str) -> int:
    """Return the width of `text` on screen, ignoring colour codes."""
    return len(_ANSI.sub("", text))


def table(rows: Sequence[Sequence[str]], header: Sequence[str], stream: IO[str],
          style: Style | None = None) -> None:
    """Write left-aligned columns separated by at least three spaces."""
    all_rows = [list(header), *[list(r) for r in rows]]
    widths = [max(visible_len(r[i]) for r in all_rows) for i in range(len(header))]
    for index, row in enumerate(all_rows):
        cells = [cell + " " * (widths[i] - visible_len(cell)) for i, cell in enumerate(row)]
        line = "   ".join(cells).rstrip()
        if index == 0 and style is not None:
            line = style(line, "bold")
        stream.write(line + "\n")


def write_lines(lines: Iterable[str], stream: IO[str] | None = None) -> None:
    """Write each line followed by a newline."""
    out = stream or sys.stdout
    for line in lines:
        out.write(line + "\n")
