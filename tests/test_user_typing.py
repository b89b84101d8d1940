"""What a user's type checker sees: programs written as SDK users write them, under mypy --strict.

``GOOD`` must pass, each ``reveal_type`` giving the type in its ``# R:`` comment. Each line of
``BAD`` marked ``# E: code`` must fail with that error code, as it does with the official SDK's
types (checked with ollama 0.6.3), and no other line may fail. Running mypy takes ~10 s.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytest.importorskip("mypy")

GOOD = '''
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ollama_wire as ollama
from ollama_wire import AsyncClient, ChatResponse, Image, Message, Options, Tool, chat


@dataclass
class Point:
    x: int
    y: int


def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first number
        b: The second number
    """
    return a + b


response: ChatResponse = chat("m", messages=[{"role": "user", "content": "Why?"}])
reveal_type(response)  # R: ChatResponse
reveal_type(response["message"]["content"])  # R: Any
reveal_type(response.message.content)  # R: str | None
reveal_type(response.get("message"))  # R: Any
reveal_type(dict(response))  # R: dict[str, Any]
reveal_type(response.model_dump())  # R: dict[str, Any]
for key, value in response:
    reveal_type(key)  # R: str
reveal_type(chat("m", messages=[], stream=False))  # R: ChatResponse
for chunk in chat("m", messages=[], stream=True):
    reveal_type(chunk)  # R: ChatResponse
reveal_type(ollama.generate("m", "Why?", stream=True))  # R: Stream[GenerateResponse]
for part in ollama.generate("m", "Why?", stream=True):
    reveal_type(part.response)  # R: str | None
iterator: Iterator[ChatResponse] = chat("m", messages=[], stream=True)
with chat("m", messages=[], stream=True) as stream:
    reveal_type(stream.chunks)  # R: list[ChatResponse]


def either(streaming: bool) -> None:
    reveal_type(chat("m", stream=streaming))  # R: ChatResponse | Stream[ChatResponse]


reveal_type(response.parse(Point))  # R: Point
reveal_type(ollama.generate("m", "x", format=list[Point]).parse(list[Point]))  # R: list[Point]
for model in ollama.list().models:
    reveal_type(model.size)  # R: ByteSize | None
    reveal_type(model.modified_at)  # R: datetime.datetime | None
reveal_type(ollama.ps().models[0].expires_at)  # R: datetime.datetime | None
reveal_type(ollama.show("m").modelinfo)  # R: typing.Mapping[str, Any] | None
reveal_type(Message.model_validate({"role": "user"}))  # R: Message
reveal_type(response.model_copy(update={"done": True}))  # R: ChatResponse
try:
    chat("missing")
except ollama.ResponseError as e:
    reveal_type(e.status_code)  # R: int
    reveal_type(e.error)  # R: str

messages: list[dict[str, Any] | Message] = [{"role": "user", "content": "What is 3 + 1?"}]
result = chat("m", messages=messages, tools=[add], options={"temperature": 0})
if result.message.tool_calls:
    for call in result.message.tool_calls:
        reveal_type(call.function.arguments)  # R: typing.Mapping[str, Any]
        output = add(**call.function.arguments)
        messages.append(result.message)
        messages.append({"role": "tool", "content": str(output), "tool_name": call.function.name})

run = ollama.Client().run_tools("m", [{"role": "user", "content": "3 + 1?"}], [add])
reveal_type(run.response)  # R: ChatResponse
reveal_type(run.message.content)  # R: str | None
reveal_type(run.messages[-1]["content"])  # R: Any

Message(role="user", content="x", images=[Image(value=b"x"), "aGk=", b"x", Path("a.png")])
Message(role="assistant", tool_calls=[
    Message.ToolCall(function=Message.ToolCall.Function(name="f", arguments={"a": 1}))])
Options(temperature=0.1, num_ctx=4096, stop=["</s>"], min_p=0.05)
Tool(function=Tool.Function(name="f", description="d", parameters=Tool.Function.Parameters(
    required=["x"], properties={"x": Tool.Function.Parameters.Property(type="string")})))
Image("photo.png")
made = ChatResponse(model="m", message=Message(role="assistant", content="x"), done=True)
made.done = False
made.message.content = "y"


async def main() -> None:
    async with AsyncClient() as client:
        reveal_type(await client.chat("m", messages=[]))  # R: ChatResponse
        async for piece in await client.chat("m", messages=[], stream=True):
            reveal_type(piece)  # R: ChatResponse
        pulls: AsyncIterator[ollama.ProgressResponse] = await client.pull("m", stream=True)
        async for progress in pulls:
            reveal_type(progress.completed)  # R: int | None


asyncio.run(main())
'''

BAD = '''
from __future__ import annotations

import ollama_wire as ollama
from ollama_wire import Message, Options, Tool

response = ollama.chat("m", messages=[])
print(response.mesage)  # E: attr-defined
print(response.message.contnt)  # E: attr-defined
print(ollama.list().models[0].sise)  # E: attr-defined
response.mesage = "x"  # E: attr-defined
response.done = "yes"  # E: assignment
text: int = response.message.content  # E: assignment
Message(role="user", contents="x")  # E: call-arg
Message(content="x")  # E: call-arg
Options(temprature=0.1)  # E: call-arg
Options(temperature="hot")  # E: arg-type
Tool.Function(nme="f")  # E: call-arg
ollama.chat("m", mesages=[])  # E: call-overload
ollama.generate("m", "x", stream="yes")  # E: call-overload
ollama.chat("m", messages="hi")  # E: arg-type
'''

_LINE = re.compile(r"^(?P<file>\w+)\.py:(?P<line>\d+): (?P<kind>error|note): (?P<text>.*)$")
_QUALIFIED = re.compile(r"\b(?:ollama_wire\.\w+|good)\.")


def _marks(source: str, tag: str) -> list[tuple[int, str]]:
    return [(number, line.split(f"# {tag}: ")[1].strip())
            for number, line in enumerate(source.splitlines(), 1) if f"# {tag}: " in line]


@pytest.fixture(scope="module")
def mypy_output(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[int, list[str]]]:
    """Run mypy once on both programs; return file -> line -> its messages."""
    folder = tmp_path_factory.mktemp("user_typing")
    (folder / "good.py").write_text(GOOD)
    (folder / "bad.py").write_text(BAD)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--show-error-codes", "--no-error-summary",
         "--cache-dir", str(folder / "cache"), "good.py", "bad.py"],
        cwd=folder, capture_output=True, text=True, timeout=300, check=False,
    )
    out: dict[str, dict[int, list[str]]] = {"good": {}, "bad": {}}
    for line in done.stdout.splitlines():
        match = _LINE.match(line)
        assert match, f"unexpected mypy output: {line}\n{done.stdout}{done.stderr}"
        out[match["file"]].setdefault(int(match["line"]), []).append(
            f"{match['kind']}: {match['text']}")
    return out


def test_correct_programs_type_check(mypy_output: dict[str, dict[int, list[str]]]) -> None:
    errors = {n: m for n, messages in mypy_output["good"].items()
              for m in messages if m.startswith("error")}
    assert errors == {}  # also: py.typed is found, no "missing library stubs"


@pytest.mark.parametrize(("line", "expected"), _marks(GOOD, "R"),
                         ids=[f"{n}-{t}" for n, t in _marks(GOOD, "R")])
def test_revealed_types_are_precise(
    mypy_output: dict[str, dict[int, list[str]]], line: int, expected: str
) -> None:
    notes = mypy_output["good"].get(line, [])
    revealed = [_QUALIFIED.sub("", n.split('Revealed type is "')[1].rstrip('"'))
                for n in notes if "Revealed type is" in n]
    assert revealed == [expected], GOOD.splitlines()[line - 1]


@pytest.mark.parametrize(("line", "code"), _marks(BAD, "E"),
                         ids=[f"{n}-{c}" for n, c in _marks(BAD, "E")])
def test_wrong_programs_are_rejected(
    mypy_output: dict[str, dict[int, list[str]]], line: int, code: str
) -> None:
    errors = [m for m in mypy_output["bad"].get(line, []) if m.startswith("error")]
    assert any(m.endswith(f"[{code}]") for m in errors), (BAD.splitlines()[line - 1], errors)


def test_only_the_marked_lines_are_rejected(
    mypy_output: dict[str, dict[int, list[str]]]
) -> None:
    marked = {n for n, _ in _marks(BAD, "E")}
    assert {n for n, messages in mypy_output["bad"].items()
            if any(m.startswith("error") for m in messages)} == marked
