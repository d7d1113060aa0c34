/**
 * The canonical rendering of received values (`interop/python/README.md` §
 * Canonical rendering of a value), TypeScript side, for every runtime and the
 * browser, and for the Python peer's TypeScript interop tests: `date32`,
 * `date64` and `list` included, hashing through WebCrypto so it also runs in a page.
 *
 * @module
 */
import { type DataType, type Table, TimeUnit, Type } from "apache-arrow";
import { sha256Hex } from "./bytes.ts";

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const UNIT_NAME: Record<number, string> = {
  [TimeUnit.SECOND]: "s",
  [TimeUnit.MILLISECOND]: "ms",
  [TimeUnit.MICROSECOND]: "us",
  [TimeUnit.NANOSECOND]: "ns",
};
const BYTE_TYPES = new Set(["image", "audio", "video", "binary"]);

/** `{length, sha256}` of bytes. */
export async function renderBytes(bytes: Uint8Array): Promise<{ length: number; sha256: string }> {
  return { length: bytes.byteLength, sha256: await sha256Hex(bytes) };
}

// deno-lint-ignore no-explicit-any
type AnyType = any;

/** The canonical name of an Arrow type. */
export function arrowTypeName(t: DataType): string {
  const p = t as AnyType;
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
      return p.timezone
        ? `timestamp[${UNIT_NAME[p.unit]}, ${p.timezone}]`
        : `timestamp[${UNIT_NAME[p.unit]}]`;
    case Type.Date:
      return p.unit === 0 ? "date32" : "date64";
    case Type.Null:
      return "null";
    case Type.List:
    case Type.LargeList:
      return `list<${arrowTypeName(p.children[0].type)}>`;
    default:
      return `other:${String(t)}`;
  }
}

function baseType(t: DataType): DataType {
  return t.typeId === Type.Dictionary ? (t as AnyType).dictionary : t;
}

// deno-lint-ignore require-await -- some branches return promises (bytes, lists), so all return one
async function cell(value: unknown, t: DataType): Promise<unknown> {
  if (value === null || value === undefined) return null;
  const base = baseType(t);
  switch (base.typeId) {
    case Type.Timestamp:
      // apache-arrow gives epoch milliseconds for every unit; floor as the README says.
      return Math.floor(Number(value instanceof Date ? value.getTime() : value));
    case Type.Date: {
      const ms = Number(value instanceof Date ? value.getTime() : value);
      return (base as AnyType).unit === 0 ? Math.floor(ms / 86_400_000) : ms;
    }
    case Type.List:
    case Type.LargeList: {
      const child = (base as AnyType).children[0].type as DataType;
      const items = [...(value as Iterable<unknown>)];
      return Promise.all(items.map((v) => cell(v, child)));
    }
  }
  if (typeof value === "bigint") {
    return value >= BigInt(-MAX_SAFE) && value <= BigInt(MAX_SAFE)
      ? Number(value)
      : value.toString();
  }
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "NaN";
    if (!Number.isFinite(value)) return value > 0 ? "Infinity" : "-Infinity";
    return value;
  }
  if (value instanceof Uint8Array) return renderBytes(value);
  return value;
}

/** `{columns, types, num_rows, rows}` of an apache-arrow Table. */
export async function renderTable(table: Table): Promise<unknown> {
  const fields = table.schema.fields;
  const columns = fields.map((_, c) => table.getChildAt(c)!);
  const rows: unknown[][] = [];
  for (let r = 0; r < table.numRows; r++) {
    rows.push(await Promise.all(fields.map((f, c) => cell(columns[c].get(r), f.type))));
  }
  return {
    columns: fields.map((f) => f.name),
    types: fields.map((f) => arrowTypeName(f.type)),
    num_rows: table.numRows,
    rows,
  };
}

/** The canonical rendering of a decoded value of `payloadType`. */
export function renderValue(value: unknown, payloadType: string): Promise<unknown> | unknown {
  if (BYTE_TYPES.has(payloadType)) return renderBytes(value as Uint8Array);
  if (payloadType === "arrowtable") return renderTable(value as Table);
  if (payloadType === "text" || payloadType === "dictionary" || payloadType === "jsontable") {
    return value;
  }
  throw new Error(`unknown payload_type "${payloadType}"`);
}

/**
 * One line of JSON as the Python peer prints it: keys sorted at every level,
 * compact, non-ASCII kept.
 */
export function dumps(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) {
      out[k] = sortKeys((v as Record<string, unknown>)[k]);
    }
    return out;
  }
  return v;
}

/**
 * Deep equality of parsed JSON values, numbers compared as numbers (Python
 * prints `1.0` where JavaScript prints `1`).
 *
 * @returns `undefined` when equal, else the path of the first difference.
 */
export function jsonDiff(a: unknown, b: unknown, path = "$"): string | undefined {
  if (typeof a === "number" && typeof b === "number") {
    return a === b ? undefined : `${path}: ${a} ≠ ${b}`;
  }
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") {
    return a === b
      ? undefined
      : `${path}: ${JSON.stringify(a)?.slice(0, 80)} ≠ ${JSON.stringify(b)?.slice(0, 80)}`;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return `${path}: array vs object`;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return `${path}: length ${a.length} ≠ ${bb.length}`;
    for (let i = 0; i < a.length; i++) {
      const d = jsonDiff(a[i], bb[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  const ka = Object.keys(a).sort(), kb = Object.keys(b as object).sort();
  if (ka.join("\u0000") !== kb.join("\u0000")) return `${path}: keys [${ka}] ≠ [${kb}]`;
  for (const k of ka) {
    const d = jsonDiff(
      (a as Record<string, unknown>)[k],
      (b as Record<string, unknown>)[k],
      `${path}.${k}`,
    );
    if (d) return d;
  }
  return undefined;
}
