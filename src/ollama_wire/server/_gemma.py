"""Prompt rendering for the llama.cpp engine: Gemma's turn format and Ollama-style templates.

The bundled GGUF (Gemma 3 270M, the base model) carries no ``tokenizer.chat_template``, so the
engine renders Gemma's documented turn format itself::

    <start_of_turn>user
    {system}

    {user text}<end_of_turn>
    <start_of_turn>model
    {assistant text}<end_of_turn>
    <start_of_turn>model

- Gemma has no system role: system messages are prepended to the next user turn, separated by
  a blank line (Gemma's own chat template does the same).
- ``tool`` messages are rendered as user turns (the model has no tool support).
- A conversation ending with an assistant message leaves that turn open, so the model continues
  it (Ollama's behaviour for a trailing assistant message).
- The BOS token is added by the tokenizer, not written here.

``/api/generate`` renders ``template`` (the request's, else the model's) with the subset of Go's
``text/template`` that Ollama's single-prompt templates use: ``{{ .System }}``,
``{{ .Prompt }}``, ``{{ .Response }}`` (the prompt ends there, as in Ollama), ``{{ if .X }}``,
``{{ else if .X }}``, ``{{ else }}``, ``{{ end }}``, comments and the ``{{-``/``-}}`` trim
markers. Anything else (``range .Messages``, function calls) is rejected with a clear error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "GEMMA_TEMPLATE",
    "TemplateError",
    "render_chat",
    "render_template",
]

START = "<start_of_turn>"
END = "<end_of_turn>"

GEMMA_TEMPLATE = (
    "<start_of_turn>user\n"
    "{{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}<end_of_turn>\n"
    "<start_of_turn>model\n"
    "{{ .Response }}<end_of_turn>\n"
)


class TemplateError(ValueError):
    """A template that cannot be parsed or uses what this renderer does not support."""


def render_chat(messages: Sequence[Mapping[str, Any]], system: str = "") -> str:
    """Render chat ``messages`` in Gemma's turn format, ending with an open model turn.

    ``system`` is the model's default system prompt, used when no message has role system.
    """
    parts: list[str] = []
    pending_system: list[str] = []
    if system and not any(str(m.get("role", "")).lower() == "system" for m in messages):
        pending_system.append(system)
    last = len(messages) - 1
    for i, message in enumerate(messages):
        role = str(message.get("role", "")).lower()
        content = str(message.get("content") or "")
        if role == "system":
            pending_system.append(content)
            continue
        if role == "assistant":
            turn = f"{START}model\n{content}"
            # A trailing assistant message is continued, not closed.
            parts.append(turn if i == last else f"{turn}{END}\n")
            continue
        if pending_system:
            content = "\n\n".join([*pending_system, content])
            pending_system = []
        parts.append(f"{START}user\n{content}{END}\n")
    if pending_system:
        parts.append(f"{START}user\n{chr(10).join(pending_system)}{END}\n")
    if not messages or str(messages[-1].get("role", "")).lower() != "assistant":
        parts.append(f"{START}model\n")
    return "".join(parts)


# A tiny Go text/template subset.

_ACTION = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.DOTALL)
_FIELD = re.compile(r"^\.([A-Za-z_][A-Za-z0-9_]*)$")


@dataclass
class _Text:
    text: str


@dataclass
class _Field:
    name: str


@dataclass
class _If:
    branches: list[tuple[str | None, list[_Node]]] = field(default_factory=list)


_Node = _Text | _Field | _If

_FIELDS = ("System", "Prompt", "Response", "Suffix")


def _tokens(template: str) -> list[tuple[str, str]]:
    """Split ``template`` into ("text", s) and ("action", body) items, applying trim markers."""
    items: list[tuple[str, str]] = []
    pos = 0
    trim_next = False
    for m in _ACTION.finditer(template):
        text = template[pos : m.start()]
        if trim_next:
            text = text.lstrip()
        # Go requires a space after "{{-" and before "-}}"; "{{-3}}" is a number, not a trim.
        left = m.group(1) == "-" and m.group(2)[:1].isspace()
        right = m.group(3) == "-" and m.group(2)[-1:].isspace()
        body = m.group(2)
        if m.group(1) == "-" and not left:
            body = "-" + body
        if m.group(3) == "-" and not right:
            body = body + "-"
        if left:
            text = text.rstrip()
        items.append(("text", text))
        items.append(("action", body.strip()))
        trim_next = right
        pos = m.end()
    tail = template[pos:]
    if "{{" in tail:
        raise TemplateError('template: unclosed action: expected "}}"')
    items.append(("text", tail.lstrip() if trim_next else tail))
    return items


def _condition(expr: str) -> str:
    m = _FIELD.match(expr.strip())
    if not m or m.group(1) not in _FIELDS:
        raise TemplateError(f"template: unsupported condition {expr.strip()!r}: only .System, "
                            ".Prompt, .Response and .Suffix can be tested")
    return m.group(1)


def _parse(template: str) -> list[_Node]:
    root: list[_Node] = []
    stack: list[tuple[_If, list[_Node]]] = []
    current = root
    for kind, value in _tokens(template):
        if kind == "text":
            if value:
                current.append(_Text(value))
            continue
        if value.startswith("/*") and value.endswith("*/"):
            continue
        if value.startswith(("if ", "if\t")):
            node = _If()
            body: list[_Node] = []
            node.branches.append((_condition(value[3:]), body))
            current.append(node)
            stack.append((node, current))
            current = body
        elif value.startswith("else if "):
            if not stack:
                raise TemplateError("template: unexpected {{else}}")
            body = []
            stack[-1][0].branches.append((_condition(value[8:]), body))
            current = body
        elif value == "else":
            if not stack:
                raise TemplateError("template: unexpected {{else}}")
            body = []
            stack[-1][0].branches.append((None, body))
            current = body
        elif value == "end":
            if not stack:
                raise TemplateError("template: unexpected {{end}}")
            _, current = stack.pop()
        else:
            m = _FIELD.match(value)
            if not m or m.group(1) not in _FIELDS:
                raise TemplateError(f"template: unsupported action {{{{ {value} }}}}: this server "
                                    "renders .System, .Prompt, .Response, if/else/end")
            current.append(_Field(m.group(1)))
    if stack:
        raise TemplateError("template: unexpected EOF: missing {{end}}")
    return root


class _Stop(Exception):
    """Raised when rendering reaches ``{{ .Response }}``: the prompt ends there."""


def _render(nodes: list[_Node], values: Mapping[str, str], out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, _Text):
            out.append(node.text)
        elif isinstance(node, _Field):
            if node.name == "Response":
                raise _Stop
            out.append(values.get(node.name, ""))
        else:
            for cond, body in node.branches:
                if cond is None or values.get(cond, ""):
                    _render(body, values, out)
                    break


def render_template(template: str, *, system: str = "", prompt: str = "", suffix: str = "") -> str:
    """Render an Ollama single-prompt ``template``; the text stops at ``{{ .Response }}``.

    An empty template renders the prompt alone.
    """
    if not template.strip():
        return prompt
    nodes = _parse(template)
    out: list[str] = []
    try:
        _render(nodes, {"System": system, "Prompt": prompt, "Suffix": suffix, "Response": ""}, out)
    except _Stop:
        pass
    return "".join(out)
