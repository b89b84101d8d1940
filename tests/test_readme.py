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
TEXT = DOC.read_text(encoding="utf-8")
EXAMPLES = re.findall(r"```python\n(.*?)```", TEXT, re.DOTALL)
FIRST_EXAMPLE = EXAMPLES[0]
CLIENT_EXAMPLE = next(code for code in EXAMPLES if "with Client(" in code)
TOOL_EXAMPLE = next(code for code in EXAMPLES if "run_tools(" in code)
FORMAT_EXAMPLE = next(code for code in EXAMPLES if "format=Country" in code)
#: The command-line session: `$ command` lines, each followed by what it printed.
TRANSCRIPT = next(block for block in re.findall(r"^```\n(.*?)^```$", TEXT, re.DOTALL | re.M)
                  if block.startswith("$ ollama-wire"))
#: What differs from run to run in the transcript: the port, durations and rates.
VOLATILE = [
    (re.compile(r"http://127\.0\.0\.1:\d+"), "http://127.0.0.1:PORT"),
    (re.compile(r"\b\d+(?:\.\d+)?(?:ms|µs|s)\b"), "TIME"),
    (re.compile(r"\b\d+\.\d+(?= tokens/s)|(?<= )\d+\.\d(?= )"), "RATE"),
]
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
    tested = (FIRST_EXAMPLE, CLIENT_EXAMPLE, TOOL_EXAMPLE, FORMAT_EXAMPLE)
    others = [code for code in EXAMPLES if code not in tested]
    assert len(others) >= 2
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


def test_the_first_example_prints_a_reply_a_story_and_a_vector(server_url: str) -> None:
    lines = run_example(FIRST_EXAMPLE, server_url).splitlines()
    assert len(lines) == 3, lines
    assert all(line.strip() for line in lines[:2]), lines
    assert len(json.loads(lines[2])) == 4


def test_the_client_example_ends_its_streamed_line(server_url: str) -> None:
    *streamed, metrics = run_example(CLIENT_EXAMPLE, server_url).splitlines()
    assert [line for line in streamed if line.strip()], streamed
    tokens_per_second, seconds = (float(x) for x in metrics.split())
    assert tokens_per_second > 0
    assert seconds > 0


def transcript() -> list[tuple[str, list[str], int]]:
    """Return each (command, lines it printed, exit status) of the README's session."""
    runs: list[tuple[str, list[str], int]] = []
    for chunk in re.split(r"^\$ ", TRANSCRIPT, flags=re.MULTILINE)[1:]:
        command, *lines = chunk.rstrip("\n").split("\n")
        status = 0
        if lines and (exit_line := re.fullmatch(r"\[exit (\d+)\]", lines[-1])):
            status = int(exit_line.group(1))
            lines.pop()
        runs.append((command, lines, status))
    return runs


def normalized(lines: list[str]) -> list[str]:
    """Return `lines` with runs of spaces made one and the volatile values replaced."""
    out = []
    for line in lines:
        line = " ".join(line.split())
        for pattern, mark in VOLATILE:
            line = pattern.sub(mark, line)
        out.append(line)
    return out


@pytest.mark.parametrize(("command", "printed", "status"), transcript(),
                         ids=[run[0] for run in transcript()])
def test_the_command_line_session_prints_what_it_shows(
    server_url: str, command: str, printed: list[str], status: int
) -> None:
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "OLLAMA_HOST": server_url, "PYTHONIOENCODING": "utf-8",
           "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT)
    assert (done.returncode, normalized(done.stdout.rstrip("\n").split("\n"))) == (
        status, normalized(printed))


def test_the_table_states_the_default_timeout_and_retries() -> None:
    from ollama_wire._protocol import DEFAULT_TIMEOUT
    from ollama_wire._retry import DEFAULT_MAX_RETRIES, RETRY_STATUSES

    connect, read = DEFAULT_TIMEOUT
    assert f"| {connect:g} s connect, {read:g} s between bytes;" in TEXT
    statuses = "/".join(str(status) for status in sorted(RETRY_STATUSES))
    assert f"| {DEFAULT_MAX_RETRIES}, on connection failures and {statuses}," in TEXT
