"""Payload codecs: how each payload type becomes bytes and back.

| type | send (Python value) | wire bytes | receive |
| --- | --- | --- | --- |
| text | ``str`` | UTF-8 | ``str`` |
| dictionary | ``dict`` / ``list`` | JSON, UTF-8 | ``dict`` / ``list`` |
| jsontable | ``list[dict]`` | JSON array of row objects | ``list[dict]`` |
| arrowtable | pandas ``DataFrame``, pyarrow ``Table``, ``list[dict]`` rows, or Arrow IPC ``bytes`` | Arrow IPC | pandas ``DataFrame`` (or pyarrow ``Table``) |
| image, audio, video, binary | ``bytes`` / ``bytearray`` / ``memoryview`` / ``io.BytesIO`` | raw | ``bytes`` |

Send and receive only ever call :func:`serialize` and :func:`deserialize`.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

from .errors import DecodeError, InputError

ARROW_FILE_MAGIC = b"ARROW1"
#: ``"file"``: Arrow IPC file (Feather v2) via ``pyarrow.feather.write_feather``,
#: pyarrow's default LZ4 compression — what the spec's Python writes.
#: ``"stream"``: Arrow IPC stream, uncompressed — what DESIGN.md has TypeScript write.
ARROW_FORMATS = ("file", "stream")
#: What an ``arrowtable`` payload is received as.
ARROW_OUTPUTS = ("pandas", "arrow")

_BYTES_TYPES = frozenset({"image", "audio", "video", "binary"})


def serialize(value: Any, payload_type: str, *, arrow_format: str = "file") -> bytes:
    """Serializes ``value`` as ``payload_type`` (a canonical type name).

    Raises:
        InputError: When ``value`` does not fit the type.
    """
    if payload_type == "text":
        if not isinstance(value, str):
            raise InputError(f"text payload must be a str, got {_describe(value)}")
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError as err:
            raise InputError(f"text payload is not encodable as UTF-8: {err}") from None
    if payload_type == "dictionary":
        if not isinstance(value, (dict, list, tuple)):
            raise InputError(f"dictionary payload must be a dict or a list, got {_describe(value)}")
        return _dump_json(value, "dictionary")
    if payload_type == "jsontable":
        _check_rows(value, "jsontable", InputError)
        return _dump_json(value, "jsontable")
    if payload_type == "arrowtable":
        return _serialize_arrow(value, arrow_format)
    if payload_type in _BYTES_TYPES:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        if isinstance(value, io.BytesIO):
            return value.getvalue()
        raise InputError(f"{payload_type} payload must be bytes, got {_describe(value)}")
    raise InputError(f"unknown payload_type {payload_type!r}")


def deserialize(data: bytes, payload_type: str, *, arrow_output: str = "pandas") -> Any:
    """Deserializes wire bytes of ``payload_type`` (a canonical type name).

    Raises:
        DecodeError: When the bytes are not valid for the type.
    """
    if payload_type == "text":
        return _utf8(data, "text")
    if payload_type == "dictionary":
        value = _load_json(data, "dictionary")
        if not isinstance(value, (dict, list)):
            raise DecodeError(f"dictionary payload must hold a JSON object or array, got {_describe(value)}")
        return value
    if payload_type == "jsontable":
        value = _load_json(data, "jsontable")
        _check_rows(value, "jsontable", DecodeError)
        return value
    if payload_type == "arrowtable":
        table = read_arrow_table(data)
        if arrow_output == "arrow":
            return table
        try:
            return _exact_pandas(table)
        except Exception as err:  # pyarrow raises a family of ArrowException subclasses
            raise DecodeError(f"arrowtable payload cannot be converted to pandas: {err}") from None
    if payload_type in _BYTES_TYPES:
        return bytes(data)
    raise DecodeError(f"unknown payload_type {payload_type!r}")


def arrow_table_of(value: Any):
    """The pyarrow ``Table`` an ``arrowtable`` send value stands for.

    A DataFrame is converted with ``preserve_index=False``: the columns travel, the
    pandas index (which no other peer understands) does not.
    """
    import pyarrow as pa

    try:
        if isinstance(value, pa.Table):
            return value
        if isinstance(value, pa.RecordBatch):
            return pa.Table.from_batches([value])
        if _is_dataframe(value):
            # pyarrow names a column 0 "0", silently; and {1: …, "1": …} two columns "1".
            for name in value.columns:
                if not isinstance(name, str):
                    raise InputError(
                        f"arrowtable payload has column name {name!r} ({type(name).__name__}); Arrow column names "
                        "are strings: name the columns by strings (df.columns = df.columns.map(str) if that is what you mean)"
                    )
            return pa.Table.from_pandas(value, preserve_index=False)
        if isinstance(value, list):
            _check_rows(value, "arrowtable", InputError)
            # from_pylist takes its columns from the first row only: give every row
            # every key (a missing one is null) so no column is silently dropped.
            keys = list(dict.fromkeys(k for row in value for k in row))
            return pa.Table.from_pylist([{k: row.get(k) for k in keys} for row in value])
    except InputError:
        raise
    except Exception as err:
        raise InputError(f"arrowtable payload cannot be made into an Arrow table: {err}") from None
    raise InputError(
        "arrowtable payload must be a pandas DataFrame, a pyarrow Table, a list of row dicts "
        f"or Arrow IPC bytes, got {_describe(value)}"
    )


def _exact_pandas(table):
    """``table.to_pandas()``, except where that would change a value:

    - an integer column with a null becomes a nullable pandas integer column
      (``Int64``, ``UInt64``, …) instead of float64, which cannot hold every int64
      (2**53 + 1) or uint64;
    - a column with integers inside a list, struct or map, or with a ``time64[ns]``
      anywhere, becomes a ``pd.ArrowDtype`` column (see :func:`_arrow_backed`).

    Other columns are converted as ``to_pandas()`` always does."""
    import pandas as pd
    import pyarrow as pa

    # types_mapper, not a fix-up afterwards: to_pandas() raises on time64[ns] values.
    df = table.to_pandas(types_mapper=lambda t: pd.ArrowDtype(t) if _arrow_backed(t) else None)
    for i, field in enumerate(table.schema):
        if not pa.types.is_integer(field.type) or table.column(i).null_count == 0:
            continue
        if isinstance(df.dtypes.iloc[i], pd.api.extensions.ExtensionDtype):
            continue  # pandas metadata from the sender already restored a nullable dtype
        nullable = pd.api.types.pandas_dtype(str(field.type).replace("int", "Int").replace("uInt", "UInt"))
        df.isetitem(i, table.column(i).to_pandas(types_mapper={field.type: nullable}.get))
    return df


def _arrow_backed(t, nested: bool = False) -> bool:
    """Whether a column of Arrow type ``t`` is kept as Arrow data (``pd.ArrowDtype``)
    in pandas, because ``to_pandas()`` cannot give its values exactly:

    - integers inside a list, struct or map become float as soon as one of them is
      null (2**53 + 1 arrives as 2**53), and pandas has no nullable dtype for them
      there. Decided by the type, not the data, so a column's dtype does not
      change with whether this table happens to hold a null;
    - ``time64[ns]``: ``datetime.time`` stops at microseconds, so ``to_pandas()``
      refuses any value with nanoseconds in it.
    """
    import pyarrow as pa

    if pa.types.is_time64(t) and t.unit == "ns":
        return True
    if pa.types.is_integer(t):
        return nested  # top level: a nullable integer column instead, see _exact_pandas
    if pa.types.is_dictionary(t):
        return _arrow_backed(t.value_type, nested)
    return any(_arrow_backed(t.field(i).type, True) for i in range(t.num_fields))


def read_arrow_table(data: bytes):
    """Reads Arrow IPC bytes in the file (Feather v2) or the stream format, chosen by
    the magic bytes, with any compression pyarrow supports (LZ4_FRAME, ZSTD), and
    validates every buffer.

    Raises:
        DecodeError: When the bytes are empty, truncated or not valid Arrow IPC.
    """
    import pyarrow as pa

    if len(data) == 0:
        raise DecodeError("arrowtable payload is empty")
    try:
        source = pa.BufferReader(pa.py_buffer(data))
        if bytes(data[:6]) == ARROW_FILE_MAGIC:
            table = pa.ipc.open_file(source).read_all()
        else:
            table = pa.ipc.open_stream(source).read_all()
        table.validate(full=True)
        return table
    except Exception as err:
        raise DecodeError(f"arrowtable payload is not valid Arrow IPC: {err}") from None


def _serialize_arrow(value: Any, arrow_format: str) -> bytes:
    import pyarrow as pa

    if arrow_format not in ARROW_FORMATS:
        raise InputError(f"arrow_format must be one of {ARROW_FORMATS}, got {arrow_format!r}")
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            read_arrow_table(bytes(value))
        except DecodeError as err:
            raise InputError(f"arrowtable bytes are not valid Arrow IPC: {err}") from None
        return bytes(value)
    table = arrow_table_of(value)
    try:
        sink = io.BytesIO()
        if arrow_format == "file":
            import pyarrow.feather as feather

            feather.write_feather(table, sink)  # Feather v2, LZ4 by default, as the spec's Python
        else:
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
        return sink.getvalue()
    except Exception as err:
        raise InputError(f"arrowtable payload could not be written as Arrow IPC: {err}") from None


def _is_dataframe(value: Any) -> bool:
    try:
        import pandas as pd
    except ImportError:  # pandas is optional for pyarrow users
        return False
    return isinstance(value, pd.DataFrame)


def _check_keys(value: Any, what: str) -> None:
    """Refuses an object key that is not a string: ``json.dumps`` would turn ``1``
    into ``"1"``, and of ``{1: "one", "1": "uno"}`` keep only one, silently."""
    stack, seen = [value], set()
    while stack:  # not recursive: nesting deeper than the stack is refused by json.dumps itself
        v = stack.pop()
        if not isinstance(v, (dict, list, tuple)) or id(v) in seen:
            continue
        seen.add(id(v))  # each container once: shared ones are fine, cycles end here
        if isinstance(v, dict):
            for k in v:
                if not isinstance(k, str):
                    raise InputError(
                        f"{what} payload has key {k!r} ({type(k).__name__}); JSON object keys must be str"
                    )
            stack.extend(v.values())
        else:
            stack.extend(v)


def _dump_json(value: Any, what: str) -> bytes:
    _check_keys(value, what)
    try:
        # Compact and UTF-8 like JSON.stringify; NaN/Infinity are not JSON, so refuse them.
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode("utf-8")
    except (TypeError, ValueError, RecursionError, UnicodeEncodeError) as err:
        raise InputError(f"{what} payload is not JSON-serializable: {err}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(literal: str) -> float:
    # 1e400 would be inf: refused, as the TypeScript peer refuses it, rather than changed.
    value = float(literal)
    if math.isinf(value):
        raise ValueError(f"the number {literal[:40]} is beyond the double range")
    return value


def _load_json(data: bytes, what: str) -> Any:
    text = _utf8(data, what)
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as err:
        raise DecodeError(f"{what} payload is not valid JSON: {err}") from None


def _utf8(data: bytes, what: str) -> str:
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError(f"{what} payload is not valid UTF-8") from None


def _check_rows(value: Any, what: str, error: type) -> None:
    if not isinstance(value, list):
        raise error(f"{what} payload must be a list of row dicts, got {_describe(value)}")
    for i, row in enumerate(value):
        if not isinstance(row, dict):
            raise error(f"{what} row {i} must be a dict, got {_describe(row)}")


def _describe(value: Any) -> str:
    if value is None:
        return "None"
    return f"a {type(value).__name__}"
