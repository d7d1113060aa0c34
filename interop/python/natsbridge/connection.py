"""Opening and closing NATS connections (nats-py) with typed errors."""

from __future__ import annotations

import asyncio
import logging
import re
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, List, Optional

import nats
from nats.aio.client import Client

from .errors import TransportError
from .log import log_event

#: Seconds one TCP connect may take.
DEFAULT_CONNECT_TIMEOUT = 5.0
#: Seconds the first connection may take in all, retries included.
DEFAULT_CONNECT_BUDGET = 10.0


# Up to the last "@" of the server (greedy, within one server): a raw "@" or a
# space in a password is part of it, for the URL parser too.
# Applied to one server at a time: up to its last "@", newlines included.
_CREDENTIALS = re.compile(r"//.*@", re.S)
_NO_SCHEME_CREDENTIALS = re.compile(r"^(\s*).*@", re.S)


def redact(url: str) -> str:
    """``url`` (one or several, comma-separated) with any ``user:pass@`` or
    ``token@`` replaced by ``***@``, for envelopes, messages and logs.

    >>> redact("nats://alice:pw@127.0.0.1:4222,nats://tok@10.0.0.2:4222")
    'nats://***@127.0.0.1:4222,nats://***@10.0.0.2:4222'
    >>> redact("alice:pw@127.0.0.1:4222")
    '***@127.0.0.1:4222'
    >>> redact("nats://svc:p@ss%2Fw0rd@127.0.0.1:4222")
    'nats://***@127.0.0.1:4222'
    """
    # Each server, with a scheme ("nats://u:p@h") or without one ("u:p@h").
    return ",".join(
        _CREDENTIALS.sub("//***@", s, count=1) if "://" in s else _NO_SCHEME_CREDENTIALS.sub(r"\1***@", s, count=1)
        for s in _listed(url)
    )


def _listed(url: str) -> List[str]:
    """The comma-separated servers of ``url``, a raw comma in credentials kept
    inside its server (``nats://u:a,b@h`` is one): split there, ``nats://u:a``
    was printed unmasked."""
    parts: List[str] = []
    for part in url.split(","):
        if parts and "@" in part and "://" not in part and "://" in parts[-1] and "@" not in parts[-1]:
            parts[-1] += "," + part
        else:
            parts.append(part)
    return parts


def servers_of(broker_url: str) -> List[str]:
    """The servers of a comma-separated ``broker_url``, as ``NATS_URL`` may list them.

    >>> servers_of("nats://a:4222, nats://b:4222")
    ['nats://a:4222', 'nats://b:4222']
    """
    return [s.strip() for s in _listed(broker_url) if s.strip()]


async def report_error(err: Exception) -> None:
    """nats-py's error callback. Connect and publish failures already reach the
    caller as typed errors, so they are only logged at debug level; a message
    dropped for a slow consumer is reported nowhere else, so it is a warning."""
    if isinstance(err, nats.errors.SlowConsumerError):
        log_event(
            logging.WARNING, "",
            f"Dropped a message on {err.subject}: SLOW_CONSUMER slow consumer, the reader fell behind",
        )
    else:
        log_event(logging.DEBUG, "", f"NATS connection error: {type(err).__name__}: {redact(str(err))}")


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
    # nats-py retries a first connect whose credentials the server refuses,
    # reporting each refusal only to error_cb: the first one ends the wait.
    refused: "asyncio.Future[BaseException]" = asyncio.get_running_loop().create_future()
    user_error_cb = options.get("error_cb", report_error)

    async def on_error(err: Exception) -> None:
        if _is_refusal(err) and not refused.done():
            refused.set_result(err)
        await user_error_cb(err)

    options["error_cb"] = on_error
    nc = Client()
    connecting = asyncio.ensure_future(
        asyncio.wait_for(nc.connect(servers=servers_of(broker_url), connect_timeout=connect_timeout, **options), budget)
    )
    try:
        await asyncio.wait({connecting, refused}, return_when=asyncio.FIRST_COMPLETED)
        if not connecting.done():
            connecting.cancel()
            # It may end with the refusal before it sees the cancel: retrieved, not reported.
            connecting.add_done_callback(lambda t: t.cancelled() or t.exception())
            raise refused.result()
        connecting.result()
        return nc
    except (asyncio.TimeoutError, OSError, nats.errors.Error) as err:
        try:
            await nc.close()
        except Exception:  # never connected: nothing to close
            pass
        why = f"{type(err).__name__}: {redact(str(err))}"
        # Refused credentials are no outage: as CONNECTION_FAILED, the code
        # applications retry on, a wrong password was retried for ever.
        if _is_refusal(err):
            raise TransportError(
                f"Cannot connect to {redact(broker_url)}: the server refused these credentials ({why}); "
                "check the user and password, token, NKey or creds",
                code="PERMISSION_DENIED",
                correlation_id=correlation_id,
            ) from err
        raise TransportError(
            f"Cannot connect to {redact(broker_url)}: {why}",
            code="CONNECTION_FAILED",
            correlation_id=correlation_id,
        ) from err


def _is_refusal(err: BaseException) -> bool:
    """Whether the server refused the credentials (not a server out of reach)."""
    return re.search(r"authorization violation|authentication expired", str(err), re.IGNORECASE) is not None


#: Seconds a send or a subscription waits for the server's confirmation (nats-py's default).
FLUSH_TIMEOUT = 10.0
# Long enough never to end first: our own timeout (confirmed_flush) ends the wait.
_FLUSH_FOREVER = 3600.0


async def confirmed_flush(nc: Client, timeout: float) -> None:
    """Waits until the server has everything written so far (a PING's PONG).

    nats-py's own ``flush(timeout)`` cancels its PONG future on a timeout or a
    cancellation but leaves it queued; the late PONG then raises in its read
    loop, which ends for good: subscriptions receive nothing more, and later
    flushes return at once. So the flush itself is never timed out or cancelled
    here: it is shielded, and only our wait for it ends.

    Raises:
        TransportError: ``PUBLISH_FAILED`` while the connection is down: nats-py
            would only buffer the PING then, and answer as if confirmed.
        asyncio.TimeoutError: no PONG within ``timeout`` seconds.
    """
    ensure_up(nc)
    inner = asyncio.ensure_future(nc.flush(timeout=_FLUSH_FOREVER))
    # Its outcome is nobody's once we stop waiting: not "never retrieved".
    inner.add_done_callback(lambda t: t.cancelled() or t.exception())
    await asyncio.wait_for(asyncio.shield(inner), timeout)


def ensure_up(nc: Client) -> None:
    """Raises ``PUBLISH_FAILED`` unless ``nc`` is connected (not reconnecting, not closed)."""
    if not nc.is_connected:
        state = "closed" if nc.is_closed else "down (reconnecting)"
        raise TransportError(f"connection is {state}", code="PUBLISH_FAILED")


async def close_quietly(nc: Client) -> None:
    """Drains ``nc``, else closes it; neither may raise (a connection lost mid-close)."""
    try:
        await nc.drain()
    except Exception:
        try:
            await nc.close()
        except Exception:  # already lost: nothing left to close
            pass


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
        await close_quietly(nc)  # best effort; the publish already flushed
