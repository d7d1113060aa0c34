"""Exponential backoff as the spec defines it: wait ``base_delay``, then double,
capped at ``max_delay``."""

from __future__ import annotations

from typing import List


def backoff_delays(attempts: int, base_delay: int, max_delay: int) -> List[int]:
    """The delays (ms) between ``attempts`` tries: one fewer than the attempts.

    >>> backoff_delays(5, 100, 5000)
    [100, 200, 400, 800]
    >>> backoff_delays(8, 100, 1000)
    [100, 200, 400, 800, 1000, 1000, 1000]
    """
    delays: List[int] = []
    delay = min(base_delay, max_delay)
    for _ in range(1, attempts):
        delays.append(delay)
        delay = min(delay * 2, max_delay)
    return delays
