"""Defaults, environment variables and option checks (DESIGN.md §1)."""

from __future__ import annotations

import os
from typing import Any, Optional

from .errors import OptionsError

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
    return check_string(option, "broker_url") or os.environ.get("NATS_URL") or DEFAULT_BROKER_URL


def resolve_fileserver_url(option: Optional[str] = None) -> str:
    """``fileserver_url`` option, else ``$FILESERVER_URL``, else the default; no trailing slash."""
    url = (
        check_string(option, "fileserver_url")
        or os.environ.get("FILESERVER_URL")
        or DEFAULT_FILESERVER_URL
    )
    return url.rstrip("/")


def resolve_size_threshold(option: Optional[int] = None) -> int:
    """``size_threshold`` option, else ``$SIZE_THRESHOLD``, else 500_000."""
    if option is not None:
        return check_count(option, "size_threshold", 0)
    env = os.environ.get("SIZE_THRESHOLD")
    if not env:
        return DEFAULT_SIZE_THRESHOLD
    try:
        value = int(env.strip())
    except ValueError:
        value = -1
    if value < 0:
        raise OptionsError(
            f'SIZE_THRESHOLD must be a non-negative integer, got "{env}"', field="SIZE_THRESHOLD"
        )
    return value


def check_string(value: Any, name: str) -> Optional[str]:
    """Returns ``value`` if it is ``None`` or a string, raises :class:`OptionsError` otherwise."""
    if value is None or isinstance(value, str):
        return value
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
