"""Running a message's payloads concurrently, whole or not at all."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Iterable, List


async def all_or_none(coros: Iterable[Awaitable[Any]]) -> List[Any]:
    """Runs ``coros`` concurrently and returns their results in order. The
    first failure cancels the others (an upload would leave a file no envelope
    links to; a download, bytes nobody gets) and is raised once they stopped."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        if tasks:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for t in tasks:
            if t.done() and not t.cancelled() and t.exception() is not None:
                raise t.exception()
        return [t.result() for t in tasks]
    finally:
        for t in tasks:
            if not t.done():
                t.cancel()
        pending = [t for t in tasks if not t.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
