/**
 * The canonical rendering of interop/python/README.md, written from the
 * TypeScript side: proof that the README is precise enough to implement, and
 * the renderer the Python tests use to read what TypeScript decoded.
 */
import { createHash } from "node:crypto";
import { type DataType, type Table, TimeUnit, Type } from "apache-arrow";

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const UNIT_NAME: Record<number, string> = {
  [TimeUnit.SECOND]: "s",
  [TimeUnit.MILLISECOND]: "ms",
  [TimeUnit.MICROSECOND]: "us",
  [TimeUnit.NANOSECOND]: "ns",
};

export function renderBytes(bytes: Uint8Array): { length: number; sha256: string } {
  return { length: bytes.byteLength, sha256: createHash("sha256").update(bytes).digest("hex") };
}

export function arrowTypeName(t: DataType): string {
  // deno-lint-ignore no-explicit-any
  const p = t as any;
  switch (t.typeId) {
    case Type.Dictionary:
      return arrowTypeName(p.dictionary);
    case Type.Int:
      return `${p.isSigned ? "int" : "uint"}${p.bitWidth}`;
    case Type.Float:
      return ["float16", "float32", "float64"][p.precision];
    case Type.Bool:
      return "bool";
    case Type.Utf8:
    case Type.LargeUtf8:
    case Type.Utf8View:
      return "utf8";
    case Type.Binary:
    case Type.LargeBinary:
    case Type.BinaryView:
      return "binary";
    case Type.Timestamp:
      return p.timezone ? `timestamp[${UNIT_NAME[p.unit]}, ${p.timezone}]` : `timestamp[${UNIT_NAME[p.unit]}]`;
    case Type.Null:
      return "null";
    default:
      return `other:${String(t)}`;
  }
}

function cell(value: unknown, t: DataType): unknown {
  if (value === null || value === undefined) return null;
  const typeId = t.typeId === Type.Dictionary ? (t as unknown as { dictionary: DataType }).dictionary.typeId : t.typeId;
  if (typeId === Type.Timestamp) {
    // apache-arrow gives epoch milliseconds for every unit here; floor as the README says.
    return Math.floor(Number(value));
  }
  if (typeof value === "bigint") {
    return value >= BigInt(-MAX_SAFE) && value <= BigInt(MAX_SAFE) ? Number(value) : value.toString();
  }
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "NaN";
    if (!Number.isFinite(value)) return value > 0 ? "Infinity" : "-Infinity";
    return value;
  }
  if (value instanceof Uint8Array) return renderBytes(value);
  return value;
}

export function renderTable(table: Table): unknown {
  const fields = table.schema.fields;
  const rows: unknown[][] = [];
  for (let r = 0; r < table.numRows; r++) {
    rows.push(fields.map((f, c) => cell(table.getChildAt(c)!.get(r), f.type)));
  }
  return {
    columns: fields.map((f) => f.name),
    types: fields.map((f) => arrowTypeName(f.type)),
    num_rows: table.numRows,
    rows,
  };
}

export function renderValue(value: unknown, type: string): unknown {
  switch (type) {
    case "image":
    case "audio":
    case "video":
    case "binary":
      return renderBytes(value as Uint8Array);
    case "arrowtable":
      return renderTable(value as Table);
    default:
      return value;
  }
}
