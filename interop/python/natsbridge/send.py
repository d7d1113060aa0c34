"""``smartsend``: serialize each payload, choose its transport by size, upload
the large ones, build the envelope and publish it."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from . import codecs
from ._callables import call_handler
from ._tasks import all_or_none
from .config import (
    check_boolean,
    check_callable,
    check_count,
    check_string,
    check_subject,
    check_text,
    resolve_broker_url,
    resolve_fileserver_url,
    resolve_size_threshold,
)
from .connection import FLUSH_TIMEOUT, confirmed_flush, connection, ensure_up, redact
from .encoding import encode_base64, sha256_hex
from .envelope import PAYLOAD_TYPES, resolve_payload_type
from .errors import InputError, NatsBridgeError, OptionsError, TransportError, UploadError, with_context
from .handlers.plik import plik_upload
from .ids import iso_timestamp, uuid4
from .log import log_event
from .origins import origin_of


@dataclass
class _Serialized:
    index: int
    dataname: str
    payload_type: str
    data: bytes
    checksum: Optional[str]


async def smartsend(
    subject: str,
    data: Sequence[Tuple[str, Any, str]],
    *,
    broker_url: Optional[str] = None,
    fileserver_url: Optional[str] = None,
    fileserver_upload_handler: Optional[Callable[..., Any]] = None,
    size_threshold: Optional[int] = None,
    correlation_id: Optional[str] = None,
    msg_purpose: str = "chat",
    sender_name: str = "NATSBridge",
    receiver_name: str = "",
    receiver_id: str = "",
    reply_to: str = "",
    reply_to_msg_id: str = "",
    is_publish: bool = True,
    nats_connection: Any = None,
    msg_id: Optional[str] = None,
    sender_id: Optional[str] = None,
    metadata: Optional[Dict[str, Any]] = None,
    checksum: bool = True,
    max_payload: Optional[int] = None,
    arrow_format: str = "file",
) -> Tuple[Dict[str, Any], str]:
    """Sends payloads as one ``msg_envelope_v1`` message.

    Each payload is serialized by its type; one whose serialized size is at
    least ``size_threshold`` is uploaded through ``fileserver_upload_handler``
    and travels as a link, the others travel inside the message as base64. If
    the finished envelope would still exceed the server's ``max_payload``, the
    largest direct payloads move to link transport until it fits.

    Args:
        subject: NATS subject to publish to.
        data: ``(dataname, value, payload_type)`` items.
        broker_url: NATS URL, or several comma-separated (default ``$NATS_URL``, else
            ``nats://localhost:4222``); also written to the envelope, credentials as ``***@``.
        fileserver_url: File-server base URL handed to the upload handler
            (default ``$FILESERVER_URL``, else ``http://localhost:8080``).
        fileserver_upload_handler: ``async (fileserver_url, dataname, bytes) -> dict``
            returning at least ``url``; default :func:`~natsbridge.plik_upload` (24 h TTL).
            A ``correlation_id`` keyword is passed when the handler declares it.
        size_threshold: Serialized bytes from which a payload goes by link
            (default ``$SIZE_THRESHOLD``, else 500_000).
        correlation_id, msg_id, sender_id: Default to new UUID v4s (with dashes).
        msg_purpose, sender_name, receiver_name, receiver_id, reply_to, reply_to_msg_id:
            Envelope fields.
        is_publish: ``False`` only builds the envelope (uploads still happen).
        nats_connection: An open nats-py connection to publish on; when absent,
            one is opened to ``broker_url`` and closed after.
        metadata: Envelope-level metadata (beyond the spec).
        checksum: Set ``metadata.checksum`` (SHA-256) on every payload (beyond the spec).
        max_payload: Largest envelope in bytes; default: the server's announced limit.
        arrow_format: ``"file"`` (Feather v2, LZ4, the spec's Python) or ``"stream"``.

    Returns:
        ``(envelope_dict, envelope_json)``: the envelope and the exact text published.

    Raises:
        OptionsError, InputError, UploadError, TransportError.
    """
    # The caller's correlation id first, so that every refusal below carries it;
    # and every check before anything is uploaded: a refusal after the uploads
    # would leave their files behind.
    cid = check_string(correlation_id, "correlation_id") or uuid4()
    try:
        check_subject(subject, wildcards=False)
        if not isinstance(data, (list, tuple)):
            raise InputError("data must be a list of (dataname, data, payload_type) items")
        broker = resolve_broker_url(broker_url)
        fileserver = resolve_fileserver_url(fileserver_url)
        threshold = resolve_size_threshold(size_threshold)
        upload = check_callable(fileserver_upload_handler, "fileserver_upload_handler") or plik_upload
        for name, value in (
            ("msg_purpose", msg_purpose),
            ("sender_name", sender_name),
            ("receiver_name", receiver_name),
            ("receiver_id", receiver_id),
            ("reply_to", reply_to),
            ("reply_to_msg_id", reply_to_msg_id),
        ):
            if not isinstance(value, str):
                raise OptionsError(f"{name} must be a string, got {type(value).__name__}", field=name)
            check_text(value, name)
        mid = check_string(msg_id, "msg_id") or uuid4()
        sid = check_string(sender_id, "sender_id") or uuid4()
        if metadata is not None and not isinstance(metadata, dict):
            raise OptionsError("metadata must be a dict", field="metadata")
        try:
            codecs._check_keys(metadata, "metadata")  # json.dumps writes {1: …, "1": …} with one key twice
        except InputError as err:
            raise OptionsError(err.message.replace("metadata payload", "metadata"), field="metadata") from err
        _to_json({"correlation_id": cid, "metadata": metadata or {}})
        if arrow_format not in codecs.ARROW_FORMATS:
            raise OptionsError(f"arrow_format must be one of {codecs.ARROW_FORMATS}", field="arrow_format")
        check_boolean(is_publish, "is_publish")
        check_boolean(checksum, "checksum")
        if max_payload is not None:
            check_count(max_payload, "max_payload", 1)
        if nats_connection is not None and not callable(getattr(nats_connection, "publish", None)):
            raise OptionsError(
                f"nats_connection must be an open nats-py connection, got {type(nats_connection).__name__}",
                field="nats_connection",
            )
    except NatsBridgeError as err:
        raise with_context(err, correlation_id=cid)

    serialized = [_serialize_item(item, i, checksum, cid, arrow_format) for i, item in enumerate(data)]

    async def upload_one(s: _Serialized) -> Dict[str, Any]:
        try:
            result = await call_handler(upload, fileserver, s.dataname, s.data, correlation_id=cid)
            # The spec's handlers report a refusal by status: a link to a file the
            # store did not keep would reach every receiver as PAYLOAD_GONE.
            status = result.get("status") if isinstance(result, dict) else None
            if isinstance(status, int) and not isinstance(status, bool) and not 200 <= status <= 299:
                raise UploadError(
                    f'The upload handler reported status {status} for "{s.dataname}": the file was not stored',
                    status=status,
                )
            url = result.get("url") if isinstance(result, dict) else None
            if not isinstance(url, str) or origin_of(url) is None:
                raise UploadError(f'Upload handler returned no valid url for "{s.dataname}"')
        except NatsBridgeError as err:
            raise with_context(err, correlation_id=cid, dataname=s.dataname)
        except Exception as err:
            raise with_context(err, correlation_id=cid, dataname=s.dataname, fallback=UploadError) from err
        return _payload(s, "link", "none", url)

    async def place(s: _Serialized) -> Dict[str, Any]:
        if len(s.data) >= threshold:
            return await upload_one(s)
        return _payload(s, "direct", "base64", encode_base64(s.data))

    payloads = await all_or_none([place(s) for s in serialized])
    envelope: Dict[str, Any] = {
        "correlation_id": cid,
        "msg_id": mid,
        "timestamp": iso_timestamp(),
        "send_to": subject,
        "msg_purpose": msg_purpose,
        "sender_name": sender_name,
        "sender_id": sid,
        "receiver_name": receiver_name,
        "receiver_id": receiver_id,
        "reply_to": reply_to,
        "reply_to_msg_id": reply_to_msg_id,
        # The URL may carry a password or token; the envelope goes to every subscriber.
        "broker_url": redact(broker),
        "metadata": dict(metadata or {}),
        "payloads": payloads,
    }

    async def finish(nc: Any) -> Tuple[Dict[str, Any], str]:
        limit = max_payload if max_payload is not None else getattr(nc, "max_payload", None)
        text = _to_json(envelope)
        if limit and len(text.encode("utf-8")) > limit:
            text = await _fit_within(envelope, serialized, limit, upload_one)
        if is_publish:
            try:
                ensure_up(nc)
                await nc.publish(subject, text.encode("utf-8"))
                await confirmed_flush(nc, FLUSH_TIMEOUT)
            except TransportError as err:
                raise TransportError(
                    f'Publish to "{subject}" failed: {err.message}', code=err.code, correlation_id=cid
                ) from err
            except asyncio.TimeoutError as err:
                raise TransportError(
                    f'Publish to "{subject}" was not confirmed by the server in time',
                    code="TIMEOUT",
                    correlation_id=cid,
                ) from err
            except Exception as err:
                raise TransportError(
                    f'Publish to "{subject}" failed: {type(err).__name__}: {err}',
                    code="PUBLISH_FAILED",
                    correlation_id=cid,
                ) from err
            log_event(logging.INFO, cid, f"Message published to {subject}")
        return envelope, text

    if not is_publish:
        return await finish(nats_connection)
    async with connection(nats_connection, broker, cid) as nc:
        return await finish(nc)


def _serialize_item(item: Any, index: int, with_checksum: bool, cid: str, arrow_format: str) -> _Serialized:
    if not isinstance(item, (list, tuple)) or len(item) != 3:
        raise InputError(f"data[{index}] must be a (dataname, data, payload_type) tuple", correlation_id=cid)
    dataname, value, type_name = item
    if not isinstance(dataname, str):
        raise InputError(
            f"data[{index}] dataname must be a str, got {type(dataname).__name__}", correlation_id=cid
        )
    try:
        check_text(dataname, f"data[{index}] dataname", InputError)
    except InputError as err:
        raise with_context(err, correlation_id=cid) from None
    resolved = resolve_payload_type(type_name)
    # Senders write only the canonical names; "table" is accepted on receive only.
    if resolved is None or type_name != resolved:
        raise InputError(
            f'data[{index}] ("{dataname}") has unknown payload_type {type_name!r}; '
            f"expected one of {', '.join(PAYLOAD_TYPES)}",
            correlation_id=cid,
            dataname=dataname,
        )
    try:
        raw = codecs.serialize(value, resolved, arrow_format=arrow_format)
    except NatsBridgeError as err:
        raise with_context(err, correlation_id=cid, dataname=dataname) from None
    return _Serialized(index, dataname, resolved, raw, sha256_hex(raw) if with_checksum else None)


def _payload(s: _Serialized, transport: str, encoding: str, data: str) -> Dict[str, Any]:
    return {
        "id": uuid4(),
        "dataname": s.dataname,
        "payload_type": s.payload_type,
        "transport": transport,
        "encoding": encoding,
        "size": len(s.data),
        "data": data,
        "metadata": {"checksum": s.checksum} if s.checksum else {},
    }


def _to_json(envelope: Dict[str, Any]) -> str:
    try:
        text = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        text.encode("utf-8")  # a lone surrogate in a key or value: refused here, not at publish
        return text
    except (TypeError, ValueError, RecursionError) as err:  # UnicodeEncodeError is a ValueError
        raise OptionsError(
            f"envelope metadata is not JSON-serializable: {err}",
            field="metadata",
            correlation_id=envelope["correlation_id"],
        ) from None


async def _fit_within(
    envelope: Dict[str, Any], serialized: List[_Serialized], limit: int, upload_one
) -> str:
    """Moves the largest direct payloads to link transport until the envelope fits."""
    payloads: List[Dict[str, Any]] = envelope["payloads"]
    order = sorted(
        (i for i, p in enumerate(payloads) if p["transport"] == "direct"),
        key=lambda i: len(payloads[i]["data"]),
        reverse=True,
    )
    text = _to_json(envelope)
    for i in order:
        if len(text.encode("utf-8")) <= limit:
            break
        payloads[i] = await upload_one(serialized[i])
        log_event(
            logging.INFO,
            envelope["correlation_id"],
            f'Payload "{payloads[i]["dataname"]}" moved to link transport: envelope exceeded '
            f"the server's max_payload of {limit} bytes",
        )
        text = _to_json(envelope)
    size = len(text.encode("utf-8"))
    if size > limit:
        raise TransportError(
            f"Envelope is {size} bytes even with every payload by link, over the server's "
            f"max_payload of {limit}",
            code="PUBLISH_FAILED",
            correlation_id=envelope["correlation_id"],
        )
    return text
