"""The named interop cases: what the cross-language matrix sends.

Each case is data: a list of ``(dataname, value, payload_type)`` items. Byte
values come from small deterministic recipes (no randomness, no clock), so
every run, on every machine, sends the same bytes. ``python -m natsbridge.peer
inputs --case NAME`` prints the items in a JSON form another language can
rebuild them from.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Tuple

Item = Tuple[str, Any, str]


def bytes_of(size: int, seed: int = 1) -> bytes:
    """Deterministic pseudo-random bytes: xorshift32, the low byte of each state.

    The same sequence as ``bytesOf`` in the TypeScript tests (``tests/_helpers.ts``).
    """
    out = bytearray(size)
    x = (seed & 0xFFFFFFFF) or 1
    for i in range(size):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i] = x & 0xFF
    return bytes(out)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_image(width: int = 8, height: int = 8) -> bytes:
    """A valid RGBA PNG with a colour gradient."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 32 % 256, y * 32 % 256, (x + y) * 16 % 256, 255)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(rows, 9))
        + _png_chunk(b"IEND", b"")
    )


def wav_audio(samples: int = 800, rate: int = 8000) -> bytes:
    """A valid 16-bit mono PCM WAV: a 400 Hz triangle wave, integer arithmetic only."""
    period = rate // 400
    pcm = bytearray()
    for i in range(samples):
        phase = i % period
        level = phase if phase < period // 2 else period - phase  # 0 .. period/2
        pcm += struct.pack("<h", (level * 2 * 65534) // period - 32767)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(pcm)) + bytes(pcm)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def mp4_like_video(size: int = 4096) -> bytes:
    """An ISO-BMFF ``ftyp`` box followed by an ``mdat`` box of deterministic bytes
    (video-shaped bytes; not playable)."""
    ftyp = b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41"
    mdat = bytes_of(size, seed=2024)
    return struct.pack(">I", 8 + len(ftyp)) + b"ftyp" + ftyp + struct.pack(">I", 8 + len(mdat)) + b"mdat" + mdat


def binary_blob() -> bytes:
    """Every byte value four times, then 1000 xorshift bytes (seed 7)."""
    return bytes(range(256)) * 4 + bytes_of(1000, seed=7)


#: Epoch milliseconds of the ``when`` column (None is a null).
ARROW_TIMESTAMPS_MS = [1_773_397_800_123, None, 0, -1]


def arrow_dataframe():
    """The ``arrowtable`` case's DataFrame: ints, floats, strings, booleans,
    timestamps (ms, UTC), and a null in every column but ``id``."""
    import pandas as pd

    when = pd.to_datetime(pd.Series(pd.array(ARROW_TIMESTAMPS_MS, dtype="Int64")), unit="ms", utc=True)
    return pd.DataFrame(
        {
            "id": pd.array([1, 2, 3, 4], dtype="int64"),
            "count": pd.array([10, None, -3, 2**40], dtype="Int64"),
            "value": pd.array([1.5, -0.25, None, 0.001], dtype="float64"),
            "name": pd.array(["Alice", "Zoë", None, "世界"], dtype="str"),
            "flag": pd.array([True, False, None, True], dtype="boolean"),
            "when": when.astype("datetime64[ms, UTC]"),
        }
    )


def small_dataframe():
    """The small table inside the ``mixed`` case."""
    import pandas as pd

    return pd.DataFrame(
        {"id": pd.array([1, 2, 3], dtype="int64"), "label": pd.array(["a", "β", "c"], dtype="str")}
    )


UNICODE_TEXT = "Hello, 世界! Grüße 🚀 — naïve café · Ελληνικά · עברית · \t tab, \n newline, \"quotes\" \\ backslash"

NESTED_DICTIONARY: Dict[str, Any] = {
    "config": {
        "step_size": 0.01,
        "layers": [64, 32, 16],
        "name": "résumé",
        "enabled": True,
        "nothing": None,
        "nested": {"deep": {"deeper": [1, [2, [3, {"x": "y"}]]]}},
    },
    "ключ": "значение",
    "negative": -42,
    "max_safe_integer": 9_007_199_254_740_991,
    "tiny": 1.5e-10,
    "empty_object": {},
    "empty_array": [],
}

JSONTABLE_ROWS: List[Dict[str, Any]] = [
    {"id": 1, "name": "Alice", "score": 9.5, "active": True, "tags": ["a", "b"]},
    {"id": 2, "name": "Bob", "score": None, "active": False, "tags": []},
    {"id": 3, "name": "Zoë", "score": 7.25, "active": True, "tags": ["ü"]},
]

#: Bytes of the ``large_link`` payload: over the default 500_000 threshold.
LARGE_LINK_SIZE = 600_000


@dataclass(frozen=True)
class Case:
    """One interop case."""

    name: str
    description: str
    build: Callable[[], List[Item]]

    def items(self) -> List[Item]:
        """The case's ``(dataname, value, payload_type)`` items, freshly built."""
        return self.build()


_CASE_LIST = [
    Case("unicode_text", "One text payload with non-ASCII, emoji, tabs, newlines, quotes",
         lambda: [("message", UNICODE_TEXT, "text")]),
    Case("empty_text", "One empty text payload (size 0, data \"\")",
         lambda: [("empty", "", "text")]),
    Case("nested_dictionary", "A nested JSON object: arrays, null, booleans, unicode keys",
         lambda: [("config", NESTED_DICTIONARY, "dictionary")]),
    Case("jsontable", "Three row objects with a null and arrays",
         lambda: [("users", JSONTABLE_ROWS, "jsontable")]),
    Case("arrowtable", "A DataFrame: int64, nullable int64, float64, string, nullable bool, "
         "timestamp[ms, UTC]; nulls in five columns",
         lambda: [("table", arrow_dataframe(), "arrowtable")]),
    Case("image", "An 8x8 RGBA PNG", lambda: [("picture", png_image(), "image")]),
    Case("audio", "A 0.1 s 8 kHz 16-bit mono WAV", lambda: [("sound", wav_audio(), "audio")]),
    Case("video", "An ftyp + mdat ISO-BMFF blob of 4 KiB", lambda: [("clip", mp4_like_video(), "video")]),
    Case("binary", "All 256 byte values x4 then 1000 xorshift bytes",
         lambda: [("blob", binary_blob(), "binary")]),
    Case("large_link", f"{LARGE_LINK_SIZE} xorshift bytes (seed 42): over the threshold, goes by link",
         lambda: [("large", bytes_of(LARGE_LINK_SIZE, seed=42), "binary")]),
    Case("mixed", "Six payloads of six types in one message",
         lambda: [
             ("greeting", "mixed message ✓", "text"),
             ("settings", {"kind": "mixed", "n": 6, "ratio": 0.5}, "dictionary"),
             ("rows", [{"k": "a", "v": 1}, {"k": "b", "v": None}], "jsontable"),
             ("table", small_dataframe(), "arrowtable"),
             ("thumbnail", png_image(2, 2), "image"),
             ("bits", bytes_of(64, seed=3), "binary"),
         ]),
]

#: The cases by name, in a stable order.
CASES: Dict[str, Case] = {c.name: c for c in _CASE_LIST}


def get_case(name: str) -> Case:
    """The case called ``name``; ``KeyError`` naming the known ones otherwise."""
    try:
        return CASES[name]
    except KeyError:
        raise KeyError(f"unknown case {name!r}; known: {', '.join(CASES)}") from None
