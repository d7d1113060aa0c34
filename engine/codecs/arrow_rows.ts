/**
 * Row objects made into an Arrow table, every value carried unchanged or
 * refused.
 *
 * apache-arrow's `tableFromJSON` types each value by the first one it meets
 * and converts the rest to that type: numbers after an empty list became
 * nulls, a struct key missing from a row became `false` or `NaN`, a key only
 * a later row had was dropped, a bigint beyond 64 bits wrapped, a lone
 * surrogate became U+FFFD. Here every row is seen first, at every depth, and
 * the Arrow types are chosen from all of them; what a type cannot hold
 * unchanged is an {@link InputError} naming the column, the path into it
 * and the row.
 *
 * @module
 */
import {
  Bool,
  type DataType,
  Dictionary,
  Field,
  Float64,
  Int32,
  Int64,
  List,
  makeData,
  Null,
  RecordBatch,
  Schema,
  Struct,
  Table,
  TimestampMillisecond,
  Utf8,
  type Vector,
  vectorFromArray,
} from "apache-arrow";
import { InputError } from "../errors.ts";
import { describe, loneSurrogateAt } from "./text.ts";
import { MAX_JSON_DEPTH } from "./json.ts";

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** The kinds of value a row may hold, each with one Arrow type. */
type Kind = "a number" | "a bigint" | "a string" | "a boolean" | "a Date" | "an array" | "an object";

/** What the values met at one path (a column, a struct field, a list's items) are. */
interface Shape {
  kind?: Kind;
  /** Row of the first value, for the error when a later one differs. */
  firstRow: number;
  /** A struct's fields, in the order they were first met. */
  fields?: Map<string, Shape>;
  /** A list's items. */
  items?: Shape;
}

/**
 * Makes row objects into a table: one column per key any row has (absent as
 * null), nested objects as structs, arrays as lists, numbers as Float64,
 * bigints as Int64, Dates as millisecond timestamps, top-level strings
 * dictionary-encoded.
 *
 * @param rows Plain objects (class instances pass; Date, Map, arrays do not).
 * @returns The table.
 * @throws {InputError} For a row that is no object, a column or nested path
 *   mixing kinds of value, a bigint beyond Int64, a string with a lone
 *   surrogate, or a value with no Arrow counterpart (Map, Set, typed array,
 *   function).
 *
 * @example
 * ```ts
 * import { tableFromRows } from "./arrow_rows.ts";
 * const table = tableFromRows([{ id: 1, tags: [] }, { id: 2, tags: ["a"] }]);
 * console.log(String(table.schema.fields[1].type)); // "List<Utf8>"
 * ```
 */
export function tableFromRows(rows: unknown[]): Table {
  const columns = new Map<string, Shape>();
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (row === null || typeof row !== "object" || Object.prototype.toString.call(row) !== "[object Object]") {
      throw new InputError(`arrowtable row ${i} must be an object, got ${describe(row)}`);
    }
    for (const key of Object.keys(row)) {
      let shape = columns.get(key);
      if (!shape) columns.set(key, shape = { firstRow: i });
      observe(shape, (row as Record<string, unknown>)[key], key, i, 1);
    }
  }
  const vectors: Record<string, Vector> = {};
  for (const [key, shape] of columns) {
    const values = rows.map((row) => normalize(shape, (row as Record<string, unknown>)[key]));
    vectors[key] = vectorFromArray(values, arrowType(shape, true));
  }
  // apache-arrow names a column of Nulls not nullable (it has no validity
  // bitmap), which pyarrow then reads as such; every other is nullable. And a
  // table built from no vectors has no rows: the batches are made here, with
  // the row count, so a table of no columns still has its rows.
  const schema = new Schema([...columns.keys()].map((key) => new Field(key, vectors[key].type, true)));
  if (!columns.size) {
    return new Table(new RecordBatch(schema, makeData({ type: new Struct([]), length: rows.length, nullCount: 0, children: [] })));
  }
  return new Table(schema, new Table(vectors).batches.map((batch) => new RecordBatch(schema, batch.data)));
}

/** Notes `value`'s kind at `path`, and of everything inside it. */
function observe(shape: Shape, value: unknown, path: string, row: number, depth: number): void {
  if (value === null || value === undefined) return;
  if (depth > MAX_JSON_DEPTH) {
    throw new InputError(`arrowtable column "${path.slice(0, 80)}…" row ${row} is nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  const kind = kindOf(value, path, row);
  if (!shape.kind) {
    shape.kind = kind;
    shape.firstRow = row;
  } else if (shape.kind !== kind) {
    throw new InputError(
      `arrowtable column "${path}" mixes ${shape.kind} (row ${shape.firstRow}) and ${kind} (row ${row}): ` +
        `give each column one type (a Table built with explicit types, or strings throughout), or send the rows as a jsontable`,
    );
  }
  if (kind === "an array") {
    shape.items ??= { firstRow: row };
    for (const item of value as unknown[]) observe(shape.items, item, `${path}[]`, row, depth + 1);
  } else if (kind === "an object") {
    shape.fields ??= new Map();
    for (const [key, inner] of Object.entries(value as object)) {
      let field = shape.fields.get(key);
      if (!field) shape.fields.set(key, field = { firstRow: row });
      observe(field, inner, `${path}.${key}`, row, depth + 1);
    }
  }
}

/** The kind of a non-null value, or the error for one Arrow rows cannot carry as it is. */
function kindOf(value: unknown, path: string, row: number): Kind {
  switch (typeof value) {
    case "number":
      return "a number";
    case "boolean":
      return "a boolean";
    case "bigint":
      if (value < INT64_MIN || value > INT64_MAX) {
        throw new InputError(`arrowtable column "${path}" row ${row} holds ${value}, beyond Int64: send it as a string`);
      }
      return "a bigint";
    case "string":
      // Arrow strings are UTF-8, which has no lone surrogates (it would write U+FFFD).
      if (!(value as string & { isWellFormed(): boolean }).isWellFormed()) {
        throw new InputError(
          `arrowtable column "${path}" row ${row} holds a string with a lone surrogate at index ${loneSurrogateAt(value)}: UTF-8 cannot carry it`,
        );
      }
      return "a string";
    case "object": {
      if (Array.isArray(value)) return "an array";
      const tag = Object.prototype.toString.call(value);
      if (tag === "[object Date]") {
        // Its time is NaN, which no timestamp holds (apache-arrow failed converting it to a BigInt).
        if (Number.isNaN((value as Date).getTime())) throw new InputError(`arrowtable column "${path}" row ${row} holds an invalid Date`);
        return "a Date";
      }
      if (tag === "[object Object]") return "an object";
      break;
    }
  }
  throw new InputError(
    `arrowtable rows could not be made into an Arrow table: column "${path}" row ${row} holds ${describe(value)}, ` +
      `which has no Arrow counterpart here (build a Table with explicit types, or send bytes as a binary payload)`,
  );
}

/** The Arrow type of everything met at one path; a path with only nulls is Null. */
function arrowType(shape: Shape, topLevel: boolean): DataType {
  switch (shape.kind) {
    case undefined:
      return new Null();
    case "a number":
      return new Float64();
    case "a bigint":
      return new Int64();
    case "a boolean":
      return new Bool();
    case "a Date":
      return new TimestampMillisecond();
    case "a string":
      // Top-level columns keep apache-arrow's dictionary encoding (repeated labels stay small).
      return topLevel ? new Dictionary(new Utf8(), new Int32()) : new Utf8();
    case "an array":
      return new List(new Field("item", arrowType(shape.items!, false), true));
    case "an object":
      return new Struct([...shape.fields!].map(([key, field]) => new Field(key, arrowType(field, false), true)));
  }
}

/**
 * `value` with every struct field its shape has (absent ones null): the
 * struct builder reads an absent boolean as false.
 */
function normalize(shape: Shape, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (shape.kind === "an array") return (value as unknown[]).map((item) => normalize(shape.items!, item));
  if (shape.kind !== "an object") return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of shape.fields!) out[key] = normalize(field, (value as Record<string, unknown>)[key]);
  return out;
}
