/**
 * The named interop cases, TypeScript side: the same data as the Python peer's
 * `natsbridge/cases.py` (the reference; `interop/python/README.md` § The
 * cases), held in the peer CLI's `inputs` form — text as `text`, JSON values as
 * `json`, bytes as `base64`, Arrow tables as their canonical rendering — and
 * turned into `smartsend` items by {@link sendItemsOf}. The matrix checks, for
 * every case, that `inputs` here equals the Python peer's `inputs`, so the two
 * cannot drift apart unnoticed.
 *
 * Byte recipes are ports of cases.py (xorshift32 `bytesOf`, the WAV, the
 * ISO-BMFF blob); the two PNGs are cases.py's `png_image()` output as
 * constants, because their IDAT is zlib level 9 and a port would have to
 * reproduce zlib's exact output.
 *
 * @module
 */
import {
  Bool,
  type DataType,
  DateDay,
  DateMillisecond,
  Float32,
  Float64,
  Int16,
  Int32,
  Int64,
  Int8,
  Null,
  Table,
  Timestamp,
  TimeUnit,
  Uint16,
  Uint32,
  Uint64,
  Uint8,
  Utf8,
  type Vector,
  vectorFromArray,
} from "apache-arrow";
import { fromBase64, toBase64 } from "./bytes.ts";

/** A canonical table (see `interop/python/README.md` § Canonical rendering). */
export interface CanonicalTable {
  columns: string[];
  types: string[];
  num_rows: number;
  rows: unknown[][];
}

/** One item of a case in the `inputs` form. */
export type InputItem =
  & { dataname: string; payload_type: string }
  & ({ text: string } | { json: unknown } | { base64: string } | { table: CanonicalTable });

/** One interop case. */
export interface Case {
  name: string;
  description: string;
  items: () => InputItem[];
}

/** xorshift32, the low byte of each state (seed 0 → 1): cases.py `bytes_of`. */
export function bytesOf(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** cases.py `png_image()`: an 8×8 RGBA gradient PNG (217 bytes). */
const PNG_8X8 =
  "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAYAAADED76LAAAAoElEQVR42g3K0QAEMQxF0SAMQhAGIQhFeAhFCEIRgjAIQViEmNzt+T5mZrg9hDmyl7SgbNEmxjZm/uDuhL/Ig/RFuWjfjOcN4Xi8RASKRYao2HQkE+cGvbiC0EISqU0paR1GdUMGnotIodxkJpWHzmLyu6EWXiJqo0qyDlVF18dU39DCexOdqA/ZRfVHdzP9u2E2PknMQVPkfNQ0PT9mhj/jRpPBG+li2wAAAABJRU5ErkJggg==";
/** cases.py `png_image(2, 2)`. */
const PNG_2X2 =
  "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAYAAABytg0kAAAAGklEQVR42mNgYGD4r8Ag8J+BQUHgv4KCwn8AIqQEvX0fLjAAAAAASUVORK5CYII=";

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
function u32(n: number, little: boolean): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, little);
  return b;
}
function u16le(n: number): Uint8Array {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, n, true);
  return b;
}

/** cases.py `wav_audio()`: 0.1 s, 8 kHz, 16-bit mono, a 400 Hz triangle wave. */
export function wavAudio(samples = 800, rate = 8000): Uint8Array {
  const period = Math.floor(rate / 400);
  const pcm = new Uint8Array(samples * 2);
  const view = new DataView(pcm.buffer);
  for (let i = 0; i < samples; i++) {
    const phase = i % period;
    const level = phase < Math.floor(period / 2) ? phase : period - phase;
    view.setInt16(i * 2, Math.floor((level * 2 * 65534) / period) - 32767, true);
  }
  const fmt = concat(u16le(1), u16le(1), u32(rate, true), u32(rate * 2, true), u16le(2), u16le(16));
  const body = concat(
    ascii("WAVE"),
    ascii("fmt "),
    u32(fmt.length, true),
    fmt,
    ascii("data"),
    u32(pcm.length, true),
    pcm,
  );
  return concat(ascii("RIFF"), u32(body.length, true), body);
}

/** cases.py `mp4_like_video()`: an `ftyp` box, then an `mdat` box of xorshift bytes. */
export function mp4LikeVideo(size = 4096): Uint8Array {
  const ftyp = concat(ascii("isom"), u32(512, false), ascii("isomiso2avc1mp41"));
  const mdat = bytesOf(size, 2024);
  return concat(
    u32(8 + ftyp.length, false),
    ascii("ftyp"),
    ftyp,
    u32(8 + mdat.length, false),
    ascii("mdat"),
    mdat,
  );
}

/** cases.py `binary_blob()`: every byte value four times, then `bytesOf(1000, 7)`. */
export function binaryBlob(): Uint8Array {
  const all = Uint8Array.from({ length: 1024 }, (_, i) => i % 256);
  return concat(all, bytesOf(1000, 7));
}

export const UNICODE_TEXT =
  'Hello, 世界! Grüße 🚀 — naïve café · Ελληνικά · עברית · \t tab, \n newline, "quotes" \\ backslash';

export const NESTED_DICTIONARY = {
  config: {
    step_size: 0.01,
    layers: [64, 32, 16],
    name: "résumé",
    enabled: true,
    nothing: null,
    nested: { deep: { deeper: [1, [2, [3, { x: "y" }]]] } },
  },
  "ключ": "значение",
  negative: -42,
  max_safe_integer: 9_007_199_254_740_991,
  tiny: 1.5e-10,
  empty_object: {},
  empty_array: [],
};

export const JSONTABLE_ROWS = [
  { id: 1, name: "Alice", score: 9.5, active: true, tags: ["a", "b"] },
  { id: 2, name: "Bob", score: null, active: false, tags: [] },
  { id: 3, name: "Zoë", score: 7.25, active: true, tags: ["ü"] },
];

/** The `arrowtable` case's table, canonical form (cases.py `arrow_dataframe()`). */
export const ARROW_TABLE: CanonicalTable = {
  columns: ["id", "count", "value", "name", "flag", "when"],
  types: ["int64", "int64", "float64", "utf8", "bool", "timestamp[ms, UTC]"],
  num_rows: 4,
  rows: [
    [1, 10, 1.5, "Alice", true, 1_773_397_800_123],
    [2, null, -0.25, "Zoë", false, null],
    [3, -3, null, null, null, 0],
    [4, 2 ** 40, 0.001, "世界", true, -1],
  ],
};

/** The small table of the `mixed` case. */
export const SMALL_TABLE: CanonicalTable = {
  columns: ["id", "label"],
  types: ["int64", "utf8"],
  num_rows: 3,
  rows: [[1, "a"], [2, "β"], [3, "c"]],
};

/** Bytes of the `large_link` payload: over the default 500 000 threshold. */
export const LARGE_LINK_SIZE = 600_000;

const b64 = (bytes: Uint8Array) => toBase64(bytes);

/** The cases, in the Python peer's order. */
export const CASES: readonly Case[] = [
  {
    name: "unicode_text",
    description: "One text payload with non-ASCII, emoji, tabs, newlines, quotes",
    items: () => [{ dataname: "message", payload_type: "text", text: UNICODE_TEXT }],
  },
  {
    name: "empty_text",
    description: 'One empty text payload (size 0, data "")',
    items: () => [{ dataname: "empty", payload_type: "text", text: "" }],
  },
  {
    name: "nested_dictionary",
    description: "A nested JSON object: arrays, null, booleans, unicode keys",
    items: () => [{
      dataname: "config",
      payload_type: "dictionary",
      json: structuredClone(NESTED_DICTIONARY),
    }],
  },
  {
    name: "jsontable",
    description: "Three row objects with a null and arrays",
    items: () => [{
      dataname: "users",
      payload_type: "jsontable",
      json: structuredClone(JSONTABLE_ROWS),
    }],
  },
  {
    name: "arrowtable",
    description:
      "int64, nullable int64, float64, string, nullable bool, timestamp[ms, UTC]; nulls in five columns",
    items: () => [{
      dataname: "table",
      payload_type: "arrowtable",
      table: structuredClone(ARROW_TABLE),
    }],
  },
  {
    name: "image",
    description: "An 8x8 RGBA PNG",
    items: () => [{ dataname: "picture", payload_type: "image", base64: PNG_8X8 }],
  },
  {
    name: "audio",
    description: "A 0.1 s 8 kHz 16-bit mono WAV",
    items: () => [{ dataname: "sound", payload_type: "audio", base64: b64(wavAudio()) }],
  },
  {
    name: "video",
    description: "An ftyp + mdat ISO-BMFF blob of 4 KiB",
    items: () => [{ dataname: "clip", payload_type: "video", base64: b64(mp4LikeVideo()) }],
  },
  {
    name: "binary",
    description: "All 256 byte values x4 then 1000 xorshift bytes",
    items: () => [{ dataname: "blob", payload_type: "binary", base64: b64(binaryBlob()) }],
  },
  {
    name: "large_link",
    description: `${LARGE_LINK_SIZE} xorshift bytes (seed 42): over the threshold, goes by link`,
    items: () => [{
      dataname: "large",
      payload_type: "binary",
      base64: b64(bytesOf(LARGE_LINK_SIZE, 42)),
    }],
  },
  {
    name: "mixed",
    description: "Six payloads of six types in one message",
    items: () => [
      { dataname: "greeting", payload_type: "text", text: "mixed message ✓" },
      {
        dataname: "settings",
        payload_type: "dictionary",
        json: { kind: "mixed", n: 6, ratio: 0.5 },
      },
      {
        dataname: "rows",
        payload_type: "jsontable",
        json: [{ k: "a", v: 1 }, { k: "b", v: null }],
      },
      { dataname: "table", payload_type: "arrowtable", table: structuredClone(SMALL_TABLE) },
      { dataname: "thumbnail", payload_type: "image", base64: PNG_2X2 },
      { dataname: "bits", payload_type: "binary", base64: b64(bytesOf(64, 3)) },
    ],
  },
];

/** The case names, in order. */
export const CASE_NAMES: readonly string[] = CASES.map((c) => c.name);

/**
 * The case called `name`.
 *
 * @throws {Error} Naming the known cases.
 */
export function getCase(name: string): Case {
  const c = CASES.find((x) => x.name === name);
  if (!c) throw new Error(`unknown case "${name}"; known: ${CASE_NAMES.join(", ")}`);
  return c;
}

const UNITS: Record<string, TimeUnit> = {
  s: TimeUnit.SECOND,
  ms: TimeUnit.MILLISECOND,
  us: TimeUnit.MICROSECOND,
  ns: TimeUnit.NANOSECOND,
};

/** The Arrow type a canonical type name stands for. */
export function arrowTypeOf(name: string): DataType {
  const simple: Record<string, () => DataType> = {
    int8: () => new Int8(),
    int16: () => new Int16(),
    int32: () => new Int32(),
    int64: () => new Int64(),
    uint8: () => new Uint8(),
    uint16: () => new Uint16(),
    uint32: () => new Uint32(),
    uint64: () => new Uint64(),
    float32: () => new Float32(),
    float64: () => new Float64(),
    bool: () => new Bool(),
    utf8: () => new Utf8(),
    date32: () => new DateDay(),
    date64: () => new DateMillisecond(),
    null: () => new Null(),
  };
  if (simple[name]) return simple[name]();
  const ts = /^timestamp\[(s|ms|us|ns)(?:, (.+))?\]$/.exec(name);
  if (ts) return new Timestamp(UNITS[ts[1]], ts[2] ?? null);
  throw new Error(`no Arrow type for canonical name ${name}`);
}

/**
 * Builds an apache-arrow `Table` from its canonical rendering (64-bit integer
 * cells as `BigInt`, timestamps from epoch milliseconds, dates from days / ms).
 */
export function tableOf(t: CanonicalTable): Table {
  const columns: Record<string, Vector> = {};
  t.columns.forEach((col, c) => {
    const name = t.types[c];
    const type = arrowTypeOf(name);
    const big = name === "int64" || name === "uint64";
    const values = t.rows.map((row) => {
      const v = row[c];
      if (v === null) return null;
      if (big) return BigInt(v as number | string);
      if (name === "date32") return new Date((v as number) * 86_400_000);
      if (name === "date64") return new Date(v as number);
      return v;
    });
    columns[col] = vectorFromArray(values, type) as Vector;
  });
  return new Table(columns);
}

/** A case's `smartsend` items: `[dataname, value, payload_type]`. */
export function sendItemsOf(items: readonly InputItem[]): [string, unknown, string][] {
  return items.map((it) => {
    const value = "text" in it
      ? it.text
      : "json" in it
      ? it.json
      : "table" in it
      ? tableOf(it.table)
      : fromBase64(it.base64);
    return [it.dataname, value, it.payload_type];
  });
}
