"""The llama engine's prompt rendering and stop-string handling, without the model."""

from __future__ import annotations

import pytest

from ollama_wire.server._gemma import GEMMA_TEMPLATE, TemplateError, render_chat, render_template
from ollama_wire.server.llama import _StopMatcher

TURN = "<start_of_turn>"
END = "<end_of_turn>"


def test_chat_uses_gemma_turns_and_opens_a_model_turn() -> None:
    text = render_chat(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Bye"},
        ]
    )
    assert text == (
        f"{TURN}user\nBe brief.\n\nHi{END}\n"
        f"{TURN}model\nHello.{END}\n"
        f"{TURN}user\nBye{END}\n"
        f"{TURN}model\n"
    )


def test_trailing_assistant_message_is_continued() -> None:
    text = render_chat([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "He"}])
    assert text == f"{TURN}user\nHi{END}\n{TURN}model\nHe"


def test_default_system_applies_only_without_a_system_message() -> None:
    user = {"role": "user", "content": "Hi"}
    assert render_chat([user], "Sys").startswith(f"{TURN}user\nSys\n\nHi")
    own = render_chat([{"role": "system", "content": "Mine"}, user], "Sys")
    assert "Sys" not in own
    assert "Mine\n\nHi" in own


def test_model_template_renders_like_a_one_turn_chat() -> None:
    assert render_template(GEMMA_TEMPLATE, prompt="Hi") == render_chat(
        [{"role": "user", "content": "Hi"}]
    )
    assert render_template(GEMMA_TEMPLATE, system="S", prompt="Hi") == render_chat(
        [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}]
    )


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ .Prompt }}", "P"),
        ("{{ if .System }}[{{ .System }}]{{ end }}{{ .Prompt }}", "[S]P"),
        ("{{ if .Suffix }}x{{ else if .System }}y{{ else }}z{{ end }}", "y"),
        ("A {{- .Prompt -}} B", "APB"),
        ("{{/* note */}}{{ .Prompt }}{{ .Response }} after", "P"),
        ("", "P"),
    ],
)
def test_template_subset(template: str, expected: str) -> None:
    assert render_template(template, system="S", prompt="P") == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ range .Messages }}{{ end }}", "unsupported action"),
        ("{{ if .Prompt }}x", "missing {{end}}"),
        ("{{ end }}", "unexpected {{end}}"),
        ("{{ .Prompt ", "unclosed action"),
        ("{{ if eq .Role \"user\" }}{{ end }}", "unsupported condition"),
    ],
)
def test_bad_templates_are_rejected_clearly(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=r"^template: ") as info:
        render_template(template, prompt="P")
    assert message in str(info.value)


def feed_all(stops: list[str], pieces: list[str]) -> tuple[list[str], bool]:
    matcher = _StopMatcher(stops)
    out = []
    for piece in pieces:
        text, hit = matcher.feed(piece)
        out.append(text)
        if hit:
            return out, True
    out.append(matcher.flush(""))
    return out, False


def test_stop_string_split_across_tokens_is_cut_and_never_streamed() -> None:
    out, hit = feed_all(["END"], ["The e", "nd. E", "N", "D more"])
    assert hit
    assert "".join(out) == "The end. "
    assert out[1] == "nd. "  # "E" was held back until it turned out to start the stop


def test_held_text_is_released_when_it_is_not_a_stop() -> None:
    out, hit = feed_all(["END"], ["a E", "N", "x"])
    assert not hit
    assert "".join(out) == "a ENx"


def test_earliest_of_several_stops_wins() -> None:
    out, hit = feed_all(["b", "a"], ["xxab"])
    assert hit
    assert out == ["xx"]
