"""Read a Modelfile into `create` arguments."""

from __future__ import annotations

import os
from typing import Any

from ollama_wire.cli._context import UsageError
from ollama_wire.cli._options import parse_value

_FENCE = '"""'
_COMMANDS = ("FROM", "PARAMETER", "SYSTEM", "TEMPLATE", "LICENSE", "MESSAGE", "ADAPTER")
_LIST_PARAMETERS = frozenset({"stop"})


def parse_modelfile(text: str, base_dir: str = ".") -> dict[str, Any]:
    """Parse Modelfile text into `create` keyword arguments.

    FROM and ADAPTER that name an existing file come back under `from_path` and
    `adapter_paths` (the caller uploads them as blobs); everything else maps to a field.
    """
    result: dict[str, Any] = {}
    parameters: dict[str, Any] = {}
    messages: list[dict[str, str]] = []
    licenses: list[str] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        number = index + 1
        line = lines[index].strip()
        index += 1
        if not line or line.startswith("#"):
            continue
        command, _, rest = line.partition(" ")
        command = command.upper()
        if command not in _COMMANDS:
            raise UsageError(f"Modelfile line {number}: unknown instruction {command!r}")
        rest = rest.strip()
        # PARAMETER and MESSAGE take a word (the name, the role) before their value, and the
        # value may be quoted or a multi-line block like any other.
        head = ""
        if command in ("PARAMETER", "MESSAGE"):
            head, _, rest = rest.partition(" ")
            rest = rest.strip()
        if rest.startswith(_FENCE):
            body = rest[len(_FENCE):]
            if body.endswith(_FENCE) and len(body) >= len(_FENCE):
                rest = body[: -len(_FENCE)]
            else:
                parts = [body]
                while index < len(lines) and not lines[index].rstrip().endswith(_FENCE):
                    parts.append(lines[index])
                    index += 1
                if index >= len(lines):
                    raise UsageError(f'Modelfile line {number}: unterminated """ block')
                parts.append(lines[index].rstrip()[: -len(_FENCE)])
                index += 1
                rest = "\n".join(parts)
        elif len(rest) >= 2 and rest[0] == rest[-1] == '"':
            rest = rest[1:-1]
        if command == "PARAMETER" and (not head or not rest):
            raise UsageError(f"Modelfile line {number}: PARAMETER needs a name and a value")
        if not rest and not head and command != "SYSTEM":
            raise UsageError(f"Modelfile line {number}: {command} needs a value")
        if command == "FROM":
            path = os.path.normpath(os.path.join(base_dir, os.path.expanduser(rest)))
            if _looks_like_path(rest) and os.path.isfile(path):
                result["from_path"] = path
            else:
                result["from_"] = rest
        elif command == "ADAPTER":
            path = os.path.normpath(os.path.join(base_dir, os.path.expanduser(rest)))
            if not os.path.isfile(path):
                raise UsageError(f"Modelfile line {number}: no such adapter file: {rest}")
            result.setdefault("adapter_paths", []).append(path)
        elif command == "PARAMETER":
            # Quoted or not, the value is read by the option's type, as Ollama does.
            parsed = parse_value(rest)
            if head in _LIST_PARAMETERS:
                parameters.setdefault(head, []).append(rest)
            else:
                parameters[head] = parsed
        elif command == "MESSAGE":
            if head not in ("system", "user", "assistant"):
                raise UsageError(f"Modelfile line {number}: MESSAGE role must be system, user "
                                 f"or assistant, got {head!r}")
            messages.append({"role": head, "content": rest})
        elif command == "LICENSE":
            licenses.append(rest)
        else:
            result[command.lower()] = rest
    if parameters:
        result["parameters"] = parameters
    if messages:
        result["messages"] = messages
    if licenses:
        result["license"] = licenses[0] if len(licenses) == 1 else licenses
    return result


def _looks_like_path(text: str) -> bool:
    return text.startswith((".", "/", "~")) or text.lower().endswith((".gguf", ".bin"))
