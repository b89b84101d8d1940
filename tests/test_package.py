import ollama_wire


def test_version_is_a_string() -> None:
    assert isinstance(ollama_wire.__version__, str)
    assert ollama_wire.__version__.count(".") >= 2
