"""``smartreceive``: validate an envelope, fetch link payloads from allowed
origins, verify size and checksum, and decode each payload by its type."""

from __future__ import annotations

import difflib
import inspect
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional
from urllib.parse import urlsplit

from . import codecs
from ._callables import call_handler
from ._tasks import all_or_none
from .config import (
    DEFAULT_BASE_DELAY,
    DEFAULT_MAX_DELAY,
    DEFAULT_MAX_RETRIES,
    check_boolean,
    check_callable,
    check_count,
    check_origins,
    resolve_fileserver_url,
)
from .encoding import Base64Error, decode_base64, sha256_hex
from .envelope import CheckedPayload, parse_envelope
from .errors import (
    ChecksumError,
    DecodeError,
    DownloadError,
    NatsBridgeError,
    OptionsError,
    SizeMismatchError,
    with_context,
)
from .handlers.http_download import fetch_with_backoff
from .log import log_event
from .origins import assert_allowed_origin


@dataclass
class ReceivedPayload:
    """One payload after receiving: wire facts, the serialized bytes and the value."""

    dataname: str
    #: Canonical type (legacy ``table`` resolved to ``arrowtable``).
    payload_type: str
    #: ``payload_type`` exactly as it was on the wire.
    wire_payload_type: str
    transport: str
    encoding: str
    size: int
    #: ``metadata.checksum`` as received, or ``None``.
    checksum: Optional[str]
    #: SHA-256 of the bytes actually received.
    checksum_recomputed: str
    #: The serialized bytes (downloaded, or decoded from base64).
    raw: bytes = field(repr=False)
    #: The decoded value.
    value: Any = field(repr=False)
    metadata: Dict[str, Any] = field(default_factory=dict)


@dataclass
class ReceivedEnvelope:
    """An envelope after receiving: the wire dict (extra keys kept) and its payloads."""

    envelope: Dict[str, Any]
    payloads: List[ReceivedPayload]

    @property
    def correlation_id(self) -> str:
        return self.envelope["correlation_id"]

    def to_result(self) -> Dict[str, Any]:
        """What :func:`smartreceive` returns: the envelope with ``payloads`` replaced by
        ``(dataname, value, payload_type)`` tuples, in order."""
        out = {k: v for k, v in self.envelope.items() if k != "payloads"}
        out["payloads"] = [(p.dataname, p.value, p.payload_type) for p in self.payloads]
        return out


async def smartreceive(msg: Any, **options: Any) -> Dict[str, Any]:
    """Receives one ``msg_envelope_v1`` message.

    Args:
        msg: A nats-py ``Msg`` (anything with a ``data`` attribute), or the
            envelope as JSON text, UTF-8 bytes or a parsed dict.
        fileserver_download_handler: ``async (url, max_retries, base_delay,
            max_delay, correlation_id) -> bytes``; default :func:`fetch_with_backoff`.
            ``dataname`` and ``expected_size`` keywords are passed when declared.
        max_retries: Download attempts (default 5).
        base_delay: First backoff delay, ms (default 100).
        max_delay: Longest backoff delay, ms (default 5000).
        fileserver_url: The trusted file server; links are fetched only from its
            origin and ``allowed_origins`` (default ``$FILESERVER_URL``, else
            ``http://localhost:8080``).
        allowed_origins: More origins (or URLs) links may point to.
        verify_checksum: Verify ``metadata.checksum`` when present (default ``True``).
        arrow_output: ``"pandas"`` (default) for a DataFrame, ``"arrow"`` for a pyarrow Table.

    Returns:
        The envelope dict with ``payloads`` as ``(dataname, value, payload_type)``
        tuples; unknown extra keys a peer sent are kept.

    Raises:
        EnvelopeError, OriginRefusedError, DownloadError, SizeMismatchError,
        ChecksumError, DecodeError — each with ``correlation_id`` (and ``dataname``
        for payload errors).
    """
    return (await receive_envelope(msg, **options)).to_result()


async def receive_envelope(msg: Any, **options: Any) -> ReceivedEnvelope:
    """Like :func:`smartreceive`, but returns every payload's wire facts, bytes and
    recomputed checksum as well (what the interop peer prints). ``options`` are
    :func:`check_receive_options`'."""
    raw_msg = getattr(msg, "data", msg) if not isinstance(msg, (str, bytes, bytearray, dict)) else msg
    envelope, checked = parse_envelope(raw_msg)
    cid = envelope["correlation_id"]
    try:
        opts = check_receive_options(**options)
    except NatsBridgeError as err:
        raise with_context(err, correlation_id=cid)
    handler = opts["fileserver_download_handler"]
    allowed = [opts["fileserver_url"], *opts["allowed_origins"]]
    max_retries, base_delay, max_delay = opts["max_retries"], opts["base_delay"], opts["max_delay"]
    verify_checksum, arrow_output = opts["verify_checksum"], opts["arrow_output"]

    async def receive_one(p: CheckedPayload) -> ReceivedPayload:
        wire = p.wire
        ctx = {"correlation_id": cid, "dataname": p.dataname}
        if wire["transport"] == "direct":
            raw = _decode_direct(wire, ctx)
        else:
            url = wire["data"]
            assert_allowed_origin(url, allowed, **ctx)
            fetch = handler or _http_only(url, ctx)
            try:
                raw = await call_handler(
                    fetch, url, max_retries, base_delay, max_delay, cid,
                    dataname=p.dataname, expected_size=p.size,
                )
            except NatsBridgeError:
                raise
            except Exception as err:  # a custom handler's own failure is a failed download, not bad data
                raise DownloadError(
                    f'Download handler failed for payload "{p.dataname}": {type(err).__name__}: {err}', **ctx
                ) from err
            if not isinstance(raw, (bytes, bytearray, memoryview)):
                raise DownloadError(f'Download handler returned no bytes for "{p.dataname}"', **ctx)
            raw = bytes(raw)
        # encoding "json" carries the JSON text itself; peers disagree on what its
        # `size` counts, so only base64 and link sizes are held to the byte.
        if wire["encoding"] != "json" and len(raw) != p.size:
            raise SizeMismatchError(
                f'Payload "{p.dataname}" announced {p.size} bytes but carries {len(raw)}', **ctx
            )
        expected = wire["metadata"].get("checksum")
        actual = sha256_hex(raw)
        if verify_checksum and expected is not None and actual != expected.lower():
            raise ChecksumError(
                f'Checksum mismatch for payload "{p.dataname}" (correlation {cid}): '
                f"expected {expected.lower()}, got {actual}",
                **ctx,
            )
        value = codecs.deserialize(raw, p.resolved_type, arrow_output=arrow_output)
        return ReceivedPayload(
            dataname=p.dataname,
            payload_type=p.resolved_type,
            wire_payload_type=wire["payload_type"],
            transport=wire["transport"],
            encoding=wire["encoding"],
            size=p.size,
            checksum=expected,
            checksum_recomputed=actual,
            raw=raw,
            value=value,
            metadata=wire["metadata"],
        )

    async def guarded(p: CheckedPayload) -> ReceivedPayload:
        try:
            return await receive_one(p)
        except NatsBridgeError as err:
            raise with_context(err, correlation_id=cid, dataname=p.dataname)  # keeps its own cause
        except Exception as err:
            raise with_context(err, correlation_id=cid, dataname=p.dataname) from err

    # One failed payload cancels the downloads of the others: the envelope is
    # returned whole or not at all.
    try:
        received = await all_or_none(guarded(p) for p in checked)
    except NatsBridgeError as err:
        log_event(logging.WARNING, cid, f"Receive failed: {err.code} {err.message}")
        raise
    log_event(logging.DEBUG, cid, f"Received {len(received)} payload(s) from {envelope['send_to']}")
    return ReceivedEnvelope(envelope=envelope, payloads=received)


def check_receive_options(
    *,
    fileserver_download_handler: Optional[Callable[..., Any]] = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    base_delay: int = DEFAULT_BASE_DELAY,
    max_delay: int = DEFAULT_MAX_DELAY,
    fileserver_url: Optional[str] = None,
    allowed_origins: Iterable[str] = (),
    verify_checksum: bool = True,
    arrow_output: str = "pandas",
    **unknown: Any,
) -> Dict[str, Any]:
    """The options of :func:`smartreceive`, checked (``INVALID_OPTION``) and
    resolved; a subscription checks them once, before its first message."""
    if unknown:
        # A misspelling, said as the TypeScript side says it (not a TypeError naming this function).
        name = next(iter(unknown))
        known = [p for p in inspect.signature(check_receive_options).parameters if p != "unknown"]
        squash = {k.replace("_", "").lower(): k for k in known}
        near = squash.get(name.replace("_", "").lower()) or next(iter(difflib.get_close_matches(name, known, 1, 0.75)), None)
        hint = f' (did you mean "{near}"?)' if near else ""
        raise OptionsError(f'Unknown receive option "{name}"{hint}', field=name)
    check_count(max_retries, "max_retries", 1)
    check_count(base_delay, "base_delay", 0)
    check_count(max_delay, "max_delay", 0)
    check_boolean(verify_checksum, "verify_checksum")
    if arrow_output not in codecs.ARROW_OUTPUTS:
        raise OptionsError(f"arrow_output must be one of {codecs.ARROW_OUTPUTS}", field="arrow_output")
    return {
        "fileserver_download_handler": check_callable(fileserver_download_handler, "fileserver_download_handler"),
        "fileserver_url": resolve_fileserver_url(fileserver_url),
        "allowed_origins": check_origins(allowed_origins),
        "max_retries": max_retries,
        "base_delay": base_delay,
        "max_delay": max_delay,
        "verify_checksum": verify_checksum,
        "arrow_output": arrow_output,
    }


def _decode_direct(wire: Dict[str, Any], ctx: Dict[str, str]) -> bytes:
    if wire["encoding"] == "json":
        return wire["data"].encode("utf-8")
    try:
        return decode_base64(wire["data"])
    except Base64Error as err:
        raise DecodeError(f'Payload "{ctx["dataname"]}" data is not valid base64: {err}', **ctx) from None


def _http_only(url: str, ctx: Dict[str, str]) -> Callable[..., Any]:
    """The default handler, for HTTP(S) links only: other schemes need their store's handler."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        return fetch_with_backoff
    raise DownloadError(
        f'No download handler for {scheme}:// links (payload "{ctx["dataname"]}"); '
        "pass fileserver_download_handler",
        **ctx,
    )
