"""The allowed-origins rule for link downloads: a receiver fetches only from the
file servers it trusts, never from whatever URL a message names (SSRF)."""

from __future__ import annotations

from typing import Iterable, Optional
from urllib.parse import urlsplit

from .errors import OriginRefusedError

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def origin_of(url: str) -> Optional[str]:
    """The origin of ``url`` as ``scheme://host[:port]``, lowercased, default port
    dropped; ``None`` when it does not parse, has no host, or carries credentials
    (``http://user@host/``), which no file-server link needs.

    >>> origin_of("HTTP://Files.example:80/file/a/b/c")
    'http://files.example'
    >>> origin_of("nats-obj://payloads/abc")
    'nats-obj://payloads'
    """
    if not isinstance(url, str) or "\\" in url or not whitespace_only_in_path(url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname  # lowercased, brackets of IPv6 literals removed
    if not scheme or not host or "@" in parts.netloc:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def whitespace_only_in_path(url: str) -> bool:
    """No control characters, and no whitespace but spaces in the path (a
    peer's unescaped file name, as the spec builds links): anywhere else,
    parsers read them differently, and the origin checked could differ from
    the one fetched.

    >>> whitespace_only_in_path("http://files.example/file/a/b/my file.bin")
    True
    >>> whitespace_only_in_path("http://files.example /x"), whitespace_only_in_path("http://a/x" + chr(10))
    (False, False)
    """
    if any((c.isspace() and c != " ") or ord(c) < 0x20 for c in url):
        return False
    scheme_end = url.find("://")
    path_start = url.find("/", scheme_end + 3) if scheme_end != -1 else -1
    head = url if path_start == -1 else url[:path_start]
    return " " not in head and not url.endswith(" ")


def assert_allowed_origin(
    url: str, allowed: Iterable[str], *, correlation_id: str = "", dataname: str = ""
) -> None:
    """Raises :class:`OriginRefusedError` unless ``url``'s origin is one of
    ``allowed`` (origins or URLs). Nothing is fetched either way."""
    origin = origin_of(url)
    if origin is not None:
        for entry in allowed:
            if origin_of(entry) == origin:
                return
    raise OriginRefusedError(
        f'Refused to fetch payload "{dataname}" from {origin or "an unparseable URL"}: '
        "origin not in the allowed file servers",
        correlation_id=correlation_id,
        dataname=dataname,
    )
