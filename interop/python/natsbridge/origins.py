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
    if not isinstance(url, str) or any(c.isspace() or ord(c) < 0x20 or c == "\\" for c in url):
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
