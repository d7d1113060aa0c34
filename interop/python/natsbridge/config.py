"""Defaults, environment variables and option checks (DESIGN.md §1)."""

from __future__ import annotations

import os
import re
import urllib.parse
from typing import Any, Iterable, Optional, Tuple

from .canonical import MAX_SAFE_INTEGER
from .errors import OptionsError
from .origins import origin_of

#: NATS URL when neither ``broker_url`` nor ``NATS_URL`` is set.
DEFAULT_BROKER_URL = "nats://localhost:4222"
#: File-server URL when neither ``fileserver_url`` nor ``FILESERVER_URL`` is set.
DEFAULT_FILESERVER_URL = "http://localhost:8080"
#: Serialized size (bytes) from which a payload goes by link.
DEFAULT_SIZE_THRESHOLD = 500_000
#: Download attempts before giving up.
DEFAULT_MAX_RETRIES = 5
#: First backoff delay, ms.
DEFAULT_BASE_DELAY = 100
#: Longest backoff delay, ms.
DEFAULT_MAX_DELAY = 5000


def resolve_broker_url(option: Optional[str] = None) -> str:
    """``broker_url`` option, else ``$NATS_URL``, else the default."""
    url = check_string(option, "broker_url") or os.environ.get("NATS_URL") or DEFAULT_BROKER_URL
    return check_text(url, "broker_url")


def resolve_fileserver_url(option: Optional[str] = None) -> str:
    """``fileserver_url`` option, else ``$FILESERVER_URL``, else the default; no trailing slash."""
    given = check_string(option, "fileserver_url")
    url = given or os.environ.get("FILESERVER_URL") or DEFAULT_FILESERVER_URL
    # Every link is built from it: credentials would travel in every envelope.
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None or parts.password is not None:
        name = "fileserver_url" if given else "FILESERVER_URL"
        raise OptionsError(
            f"{name} must not carry credentials: every link is built from it, so they would travel in every "
            f'envelope (a Plik token goes in the token option or PLIK_TOKEN), got "{parts.scheme}://***@{parts.hostname}'
            f'{":" + str(parts.port) if parts.port else ""}"',
            field=name,
        )
    return url.rstrip("/")


def resolve_size_threshold(option: Optional[int] = None) -> int:
    """``size_threshold`` option, else ``$SIZE_THRESHOLD``, else 500_000."""
    if option is not None:
        return check_count(option, "size_threshold", 0)
    env = os.environ.get("SIZE_THRESHOLD")
    if not env:
        return DEFAULT_SIZE_THRESHOLD
    # ASCII decimal digits (and spaces or tabs around them) only, as the
    # TypeScript peer reads it: int() also takes "1_000_000", "+5" and other
    # scripts' digits, and each language's \s covers other characters.
    value = int(env) if re.fullmatch(r"[ \t]*[0-9]+[ \t]*", env) else -1
    # Past 2**53 - 1 TypeScript's numbers stop being exact, and it refuses the value.
    if value < 0 or value > MAX_SAFE_INTEGER:
        raise OptionsError(
            f'SIZE_THRESHOLD must be a non-negative integer, got "{env}"', field="SIZE_THRESHOLD"
        )
    return value


def check_string(value: Any, name: str) -> Optional[str]:
    """Returns ``value`` if it is ``None`` or a string, raises :class:`OptionsError` otherwise."""
    if value is None:
        return value
    if isinstance(value, str):
        return check_text(value, name)
    raise OptionsError(f"{name} must be a string, got {type(value).__name__}", field=name)


def check_count(value: Any, name: str, minimum: int) -> int:
    """Returns ``value`` if it is an int ≥ ``minimum`` (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise OptionsError(f"{name} must be an integer >= {minimum}, got {value!r}", field=name)
    return value


def check_callable(value: Any, name: str) -> Any:
    """Returns ``value`` if it is ``None`` or callable."""
    if value is not None and not callable(value):
        raise OptionsError(f"{name} must be callable, got {type(value).__name__}", field=name)
    return value


def check_boolean(value: Any, name: str) -> bool:
    """Returns ``value`` if it is a bool: a truthy ``"false"`` must not turn a switch on."""
    if isinstance(value, bool):
        return value
    raise OptionsError(f"{name} must be True or False, got {value!r}", field=name)


def check_text(value: str, name: str, error: type = OptionsError) -> str:
    """Returns ``value`` if UTF-8 can carry it; a lone surrogate would otherwise fail
    only when the envelope is encoded, after the uploads."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise error(f"{name} is not valid Unicode text: {err.reason} at index {err.start}", field=name) from None
    return value


def check_subject(value: Any, wildcards: bool, name: str = "subject") -> str:
    """Returns ``value`` if NATS accepts it as a subject, like the TypeScript
    ``checkSubject``: non-empty, no whitespace, no empty token, ``>`` only last,
    and no wildcard at all when it is published to (``wildcards=False``)."""
    if not isinstance(value, str) or value == "":
        raise OptionsError(f"{name} must be a non-empty string, got {value!r}", field=name)
    check_text(value, name)
    if re.search(r"\s", value):
        raise OptionsError(f"{name} {value!r} must not contain whitespace", field=name)
    tokens = value.split(".")
    for i, token in enumerate(tokens):
        if token == "":
            raise OptionsError(f"{name} {value!r} has an empty token", field=name)
        if token == ">" and i < len(tokens) - 1:
            raise OptionsError(f'{name} {value!r}: ">" may only be the last token', field=name)
    if not wildcards and any(t in ("*", ">") for t in tokens):
        raise OptionsError(f"cannot publish to the wildcard subject {value!r}: name one subject", field=name)
    return value


def check_queue(value: Any, name: str = "queue") -> str:
    """Returns ``value`` if it is ``""`` (no queue group) or a name NATS accepts."""
    if value == "":
        return value
    if not isinstance(value, str) or re.search(r"\s", value):
        raise OptionsError(f"{name} must be a queue group name without whitespace, got {value!r}", field=name)
    return check_text(value, name)


def check_origins(value: Any, name: str = "allowed_origins") -> Tuple[str, ...]:
    """Returns the origins as a tuple: one string is one origin (as in
    ``smartreceive``), never its characters; every entry must have a scheme and a
    host, since anything else could never match a link."""
    if isinstance(value, str):
        value = (value,)
    if value is None or isinstance(value, (bytes, bytearray, dict)) or not isinstance(value, Iterable):
        raise OptionsError(
            f'{name} must be an origin like "http://host:8080" or a list of them, got {value!r}', field=name
        )
    origins = tuple(value)
    for o in origins:
        if origin_of(o) is None:
            raise OptionsError(
                f'{name} entry {o!r} is not an origin: give a scheme and a host, like "http://host:8080"',
                field=name,
            )
    return origins
