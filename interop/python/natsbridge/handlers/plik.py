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

import json
import re
from typing import Any, Awaitable, Callable, Dict, Optional
from urllib.parse import quote

import aiohttp

from ..errors import UploadError
from ..log import log_event

#: Default lifetime of an uploaded payload, seconds.
DEFAULT_PLIK_TTL = 86_400

UploadHandler = Callable[..., Awaitable[Dict[str, Any]]]


def plik_upload_handler(
    *,
    ttl: int = DEFAULT_PLIK_TTL,
    one_shot: bool = False,
    token: Optional[str] = None,
    timeout: float = 300.0,
) -> UploadHandler:
    """Makes a Plik upload handler.

    Args:
        ttl: Seconds the file lives on the server.
        one_shot: Delete the file when its first download starts (see module doc).
        token: Plik API token (``X-PlikToken``) for servers that refuse anonymous uploads.
        timeout: Seconds an upload may take in all.

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
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            created = await _post_json(
                session,
                f"{base}/upload",
                "create the upload",
                ctx,
                json={"ttl": ttl, "oneShot": one_shot},
                headers=auth,
            )
            upload_id = _string_field(created, "id", ctx)
            upload_token = _string_field(created, "uploadToken", ctx)
            file_name = _safe_file_name(dataname)
            form = aiohttp.FormData()
            form.add_field(
                "file", bytes(data), filename=file_name, content_type="application/octet-stream"
            )
            stored = await _post_json(
                session,
                f"{base}/file/{quote(upload_id, safe='')}",
                "upload the file",
                ctx,
                data=form,
                headers={"X-UploadToken": upload_token, **auth},
            )
        file_id = _string_field(stored, "id", ctx)
        stored_name = stored.get("fileName") if isinstance(stored.get("fileName"), str) else file_name
        url = f"{base}/file/{quote(upload_id, safe='')}/{quote(file_id, safe='')}/{quote(stored_name, safe='')}"
        log_event(10, correlation_id, f'Uploaded "{dataname}" ({len(data)} bytes) to {url}')
        return {"status": 200, "uploadid": upload_id, "fileid": file_id, "url": url}

    return plik_upload


#: The default upload handler: Plik with a 24 h TTL, not one-shot.
plik_upload: UploadHandler = plik_upload_handler()


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
