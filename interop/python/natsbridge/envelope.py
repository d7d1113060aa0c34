"""The wire model (``msg_envelope_v1`` / ``msg_payload_v1``) and its validation.

Whatever a peer, a log or a webhook hands us becomes a checked envelope or an
:class:`~natsbridge.errors.EnvelopeError` naming the field at fault.
"""

from __future__ import annotations

import calendar
import json
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union
from urllib.parse import urlsplit

from .errors import EnvelopeError, InputError
from .origins import whitespace_only_in_path

#: The payload types every NATSBridge peer understands, in the spec's order.
PAYLOAD_TYPES: Tuple[str, ...] = (
    "text",
    "dictionary",
    "arrowtable",
    "jsontable",
    "image",
    "audio",
    "video",
    "binary",
)
#: Older Python peers call ``arrowtable`` ``table``.
TYPE_ALIASES: Dict[str, str] = {"table": "arrowtable"}
#: Payload types whose direct data may arrive as JSON text (``encoding: "json"``).
JSON_TYPES = frozenset({"dictionary", "jsontable"})

#: The 14 envelope keys, in wire order.
ENVELOPE_KEYS: Tuple[str, ...] = (
    "correlation_id",
    "msg_id",
    "timestamp",
    "send_to",
    "msg_purpose",
    "sender_name",
    "sender_id",
    "receiver_name",
    "receiver_id",
    "reply_to",
    "reply_to_msg_id",
    "broker_url",
    "metadata",
    "payloads",
)
#: The 8 payload keys, in wire order.
PAYLOAD_KEYS: Tuple[str, ...] = (
    "id",
    "dataname",
    "payload_type",
    "transport",
    "encoding",
    "size",
    "data",
    "metadata",
)

_STRING_KEYS = ENVELOPE_KEYS[:12]
_NON_EMPTY_KEYS = frozenset({"correlation_id", "msg_id"})
# Senders write `Z`; Julia's `Dates.now(UTC)` writes no zone; offsets are legal ISO 8601.
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):?(\d{2}))?", re.ASCII
)


def _is_timestamp(s: str) -> bool:
    """Whether ``s`` is an ISO 8601 timestamp of a real instant (no month 13,
    February 30 or hour 24; second 60 is a leap second, which ISO 8601 allows).

    >>> _is_timestamp("2024-02-29T23:59:60Z"), _is_timestamp("2026-02-30T00:00:00Z")
    (True, False)
    """
    m = _TIMESTAMP.fullmatch(s)
    if not m:
        return False
    year, month, day, hour, minute, second, offset_hours, offset_minutes = (int(g or 0) for g in m.groups())
    if not 1 <= month <= 12:
        return False
    return (1 <= day <= calendar.monthrange(year, month)[1] and hour <= 23 and minute <= 59
            and second <= 60 and offset_hours <= 23 and offset_minutes <= 59)
_HEX64 = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)
_MAX_SAFE_INTEGER = 2**53 - 1


def resolve_payload_type(name: Any) -> Optional[str]:
    """The canonical payload type for a wire name (aliases resolved), or ``None``.

    >>> resolve_payload_type("table")
    'arrowtable'
    """
    if not isinstance(name, str):
        return None
    if name in PAYLOAD_TYPES:
        return name
    return TYPE_ALIASES.get(name)


@dataclass
class MsgPayloadV1:
    """One payload as it appears on the wire: exactly these 8 keys."""

    id: str
    dataname: str
    payload_type: str
    transport: str
    encoding: str
    size: int
    data: str  # base64 text (direct), a URL (link) or JSON text (encoding "json")
    metadata: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        """The payload as a JSON-ready dict, keys in wire order."""
        return {key: getattr(self, key) for key in PAYLOAD_KEYS}

    @classmethod
    def from_dict(cls, obj: Dict[str, Any]) -> "MsgPayloadV1":
        """Builds a payload from a dict that already passed validation."""
        return cls(**{key: obj[key] for key in PAYLOAD_KEYS})


@dataclass
class MsgEnvelopeV1:
    """The message envelope: the 14 keys, always present, ``""`` where unknown.

    ``extra`` holds unknown keys a peer added; they are kept and written back.
    """

    correlation_id: str
    msg_id: str
    timestamp: str
    send_to: str
    msg_purpose: str
    sender_name: str
    sender_id: str
    receiver_name: str
    receiver_id: str
    reply_to: str
    reply_to_msg_id: str
    broker_url: str
    metadata: Dict[str, Any] = field(default_factory=dict)
    payloads: List[MsgPayloadV1] = field(default_factory=list)
    extra: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        """The envelope as a JSON-ready dict: the 14 keys in wire order, then extras."""
        out: Dict[str, Any] = {key: getattr(self, key) for key in ENVELOPE_KEYS[:13]}
        out["payloads"] = [p.to_dict() for p in self.payloads]
        for key, value in self.extra.items():
            if key not in out:
                out[key] = value
        return out

    def to_json(self) -> str:
        """The envelope as compact JSON text (UTF-8 characters kept, not escaped).

        Raises:
            InputError: ``INVALID_INPUT`` when a value is not JSON every peer reads
                (``NaN``, ``Infinity``, an object JSON cannot carry, a lone surrogate).
        """
        try:
            text = json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            text.encode("utf-8")
        except (TypeError, ValueError, RecursionError) as err:  # UnicodeEncodeError is a ValueError
            raise InputError(
                f"envelope is not JSON every peer can read: {err}", correlation_id=str(self.correlation_id)
            ) from None
        return text

    @classmethod
    def from_dict(cls, obj: Dict[str, Any]) -> "MsgEnvelopeV1":
        """Validates ``obj`` (see :func:`parse_envelope`) and builds the dataclass."""
        checked, _ = parse_envelope(obj)
        return cls(
            **{key: checked[key] for key in ENVELOPE_KEYS[:13]},
            payloads=[MsgPayloadV1.from_dict(p) for p in checked["payloads"]],
            extra={k: v for k, v in checked.items() if k not in ENVELOPE_KEYS},
        )


@dataclass(frozen=True)
class CheckedPayload:
    """A payload after validation: the wire dict and its canonical type."""

    index: int
    wire: Dict[str, Any]
    resolved_type: str
    size: int

    @property
    def dataname(self) -> str:
        return self.wire["dataname"]


def parse_envelope(
    value: Union[str, bytes, bytearray, memoryview, Dict[str, Any]],
) -> Tuple[Dict[str, Any], List[CheckedPayload]]:
    """Parses and validates an envelope.

    Args:
        value: JSON text, its UTF-8 bytes, or an already-parsed dict.

    Returns:
        The envelope dict (the parsed object itself, extra keys kept) and its
        payloads with resolved types, in order.

    Raises:
        EnvelopeError: On invalid JSON or any breach of the contract; ``code`` is
            ``UNKNOWN_PAYLOAD_TYPE``, ``UNKNOWN_TRANSPORT`` or ``UNKNOWN_ENCODING``
            for those cases and ``ENVELOPE_INVALID`` otherwise; ``field`` names
            the offending field and ``correlation_id`` is set once it is known.
    """
    obj = _parse_json(value) if isinstance(value, (str, bytes, bytearray, memoryview)) else value
    if not isinstance(obj, dict):
        raise EnvelopeError(f"Envelope must be a JSON object, got {_kind(obj)}")
    cid = obj.get("correlation_id")
    correlation_id = cid if isinstance(cid, str) else ""

    def fail(fld: str, message: str, code: str = "ENVELOPE_INVALID") -> EnvelopeError:
        return EnvelopeError(message, code=code, field=fld, correlation_id=correlation_id)

    for key in ENVELOPE_KEYS:
        if key not in obj:
            raise fail(key, f'Envelope is missing key "{key}"')
    for key in _STRING_KEYS:
        v = obj[key]
        if not isinstance(v, str):
            raise fail(key, f'Envelope "{key}" must be a string, got {_kind(v)}')
        if key in _NON_EMPTY_KEYS and v == "":
            raise fail(key, f'Envelope "{key}" must not be empty')
    if not _is_timestamp(obj["timestamp"]):
        raise fail("timestamp", f'Envelope "timestamp" is not ISO 8601: "{_clip(obj["timestamp"])}"')
    if not isinstance(obj["metadata"], dict):
        raise fail("metadata", f'Envelope "metadata" must be an object, got {_kind(obj["metadata"])}')
    if not isinstance(obj["payloads"], list):
        raise fail("payloads", f'Envelope "payloads" must be an array, got {_kind(obj["payloads"])}')
    payloads = [_check_payload(p, i, fail) for i, p in enumerate(obj["payloads"])]
    return obj, payloads


def _check_payload(p: Any, index: int, fail) -> CheckedPayload:
    at = f"payloads[{index}]"
    if not isinstance(p, dict):
        raise fail(at, f"{at} must be an object, got {_kind(p)}")
    dataname = p.get("dataname") if isinstance(p.get("dataname"), str) else ""

    def failp(fld: str, message: str, code: str = "ENVELOPE_INVALID") -> EnvelopeError:
        err = fail(f"{at}.{fld}", message, code)
        err.dataname = dataname
        return err

    for key in PAYLOAD_KEYS:
        if key not in p:
            raise failp(key, f'{at} is missing key "{key}"')
    for key in ("id", "dataname", "payload_type", "transport", "encoding", "data"):
        if not isinstance(p[key], str):
            raise failp(key, f"{at}.{key} must be a string, got {_kind(p[key])}")
    name = f'{at} ("{_clip(dataname)}")'

    if p["id"] == "":
        raise failp("id", f"{name} has an empty id")
    size = p["size"]
    # JSON has one number type: 2.0 is the integer 2 to a JavaScript peer.
    if isinstance(size, float) and size.is_integer():
        size = int(size)
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= _MAX_SAFE_INTEGER:
        raise failp("size", f"{name} size must be a non-negative integer, got {_kind(p['size'])}")
    if not isinstance(p["metadata"], dict):
        raise failp("metadata", f"{name} metadata must be an object, got {_kind(p['metadata'])}")
    checksum = p["metadata"].get("checksum")
    if checksum is not None and not (isinstance(checksum, str) and _HEX64.fullmatch(checksum)):
        raise failp("metadata.checksum", f"{name} checksum must be 64 hex characters (SHA-256)")
    resolved = resolve_payload_type(p["payload_type"])
    if resolved is None:
        raise failp(
            "payload_type",
            f'{name} has unknown payload_type "{_clip(p["payload_type"])}"',
            "UNKNOWN_PAYLOAD_TYPE",
        )
    transport, encoding = p["transport"], p["encoding"]
    if transport == "direct":
        if not (encoding == "base64" or (encoding == "json" and resolved in JSON_TYPES)):
            also = ' or "json"' if resolved in JSON_TYPES else ""
            raise failp(
                "encoding",
                f'{name} has encoding "{_clip(encoding)}", not supported for direct {resolved} '
                f'(expected "base64"{also})',
                "UNKNOWN_ENCODING",
            )
    elif transport == "link":
        # The spec's own example labels a linked Arrow table "arrow-ipc"; the bytes
        # behind the URL are the serialized payload either way.
        if not (encoding == "none" or (encoding == "arrow-ipc" and resolved == "arrowtable")):
            raise failp(
                "encoding",
                f'{name} has encoding "{_clip(encoding)}", not supported for link transport '
                '(expected "none")',
                "UNKNOWN_ENCODING",
            )
        if not _is_absolute_url(p["data"]):
            raise failp("data", f'{name} link is not a valid URL: "{_clip(p["data"])}"')
    else:
        raise failp(
            "transport",
            f'{name} has unknown transport "{_clip(transport)}" (expected "direct" or "link")',
            "UNKNOWN_TRANSPORT",
        )
    return CheckedPayload(index=index, wire=p, resolved_type=resolved, size=size)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(value: Union[str, bytes, bytearray, memoryview]) -> Any:
    if not isinstance(value, str):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise EnvelopeError("Envelope is not valid UTF-8") from None
    # A BOM, which JSON parsers may ignore (RFC 8259 §8.1), as the TypeScript peer does.
    if value.startswith("\ufeff"):
        value = value[1:]
    try:
        # NaN / Infinity are Python extensions, not JSON: a JavaScript peer rejects them.
        return json.loads(value, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as err:
        raise EnvelopeError(f"Envelope is not valid JSON: {err}") from None


def _is_absolute_url(text: str) -> bool:
    # A space in the path is a peer's unescaped file name, as the spec builds
    # links (the TypeScript peer's URL parser takes it, the download escapes it).
    if not whitespace_only_in_path(text):
        return False
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return bool(parts.scheme) and bool(parts.netloc)


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "an object"
    if isinstance(v, bool):
        return f"boolean {str(v).lower()}"
    if isinstance(v, (int, float)):
        return f"number {v!r}"
    if isinstance(v, str):
        return f"string {_clip(json.dumps(v, ensure_ascii=False))}"
    return type(v).__name__


def _clip(s: str, limit: int = 80) -> str:
    """Keeps hostile values from flooding error messages and logs."""
    return s if len(s) <= limit else s[:limit] + "…"
