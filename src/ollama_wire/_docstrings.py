"""Read a description and per-name descriptions from Google, NumPy and reST docstrings.

| docstring style | parameters look like                                  |
|-----------------|-------------------------------------------------------|
| Google          | ``Args:`` then ``city (str): The city.``              |
| NumPy           | ``Parameters`` / ``----------`` then ``city : str``   |
| reST (Sphinx)   | ``:param city: The city.`` or ``:param str city: ...`` |

The same sections serve dataclasses and TypedDicts: ``Attributes:`` (Google, NumPy) and
``:ivar x:`` / ``:var x:`` (reST) describe fields.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

__all__ = ["Docstring", "parse_docstring"]

# Sections whose entries describe names (parameters or fields).
_NAME_SECTIONS = frozenset(
    {
        "args",
        "arguments",
        "parameters",
        "params",
        "keyword args",
        "keyword arguments",
        "other parameters",
        "attributes",
    }
)
# Every section that ends the free-text description.
_ALL_SECTIONS = _NAME_SECTIONS | frozenset(
    {
        "returns",
        "return",
        "yields",
        "yield",
        "raises",
        "raise",
        "warns",
        "examples",
        "example",
        "notes",
        "note",
        "warnings",
        "warning",
        "see also",
        "references",
        "todo",
        "methods",
    }
)
_GOOGLE_HEADER = re.compile(r"^([A-Za-z][A-Za-z ]*?)\s*:\s*$")
_NUMPY_RULE = re.compile(r"^\s*-{3,}\s*$")
# ``name (type): text``; the type may hold brackets one deep (``tuple(int, int)``), and the
# text may follow the colon without a space, as the SDK's parser reads it.
_GOOGLE_ENTRY = re.compile(
    r"^\*{0,2}([A-Za-z_]\w*)\s*(?:\((?:[^()]|\([^()]*\))*\))?\s*:\s*(.*)$")
_NUMPY_ENTRY = re.compile(r"^\*{0,2}([A-Za-z_][\w, *]*?)\s*(?::.*)?$")
_REST_FIELD = re.compile(r"^:([A-Za-z]+)((?:\s+[^:\s][^:]*?)?)\s*:(.*)$")
_REST_NAME_FIELDS = frozenset(
    {"param", "parameter", "arg", "argument", "key", "keyword", "ivar", "var", "cvar"}
)


@dataclass
class Docstring:
    """The parts of a docstring a schema needs."""

    description: str = ""
    params: dict[str, str] = field(default_factory=dict)


def parse_docstring(doc: str | None) -> Docstring:
    """Split ``doc`` into its description and the descriptions of the names it documents."""
    if not doc or not doc.strip():
        return Docstring()
    lines = inspect.cleandoc(doc).splitlines()
    if any(_is_rest_field(line) for line in lines):
        return _parse_rest(lines)
    return _parse_sections(lines)


def _is_rest_field(line: str) -> bool:
    match = _REST_FIELD.match(line.strip())
    return match is not None and match.group(1).lower() in _REST_NAME_FIELDS | {
        "returns",
        "return",
        "rtype",
        "raises",
        "raise",
        "type",
        "vartype",
    }


def _join(lines: list[str]) -> str:
    """Join wrapped lines into paragraphs separated by a blank line."""
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        text = line.strip()
        if text:
            paragraphs[-1].append(text)
        elif paragraphs[-1]:
            paragraphs.append([])
    return "\n\n".join(" ".join(p) for p in paragraphs if p)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _parse_rest(lines: list[str]) -> Docstring:
    result = Docstring()
    start = next(i for i, line in enumerate(lines) if _is_rest_field(line))
    result.description = _join(lines[:start])
    name: str | None = None
    parts: list[str] = []

    def flush() -> None:
        if name is not None and name not in result.params:
            result.params[name] = _join(parts)

    for line in lines[start:]:
        stripped = line.strip()
        match = _REST_FIELD.match(stripped)
        if match is not None:
            flush()
            kind, target, text = match.group(1).lower(), match.group(2).split(), match.group(3)
            # ":param str city:" names the type first; the last word is the name.
            name = target[-1].lstrip("*") if kind in _REST_NAME_FIELDS and target else None
            parts = [text]
        elif not stripped:
            parts.append("")
        else:
            parts.append(stripped)
    flush()
    return result


def _section_at(lines: list[str], i: int) -> tuple[str, int] | None:
    """Return (section name, index of its first body line) if a section header starts at ``i``."""
    if _indent(lines[i]):
        return None
    text = lines[i].strip()
    if i + 1 < len(lines) and _NUMPY_RULE.match(lines[i + 1]) and text.lower() in _ALL_SECTIONS:
        return text.lower(), i + 2
    match = _GOOGLE_HEADER.match(text)
    if match is not None and match.group(1).lower() in _ALL_SECTIONS:
        return match.group(1).lower(), i + 1
    return None


def _parse_sections(lines: list[str]) -> Docstring:
    result = Docstring()
    headers = [(i, found) for i in range(len(lines)) if (found := _section_at(lines, i))]
    end = headers[0][0] if headers else len(lines)
    result.description = _join(lines[:end])
    for n, (i, (name, body)) in enumerate(headers):
        if name not in _NAME_SECTIONS:
            continue
        stop = headers[n + 1][0] if n + 1 < len(headers) else len(lines)
        numpy_style = body == i + 2
        section = lines[body:stop]
        for key, text in _entries(section, numpy_style=numpy_style):
            result.params.setdefault(key, text)
    return result


def _entries(section: list[str], *, numpy_style: bool) -> list[tuple[str, str]]:
    """Return (name, description) pairs from the body of a parameters section."""
    body = [line for line in section if line.strip()]
    if not body:
        return []
    base = _indent(body[0])
    found: list[tuple[list[str], list[str]]] = []
    for line in section:
        if not line.strip():
            if found:
                found[-1][1].append("")
            continue
        indent = _indent(line)
        if indent < base:
            break
        if indent == base:
            names, first = _entry_head(line.strip(), numpy_style=numpy_style)
            if names:
                found.append((names, [first] if first else []))
                continue
        if found:
            found[-1][1].append(line.strip())
    return [(name, _join(text)) for names, text in found for name in names]


def _entry_head(text: str, *, numpy_style: bool) -> tuple[list[str], str]:
    if numpy_style:
        match = _NUMPY_ENTRY.match(text)
        if match is None:
            return [], ""
        names = [n.strip().lstrip("*") for n in match.group(1).split(",")]
        return [n for n in names if n.isidentifier()], ""
    match = _GOOGLE_ENTRY.match(text)
    if match is None:
        return [], ""
    return [match.group(1)], match.group(2) or ""
