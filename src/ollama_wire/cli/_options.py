"""Turn command-line values into request arguments, checking them before anything is sent."""

from __future__ import annotations

import argparse
import json
import os
import re
from typing import Any

from ollama_wire.cli._context import UsageError

THINK_LEVELS = ("low", "medium", "high", "max")
_THINK_ON = ("true", "yes", "on", "1")
_THINK_OFF = ("false", "no", "off", "0")
#: Every value `--think` takes; another word after a bare `--think` is not its value.
THINK_WORDS = frozenset((*_THINK_ON, *_THINK_OFF, *THINK_LEVELS))
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)$")
_DURATION = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$")
_LIST_OPTIONS = frozenset({"stop"})  # Ollama rejects a bare string for these


def parse_value(text: str) -> Any:
    """Read a KEY=VALUE value: JSON when it parses (numbers, booleans, lists), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_pairs(pairs: list[str], what: str) -> dict[str, Any]:
    """Parse `KEY=VALUE` words into a dict; `stop` values always become a list."""
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"{what} must look like KEY=VALUE, got {pair!r}")
        value = parse_value(text)
        if key in _LIST_OPTIONS:
            previous = result.get(key, [])
            value = [*previous, *(value if isinstance(value, list) else [text])]
        result[key] = value
    return result


def parse_format(text: str | None) -> str | dict[str, Any] | None:
    """Read `--format`: `json`, inline JSON schema, or the path of a JSON schema file."""
    if text is None:
        return None
    if text.strip().lower() == "json":
        return "json"
    if text.lstrip().startswith("{"):
        source, raw = "the --format value", text
    else:
        if not os.path.isfile(text):
            raise UsageError(f"--format must be 'json' or a JSON schema file; no such file: {text}")
        source = text
        with open(text, encoding="utf-8") as handle:
            raw = handle.read()
    try:
        schema = json.loads(raw)
    except ValueError as exc:
        raise UsageError(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(schema, dict):
        raise UsageError(f"{source} must hold a JSON object (a JSON schema)")
    return schema


def parse_think(text: str | None) -> bool | str | None:
    """Read `--think`: true/false or a level."""
    if text is None:
        return None
    low = text.strip().lower()
    if low in _THINK_ON:
        return True
    if low in _THINK_OFF:
        return False
    if low in THINK_LEVELS:
        return low
    raise UsageError(f"--think takes true, false or one of {', '.join(THINK_LEVELS)}; got {text!r}")


def parse_keep_alive(text: str | None) -> float | int | str | None:
    """Read `--keep-alive`: a bare number is seconds (Ollama rejects it as a string)."""
    if text is None:
        return None
    text = text.strip()
    if _NUMBER.match(text):
        number = float(text)
        return int(number) if number.is_integer() else number
    if not _DURATION.match(text):
        raise UsageError(f"--keep-alive takes seconds or a duration like 30s, 5m, 1h; got {text!r}")
    return text


def read_images(paths: list[str]) -> list[bytes]:
    """Read image files, failing clearly on a missing one."""
    images = []
    for path in paths:
        if not os.path.isfile(path):
            raise UsageError(f"no such image file: {path}")
        with open(path, "rb") as handle:
            images.append(handle.read())
    return images


def model_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Collect the options shared by generate and chat, leaving out what was not given."""
    kwargs: dict[str, Any] = {
        "format": parse_format(args.format),
        "options": parse_pairs(args.options, "-o") or None,
        "think": parse_think(args.think),
        "keep_alive": parse_keep_alive(args.keep_alive),
    }
    return {k: v for k, v in kwargs.items() if v is not None}
