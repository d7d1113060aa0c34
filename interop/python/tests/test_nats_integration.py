"""Python → Python over a real nats-server (JetStream enabled) and the real
Plik-compatible server: every interop case, link transport, one-shot, a
token-protected Plik, a file server that goes down, the max_payload fallback."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import re
import signal
import time

import nats
import pandas as pd
import pytest
from _helpers import raises_code
from _servers import PLIK_TOKEN, free_port, start_nats

from natsbridge import NATSBridge, plik_upload_handler, receive_envelope, smartreceive, smartsend
from natsbridge.cases import CASES, arrow_dataframe, bytes_of, get_case
from natsbridge.peer import render_expected, render_received

_subjects = itertools.count()


def subject(prefix: str = "it") -> str:
    return f"{prefix}.{next(_subjects)}.{time.monotonic_ns()}"


async def send_and_receive(nats_server, items, *, fileserver, send_opts=None, recv_opts=None):
    """Subscribes, sends ``items`` with smartsend, returns (sent envelope, received envelope)."""
    nc = await nats.connect(nats_server.url)
    try:
        subj = subject()
        sub = await nc.subscribe(subj)
        await nc.flush()
        env, _ = await smartsend(subj, items, broker_url=nats_server.url, fileserver_url=fileserver, **(send_opts or {}))
        msg = await sub.next_msg(timeout=10)
        received = await receive_envelope(msg, fileserver_url=fileserver, **(recv_opts or {}))
        return env, received
    finally:
        await nc.close()


@pytest.mark.parametrize("case", list(CASES))
async def test_every_case_python_to_python_over_nats(case, nats_server, plik):
    env, received = await send_and_receive(
        nats_server, get_case(case).items(), fileserver=plik.url, recv_opts={"arrow_output": "arrow"}
    )
    line = render_received(received)
    expected = render_expected(case)
    assert [
        {k: p[k] for k in ("dataname", "payload_type", "transport", "value")} for p in line["payloads"]
    ] == expected["payloads"]
    for p in line["payloads"]:
        assert p["checksum"] == p["checksum_recomputed"]
        assert p["encoding"] == ("none" if p["transport"] == "link" else "base64")
    assert {k: v for k, v in line.items() if k != "payloads"} == {k: v for k, v in env.items() if k != "payloads"}
    # What the CLI prints is valid one-line JSON.
    assert "\n" not in json.dumps(line, ensure_ascii=False)


async def test_large_link_goes_through_plik(nats_server, plik):
    env, received = await send_and_receive(nats_server, get_case("large_link").items(), fileserver=plik.url)
    (p,) = env["payloads"]
    assert p["transport"] == "link" and p["data"].startswith(f"{plik.url}/file/")
    assert received.payloads[0].value == bytes_of(600_000, seed=42)


async def test_arrowtable_arrives_as_an_equal_dataframe(nats_server, plik):
    _, received = await send_and_receive(nats_server, get_case("arrowtable").items(), fileserver=plik.url)
    pd.testing.assert_frame_equal(received.payloads[0].value, arrow_dataframe())


async def test_one_shot_link_serves_exactly_one_download(nats_server, plik):
    data = bytes_of(50_000, seed=9)
    env, received = await send_and_receive(
        nats_server, [("once", data, "binary")], fileserver=plik.url,
        send_opts={"size_threshold": 1000, "fileserver_upload_handler": plik_upload_handler(one_shot=True)},
    )
    assert received.payloads[0].value == data
    err = await raises_code(lambda: smartreceive(env, fileserver_url=plik.url), "PAYLOAD_GONE")
    assert err.correlation_id == env["correlation_id"] and err.dataname == "once"


async def test_token_protected_plik(nats_server, plik_with_token):
    data = bytes_of(20_000, seed=11)
    err = await raises_code(
        lambda: smartsend(subject(), [("d", data, "binary")], broker_url=nats_server.url,
                          fileserver_url=plik_with_token.url, size_threshold=1000),
        "UPLOAD_FAILED",
    )
    assert err.dataname == "d" and err.status == 400
    _, received = await send_and_receive(
        nats_server, [("d", data, "binary")], fileserver=plik_with_token.url,
        send_opts={"size_threshold": 1000, "fileserver_upload_handler": plik_upload_handler(token=PLIK_TOKEN)},
    )
    assert received.payloads[0].value == data


async def test_file_server_down_after_send_is_a_typed_error_within_the_retry_budget(nats_server, fresh_plik):
    nc = await nats.connect(nats_server.url)
    try:
        subj = subject()
        sub = await nc.subscribe(subj)
        await nc.flush()
        env, _ = await smartsend(subj, [("big", bytes_of(30_000), "binary")], broker_url=nats_server.url,
                                 fileserver_url=fresh_plik.url, size_threshold=1000)
        msg = await sub.next_msg(timeout=10)
    finally:
        await nc.close()
    fresh_plik.stop()
    start = time.monotonic()
    err = await raises_code(lambda: smartreceive(msg, fileserver_url=fresh_plik.url, base_delay=50), "DOWNLOAD_FAILED")
    elapsed = time.monotonic() - start
    assert err.correlation_id == env["correlation_id"] and err.dataname == "big" and err.attempts == 5
    assert 0.75 <= elapsed < 3.0  # waits of 50 + 100 + 200 + 400 ms


async def test_envelope_over_max_payload_moves_the_largest_direct_payload_to_link(nats_server, plik, caplog):
    big = bytes_of(800_000, seed=13)  # 1.07 MB as base64: over nats-server's default 1 MiB max_payload
    with caplog.at_level(logging.INFO, logger="natsbridge"):
        env, received = await send_and_receive(
            nats_server, [("big", big, "binary"), ("small", "hi", "text")], fileserver=plik.url,
            send_opts={"size_threshold": 10_000_000},
        )
    assert [p["transport"] for p in env["payloads"]] == ["link", "direct"]
    assert [p.value for p in received.payloads] == [big, "hi"]
    assert any("moved to link transport" in r.getMessage() for r in caplog.records)


async def test_publish_logs_the_spec_line(nats_server, caplog):
    with caplog.at_level(logging.INFO, logger="natsbridge"):
        env, _ = await smartsend("log.test", [("m", "x", "text")], broker_url=nats_server.url)
    pattern = rf"\[\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z\] \[Correlation: {env['correlation_id']}\] Message published to log.test"
    assert any(re.fullmatch(pattern, r.getMessage()) for r in caplog.records)


async def test_unreachable_broker_is_connection_failed_with_correlation_id():
    err = await raises_code(
        lambda: smartsend("s", [("m", "x", "text")], broker_url=f"nats://127.0.0.1:{free_port()}", correlation_id="c8"),
        "CONNECTION_FAILED",
    )
    assert err.correlation_id == "c8"


async def test_natsbridge_class_methods_work_on_the_class_and_on_an_instance(nats_server, plik):
    nc = await nats.connect(nats_server.url)
    try:
        subj = subject()
        sub = await nc.subscribe(subj)
        await nc.flush()
        # On the class, as in the spec's example: a default bridge per call.
        await NATSBridge.smartsend(subj, [("m", "from the class", "text")], broker_url=nats_server.url)
        env = await NATSBridge.smartreceive(await sub.next_msg(timeout=5))
        assert env["payloads"] == [("m", "from the class", "text")]
        # On an instance: its defaults and its one connection.
        async with NATSBridge(nats_server.url, fileserver_url=plik.url, size_threshold=100) as bridge:
            sent, _ = await bridge.smartsend(subj, [("b", bytes(range(200)), "binary")])
            assert sent["payloads"][0]["transport"] == "link"
            env = await bridge.smartreceive(await sub.next_msg(timeout=5))
            assert env["payloads"] == [("b", bytes(range(200)), "binary")]
    finally:
        await nc.close()


async def test_subscribe_loop_survives_bad_messages(nats_server, plik):
    errors = []
    subj = subject()
    async with NATSBridge(nats_server.url, fileserver_url=plik.url) as bridge:
        got = []

        async def consume():
            async for env in bridge.subscribe(subj, on_error=lambda e, msg: errors.append(e.code)):
                got.append(env)
                if len(got) == 2:
                    return

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.2)  # let the subscription reach the server
        await bridge.nc.publish(subj, b"not json")
        await bridge.nc.publish(subj, b'{"msg_id": 1}')
        await bridge.smartsend(subj, [("a", "first", "text")])
        await bridge.nc.publish(subj, json.dumps({"correlation_id": "x"}).encode())
        await bridge.smartsend(subj, [("b", {"k": 2}, "dictionary")])
        await asyncio.wait_for(task, 10)
    assert [e["payloads"] for e in got] == [[("a", "first", "text")], [("b", {"k": 2}, "dictionary")]]
    assert errors == ["ENVELOPE_INVALID"] * 3


async def test_bridge_connect_to_unreachable_broker_fails_within_its_budget():
    bridge = NATSBridge(f"nats://127.0.0.1:{free_port()}", connect_options={"budget": 1.0, "reconnect_time_wait": 0.1})
    start = time.monotonic()
    await raises_code(bridge.connect, "CONNECTION_FAILED")
    assert time.monotonic() - start < 3


async def test_comma_separated_broker_urls_are_a_server_list(nats_server, monkeypatch):
    dead = f"nats://127.0.0.1:{free_port()}"
    for url in (f"{dead},{nats_server.url}", f"{nats_server.url}, {dead}"):
        nc = await nats.connect(nats_server.url)
        try:
            subj = subject()
            sub = await nc.subscribe(subj)
            await nc.flush()
            env, _ = await smartsend(subj, [("m", "x", "text")], broker_url=url)
            assert env["broker_url"] == url
            assert (await smartreceive(await sub.next_msg(timeout=5)))["payloads"] == [("m", "x", "text")]
            monkeypatch.setenv("NATS_URL", url)
            async with NATSBridge() as bridge:
                await bridge.smartsend(subj, [("m", "y", "text")])
            assert (await smartreceive(await sub.next_msg(timeout=5)))["payloads"] == [("m", "y", "text")]
        finally:
            await nc.close()


async def test_broker_password_is_not_published_in_the_envelope():
    server = start_nats(["--user", "alice", "--pass", "pw-123"])
    try:
        url = server.url.replace("nats://", "nats://alice:pw-123@")
        nc = await nats.connect(url)
        try:
            subj = subject()
            sub = await nc.subscribe(subj)
            await nc.flush()
            env, _ = await smartsend(subj, [("m", "x", "text")], broker_url=url)
            msg = await sub.next_msg(timeout=5)
        finally:
            await nc.close()
        assert b"pw-123" not in msg.data
        assert json.loads(msg.data)["broker_url"] == server.url.replace("nats://", "nats://***@") == env["broker_url"]
    finally:
        server.stop()


async def first_of(sub, timeout=5):
    """The first envelope an ``async for`` over ``sub`` yields (a test that fails must not hang)."""

    async def loop():
        async for env in sub:
            return env

    return await asyncio.wait_for(loop(), timeout)


async def test_subscription_is_live_when_subscribe_returns(nats_server):
    async with NATSBridge(nats_server.url) as bridge:
        # Not awaited, as in the TypeScript Bridge: a send on the bridge's own
        # connection right after is not lost.
        subj = subject()
        sub = bridge.subscribe(subj)
        await bridge.smartsend(subj, [("m", "first", "text")])
        assert (await first_of(sub))["payloads"] == [("m", "first", "text")]
        await sub.unsubscribe()
        # Awaited: confirmed by the server, so a send from another connection is not lost.
        subj = subject()
        sub = await bridge.subscribe(subj)
        assert sub.live
        await smartsend(subj, [("m", "second", "text")], broker_url=nats_server.url)
        env = await asyncio.wait_for(sub.__anext__(), 5)
        assert env["payloads"] == [("m", "second", "text")]
        await sub.unsubscribe()
        # As an async context manager.
        subj = subject()
        async with bridge.subscribe(subj) as sub:
            await smartsend(subj, [("m", "third", "text")], broker_url=nats_server.url)
            assert (await first_of(sub))["payloads"] == [("m", "third", "text")]
        assert sub.closed


async def test_subscribe_accepts_wildcards_and_queue_groups(nats_server):
    async with NATSBridge(nats_server.url) as bridge:
        prefix = subject("wc")
        async with bridge.subscribe(f"{prefix}.*", queue="workers") as one, bridge.subscribe(f"{prefix}.>") as many:
            await one.ready()
            await many.ready()
            await bridge.smartsend(f"{prefix}.a", [("m", "a", "text")])
            await bridge.smartsend(f"{prefix}.b.c", [("m", "bc", "text")])
            assert (await asyncio.wait_for(one.__anext__(), 5))["send_to"] == f"{prefix}.a"
            assert [(await asyncio.wait_for(many.__anext__(), 5))["send_to"] for _ in range(2)] == [
                f"{prefix}.a", f"{prefix}.b.c"]


async def test_async_on_error_is_awaited(nats_server):
    seen = []

    async def on_error(err, msg):
        await asyncio.sleep(0)
        seen.append((err.code, msg.data))

    async with NATSBridge(nats_server.url) as bridge:
        subj = subject()
        sub = await bridge.subscribe(subj, on_error=on_error)
        await bridge.nc.publish(subj, b"not json")
        await bridge.smartsend(subj, [("m", "ok", "text")])
        env = await asyncio.wait_for(sub.__anext__(), 5)
        await sub.unsubscribe()
    assert env["payloads"] == [("m", "ok", "text")]
    assert seen == [("ENVELOPE_INVALID", b"not json")]


@pytest.mark.parametrize("async_cb", [False, True])
async def test_messages_dropped_for_a_slow_reader_are_reported(nats_server, caplog, async_cb):
    dropped = []

    def on_error(err, msg):
        dropped.append((type(err).__name__, err.code, msg))

    async def on_error_async(err, msg):
        await asyncio.sleep(0)
        on_error(err, msg)

    async with NATSBridge(nats_server.url) as bridge:
        subj = subject()
        with caplog.at_level(logging.WARNING, logger="natsbridge"):
            sub = await bridge.subscribe(subj, on_error=on_error_async if async_cb else on_error, pending_msgs_limit=2)
            for i in range(10):  # nobody reads: only 2 fit in the pending queue
                await bridge.smartsend(subj, [("m", str(i), "text")])
            deadline = time.monotonic() + 5
            while len(dropped) < 8 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            got = [(await asyncio.wait_for(sub.__anext__(), 5))["payloads"][0][1] for _ in range(2)]
            await sub.unsubscribe()
    assert got == ["0", "1"]
    assert dropped == [("TransportError", "SLOW_CONSUMER", None)] * 8
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "slow consumer" in r.getMessage()]
    assert len(warnings) == 8 and subj in warnings[0]


async def test_slow_consumer_on_a_subscription_without_on_error_is_logged(nats_server, caplog):
    async with NATSBridge(nats_server.url) as bridge:
        subj = subject()
        with caplog.at_level(logging.WARNING, logger="natsbridge"):
            sub = await bridge.subscribe(subj, pending_msgs_limit=1)
            for i in range(3):
                await bridge.smartsend(subj, [("m", str(i), "text")])
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and sum("slow consumer" in r.getMessage() for r in caplog.records) < 2:
                await asyncio.sleep(0.02)
            await sub.unsubscribe()
    assert sum("slow consumer" in r.getMessage() for r in caplog.records) == 2


async def test_a_send_cancelled_while_it_waits_for_the_server_leaves_the_connection_receiving():
    # nats-py's flush left its cancelled PONG future queued; the late PONG then
    # ended the connection's read loop for good: subscriptions got nothing more,
    # and later sends still "succeeded".
    server = start_nats()
    try:
        async with NATSBridge(server.url) as bridge:
            sub = await bridge.subscribe("cancelled.flush")
            got = []

            async def consume():
                async for env in sub:
                    got.append(env["payloads"][0][1])

            consumer = asyncio.create_task(consume())
            os.kill(server.pid, signal.SIGSTOP)
            try:
                send = asyncio.create_task(bridge.smartsend("cancelled.flush", [("t", "cancelled", "text")]))
                await asyncio.sleep(0.3)
                send.cancel()
                await asyncio.gather(send, return_exceptions=True)
            finally:
                os.kill(server.pid, signal.SIGCONT)
            await asyncio.sleep(0.5)
            await bridge.smartsend("cancelled.flush", [("t", "after", "text")])
            for _ in range(50):
                if "after" in got:
                    break
                await asyncio.sleep(0.1)
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
            assert "after" in got, got
    finally:
        server.stop()


async def test_a_send_while_the_connection_is_down_fails_and_close_still_closes():
    # The send returned as published, though no server had it (nats-py's flush
    # only buffers while reconnecting); close() then raised a bare ConnectionResetError.
    server = start_nats()
    bridge = NATSBridge(server.url)
    try:
        await bridge.connect()
        os.kill(server.pid, signal.SIGKILL)
        server.proc.wait()
        for _ in range(50):
            if not bridge.nc.is_connected:
                break
            await asyncio.sleep(0.05)
        await raises_code(
            lambda: bridge.smartsend("lost", [("t", "important", "text")]), "PUBLISH_FAILED", "connection is down"
        )
        await bridge.close()
        assert bridge.nc is None
    finally:
        server.stop()


async def test_credentials_the_server_refuses_are_permission_denied_not_connection_failed():
    # A wrong password was CONNECTION_FAILED, the code applications retry on,
    # after nats-py's retries of the first connect; the TypeScript peer says PERMISSION_DENIED.
    server = start_nats(["--user", "alice", "--pass", "pa55word"])
    try:
        url = f"nats://alice:wr0ng-pw@127.0.0.1:{server.port}"
        for attempt in (
            lambda: smartsend("x", [("t", "x", "text")], broker_url=url),
            lambda: NATSBridge(url).connect(),
        ):
            started = time.monotonic()
            err = await raises_code(attempt, "PERMISSION_DENIED")
            assert "refused these credentials" in str(err) and "wr0ng-pw" not in str(err)
            assert time.monotonic() - started < 5
        server.stop()
        await raises_code(lambda: smartsend("x", [("t", "x", "text")], broker_url=url), "CONNECTION_FAILED")
    finally:
        server.stop()
