"""Ids and timestamps as senders emit them (DESIGN.md §1): RFC 4122 v4 UUIDs
with dashes, ISO 8601 UTC timestamps with milliseconds and ``Z``."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Optional


def uuid4() -> str:
    """A new random UUID v4 with dashes, e.g. ``"6f1c0c1e-8a39-4c36-9f8a-0b1d2e3f4a5b"``.

    The spec's Python emits ``uuid4().hex`` (no dashes); DESIGN.md has senders
    emit dashes. Receivers accept any non-empty string either way.
    """
    return str(uuid.uuid4())


def iso_timestamp(at: Optional[datetime] = None) -> str:
    """``at`` (now by default) as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC.

    >>> iso_timestamp(datetime(1970, 1, 1, tzinfo=timezone.utc))
    '1970-01-01T00:00:00.000Z'
    """
    at = at or datetime.now(timezone.utc)
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    at = at.astimezone(timezone.utc)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
