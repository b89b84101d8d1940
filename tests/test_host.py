"""The host table: every case of the official SDK's ``_parse_host`` plus our extras."""

from __future__ import annotations

import re

import pytest

from ollama_wire import RequestError
from ollama_wire._host import Host, is_loopback, parse_host, redact_url

V6 = "[0001:002:003:0004::1]"

SDK_CASES = [
    (None, "http://127.0.0.1:11434"),
    ("", "http://127.0.0.1:11434"),
    ("1.2.3.4", "http://1.2.3.4:11434"),
    (":56789", "http://127.0.0.1:56789"),
    ("1.2.3.4:56789", "http://1.2.3.4:56789"),
    ("http://1.2.3.4", "http://1.2.3.4:80"),
    ("https://1.2.3.4", "https://1.2.3.4:443"),
    ("https://1.2.3.4:56789", "https://1.2.3.4:56789"),
    ("example.com", "http://example.com:11434"),
    ("example.com:56789", "http://example.com:56789"),
    ("http://example.com", "http://example.com:80"),
    ("https://example.com", "https://example.com:443"),
    ("https://example.com:56789", "https://example.com:56789"),
    ("example.com/", "http://example.com:11434"),
    ("example.com:56789/", "http://example.com:56789"),
    ("example.com/path", "http://example.com:11434/path"),
    ("example.com:56789/path", "http://example.com:56789/path"),
    ("https://example.com:56789/path", "https://example.com:56789/path"),
    ("example.com:56789/path/", "http://example.com:56789/path"),
    (V6, f"http://{V6}:11434"),
    (f"{V6}:56789", f"http://{V6}:56789"),
    (f"http://{V6}", f"http://{V6}:80"),
    (f"https://{V6}", f"https://{V6}:443"),
    (f"https://{V6}:56789", f"https://{V6}:56789"),
    (f"{V6}/", f"http://{V6}:11434"),
    (f"{V6}:56789/", f"http://{V6}:56789"),
    (f"{V6}/path", f"http://{V6}:11434/path"),
    (f"{V6}:56789/path", f"http://{V6}:56789/path"),
    (f"https://{V6}:56789/path", f"https://{V6}:56789/path"),
    (f"{V6}:56789/path/", f"http://{V6}:56789/path"),
]

EXTRA_CASES = [
    # Surrounding whitespace and quotes, as the Go server strips them.
    (" 1.2.3.4 ", "http://1.2.3.4:11434"),
    ('"1.2.3.4"', "http://1.2.3.4:11434"),
    (' " 1.2.3.4 " ', "http://1.2.3.4:11434"),
    ("'1.2.3.4'", "http://1.2.3.4:11434"),
    # Bind-all addresses are dialled as loopback.
    ("0.0.0.0", "http://127.0.0.1:11434"),
    ("0.0.0.0:1234", "http://127.0.0.1:1234"),
    ("https://0.0.0.0:4321", "https://127.0.0.1:4321"),
    ("[::]", "http://[::1]:11434"),
    ("[::]:1234", "http://[::1]:1234"),
    # Bare IPv6 without brackets.
    ("::1", "http://[::1]:11434"),
    ("[::1]:1337", "http://[::1]:1337"),
    # Case-insensitive scheme, query and fragment dropped.
    ("HTTP://Example.COM", "http://example.com:80"),
    ("example.com:56789?x=1", "http://example.com:56789"),
    ("http://h:8080/p?x=1#frag", "http://h:8080/p"),
    # ollama.com means the cloud API over TLS, as in the Go client.
    ("ollama.com", "https://ollama.com:443"),
    ("https://example.com/ollama", "https://example.com:443/ollama"),
    (":0", "http://127.0.0.1:0"),
]


@pytest.mark.parametrize(("raw", "expected"), SDK_CASES + EXTRA_CASES)
def test_parse_host(raw: str | None, expected: str) -> None:
    assert parse_host(raw) == Host(expected, None)


def test_the_sdk_table_has_thirty_cases() -> None:
    assert len(SDK_CASES) == 30


@pytest.mark.parametrize(
    ("raw", "url", "auth"),
    [
        ("http://user:pass@example.com:8080/x", "http://example.com:8080/x", ("user", "pass")),
        ("user:pa%40ss@h", "http://h:11434", ("user", "pa@ss")),
        ("https://token@h", "https://h:443", ("token", "")),
        ("http://u:p:q@h", "http://h:80", ("u", "p:q")),
    ],
)
def test_userinfo_becomes_basic_auth(raw: str, url: str, auth: tuple[str, str]) -> None:
    assert parse_host(raw) == Host(url, auth)


@pytest.mark.parametrize("raw", ["h:99999", "h:-1", "h:port", "http://h:66000/x"])
def test_a_bad_port_is_rejected_clearly(raw: str) -> None:
    with pytest.raises(RequestError, match="port") as info:
        parse_host(raw)
    assert isinstance(info.value, ValueError)


def test_a_bad_port_error_hides_the_password() -> None:
    with pytest.raises(RequestError) as info:
        parse_host("http://me:secret@h:99999")
    assert "secret" not in str(info.value)
    assert "me:***@" in str(info.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://u:secret@h:1/x", "http://u:***@h:1/x"),
        ("u:secret@h", "u:***@h"),
        ("http://h:1/x", "http://h:1/x"),
        ("http://h/x@y", "http://h/x@y"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_display_hides_the_password() -> None:
    assert parse_host("http://ada:s3cret@h:1/x").display == "http://ada:***@h:1/x"
    assert parse_host("h").display == "http://h:11434"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("0://x", "bad scheme '0'"),
        ("1http://x:1", "bad scheme '1http'"),
        ("ht tp://x", "bad scheme 'ht tp'"),
        ("+http://x", "bad scheme '+http'"),
        ("://x", "bad scheme ''"),
        ("ftp://x", "unsupported scheme 'ftp'; use http:// or https://"),
        ("svn+ssh://x", "unsupported scheme 'svn+ssh'"),
    ],
)
def test_a_bad_scheme_is_rejected_clearly(raw: str, message: str) -> None:
    expected = re.escape(f"Invalid Ollama host {raw!r}: {message}")
    with pytest.raises(RequestError, match=f"^{expected}") as info:
        parse_host(raw)
    assert isinstance(info.value, ValueError)


def test_a_bad_scheme_error_hides_the_password() -> None:
    with pytest.raises(RequestError, match="bad scheme") as info:
        parse_host("0://me:secret@h")
    assert "secret" not in str(info.value)
    assert "me:***@h" in str(info.value)


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:11434", True),
        ("http://127.8.9.10:80/prefix", True),
        ("http://localhost:11434", True),
        ("https://LOCALHOST:443", True),
        ("http://[::1]:11434", True),
        ("http://[::ffff:127.0.0.1]:11434", True),  # as Go's IsLoopback
        ("http://localhost.example.com:11434", False),
        ("http://10.0.0.1:11434", False),
        ("https://ollama.com:443", False),
    ],
)
def test_is_loopback(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback
