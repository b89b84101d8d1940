"""Request validation with Ollama's status codes and messages."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Collection
from typing import Any

from ollama_wire.server._http import HTTPError
from ollama_wire.server._wire import FOREVER_NS, go_type_name, parse_go_duration

_S = "string"
_B = "bool"
_I = "int"
_MAP = "map[string]interface {}"
_ANY = "any"
_IMAGES = "[]api.ImageData"
_MESSAGES = "[]api.Message"
_TOOLS = "api.Tools"
_INTS = "[]int"
_STRMAP = "map[string]string"

FIELDS: dict[str, dict[str, str]] = {
    "GenerateRequest": {
        "model": _S,
        "prompt": _S,
        "suffix": _S,
        "system": _S,
        "template": _S,
        "context": _INTS,
        "stream": _B,
        "raw": _B,
        "images": _IMAGES,
        "options": _MAP,
        "truncate": _B,
        "shift": _B,
        "logprobs": _B,
        "top_logprobs": _I,
        "_debug_render_only": _B,
        "format": _ANY,
        "keep_alive": _ANY,
        "think": _ANY,
    },
    "ChatRequest": {
        "model": _S,
        "messages": _MESSAGES,
        "tools": _TOOLS,
        "stream": _B,
        "options": _MAP,
        "truncate": _B,
        "shift": _B,
        "logprobs": _B,
        "top_logprobs": _I,
        "_debug_render_only": _B,
        "format": _ANY,
        "keep_alive": _ANY,
        "think": _ANY,
    },
    "EmbedRequest": {
        "model": _S,
        "input": _ANY,
        "truncate": _B,
        "dimensions": _I,
        "keep_alive": _ANY,
        "options": _MAP,
    },
    "EmbeddingRequest": {"model": _S, "prompt": _S, "keep_alive": _ANY, "options": _MAP},
    "ShowRequest": {
        "model": _S,
        "name": _S,
        "system": _S,
        "template": _S,
        "verbose": _B,
        "options": _MAP,
    },
    "PullRequest": {
        "model": _S,
        "name": _S,
        "insecure": _B,
        "username": _S,
        "password": _S,
        "stream": _B,
    },
    "PushRequest": {
        "model": _S,
        "name": _S,
        "insecure": _B,
        "username": _S,
        "password": _S,
        "stream": _B,
    },
    "CreateRequest": {
        "model": _S,
        "name": _S,
        "from": _S,
        "files": _STRMAP,
        "adapters": _STRMAP,
        "template": _S,
        "system": _S,
        "parameters": _MAP,
        "messages": _MESSAGES,
        "quantize": _S,
        "quantization": _S,
        "stream": _B,
        "renderer": _S,
        "parser": _S,
        "requires": _S,
        "remote_host": _S,
        "info": _MAP,
        "license": _ANY,
    },
    "CopyRequest": {"source": _S, "destination": _S},
    "DeleteRequest": {"model": _S, "name": _S},
}

_MESSAGE_FIELDS = {
    "role": _S,
    "content": _S,
    "thinking": _S,
    "images": _IMAGES,
    "tool_name": _S,
    "tool_call_id": _S,
}
# Field names of the nested structs, for matching keys case-insensitively as Go does.
_MESSAGE_NAMES = (*_MESSAGE_FIELDS, "tool_calls")
_TOOL_CALL_NAMES = ("id", "function")
_TOOL_CALL_FUNCTION_NAMES = ("index", "name", "arguments")
_TOOL_NAMES = ("type", "items", "function")
_TOOL_FUNCTION_NAMES = ("name", "description", "parameters")

INT_OPTIONS = frozenset(
    [
        "num_keep",
        "seed",
        "num_predict",
        "top_k",
        "repeat_last_n",
        "num_ctx",
        "num_batch",
        "num_gpu",
        "main_gpu",
        "num_thread",
        "draft_num_predict",
    ]
)
FLOAT_OPTIONS = frozenset(
    [
        "top_p",
        "min_p",
        "typical_p",
        "temperature",
        "repeat_penalty",
        "presence_penalty",
        "frequency_penalty",
    ]
)
BOOL_OPTIONS = frozenset(["use_mmap"])

THINK_LEVELS = ("high", "medium", "low", "max")


def _unmarshal(value: Any, struct: str, field: str, gotype: str) -> HTTPError:
    kind = go_type_name(value)
    if kind == "number" and gotype == _I:
        kind = f"number {json.dumps(value)}"
    return HTTPError(
        400, f"json: cannot unmarshal {kind} into Go struct field {struct}.{field} of type {gotype}"
    )


def _is_int(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer()
    )


def _check(value: Any, struct: str, field: str, gotype: str) -> None:
    if value is None or gotype == _ANY:
        return
    if gotype == _S and not isinstance(value, str):
        raise _unmarshal(value, struct, field, "string")
    if gotype == _B and not isinstance(value, bool):
        raise _unmarshal(value, struct, field, "bool")
    if gotype == _I and not _is_int(value):
        raise _unmarshal(value, struct, field, "int")
    if gotype == _MAP and not isinstance(value, dict):
        raise _unmarshal(value, struct, field, _MAP)
    if gotype == _STRMAP:
        if not isinstance(value, dict):
            raise _unmarshal(value, struct, field, _STRMAP)
        for v in value.values():
            if not isinstance(v, str):
                raise _unmarshal(v, struct, field, "string")
    if gotype == _INTS:
        if not isinstance(value, list):
            raise _unmarshal(value, struct, field, _INTS)
        for v in value:
            if not _is_int(v):
                raise _unmarshal(v, struct, field, "int")
    if gotype == _TOOLS:
        if not isinstance(value, list):
            raise _unmarshal(value, struct, field, _TOOLS)
        for v in value:
            if not isinstance(v, dict):
                raise _unmarshal(v, struct, field, "api.Tool")
    if gotype == _IMAGES:
        check_images(value, struct, field)
    if gotype == _MESSAGES:
        if not isinstance(value, list):
            raise _unmarshal(value, struct, field, _MESSAGES)
        for msg in value:
            if not isinstance(msg, dict):
                raise _unmarshal(msg, struct, field, "api.Message")
            for key, kind in _MESSAGE_FIELDS.items():
                _check(msg.get(key), "Message", f"{field}.{key}", kind)
            _check_tool_calls(msg.get("tool_calls"), f"{field}.tool_calls")


def _check_tool_calls(calls: Any, field: str) -> None:
    if calls is None:
        return
    if not (isinstance(calls, list) and all(isinstance(c, dict) for c in calls)):
        raise _unmarshal(calls, "Message", field, "[]api.ToolCall")
    for call in calls:
        _check(call.get("id"), "Message", f"{field}.id", _S)
        function = call.get("function")
        if function is None:
            continue
        if not isinstance(function, dict):
            raise _unmarshal(function, "Message", f"{field}.function", "api.ToolCallFunction")
        _check(function.get("index"), "Message", f"{field}.function.index", _I)
        _check(function.get("name"), "Message", f"{field}.function.name", _S)
        arguments = function.get("arguments")
        # Ollama wants an object here; only its OpenAI layer takes a JSON string.
        if arguments is not None and not isinstance(arguments, dict):
            raise _unmarshal(
                arguments,
                "Message",
                f"{field}.function.arguments",
                "api.ToolCallFunctionArguments",
            )


_B64 = re.compile(r"[A-Za-z0-9+/]")


def check_images(value: Any, struct: str, field: str) -> None:
    """Check ``images`` is a list of standard base64 strings, as Go's []byte decoding does."""
    if not isinstance(value, list):
        raise _unmarshal(value, struct, field, _IMAGES)
    for item in value:
        if not isinstance(item, str):
            raise _unmarshal(item, struct, field, "api.ImageData")
        try:
            base64.b64decode(item, validate=True)
        except (binascii.Error, ValueError):
            pos = next((i for i, ch in enumerate(item) if not _B64.match(ch)), len(item))
            if pos < len(item) and item[pos] == "=":
                pos = len(item.rstrip("="))
                pos = pos - pos % 4 if len(item) % 4 else pos
            raise HTTPError(400, f"illegal base64 data at input byte {pos}") from None


class _Object(dict[str, Any]):
    """A decoded JSON object that also keeps its keys in order, repeated ones included."""

    pairs: list[tuple[str, Any]]


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    obj.pairs = pairs
    return obj


def _fold_key(key: str) -> str:
    # Go folds one rune at a time (simple case folding), so "ß" never becomes "ss".
    return "".join(up.lower() if len(up := ch.upper()) == 1 else ch for ch in key)


def _fold(obj: Any, names: Collection[str]) -> Any:
    """Match ``obj``'s keys to the field ``names`` as Go's decoder does.

    A key that is a field name exactly is that field, otherwise a key equal to a field name
    but for case is; keys that repeat (in any case) leave the last one's value. Other keys
    stay as they are.
    """
    if not isinstance(obj, dict):
        return obj
    by_fold = {_fold_key(n): n for n in names}
    out: dict[str, Any] = {}
    for key, value in getattr(obj, "pairs", obj.items()):
        out[key if key in names else by_fold.get(_fold_key(key), key)] = value
    return out


def _fold_list(items: Any, fold: Any) -> Any:
    return [fold(item) for item in items] if isinstance(items, list) else items


def _fold_tool_call(call: Any) -> Any:
    call = _fold(call, _TOOL_CALL_NAMES)
    if isinstance(call, dict) and "function" in call:
        call["function"] = _fold(call["function"], _TOOL_CALL_FUNCTION_NAMES)
    return call


def _fold_message(msg: Any) -> Any:
    msg = _fold(msg, _MESSAGE_NAMES)
    if isinstance(msg, dict) and "tool_calls" in msg:
        msg["tool_calls"] = _fold_list(msg["tool_calls"], _fold_tool_call)
    return msg


def _fold_tool(tool: Any) -> Any:
    tool = _fold(tool, _TOOL_NAMES)
    if isinstance(tool, dict) and "function" in tool:
        tool["function"] = _fold(tool["function"], _TOOL_FUNCTION_NAMES)
    return tool


def decode_body(raw: bytes, struct: str) -> dict[str, Any]:
    """Decode and type-check a JSON request body; raise HTTPError(400) like Ollama.

    Keys match the request's fields the way Go's ``encoding/json`` matches them: in any case
    (``"Model"`` is ``model``), the last of repeated keys winning.
    """
    from ollama_wire.server._wire import go_json_error

    if not raw.strip():
        raise HTTPError(400, "missing request body")
    problem = go_json_error(raw)
    if problem is not None:
        raise HTTPError(400, problem)
    data = json.loads(raw, object_pairs_hook=_object)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise HTTPError(
            400, f"json: cannot unmarshal {go_type_name(data)} into Go value of type api.{struct}"
        )
    fields = FIELDS.get(struct, {})
    data = _fold(data, fields)
    if "messages" in data:
        data["messages"] = _fold_list(data["messages"], _fold_message)
    if "tools" in data:
        data["tools"] = _fold_list(data["tools"], _fold_tool)
    for field, gotype in fields.items():
        _check(data.get(field), struct, field, gotype)
    return data  # type: ignore[no-any-return]


def keep_alive_ns(value: Any, default_ns: int) -> int:
    """Return the keep-alive in nanoseconds (negative: forever); raise HTTPError(400)."""
    if value is None:
        return default_ns
    if isinstance(value, bool):
        raise HTTPError(400, "Unsupported type: 'bool'")
    if isinstance(value, (int, float)):
        if value < 0:
            return -1
        ns = value * 1_000_000_000
        # Past int64 (1e300, or 1e999 read as inf) Go's conversion overflows: keep it forever.
        if math.isnan(ns):
            raise HTTPError(400, "keep_alive is not a number (NaN)")
        return -1 if ns >= FOREVER_NS else int(ns)
    if isinstance(value, str):
        try:
            ns = parse_go_duration(value)
        except ValueError as exc:
            raise HTTPError(400, str(exc)) from None
        return -1 if ns < 0 else ns
    kind = "[]interface {}" if isinstance(value, list) else "map[string]interface {}"
    raise HTTPError(400, f"Unsupported type: '{kind}'")


def think_value(value: Any) -> bool | str | None:
    """Validate ``think``; raise HTTPError(400) for anything but a bool or a level."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value in THINK_LEVELS:
        return value
    shown = json.dumps(value) if isinstance(value, str) else json.dumps(json.dumps(value))
    raise HTTPError(
        400,
        f'invalid think value: {shown} (must be "high", "medium", "low", "max", true, or false)',
    )


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    """Type-check ``options`` (500 on a wrong type, like Ollama); drop unknown keys' effects."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        if value is None:
            continue
        if key in INT_OPTIONS:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise HTTPError(500, f'option "{key}" must be of type integer')
            out[key] = int(value)
        elif key in FLOAT_OPTIONS:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise HTTPError(500, f'option "{key}" must be of type float32')
            out[key] = float(value)
        elif key in BOOL_OPTIONS:
            if not isinstance(value, bool):
                raise HTTPError(500, f'option "{key}" must be of type boolean')
            out[key] = value
        elif key == "stop":
            if not isinstance(value, list):
                raise HTTPError(500, f'option "{key}" must be of type array')
            if not all(isinstance(v, str) for v in value):
                raise HTTPError(500, f'option "{key}" must be of type an array of strings')
            out[key] = list(value)
        else:
            out[key] = value
    return out


def check_format(value: Any) -> str | dict[str, Any] | None:
    """Validate ``format``; raise HTTPError(500) with Ollama's message for a bad one."""
    if value is None or value == "":
        return None
    if value == "json" or isinstance(value, dict):
        return value  # type: ignore[no-any-return]
    raw = json.dumps(value, separators=(",", ":"))
    return_msg = f'invalid format: {json.dumps(raw)}; expected "json" or a valid JSON Schema object'
    raise HTTPError(500, return_msg)
