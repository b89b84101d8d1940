"""The README's Python examples run as written against ``python -m ollama_wire.server``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
TOOL_EXAMPLE = next(code for code in EXAMPLES if "run_tools(" in code)
FORMAT_EXAMPLE = next(code for code in EXAMPLES if "format=Country" in code)
TIMEOUT = 60


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    """Start the server the way the docs say, on a free port, and return its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ollama_wire.server", "--port", "0", "--model", "llama3.2",
         "--model", "all-minilm"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        assert match, f"the server did not start: {line!r}"
        yield match.group(1)
    finally:
        process.terminate()
        process.communicate(timeout=TIMEOUT)


def run_example(code: str, url: str) -> str:
    env = {**os.environ, "OLLAMA_HOST": url}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def chat_requests(url: str) -> list[dict[str, object]]:
    with urllib.request.urlopen(f"{url}/_wire/requests", timeout=TIMEOUT) as response:
        records = json.load(response)["requests"]
    return [r["body"] for r in records if r["path"] == "/api/chat"]


def test_every_other_example_runs_and_prints(server_url: str) -> None:
    others = [code for code in EXAMPLES if code not in (TOOL_EXAMPLE, FORMAT_EXAMPLE)]
    assert len(others) >= 4
    for code in others:
        out = run_example(code, server_url)
        if "print(" in code:
            assert out.strip(), code


def test_the_tool_example_runs_the_loop(server_url: str) -> None:
    lines = run_example(TOOL_EXAMPLE, server_url).splitlines()
    schema = lines[0]
    assert "'enum': ['celsius', 'fahrenheit']" in schema
    assert "'description': 'The city name, for example \"Paris\".'" in schema
    assert [line.split(" ", 1)[0] for line in lines[1:5]] == [
        "user",
        "assistant",
        "tool",
        "assistant",
    ]
    assert re.fullmatch(r"tool 22 degrees (celsius|fahrenheit), sunny, in .+", lines[3])
    assert lines[5] == lines[4].split(" ", 1)[1]


def test_the_structured_output_example_sends_the_schema_and_parses(server_url: str) -> None:
    [line] = run_example(FORMAT_EXAMPLE, server_url).splitlines()
    assert re.fullmatch(r"\S.* \S.* \['.*'\]", line), line
    sent = chat_requests(server_url)[-1]
    assert sent["format"] == {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "capital": {"type": "string"},
            "languages": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["name", "capital", "languages"],
        "additionalProperties": False,
    }
