"""Go-flavoured wire details: timestamps, durations, model names, JSON errors."""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import math
import re
import time
from dataclasses import dataclass
from typing import Any

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
FOREVER_NS = 2**63 - 1

_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,79}$")
_HOST = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,349}$")


@dataclass(frozen=True)
class ModelName:
    """A parsed ``[[scheme://]host/][namespace/]model[:tag]`` name.

    ``scheme`` is what the name spelled (``http`` or ``https``), or empty: it says how to reach
    the registry and is no part of the model's identity.
    """

    host: str
    namespace: str
    model: str
    tag: str
    scheme: str = ""

    @property
    def key(self) -> str:
        """Return the case-insensitive identity of the name."""
        return self.full.lower()

    @property
    def full(self) -> str:
        """Return ``host/namespace/model:tag``."""
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"

    @property
    def display(self) -> str:
        """Return the shortest form, as ``/api/tags`` shows it."""
        if self.host.lower() == DEFAULT_HOST:
            if self.namespace.lower() == DEFAULT_NAMESPACE:
                return f"{self.model}:{self.tag}"
            return f"{self.namespace}/{self.model}:{self.tag}"
        return self.full


def parse_name(raw: str) -> ModelName | None:
    """Parse a model name the way Ollama does, or return None if it is invalid."""
    if not raw or raw != raw.strip():
        return None
    rest = raw.split("@", 1)[0]
    tag = DEFAULT_TAG
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
    scheme, sep, after = rest.partition("://")
    if not sep:
        scheme, after = "", rest
    parts = after.split("/")
    # Only a name with a host may say how to reach it: ``http://host/namespace/model``.
    if len(parts) > 3 or (sep and len(parts) != 3):
        return None
    model = parts[-1]
    namespace = parts[-2] if len(parts) >= 2 else DEFAULT_NAMESPACE
    host = parts[-3] if len(parts) == 3 else DEFAULT_HOST
    if not (_PART.match(model) and _PART.match(tag) and _NAMESPACE.match(namespace)):
        return None
    if not _HOST.match(host) or scheme not in ("", "http", "https"):
        return None
    return ModelName(host, namespace, model, tag, scheme)


def go_float(value: float) -> str:
    """Format ``value`` as Go's ``%v`` prints a float64: ``0.8``, ``1``, ``1e+06``, ``1e-05``.

    Go decodes every JSON number into a float64, so Ollama prints integers this way too.
    """
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    sign, digits, exponent = decimal.Decimal(repr(float(value))).as_tuple()
    assert isinstance(exponent, int)  # finite: never "n" or "F"
    text = "".join(map(str, digits)).rstrip("0") or "0"
    point = len(digits) + exponent  # where the decimal point goes in ``text``
    exp = point - 1
    neg = "-" if sign else ""
    if text == "0":
        return f"{neg}0"
    if exp < -4 or exp >= 6:  # Go's shortest %g switches to an exponent here
        rest = f".{text[1:]}" if len(text) > 1 else ""
        return f"{neg}{text[0]}{rest}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{neg}0.{'0' * -point}{text}"
    whole, frac = text[:point].ljust(point, "0"), text[point:]
    return f"{neg}{whole}.{frac}" if frac else f"{neg}{whole}"


def go_value(value: Any) -> str:
    """Format a JSON value as Go's ``%v`` prints it once decoded into ``any``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return go_float(value)
    if value is None:
        return "<nil>"
    return str(value)


def go_syntax(value: Any) -> str:
    """Format a JSON value as Go's ``%#v`` prints it once decoded into ``any``."""
    if isinstance(value, str):
        return go_string_literal(value)
    if value is None:
        return "interface {}(nil)"
    return go_value(value)


def go_string_literal(text: str) -> str:
    """Quote ``text`` as Go's ``strconv.Quote`` does (printable Unicode is kept as it is)."""
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in _CONTROL:
            out.append(_CONTROL[ch])
        elif ch.isprintable() and not 0xD800 <= code <= 0xDFFF:
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


_CONTROL = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _fraction(ns: int) -> str:
    frac = f"{ns % 1_000_000_000:09d}".rstrip("0")
    return f".{frac}" if frac else ""


def utc_timestamp(ns: int | None = None) -> str:
    """Format ``ns`` (default now) as Go's RFC 3339 UTC time, trailing zeros trimmed."""
    ns = time.time_ns() if ns is None else ns
    t = _dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=_dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + _fraction(ns) + "Z"


def local_timestamp(ns: int | None = None) -> str:
    """Format ``ns`` (default now) as Go's RFC 3339 local time with an offset."""
    ns = time.time_ns() if ns is None else ns
    seconds = ns // 1_000_000_000
    try:
        t = _dt.datetime.fromtimestamp(seconds).astimezone()
    except (OverflowError, OSError, ValueError):
        t = _dt.datetime.fromtimestamp(0, tz=_dt.timezone.utc) + _dt.timedelta(seconds=seconds)
    offset = t.utcoffset() or _dt.timedelta(0)
    if offset == _dt.timedelta(0):
        suffix = "Z"
    else:
        total = int(offset.total_seconds())
        sign = "+" if total >= 0 else "-"
        total = abs(total)
        suffix = f"{sign}{total // 3600:02d}:{total % 3600 // 60:02d}"
    return t.strftime("%Y-%m-%dT%H:%M:%S") + _fraction(ns) + suffix


_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DIGITS = re.compile(r"[0-9]*")
_UNIT = re.compile(r"[^0-9.]*")


def go_quote(text: str) -> str:
    """Quote ``text`` as Go's time package does in its errors (non-ASCII bytes as ``\\xNN``)."""
    out: list[str] = []
    for ch in text:
        if ch < " " or ord(ch) >= 0x80:
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
        elif ch in '"\\':
            out.append("\\" + ch)
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def parse_go_duration(text: str) -> int:
    """Parse a Go ``time.ParseDuration`` string into nanoseconds; raise ValueError like Go.

    ``"1h30m"``, ``".5s"``, ``"-2m"``, ``"0"`` parse; ``""``, ``"."``, ``"300"`` (no unit),
    ``"1x"`` (unknown unit) and values past the int64 range do not.
    """
    invalid = ValueError(f"time: invalid duration {go_quote(text)}")
    rest = text
    negative = False
    if rest[:1] in ("+", "-"):
        negative = rest[0] == "-"
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise invalid
    limit = 1 << 63
    total = 0
    while rest:
        if not (rest[0] == "." or (rest[0].isascii() and rest[0].isdigit())):
            raise invalid
        whole = _DIGITS.match(rest)
        assert whole is not None
        digits = whole.group()
        rest = rest[len(digits) :]
        value = int(digits) if digits else 0
        if value > limit:
            raise invalid
        fraction = ""
        if rest[:1] == ".":
            frac = _DIGITS.match(rest, 1)
            assert frac is not None
            fraction = frac.group()
            rest = rest[1 + len(fraction) :]
        elif not digits:
            raise invalid
        if not digits and not fraction:
            raise invalid
        unit_match = _UNIT.match(rest)
        assert unit_match is not None
        unit = unit_match.group()
        if not unit:
            raise ValueError(f"time: missing unit in duration {go_quote(text)}")
        rest = rest[len(unit) :]
        if unit not in _UNITS:
            raise ValueError(f"time: unknown unit {go_quote(unit)} in duration {go_quote(text)}")
        scale = _UNITS[unit]
        if value > limit // scale:
            raise invalid
        value *= scale
        # Go reads the fraction's digits while they fit and scales them with a float64.
        numerator, places = 0, 0
        for ch in fraction:
            if numerator > (limit - 1) // 10 or numerator * 10 + int(ch) > limit:
                break
            numerator, places = numerator * 10 + int(ch), places + 1
        if numerator:
            value += int(float(numerator) * (float(scale) / float(10**places)))
            if value > limit:
                raise invalid
        total += value
        if total > limit:
            raise invalid
    if negative:
        return -total
    if total > limit - 1:
        raise invalid
    return total


def go_type_name(value: Any) -> str:
    """Name a JSON value's kind the way Go's decoder errors do."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


class _GoSyntaxError(ValueError):
    """A JSON extension Python reads and Go does not."""


def _no_constants(name: str) -> Any:
    # Python reads NaN, Infinity and -Infinity; Go stops at their first letter.
    if name.startswith("-"):
        raise _GoSyntaxError("invalid character 'I' in numeric literal")
    raise _GoSyntaxError(f"invalid character '{name[0]}' looking for beginning of value")


def go_json_error(body: bytes) -> str | None:
    """Return Go's ``encoding/json`` message for an unparsable body, or None if it parses."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid character '\\ufffd' looking for beginning of value"
    try:
        json.loads(text, parse_constant=_no_constants)
    except _GoSyntaxError as exc:
        return str(exc)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()):
            return "unexpected EOF"
        ch = text[exc.pos]
        shown = ch if ch.isprintable() and ch != "'" else repr(ch)[1:-1]
        if exc.msg.startswith("Expecting value"):
            return f"invalid character '{shown}' looking for beginning of value"
        if exc.msg.startswith("Extra data"):
            return f"invalid character '{shown}' after top-level value"
        if "property name" in exc.msg:
            return f"invalid character '{shown}' looking for beginning of object key string"
        if "delimiter" in exc.msg:
            return f"invalid character '{shown}' after object key:value pair"
        return f"invalid character '{shown}' in literal"
    return None
