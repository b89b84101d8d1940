"""Turn ``host=`` or ``OLLAMA_HOST`` into a base URL and optional basic-auth credentials."""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from ollama_wire._errors import RequestError

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "Host", "is_loopback", "parse_host", "redact_url"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 11434
_SCHEME_PORTS = {"http": 80, "https": 443}
# RFC 3986: a letter, then letters, digits, "+", "-" or ".".
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
# Bind-all addresses are server settings; a client dials them as loopback.
_DIAL_AS = {"0.0.0.0": "127.0.0.1", "::": "::1"}


class Host(NamedTuple):
    """A parsed host: the base URL (no trailing slash) and basic-auth credentials."""

    url: str
    auth: tuple[str, str] | None = None

    @property
    def display(self) -> str:
        """Return the URL to show users: the user name kept, the password hidden."""
        if self.auth is None:
            return self.url
        return self.url.replace("://", f"://{self.auth[0]}:***@", 1)


def _clean(value: str) -> str:
    value = value.strip()
    while len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1].strip()
    return value


def parse_host(host: str | None) -> Host:
    """Parse a host as the official SDK does, plus the Go server's extras.

    ==============================  ===================================
    ``None`` / ``""``               ``http://127.0.0.1:11434``
    ``"example.com:56789/path/"``   ``http://example.com:56789/path``
    ``"https://example.com"``       ``https://example.com:443``
    ``"ollama.com"``                ``https://ollama.com:443``
    ``"0.0.0.0"``                   ``http://127.0.0.1:11434``
    ``"::1"``                       ``http://[::1]:11434``
    ``"http://u:p@h"``              ``http://h:80`` with auth ``("u", "p")``
    ==============================  ===================================
    """
    if host is not None and not isinstance(host, str):
        raise RequestError(f"host must be a URL string such as 'http://localhost:11434', "
                           f"not {host!r}")
    raw = _clean(host or "")
    if raw.lower() == "ollama.com":
        return Host("https://ollama.com:443")
    port = DEFAULT_PORT
    scheme, sep, hostport = raw.partition("://")
    if not sep:
        scheme, hostport = "http", raw
    else:
        scheme = scheme.lower()
        if not _SCHEME.fullmatch(scheme):
            raise RequestError(f"Invalid Ollama host {redact_url(raw)!r}: bad scheme {scheme!r}")
        if scheme not in _SCHEME_PORTS:
            raise RequestError(
                f"Invalid Ollama host {redact_url(raw)!r}: unsupported scheme {scheme!r}; "
                "use http:// or https://"
            )
        port = _SCHEME_PORTS[scheme]
    netloc, slash, path = hostport.partition("/")
    auth: tuple[str, str] | None = None
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        user, _, password = userinfo.partition(":")
        auth = (unquote(user), unquote(password))
    netloc = netloc.split("?", 1)[0].split("#", 1)[0]
    if netloc.count(":") > 1 and not netloc.startswith("["):
        # A bare IPv6 address has no room for a port.
        netloc = f"[{netloc}]"
    try:
        split = urlsplit(f"{scheme}://{netloc}")
        parsed_port = split.port
    except ValueError as exc:
        raise RequestError(
            f"Invalid Ollama host {redact_url(raw)!r}: {exc}; "
            "expected [scheme://]host[:port][/path] with a port in 0-65535"
        ) from None
    name = split.hostname or DEFAULT_HOST
    name = _DIAL_AS.get(name, name)
    try:
        if ipaddress.ip_address(name).version == 6:
            name = f"[{name}]"
    except ValueError:
        pass
    base = f"{scheme}://{name}:{parsed_port if parsed_port is not None else port}"
    path = path.split("?", 1)[0].split("#", 1)[0].strip("/") if slash else ""
    return Host(f"{base}/{path}" if path else base, auth)


def redact_url(url: str) -> str:
    """Hide the password in a URL's userinfo."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    netloc, slash, tail = rest.partition("/")
    if "@" not in netloc:
        return url
    userinfo, _, hostport = netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return f"{scheme}{sep}{user}:***@{hostport}{slash}{tail}"


def is_loopback(url: str) -> bool:
    """Return whether ``url`` names this machine: ``localhost`` or a loopback address.

    Proxies from the environment never apply to such a host, as in Go's net/http and so in
    the ``ollama`` command: a global ``HTTP_PROXY`` must not send calls to a local Ollama
    out to a proxy, which answers 502 (the official SDK's issue #396).
    """
    name = urlsplit(url).hostname or ""
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback  # ::ffff:127.0.0.1
