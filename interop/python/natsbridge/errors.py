"""Typed errors.

Every error natsbridge raises is a :class:`NatsBridgeError` with a stable
``code`` (the same codes as the TypeScript peer's ``engine/errors.ts``) and,
where known, the ``correlation_id`` and ``dataname`` of the message and payload
concerned, so a log line or a dead-letter record can say which message failed
and why without parsing the message text.
"""

from __future__ import annotations

from typing import Optional

#: Every code natsbridge uses. Never renamed once released.
ERROR_CODES = frozenset(
    {
        "INVALID_OPTION",
        "INVALID_INPUT",
        "ENVELOPE_INVALID",
        "UNKNOWN_PAYLOAD_TYPE",
        "UNKNOWN_ENCODING",
        "UNKNOWN_TRANSPORT",
        "DECODE_FAILED",
        "SIZE_MISMATCH",
        "CHECKSUM_MISMATCH",
        "ORIGIN_REFUSED",
        "DOWNLOAD_FAILED",
        "PAYLOAD_GONE",
        "PAYLOAD_TOO_LARGE",
        "UPLOAD_FAILED",
        "CONNECTION_FAILED",
        "PUBLISH_FAILED",
        "PERMISSION_DENIED",
        "TIMEOUT",
        "ABORTED",
        # Python only: nats-py drops messages a subscriber does not read in time,
        # where nats.js buffers without limit; so the TypeScript peer has no such code.
        "SLOW_CONSUMER",
    }
)


class NatsBridgeError(Exception):
    """Base class of every error natsbridge raises.

    Attributes:
        code: Stable machine-readable code, one of :data:`ERROR_CODES`.
        correlation_id: Correlation id of the message concerned, or ``""``.
        dataname: ``dataname`` of the payload concerned, or ``""``.
        field: The envelope field at fault (``"payloads[2].size"``), or ``""``.
    """

    default_code = "INVALID_INPUT"

    def __init__(
        self,
        message: str,
        *,
        code: Optional[str] = None,
        correlation_id: str = "",
        dataname: str = "",
        field: str = "",
    ) -> None:
        super().__init__(message)
        code = code or self.default_code
        if code not in ERROR_CODES:
            raise ValueError(f"unknown error code {code!r}")
        self.code = code
        self.message = message
        self.correlation_id = correlation_id
        self.dataname = dataname
        self.field = field

    def to_dict(self) -> dict:
        """The error as a JSON-ready object (what the peer CLI prints)."""
        return {
            "code": self.code,
            "message": self.message,
            "correlation_id": self.correlation_id,
            "dataname": self.dataname,
            "field": self.field,
        }


class OptionsError(NatsBridgeError):
    """An option is missing, of the wrong type, or conflicts with another."""

    default_code = "INVALID_OPTION"


class InputError(NatsBridgeError):
    """Data handed to ``smartsend`` does not fit its declared payload type."""

    default_code = "INVALID_INPUT"


class EnvelopeError(NatsBridgeError):
    """A received envelope breaks the ``msg_envelope_v1`` contract.

    ``code`` is ``UNKNOWN_PAYLOAD_TYPE``, ``UNKNOWN_ENCODING`` or
    ``UNKNOWN_TRANSPORT`` for those cases, ``ENVELOPE_INVALID`` otherwise.
    """

    default_code = "ENVELOPE_INVALID"


class DecodeError(NatsBridgeError):
    """Payload bytes could not be decoded: bad base64, UTF-8, JSON or Arrow IPC."""

    default_code = "DECODE_FAILED"


class SizeMismatchError(NatsBridgeError):
    """The bytes of a payload are not the size its envelope announced."""

    default_code = "SIZE_MISMATCH"


class ChecksumError(NatsBridgeError):
    """The SHA-256 of a payload's bytes differs from ``metadata.checksum``."""

    default_code = "CHECKSUM_MISMATCH"


class OriginRefusedError(NatsBridgeError):
    """A link points outside the allowed file-server origins; nothing was fetched."""

    default_code = "ORIGIN_REFUSED"


class DownloadError(NatsBridgeError):
    """A link payload could not be downloaded.

    ``code`` is ``DOWNLOAD_FAILED`` after the retry budget is spent (or on a
    refusal that retrying cannot fix), ``PAYLOAD_GONE`` when the file server says
    the file does not exist (HTTP 404/410), ``PAYLOAD_TOO_LARGE`` when more bytes
    arrive than the envelope announced.

    Attributes:
        attempts: Attempts made before giving up.
        status: Last HTTP status seen, or 0 when no response arrived.
    """

    default_code = "DOWNLOAD_FAILED"

    def __init__(self, message: str, *, attempts: int = 0, status: int = 0, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.attempts = attempts
        self.status = status


class UploadError(NatsBridgeError):
    """A payload could not be uploaded to the file server.

    Attributes:
        status: HTTP status of the refusal, or 0.
    """

    default_code = "UPLOAD_FAILED"

    def __init__(self, message: str, *, status: int = 0, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.status = status


class TransportError(NatsBridgeError):
    """Connecting to NATS or publishing failed: ``CONNECTION_FAILED``,
    ``PUBLISH_FAILED``, ``PERMISSION_DENIED`` (the server refused the
    credentials: retrying cannot help) or ``TIMEOUT``; or a subscription lost a
    message because its reader fell behind: ``SLOW_CONSUMER``."""

    default_code = "CONNECTION_FAILED"


def with_context(
    err: BaseException,
    *,
    correlation_id: str,
    dataname: str = "",
    fallback: type = DecodeError,
) -> NatsBridgeError:
    """Returns ``err`` with missing correlation id / dataname filled in.

    Errors that are not ours are wrapped in ``fallback`` (the original is kept
    as ``__cause__`` by the caller's ``raise ... from``).
    """
    if isinstance(err, NatsBridgeError):
        if not err.correlation_id:
            err.correlation_id = correlation_id
        if not err.dataname and dataname:
            err.dataname = dataname
        return err
    wrapped = fallback(
        f"{type(err).__name__}: {err}", correlation_id=correlation_id, dataname=dataname
    )
    wrapped.__cause__ = err
    return wrapped
