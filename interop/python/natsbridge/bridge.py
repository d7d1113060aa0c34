"""The ``NATSBridge`` class: the spec's class-based Python API.

``NATSBridge.smartsend(...)`` / ``NATSBridge.smartreceive(...)`` work on the
class itself (a default bridge, as in the spec's example) and on an instance,
which then supplies its own defaults and, once connected, its one connection.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, Iterable, Optional, Sequence, Tuple

from .config import resolve_broker_url, resolve_fileserver_url
from .connection import connect
from .errors import NatsBridgeError
from .log import log_event
from .receive import receive_envelope
from .send import smartsend as _smartsend


class _hybridmethod:
    """A method that binds to a fresh default instance when called on the class."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        functools.update_wrapper(self, fn)

    def __get__(self, instance: Any, owner: type) -> Callable[..., Any]:
        return functools.partial(self.fn, instance if instance is not None else owner())


class NATSBridge:
    """One NATS broker and one file server, with send and receive defaults.

    Args:
        broker_url: NATS URL (default ``$NATS_URL``, else ``nats://localhost:4222``).
        fileserver_url: File server for uploads and the trusted download origin
            (default ``$FILESERVER_URL``, else ``http://localhost:8080``).
        size_threshold: Serialized bytes from which a payload goes by link.
        fileserver_upload_handler: Upload handler (default Plik, 24 h TTL).
        fileserver_download_handler: Download handler (default ``fetch_with_backoff``).
        allowed_origins: More origins links may point to.
        arrow_output: ``"pandas"`` or ``"arrow"`` for received ``arrowtable`` payloads.
        connect_options: Passed to nats-py's ``connect`` (``budget`` bounds the first
            connect, seconds; default 10). Reconnects are on by default.

    Example:
        >>> import asyncio
        >>> async def main():
        ...     async with NATSBridge("nats://127.0.0.1:4222") as bridge:
        ...         env, text = await bridge.smartsend("chat", [("msg", "Hello!", "text")])
    """

    def __init__(
        self,
        broker_url: Optional[str] = None,
        *,
        fileserver_url: Optional[str] = None,
        size_threshold: Optional[int] = None,
        fileserver_upload_handler: Optional[Callable[..., Awaitable[Dict[str, Any]]]] = None,
        fileserver_download_handler: Optional[Callable[..., Awaitable[bytes]]] = None,
        allowed_origins: Iterable[str] = (),
        arrow_output: str = "pandas",
        connect_options: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.broker_url = resolve_broker_url(broker_url)
        self.fileserver_url = resolve_fileserver_url(fileserver_url)
        self.size_threshold = size_threshold
        self.fileserver_upload_handler = fileserver_upload_handler
        self.fileserver_download_handler = fileserver_download_handler
        self.allowed_origins = tuple(allowed_origins)
        self.arrow_output = arrow_output
        self.connect_options = {"allow_reconnect": True, **(connect_options or {})}
        self.nc: Any = None

    async def connect(self) -> "NATSBridge":
        """Opens the bridge's connection (sends then reuse it)."""
        if self.nc is None or self.nc.is_closed:
            self.nc = await connect(self.broker_url, **self.connect_options)
        return self

    async def close(self) -> None:
        """Drains and closes the connection, if open."""
        if self.nc is not None and not self.nc.is_closed:
            try:
                await self.nc.drain()
            except Exception:
                await self.nc.close()
        self.nc = None

    async def __aenter__(self) -> "NATSBridge":
        return await self.connect()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    @_hybridmethod
    async def smartsend(
        self, subject: str, data: Sequence[Tuple[str, Any, str]], **options: Any
    ) -> Tuple[Dict[str, Any], str]:
        """:func:`natsbridge.smartsend` with this bridge's defaults and connection."""
        options.setdefault("broker_url", self.broker_url)
        options.setdefault("fileserver_url", self.fileserver_url)
        if self.size_threshold is not None:
            options.setdefault("size_threshold", self.size_threshold)
        if self.fileserver_upload_handler is not None:
            options.setdefault("fileserver_upload_handler", self.fileserver_upload_handler)
        if self.nc is not None and not self.nc.is_closed:
            options.setdefault("nats_connection", self.nc)
        return await _smartsend(subject, data, **options)

    @_hybridmethod
    async def smartreceive(self, msg: Any, **options: Any) -> Dict[str, Any]:
        """:func:`natsbridge.smartreceive` with this bridge's defaults."""
        return (await receive_envelope(msg, **self._receive_options(options))).to_result()

    async def subscribe(
        self,
        subject: str,
        *,
        queue: str = "",
        on_error: Optional[Callable[[NatsBridgeError, Any], Any]] = None,
        **options: Any,
    ) -> AsyncIterator[Dict[str, Any]]:
        """Yields each received envelope (as :func:`smartreceive` returns it).

        A message that fails to receive never ends the loop: its error goes to
        ``on_error(error, msg)`` (default: a warning log line) and the next
        message is read.
        """
        await self.connect()
        sub = await self.nc.subscribe(subject, queue=queue)
        opts = self._receive_options(options)
        try:
            async for msg in sub.messages:
                try:
                    yield (await receive_envelope(msg, **opts)).to_result()
                except NatsBridgeError as err:
                    if on_error is not None:
                        on_error(err, msg)
                    else:
                        log_event(logging.WARNING, err.correlation_id, f"Dropped message: {err.code} {err.message}")
        finally:
            try:
                await sub.unsubscribe()
            except Exception:  # connection already closed
                pass

    def _receive_options(self, options: Dict[str, Any]) -> Dict[str, Any]:
        options.setdefault("fileserver_url", self.fileserver_url)
        options.setdefault("arrow_output", self.arrow_output)
        extra = tuple(options.pop("allowed_origins", ()))
        options["allowed_origins"] = self.allowed_origins + extra
        if self.fileserver_download_handler is not None:
            options.setdefault("fileserver_download_handler", self.fileserver_download_handler)
        return options
