"""ollama-wire: the Ollama REST API on requests alone."""

from __future__ import annotations

from ollama_wire._version import __version__

__all__ = ["__version__"]
