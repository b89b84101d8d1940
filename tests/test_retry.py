"""Retry decisions and delays (pure)."""

from __future__ import annotations

import email.utils

import pytest

from ollama_wire._errors import (
    CONNECT_FAILED,
    CONNECT_TIMED_OUT,
    DROPPED,
    DROPPED_READING,
    OTHER,
    READ_TIMED_OUT,
    TLS_FAILED,
)
from ollama_wire._retry import (
    MAX_RETRY_AFTER,
    Retrying,
    backoff,
    parse_retry_after,
    retry_delay,
    should_retry,
)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"failure": CONNECT_FAILED}, True),
        ({"failure": CONNECT_FAILED, "side_effects": True}, True),
        ({"failure": CONNECT_TIMED_OUT, "side_effects": True}, True),
        ({"failure": DROPPED}, True),
        ({"failure": DROPPED, "side_effects": True}, False),
        ({"failure": READ_TIMED_OUT}, False),
        ({"failure": DROPPED_READING}, False),
        ({"failure": TLS_FAILED}, False),
        ({"failure": OTHER}, False),
        ({"status": 503}, True),
        ({"status": 429}, True),
        ({"status": 502}, True),
        ({"status": 504}, True),
        ({"status": 500}, False),
        ({"status": 404}, False),
        ({"status": 503, "side_effects": True}, False),
        ({"status": 503, "yielded": True}, False),
        ({"failure": CONNECT_FAILED, "yielded": True}, False),
    ],
)
def test_should_retry(kwargs: dict[str, object], expected: bool) -> None:
    assert should_retry(1, 2, **kwargs) is expected  # type: ignore[arg-type]


def test_attempts_are_bounded() -> None:
    assert should_retry(2, 2, status=503)
    assert not should_retry(3, 2, status=503)
    assert not should_retry(1, 0, failure=CONNECT_FAILED)


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff(n, 1.0) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert backoff(0, 0.75) == 0.375


def test_jitter_range() -> None:
    assert retry_delay(0, rand=lambda: 0.0) == 0.5
    assert retry_delay(0, rand=lambda: 1.0) == 0.375


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
        ({"Retry-After": "soon"}, None),
        ({}, None),
        ({"Retry-After": "0"}, 0.0),
        # Not a delay that can be waited: the normal backoff instead.
        ({"Retry-After": "-4"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "inf"}, None),
        ({"retry-after-ms": "-1", "Retry-After": "9"}, 9.0),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_retry_after_as_a_date() -> None:
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=1_000_000) == pytest.approx(30)


def test_server_delay_wins_unless_too_long() -> None:
    assert retry_delay(0, {"Retry-After": "2"}) == 2.0
    too_long = {"Retry-After": str(MAX_RETRY_AFTER + 1)}
    assert retry_delay(1, too_long, rand=lambda: 0.0) == 1.0


def test_retrying_counts_attempts_and_gives_delays() -> None:
    retrying = Retrying(2, side_effects=False, rand=lambda: 0.0)
    retrying.start()
    assert retrying.delay(status=503) == 0.5
    retrying.start()
    assert retrying.delay(status=503, headers={"Retry-After": "7"}) == 7.0
    retrying.start()
    assert retrying.delay(status=503) is None
    assert retrying.attempt == 3


def test_retrying_with_side_effects() -> None:
    retrying = Retrying(2, side_effects=True, rand=lambda: 1.0)
    retrying.start()
    assert retrying.delay(status=503) is None
    assert retrying.delay(failure=DROPPED) is None
    assert retrying.delay(failure=CONNECT_FAILED) == 0.375
