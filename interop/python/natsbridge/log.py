"""Log lines in the spec's form ``[<ISO timestamp>] [Correlation: <id>] <message>``
through the standard :mod:`logging` module (logger name ``"natsbridge"``).

The library only adds a :class:`logging.NullHandler`; applications choose where
lines go. Each record also carries ``correlation_id`` as an attribute, for
handlers that prefer structured fields.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Optional

from .ids import iso_timestamp

logger = logging.getLogger("natsbridge")
logger.addHandler(logging.NullHandler())


def format_log_line(correlation_id: str, message: str, at: Optional[datetime] = None) -> str:
    """Formats one line: ``[<ISO timestamp>] [Correlation: <id>] <message>``.

    >>> from datetime import timezone
    >>> format_log_line("abc", "Message published to chat", datetime(1970, 1, 1, tzinfo=timezone.utc))
    '[1970-01-01T00:00:00.000Z] [Correlation: abc] Message published to chat'
    """
    return f"[{iso_timestamp(at)}] [Correlation: {correlation_id}] {message}"


def log_event(level: int, correlation_id: str, message: str) -> None:
    """Emits one event on the ``natsbridge`` logger; the one place lines are built."""
    if logger.isEnabledFor(level):
        logger.log(
            level, format_log_line(correlation_id, message), extra={"correlation_id": correlation_id}
        )
