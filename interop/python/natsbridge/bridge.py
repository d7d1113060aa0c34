"""The ``NATSBridge`` class: the spec's class-based Python API.

``NATSBridge.smartsend(...)`` / ``NATSBridge.smartreceive(...)`` work on the
class itself (a default bridge, as in the spec's example) and on an instance,
which then supplies its own defaults and, once connected, its one connection.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, Iterable, Optional, Sequence, Set, Tuple, Union

import nats
from nats.aio.subscription import DEFAULT_SUB_PENDING_BYTES_LIMIT, DEFAULT_SUB_PENDING_MSGS_LIMIT

from .codecs import ARROW_OUTPUTS
from .config import (
    check_callable,
    check_count,
    check_origins,
    check_queue,
    check_subject,
    resolve_broker_url,
    resolve_fileserver_url,
)
from .connection import FLUSH_TIMEOUT, close_quietly, confirmed_flush, connect, report_error
from .errors import NatsBridgeError, OptionsError, TransportError
from .log import log_event
from .receive import check_receive_options, receive_envelope
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
        allowed_origins: More origins links may point to (one string is one origin).
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
        allowed_origins: Union[str, Iterable[str]] = (),
        arrow_output: str = "pandas",
        connect_options: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.broker_url = resolve_broker_url(broker_url)
        self.fileserver_url = resolve_fileserver_url(fileserver_url)
        self.size_threshold = size_threshold
        self.fileserver_upload_handler = fileserver_upload_handler
        self.fileserver_download_handler = fileserver_download_handler
        self.allowed_origins = check_origins(allowed_origins)
        if arrow_output not in ARROW_OUTPUTS:
            raise OptionsError(f"arrow_output must be one of {ARROW_OUTPUTS}", field="arrow_output")
        self.arrow_output = arrow_output
        self.connect_options = {"allow_reconnect": True, **(connect_options or {})}
        self.nc: Any = None
        self._subscriptions: Set[Subscription] = set()
        # A subscription connects on its own when the bridge is not connected yet:
        # one connection, however many ask for it at once.
        self._connect_lock = asyncio.Lock()

    async def connect(self) -> "NATSBridge":
        """Opens the bridge's connection (sends then reuse it)."""
        async with self._connect_lock:
            if self.nc is None or self.nc.is_closed:
                options = dict(self.connect_options)
                options["error_cb"] = self._error_callback(options.get("error_cb"))
                self.nc = await connect(self.broker_url, **options)
        return self

    def _error_callback(self, user_cb: Optional[Callable[[Exception], Awaitable[None]]]):
        """nats-py's error callback: a message dropped for a slow consumer goes to
        the subscription it was meant for; then ``connect_options["error_cb"]``."""

        async def on_nats_error(err: Exception) -> None:
            owner = None
            if isinstance(err, nats.errors.SlowConsumerError):
                owner = next((s for s in self._subscriptions if s._sub is err.sub), None)
            if owner is not None:
                await owner._dropped()
            else:
                await report_error(err)
            if user_cb is not None:
                await _call(user_cb, err)

        return on_nats_error

    async def close(self) -> None:
        """Drains and closes the connection, if open."""
        try:
            if self.nc is not None and not self.nc.is_closed:
                await close_quietly(self.nc)
        finally:
            self.nc = None
            self._subscriptions.clear()

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

    def subscribe(
        self,
        subject: str,
        *,
        queue: str = "",
        on_error: Optional[Callable[[NatsBridgeError, Any], Any]] = None,
        pending_msgs_limit: int = DEFAULT_SUB_PENDING_MSGS_LIMIT,
        pending_bytes_limit: int = DEFAULT_SUB_PENDING_BYTES_LIMIT,
        **options: Any,
    ) -> "Subscription":
        """Subscribes to ``subject`` (wildcards allowed) and returns a
        :class:`Subscription`: an async iterator of received envelopes (as
        :func:`smartreceive` returns them).

        Called in a running event loop, it starts subscribing at once, as the
        TypeScript ``Bridge.subscribe`` does; ``await bridge.subscribe(...)``
        returns once the server has confirmed the subscription, after which no
        message published to ``subject`` is missed.

        A message that fails to receive never ends the loop: its error goes to
        ``on_error(error, msg)`` (default: a warning log line) and the next
        message is read. A message nats-py drops because the reader fell more
        than ``pending_msgs_limit`` messages or ``pending_bytes_limit`` bytes
        behind (0: no limit) is logged as a warning and, when given, reported to
        ``on_error(TransportError("SLOW_CONSUMER"), None)``. ``options`` are
        :func:`smartreceive`'s, over the bridge's defaults.

        Raises:
            OptionsError: ``INVALID_OPTION`` for a subject, queue group or option
                NATS or :func:`smartreceive` would refuse, before anything is sent.
        """
        check_subject(subject, wildcards=True)
        check_queue(queue)
        check_callable(on_error, "on_error")
        limits = {
            "pending_msgs_limit": check_count(pending_msgs_limit, "pending_msgs_limit", 0),
            "pending_bytes_limit": check_count(pending_bytes_limit, "pending_bytes_limit", 0),
        }
        opts = self._receive_options(options)
        check_receive_options(**opts)
        return Subscription(self, subject, queue, on_error, limits, opts)

    def _receive_options(self, options: Dict[str, Any]) -> Dict[str, Any]:
        options.setdefault("fileserver_url", self.fileserver_url)
        options.setdefault("arrow_output", self.arrow_output)
        extra = check_origins(options.pop("allowed_origins", ()))
        options["allowed_origins"] = self.allowed_origins + extra
        if self.fileserver_download_handler is not None:
            options.setdefault("fileserver_download_handler", self.fileserver_download_handler)
        return options


class Subscription:
    """What :meth:`NATSBridge.subscribe` returns: an async iterator of received
    envelopes that is also awaitable (``await sub`` is ``await sub.ready()``) and
    an async context manager that unsubscribes on exit::

        sub = await bridge.subscribe("chat")   # live: confirmed by the server
        await other_process_sends("chat")
        async for env in sub:
            ...

        async with bridge.subscribe("chat") as sub:  # live inside the block
            ...

    Breaking out of an ``async for`` does not unsubscribe at once (as with any
    async generator); call :meth:`unsubscribe`, or use ``async with``.
    """

    def __init__(
        self,
        bridge: NATSBridge,
        subject: str,
        queue: str,
        on_error: Optional[Callable[[NatsBridgeError, Any], Any]],
        limits: Dict[str, int],
        options: Dict[str, Any],
    ) -> None:
        self.subject = subject
        self.queue = queue
        #: True from the server's confirmation of the subscription until it ends.
        self.live = False
        #: True once unsubscribed (or the iteration ended).
        self.closed = False
        self._bridge = bridge
        self._on_error = on_error
        self._limits = limits
        self._options = options
        self._sub: Any = None
        self._iterator: Optional[AsyncIterator[Dict[str, Any]]] = None
        self._setup: Optional[asyncio.Future] = None
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop yet: subscribes at the first await or iteration
            return
        self._setup = asyncio.ensure_future(self._start())
        # Its error is raised by ready(); until then, not "never retrieved".
        self._setup.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _start(self) -> None:
        bridge = self._bridge
        await bridge.connect()
        try:
            self._sub = await bridge.nc.subscribe(self.subject, queue=self.queue, **self._limits)
            bridge._subscriptions.add(self)
            # The PONG comes after the server has processed the SUB.
            await confirmed_flush(bridge.nc, FLUSH_TIMEOUT)
        except asyncio.TimeoutError as err:
            raise TransportError(
                f'Subscription to "{self.subject}" was not confirmed by the server in time', code="TIMEOUT"
            ) from err
        except TransportError as err:  # the connection is down
            raise TransportError(
                f'Cannot subscribe to "{self.subject}": {err.message}', code="CONNECTION_FAILED"
            ) from err
        except nats.errors.Error as err:
            raise TransportError(
                f'Cannot subscribe to "{self.subject}": {type(err).__name__}: {err}', code="CONNECTION_FAILED"
            ) from err
        self.live = True

    async def ready(self) -> "Subscription":
        """Returns once the server has confirmed the subscription.

        Raises:
            TransportError: ``CONNECTION_FAILED`` or ``TIMEOUT``.
        """
        if self._setup is None:
            self._setup = asyncio.ensure_future(self._start())
        await self._setup
        return self

    def __await__(self):
        return self.ready().__await__()

    async def __aenter__(self) -> "Subscription":
        return await self.ready()

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def __aiter__(self) -> "Subscription":
        return self

    def __anext__(self) -> Awaitable[Dict[str, Any]]:
        if self._iterator is None:
            self._iterator = self._iterate()
        return self._iterator.__anext__()

    async def _iterate(self) -> AsyncIterator[Dict[str, Any]]:
        await self.ready()
        try:
            async for msg in self._sub.messages:
                try:
                    env = (await receive_envelope(msg, **self._options)).to_result()
                except NatsBridgeError as err:
                    if self._on_error is None:
                        log_event(
                            logging.WARNING, err.correlation_id,
                            f"Dropped a message on {self.subject}: {err.code} {err.message}",
                        )
                    else:
                        await _call(self._on_error, err, msg)
                    continue
                yield env
        finally:
            await self.unsubscribe()

    async def _dropped(self) -> None:
        """nats-py dropped a message of this subscription: its reader fell behind."""
        err = TransportError(
            f"slow consumer: a message on {self.subject} was dropped, the reader is "
            f"{self._sub.pending_msgs} messages ({self._sub.pending_bytes} bytes) behind",
            code="SLOW_CONSUMER",
        )
        log_event(logging.WARNING, "", f"Dropped a message on {self.subject}: {err.code} {err.message}")
        if self._on_error is None:
            return
        try:
            await _call(self._on_error, err, None)
        except Exception as cb_err:  # raised into nats-py's reader, it would end the connection
            log_event(logging.WARNING, "", f"on_error raised {type(cb_err).__name__}: {cb_err}")

    async def unsubscribe(self) -> None:
        """Ends the subscription; messages not read yet are discarded and the
        iteration stops."""
        if self.closed:
            return
        self.closed = True
        self.live = False
        if self._setup is not None:
            await asyncio.wait([self._setup])  # a SUB under way is undone, not left behind
        self._bridge._subscriptions.discard(self)
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception:  # connection already closed or draining
                pass

    async def aclose(self) -> None:
        """Ends the iteration and the subscription."""
        if self._iterator is not None:
            await self._iterator.aclose()
        await self.unsubscribe()


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """Calls a user callback, sync or ``async def``."""
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return result
