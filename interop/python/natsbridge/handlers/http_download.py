"""The default download handler: HTTP GET with the spec's exponential backoff,
a cap at the announced size, an idle timeout, and no redirects (a redirect could
lead outside the allowed origins)."""

from __future__ import annotations

import asyncio
import logging
from typing import Optional

import aiohttp

from ..backoff import backoff_delays
from ..config import DEFAULT_BASE_DELAY, DEFAULT_MAX_DELAY, DEFAULT_MAX_RETRIES
from ..errors import DownloadError
from ..log import log_event

#: Seconds without a byte arriving before an attempt is abandoned.
DEFAULT_IDLE_TIMEOUT = 30.0
#: Seconds a TCP connect may take.
DEFAULT_CONNECT_TIMEOUT = 10.0

_CHUNK = 1 << 16


class _Retryable(Exception):
    """A failure worth another attempt (network error, HTTP 5xx/408/429, a body cut short)."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


async def fetch_with_backoff(
    url: str,
    max_retries: int = DEFAULT_MAX_RETRIES,
    base_delay: int = DEFAULT_BASE_DELAY,
    max_delay: int = DEFAULT_MAX_DELAY,
    correlation_id: str = "",
    *,
    dataname: str = "",
    expected_size: Optional[int] = None,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    session: Optional[aiohttp.ClientSession] = None,
) -> bytes:
    """Downloads ``url``, retrying transient failures.

    At most ``max_retries`` attempts in all, separated by ``base_delay`` ms,
    doubling, capped at ``max_delay`` ms (5, 100, 5000 → waits of 100, 200, 400,
    800 ms). A 404 or 410 is not retried: the file is gone (expired, or a
    one-shot file already taken). Other 4xx answers and redirects are not
    retried either.

    Args:
        url: The link (HTTP or HTTPS).
        max_retries: Total attempts (at least 1 is made).
        base_delay: First delay, ms.
        max_delay: Longest delay, ms.
        correlation_id: For log lines and errors.
        dataname: Payload name, for log lines and errors.
        expected_size: Bytes the envelope announced; more is ``PAYLOAD_TOO_LARGE``.
        idle_timeout: Seconds without data before an attempt is abandoned.
        connect_timeout: Seconds a connect may take.
        session: An ``aiohttp`` session to reuse; one is made per call otherwise.

    Returns:
        The bytes.

    Raises:
        DownloadError: ``DOWNLOAD_FAILED`` after the last attempt, ``PAYLOAD_GONE``
            on 404/410, ``PAYLOAD_TOO_LARGE`` when more bytes arrive than announced;
            ``correlation_id``, ``dataname``, ``attempts`` and ``status`` are set.
    """
    attempts = max(1, int(max_retries))
    delays = backoff_delays(attempts, base_delay, max_delay)
    ctx = {"correlation_id": correlation_id, "dataname": dataname}
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=idle_timeout)
    own = session is None
    if own:
        session = aiohttp.ClientSession(timeout=timeout)
    last = _Retryable(0, "no attempt made")
    try:
        for attempt in range(1, attempts + 1):
            try:
                return await _download_once(session, url, expected_size, timeout, ctx)
            except DownloadError as err:
                err.attempts = attempt
                raise
            except _Retryable as err:
                last = err
            if attempt <= len(delays):
                delay = delays[attempt - 1]
                log_event(
                    logging.WARNING,
                    correlation_id,
                    f'Download of "{dataname}" failed ({last.why}), attempt {attempt}/{attempts}, '
                    f"retrying in {delay} ms",
                )
                await asyncio.sleep(delay / 1000.0)
    finally:
        if own:
            await session.close()
    raise DownloadError(
        f'Download of "{dataname}" failed after {attempts} attempts: {last.why}',
        attempts=attempts,
        status=last.status,
        **ctx,
    )


async def _download_once(
    session: aiohttp.ClientSession,
    url: str,
    expected_size: Optional[int],
    timeout: aiohttp.ClientTimeout,
    ctx: dict,
) -> bytes:
    try:
        async with session.get(url, allow_redirects=False, timeout=timeout) as resp:
            status = resp.status
            if status in (404, 410):
                raise DownloadError(
                    f'Payload "{ctx["dataname"]}" is gone from the file server (HTTP {status}): '
                    "expired, deleted, or a one-shot file already downloaded",
                    code="PAYLOAD_GONE",
                    status=status,
                    **ctx,
                )
            if status >= 500 or status in (408, 429):
                raise _Retryable(status, f"HTTP {status}")
            if not 200 <= status < 300:
                raise DownloadError(
                    f'Download of "{ctx["dataname"]}" refused: HTTP {status}', status=status, **ctx
                )
            announced = resp.content_length
            if expected_size is not None and announced is not None and announced > expected_size:
                raise _too_large(ctx, expected_size, announced)
            chunks = []
            received = 0
            async for chunk in resp.content.iter_chunked(_CHUNK):
                received += len(chunk)
                if expected_size is not None and received > expected_size:
                    raise _too_large(ctx, expected_size, received)
                chunks.append(chunk)
            return b"".join(chunks)
    except (DownloadError, _Retryable):
        raise
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as err:
        raise _Retryable(0, f"{type(err).__name__}: {err}") from err


def _too_large(ctx: dict, expected: int, got: int) -> DownloadError:
    return DownloadError(
        f'Payload "{ctx["dataname"]}" download exceeds its announced size of {expected} bytes '
        f"(got at least {got})",
        code="PAYLOAD_TOO_LARGE",
        **ctx,
    )
