"""Base64 strictness, checksums, backoff delays, origins and log lines (unit tests)."""

from __future__ import annotations

import base64
import doctest
import hashlib
import importlib
import logging
import os
import re

import pytest

from natsbridge.backoff import backoff_delays
from natsbridge.encoding import Base64Error, decode_base64, encode_base64, sha256_hex
from natsbridge.log import format_log_line
from natsbridge.origins import assert_allowed_origin, origin_of
from natsbridge.errors import OriginRefusedError


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 100, 1001])
def test_base64_round_trip_is_standard_padded(size):
    data = os.urandom(size)
    text = encode_base64(data)
    assert text == base64.b64encode(data).decode()
    assert len(text) % 4 == 0 and "\n" not in text
    assert decode_base64(text) == data


@pytest.mark.parametrize(
    "text, why",
    [
        ("aGk", "length"), ("a", "length"), ("aG k", "space"), ("aGk=\n", "newline"), ("aG\tk", "tab"),
        ("aG-_", "url-safe alphabet"), ("aGk!", "outside alphabet"), ("=aGk", "leading padding"),
        ("aGk=aGk=", "padding in the middle"), ("aGl=", "non-zero padding bits"), ("aB==", "non-zero padding bits"),
        ("éGk=", "non-ascii"), ("====", "only padding"), ("a===", "three padding"),
    ],
)
def test_base64_decode_is_strict(text, why):
    with pytest.raises(Base64Error):
        decode_base64(text)


def test_sha256_is_lowercase_hex():
    assert sha256_hex(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert sha256_hex(b"hi") == hashlib.sha256(b"hi").hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", sha256_hex(os.urandom(50)))


@pytest.mark.parametrize(
    "attempts, base, cap, expected",
    [
        (5, 100, 5000, [100, 200, 400, 800]),
        (1, 100, 5000, []),
        (10, 100, 5000, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]),
        (4, 0, 5000, [0, 0, 0]),
        (3, 9000, 5000, [5000, 5000]),
    ],
)
def test_backoff_delays_double_and_cap(attempts, base, cap, expected):
    assert backoff_delays(attempts, base, cap) == expected


@pytest.mark.parametrize(
    "url, origin",
    [
        ("http://127.0.0.1:8080/file/a/b/c", "http://127.0.0.1:8080"),
        ("HTTP://Files.Example:80/x", "http://files.example"),
        ("https://files.example:443/x", "https://files.example"),
        ("https://files.example:8443", "https://files.example:8443"),
        ("http://[::1]:8080/x", "http://[::1]:8080"),
        ("nats-obj://payloads/abc", "nats-obj://payloads"),
        ("http://user:pw@127.0.0.1:8080/x", None),
        ("http://127.0.0.1:8080@evil.example/x", None),
        ("http://evil.example\\@127.0.0.1:8080/", None),
        ("not a url", None),
        ("/relative/path", None),
        ("http://h:99999/", None),
    ],
)
def test_origin_of(url, origin):
    assert origin_of(url) == origin


def test_allowed_origin_compares_normalized_origins():
    assert_allowed_origin("http://LOCALHOST:80/file/x", ["http://localhost"], correlation_id="c")
    with pytest.raises(OriginRefusedError) as info:
        assert_allowed_origin("http://localhost:8081/file/x", ["http://localhost:8080/"], correlation_id="c", dataname="d")
    assert info.value.code == "ORIGIN_REFUSED" and info.value.correlation_id == "c" and info.value.dataname == "d"


def test_log_line_format(caplog):
    from datetime import datetime, timezone

    assert (
        format_log_line("abc", "Message published to chat", datetime(2026, 3, 13, 10, 30, 0, 123000, tzinfo=timezone.utc))
        == "[2026-03-13T10:30:00.123Z] [Correlation: abc] Message published to chat"
    )
    from natsbridge.log import log_event

    with caplog.at_level(logging.INFO, logger="natsbridge"):
        log_event(logging.INFO, "corr-1", "hello")
    (record,) = caplog.records
    assert re.fullmatch(r"\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] \[Correlation: corr-1\] hello", record.getMessage())
    assert record.correlation_id == "corr-1"


MODULES = [
    "natsbridge.encoding", "natsbridge.ids", "natsbridge.log", "natsbridge.backoff", "natsbridge.origins",
    "natsbridge.envelope", "natsbridge.connection",
]


@pytest.mark.parametrize("name", MODULES)
def test_doc_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0 and result.attempted > 0
