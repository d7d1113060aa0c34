"""Option checks of smartsend, smartreceive and NATSBridge: every wrong option is
an ``INVALID_OPTION`` (or, for the data, ``INVALID_INPUT``) raised before anything
is uploaded or published, carrying the caller's correlation id (unit tests, no
servers: upload handlers here are plain functions that record their calls)."""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest
from _helpers import CORRELATION_ID, raises_code, sample_envelope
from _servers import free_port

from natsbridge import NATSBridge, smartreceive, smartsend


def recording_upload():
    """An upload handler that records each call and returns a link."""
    calls = []

    async def upload(fileserver_url, dataname, data):
        calls.append(dataname)
        return {"url": f"http://files.example/{len(calls)}"}

    return upload, calls


# --- subjects (like the TypeScript checkSubject) -------------------------------------------

@pytest.mark.parametrize("bad", ["wc.*", "wc.>", ">", "a..b", ".a", "a.", "a\tb", "a\u00a0b"])
async def test_smartsend_refuses_wildcard_and_malformed_subjects(bad):
    err = await raises_code(
        lambda: smartsend(bad, [("m", "x", "text")], is_publish=False, correlation_id="c-subj"), "INVALID_OPTION"
    )
    assert err.field == "subject" and err.correlation_id == "c-subj"


@pytest.mark.parametrize("bad", ["", "a b", "a..b", "a.>.b", ".", 5, None])
def test_subscribe_refuses_malformed_subjects_before_connecting(bad):
    bridge = NATSBridge(f"nats://127.0.0.1:{free_port()}")
    with pytest.raises(Exception) as info:
        bridge.subscribe(bad)
    assert getattr(info.value, "code", None) == "INVALID_OPTION", repr(info.value)
    assert bridge.nc is None  # refused before any connection was tried


@pytest.mark.parametrize("bad", ["a b", "a\tb", 5, None])
def test_subscribe_refuses_malformed_queue_groups(bad):
    with pytest.raises(Exception) as info:
        NATSBridge(f"nats://127.0.0.1:{free_port()}").subscribe("a.*", queue=bad)
    assert getattr(info.value, "code", None) == "INVALID_OPTION", repr(info.value)


# --- option types (like the TypeScript checkBoolean / checkCount / checkShape) --------------

@pytest.mark.parametrize(
    "options, field",
    [
        ({"max_payload": "10"}, "max_payload"),
        ({"max_payload": 0}, "max_payload"),
        ({"max_payload": True}, "max_payload"),
        ({"is_publish": "false"}, "is_publish"),
        ({"is_publish": 0}, "is_publish"),
        ({"checksum": "no"}, "checksum"),
        ({"checksum": None}, "checksum"),
        ({"nats_connection": "nats://x"}, "nats_connection"),
        ({"msg_purpose": 5}, "msg_purpose"),
        ({"metadata": [1]}, "metadata"),
        ({"arrow_format": "csv"}, "arrow_format"),
        ({"size_threshold": "10"}, "size_threshold"),
        ({"fileserver_upload_handler": "plik"}, "fileserver_upload_handler"),
        ({"msg_id": 7}, "msg_id"),
    ],
)
async def test_smartsend_bad_option_types_are_invalid_option_with_the_correlation_id(options, field):
    upload, calls = recording_upload()
    options.setdefault("is_publish", False)
    options.setdefault("fileserver_upload_handler", upload)
    options.setdefault("size_threshold", 10)
    err = await raises_code(
        lambda: smartsend("s", [("big", b"x" * 100, "binary")], correlation_id="c-opt", **options),
        "INVALID_OPTION",
    )
    assert err.field == field and err.correlation_id == "c-opt"
    assert calls == []


async def test_smartsend_item_errors_keep_the_callers_correlation_id():
    err = await raises_code(lambda: smartsend("s", "not a list", correlation_id="c-items"), "INVALID_INPUT")
    assert err.correlation_id == "c-items"


@pytest.mark.parametrize(
    "options, field",
    [
        ({"verify_checksum": "false"}, "verify_checksum"),
        ({"verify_checksum": None}, "verify_checksum"),
        ({"allowed_origins": None}, "allowed_origins"),
        ({"allowed_origins": 5}, "allowed_origins"),
        ({"allowed_origins": ["not an origin"]}, "allowed_origins"),
        ({"allowed_origins": [5]}, "allowed_origins"),
        ({"arrow_output": "polars"}, "arrow_output"),
    ],
)
async def test_smartreceive_bad_option_types_are_invalid_option(options, field):
    err = await raises_code(lambda: smartreceive(sample_envelope(), **options), "INVALID_OPTION")
    assert err.field == field and err.correlation_id == CORRELATION_ID


@pytest.mark.parametrize("bad", [None, 5, ["http://ok.example", 5]])
def test_bridge_bad_allowed_origins_are_invalid_option(bad):
    with pytest.raises(Exception) as info:
        NATSBridge(allowed_origins=bad)
    assert getattr(info.value, "code", None) == "INVALID_OPTION", repr(info.value)


def test_bridge_bad_arrow_output_is_invalid_option():
    with pytest.raises(Exception) as info:
        NATSBridge(arrow_output="polars")
    assert getattr(info.value, "code", None) == "INVALID_OPTION", repr(info.value)


# --- allowed_origins: a single string is one origin, as in smartreceive -------------------

def link_to(url: str) -> dict:
    obj = sample_envelope()
    obj["payloads"][0].update(
        transport="link", encoding="none", data=url, size=2,
        metadata={"checksum": hashlib.sha256(b"hi").hexdigest()},
    )
    return obj


async def fetch_hi(url, max_retries, base_delay, max_delay, correlation_id):
    return b"hi"


async def test_allowed_origins_string_is_one_origin_in_the_bridge_as_in_smartreceive():
    other = "http://other.example:9000"
    env = link_to(f"{other}/file/a/b/c")
    got = await smartreceive(env, fileserver_url="http://files.example", allowed_origins=other,
                             fileserver_download_handler=fetch_hi)
    assert got["payloads"] == [("msg", "hi", "text")]
    bridge = NATSBridge(fileserver_url="http://files.example", allowed_origins=other,
                        fileserver_download_handler=fetch_hi)
    assert bridge.allowed_origins == (other,)
    assert (await bridge.smartreceive(env))["payloads"] == [("msg", "hi", "text")]
    # Per call, a string adds one origin to the bridge's.
    third = "http://third.example"
    got = await NATSBridge(fileserver_url="http://files.example", fileserver_download_handler=fetch_hi).smartreceive(
        link_to(f"{third}/x"), allowed_origins=third
    )
    assert got["payloads"] == [("msg", "hi", "text")]


# --- text that UTF-8 cannot carry, refused before any upload -------------------------------

LONE = "\ud800"


@pytest.mark.parametrize(
    "items, options, code, field",
    [
        ([("big", b"x" * 100, "binary"), (f"name{LONE}", "x", "text")], {}, "INVALID_INPUT", ""),
        ([("big", b"x" * 100, "binary")], {"metadata": {"k": f"v{LONE}"}}, "INVALID_OPTION", "metadata"),
        ([("big", b"x" * 100, "binary")], {"metadata": {f"k{LONE}": 1}}, "INVALID_OPTION", "metadata"),
        ([("big", b"x" * 100, "binary")], {"msg_purpose": LONE}, "INVALID_OPTION", "msg_purpose"),
        ([("big", b"x" * 100, "binary")], {"sender_name": LONE}, "INVALID_OPTION", "sender_name"),
        ([("big", b"x" * 100, "binary")], {"reply_to": LONE}, "INVALID_OPTION", "reply_to"),
        ([("big", b"x" * 100, "binary")], {"msg_id": LONE}, "INVALID_OPTION", "msg_id"),
        ([("big", b"x" * 100, "binary")], {"broker_url": f"nats://h{LONE}:4222"}, "INVALID_OPTION", "broker_url"),
    ],
)
async def test_unpaired_surrogates_are_typed_errors_before_any_upload(items, options, code, field):
    upload, calls = recording_upload()
    err = await raises_code(
        lambda: smartsend("s", items, is_publish=False, size_threshold=10, fileserver_upload_handler=upload,
                          correlation_id="c-utf8", **options),
        code,
    )
    assert err.correlation_id == "c-utf8" and calls == []
    if field:
        assert err.field == field


async def test_unpaired_surrogate_in_the_subject_is_invalid_option():
    err = await raises_code(lambda: smartsend(f"s{LONE}", [("m", "x", "text")], is_publish=False), "INVALID_OPTION")
    assert err.field == "subject"


async def test_unpaired_surrogate_in_the_correlation_id_is_invalid_option():
    err = await raises_code(
        lambda: smartsend("s", [("m", "x", "text")], is_publish=False, correlation_id=LONE), "INVALID_OPTION"
    )
    assert err.field == "correlation_id"


async def test_nan_in_metadata_is_refused_before_any_upload():
    upload, calls = recording_upload()
    err = await raises_code(
        lambda: smartsend("s", [("big", b"x" * 100, "binary")], is_publish=False, size_threshold=10,
                          fileserver_upload_handler=upload, metadata={"x": float("nan")}, correlation_id="c-nan"),
        "INVALID_OPTION",
    )
    assert err.field == "metadata" and err.correlation_id == "c-nan" and calls == []


# --- one failed upload cancels the others -------------------------------------------------

async def test_one_failed_upload_cancels_the_others():
    started = asyncio.Event()
    cancelled = []

    async def upload(fileserver_url, dataname, data):
        if dataname == "slow":
            started.set()
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                cancelled.append(dataname)
                raise
            return {"url": "http://files.example/slow"}
        await started.wait()  # fail only once the other upload is under way
        raise RuntimeError("disk full")

    start = time.monotonic()
    err = await raises_code(
        lambda: smartsend("s", [("slow", b"x" * 100, "binary"), ("bad", b"y" * 100, "binary")], is_publish=False,
                          size_threshold=10, fileserver_upload_handler=upload, correlation_id="c-up"),
        "UPLOAD_FAILED",
    )
    assert err.dataname == "bad" and err.correlation_id == "c-up"
    assert time.monotonic() - start < 2
    assert cancelled == ["slow"]


# --- broker credentials never leave the process ---------------------------------------------

async def test_broker_credentials_are_redacted_in_the_envelope():
    url = "nats://alice:pw-123@127.0.0.1:4222, nats://tok3n@127.0.0.2:4222,nats://127.0.0.3:4222"
    env, text = await smartsend("s", [("m", "x", "text")], is_publish=False, broker_url=url)
    assert env["broker_url"] == "nats://***@127.0.0.1:4222, nats://***@127.0.0.2:4222,nats://127.0.0.3:4222"
    assert "pw-123" not in text and "tok3n" not in text


async def test_broker_credentials_without_a_scheme_are_redacted():
    # "alice:pw@host:port" has no "//": the password went out in every envelope.
    env, text = await smartsend("s", [("m", "x", "text")], is_publish=False,
                                broker_url="alice:pw-123@127.0.0.1:4222,tok3n@127.0.0.2:4222")
    assert env["broker_url"] == "***@127.0.0.1:4222,***@127.0.0.2:4222"
    assert "pw-123" not in text and "tok3n" not in text
    port = free_port()
    err = await raises_code(
        lambda: smartsend("s", [("m", "x", "text")], broker_url=f"alice:pw-123@127.0.0.1:{port}"),
        "CONNECTION_FAILED",
    )
    assert "pw-123" not in str(err)


async def test_a_password_with_a_raw_at_sign_is_redacted_whole():
    # The redaction stopped at the first "@", the URL parser at the last: the
    # password's tail went out in every envelope.
    env, text = await smartsend("s", [("m", "x", "text")], is_publish=False,
                                broker_url="nats://svc:p@ss%2Fw0rd@127.0.0.1:4222,svc:p@ss@127.0.0.2:4222")
    assert env["broker_url"] == "nats://***@127.0.0.1:4222,***@127.0.0.2:4222"
    assert "w0rd" not in text and "ss@" not in text
    # A space in a password is part of it too.
    env, text = await smartsend("s", [("m", "x", "text")], is_publish=False,
                                broker_url="nats://bob:pass word@127.0.0.1:4222,svc:p@ss word@127.0.0.2:4222")
    assert env["broker_url"] == "nats://***@127.0.0.1:4222,***@127.0.0.2:4222"
    assert "word" not in text


async def test_a_raw_comma_in_a_password_is_redacted_whole():
    # The list was split at the comma first: "nats://carol:Xk9" went out unmasked.
    env, text = await smartsend("s", [("m", "x", "text")], is_publish=False,
                                broker_url="nats://carol:Xk9,secretTail@127.0.0.1:4222,nats://127.0.0.2:4222")
    assert env["broker_url"] == "nats://***@127.0.0.1:4222,nats://127.0.0.2:4222"
    assert "carol" not in text and "Xk9" not in text


async def test_a_file_server_url_with_credentials_is_invalid_option():
    # Every link is built from it: "bob:basicpw@" would travel in every envelope.
    err = await raises_code(
        lambda: smartsend("s", [("m", b"x" * 10, "binary")], is_publish=False, size_threshold=0,
                          fileserver_url="http://bob:basicpw@127.0.0.1:1"),
        "INVALID_OPTION",
    )
    assert "basicpw" not in str(err) and "credentials" in str(err)


async def test_broker_credentials_are_redacted_in_connection_errors():
    port = free_port()
    err = await raises_code(
        lambda: smartsend("s", [("m", "x", "text")], broker_url=f"nats://alice:pw-123@127.0.0.1:{port}",
                          correlation_id="c-conn"),
        "CONNECTION_FAILED",
    )
    assert "pw-123" not in str(err) and f"nats://***@127.0.0.1:{port}" in str(err)
    assert err.correlation_id == "c-conn"
    err = await raises_code(NATSBridge(f"nats://tok3n@127.0.0.1:{port}", connect_options={"budget": 1}).connect,
                            "CONNECTION_FAILED")
    assert "tok3n" not in str(err)


async def test_a_misspelled_receive_option_is_invalid_option_naming_the_one_meant():
    # It was a bare TypeError naming an internal function, check_receive_options().
    import json

    envelope = json.dumps(sample_envelope())
    err = await raises_code(lambda: smartreceive(envelope, max_retry=3), "INVALID_OPTION", 'Unknown receive option "max_retry"')
    assert 'did you mean "max_retries"?' in err.message
    with pytest.raises(Exception) as info:
        NATSBridge("nats://127.0.0.1:1").subscribe("s", maxRetries=3)
    assert getattr(info.value, "code", None) == "INVALID_OPTION", repr(info.value)


async def test_metadata_with_keys_json_cannot_keep_is_invalid_option():
    # {1: "yes", "1": "uno"} was published with the key "1" twice, and receivers kept one.
    await raises_code(
        lambda: smartsend("s", [("t", "x", "text")], metadata={1: "yes", "1": "uno"}, is_publish=False),
        "INVALID_OPTION",
        "JSON object keys must be str",
    )
