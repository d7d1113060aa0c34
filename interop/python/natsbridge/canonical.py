"""The canonical rendering of received values: a language-neutral JSON form the
cross-language matrix compares (spelled out in ``interop/python/README.md``).

- ``text`` → the string.
- ``dictionary`` / ``jsontable`` → the JSON value itself.
- ``image`` / ``audio`` / ``video`` / ``binary`` → ``{"sha256": hex, "length": n}``.
- ``arrowtable`` → ``{"columns": [...], "types": [...], "num_rows": n, "rows": [[...], ...]}``
  with canonical type names and canonical cell values (see :func:`arrow_type_name`
  and :func:`render_table`).
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Dict, List

from .encoding import sha256_hex

MAX_SAFE_INTEGER = 2**53 - 1
_BYTES_TYPES = frozenset({"image", "audio", "video", "binary"})
_UNIT_PER_MS = {"s": None, "ms": 1, "us": 1_000, "ns": 1_000_000}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def dumps(obj: Any) -> str:
    """One line of JSON: keys sorted, compact, UTF-8 kept (what the peer prints)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def render_bytes(data: bytes) -> Dict[str, Any]:
    """``{"length": n, "sha256": hex}`` of a byte string."""
    return {"length": len(data), "sha256": sha256_hex(bytes(data))}


def render_value(value: Any, payload_type: str) -> Any:
    """The canonical rendering of a decoded value of ``payload_type``."""
    if payload_type in _BYTES_TYPES:
        return render_bytes(value)
    if payload_type == "arrowtable":
        return render_table(value)
    if payload_type in ("text", "dictionary", "jsontable"):
        return value  # already JSON: received JSON holds no NaN (the parser refuses it)
    raise ValueError(f"unknown payload_type {payload_type!r}")


def arrow_type_name(t: Any) -> str:
    """The canonical name of an Arrow type.

    ``int8`` … ``int64``, ``uint8`` … ``uint64``, ``float16`` / ``float32`` /
    ``float64``, ``bool``, ``utf8`` (also large and view strings), ``binary``
    (also large and view binaries), ``timestamp[<unit>]`` or
    ``timestamp[<unit>, <tz>]``, ``date32``, ``date64``, ``null``; a
    dictionary-encoded column is named by its value type; ``list<T>``; anything
    else ``other:<pyarrow's name>``.
    """
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        return arrow_type_name(t.value_type)
    if pa.types.is_integer(t):
        return str(t)  # int8 … uint64
    if pa.types.is_float16(t):
        return "float16"
    if pa.types.is_float32(t):
        return "float32"
    if pa.types.is_float64(t):
        return "float64"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or _is(pa, "is_string_view", t):
        return "utf8"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or _is(pa, "is_binary_view", t):
        return "binary"
    if pa.types.is_timestamp(t):
        return f"timestamp[{t.unit}, {t.tz}]" if t.tz else f"timestamp[{t.unit}]"
    if pa.types.is_date32(t):
        return "date32"
    if pa.types.is_date64(t):
        return "date64"
    if pa.types.is_null(t):
        return "null"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"list<{arrow_type_name(t.value_type)}>"
    return f"other:{t}"


def render_table(value: Any) -> Dict[str, Any]:
    """Renders a pyarrow ``Table`` (or a pandas DataFrame, converted as the codec
    converts it for sending) as columns, canonical types and rows.

    Cells: integers as JSON integers (decimal strings beyond ±(2^53−1)); floats
    as JSON numbers (``"NaN"``, ``"Infinity"``, ``"-Infinity"`` as strings);
    booleans; strings; timestamps as integer epoch milliseconds, floored;
    ``date32`` as integer days since the epoch, ``date64`` as epoch ms; binary
    cells as ``{"length", "sha256"}``; nulls as ``null``.
    """
    import pyarrow as pa

    from .codecs import arrow_table_of

    table = value if isinstance(value, pa.Table) else arrow_table_of(value)
    columns = [_render_column(table.column(i)) for i in range(table.num_columns)]
    rows = [list(cells) for cells in zip(*columns)] if columns else []
    return {
        "columns": list(table.column_names),
        "types": [arrow_type_name(f.type) for f in table.schema],
        "num_rows": table.num_rows,
        "rows": rows if columns else [[] for _ in range(table.num_rows)],
    }


def _render_column(column: Any) -> List[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type
    if pa.types.is_dictionary(t):
        column = pc.cast(column, t.value_type)
        t = column.type
    if pa.types.is_timestamp(t):
        raw = column.cast(pa.int64()).to_pylist()
        per_ms = _UNIT_PER_MS[t.unit]
        return [None if v is None else (v * 1000 if per_ms is None else v // per_ms) for v in raw]
    if pa.types.is_date32(t):
        return column.cast(pa.int32()).to_pylist()
    if pa.types.is_date64(t):
        return column.cast(pa.int64()).to_pylist()
    return [_render_cell(v) for v in column.to_pylist()]


def _render_cell(v: Any) -> Any:
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return v if -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER else str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if isinstance(v, (bytes, bytearray, memoryview)):
        return render_bytes(bytes(v))
    if isinstance(v, datetime):
        aware = v if v.tzinfo else v.replace(tzinfo=timezone.utc)
        delta = aware - _EPOCH
        return (delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds) // 1000
    if isinstance(v, date):
        return (v - date(1970, 1, 1)).days
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, list):
        return [_render_cell(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _render_cell(x) for k, x in v.items()}
    return str(v)


def _is(pa: Any, name: str, t: Any) -> bool:
    fn = getattr(pa.types, name, None)
    return bool(fn and fn(t))
