"""Shared test helpers: a sample envelope for mutation tests, a counting HTTP
server (a real aiohttp server on loopback, scripted per test), error assertions."""

from __future__ import annotations

import copy
import inspect
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, List, Optional

import pytest
from aiohttp import web

from natsbridge.errors import NatsBridgeError

SAMPLE = {
    "correlation_id": "c0ffee00-0000-4000-8000-000000000001",
    "msg_id": "c0ffee00-0000-4000-8000-000000000002",
    "timestamp": "2026-03-13T10:30:00.123Z",
    "send_to": "chat",
    "msg_purpose": "chat",
    "sender_name": "test",
    "sender_id": "c0ffee00-0000-4000-8000-000000000003",
    "receiver_name": "",
    "receiver_id": "",
    "reply_to": "",
    "reply_to_msg_id": "",
    "broker_url": "nats://127.0.0.1:4222",
    "metadata": {},
    "payloads": [
        {
            "id": "c0ffee00-0000-4000-8000-000000000004",
            "dataname": "msg",
            "payload_type": "text",
            "transport": "direct",
            "encoding": "base64",
            "size": 2,
            "data": "aGk=",
            "metadata": {"checksum": "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4"},
        }
    ],
}
CORRELATION_ID = SAMPLE["correlation_id"]


def sample_envelope() -> Dict[str, Any]:
    """A valid envelope with one direct text payload "hi" (the same as the
    TypeScript tests' ``sampleEnvelope``), fresh for each mutation."""
    return copy.deepcopy(SAMPLE)


async def raises_code(fn: Callable[[], Any], code: str, match: Optional[str] = None) -> NatsBridgeError:
    """Asserts that ``fn()`` (sync or async) raises a natsbridge error with ``code``."""
    with pytest.raises(NatsBridgeError) as info:
        result = fn()
        if inspect.isawaitable(result):
            await result
    err = info.value
    assert err.code == code, f"expected {code}, got {err.code}: {err.message}"
    if match is not None:
        assert match in err.message, err.message
    return err


class CountingServer:
    """A real HTTP server on 127.0.0.1 that records every request it gets."""

    def __init__(self, handler: Callable[[web.Request, int], Awaitable[web.StreamResponse]]) -> None:
        self.handler = handler
        self.requests: List[str] = []
        self.url = ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        return await self.handler(request, len(self.requests))


@asynccontextmanager
async def counting_server(
    handler: Callable[[web.Request, int], Awaitable[web.StreamResponse]],
) -> AsyncIterator[CountingServer]:
    """Runs a :class:`CountingServer`; ``handler(request, n)`` gets the 1-based request number."""
    server = CountingServer(handler)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server._handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    server.url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()
