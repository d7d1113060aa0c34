"""Opening and closing NATS connections (nats-py) with typed errors."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Optional

import nats
from nats.aio.client import Client

from .errors import TransportError

#: Seconds one TCP connect may take.
DEFAULT_CONNECT_TIMEOUT = 5.0
#: Seconds the first connection may take in all, retries included.
DEFAULT_CONNECT_BUDGET = 10.0


async def _quiet(_err: Exception) -> None:
    """nats-py logs every connection error itself; natsbridge raises typed errors instead."""


async def connect(
    broker_url: str,
    *,
    correlation_id: str = "",
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    budget: float = DEFAULT_CONNECT_BUDGET,
    **options: Any,
) -> Client:
    """Connects to ``broker_url``; ``options`` go to nats-py's ``Client.connect``.

    nats-py retries a failing *first* connect ``max_reconnect_attempts`` times,
    ``reconnect_time_wait`` apart (60 × 2 s by default), even with
    ``allow_reconnect=False``; so the first connect is bounded by ``budget``
    seconds here, and a connection that does not reconnect also tries only twice.

    Raises:
        TransportError: ``CONNECTION_FAILED`` when the server cannot be reached.
    """
    options.setdefault("allow_reconnect", False)
    if not options["allow_reconnect"]:
        options.setdefault("max_reconnect_attempts", 1)
        options.setdefault("reconnect_time_wait", 0.2)
    options.setdefault("error_cb", _quiet)
    nc = Client()
    try:
        await asyncio.wait_for(
            nc.connect(servers=[broker_url], connect_timeout=connect_timeout, **options), budget
        )
        return nc
    except (asyncio.TimeoutError, OSError, nats.errors.Error) as err:
        try:
            await nc.close()
        except Exception:  # never connected: nothing to close
            pass
        raise TransportError(
            f"Cannot connect to {broker_url}: {type(err).__name__}: {err}",
            code="CONNECTION_FAILED",
            correlation_id=correlation_id,
        ) from err


@asynccontextmanager
async def connection(
    existing: Optional[Client], broker_url: str, correlation_id: str
) -> AsyncIterator[Client]:
    """Yields ``existing`` untouched, or a new connection that is drained and closed after."""
    if existing is not None:
        yield existing
        return
    nc = await connect(broker_url, correlation_id=correlation_id)
    try:
        yield nc
    finally:
        try:
            await nc.drain()
        except Exception:  # closing is best effort; the publish already flushed
            await nc.close()
