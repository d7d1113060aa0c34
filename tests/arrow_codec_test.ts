/**
 * The `arrowtable` codec (engine/codecs/arrow_table.ts) and the Arrow IPC body
 * compression decoders (engine/codecs/arrow_compression.ts), against files written by
 * pyarrow and the lz4 tool (tests/fixtures/arrow, see generate.py there). Runs under
 * `deno test`, `bun test` and `node --test` (bundled by esbuild into .build/).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  Bool,
  compressionRegistry,
  CompressionType,
  type Data,
  DateMillisecond,
  Decimal,
  Dictionary,
  Field,
  Float64,
  Int32,
  Int64,
  LargeUtf8,
  makeData,
  makeVector,
  Null,
  RecordBatch,
  RecordBatchFileWriter,
  RecordBatchStreamWriter,
  Schema,
  Struct,
  Table,
  tableToIPC,
  TimeMicrosecond,
  TimeMillisecond,
  TimeNanosecond,
  TimeSecond,
  TimestampMillisecond,
  Union,
  UnionMode,
  Utf8,
  Utf8View,
  vectorFromArray,
} from "apache-arrow";
// @ts-types="../engine/codecs/lz4js.d.ts"
import lz4js from "lz4js";
import {
  decompressLz4Frame,
  decompressZstd,
  registerArrowCompression,
  withDecompressionBudget,
} from "../engine/codecs/arrow_compression.ts";
import { deserializeArrowTable, serializeArrowTable } from "../engine/codecs/arrow_table.ts";
import { DecodeError, InputError } from "../engine/errors.ts";
import { concatBytes } from "./_helpers.ts";

// Beside this file when run from source; from the repository root (where every runner
// starts) when run from an esbuild bundle in .build/.
const FIXTURES = (() => {
  const beside = fileURLToPath(new URL("./fixtures/arrow/", import.meta.url));
  return existsSync(join(beside, "expected.json"))
    ? beside
    : join(process.cwd(), "tests", "fixtures", "arrow");
})();

function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(FIXTURES, name)));
}

interface Expected {
  rows: number;
  batches_in_multibatch: number;
  columns: {
    id: (string | null)[];
    value: (number | null)[];
    label: (string | null)[];
    flag: (boolean | null)[];
    ts: (number | null)[];
  };
  large: { rows: number };
}
const EXPECTED: Expected = JSON.parse(readFileSync(join(FIXTURES, "expected.json"), "utf-8"));

const FIXTURE_SCHEMA = [
  "id: Int64",
  "value: Float64",
  "label: Utf8",
  "flag: Bool",
  "ts: Timestamp<MILLISECOND, UTC>",
];

function columnValues(table: Table, name: string): unknown[] {
  const column = table.getChild(name);
  assert.ok(column, `column ${name} is missing`);
  return Array.from({ length: column.length }, (_, i) => column.get(i));
}

function assertFixtureTable(table: Table): void {
  assert.equal(table.numRows, EXPECTED.rows);
  assert.deepEqual(table.schema.fields.map(String), FIXTURE_SCHEMA);
  const ids = columnValues(table, "id");
  assert.ok(ids.every((v) => v === null || typeof v === "bigint"), "int64 reads as bigint");
  assert.deepEqual(ids.map((v) => (v === null ? null : String(v))), EXPECTED.columns.id);
  assert.deepEqual(columnValues(table, "value"), EXPECTED.columns.value);
  assert.deepEqual(columnValues(table, "label"), EXPECTED.columns.label);
  assert.deepEqual(columnValues(table, "flag"), EXPECTED.columns.flag);
  assert.deepEqual(columnValues(table, "ts"), EXPECTED.columns.ts);
  // Every column of the fixture has nulls, so each null path is covered.
  for (const name of ["id", "value", "label", "flag", "ts"]) {
    assert.ok(table.getChild(name)!.nullCount > 0, `${name} has nulls`);
  }
}

function assertDecodeError(fn: () => unknown, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DecodeError, `expected a DecodeError, got ${String(err)}`);
    assert.equal(err.code, "DECODE_FAILED");
    if (message) assert.match(err.message, message);
    return true;
  });
}

function assertInputError(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InputError, `expected an InputError, got ${String(err)}`);
    assert.equal(err.code, "INVALID_INPUT");
    assert.match(err.message, message);
    return true;
  });
}

/** Deterministic bytes (xorshift32). */
function randomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const concat = (...parts: Uint8Array[]): Uint8Array => concatBytes(parts);

function indexOfBytes(haystack: Uint8Array, needle: number[]): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Offset and length of the metadata of the first message after the schema. */
function firstBatchMetadata(bytes: Uint8Array, start: number): { at: number; length: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  assert.equal(view.getInt32(start, true), -1);
  const schemaEnd = start + 8 + view.getInt32(start + 4, true); // a schema message has no body
  assert.equal(view.getInt32(schemaEnd, true), -1);
  return { at: schemaEnd + 8, length: view.getInt32(schemaEnd + 4, true) };
}

/** The text the lz4_frame_*.lz4 fixtures hold (lz4_text() in generate.py). */
const LZ4_TEXT = new TextEncoder().encode(
  Array.from(
    { length: 5000 },
    (_, i) => `${String(i).padStart(5, "0")} natsbridge lz4 fixture line ${i % 7}\n`,
  )
    .join(""),
);

const LZ4_MAGIC = [0x04, 0x22, 0x4d, 0x18];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

// ---------------------------------------------------------------------------------
// Reading what pyarrow writes

const PYARROW_FIXTURES: Array<[string, string]> = [
  ["feather_lz4.arrow", "pyarrow feather with LZ4 (write_feather's default)"],
  ["feather_zstd.arrow", "pyarrow feather with ZSTD"],
  ["feather_uncompressed.arrow", "uncompressed pyarrow feather"],
  ["stream_uncompressed.arrows", "an uncompressed pyarrow IPC stream"],
  ["stream_zstd.arrows", "a pyarrow IPC stream with ZSTD"],
  ["stream_lz4.arrows", "a pyarrow IPC stream with LZ4"],
  ["feather_lz4_multibatch.arrow", "pyarrow feather holding several record batches"],
];

for (const [file, what] of PYARROW_FIXTURES) {
  test(`deserializeArrowTable() reads ${what}`, () => {
    assertFixtureTable(deserializeArrowTable(fixture(file)));
  });
}

test("deserializeArrowTable() keeps every record batch of a multi-batch file", () => {
  const table = deserializeArrowTable(fixture("feather_lz4_multibatch.arrow"));
  assert.equal(table.batches.length, EXPECTED.batches_in_multibatch);
  assert.ok(
    table.batches.every((b) => b.numRows === EXPECTED.rows / EXPECTED.batches_in_multibatch),
  );
});

test("deserializeArrowTable() reads an LZ4 buffer spanning several linked 64 KiB blocks", () => {
  const table = deserializeArrowTable(fixture("feather_lz4_large.arrow"));
  assert.equal(table.numRows, EXPECTED.large.rows);
  const n = table.getChild("n")!;
  for (let i = 0; i < n.length; i++) assert.equal(n.get(i), BigInt(i % 1000));
});

test("deserializeArrowTable() gives 8-byte aligned column buffers for ZSTD input", () => {
  // fzstd returns a view at offset 12; apache-arrow cannot view Int64 values there.
  const table = deserializeArrowTable(fixture("stream_zstd.arrows"));
  for (const name of ["id", "value", "ts"]) {
    assert.equal((table.getChild(name)!.data[0].values as BigInt64Array).byteOffset % 8, 0);
  }
});

test("deserializeArrowTable() accepts a stream without end-of-stream marker that ends after a whole message", () => {
  const bytes = fixture("stream_uncompressed.arrows");
  assert.deepEqual([...bytes.subarray(-8)], [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
  assertFixtureTable(deserializeArrowTable(bytes.subarray(0, bytes.length - 8)));
});

test("deserializeArrowTable() reads input that is not 8-byte aligned", () => {
  const bytes = fixture("stream_uncompressed.arrows");
  const shifted = new Uint8Array(bytes.length + 3);
  shifted.set(bytes, 3);
  assertFixtureTable(deserializeArrowTable(shifted.subarray(3)));
});

// ---------------------------------------------------------------------------------
// Round trips

function sampleTable(): Table {
  return new Table({
    id: vectorFromArray([1n, null, 2n ** 62n + 1n, -5n], new Int64()),
    x: vectorFromArray([1.5, null, -1e300, 0.1], new Float64()),
    s: vectorFromArray(["a", null, "ü日本", ""], new Utf8()),
    b: vectorFromArray([true, null, false, true], new Bool()),
    ts: vectorFromArray([0, null, 1767225600123, -86400000], new TimestampMillisecond("UTC")),
  });
}

test("serializeArrowTable() and deserializeArrowTable() round-trip a Table", () => {
  const table = sampleTable();
  const back = deserializeArrowTable(serializeArrowTable(table));
  assert.deepEqual(back.schema.fields.map(String), table.schema.fields.map(String));
  assert.equal(back.numRows, 4);
  for (const name of ["id", "x", "s", "b", "ts"]) {
    assert.deepEqual(columnValues(back, name), columnValues(table, name), name);
  }
  assert.equal(back.getChild("id")!.get(2), 2n ** 62n + 1n);
});

test("serializeArrowTable() keeps the record batches of a Table", () => {
  const table = sampleTable().concat(sampleTable());
  assert.equal(table.batches.length, 2);
  const back = deserializeArrowTable(serializeArrowTable(table));
  assert.equal(back.batches.length, 2);
  assert.deepEqual(columnValues(back, "s"), ["a", null, "ü日本", "", "a", null, "ü日本", ""]);
});

test("serializeArrowTable() and deserializeArrowTable() round-trip row objects", () => {
  const rows = [
    { id: 1, name: "Alice", ok: true, at: new Date(0), big: 10n },
    { id: 2.5, name: null, ok: false, at: null, big: null },
    { name: "Bob", at: new Date(86_400_000), big: -3n, extra: "only here" },
  ];
  const table = deserializeArrowTable(serializeArrowTable(rows));
  assert.equal(table.numRows, 3);
  assert.deepEqual(table.schema.fields.map((f) => f.name), [
    "id",
    "name",
    "ok",
    "at",
    "big",
    "extra",
  ]);
  assert.deepEqual(columnValues(table, "id"), [1, 2.5, null]);
  assert.deepEqual(columnValues(table, "name"), ["Alice", null, "Bob"]);
  // A key missing from a row is null, not apache-arrow's "" or false.
  assert.deepEqual(columnValues(table, "ok"), [true, false, null]);
  assert.deepEqual(columnValues(table, "at"), [0, null, 86_400_000]);
  assert.deepEqual(columnValues(table, "big"), [10n, null, -3n]);
  assert.deepEqual(columnValues(table, "extra"), [null, null, "only here"]);
});

test("serializeArrowTable() writes the stream format, not the file format", () => {
  for (const input of [sampleTable(), [{ a: 1 }]]) {
    const bytes = serializeArrowTable(input);
    assert.deepEqual(
      [...bytes.subarray(0, 4)],
      [0xff, 0xff, 0xff, 0xff],
      "continuation marker first",
    );
    assert.notEqual(new TextDecoder().decode(bytes.subarray(0, 6)), "ARROW1");
    assert.deepEqual(
      [...bytes.subarray(-8)],
      [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0],
      "end-of-stream marker last",
    );
  }
});

test("serializeArrowTable() of an empty row array round-trips as an empty table", () => {
  const bytes = serializeArrowTable([]);
  assert.ok(bytes.length > 0);
  const table = deserializeArrowTable(bytes);
  assert.equal(table.numRows, 0);
  assert.equal(table.numCols, 0);
});

test("serializeArrowTable() of a Table without rows keeps its schema", () => {
  const empty = sampleTable().slice(0, 0);
  assert.equal(empty.numRows, 0);
  const back = deserializeArrowTable(serializeArrowTable(empty));
  assert.equal(back.numRows, 0);
  assert.deepEqual(back.schema.fields.map(String), sampleTable().schema.fields.map(String));
});

test("serializeArrowTable() accepts a duck-typed table with schema and batches", () => {
  const table = sampleTable();
  const duck = { schema: table.schema, batches: table.batches };
  assert.ok(!(duck instanceof Table));
  const back = deserializeArrowTable(serializeArrowTable(duck));
  assert.deepEqual(columnValues(back, "id"), columnValues(table, "id"));
  assert.deepEqual(columnValues(back, "ts"), columnValues(table, "ts"));
});

test("serializeArrowTable() accepts a Table from a second copy of apache-arrow", async () => {
  // A private copy of apache-arrow's ESM build, as when two versions are installed.
  const modules = join(process.cwd(), "node_modules");
  const dir = mkdtempSync(join(tmpdir(), "natsbridge-arrow-copy-"));
  try {
    cpSync(join(modules, "apache-arrow"), join(dir, "node_modules", "apache-arrow"), {
      recursive: true,
      filter: (src) =>
        statSync(src).isDirectory() || src.endsWith(".mjs") || src.endsWith("package.json"),
    });
    for (const dep of ["flatbuffers", "tslib", "json-with-bigint"]) {
      cpSync(join(modules, dep), join(dir, "node_modules", dep), { recursive: true });
    }
    const url = pathToFileURL(join(dir, "node_modules", "apache-arrow", "Arrow.node.mjs")).href;
    const other = (await import(url)) as typeof import("apache-arrow");
    assert.notEqual(
      other.DataType,
      (await import("apache-arrow")).DataType,
      "a distinct copy was loaded",
    );

    const foreign = new other.Table({
      id: other.vectorFromArray([1n, null, 3n], new other.Int64()),
      s: other.vectorFromArray(["x", "y", null]), // Dictionary<Int32, Utf8>
      ts: other.vectorFromArray([5, null, 7], new other.TimestampMillisecond("UTC")),
      list: other.vectorFromArray(
        [[1, 2], [], null],
        new other.List(new other.Field("item", new other.Float64(), true)),
      ),
      point: other.vectorFromArray(
        [{ x: 1, y: "a" }, null, { x: 3, y: "c" }],
        new other.Struct([
          new other.Field("x", new other.Float64(), true),
          new other.Field("y", new other.Utf8(), true),
        ]),
      ),
    });
    // tableToIPC() alone writes such a Table without complaint, but into bytes that no
    // reader accepts: its writer cannot visit the other copy's types.

    const back = deserializeArrowTable(serializeArrowTable(foreign));
    assert.deepEqual(back.schema.fields.map(String), foreign.schema.fields.map(String));
    assert.deepEqual(columnValues(back, "id"), [1n, null, 3n]);
    assert.deepEqual(columnValues(back, "s"), ["x", "y", null]);
    assert.deepEqual(columnValues(back, "ts"), [5, null, 7]);
    assert.deepEqual(
      columnValues(back, "list").map((v) => (v === null ? null : [...(v as Iterable<number>)])),
      [
        [1, 2],
        [],
        null,
      ],
    );
    assert.deepEqual(
      columnValues(back, "point").map((
        v,
      ) => (v === null ? null : (v as { toJSON(): unknown }).toJSON())),
      [{ x: 1, y: "a" }, null, { x: 3, y: "c" }],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------
// Bad input on send

test("serializeArrowTable() rejects values that are neither a Table nor an array with InputError", () => {
  const cases: unknown[] = [null, undefined, 42, "rows", {}, new Uint8Array(4), new Map(), {
    schema: {},
  }];
  for (const data of cases) {
    assertInputError(
      () => serializeArrowTable(data),
      /^arrowtable payload must be an apache-arrow Table or an array of row objects, got /,
    );
  }
  assertInputError(() => serializeArrowTable(42), /got a number$/);
});

test("serializeArrowTable() names the first row that is not an object", () => {
  const cases: Array<[unknown[], RegExp]> = [
    [[1, 2], /^arrowtable row 0 must be an object, got a number$/],
    [[{ a: 1 }, null], /^arrowtable row 1 must be an object, got null$/],
    [[{ a: 1 }, { a: 2 }, [3]], /^arrowtable row 2 must be an object, got an array$/],
    [[{ a: 1 }, new Date(0)], /^arrowtable row 1 must be an object, got a Date$/],
    [["x"], /^arrowtable row 0 must be an object, got a string$/],
  ];
  for (const [rows, message] of cases) assertInputError(() => serializeArrowTable(rows), message);
});

test("serializeArrowTable() reports rows apache-arrow cannot convert as InputError", () => {
  assertInputError(
    () => serializeArrowTable([{ a: () => 1 }]),
    /^arrowtable rows could not be made into an Arrow table: /,
  );
});

test("serializeArrowTable() refuses a column that mixes types instead of changing values", () => {
  // apache-arrow typed each column by its first value: "x" after a number
  // arrived as NaN, "yes" after a boolean as false, checksum and all.
  const cases: Array<[unknown[], RegExp]> = [
    [[{ id: 1, a: 1 }, { id: 2, a: "x" }], /^arrowtable column "a" mixes a number \(row 0\) and a string \(row 1\)/],
    [[{ a: true }, { a: "yes" }], /column "a" mixes a boolean \(row 0\) and a string \(row 1\)/],
    [[{ a: 1n }, { a: null }, { a: 1.5 }], /column "a" mixes a bigint \(row 0\) and a number \(row 2\)/],
    [[{ a: new Date(0) }, { a: 0 }], /column "a" mixes a Date \(row 0\) and a number \(row 1\)/],
  ];
  for (const [rows, message] of cases) assertInputError(() => serializeArrowTable(rows), message);
});

test("serializeArrowTable() types nested row values from every row, so none is changed on the way", () => {
  // apache-arrow typed a nested value by the first one it met: numbers after
  // an empty list became nulls, a struct key missing from a row became false
  // or NaN, and a key that only a later row had was dropped.
  const rows = [
    { l: [], s: { a: "x", b: true }, t: { a: 1 } },
    { l: [1, 2], s: { a: "y" }, t: { b: [] } },
    { l: null, s: null, t: { a: 3, b: [{ c: "deep" }] } },
  ];
  const table = deserializeArrowTable(serializeArrowTable(rows));
  assert.deepEqual(table.schema.fields.map((f) => [f.name, String(f.type)]), [
    ["l", "List<Float64>"],
    ["s", "Struct<{a:Utf8, b:Bool}>"],
    ["t", "Struct<{a:Float64, b:List<Struct<{c:Utf8}>>}>"],
  ]);
  const plain = (v: unknown): unknown =>
    v === null || typeof v !== "object" ? v : Symbol.iterator in v
      ? [...(v as Iterable<unknown>)].map(plain)
      : Object.fromEntries(Object.entries((v as { toJSON(): object }).toJSON()).map(([k, x]) => [k, plain(x)]));
  assert.deepEqual(plain(columnValues(table, "l")), [[], [1, 2], null]);
  assert.deepEqual(plain(columnValues(table, "s")), [{ a: "x", b: true }, { a: "y", b: null }, null]);
  assert.deepEqual(plain(columnValues(table, "t")), [{ a: 1, b: null }, { a: null, b: [] }, { a: 3, b: [{ c: "deep" }] }]);
});

test("serializeArrowTable() refuses nested values it cannot carry unchanged, naming where they are", () => {
  const cases: Array<[unknown[], RegExp]> = [
    [[{ s: { a: 1 } }, { s: { a: "x" } }], /^arrowtable column "s\.a" mixes a number \(row 0\) and a string \(row 1\)/],
    [[{ l: [1, 2] }, { l: ["x"] }], /^arrowtable column "l\[\]" mixes a number \(row 0\) and a string \(row 1\)/],
    [[{ d: { t: new Date(0) } }, { d: { t: "2020" } }], /column "d\.t" mixes a Date \(row 0\) and a string \(row 1\)/],
    [[{ l: [1] }, { l: { a: 1 } }], /column "l" mixes an array \(row 0\) and an object \(row 1\)/],
    [[{ b: 2n ** 63n }], /^arrowtable column "b" row 0 holds 9223372036854775808, beyond Int64/],
    [[{ l: [-(2n ** 63n) - 1n] }], /column "l\[\]" row 0 holds -9223372036854775809, beyond Int64/],
    [[{ s: "a\ud800" }], /^arrowtable column "s" row 0 holds a string with a lone surrogate at index 1/],
    [[{ m: new Map([["a", 1]]) }], /^arrowtable rows could not be made into an Arrow table: column "m" row 0 holds a Map/],
    [[{ s: { u: new Uint8Array(2) } }], /column "s\.u" row 0 holds a Uint8Array/],
    [[{ l: JSON.parse("[".repeat(50_000) + "]".repeat(50_000)) }], /row 0 is nested deeper than 512 levels/],
    // It failed with "The number NaN cannot be converted to a BigInt", naming nothing.
    [[{ t: new Date(0) }, { t: new Date(NaN) }], /^arrowtable column "t" row 1 holds an invalid Date/],
    [[{ o: { l: [new Date(NaN)] } }], /^arrowtable column "o\.l\[\]" row 0 holds an invalid Date/],
  ];
  for (const [rows, message] of cases) assertInputError(() => serializeArrowTable(rows), message);
});

test("serializeArrowTable() refuses Date64, Time and Decimal values the Arrow format does not allow, which pyarrow refuses", () => {
  // Each was sent, read back by a TypeScript peer, and refused as invalid Arrow by a Python one.
  const noon = new Date(Date.UTC(2020, 0, 1, 12, 30));
  const decimal = (words: number[], precision: number) =>
    new Table({ c: makeVector({ type: new Decimal(0, precision, 128), data: Uint32Array.from(words), length: words.length / 4 } as never) });
  const cases: Array<[Table, RegExp]> = [
    [new Table({ c: vectorFromArray([new Date(0), noon], new DateMillisecond()) }), /^arrowtable column "c" value 1 is 2020-01-01T12:30:00\.000Z in a DateMillisecond \(Date64\) column, whose values the Arrow format allows only as whole days/],
    [new Table({ c: vectorFromArray([90_000_000], new TimeMillisecond()) }), /^arrowtable column "c" value 0 is 90000000 milliseconds in a Time column, outside one day \(0 to 86399999/],
    [new Table({ c: vectorFromArray([-1], new TimeSecond()) }), /value 0 is -1 seconds in a Time column/],
    [new Table({ c: vectorFromArray([86_400_000_000n], new TimeMicrosecond()) }), /value 0 is 86400000000 microseconds/],
    [decimal([123456, 0, 0, 0], 3), /^arrowtable column "c" value 0 has the unscaled value 123456, more digits than the Decimal's precision 3/],
    [decimal([-1000 >>> 0, 0xffffffff, 0xffffffff, 0xffffffff], 3), /value 0 has the unscaled value -1000/],
    [new Table({ s: vectorFromArray([{ d: noon }], new Struct([new Field("d", new DateMillisecond(), true)])) }), /column "s" value 0 is 2020-01-01T12:30:00/],
  ];
  for (const [table, message] of cases) assertInputError(() => serializeArrowTable(table), message);
  // Whole days, times within a day, decimals within precision (negative too) and nulls go.
  const fine = new Table({
    d: vectorFromArray([new Date(0), null, new Date(Date.UTC(2026, 5, 1))], new DateMillisecond()),
    t: vectorFromArray([0, 86_399_999, null], new TimeMillisecond()),
  });
  assert.equal(deserializeArrowTable(serializeArrowTable(fine)).numRows, 3);
  assert.equal(deserializeArrowTable(serializeArrowTable(decimal([999, 0, 0, 0, -999 >>> 0, 0xffffffff, 0xffffffff, 0xffffffff], 3))).numRows, 2);
  // Read by 32-bit words where the value is within ±2^53, as a BigInt beyond: both sides of that line.
  const of = (bitWidth: number, precision: number, values: bigint[]) => {
    const stride = bitWidth / 32;
    const words = new Uint32Array(values.length * stride);
    values.forEach((v, i) => {
      for (let w = 0; w < stride; w++) words[i * stride + w] = Number(BigInt.asUintN(32, v >> BigInt(32 * w)));
    });
    return new Table({ c: makeVector({ type: new Decimal(0, precision, bitWidth), data: words, length: values.length } as never) });
  };
  const within = [
    of(128, 20, [10n ** 20n - 1n, -(10n ** 20n) + 1n, 2n ** 53n, -(2n ** 53n) - 1n, 12345n]),
    of(256, 38, [10n ** 38n - 1n, -(10n ** 38n) + 1n]),
    of(64, 15, [10n ** 15n - 1n, -(10n ** 15n) + 1n]),
    of(32, 9, [999_999_999n, -999_999_999n]),
    new Table({ t: vectorFromArray([0n, 86_399_999_999_999n], new TimeNanosecond()) }),
  ];
  for (const table of within) serializeArrowTable(table);
  const beyond: Array<[Table, RegExp]> = [
    [of(128, 20, [0n, 10n ** 20n]), /value 1 has the unscaled value 100000000000000000000, more digits than the Decimal's precision 20/],
    [of(128, 20, [-(10n ** 20n)]), /unscaled value -100000000000000000000/],
    [of(64, 15, [10n ** 15n]), /unscaled value 1000000000000000, more digits than the Decimal's precision 15/],
    [of(32, 9, [-1_000_000_000n]), /unscaled value -1000000000/],
    [new Table({ t: vectorFromArray([86_400_000_000_000n], new TimeNanosecond()) }), /value 0 is 86400000000000 nanoseconds in a Time column/],
  ];
  for (const [table, message] of beyond) assertInputError(() => serializeArrowTable(table), message);
});

test("serializeArrowTable() keeps a column that is null in every row", () => {
  // It was dropped: the table arrived with one column less.
  const table = deserializeArrowTable(serializeArrowTable([{ id: 1, a: null }, { id: 2 }]));
  assert.deepEqual(table.schema.fields.map((f) => [f.name, String(f.type)]), [["id", "Float64"], ["a", "Null"]]);
  assert.deepEqual(columnValues(table, "a"), [null, null]);
  // Marked not nullable, which pyarrow showed it as (nullable=False, null_count=2).
  assert.equal(table.schema.fields[1].nullable, true);
});

test("serializeArrowTable() of a Table of empty Null columns (the CLI's header-only CSV) keeps them", () => {
  // The send-side value check failed on it: "d.children is not iterable".
  const table = new Table({ id: vectorFromArray([], new Null()), name: vectorFromArray([], new Null()) });
  const back = deserializeArrowTable(serializeArrowTable(table));
  assert.deepEqual(back.schema.fields.map((f) => f.name), ["id", "name"]);
  assert.equal(back.numRows, 0);
});

test("serializeArrowTable() of row objects without keys keeps their number", () => {
  // Three {} arrived as a table of 0 rows, on both peers.
  for (const n of [1, 3]) {
    const table = deserializeArrowTable(serializeArrowTable(Array.from({ length: n }, () => ({}))));
    assert.equal(table.numCols, 0);
    assert.equal(table.numRows, n);
  }
});

test("serializeArrowTable() rejects a duck-typed object that is no table with InputError", () => {
  assertInputError(
    () =>
      serializeArrowTable({
        schema: { fields: [{ name: "a", type: { typeId: 999 } }] },
        batches: [],
      }),
    /unsupported Arrow type/,
  );
  assertInputError(
    () => serializeArrowTable({ schema: { fields: [] }, batches: [1] }),
    /not a usable/,
  );
});

// ---------------------------------------------------------------------------------
// Corrupt input on receive

test("deserializeArrowTable() says that two columns of one name and different types cannot be read here, in both formats", () => {
  // Valid Arrow (pyarrow writes and reads it): the error said "not valid Arrow IPC: Table and inner RecordBatch schemas must be equivalent".
  for (const file of ["stream_duplicate_names.arrows", "feather_duplicate_names.arrow"]) {
    assertDecodeError(
      () => deserializeArrowTable(fixture(file)),
      /^arrowtable column "a" appears twice, as Float64 and as Utf8, which apache-arrow for JavaScript cannot read: give the columns distinct names/,
    );
  }
  // Of one type, both read.
  const fields = [new Field("a", new Float64(), true), new Field("a", new Float64(), true)];
  const children = [vectorFromArray([1, 2], new Float64()).data[0], vectorFromArray([3, 4], new Float64()).data[0]];
  const batch = new RecordBatch(new Schema(fields), makeData({ type: new Struct(fields), length: 2, nullCount: 0, children }));
  for (const Writer of [RecordBatchStreamWriter, RecordBatchFileWriter]) {
    const same = deserializeArrowTable(Writer.writeAll([batch]).toUint8Array(true));
    assert.deepEqual(same.schema.fields.map(String), ["a: Float64", "a: Float64"]);
    assert.deepEqual(same.batches[0].data.children.map((c) => c.values[0]), [1, 3]);
  }
});

test("deserializeArrowTable() refuses 64-bit dictionary indices, which apache-arrow cannot read, naming the column", () => {
  // The table was returned, and reading the column threw "Cannot mix BigInt and other types".
  assert.throws(() => deserializeArrowTable(fixture("stream_dictionary_int64.arrows")), (err: unknown) => {
    assert.ok(err instanceof DecodeError);
    assert.match(err.message, /^arrowtable column "d" of record batch 0 has 64-bit dictionary indices, which apache-arrow for JavaScript cannot read: write it with int32 indices/);
    return true;
  });
});

test("deserializeArrowTable() refuses dictionary indices, union type ids and offsets, and string views that point outside their data, and strings that are not UTF-8", () => {
  // Each was received as a whole Table whose values read as null, "" or {}, or threw a TypeError when read.
  const column = (data: Data): Uint8Array => {
    const field = new Field("c", data.type, true);
    const schema = new Schema([field]);
    return tableToIPC(new Table(schema, [new RecordBatch(schema, makeData({ type: new Struct([field]), length: data.length, nullCount: 0, children: [data] }))]), "stream");
  };
  const dictionary = (indices: number[], nullBitmap?: Uint8Array) =>
    makeData({ type: new Dictionary(new Utf8(), new Int32()), length: indices.length, nullBitmap, data: Int32Array.from(indices), dictionary: vectorFromArray(["a", "b"], new Utf8()) });
  const doubles = (n: number) => makeData({ type: new Float64(), length: n, nullCount: 0, data: Float64Array.from({ length: n }, (_, i) => i) });
  const union = (mode: UnionMode, typeIds: number[], valueOffsets?: number[]) =>
    makeData({
      type: new Union(mode, [3], [new Field("f", new Float64(), true)]),
      length: typeIds.length,
      nullCount: 0,
      typeIds: Int8Array.from(typeIds),
      valueOffsets: valueOffsets && Int32Array.from(valueOffsets),
      children: [doubles(valueOffsets ? 2 : typeIds.length)],
    } as never);
  const long = new TextEncoder().encode("a string longer than twelve");
  const view = (length: number, buffer: number, offset: number) => {
    const v = new Uint8Array(16);
    const dv = new DataView(v.buffer);
    dv.setInt32(0, length, true);
    if (length <= 12) v.set(long.subarray(0, Math.max(0, length)), 4);
    else (v.set(long.subarray(0, 4), 4), dv.setInt32(8, buffer, true), dv.setInt32(12, offset, true));
    return v;
  };
  const views = (...each: Uint8Array[]) =>
    makeData({ type: new Utf8View(), length: each.length, views: Uint8Array.from(each.flatMap((v) => [...v])), variadicBuffers: [long] } as never);
  const cases: Array<[Data, RegExp]> = [
    [dictionary([0, 1, 2]), /dictionary index 2 at value 2, past the 2 entries/],
    [dictionary([0, -5]), /dictionary index -5 at value 1/],
    [union(UnionMode.Sparse, [3, 5]), /union type id 5 at value 1, not one of its types/],
    [union(UnionMode.Dense, [3, 3], [0, 1000]), /union offset 1000 at value 1, past the 2 values of member 0/],
    [union(UnionMode.Dense, [3, 3], [0, -1]), /union offset -1 at value 1/],
    [views(view(5, 0, 0), view(27, 7, 0)), /view at value 1 names data buffer 7, of 1/],
    [views(view(27, 0, 1000)), /view at value 0 reaches byte 1027 of data buffer 0, which holds \d+/],
    [views(view(-3, 0, 0)), /view at value 0 has length -3/],
  ];
  // Strings that are not UTF-8: apache-arrow read them with U+FFFD in place of the bytes.
  const utf8 = (bytes: number[], offsets: number[], nullBitmap?: Uint8Array, large = false) =>
    makeData({
      type: large ? new LargeUtf8() : new Utf8(),
      length: offsets.length - 1,
      nullBitmap,
      valueOffsets: large ? BigInt64Array.from(offsets, BigInt) : Int32Array.from(offsets),
      data: Uint8Array.from(bytes),
    } as never);
  const euro = [0xe2, 0x82, 0xac]; // "€"
  cases.push(
    [utf8([0x61, 0xff, 0x62], [0, 1, 3]), /string at value 1 is not valid UTF-8/],
    [utf8([0x61, 0xff, 0x62], [0, 1, 3], undefined, true), /string at value 1 is not valid UTF-8/],
    [utf8([0x61, ...euro], [0, 2, 4]), /string at value 0 is not valid UTF-8/], // "€" split between two strings
    [views(Uint8Array.of(2, 0, 0, 0, 0x61, 0xc3, ...new Array(10).fill(0))), /string at value 0 is not valid UTF-8/],
  );
  for (const [data, message] of cases) assertDecodeError(() => deserializeArrowTable(column(data)), message);
  // What is valid still reads: a null slot's index or bytes are not looked at, nor is an inline view's buffer.
  assert.deepEqual(columnValues(deserializeArrowTable(column(utf8([0x61, 0xff, ...euro], [0, 1, 2, 5], Uint8Array.of(0b101)))), "c"), ["a", null, "€"]);
  const nulls = deserializeArrowTable(column(dictionary([0, 99, 1], Uint8Array.of(0b101))));
  assert.deepEqual(columnValues(nulls, "c"), ["a", null, "b"]);
  assert.deepEqual(columnValues(deserializeArrowTable(column(union(UnionMode.Dense, [3, 3], [1, 0]))), "c"), [1, 0]);
  assert.deepEqual(columnValues(deserializeArrowTable(column(views(view(5, 9, 9), view(27, 0, 0)))), "c"), ["a str", "a string longer than twelve"]);
});

test("deserializeArrowTable() rejects empty bytes with DecodeError", () => {
  assertDecodeError(
    () => deserializeArrowTable(new Uint8Array(0)),
    /^arrowtable payload is empty$/,
  );
});

test("deserializeArrowTable() rejects input that is not a Uint8Array with DecodeError", () => {
  assertDecodeError(
    () => deserializeArrowTable(new ArrayBuffer(8) as unknown as Uint8Array),
    /must be a Uint8Array/,
  );
});

test("deserializeArrowTable() rejects random bytes with DecodeError", () => {
  for (const [length, seed] of [[1, 1], [4, 2], [7, 3], [64, 4], [1000, 5], [50_000, 6]]) {
    const noise = randomBytes(length, seed);
    assertDecodeError(() => deserializeArrowTable(noise));
    // Behind a continuation marker the noise is parsed as message metadata.
    assertDecodeError(() =>
      deserializeArrowTable(concat(new Uint8Array([0xff, 0xff, 0xff, 0xff]), noise))
    );
    // Between ARROW1 magics it is taken for a file.
    const magic = new TextEncoder().encode("ARROW1");
    assertDecodeError(() => deserializeArrowTable(concat(magic, new Uint8Array(2), noise, magic)));
  }
});

for (const file of ["stream_uncompressed.arrows", "stream_lz4.arrows", "stream_zstd.arrows"]) {
  test(`deserializeArrowTable() rejects ${file} truncated inside a message with DecodeError`, () => {
    const bytes = fixture(file);
    const n = bytes.length;
    // n - 9: last byte of the last batch body; n - 4 and n - 1: half an end-of-stream marker.
    for (const cut of [1, 3, 4, 7, 9, 100, Math.floor(n / 2), n - 9, n - 4, n - 1]) {
      assertDecodeError(() => deserializeArrowTable(bytes.subarray(0, cut)));
    }
  });
}

for (
  const file of ["feather_uncompressed.arrow", "feather_lz4.arrow", "feather_lz4_multibatch.arrow"]
) {
  test(`deserializeArrowTable() rejects truncated ${file} with DecodeError`, () => {
    const bytes = fixture(file);
    const n = bytes.length;
    for (const cut of [6, 8, 100, Math.floor(n / 2), n - 10, n - 6, n - 1]) {
      assertDecodeError(() => deserializeArrowTable(bytes.subarray(0, cut)));
    }
  });
}

test("deserializeArrowTable() rejects bytes after the end-of-stream marker", () => {
  const bytes = fixture("stream_uncompressed.arrows");
  assertDecodeError(
    () => deserializeArrowTable(concat(bytes, new Uint8Array([0]))),
    /follow the end-of-stream marker/,
  );
  // Two concatenated streams: apache-arrow alone would silently return the first.
  assertDecodeError(
    () => deserializeArrowTable(concat(bytes, bytes)),
    /follow the end-of-stream marker/,
  );
});

test("deserializeArrowTable() rejects a stream ending in stray bytes instead of a message", () => {
  // apache-arrow alone reads each of these as the complete 1,000-row table.
  const withoutEnd = fixture("stream_uncompressed.arrows").slice(0, -8);
  for (const stray of [[1], [5, 0, 0], [0xff, 0xff, 0xff]]) {
    assertDecodeError(
      () => deserializeArrowTable(concat(withoutEnd, new Uint8Array(stray))),
      /stray bytes at byte \d+, where a message should start/,
    );
  }
});

test("deserializeArrowTable() rejects a damaged LZ4 frame with DecodeError", () => {
  const bytes = fixture("stream_lz4.arrows");
  const at = indexOfBytes(bytes, LZ4_MAGIC);
  assert.ok(at > 0);
  const damaged = bytes.slice();
  damaged[at] ^= 0xff;
  assertDecodeError(() => deserializeArrowTable(damaged), /LZ4 frame has a bad magic number/);
});

test("deserializeArrowTable() rejects a damaged ZSTD frame with DecodeError", () => {
  const bytes = fixture("feather_zstd.arrow");
  const at = indexOfBytes(bytes, ZSTD_MAGIC);
  assert.ok(at > 0);
  const damaged = bytes.slice();
  damaged[at + 1] ^= 0xff;
  assertDecodeError(() => deserializeArrowTable(damaged), /ZSTD/);
});

test("deserializeArrowTable() rejects a compressed buffer that decodes shorter than its column", () => {
  // An encoder that compresses only half of each buffer: the batch metadata announces
  // full-length columns the decoded buffers cannot fill.
  const original = compressionRegistry.get(CompressionType.LZ4_FRAME);
  compressionRegistry.set(CompressionType.LZ4_FRAME, {
    encode: (data: Uint8Array) => lz4js.compress(data.subarray(0, Math.ceil(data.length / 2))),
    decode: decompressLz4Frame,
  });
  let bytes: Uint8Array;
  try {
    bytes = tableToIPC(sampleTable(), "stream", CompressionType.LZ4_FRAME);
  } finally {
    compressionRegistry.set(CompressionType.LZ4_FRAME, original ?? { decode: decompressLz4Frame });
  }
  assertDecodeError(() => deserializeArrowTable(bytes), /column "\w+" of record batch 0: /);
});

for (
  const [file, start] of [["feather_lz4_large.arrow", 8], [
    "stream_uncompressed.arrows",
    0,
  ]] as const
) {
  test(`deserializeArrowTable() ends with a table or a DecodeError for each damaged metadata byte of ${file}`, () => {
    // Regression: a damaged message header type made apache-arrow's file reader loop
    // forever, a damaged vector length made it build objects until the heap ran out.
    const bytes = fixture(file);
    const { at, length } = firstBatchMetadata(bytes, start);
    for (let p = at - 8; p < at + length; p++) {
      for (const value of [0x00, 0x01, 0x52, 0x7f, 0xff]) {
        if (bytes[p] === value) continue;
        const damaged = bytes.slice();
        damaged[p] = value;
        try {
          assert.ok(deserializeArrowTable(damaged) instanceof Table);
        } catch (err) {
          assert.ok(err instanceof DecodeError, `byte ${p} = ${value}: ${String(err)}`);
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------------
// The compression decoders

const LZ4_FRAMES: Array<[string, string]> = [
  ["lz4_frame_content_size.lz4", "content size, content checksum and linked blocks"],
  ["lz4_frame_block_checksum.lz4", "block checksums"],
  ["lz4_frame_no_checksum.lz4", "linked blocks and no checksum"],
];

for (const [file, what] of LZ4_FRAMES) {
  test(`decompressLz4Frame() decodes a multi-block frame with ${what}`, () => {
    assert.deepEqual(decompressLz4Frame(fixture(file)), LZ4_TEXT);
  });
}

test("decompressLz4Frame() decodes concatenated frames and lz4js's own frames", () => {
  const a = new TextEncoder().encode("first frame ".repeat(50));
  const b = fixture("lz4_frame_no_checksum.lz4");
  assert.deepEqual(decompressLz4Frame(concat(lz4js.compress(a), b)), concat(a, LZ4_TEXT));
});

test("decompressLz4Frame() verifies the checksums a frame carries", () => {
  const withBlockSums = fixture("lz4_frame_block_checksum.lz4");
  const damagedBlock = withBlockSums.slice();
  damagedBlock[100] ^= 0x01; // inside the first block
  assertDecodeError(() => decompressLz4Frame(damagedBlock), /block checksum mismatch/);

  const withContentSum = fixture("lz4_frame_content_size.lz4");
  const damagedContent = withContentSum.slice();
  damagedContent[withContentSum.length - 1] ^= 0x01; // the content checksum itself
  assertDecodeError(() => decompressLz4Frame(damagedContent), /content checksum mismatch/);

  const damagedHeader = withContentSum.slice();
  damagedHeader[6] ^= 0x01; // first content-size byte, covered by the header checksum
  assertDecodeError(() => decompressLz4Frame(damagedHeader), /header checksum mismatch/);
});

test("decompressLz4Frame() rejects truncated, empty and foreign data with DecodeError", () => {
  for (const [file] of LZ4_FRAMES) {
    const frame = fixture(file);
    for (const cut of [0, 3, 5, 7, 11, 1000, Math.floor(frame.length / 2), frame.length - 1]) {
      assertDecodeError(() => decompressLz4Frame(frame.subarray(0, cut)));
    }
  }
  assertDecodeError(() => decompressLz4Frame(randomBytes(100, 9)), /bad magic number/);
  // A block claiming more than the frame's 64 KiB maximum.
  const oversized = concat(
    fixture("lz4_frame_no_checksum.lz4").subarray(0, 7),
    new Uint8Array([0x01, 0x00, 0x01, 0x00]),
  );
  assertDecodeError(() => decompressLz4Frame(oversized), /over the frame's 65536-byte maximum/);
});

test("decompressZstd() refuses frames whose window is over the cap before anything is allocated for them", () => {
  // 10-byte frames declaring a 1.875 GiB window and holding one byte: fzstd
  // allocated each window, and 8 of them (a 1.2 KB message) took 15 GiB.
  const frame = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xa7, 0x09, 0x00, 0x00, 0x41];
  const t0 = Date.now();
  assertDecodeError(() => decompressZstd(Uint8Array.from([...frame, ...frame])), /^ZSTD frame 1 declares a window of 2013265920 bytes, over the cap of/);
  // Windows under the cap each, over it together: counted as they are met.
  const small = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x90, 0x09, 0x00, 0x00, 0x41]; // 256 MiB window
  assertDecodeError(() => withDecompressionBudget(() => decompressZstd(Uint8Array.from([...small, ...small, ...small, ...small, ...small]))), /decode to more than the cap/);
  assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  // Frames that fit decode, one after another, and a skippable frame between them is passed over.
  const skippable = [0x50, 0x2a, 0x4d, 0x18, 0x02, 0x00, 0x00, 0x00, 0xee, 0xee];
  const kb = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00, 0x09, 0x00, 0x00, 0x42]; // 1 KiB window
  assert.deepEqual(decompressZstd(Uint8Array.from([...kb, ...skippable, ...kb])), Uint8Array.from([0x42, 0x42]));
});

test("decompressZstd() rejects empty, truncated and foreign data with DecodeError", () => {
  assertDecodeError(() => decompressZstd(new Uint8Array(0)), /^ZSTD data is empty$/);
  assertDecodeError(() => decompressZstd(randomBytes(100, 10)), /^ZSTD data is corrupt/);
  const bytes = fixture("stream_zstd.arrows");
  const at = indexOfBytes(bytes, ZSTD_MAGIC);
  assertDecodeError(() => decompressZstd(bytes.subarray(at, at + 12)), /^ZSTD data is corrupt/);
});

test("registerArrowCompression() is idempotent and leaves both decoders registered", () => {
  registerArrowCompression();
  registerArrowCompression();
  assert.equal(typeof compressionRegistry.get(CompressionType.LZ4_FRAME)?.decode, "function");
  assert.equal(typeof compressionRegistry.get(CompressionType.ZSTD)?.decode, "function");
  assertFixtureTable(deserializeArrowTable(fixture("feather_lz4.arrow")));
});

test("deserializeArrowTable() refuses a compressed buffer that decodes past the cap, before allocating it", async () => {
  const { setMaxArrowDecompressedBytes, DEFAULT_MAX_ARROW_DECOMPRESSED_BYTES } = await import("../engine/codecs/arrow_compression.ts");
  const fs = await import("node:fs");
  const path = await import("node:path");
  const dir = path.join(process.cwd(), "tests", "fixtures", "arrow");
  for (const file of ["feather_zstd.arrow", "feather_lz4.arrow"]) {
    const bytes = new Uint8Array(fs.readFileSync(path.join(dir, file)));
    setMaxArrowDecompressedBytes(64);
    try {
      assert.throws(() => deserializeArrowTable(bytes), (e: Error & { code?: string }) => e.code === "DECODE_FAILED" && /cap/.test(e.message));
    } finally {
      setMaxArrowDecompressedBytes(DEFAULT_MAX_ARROW_DECOMPRESSED_BYTES);
    }
    assert.ok(deserializeArrowTable(bytes).numRows > 0);
  }
});

/** A Zstandard frame that names no content size: RLE blocks of 128 KiB of `byte`, `total` bytes out of 4 bytes per block. */
function zstdFrameWithoutSize(total: number, byte = 0): Uint8Array {
  const BLOCK = 128 * 1024;
  if (total === 0) return new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38, 1, 0, 0]); // one empty raw block
  const blocks = Math.ceil(total / BLOCK);
  const frame = new Uint8Array(6 + blocks * 4);
  frame.set([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38]); // magic; no content size, not single segment; 128 KiB window
  for (let i = 0; i < blocks; i++) {
    const size = Math.min(BLOCK, total - i * BLOCK);
    const header = (size << 3) | (1 << 1) | (i === blocks - 1 ? 1 : 0); // RLE block
    frame.set([header & 255, (header >> 8) & 255, (header >> 16) & 255, byte], 6 + i * 4);
  }
  return frame;
}

test("decompressZstd() stops at the cap on what it actually writes, also for frames that name no size (a compression bomb)", async () => {
  // The cap was checked only against a size the first frame declared: 49 KB of
  // frames without one decoded to 1.5 GiB, past the 1 GiB cap.
  const { setMaxArrowDecompressedBytes, DEFAULT_MAX_ARROW_DECOMPRESSED_BYTES } = await import("../engine/codecs/arrow_compression.ts");
  assert.deepEqual(decompressZstd(zstdFrameWithoutSize(300_000, 7)), new Uint8Array(300_000).fill(7));
  setMaxArrowDecompressedBytes(8 * 1024 * 1024);
  try {
    assertDecodeError(() => decompressZstd(zstdFrameWithoutSize(64 * 1024 * 1024)), /over the cap of 8388608/);
    // A small first frame that declares its size, then one that does not.
    // magic; single segment, a 1-byte content size of 16; one raw block of 16 bytes.
    const declared = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x20, 16, (16 << 3) | 1, 0, 0, ...new Uint8Array(16).fill(3)]);
    assert.deepEqual(decompressZstd(declared), new Uint8Array(16).fill(3));
    const both = new Uint8Array([...declared, ...zstdFrameWithoutSize(64 * 1024 * 1024)]);
    assertDecodeError(() => decompressZstd(both), /over the cap/);
  } finally {
    setMaxArrowDecompressedBytes(DEFAULT_MAX_ARROW_DECOMPRESSED_BYTES);
  }
});

/** A ZSTD-compressed Arrow stream of two zero Int8 columns of `rows` each: a few hundred bytes that decode to 2 × rows. */
async function zstdZeroTable(rows: number): Promise<Uint8Array> {
  const { RecordBatchStreamWriter, tableFromArrays } = await import("apache-arrow");
  const registered = compressionRegistry.get(CompressionType.ZSTD)!;
  // apache-arrow has no Zstandard encoder: the columns are zeros, which these frames decode to.
  compressionRegistry.set(CompressionType.ZSTD, { ...registered, encode: (b: Uint8Array) => zstdFrameWithoutSize(b.byteLength) });
  try {
    const writer = new RecordBatchStreamWriter({ compressionType: CompressionType.ZSTD });
    writer.write(tableFromArrays({ a: new Int8Array(rows), b: new Int8Array(rows) }));
    writer.finish();
    return writer.toUint8Array(true);
  } finally {
    compressionRegistry.set(CompressionType.ZSTD, registered);
  }
}

test("deserializeArrowTable() caps what all of a table's compressed buffers decode to together", async () => {
  // The cap was per buffer: a table of many buffers each under it decoded to many times it.
  const { setMaxArrowDecompressedBytes, DEFAULT_MAX_ARROW_DECOMPRESSED_BYTES } = await import("../engine/codecs/arrow_compression.ts");
  const ipc = await zstdZeroTable(5 * 1024 * 1024);
  assert.equal(deserializeArrowTable(ipc).numRows, 5 * 1024 * 1024);
  setMaxArrowDecompressedBytes(8 * 1024 * 1024);
  try {
    assertDecodeError(() => deserializeArrowTable(ipc), /more than the cap of 8388608 bytes in total/);
  } finally {
    setMaxArrowDecompressedBytes(DEFAULT_MAX_ARROW_DECOMPRESSED_BYTES);
  }
});

test("the decompression cap holds for all the Arrow tables of one received message together, not each", async () => {
  // Per table only: a 81 KB message of six ZSTD bombs, each under the 1 GiB
  // cap, held 2.3 GB once received.
  // All from the source, also on Node (where "natsbridge" is lib/, a second copy whose
  // cap would not be the one the decoders registered by the source read).
  const { setMaxArrowDecompressedBytes, DEFAULT_MAX_ARROW_DECOMPRESSED_BYTES } = await import("../engine/codecs/arrow_compression.ts");
  const { smartreceive } = await import("../engine/receive.ts");
  const { smartsend } = await import("../engine/send.ts");
  const { CodecPool } = await import("../workers/pool.ts");
  const pool = new CodecPool({ maxThreads: 0 });
  const ipc = await zstdZeroTable(2 * 1024 * 1024); // 4 MiB decoded
  assert.ok(ipc.byteLength < 1024, `${ipc.byteLength} bytes`);
  const message = async (tables: number) => {
    const [, json] = await smartsend("s", Array.from({ length: tables }, (_, i) => [`t${i}`, ipc, "binary"] as [string, Uint8Array, "binary"]), { is_publish: false, pool });
    return json.replaceAll('"payload_type":"binary"', '"payload_type":"arrowtable"');
  };
  setMaxArrowDecompressedBytes(10 * 1024 * 1024);
  try {
    const two = await smartreceive(await message(2), { pool, logger: { log() {} } });
    assert.deepEqual(two.payloads.map(([, t]) => (t as { numRows: number }).numRows), [2 * 1024 * 1024, 2 * 1024 * 1024]);
    const three = await message(3);
    await assert.rejects(() => smartreceive(three, { pool, logger: { log() {} } }), (e: Error & { code?: string }) => {
      assert.equal(e.code, "DECODE_FAILED");
      assert.match(e.message, /the message's Arrow tables decode to more than the cap of 10485760 bytes in total/);
      return true;
    });
  } finally {
    setMaxArrowDecompressedBytes(DEFAULT_MAX_ARROW_DECOMPRESSED_BYTES);
  }
});

test("a column named \"\" survives a round trip between TypeScript peers, as from Python", () => {
  // apache-arrow writes the empty name as absent and reads it back as null in
  // the schema but "null" in the record batches: every TypeScript receiver
  // refused such a table as "not valid Arrow IPC" (Python read it fine).
  const table = new Table({ "": vectorFromArray([1.5, 2.5], new Float64()), b: vectorFromArray(["x", "y"], new Utf8()) });
  for (const bytes of [serializeArrowTable(table), tableToIPC(table, "file")]) {
    const back = deserializeArrowTable(bytes);
    assert.deepEqual(back.schema.fields.map((f) => f.name), ["", "b"]);
    assert.deepEqual([...back.getChildAt(0)!], [1.5, 2.5]);
  }
});

/** An IPC stream whose `batches` batches each add one value to a shared dictionary (a delta batch each). */
function dictionaryDeltaStream(batches: number, format: "stream" | "file" = "stream"): Uint8Array {
  const type = new Dictionary(new Utf8(), new Int32(), 0, false);
  const schema = new Schema([new Field("d", type, true)]);
  let dictionary = vectorFromArray(["v0"], new Utf8());
  const out: RecordBatch[] = [];
  for (let i = 0; i < batches; i++) {
    if (i > 0) dictionary = dictionary.concat(vectorFromArray([`v${i}`], new Utf8()));
    const column = makeData({ type, length: 1, nullCount: 0, data: new Int32Array([i]), dictionary });
    out.push(new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: 1, nullCount: 0, children: [column] })));
  }
  return tableToIPC(new Table(schema, out), format);
}

test("a stream or file of more dictionary deltas than apache-arrow reads in reasonable time is refused at once, saying how to write it", () => {
  // apache-arrow joins the dictionary again at each delta: a 3.7 MB envelope of
  // 8,000 one-value deltas took 19.5 s and 2.3 GiB to receive.
  for (const format of ["stream", "file"] as const) {
    assert.equal(deserializeArrowTable(dictionaryDeltaStream(200, format)).getChild("d")!.get(199), "v199");
    assert.throws(
      () => deserializeArrowTable(dictionaryDeltaStream(1_200, format)),
      (e: unknown) =>
        e instanceof DecodeError && /more than 1,000 dictionary delta batches/.test(e.message) &&
        /emit_dictionary_deltas=False/.test(e.message),
      format,
    );
  }
});
