"""Pytest fixtures and helpers for testing Ollama apps against the project's server."""

from __future__ import annotations
