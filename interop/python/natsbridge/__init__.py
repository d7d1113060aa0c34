"""natsbridge (Python peer): typed payloads in one JSON envelope
(``msg_envelope_v1``) over NATS, large payloads by claim check through Plik.

    from natsbridge import NATSBridge, smartsend, smartreceive

See ``interop/python/README.md``.
"""

from . import errors
from .bridge import NATSBridge, Subscription
from .config import (
    DEFAULT_BASE_DELAY,
    DEFAULT_BROKER_URL,
    DEFAULT_FILESERVER_URL,
    DEFAULT_MAX_DELAY,
    DEFAULT_MAX_RETRIES,
    DEFAULT_SIZE_THRESHOLD,
)
from .envelope import (
    ENVELOPE_KEYS,
    PAYLOAD_KEYS,
    PAYLOAD_TYPES,
    MsgEnvelopeV1,
    MsgPayloadV1,
    parse_envelope,
)
from .errors import (
    ChecksumError,
    DecodeError,
    DownloadError,
    EnvelopeError,
    InputError,
    NatsBridgeError,
    OptionsError,
    OriginRefusedError,
    SizeMismatchError,
    TransportError,
    UploadError,
)
from .handlers import DEFAULT_PLIK_TTL, fetch_with_backoff, plik_upload, plik_upload_handler
from .log import format_log_line
from .origins import origin_of
from .receive import ReceivedEnvelope, ReceivedPayload, receive_envelope, smartreceive
from .send import smartsend

__all__ = [
    "ChecksumError",
    "DEFAULT_BASE_DELAY",
    "DEFAULT_BROKER_URL",
    "DEFAULT_FILESERVER_URL",
    "DEFAULT_MAX_DELAY",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_PLIK_TTL",
    "DEFAULT_SIZE_THRESHOLD",
    "DecodeError",
    "DownloadError",
    "ENVELOPE_KEYS",
    "EnvelopeError",
    "InputError",
    "MsgEnvelopeV1",
    "MsgPayloadV1",
    "NATSBridge",
    "NatsBridgeError",
    "OptionsError",
    "OriginRefusedError",
    "PAYLOAD_KEYS",
    "PAYLOAD_TYPES",
    "ReceivedEnvelope",
    "ReceivedPayload",
    "SizeMismatchError",
    "Subscription",
    "TransportError",
    "UploadError",
    "errors",
    "fetch_with_backoff",
    "format_log_line",
    "origin_of",
    "parse_envelope",
    "plik_upload",
    "plik_upload_handler",
    "receive_envelope",
    "smartreceive",
    "smartsend",
]
