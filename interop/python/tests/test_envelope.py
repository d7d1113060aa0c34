"""Envelope building and validation (unit tests, no servers).

Every bad input of DESIGN.md §4 that lives in the envelope itself becomes a
typed error naming the field and, once it is known, the correlation id.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import uuid

import pytest
from _helpers import CORRELATION_ID, raises_code, sample_envelope

from natsbridge import (
    ENVELOPE_KEYS,
    PAYLOAD_KEYS,
    EnvelopeError,
    MsgEnvelopeV1,
    MsgPayloadV1,
    parse_envelope,
    smartreceive,
    smartsend,
)
from natsbridge.ids import iso_timestamp

UUID_WITH_DASHES = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
TIMESTAMP_Z_MS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


# --- what senders emit -------------------------------------------------------------

async def test_smartsend_builds_the_14_keys_in_wire_order_with_dashed_uuids_and_z_timestamp():
    env, text = await smartsend("chat", [("msg", "hi", "text")], is_publish=False)
    assert list(env) == list(ENVELOPE_KEYS)
    assert json.loads(text) == env
    for key in ("correlation_id", "msg_id", "sender_id"):
        assert UUID_WITH_DASHES.fullmatch(env[key]), env[key]
    assert TIMESTAMP_Z_MS.fullmatch(env["timestamp"]), env["timestamp"]
    assert env["send_to"] == "chat"
    assert env["msg_purpose"] == "chat" and env["sender_name"] == "NATSBridge"
    assert env["receiver_name"] == env["receiver_id"] == env["reply_to"] == env["reply_to_msg_id"] == ""
    assert env["broker_url"] == "nats://localhost:4222"
    assert env["metadata"] == {}


async def test_smartsend_direct_payload_has_8_keys_base64_size_and_checksum():
    env, _ = await smartsend("chat", [("msg", "héllo", "text")], is_publish=False)
    (p,) = env["payloads"]
    assert list(p) == list(PAYLOAD_KEYS)
    assert UUID_WITH_DASHES.fullmatch(p["id"])
    assert (p["transport"], p["encoding"], p["payload_type"], p["dataname"]) == ("direct", "base64", "text", "msg")
    assert p["size"] == len("héllo".encode()) == 6
    assert p["data"] == "aMOpbGxv"
    assert p["metadata"] == {"checksum": hashlib.sha256("héllo".encode()).hexdigest()}


async def test_smartsend_keeps_given_ids_and_fields():
    env, _ = await smartsend(
        "a.b", [("x", {"k": 1}, "dictionary")], is_publish=False, correlation_id="corr", msg_id="m",
        sender_id="s", msg_purpose="ACK", sender_name="me", receiver_name="you", receiver_id="r",
        reply_to="back", reply_to_msg_id="prev", broker_url="nats://example:4222", metadata={"a": 1},
    )
    assert {k: env[k] for k in ENVELOPE_KEYS[:12] if k != "timestamp"} == {
        "correlation_id": "corr", "msg_id": "m", "send_to": "a.b", "msg_purpose": "ACK",
        "sender_name": "me", "sender_id": "s", "receiver_name": "you", "receiver_id": "r",
        "reply_to": "back", "reply_to_msg_id": "prev", "broker_url": "nats://example:4222",
    }
    assert env["metadata"] == {"a": 1}


async def test_smartsend_without_checksum_leaves_payload_metadata_empty():
    env, _ = await smartsend("chat", [("msg", "hi", "text")], is_publish=False, checksum=False)
    assert env["payloads"][0]["metadata"] == {}


async def test_smartsend_uses_env_vars(monkeypatch):
    monkeypatch.setenv("NATS_URL", "nats://from-env:4222")
    monkeypatch.setenv("SIZE_THRESHOLD", "1")
    uploaded = []

    async def upload(fileserver_url, dataname, data):
        uploaded.append((fileserver_url, dataname, data))
        return {"status": 200, "uploadid": "u", "fileid": "f", "url": "http://files.example/f/u/x"}

    monkeypatch.setenv("FILESERVER_URL", "http://files.example/")
    env, _ = await smartsend("chat", [("msg", "hi", "text")], is_publish=False, fileserver_upload_handler=upload)
    assert env["broker_url"] == "nats://from-env:4222"
    assert uploaded == [("http://files.example", "msg", b"hi")]
    assert env["payloads"][0]["transport"] == "link" and env["payloads"][0]["encoding"] == "none"


@pytest.mark.parametrize("bad", [" ", "1e6", "0x10", "1000000.0", "1_000_000", "+5", "-1", "ten", "\u0661\u0662", "5\x1c", "5\x85", "5\ufeff", "9007199254740992"])
async def test_size_threshold_env_is_decimal_digits_as_typescript_reads_it(monkeypatch, bad):
    # int() took "1_000_000", "+5" and Arabic-Indic digits, which the TypeScript peer refuses;
    # and any size past 2**53 - 1, where TypeScript numbers stop being exact.
    monkeypatch.setenv("SIZE_THRESHOLD", bad)
    await raises_code(lambda: smartsend("chat", [("msg", "hi", "text")], is_publish=False), "INVALID_OPTION")


@pytest.mark.parametrize("bad", ["", "has space", 5, None])
async def test_smartsend_rejects_bad_subject(bad):
    await raises_code(lambda: smartsend(bad, [("m", "x", "text")], is_publish=False), "INVALID_OPTION")


@pytest.mark.parametrize(
    "items, match",
    [
        ([("m", "x")], "tuple"),
        ([(1, "x", "text")], "dataname"),
        ([("m", "x", "pdf")], "unknown payload_type"),
        ([("m", "x", "table")], "unknown payload_type"),  # receivers accept it; senders write arrowtable
    ],
)
async def test_smartsend_rejects_bad_items(items, match):
    err = await raises_code(lambda: smartsend("s", items, is_publish=False, correlation_id="c1"), "INVALID_INPUT", match)
    assert err.correlation_id == "c1"


def test_iso_timestamp_is_utc_with_milliseconds_and_z():
    from datetime import datetime, timedelta, timezone

    at = datetime(2026, 3, 13, 11, 30, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert iso_timestamp(at) == "2026-03-13T10:30:00.123Z"


def test_dataclasses_round_trip_and_keep_extra_keys():
    obj = sample_envelope()
    obj["x_trace"] = {"hop": 1}
    env = MsgEnvelopeV1.from_dict(obj)
    assert isinstance(env.payloads[0], MsgPayloadV1)
    assert env.extra == {"x_trace": {"hop": 1}}
    assert env.to_dict() == obj
    assert list(env.to_dict())[:14] == list(ENVELOPE_KEYS)
    assert json.loads(env.to_json()) == obj


# --- what receivers accept ------------------------------------------------------------

@pytest.mark.parametrize(
    "timestamp", ["2026-03-13T10:30:00", "2026-03-13T10:30:00.123456789", "2026-03-13T10:30:00+01:00",
                  "2024-02-29T23:59:60Z",
                  "2026-03-13T10:30Z", "2026-03-13T10:30:00.1-0500"],
)
def test_accepts_zone_less_and_offset_timestamps(timestamp):
    obj = sample_envelope()
    obj["timestamp"] = timestamp
    parse_envelope(obj)


@pytest.mark.parametrize("ident", ["abc", uuid.uuid4().hex, str(uuid.uuid4()).upper()])
def test_accepts_any_non_empty_ids(ident):
    obj = sample_envelope()
    obj["correlation_id"] = obj["msg_id"] = obj["payloads"][0]["id"] = ident
    parse_envelope(obj)


async def test_unknown_extra_keys_are_kept_in_the_result():
    obj = sample_envelope()
    obj["x_vendor"] = [1, 2]
    obj["payloads"][0]["x_payload_extra"] = True
    env = await smartreceive(json.dumps(obj))
    assert env["x_vendor"] == [1, 2]
    assert env["payloads"] == [("msg", "hi", "text")]


async def test_accepts_legacy_table_type_and_returns_arrowtable():
    import pyarrow as pa

    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, pa.schema([("a", pa.int64())])) as w:
        w.write_table(pa.table({"a": [1, 2]}))
    raw = sink.getvalue()
    obj = sample_envelope()
    obj["payloads"][0].update(payload_type="table", size=len(raw), data=base64.b64encode(raw).decode(), metadata={})
    env = await smartreceive(obj, arrow_output="arrow")
    name, table, ptype = env["payloads"][0]
    assert ptype == "arrowtable" and table.column("a").to_pylist() == [1, 2]


@pytest.mark.parametrize("ptype, value", [("dictionary", {"a": [1, "é"]}), ("jsontable", [{"id": 1}, {"id": 2}])])
async def test_accepts_json_encoding_for_json_types(ptype, value):
    text = json.dumps(value, ensure_ascii=False)
    obj = sample_envelope()
    # `size` under encoding "json" is not held to the byte: peers disagree on what it counts.
    obj["payloads"][0].update(payload_type=ptype, encoding="json", data=text, size=999, metadata={})
    env = await smartreceive(obj)
    assert env["payloads"][0] == ("msg", value, ptype)


def test_accepts_arrow_ipc_encoding_label_on_linked_arrowtable():
    obj = sample_envelope()
    obj["payloads"][0].update(payload_type="arrowtable", transport="link", encoding="arrow-ipc",
                              data="http://localhost:8080/file/u/f/data.arrow")
    parse_envelope(obj)


def test_accepts_integral_float_size():
    obj = sample_envelope()
    obj["payloads"][0]["size"] = 2.0
    _, payloads = parse_envelope(obj)
    assert payloads[0].size == 2 and isinstance(payloads[0].size, int)


# --- what receivers refuse (DESIGN.md §4) ------------------------------------------------------

def mutate(fn):
    obj = sample_envelope()
    fn(obj)
    return obj


def set_payload(**kw):
    return lambda o: o["payloads"][0].update(kw)


BAD_ENVELOPES = [
    # (id, envelope or raw text, code, field)
    ("invalid json", '{"correlation_id": ', "ENVELOPE_INVALID", ""),
    ("json array", "[]", "ENVELOPE_INVALID", ""),
    ("json NaN literal", json.dumps(sample_envelope()).replace('"size": 2', '"size": NaN'), "ENVELOPE_INVALID", ""),
    ("invalid utf-8", b'{"a": "\xff"}', "ENVELOPE_INVALID", ""),
    ("correlation_id wrong type", mutate(lambda o: o.update(correlation_id=5)), "ENVELOPE_INVALID", "correlation_id"),
    ("empty correlation_id", mutate(lambda o: o.update(correlation_id="")), "ENVELOPE_INVALID", "correlation_id"),
    ("empty msg_id", mutate(lambda o: o.update(msg_id="")), "ENVELOPE_INVALID", "msg_id"),
    ("null send_to", mutate(lambda o: o.update(send_to=None)), "ENVELOPE_INVALID", "send_to"),
    ("bad timestamp", mutate(lambda o: o.update(timestamp="13/03/2026")), "ENVELOPE_INVALID", "timestamp"),
    ("impossible timestamp", mutate(lambda o: o.update(timestamp="2026-13-45T99:99:99Z")), "ENVELOPE_INVALID", "timestamp"),
    ("february 30", mutate(lambda o: o.update(timestamp="2026-02-30T00:00:00Z")), "ENVELOPE_INVALID", "timestamp"),
    ("hour 24", mutate(lambda o: o.update(timestamp="2026-01-01T24:00:00Z")), "ENVELOPE_INVALID", "timestamp"),
    ("metadata array", mutate(lambda o: o.update(metadata=[])), "ENVELOPE_INVALID", "metadata"),
    ("payloads object", mutate(lambda o: o.update(payloads={})), "ENVELOPE_INVALID", "payloads"),
    ("payload not object", mutate(lambda o: o.update(payloads=["x"])), "ENVELOPE_INVALID", "payloads[0]"),
    ("payload id empty", mutate(set_payload(id="")), "ENVELOPE_INVALID", "payloads[0].id"),
    ("payload data number", mutate(set_payload(data=1)), "ENVELOPE_INVALID", "payloads[0].data"),
    ("size negative", mutate(set_payload(size=-1)), "ENVELOPE_INVALID", "payloads[0].size"),
    ("size string", mutate(set_payload(size="2")), "ENVELOPE_INVALID", "payloads[0].size"),
    ("size fraction", mutate(set_payload(size=2.5)), "ENVELOPE_INVALID", "payloads[0].size"),
    ("size boolean", mutate(set_payload(size=True)), "ENVELOPE_INVALID", "payloads[0].size"),
    ("size beyond 2^53", mutate(set_payload(size=2**53)), "ENVELOPE_INVALID", "payloads[0].size"),
    ("payload metadata null", mutate(set_payload(metadata=None)), "ENVELOPE_INVALID", "payloads[0].metadata"),
    ("checksum not hex", mutate(set_payload(metadata={"checksum": "xyz"})), "ENVELOPE_INVALID", "payloads[0].metadata.checksum"),
    ("unknown payload_type", mutate(set_payload(payload_type="pdf")), "UNKNOWN_PAYLOAD_TYPE", "payloads[0].payload_type"),
    ("unknown transport", mutate(set_payload(transport="carrier-pigeon")), "UNKNOWN_TRANSPORT", "payloads[0].transport"),
    ("unknown encoding", mutate(set_payload(encoding="hex")), "UNKNOWN_ENCODING", "payloads[0].encoding"),
    ("json encoding for text", mutate(set_payload(encoding="json")), "UNKNOWN_ENCODING", "payloads[0].encoding"),
    ("base64 encoding on link", mutate(set_payload(transport="link", data="http://h/x")), "UNKNOWN_ENCODING", "payloads[0].encoding"),
    ("link not a url", mutate(set_payload(transport="link", encoding="none", data="not a url")), "ENVELOPE_INVALID", "payloads[0].data"),
    ("link with bad port", mutate(set_payload(transport="link", encoding="none", data="http://h:99999/x")), "ENVELOPE_INVALID", "payloads[0].data"),
]
BAD_ENVELOPES += [
    (f"missing {key}", mutate(lambda o, k=key: o.pop(k)), "ENVELOPE_INVALID", key) for key in ENVELOPE_KEYS
]
BAD_ENVELOPES += [
    (f"missing payload {key}", mutate(lambda o, k=key: o["payloads"][0].pop(k)), "ENVELOPE_INVALID", f"payloads[0].{key}")
    for key in PAYLOAD_KEYS
]


@pytest.mark.parametrize("value, code, field", [b[1:] for b in BAD_ENVELOPES], ids=[b[0] for b in BAD_ENVELOPES])
async def test_bad_envelope_is_a_typed_error(value, code, field):
    err = await raises_code(lambda: smartreceive(value), code)
    assert isinstance(err, EnvelopeError)
    assert err.field == field
    if isinstance(value, dict) and isinstance(value.get("correlation_id"), str):
        assert err.correlation_id == value["correlation_id"]
    if field.startswith("payloads[0].") and field != "payloads[0].dataname":
        assert err.dataname == "msg"


async def test_envelope_error_message_names_the_payload_and_clips_hostile_values():
    obj = sample_envelope()
    obj["payloads"][0]["payload_type"] = "x" * 10_000
    err = await raises_code(lambda: smartreceive(obj), "UNKNOWN_PAYLOAD_TYPE")
    assert 'payloads[0] ("msg")' in err.message and len(err.message) < 300
    assert err.correlation_id == CORRELATION_ID


async def test_deeply_nested_json_is_an_envelope_error_not_a_crash():
    await raises_code(lambda: smartreceive("[" * 100_000 + "]" * 100_000), "ENVELOPE_INVALID")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), object()])
def test_envelope_to_json_refuses_what_peers_cannot_read(bad):
    env = MsgEnvelopeV1.from_dict(sample_envelope())
    env.metadata["x"] = bad
    with pytest.raises(Exception) as info:
        env.to_json()
    assert getattr(info.value, "code", None) == "INVALID_INPUT", repr(info.value)
    assert info.value.correlation_id == CORRELATION_ID


@pytest.mark.parametrize("as_bytes", [True, False])
def test_an_envelope_starting_with_a_utf8_bom_is_read_as_the_typescript_peer_reads_it(as_bytes):
    # JSON parsers may ignore a BOM (RFC 8259 §8.1); this one refused it, and
    # the TypeScript peer took it as bytes and refused it as text.
    text = "\ufeff" + json.dumps(sample_envelope())
    envelope, _ = parse_envelope(text.encode() if as_bytes else text)
    assert envelope["correlation_id"] == CORRELATION_ID
