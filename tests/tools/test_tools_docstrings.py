"""The docstring parser: Google, NumPy and reST styles."""

from __future__ import annotations

import pytest

from ollama_wire._docstrings import parse_docstring

GOOGLE = """Get the weather.

    Uses the national service.

    Args:
        city (str): The city,
            as written locally.
        unit: Celsius or Fahrenheit.
        *extra: Ignored.

    Returns:
        dict: The report.

    Raises:
        KeyError: unknown city: never documented as a parameter.
    """

NUMPY = """Get the weather.

    Uses the national service.

    Parameters
    ----------
    city : str
        The city,
        as written locally.
    unit : {'c', 'f'}, optional
        Celsius or Fahrenheit.
    lat, lon : float
        Where.

    Returns
    -------
    dict
        The report.
    """

REST = """Get the weather.

    Uses the national service.

    :param city: The city,
        as written locally.
    :type city: str
    :param str unit: Celsius or Fahrenheit.
    :returns: The report.
    :raises KeyError: unknown city.
    """


@pytest.mark.parametrize("doc", [GOOGLE, NUMPY, REST], ids=["google", "numpy", "rest"])
def test_each_style_gives_description_and_parameters(doc: str) -> None:
    parsed = parse_docstring(doc)
    assert parsed.description == "Get the weather.\n\nUses the national service."
    assert parsed.params["city"] == "The city, as written locally."
    assert parsed.params["unit"] == "Celsius or Fahrenheit."
    assert "KeyError" not in parsed.params


def test_numpy_shared_entry_describes_each_name() -> None:
    assert parse_docstring(NUMPY).params["lat"] == "Where."
    assert parse_docstring(NUMPY).params["lon"] == "Where."


def test_google_star_names_are_stripped() -> None:
    assert parse_docstring(GOOGLE).params["extra"] == "Ignored."


@pytest.mark.parametrize(
    ("doc", "description", "params"),
    [
        (None, "", {}),
        ("", "", {}),
        ("   \n  ", "", {}),
        ("One line.", "One line.", {}),
        ("Summary.\n\nArgs:\n    x: An x.\n", "Summary.", {"x": "An x."}),
        ("Args:\n    x: An x.", "", {"x": "An x."}),
        ("Summary.\n\nAttributes:\n    x (int): An x.\n", "Summary.", {"x": "An x."}),
        ("Summary.\n\n:ivar x: An x.\n:vartype x: int", "Summary.", {"x": "An x."}),
        (
            "Summary.\n\nArgs:\n    x:\n        On the next line.\n",
            "Summary.",
            {"x": "On the next line."},
        ),
        (
            "Summary.\n\nKeyword Args:\n    x: An x.\nNote:\n    Not a param.",
            "Summary.",
            {"x": "An x."},
        ),
        ("Summary.\n\nExample:\n    >>> f(1)\n", "Summary.", {}),
        # Entries the SDK's parser reads too: no space after the colon, brackets in the type.
        (
            "Summary.\n\nArgs:\n    x: An x.\n    unit:The unit.\n"
            "    pair (tuple(int, int)): A pair.\n    y: A y.\n",
            "Summary.",
            {"x": "An x.", "unit": "The unit.", "pair": "A pair.", "y": "A y."},
        ),
    ],
)
def test_edge_cases(doc: str | None, description: str, params: dict[str, str]) -> None:
    parsed = parse_docstring(doc)
    assert parsed.description == description
    assert parsed.params == params
