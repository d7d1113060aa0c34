"""Payload codecs for all eight types, Arrow IPC in both formats and every
compression, and the receive-side payload checks (unit tests, no servers)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re

import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pytest
from _helpers import CORRELATION_ID, raises_code, sample_envelope

from natsbridge import InputError, smartreceive, smartsend
from natsbridge.cases import arrow_dataframe
from natsbridge.codecs import deserialize, read_arrow_table, serialize

ROUND_TRIPS = [
    ("text", "Grüße, 世界 🚀", "Grüße, 世界 🚀".encode()),
    ("text", "", b""),
    ("dictionary", {"a": 1, "b": [True, None, 1.5], "ü": {"x": "y"}}, None),
    ("dictionary", [1, "two", {"three": 3}], None),
    ("jsontable", [{"id": 1, "name": "Alice"}, {"id": 2, "name": None}], None),
    ("jsontable", [], b"[]"),
    ("image", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), None),
    ("audio", b"RIFF" + b"\x00" * 100, None),
    ("video", bytes(range(256)) * 10, None),
    ("binary", b"", b""),
]


@pytest.mark.parametrize("ptype, value, wire", ROUND_TRIPS, ids=[f"{r[0]}-{i}" for i, r in enumerate(ROUND_TRIPS)])
def test_round_trip(ptype, value, wire):
    raw = serialize(value, ptype)
    if wire is not None:
        assert raw == wire
    assert deserialize(raw, ptype) == value


def test_json_is_compact_utf8_like_json_stringify():
    assert serialize({"a": [1, 2], "é": "ü"}, "dictionary") == '{"a":[1,2],"é":"ü"}'.encode()


@pytest.mark.parametrize("value", [bytearray(b"ab"), memoryview(b"ab"), io.BytesIO(b"ab")])
def test_binary_accepts_bytes_likes(value):
    assert serialize(value, "binary") == b"ab"


def test_arrowtable_dataframe_is_feather_v2_with_lz4_like_the_spec_python():
    df = arrow_dataframe()
    raw = serialize(df, "arrowtable")
    assert raw[:6] == b"ARROW1" and raw[-6:] == b"ARROW1"
    expected = io.BytesIO()
    feather.write_feather(pa.Table.from_pandas(df, preserve_index=False), expected, compression="lz4")
    assert raw == expected.getvalue()
    uncompressed = io.BytesIO()
    feather.write_feather(pa.Table.from_pandas(df, preserve_index=False), uncompressed, compression="uncompressed")
    assert raw != uncompressed.getvalue()


def test_arrowtable_round_trips_to_an_equal_dataframe():
    df = arrow_dataframe()
    back = deserialize(serialize(df, "arrowtable"), "arrowtable")
    assert isinstance(back, pd.DataFrame)
    pd.testing.assert_frame_equal(back, df)


def test_arrowtable_dataframe_with_column_names_that_are_not_str_is_refused():
    # pyarrow turned 0 into "0" silently, and {1: …, "1": …} into two columns named "1".
    for df, shown in [
        (pd.DataFrame({0: [1], 1: [2]}), "0 (int)"),
        (pd.DataFrame({1: [1], "1": [2]}), "1 (int)"),
        (pd.DataFrame({("a", "b"): [1]}), "('a', 'b') (tuple)"),
    ]:
        with pytest.raises(InputError, match=rf"column name {re.escape(shown)}.*Arrow column names are strings"):
            serialize(df, "arrowtable")
    # Named by strings, it goes (named twice, pyarrow refuses it: InputError too).
    back = deserialize(serialize(pd.DataFrame({"0": [1], "1": [2]}), "arrowtable"), "arrowtable", arrow_output="arrow")
    assert back.column_names == ["0", "1"]
    with pytest.raises(InputError, match="Duplicate column names"):
        serialize(pd.DataFrame([[1, 2]], columns=["a", "a"]), "arrowtable")


def test_arrowtable_stream_format_option():
    table = pa.table({"a": [1, 2, None]})
    raw = serialize(table, "arrowtable", arrow_format="stream")
    assert raw[:4] == b"\xff\xff\xff\xff"
    assert deserialize(raw, "arrowtable", arrow_output="arrow").equals(table)


def test_arrowtable_accepts_table_rows_and_ipc_bytes():
    table = pa.table({"id": [1, 2], "name": ["a", None]})
    assert deserialize(serialize(table, "arrowtable"), "arrowtable", arrow_output="arrow").equals(table)
    rows = deserialize(serialize([{"id": 1}, {"id": 2, "x": "y"}], "arrowtable"), "arrowtable", arrow_output="arrow")
    assert rows.to_pylist() == [{"id": 1, "x": None}, {"id": 2, "x": "y"}]
    ipc = serialize(table, "arrowtable", arrow_format="stream")
    assert serialize(ipc, "arrowtable") == ipc  # already IPC: sent unchanged


def _stream(table, compression=None):
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=compression)) as w:
        w.write_table(table, max_chunksize=2)
    return sink.getvalue()


def _file(table, compression):
    sink = io.BytesIO()
    feather.write_feather(table, sink, compression=compression)
    return sink.getvalue()


@pytest.mark.parametrize(
    "make",
    [
        lambda t: _stream(t), lambda t: _stream(t, "lz4"), lambda t: _stream(t, "zstd"),
        lambda t: _file(t, "uncompressed"), lambda t: _file(t, "lz4"), lambda t: _file(t, "zstd"),
    ],
    ids=["stream", "stream-lz4", "stream-zstd", "file", "file-lz4", "file-zstd"],
)
def test_arrowtable_receives_both_formats_and_compressions(make):
    table = pa.Table.from_pandas(arrow_dataframe(), preserve_index=False)
    assert deserialize(make(table), "arrowtable", arrow_output="arrow").equals(table)


def test_arrowtable_stream_without_end_marker_is_accepted():
    table = pa.table({"a": [1, 2, 3]})
    assert read_arrow_table(_stream(table)[:-8]).equals(table)


@pytest.mark.parametrize(
    "ptype, value",
    [
        ("text", b"bytes"), ("text", 5), ("text", "\ud800"),
        ("dictionary", "str"), ("dictionary", {"a": {1, 2}}), ("dictionary", {"nan": float("nan")}),
        ("jsontable", {"a": 1}), ("jsontable", [1, 2]),
        ("arrowtable", 5), ("arrowtable", b"not arrow"), ("arrowtable", [1]),
        ("image", "str"), ("binary", [1, 2]),
    ],
)
async def test_wrong_input_is_invalid_input_naming_the_payload(ptype, value):
    err = await raises_code(
        lambda: smartsend("s", [("thing", value, ptype)], is_publish=False, correlation_id="c9"), "INVALID_INPUT"
    )
    assert err.dataname == "thing" and err.correlation_id == "c9"


def direct(ptype, raw, checksum=True, **extra):
    obj = sample_envelope()
    obj["payloads"][0].update(
        payload_type=ptype, size=len(raw), data=base64.b64encode(raw).decode(),
        metadata={"checksum": hashlib.sha256(raw).hexdigest()} if checksum else {}, **extra,
    )
    return obj


valid_file = _file(pa.table({"a": list(range(100))}), "lz4")
valid_stream = _stream(pa.table({"a": list(range(100))}))
CORRUPT = [
    ("text", b"\xff\xfe"),
    ("dictionary", b"{not json"),
    ("dictionary", b"42"),
    ("dictionary", b"NaN"),
    # Beyond the double range: json.loads made it inf, where TypeScript says DECODE_FAILED.
    ("dictionary", b'{"a": 1e400}'),
    ("jsontable", b'[{"a": -2.5E+308}]'),
    ("jsontable", b'{"a": 1}'),
    ("jsontable", b"[1, 2]"),
    ("arrowtable", b""),
    ("arrowtable", b"garbage that is not arrow"),
    ("arrowtable", valid_file[:-20]),
    ("arrowtable", valid_file[:200] + b"\x00" * 50 + valid_file[250:]),
    ("arrowtable", valid_stream[: len(valid_stream) // 2]),
]


@pytest.mark.parametrize("ptype, raw", CORRUPT, ids=[f"{c[0]}-{i}" for i, c in enumerate(CORRUPT)])
async def test_corrupt_payload_bytes_are_decode_failed_with_context(ptype, raw):
    err = await raises_code(lambda: smartreceive(direct(ptype, raw)), "DECODE_FAILED")
    assert err.correlation_id == CORRELATION_ID and err.dataname == "msg"


@pytest.mark.parametrize("data", ["aGk", "aG k=", "aGk=\n", "aG-_", "aGl=", "aGk=aGk=", "éGk="])
async def test_bad_base64_is_decode_failed(data):
    obj = sample_envelope()
    obj["payloads"][0].update(data=data, metadata={})
    err = await raises_code(lambda: smartreceive(obj), "DECODE_FAILED", "base64")
    assert err.correlation_id == CORRELATION_ID and err.dataname == "msg"


async def test_size_mismatch_is_typed():
    obj = sample_envelope()
    obj["payloads"][0]["size"] = 3
    err = await raises_code(lambda: smartreceive(obj), "SIZE_MISMATCH")
    assert err.correlation_id == CORRELATION_ID and err.dataname == "msg"


async def test_checksum_mismatch_names_payload_and_correlation_id():
    obj = sample_envelope()
    obj["payloads"][0]["data"] = "aGo="  # "hj": same size, other bytes
    err = await raises_code(lambda: smartreceive(obj), "CHECKSUM_MISMATCH")
    assert err.correlation_id == CORRELATION_ID and err.dataname == "msg"
    assert '"msg"' in err.message and CORRELATION_ID in err.message


async def test_uppercase_checksum_is_accepted_and_verification_can_be_turned_off():
    obj = sample_envelope()
    obj["payloads"][0]["metadata"]["checksum"] = obj["payloads"][0]["metadata"]["checksum"].upper()
    assert (await smartreceive(obj))["payloads"] == [("msg", "hi", "text")]
    obj["payloads"][0]["data"] = "aGo="
    assert (await smartreceive(obj, verify_checksum=False))["payloads"] == [("msg", "hj", "text")]


async def test_payload_without_checksum_is_accepted():
    obj = sample_envelope()
    obj["payloads"][0]["metadata"] = {}
    assert (await smartreceive(obj))["payloads"] == [("msg", "hi", "text")]


@pytest.mark.parametrize("ptype", ["text", "dictionary", "jsontable", "arrowtable", "image", "audio", "video", "binary"])
async def test_every_type_through_smartsend_and_smartreceive(ptype):
    values = {
        "text": "héllo", "dictionary": {"k": [1, 2]}, "jsontable": [{"a": 1}], "image": b"\x89PNG",
        "audio": b"RIFF", "video": b"\x00\x00\x00\x18ftyp", "binary": bytes(range(256)),
        "arrowtable": pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}),
    }
    _, text = await smartsend("s", [("v", values[ptype], ptype)], is_publish=False)
    env = await smartreceive(text)
    (name, value, got_type), = env["payloads"]
    assert (name, got_type) == ("v", ptype)
    if ptype == "arrowtable":
        pd.testing.assert_frame_equal(value, values[ptype])
    else:
        assert value == values[ptype]
    assert json.loads(text)["payloads"][0]["size"] == len(serialize(values[ptype], ptype))


# --- integers stay exact, and JSON keys are strings ----------------------------------------

def test_arrowtable_integer_columns_with_nulls_stay_exact_in_pandas():
    # A table without pandas metadata, as the TypeScript peer sends it.
    table = pa.table(
        {
            "big": pa.array([2**53 + 1, None, -(2**63)], pa.int64()),
            "umax": pa.array([2**64 - 1, None, 0], pa.uint64()),
            "small": pa.array([1, None, 3], pa.int8()),
            "plain": pa.array([2**53 + 1, 2, 3], pa.int64()),
            "ratio": pa.array([1.5, None, 2.5], pa.float64()),
            "name": pa.array(["a", None, "c"], pa.string()),
        }
    )
    df = deserialize(serialize(table, "arrowtable", arrow_format="stream"), "arrowtable")
    assert df["big"].tolist()[0] == 2**53 + 1 and df["big"].tolist()[2] == -(2**63)
    assert df["umax"].tolist()[0] == 2**64 - 1
    assert [str(t) for t in df.dtypes] == ["Int64", "UInt64", "Int8", "int64", "float64", str(table.to_pandas()["name"].dtype)]
    assert df["big"].isna().tolist() == [False, True, False]
    # Columns without nulls are what to_pandas() always gave.
    pd.testing.assert_series_equal(df["plain"], table.to_pandas()["plain"])
    pd.testing.assert_series_equal(df["ratio"], table.to_pandas()["ratio"])


def test_arrowtable_nested_integers_stay_exact_in_pandas():
    # to_pandas() turns the integers inside a list, struct or map to float once a
    # null is among them: 2**53 + 1 would arrive as 2**53.
    big = 2**53 + 1
    table = pa.table(
        {
            "in_list": pa.array([[big, None], [1]], pa.list_(pa.int64())),
            "in_struct": pa.array([{"a": big}, {"a": None}], pa.struct([("a", pa.int64())])),
            "in_map": pa.array([[("k", 2**64 - 1), ("j", None)], []], pa.map_(pa.string(), pa.uint64())),
            "in_list_no_null": pa.array([[big], []], pa.list_(pa.int64())),
            "strings": pa.array([["a", None], []], pa.list_(pa.string())),
        }
    )
    df = deserialize(serialize(table, "arrowtable", arrow_format="stream"), "arrowtable")
    assert df["in_list"].tolist() == [[big, None], [1]]
    assert df["in_struct"].tolist() == [{"a": big}, {"a": None}]
    assert df["in_map"].tolist() == [[("k", 2**64 - 1), ("j", None)], []]
    for name in ("in_list", "in_struct", "in_map", "in_list_no_null"):
        assert df[name].dtype == pd.ArrowDtype(table.schema.field(name).type), name
        assert pa.array(df[name]).equals(table.column(name).combine_chunks()), name
    # A nested column without integers is what to_pandas() always gave.
    pd.testing.assert_series_equal(df["strings"], table.to_pandas()["strings"])
    # Sent on from pandas, the table is the one that came in.
    assert deserialize(serialize(df, "arrowtable"), "arrowtable", arrow_output="arrow").equals(table)


def test_arrowtable_time64_ns_keeps_its_nanoseconds_in_pandas():
    # datetime.time stops at microseconds, so to_pandas() refuses time64[ns] values
    # with nanoseconds in them (also inside a list or struct).
    table = pa.table(
        {
            "t": pa.array([1, None, 86_399_999_999_999], pa.time64("ns")),
            "in_list": pa.array([[1], None, []], pa.list_(pa.time64("ns"))),
            "t_us": pa.array([1, None, 2], pa.time64("us")),
        }
    )
    df = deserialize(serialize(table, "arrowtable", arrow_format="stream"), "arrowtable")
    assert df["t"].dtype == pd.ArrowDtype(pa.time64("ns"))
    assert df["in_list"].dtype == pd.ArrowDtype(pa.list_(pa.time64("ns")))
    assert pa.array(df["t"]).equals(table.column("t").combine_chunks())
    assert pa.array(df["in_list"]).equals(table.column("in_list").combine_chunks())
    assert df["t"].isna().tolist() == [False, True, False]
    # time64[us] fits datetime.time: what to_pandas() always gave.
    pd.testing.assert_series_equal(df["t_us"], table.select(["t_us"]).to_pandas()["t_us"])


@pytest.mark.parametrize(
    "ptype, value, key",
    [
        ("dictionary", {1: "one", "1": "uno"}, "1"),
        ("dictionary", {"a": [{"b": {None: 0}}]}, "None"),
        ("dictionary", [{(1, 2): "t"}], "(1, 2)"),
        ("dictionary", {True: "yes"}, "True"),
        ("jsontable", [{"id": 1}, {2.5: "x"}], "2.5"),
    ],
)
async def test_non_string_dictionary_keys_are_invalid_input_naming_the_key(ptype, value, key):
    with pytest.raises(Exception) as info:
        serialize(value, ptype)
    assert getattr(info.value, "code", None) == "INVALID_INPUT", repr(info.value)
    assert f"key {key}" in str(info.value), str(info.value)
    err = await raises_code(lambda: smartsend("s", [("d", value, ptype)], is_publish=False, correlation_id="c-k"),
                            "INVALID_INPUT")
    assert err.dataname == "d" and err.correlation_id == "c-k"


def test_shared_and_circular_containers_in_json_payloads():
    shared = {"k": 1}
    assert json.loads(serialize({"a": shared, "b": [shared, shared]}, "dictionary")) == {"a": {"k": 1}, "b": [{"k": 1}] * 2}
    loop = {"a": []}
    loop["a"].append(loop)
    with pytest.raises(Exception) as info:
        serialize(loop, "dictionary")
    assert getattr(info.value, "code", None) == "INVALID_INPUT"
