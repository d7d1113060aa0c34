"""Download and upload handlers against real HTTP servers: a scripted aiohttp
server on loopback that counts requests, and the Plik-compatible server."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import socket
import time
from urllib.parse import quote, unquote

import aiohttp
import pytest
from _helpers import CORRELATION_ID, counting_server, raises_code, sample_envelope
from _servers import PLIK_TOKEN, free_port
from aiohttp import web

from natsbridge import DownloadError, fetch_with_backoff, plik_upload, plik_upload_handler, smartreceive, smartsend
from natsbridge.cases import bytes_of

DATA = bytes_of(10_000, seed=5)


def link_envelope(url: str, data: bytes = DATA, dataname: str = "msg") -> dict:
    obj = sample_envelope()
    obj["payloads"][0].update(
        dataname=dataname, payload_type="binary", transport="link", encoding="none", size=len(data), data=url,
        metadata={"checksum": hashlib.sha256(data).hexdigest()},
    )
    return obj


async def serve_data(request, n):
    return web.Response(body=DATA)


# --- allowed origins: refused without a request ------------------------------------------

async def test_link_outside_allowed_origins_is_refused_without_any_request():
    async with counting_server(serve_data) as srv:
        env = link_envelope(f"{srv.url}/file/u/f/x")
        err = await raises_code(lambda: smartreceive(env, fileserver_url="http://127.0.0.1:1"), "ORIGIN_REFUSED")
        assert err.correlation_id == CORRELATION_ID and err.dataname == "msg"
        assert srv.requests == []
        # The same link from a trusted origin is fetched: the server was reachable all along.
        env = await smartreceive(link_envelope(f"{srv.url}/file/u/f/x"), fileserver_url=srv.url)
        assert env["payloads"] == [("msg", DATA, "binary")]
        assert srv.requests == ["/file/u/f/x"]


async def test_allowed_origins_option_adds_trusted_servers():
    async with counting_server(serve_data) as srv:
        env = await smartreceive(link_envelope(f"{srv.url}/x"), fileserver_url="http://127.0.0.1:1", allowed_origins=[srv.url])
        assert env["payloads"][0][1] == DATA and len(srv.requests) == 1


@pytest.mark.parametrize("trick", ["{url}@evil.example/x", "http://user:pw@{host}/x", "http://evil.example\\@{host}/x"])
async def test_credential_and_backslash_tricks_are_refused_without_a_request(trick):
    async with counting_server(serve_data) as srv:
        url = trick.format(url=srv.url, host=srv.url.removeprefix("http://"))
        await raises_code(lambda: smartreceive(link_envelope(url), fileserver_url=srv.url), "ORIGIN_REFUSED")
        assert srv.requests == []


async def test_non_http_link_from_allowed_origin_needs_a_handler():
    err = await raises_code(
        lambda: smartreceive(link_envelope("nats-obj://bucket/x"), allowed_origins=["nats-obj://bucket"]), "DOWNLOAD_FAILED"
    )
    assert "handler" in err.message

    async def handler(url, max_retries, base_delay, max_delay, correlation_id):
        assert (url, max_retries, base_delay, max_delay, correlation_id) == ("nats-obj://bucket/x", 5, 100, 5000, CORRELATION_ID)
        return DATA

    env = await smartreceive(
        link_envelope("nats-obj://bucket/x"), allowed_origins=["nats-obj://bucket"], fileserver_download_handler=handler
    )
    assert env["payloads"][0][1] == DATA


# --- fetch_with_backoff ------------------------------------------------------------------

async def test_transient_failures_are_retried_with_backoff():
    async def flaky(request, n):
        return web.Response(status=503) if n <= 2 else web.Response(body=DATA)

    async with counting_server(flaky) as srv:
        start = time.monotonic()
        data = await fetch_with_backoff(f"{srv.url}/x", 5, 100, 5000, "c1", dataname="d")
        elapsed = time.monotonic() - start
    assert data == DATA and len(srv.requests) == 3
    assert 0.3 <= elapsed < 2.0  # waited 100 + 200 ms


async def test_retry_budget_is_max_retries_attempts_then_download_failed_with_context():
    async def down(request, n):
        return web.Response(status=500)

    async with counting_server(down) as srv:
        start = time.monotonic()
        err = await raises_code(lambda: fetch_with_backoff(f"{srv.url}/x", 4, 50, 120, "corr-7", dataname="big"), "DOWNLOAD_FAILED")
        elapsed = time.monotonic() - start
    assert len(srv.requests) == 4 and err.attempts == 4 and err.status == 500
    assert err.correlation_id == "corr-7" and err.dataname == "big"
    assert 0.26 <= elapsed < 2.0  # waits of 50 + 100 + 120 (capped) ms


@pytest.mark.parametrize("status", [404, 410])
async def test_gone_is_not_retried(status):
    async def gone(request, n):
        return web.Response(status=status)

    async with counting_server(gone) as srv:
        err = await raises_code(lambda: fetch_with_backoff(f"{srv.url}/x", 5, 10, 10, "c"), "PAYLOAD_GONE")
    assert len(srv.requests) == 1 and err.status == status and err.attempts == 1


async def test_redirects_are_not_followed():
    async def redirect(request, n):
        if request.path == "/elsewhere":
            return web.Response(body=b"secret")
        raise web.HTTPFound("/elsewhere")

    async with counting_server(redirect) as srv:
        err = await raises_code(lambda: fetch_with_backoff(f"{srv.url}/x", 5, 10, 10, "c"), "DOWNLOAD_FAILED")
    assert srv.requests == ["/x"] and err.status == 302


async def test_more_bytes_than_announced_is_payload_too_large():
    async def big(request, n):
        return web.Response(body=DATA + b"extra")

    async def big_chunked(request, n):
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for _ in range(4):
            await resp.write(DATA)
        await resp.write_eof()
        return resp

    for handler in (big, big_chunked):
        async with counting_server(handler) as srv:
            err = await raises_code(
                lambda: fetch_with_backoff(f"{srv.url}/x", 5, 10, 10, "c", dataname="d", expected_size=len(DATA)),
                "PAYLOAD_TOO_LARGE",
            )
        assert len(srv.requests) == 1 and err.dataname == "d"


async def test_fewer_bytes_than_announced_is_size_mismatch():
    async def short(request, n):
        return web.Response(body=DATA[:-1])

    async with counting_server(short) as srv:
        err = await raises_code(lambda: smartreceive(link_envelope(f"{srv.url}/x"), fileserver_url=srv.url), "SIZE_MISMATCH")
    assert err.correlation_id == CORRELATION_ID


async def test_file_server_down_is_a_typed_error_within_the_retry_budget():
    url = f"http://127.0.0.1:{free_port()}/file/u/f/x"  # nothing listens there
    start = time.monotonic()
    err = await raises_code(
        lambda: smartreceive(link_envelope(url), fileserver_url=url.rsplit("/file", 1)[0]), "DOWNLOAD_FAILED"
    )
    elapsed = time.monotonic() - start
    assert isinstance(err, DownloadError) and err.attempts == 5 and err.status == 0
    assert err.correlation_id == CORRELATION_ID and err.dataname == "msg"
    assert 1.5 <= elapsed < 4.0  # defaults: waits of 100 + 200 + 400 + 800 ms between 5 attempts


async def test_one_failing_payload_cancels_the_others():
    started = asyncio.Event()
    cancelled = []

    async def slow(request, n):
        if request.path == "/slow":
            started.set()
            await asyncio.sleep(3)
            return web.Response(body=DATA)
        return web.Response(status=404)

    async with counting_server(slow) as srv:
        obj = link_envelope(f"{srv.url}/slow", dataname="slow")
        obj["payloads"].append(link_envelope(f"{srv.url}/gone", dataname="gone")["payloads"][0])

        async def handler(url, *args, **kw):
            if url.endswith("/gone"):
                await started.wait()  # fail only once the other download is under way
            try:
                return await fetch_with_backoff(url, *args, **kw)
            except asyncio.CancelledError:
                cancelled.append(url)
                raise

        start = time.monotonic()
        err = await raises_code(
            lambda: smartreceive(obj, fileserver_url=srv.url, fileserver_download_handler=handler), "PAYLOAD_GONE"
        )
        elapsed = time.monotonic() - start
    assert err.dataname == "gone" and elapsed < 2
    assert cancelled == [f"{srv.url}/slow"]



@pytest.mark.parametrize("raised", [ValueError("bad url"), OSError("disk"), KeyError("k")])
async def test_custom_download_handler_failure_is_download_failed_with_context(raised):
    async def handler(url, max_retries, base_delay, max_delay, correlation_id):
        raise raised

    err = await raises_code(
        lambda: smartreceive(link_envelope("http://files.example/f"), fileserver_url="http://files.example",
                             fileserver_download_handler=handler),
        "DOWNLOAD_FAILED",
    )
    assert isinstance(err, DownloadError) and err.__cause__ is raised
    assert err.correlation_id == CORRELATION_ID and err.dataname == "msg"


# --- Plik upload -------------------------------------------------------------------------

async def test_plik_upload_returns_spec_fields_and_defaults_to_24h_ttl_not_one_shot(plik):
    res = await plik_upload(plik.url, "report.bin", DATA)
    assert set(res) == {"status", "uploadid", "fileid", "url"} and res["status"] == 200
    assert res["url"] == f"{plik.url}/file/{res['uploadid']}/{res['fileid']}/report.bin"
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{plik.url}/upload/{res['uploadid']}") as r:
            upload = json.loads(await r.text())
    assert upload["ttl"] == 86_400 and upload["oneShot"] is False
    # Not one-shot: every subscriber can fetch it, and fetch it again.
    for _ in range(2):
        assert await fetch_with_backoff(res["url"], 5, 100, 5000, "c") == DATA


async def test_plik_upload_with_awkward_dataname(plik):
    res = await plik_upload(plik.url, 'dir/na me "ü".bin', DATA)
    assert await fetch_with_backoff(res["url"], 2, 10, 10, "c") == DATA


async def test_a_link_with_the_file_name_left_unescaped_is_received_as_the_typescript_peer_does(plik):
    # "my file.bin" as the spec builds the URL (no escaping) was ENVELOPE_INVALID
    # "link is not a valid URL"; the TypeScript peer downloads it.
    env, _ = await smartsend(
        "raw", [("my file.bin", DATA, "binary"), ("50%.bin", DATA[:10], "binary")],
        is_publish=False, size_threshold=0, fileserver_url=plik.url,
    )
    for p in env["payloads"]:
        at = p["data"].rindex("/") + 1
        p["data"] = p["data"][:at] + unquote(p["data"][at:])
    assert env["payloads"][0]["data"].endswith("/my file.bin")
    got = await smartreceive(json.dumps(env), fileserver_url=plik.url, max_retries=1)
    assert [v for _, v, _ in got["payloads"]] == [DATA, DATA[:10]]


async def test_plik_stores_a_non_ascii_name_as_written_like_the_typescript_peer(plik):
    # aiohttp percent-encoded the multipart file name, so Plik stored
    # "%C3%A9%E5%90%8D.bin" where the TypeScript peer's upload is stored as "é名.bin".
    res = await plik_upload(plik.url, "é名 x.bin", DATA)
    assert res["url"].endswith("/" + quote("é名 x.bin", safe=""))
    assert await fetch_with_backoff(res["url"], 2, 10, 10, "c") == DATA


async def test_plik_one_shot_file_is_gone_after_the_first_download(plik):
    res = await plik_upload_handler(one_shot=True)(plik.url, "once", DATA)
    assert await fetch_with_backoff(res["url"], 5, 10, 10, "c") == DATA
    await raises_code(lambda: fetch_with_backoff(res["url"], 5, 10, 10, "c"), "PAYLOAD_GONE")


async def test_plik_token_protected_server(plik_with_token):
    err = await raises_code(lambda: plik_upload(plik_with_token.url, "x", DATA, correlation_id="c5"), "UPLOAD_FAILED")
    assert err.status == 400 and err.correlation_id == "c5"
    err = await raises_code(lambda: plik_upload_handler(token="wrong")(plik_with_token.url, "x", DATA), "UPLOAD_FAILED")
    assert err.status == 403
    res = await plik_upload_handler(token=PLIK_TOKEN)(plik_with_token.url, "x", DATA)
    assert await fetch_with_backoff(res["url"], 5, 10, 10, "c") == DATA  # downloads need no token


def plik_imitation(on_file):
    """A scripted Plik: ``POST /upload`` answers as Plik does, ``POST /file/...`` is ``on_file(request)``."""

    async def handler(request, n):
        if request.path == "/upload":
            return web.Response(text=json.dumps({"id": "u1", "uploadToken": "t1"}))
        return await on_file(request)

    return handler


async def test_plik_upload_stalled_mid_body_fails_after_the_idle_timeout_not_the_whole_budget():
    release = asyncio.Event()

    async def never_reads(request):
        await asyncio.wait_for(release.wait(), 30)
        return web.Response(status=500)

    async with counting_server(plik_imitation(never_reads)) as srv:
        upload = plik_upload_handler(idle_timeout=1)
        start = time.monotonic()
        # More than loopback's socket buffers hold, so the body write itself stops.
        err = await raises_code(lambda: upload(srv.url, "big", bytes(48 << 20), correlation_id="c9"), "UPLOAD_FAILED")
        elapsed = time.monotonic() - start
        release.set()
    assert "no progress for 1 s" in err.message and "of 50331648 bytes sent" in err.message, err.message
    assert err.correlation_id == "c9" and err.dataname == "big"
    assert elapsed < 10


async def test_plik_upload_answered_never_fails_after_the_idle_timeout():
    release = asyncio.Event()

    async def reads_then_hangs(request):
        await request.read()
        await asyncio.wait_for(release.wait(), 30)
        return web.Response(status=500)

    async with counting_server(plik_imitation(reads_then_hangs)) as srv:
        start = time.monotonic()
        err = await raises_code(lambda: plik_upload_handler(idle_timeout=1)(srv.url, "x", DATA), "UPLOAD_FAILED")
        elapsed = time.monotonic() - start
        release.set()
    assert "no progress for 1 s" in err.message and "upload the file" in err.message, err.message
    assert elapsed < 10


async def test_plik_upload_that_keeps_moving_is_not_cut_by_a_total_timeout():
    # The server takes the body at ~6 MB/s through a small receive window
    # (set on the listening socket, so loopback's autotuning cannot grow it to
    # 32 MiB): the upload outlasts the idle timeout, and every moment some of
    # it moves.
    async def slow_reader(request):
        got = 0
        while chunk := await request.content.read(64 << 10):
            got += len(chunk)
            await asyncio.sleep(0.01)
        return web.Response(text=json.dumps({"id": "f1", "fileName": "slow", "got": got}))

    handler = plik_imitation(slow_reader)

    async def route(request):
        return await handler(request, 0)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", route)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    listener.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, listener)
    await site.start()
    try:
        start = time.monotonic()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        res = await plik_upload_handler(idle_timeout=2)(url, "slow", bytes(24 << 20))
        elapsed = time.monotonic() - start
    finally:
        await runner.cleanup()
    assert res["fileid"] == "f1" and elapsed > 2, elapsed


async def test_upload_to_a_server_that_is_down_is_upload_failed_with_context():
    err = await raises_code(
        lambda: smartsend(
            "s", [("big", DATA, "binary")], is_publish=False, size_threshold=1, correlation_id="c6",
            fileserver_url=f"http://127.0.0.1:{free_port()}",
        ),
        "UPLOAD_FAILED",
    )
    assert err.correlation_id == "c6" and err.dataname == "big"


async def test_upload_handler_without_url_is_upload_failed():
    async def bad(fileserver_url, dataname, data):
        return {"status": 200}

    err = await raises_code(
        lambda: smartsend("s", [("big", DATA, "binary")], is_publish=False, size_threshold=1, fileserver_upload_handler=bad),
        "UPLOAD_FAILED",
    )
    assert err.dataname == "big"


async def test_upload_handler_status_outside_2xx_is_upload_failed_with_it():
    # The status was not read: a handler reporting its store's 404 had the send
    # succeed with a link to nothing.
    for status in (404, 500, 0):
        async def refused(fileserver_url, dataname, data, status=status):
            return {"status": status, "url": "http://files.example/big"}

        err = await raises_code(
            lambda: smartsend("s", [("big", DATA, "binary")], is_publish=False, size_threshold=1, fileserver_upload_handler=refused),
            "UPLOAD_FAILED",
        )
        assert err.status == status and err.dataname == "big"
        assert f'reported status {status} for "big"' in str(err)
    for status in (200, 201, None):
        async def stored(fileserver_url, dataname, data, status=status):
            return {"status": status, "url": "http://files.example/big"} if status is not None else {"url": "http://files.example/big"}

        await smartsend("s", [("big", DATA, "binary")], is_publish=False, size_threshold=1, fileserver_upload_handler=stored)


async def test_smartsend_link_via_plik_then_smartreceive(plik):
    env, text = await smartsend("s", [("big", DATA, "binary"), ("small", "hi", "text")], is_publish=False,
                                size_threshold=5_000, fileserver_url=plik.url)
    big, small = env["payloads"]
    assert (big["transport"], big["encoding"], big["size"]) == ("link", "none", len(DATA))
    assert big["data"].startswith(plik.url + "/file/") and big["metadata"]["checksum"] == hashlib.sha256(DATA).hexdigest()
    assert (small["transport"], small["encoding"], small["data"]) == ("direct", "base64", base64.b64encode(b"hi").decode())
    got = await smartreceive(text, fileserver_url=plik.url)
    assert got["payloads"] == [("big", DATA, "binary"), ("small", "hi", "text")]


async def test_threshold_is_inclusive():
    sent = []

    async def upload(fileserver_url, dataname, data):
        sent.append(dataname)
        return {"url": f"http://files.example/{dataname}"}

    env, _ = await smartsend("s", [("at", b"x" * 10, "binary"), ("below", b"x" * 9, "binary")], is_publish=False,
                             size_threshold=10, fileserver_upload_handler=upload)
    assert [p["transport"] for p in env["payloads"]] == ["link", "direct"] and sent == ["at"]
