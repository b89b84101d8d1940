"""Read a GGUF file's header: its metadata and parameter count, without loading the weights."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["FILE_TYPES", "GGUFHeader", "human_number", "read_header"]

# llama.cpp's `enum llama_ftype` (general.file_type) as Ollama names them.
FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
}

_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING = 8
_ARRAY = 9
# Arrays longer than this are summarised as an empty list, as Ollama's non-verbose show does.
_ARRAY_LIMIT = 5


@dataclass(frozen=True)
class GGUFHeader:
    """A GGUF file's metadata (long arrays left empty) and its tensors' parameter count."""

    metadata: dict[str, Any]
    parameter_count: int
    tensor_count: int


class _Reader:
    def __init__(self, f: BinaryIO) -> None:
        self.f = f

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        data = self.f.read(size)
        if len(data) != size:
            raise ValueError("truncated GGUF file")
        return struct.unpack(fmt, data)[0]

    def string(self) -> str:
        n = self.unpack("<Q")
        return self.f.read(n).decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        self.f.seek(self.unpack("<Q"), 1)

    def value(self, kind: int) -> Any:
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item = self.unpack("<I")
            n = self.unpack("<Q")
            if n > _ARRAY_LIMIT:
                self._skip_items(item, n)
                return []
            return [self.value(item) for _ in range(n)]
        fmt = _SCALARS.get(kind)
        if fmt is None:
            raise ValueError(f"unknown GGUF value type {kind}")
        value = self.unpack(fmt)
        return _shortest_float32(value) if kind == 6 else value

    def _skip_items(self, item: int, n: int) -> None:
        if item == _STRING:
            for _ in range(n):
                self.skip_string()
        elif item == _ARRAY:
            for _ in range(n):
                self.value(_ARRAY)
        else:
            self.f.seek(struct.calcsize(_SCALARS[item]) * n, 1)


def _shortest_float32(x: float) -> float:
    """Return the shortest decimal that reads back as the same float32 (Go prints 1e-06)."""
    packed = struct.pack("<f", x)
    for digits in range(1, 10):
        y = float(f"{x:.{digits}g}")
        if struct.pack("<f", y) == packed:
            return y
    return x


def read_header(path: str | Path) -> GGUFHeader:
    """Return the metadata and parameter count of the GGUF file at ``path``."""
    with open(path, "rb") as f:
        r = _Reader(f)
        if f.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        version = r.unpack("<I")
        if version < 2:
            raise ValueError(f"{path}: GGUF version {version} is not supported")
        n_tensors = r.unpack("<Q")
        n_kv = r.unpack("<Q")
        metadata: dict[str, Any] = {}
        for _ in range(n_kv):
            key = r.string()
            metadata[key] = r.value(r.unpack("<I"))
        params = 0
        for _ in range(n_tensors):
            r.skip_string()
            dims = [r.unpack("<Q") for _ in range(r.unpack("<I"))]
            r.unpack("<I")
            r.unpack("<Q")
            count = 1
            for d in dims:
                count *= d
            params += count
    return GGUFHeader(metadata=metadata, parameter_count=params, tensor_count=n_tensors)


def human_number(n: int) -> str:
    """Format a parameter count as Ollama does: ``268.10M``, ``8B``, ``3.2B``."""
    if n >= 1_000_000_000:
        x = n / 1_000_000_000
        return f"{x:.0f}B" if x == int(x) else f"{x:.1f}B"
    if n >= 1_000_000:
        x = n / 1_000_000
        return f"{x:.0f}M" if x == int(x) else f"{x:.2f}M"
    if n >= 1_000:
        return f"{n / 1_000:.0f}K"
    return str(n)
