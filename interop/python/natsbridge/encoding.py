"""Byte-level encodings of the wire: standard padded base64 (RFC 4648 §4),
strict on decode, and the SHA-256 checksum (lowercase hex)."""

from __future__ import annotations

import base64
import binascii
import hashlib


class Base64Error(ValueError):
    """Raised by :func:`decode_base64` on malformed input."""


def encode_base64(data: bytes) -> str:
    """Standard padded base64 of ``data``, no line breaks.

    >>> encode_base64(b"hi")
    'aGk='
    """
    return base64.b64encode(data).decode("ascii")


def decode_base64(text: str) -> bytes:
    """Decodes standard padded base64, strictly.

    Rejected: a length that is not a multiple of 4, any character outside the
    alphabet (whitespace and the URL-safe ``-`` ``_`` included), misplaced or
    missing padding, and non-zero bits in the padding (``"aGl="``, which lenient
    decoders read as ``"hi"``): every valid payload has exactly one encoding.

    >>> decode_base64("aGk=")
    b'hi'
    """
    if not isinstance(text, str):
        raise Base64Error(f"base64 data must be a string, got {type(text).__name__}")
    if len(text) % 4:
        raise Base64Error(f"base64 length must be a multiple of 4, got {len(text)}")
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise Base64Error("base64 text contains non-ASCII characters") from None
    try:
        out = binascii.a2b_base64(raw, strict_mode=True)
    except binascii.Error as err:
        raise Base64Error(f"invalid base64: {err}") from None
    if raw.endswith(b"="):
        # Only the last quantum can carry padding bits: re-encode it and compare.
        tail = out[-(3 - raw[-2:].count(b"=")):]
        if binascii.b2a_base64(tail, newline=False) != raw[-4:]:
            raise Base64Error("base64 padding bits are not zero (non-canonical encoding)")
    return out


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256 of ``data``: the ``metadata.checksum`` of a payload.

    >>> sha256_hex(b"hi")
    '8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4'
    """
    return hashlib.sha256(data).hexdigest()
