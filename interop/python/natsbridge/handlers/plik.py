"""Plik upload handler.

An upload is two requests: ``POST {fileserver_url}/upload`` with JSON options
returns the upload ``id`` and ``uploadToken``; ``POST {fileserver_url}/file/{id}``
sends the bytes as multipart field ``file`` with header ``X-UploadToken`` and
returns the file ``id`` and ``fileName``. The download URL is
``{fileserver_url}/file/{uploadid}/{fileid}/{fileName}``.

Default is a TTL (24 h), not one-shot: a NATS subject fans out to every
subscriber, and Plik deletes a one-shot file as soon as a first download
*starts*, even one that breaks off and must be retried. ``one_shot=True`` is
available for a single receiver that never needs a retry.
"""

from __future__ import annotations

import asyncio
import json
import re
import warnings
from typing import Any, Awaitable, Callable, Dict, Optional, TypeVar
from urllib.parse import quote

import aiohttp
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import BytesPayload

from ..errors import UploadError
from ..log import log_event
from .http_download import DEFAULT_CONNECT_TIMEOUT, DEFAULT_IDLE_TIMEOUT

T = TypeVar("T")

# Bytes written between two notes of progress: small enough that a link of a
# few KB/s still moves the mark within the idle timeout.
_SLICE = 64 * 1024

#: Default lifetime of an uploaded payload, seconds.
DEFAULT_PLIK_TTL = 86_400

UploadHandler = Callable[..., Awaitable[Dict[str, Any]]]


def plik_upload_handler(
    *,
    ttl: int = DEFAULT_PLIK_TTL,
    one_shot: bool = False,
    token: Optional[str] = None,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    timeout: Optional[float] = None,
) -> UploadHandler:
    """Makes a Plik upload handler.

    Args:
        ttl: Seconds the file lives on the server.
        one_shot: Delete the file when its first download starts (see module doc).
        token: Plik API token (``X-PlikToken``) for servers that refuse anonymous uploads.
        idle_timeout: Seconds without progress (no bytes taken by the server, or
            no answer once they all were) before the upload fails. A slow link is
            not cut short as long as it moves; a server that hangs is let go.
        timeout: Seconds an upload may take in all; none by default, since a
            large file over a slow link may rightly take long.

    Returns:
        ``async (fileserver_url, dataname, data, *, correlation_id="") -> dict`` with
        keys ``status``, ``uploadid``, ``fileid``, ``url`` (the spec's signature plus
        an optional keyword).
    """

    async def plik_upload(
        fileserver_url: str, dataname: str, data: bytes, *, correlation_id: str = ""
    ) -> Dict[str, Any]:
        base = fileserver_url.rstrip("/")
        ctx = {"correlation_id": correlation_id, "dataname": dataname}
        auth = {"X-PlikToken": token} if token else {}
        session_timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=DEFAULT_CONNECT_TIMEOUT)
        progress = _Progress(len(data))
        async with aiohttp.ClientSession(timeout=session_timeout) as session:
            created = await _idle_bounded(
                _post_json(
                    session,
                    f"{base}/upload",
                    "create the upload",
                    ctx,
                    json={"ttl": ttl, "oneShot": one_shot},
                    headers=auth,
                ),
                progress, idle_timeout, "create the upload", dataname, ctx,
            )
            upload_id = _string_field(created, "id", ctx)
            upload_token = _string_field(created, "uploadToken", ctx)
            file_name = _safe_file_name(dataname)
            form = aiohttp.MultipartWriter("form-data")
            part = form.append_payload(_SlicedPayload(data, progress))
            # Written as is (UTF-8), as browsers and the TypeScript peer send it: quoted,
            # Plik would store the %-escapes as the name. _safe_file_name removed what
            # could break the header (quotes, backslashes, control characters).
            part.set_content_disposition("form-data", quote_fields=False, name="file", filename=file_name)
            stored = await _idle_bounded(
                _post_json(
                    session,
                    f"{base}/file/{quote(upload_id, safe='')}",
                    "upload the file",
                    ctx,
                    data=form,
                    headers={"X-UploadToken": upload_token, **auth},
                ),
                progress, idle_timeout, "upload the file", dataname, ctx,
            )
        file_id = _string_field(stored, "id", ctx)
        stored_name = stored.get("fileName") if isinstance(stored.get("fileName"), str) else file_name
        url = f"{base}/file/{quote(upload_id, safe='')}/{quote(file_id, safe='')}/{quote(stored_name, safe='')}"
        log_event(10, correlation_id, f'Uploaded "{dataname}" ({len(data)} bytes) to {url}')
        return {"status": 200, "uploadid": upload_id, "fileid": file_id, "url": url}

    return plik_upload


#: The default upload handler: Plik with a 24 h TTL, not one-shot.
plik_upload: UploadHandler = plik_upload_handler()


class _Progress:
    """When the upload last moved, and how far it got."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.sent = 0
        self.at = asyncio.get_running_loop().time()

    def moved(self, n: int = 0) -> None:
        self.sent += n
        self.at = asyncio.get_running_loop().time()


class _SlicedPayload(BytesPayload):
    """The file's bytes written a slice at a time, each slice noted as progress.

    aiohttp writes a bytes body in one call, so a server that stops reading and
    one that reads slowly look the same until the end; slices tell them apart
    (and keep the size known, so the body still has a Content-Length).
    """

    def __init__(self, data: bytes, progress: _Progress) -> None:
        with warnings.catch_warnings():
            # aiohttp warns that writing a large body in one call holds the
            # event loop; this payload is written a slice at a time.
            warnings.simplefilter("ignore", ResourceWarning)
            super().__init__(memoryview(data).cast("B"), content_type="application/octet-stream")
        self._progress = progress

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(self, writer: AbstractStreamWriter, content_length: Optional[int]) -> None:
        view: memoryview = self._value
        end = len(view) if content_length is None else min(content_length, len(view))
        for at in range(0, end, _SLICE):
            piece = view[at : min(at + _SLICE, end)]
            await writer.write(piece)
            self._progress.moved(len(piece))


async def _idle_bounded(
    work: Awaitable[T], progress: _Progress, idle: float, what: str, dataname: str, ctx: Dict[str, str]
) -> T:
    """Awaits ``work`` as long as the upload keeps moving; fails after ``idle`` s without progress."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    progress.moved()
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=max(0.0, progress.at + idle - loop.time()))
            if done:
                return task.result()
            if loop.time() - progress.at >= idle:
                raise UploadError(
                    f'Plik upload of "{dataname}" made no progress for {idle:g} s ({what}; '
                    f"{progress.sent} of {progress.size} bytes sent)",
                    **ctx,
                )
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _post_json(
    session: aiohttp.ClientSession, url: str, what: str, ctx: Dict[str, str], **kwargs: Any
) -> Dict[str, Any]:
    try:
        async with session.post(url, **kwargs) as resp:
            text = await resp.text()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as err:
        raise UploadError(
            f"Cannot reach the Plik server to {what} ({url}): {type(err).__name__}: {err}", **ctx
        ) from err
    if not 200 <= status < 300:
        raise UploadError(f"Plik refused to {what}: HTTP {status} {text[:200].strip()}", status=status, **ctx)
    # Plik writes JSON without a JSON Content-Type: parse the text whatever the header says.
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise UploadError(f"Plik answered {what} with something other than a JSON object", **ctx)
    return body


def _string_field(obj: Dict[str, Any], key: str, ctx: Dict[str, str]) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or value == "":
        raise UploadError(f'Plik response lacks "{key}"', **ctx)
    return value


def _safe_file_name(dataname: str) -> str:
    """A file name Plik and every HTTP client accept; the dataname stays in the envelope."""
    cleaned = re.sub(r"[/\\\x00-\x1f\"]", "_", dataname)[:200]
    return "payload" if cleaned in ("", ".", "..") else cleaned
