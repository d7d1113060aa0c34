/**
 * The `arrowtable` payload: an apache-arrow `Table` as Arrow IPC bytes.
 *
 * Sending writes the IPC **stream** format, uncompressed. Receiving accepts the stream
 * and the file (Feather v2) formats, uncompressed or with LZ4_FRAME / ZSTD compressed
 * record batches, which is what pyarrow and Arrow.jl peers write.
 *
 * apache-arrow's reader is lenient with damaged input: a file whose footer points at an
 * unreadable record batch yields the batches before it, a file whose record batch
 * message has a damaged header type loops forever, a stream ending in 1 to 3 stray
 * bytes reads as complete, a buffer shorter than its column needs yields a vector that
 * reads past it. So this module walks the stream's message framing itself before
 * handing bytes to apache-arrow, reads a file's record batches one footer block at a
 * time, compares the record batches read with those the stream or the footer holds,
 * and checks every column's buffers against its length. A
 * damaged payload is a {@link DecodeError}, never a shorter table.
 *
 * @module
 */
import {
  Binary,
  BinaryView,
  Bool,
  Data,
  DataType,
  Date_,
  Decimal,
  Dictionary,
  Duration,
  Field,
  FixedSizeBinary,
  FixedSizeList,
  Float,
  Int,
  type Int32,
  Interval,
  LargeBinary,
  LargeList,
  LargeUtf8,
  List,
  Map_,
  Message,
  MessageHeader,
  Null,
  RecordBatch,
  RecordBatchReader,
  Schema,
  Struct,
  Table,
  tableToIPC,
  Time,
  Timestamp,
  Type,
  Union,
  UnionMode,
  Utf8,
  Utf8View,
  Vector,
} from "apache-arrow";
import { DecodeError, InputError } from "../errors.ts";
import { type DecompressionAllowance, registerArrowCompression, withDecompressionBudget } from "./arrow_compression.ts";
import { describe } from "./text.ts";
import { tableFromRows } from "./arrow_rows.ts";
import { isValidUtf8 } from "../platform/utf8.ts";
import { checkArrowValues } from "./arrow_values.ts";

registerArrowCompression();

/**
 * Serializes an `arrowtable` payload to Arrow IPC stream format, uncompressed.
 *
 * A `Table` from another copy of apache-arrow (two versions installed side by side) is
 * accepted too: it is rebuilt on this copy's types, sharing its buffers, since
 * apache-arrow's writer cannot visit foreign types. Row objects are typed from every
 * row, at every depth: numbers become Float64, bigints Int64, strings
 * `Dictionary<Int32, Utf8>` (`Utf8` when nested), booleans Bool, `Date`s Timestamp[ms],
 * arrays Lists, objects Structs; a key missing from a row, or `undefined`, becomes null
 * (apache-arrow alone would write `""` or `false`, or throw, for such a cell). A value
 * no type carries unchanged (mixed kinds in a column, a bigint beyond Int64, a lone
 * surrogate, a Map) is an {@link InputError}.
 *
 * @param data An apache-arrow `Table`, or an array of plain row objects.
 * @returns The IPC stream bytes, ending with the end-of-stream marker.
 * @throws {InputError} When `data` is neither, a row is not an object, or the rows
 * cannot be made into a table.
 *
 * @example Row objects to IPC stream bytes
 * ```ts
 * import { serializeArrowTable } from "./arrow_table.ts";
 *
 * const bytes = serializeArrowTable([{ id: 1, name: "Alice" }, { id: 2, name: "Bob" }]);
 * // The stream format starts with a continuation marker, the file format with "ARROW1".
 * if (bytes[0] !== 0xff || bytes[1] !== 0xff) throw new Error("not stream format");
 * ```
 */
export function serializeArrowTable(data: unknown): Uint8Array {
  let table: Table;
  if (isTableLike(data)) {
    table = isOwnTable(data) ? data : adoptTable(data);
  } else if (Array.isArray(data)) {
    table = tableFromRows(data);
  } else {
    const got = describe(data);
    throw new InputError(
      `arrowtable payload must be an apache-arrow Table or an array of row objects, got ${got}`,
    );
  }
  checkArrowValues(table);
  try {
    return tableToIPC(table, "stream");
  } catch (err) {
    const why = messageOf(err);
    throw new InputError(`arrowtable payload could not be written as Arrow IPC: ${why}`, {
      cause: err,
    });
  }
}

/**
 * Deserializes an `arrowtable` payload from Arrow IPC bytes.
 *
 * Accepts the stream and the file (Feather v2) formats, uncompressed or with LZ4_FRAME
 * or ZSTD compressed record batches. A stream without its end-of-stream marker is
 * accepted when it ends exactly after a whole message; anything else that is cut short
 * or damaged is rejected. Through apache-arrow's `get(i)`, Int64 columns read as
 * `bigint`, timestamps of any unit as epoch milliseconds (a `number`, fractional for µs
 * and ns; `get` throws for values beyond ±2^53 ms), nulls as `null`; `toArray()` of a
 * numeric column shows null slots as 0. Values are checked where apache-arrow would
 * read them as something else (strings that are not UTF-8, dictionary indices, union
 * type ids and offsets, string views that point outside their data), as pyarrow's full
 * validation does; Arrow IPC carries no checksum, so a flipped bit in a number is still
 * a number.
 *
 * @param bytes The payload bytes. Read in place: column buffers of uncompressed,
 * 8-byte-aligned input are views of it, so do not reuse the memory while the table lives.
 * @param allowance What this table and the other tables of its message may still
 * decompress to together; without one, the table has the whole cap
 * (`setMaxArrowDecompressedBytes`) to itself.
 * @returns The table.
 * @throws {DecodeError} When the bytes are empty, truncated or not valid Arrow IPC.
 *
 * @example Round trip through the stream format
 * ```ts
 * import { deserializeArrowTable, serializeArrowTable } from "./arrow_table.ts";
 *
 * const table = deserializeArrowTable(serializeArrowTable([{ x: 1.5 }, { x: null }]));
 * if (table.numRows !== 2) throw new Error("expected 2 rows");
 * if (table.getChild("x")?.get(0) !== 1.5 || table.getChild("x")?.get(1) !== null) {
 *   throw new Error("unexpected values");
 * }
 * ```
 */
export function deserializeArrowTable(bytes: Uint8Array, allowance?: DecompressionAllowance): Table {
  if (!(bytes instanceof Uint8Array)) {
    throw new DecodeError(`arrowtable payload must be a Uint8Array, got ${describe(bytes)}`);
  }
  if (bytes.length === 0) throw new DecodeError("arrowtable payload is empty");
  try {
    const table = withDecompressionBudget(() => startsWithArrowMagic(bytes) ? readFileFormat(bytes) : readStreamFormat(bytes), allowance);
    checkTable(table);
    return table;
  } catch (err) {
    if (err instanceof DecodeError) throw err; // valid Arrow, but not readable here
    throw new DecodeError(`arrowtable payload is not valid Arrow IPC: ${messageOf(err)}`, {
      cause: err,
    });
  }
}

// ---------------------------------------------------------------------------------
// Serialize helpers

interface TableLike {
  schema: { fields: unknown[]; metadata?: Map<string, string> };
  batches: unknown[];
}

function isTableLike(x: unknown): x is Table | TableLike {
  if (x instanceof Table) return true; // also true for Tables of other copies (Symbol.for marker)
  if (x === null || typeof x !== "object") return false;
  const { schema, batches } = x as { schema?: unknown; batches?: unknown };
  return typeof schema === "object" && schema !== null &&
    Array.isArray((schema as { fields?: unknown }).fields) && Array.isArray(batches);
}

/** A Table whose types are this copy's classes, which `tableToIPC` can visit. */
function isOwnTable(x: Table | TableLike): x is Table {
  return x instanceof Table &&
    x.schema.fields.every((f) => f.type instanceof DataType) &&
    x.batches.every((b) => b.data.type instanceof DataType);
}

/* Minimal shapes of apache-arrow objects from any copy of the library. */
interface ForeignField {
  name: string;
  type: ForeignType;
  nullable: boolean;
  metadata?: Map<string, string>;
}
interface ForeignType {
  typeId: number;
  children?: ForeignField[];
  [key: string]: unknown;
}
interface ForeignData {
  type: ForeignType;
  offset: number;
  length: number;
  nullCount: number;
  buffers: unknown[];
  children: ForeignData[];
  dictionary?: { data: ForeignData[] };
  variadicBuffers?: Uint8Array[];
}

/** Rebuilds a Table of another apache-arrow copy on this copy's classes, sharing buffers. */
function adoptTable(table: TableLike): Table {
  try {
    const fields = (table.schema.fields as ForeignField[]).map(adoptField);
    const schema = new Schema(fields, new Map(table.schema.metadata ?? []));
    const batches = (table.batches as { data: ForeignData }[]).map((b) =>
      new RecordBatch(schema, adoptData(b.data) as Data<Struct>)
    );
    return new Table(schema, batches);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(
      `arrowtable payload is not a usable apache-arrow Table: ${messageOf(err)}`,
      {
        cause: err,
      },
    );
  }
}

function adoptField(f: ForeignField): Field {
  return new Field(f.name, adoptType(f.type), f.nullable, new Map(f.metadata ?? []));
}

function adoptData(d: ForeignData): Data {
  const dictionary = d.dictionary ? new Vector(d.dictionary.data.map(adoptData)) : undefined;
  return new Data(
    adoptType(d.type),
    d.offset,
    d.length,
    d.nullCount,
    d.buffers as ConstructorParameters<typeof Data>[4],
    d.children.map(adoptData),
    dictionary,
    d.variadicBuffers,
  );
}

function adoptType(t: ForeignType): DataType {
  // deno-lint-ignore no-explicit-any -- parameters are checked by the constructors' own use
  const p = t as any;
  const child = () => adoptField((t.children ?? [])[0]);
  switch (t.typeId) {
    case Type.Null:
      return new Null();
    case Type.Int:
      return new Int(p.isSigned, p.bitWidth);
    case Type.Float:
      return new Float(p.precision);
    case Type.Binary:
      return new Binary();
    case Type.LargeBinary:
      return new LargeBinary();
    case Type.BinaryView:
      return new BinaryView();
    case Type.Utf8:
      return new Utf8();
    case Type.LargeUtf8:
      return new LargeUtf8();
    case Type.Utf8View:
      return new Utf8View();
    case Type.Bool:
      return new Bool();
    case Type.Decimal:
      return new Decimal(p.scale, p.precision, p.bitWidth);
    case Type.Date:
      return new Date_(p.unit);
    case Type.Time:
      return new Time(p.unit, p.bitWidth);
    case Type.Timestamp:
      return new Timestamp(p.unit, p.timezone);
    case Type.Interval:
      return new Interval(p.unit);
    case Type.Duration:
      return new Duration(p.unit);
    case Type.List:
      return new List(child());
    case Type.LargeList:
      return new LargeList(child());
    case Type.FixedSizeList:
      return new FixedSizeList(p.listSize, child());
    case Type.Map:
      return new Map_(child(), p.keysSorted);
    case Type.Struct:
      return new Struct((t.children ?? []).map(adoptField));
    case Type.Union:
      return new Union(
        p.mode,
        Array.from(p.typeIds as ArrayLike<number>),
        (t.children ?? []).map(adoptField),
      );
    case Type.FixedSizeBinary:
      return new FixedSizeBinary(p.byteWidth);
    case Type.Dictionary:
      return new Dictionary(
        adoptType(p.dictionary),
        adoptType(p.indices) as Int32,
        p.id,
        p.isOrdered,
      );
    default:
      throw new InputError(
        `arrowtable payload has a column of unsupported Arrow type ${String(t)}`,
      );
  }
}

// ---------------------------------------------------------------------------------
// Deserialize helpers

const ARROW_MAGIC = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31]; // "ARROW1"

function startsWithArrowMagic(bytes: Uint8Array): boolean {
  return bytes.length >= 6 && ARROW_MAGIC.every((b, i) => bytes[i] === b);
}

/** A message of an IPC stream or file, its framing checked. */
interface FramedMessage {
  /** `MessageHeader` of the message. */
  headerType: number;
  /** A dictionary batch that adds to its dictionary instead of replacing it. */
  isDelta: boolean;
  /** Offset one past the message body. */
  end: number;
}

/**
 * Reads the message framing at `at`: the optional continuation marker, the metadata
 * length, the metadata (checked by {@link checkMessageMetadata} before apache-arrow
 * decodes it) and the body, which must end by `limit`. Returns `null` at an
 * end-of-stream marker.
 */
function frameAt(
  bytes: Uint8Array,
  view: DataView,
  at: number,
  limit: number,
): FramedMessage | null {
  if (limit - at < 4) {
    throw new Error(`${limit - at} stray bytes at byte ${at}, where a message should start`);
  }
  let metadataLength = view.getInt32(at, true);
  let prefix = 4;
  if (metadataLength === -1) { // continuation marker (Arrow >= 0.15)
    if (limit - at < 8) throw new Error(`message header at byte ${at} is truncated`);
    metadataLength = view.getInt32(at + 4, true);
    prefix = 8;
  }
  if (metadataLength === 0) return null; // end-of-stream marker
  const remaining = limit - at - prefix;
  if (metadataLength < 0 || metadataLength > remaining) {
    throw new Error(
      `message at byte ${at} declares ${metadataLength} metadata bytes, ${remaining} remain`,
    );
  }
  const metadata = bytes.subarray(at + prefix, at + prefix + metadataLength);
  checkMessageMetadata(metadata);
  const message = Message.decode(metadata);
  const bodyStart = at + prefix + metadataLength;
  const bodyLength = message.bodyLength;
  if (!Number.isSafeInteger(bodyLength) || bodyLength < 0 || bodyLength > limit - bodyStart) {
    throw new Error(
      `message at byte ${at} declares a ${bodyLength}-byte body, ${limit - bodyStart} bytes remain`,
    );
  }
  const isDelta = message.headerType === MessageHeader.DictionaryBatch &&
    (message.header() as { isDelta?: boolean } | null)?.isDelta === true;
  return { headerType: message.headerType, isDelta, end: bodyStart + bodyLength };
}

/**
 * Dictionary delta batches a stream may hold. apache-arrow joins a dictionary
 * again at each delta: 2,000 one-value deltas took 1.2 s to read, 8,000 (a
 * 3.7 MB envelope) 19.5 s and 2.3 GiB; 1,000 take about 0.3 s.
 */
const MAX_DICTIONARY_DELTAS = 1_000;

function tooManyDeltas(format: "stream" | "file"): DecodeError {
  return new DecodeError(
    `arrowtable ${format} holds more than ${MAX_DICTIONARY_DELTAS.toLocaleString("en-US")} dictionary delta batches, ` +
      `which apache-arrow for JavaScript reads in time growing with their square: write the dictionaries whole ` +
      `(pyarrow: IpcWriteOptions(emit_dictionary_deltas=False), or table.unify_dictionaries())`,
  );
}

/**
 * Walks the messages of an IPC stream without decoding their bodies: every message must
 * be whole, the schema must come first, and the bytes must end either right after the
 * end-of-stream marker or right after a message. Returns the number of record batches.
 */
function walkStream(bytes: Uint8Array): number {
  const n = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, n);
  let at = 0;
  let schemas = 0;
  let recordBatches = 0;
  let deltas = 0;
  while (at < n) {
    const message = frameAt(bytes, view, at, n);
    if (message === null) {
      at += view.getInt32(at, true) === -1 ? 8 : 4;
      if (at !== n) throw new Error(`${n - at} more bytes follow the end-of-stream marker`);
      break;
    }
    at = message.end;
    switch (message.headerType) {
      case MessageHeader.Schema:
        if (++schemas > 1) throw new Error("stream holds more than one schema message");
        break;
      case MessageHeader.RecordBatch:
      case MessageHeader.DictionaryBatch:
        if (schemas === 0) throw new Error("stream does not start with a schema message");
        if (message.headerType === MessageHeader.RecordBatch) recordBatches++;
        if (message.isDelta && ++deltas > MAX_DICTIONARY_DELTAS) throw tooManyDeltas("stream");
        break;
      default:
        throw new Error(
          `stream holds an unexpected ${MessageHeader[message.headerType] ?? "unknown"} message`,
        );
    }
  }
  if (schemas === 0) throw new Error("stream holds no schema message");
  return recordBatches;
}

/**
 * Valid Arrow that apache-arrow cannot read, said as such: two columns of one
 * name and different types (it failed with "Cannot destructure property
 * 'length'…" or "schemas must be equivalent", as if the bytes were corrupt).
 */
function refuseUnreadableSchema(schema: Schema): void {
  const seen = new Map<string, DataType>();
  for (const field of schema.fields) {
    const first = seen.get(field.name);
    if (!first) seen.set(field.name, field.type);
    else if (String(first) !== String(field.type)) {
      throw new DecodeError(
        `arrowtable column "${field.name}" appears twice, as ${first} and as ${field.type}, which apache-arrow for JavaScript cannot read: ` +
          `give the columns distinct names`,
      );
    }
  }
}

function readStreamFormat(bytes: Uint8Array): Table {
  const expected = walkStream(bytes);
  const reader = RecordBatchReader.from(bytes).open();
  const schema = reader.schema; // read before iterating: the reader drops it when done
  if (schema) refuseUnreadableSchema(schema);
  const batches = [...reader];
  return tableOf(schema, batches, expected, "stream");
}

function readFileFormat(bytes: Uint8Array): Table {
  const n = bytes.length;
  // "ARROW1" + 2 padding bytes, messages, footer, int32 footer length, "ARROW1".
  if (n < 18 || !ARROW_MAGIC.every((b, i) => bytes[n - 6 + i] === b)) {
    throw new Error("file is truncated: the footer and closing ARROW1 magic are missing");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, n);
  const footerLength = view.getInt32(n - 10, true);
  if (footerLength <= 0 || footerLength > n - 18) {
    throw new Error(`file footer length ${footerLength} does not fit in ${n} bytes`);
  }
  const footerStart = n - 10 - footerLength;
  const blocks = checkFooter(bytes.subarray(footerStart, n - 10));
  // Check every block's message before apache-arrow reads it.
  let deltas = 0;
  for (
    const [kind, list] of [["dictionary", blocks.dictionaries], [
      "record",
      blocks.recordBatches,
    ]] as const
  ) {
    for (const [i, offset] of list.entries()) {
      if (offset < 8 || offset >= footerStart) {
        throw new Error(`${kind} batch ${i} lies outside the file body`);
      }
      const message = frameAt(bytes, view, offset, footerStart);
      const want = kind === "record" ? MessageHeader.RecordBatch : MessageHeader.DictionaryBatch;
      if (message?.headerType !== want) {
        throw new Error(
          `file footer's ${kind} batch ${i} does not point at a ${MessageHeader[want]} message`,
        );
      }
      if (message.isDelta && ++deltas > MAX_DICTIONARY_DELTAS) throw tooManyDeltas("file");
    }
  }
  const reader = RecordBatchReader.from(bytes);
  if (!reader.isFile()) throw new Error("file format not recognised");
  reader.open(); // decodes the footer and reads the dictionary batches
  const schema = reader.schema;
  if (schema) refuseUnreadableSchema(schema);
  const expected = reader.numRecordBatches;
  if (expected !== blocks.recordBatches.length) throw new Error("file footer is inconsistent");
  // Not `[...reader]`: its loop re-reads the same footer block forever when that block
  // holds a message of another kind, and stops silently when a block cannot be read.
  const batches: RecordBatch[] = [];
  for (let i = 0; i < expected; i++) {
    const batch = reader.readRecordBatch(i);
    if (!batch) {
      throw new Error(`record batch ${i} of the ${expected} the file footer lists cannot be read`);
    }
    batches.push(batch);
  }
  return tableOf(schema, batches, expected, "file footer");
}

// ---------------------------------------------------------------------------------
// Flatbuffer bounds checks
//
// apache-arrow decodes IPC metadata with the flatbuffers library, which verifies
// nothing: a damaged vector length makes apache-arrow loop up to 2^32 times (building
// one object per iteration until the heap is exhausted), and a damaged offset reads
// garbage. These checks walk just the tables and vectors apache-arrow iterates over
// (Message.fbs, Schema.fbs, File.fbs) and require each to lie inside the metadata.

/** Field ids (declaration order) of the flatbuffer tables checked below. */
const FieldId = {
  MessageHeaderType: 1,
  MessageHeader: 2,
  MessageCustomMetadata: 4,
  SchemaFields: 1,
  SchemaCustomMetadata: 2,
  SchemaFeatures: 3,
  FieldChildren: 5,
  FieldCustomMetadata: 6,
  RecordBatchNodes: 1,
  RecordBatchBuffers: 2,
  RecordBatchVariadicCounts: 4,
  DictionaryBatchData: 1,
  FooterSchema: 1,
  FooterDictionaries: 2,
  FooterRecordBatches: 3,
  FooterCustomMetadata: 4,
} as const;

class FlatbufferCheck {
  readonly #view: DataView;
  readonly #n: number;
  /** Tables visited: damaged offsets can make a small buffer describe a huge tree. */
  #tables = 0;

  constructor(bytes: Uint8Array, readonly what: string) {
    this.#n = bytes.length;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  fail(why: string): never {
    throw new Error(`${this.what} metadata is damaged: ${why}`);
  }

  #u32(at: number): number {
    if (at < 0 || at + 4 > this.#n) this.fail(`offset ${at} is out of bounds`);
    return this.#view.getUint32(at, true);
  }

  /** Position of the root table. */
  root(): number {
    return this.table(this.#u32(0));
  }

  /** Checks the table at `pos` and its vtable; returns `pos`. */
  table(pos: number): number {
    if (++this.#tables > this.#n / 4) this.fail("it refers to more tables than it can hold");
    const vtable = pos - this.#view.getInt32(this.#checked(pos, 4), true);
    const vtableSize = this.#view.getUint16(this.#checked(vtable, 4), true);
    if (vtableSize < 4 || vtableSize % 2 !== 0) {
      this.fail(`vtable at ${vtable} has size ${vtableSize}`);
    }
    this.#checked(vtable, vtableSize);
    return pos;
  }

  #checked(at: number, size: number): number {
    if (!Number.isInteger(at) || at < 0 || at + size > this.#n) {
      this.fail(`offset ${at} is out of bounds`);
    }
    return at;
  }

  /** Position of a field's inline data, or 0 when the field is absent. */
  #field(table: number, id: number): number {
    const vtable = table - this.#view.getInt32(table, true);
    const slot = 4 + 2 * id;
    if (slot + 2 > this.#view.getUint16(vtable, true)) return 0;
    const offset = this.#view.getUint16(vtable + slot, true);
    return offset === 0 ? 0 : table + offset;
  }

  /** Target of an offset field (table, vector, string), or 0 when absent. */
  ref(table: number, id: number): number {
    const at = this.#field(table, id);
    if (at === 0) return 0;
    return this.#checked(at + this.#u32(at), 4);
  }

  /** Reads a ubyte field, 0 when absent. */
  u8(table: number, id: number): number {
    const at = this.#field(table, id);
    return at === 0 ? 0 : this.#view.getUint8(this.#checked(at, 1));
  }

  /** Checks a vector field of `elementSize`-byte elements; returns its element positions' start and count. */
  vector(table: number, id: number, elementSize: number): { start: number; length: number } {
    const at = this.ref(table, id);
    if (at === 0) return { start: 0, length: 0 };
    const length = this.#u32(at);
    if (length * elementSize > this.#n - at - 4) this.fail(`a vector claims ${length} elements`);
    return { start: at + 4, length };
  }

  /** Checks a vector of tables; returns the tables' positions. */
  tables(table: number, id: number): number[] {
    const { start, length } = this.vector(table, id, 4);
    const out: number[] = [];
    for (let i = 0; i < length; i++) {
      const at = start + 4 * i;
      out.push(this.table(at + this.#u32(at)));
    }
    return out;
  }

  /** Reads the int64 at `at` of a struct vector element as a number. */
  i64(at: number): number {
    const low = this.#u32(at);
    const high = this.#view.getInt32(this.#checked(at + 4, 4), true);
    return high * 0x100000000 + low;
  }
}

function checkSchemaTable(fb: FlatbufferCheck, schema: number): void {
  fb.vector(schema, FieldId.SchemaCustomMetadata, 4);
  fb.vector(schema, FieldId.SchemaFeatures, 8);
  const pending = fb.tables(schema, FieldId.SchemaFields).map((t) => [t, 1]);
  while (pending.length > 0) {
    const [field, depth] = pending.pop()!;
    if (depth > 64) fb.fail("fields nest more than 64 deep");
    fb.vector(field, FieldId.FieldCustomMetadata, 4);
    for (const child of fb.tables(field, FieldId.FieldChildren)) pending.push([child, depth + 1]);
  }
}

function checkRecordBatchTable(fb: FlatbufferCheck, batch: number): void {
  fb.vector(batch, FieldId.RecordBatchNodes, 16);
  fb.vector(batch, FieldId.RecordBatchBuffers, 16);
  fb.vector(batch, FieldId.RecordBatchVariadicCounts, 8);
}

/** Bounds-checks an IPC message's metadata (a flatbuffer `Message`). */
function checkMessageMetadata(metadata: Uint8Array): void {
  const fb = new FlatbufferCheck(metadata, "message");
  const message = fb.root();
  fb.vector(message, FieldId.MessageCustomMetadata, 4);
  const header = fb.ref(message, FieldId.MessageHeader);
  if (header === 0) fb.fail("the message has no header");
  fb.table(header);
  switch (fb.u8(message, FieldId.MessageHeaderType)) {
    case MessageHeader.Schema:
      checkSchemaTable(fb, header);
      break;
    case MessageHeader.RecordBatch:
      checkRecordBatchTable(fb, header);
      break;
    case MessageHeader.DictionaryBatch: {
      const data = fb.ref(header, FieldId.DictionaryBatchData);
      if (data === 0) fb.fail("the dictionary batch has no data");
      checkRecordBatchTable(fb, fb.table(data));
      break;
    }
  }
}

/** Bounds-checks a file footer; returns the message offsets of its blocks. */
function checkFooter(footerBytes: Uint8Array): { dictionaries: number[]; recordBatches: number[] } {
  const fb = new FlatbufferCheck(footerBytes, "file footer");
  const footer = fb.root();
  const schema = fb.ref(footer, FieldId.FooterSchema);
  if (schema === 0) fb.fail("the footer has no schema");
  checkSchemaTable(fb, fb.table(schema));
  fb.vector(footer, FieldId.FooterCustomMetadata, 4);
  const offsets = (id: number): number[] => {
    const { start, length } = fb.vector(footer, id, 24); // struct Block { offset: long; metaDataLength: int; bodyLength: long }
    return Array.from({ length }, (_, i) => fb.i64(start + 24 * i));
  };
  return {
    dictionaries: offsets(FieldId.FooterDictionaries),
    recordBatches: offsets(FieldId.FooterRecordBatches),
  };
}

/**
 * Checks the record batches read against the count the stream or footer holds (the
 * stream reader yields one empty placeholder batch when there is none).
 */
function tableOf(
  schema: Schema | null,
  batches: RecordBatch[],
  expected: number,
  source: string,
): Table {
  if (!schema) throw new Error("no schema found");
  if (expected === 0) {
    if (batches.some((b) => b.numRows !== 0)) {
      throw new Error(`${source} lists no record batch, yet rows were read`);
    }
    return new Table(schema);
  }
  if (batches.length !== expected) {
    throw new Error(
      `${source} holds ${expected} record batches, only ${batches.length} could be read`,
    );
  }
  if (schema.fields.some((f) => typeof f.name !== "string")) {
    // apache-arrow writes a column named "" as a name absent, and reads it back
    // as null in the schema but "null" in each batch's: named "" in both.
    schema = new Schema(
      schema.fields.map((f) => typeof f.name === "string" ? f : f.clone({ name: "" })),
      schema.metadata,
    );
    const named = schema;
    batches = batches.map((b) => new RecordBatch(named, b.data));
  }
  return new Table(schema, batches);
}

/** Checks every column buffer against the lengths the metadata declares. */
function checkTable(table: Table): void {
  const fields = table.schema.fields;
  for (const [b, batch] of table.batches.entries()) {
    const data = batch.data;
    if (data.children.length !== fields.length) {
      throw new Error(
        `record batch ${b} has ${data.children.length} columns, the schema ${fields.length}`,
      );
    }
    for (const [i, child] of data.children.entries()) {
      if (child.length !== batch.numRows) {
        throw new Error(
          `column "${
            fields[i].name
          }" of record batch ${b} has ${child.length} rows, the batch ${batch.numRows}`,
        );
      }
      checkData(child, `column "${fields[i].name}" of record batch ${b}`);
    }
  }
}

function checkData(d: Data, where: string): void {
  const fail = (what: string): never => {
    throw new Error(`${where}: ${what}`);
  };
  const { offset, length, type } = d;
  const end = offset + length;
  const typeId = type.typeId;
  if (typeId !== Type.Null && typeId !== Type.Union) {
    const bitmap = d.nullBitmap as Uint8Array | undefined;
    const bitmapBytes = bitmap?.length ?? 0;
    if (bitmapBytes > 0 && bitmapBytes * 8 < end) {
      fail(`validity bitmap holds ${bitmapBytes} bytes for ${end} values`);
    }
    if (bitmapBytes === 0 && d.nullCount > 0) {
      fail(`${d.nullCount} nulls declared without a validity bitmap`);
    }
  }
  const values = d.values as ArrayLike<unknown> | undefined;
  const valueCount = values?.length ?? 0;
  const checkOffsets = (childLength: number): void => {
    if (length === 0) return;
    const offsets = d.valueOffsets as ArrayLike<number | bigint> | undefined;
    if (!offsets || offsets.length < end + 1) {
      fail(`offsets hold ${offsets?.length ?? 0} entries for ${end} values`);
    }
    let previous = Number(offsets![offset]);
    if (previous < 0) fail("offsets are negative");
    for (let i = offset + 1; i <= end; i++) {
      const current = Number(offsets![i]);
      if (current < previous) fail(`offsets decrease at value ${i - 1}`);
      previous = current;
    }
    if (previous > childLength) {
      fail(`offsets reach ${previous}, past the ${childLength} values held`);
    }
  };
  switch (typeId) {
    case Type.Null:
      return;
    case Type.Bool:
      if (valueCount * 8 < end) fail(`values hold ${valueCount} bytes for ${end} booleans`);
      return;
    case Type.Int:
    case Type.Float:
    case Type.Decimal:
    case Type.Date:
    case Type.Time:
    case Type.Timestamp:
    case Type.Interval:
    case Type.Duration:
    case Type.FixedSizeBinary:
      if (valueCount < end * d.stride) {
        fail(`values hold ${valueCount} elements for ${end} values of stride ${d.stride}`);
      }
      return;
    case Type.Utf8:
    case Type.LargeUtf8:
      checkOffsets(valueCount);
      checkUtf8Strings(d, fail);
      return;
    case Type.Binary:
    case Type.LargeBinary:
      checkOffsets(valueCount);
      return;
    case Type.List:
    case Type.LargeList:
    case Type.Map: {
      const child = d.children[0];
      if (!child) fail("list has no child data");
      checkOffsets(child.length);
      checkData(child, `${where} (values)`);
      return;
    }
    case Type.FixedSizeList: {
      const child = d.children[0];
      const size = (type as FixedSizeList).listSize;
      if (!child) fail("list has no child data");
      if (child.length < end * size) {
        fail(`child holds ${child.length} values for ${end} lists of ${size}`);
      }
      checkData(child, `${where} (values)`);
      return;
    }
    case Type.Struct:
      if (d.children.length !== (type as Struct).children.length) {
        fail("struct children do not match its type");
      }
      for (const [i, child] of d.children.entries()) {
        if (child.length < end) fail(`struct field ${i} holds ${child.length} values for ${end}`);
        checkData(child, `${where}.${(type as Struct).children[i].name}`);
      }
      return;
    case Type.Dictionary: {
      // apache-arrow types the indices as at most 32 bits, yet reads 64-bit ones from IPC.
      if ((type as Dictionary).indices.bitWidth as number === 64) {
        throw new DecodeError(
          `arrowtable ${where} has 64-bit dictionary indices, which apache-arrow for JavaScript cannot read: ` +
            `write it with int32 indices (pyarrow's default)`,
        );
      }
      if (valueCount < end * d.stride) {
        fail(`indices hold ${valueCount} elements for ${end} values`);
      }
      const dictionary = d.dictionary;
      if (!dictionary) fail("dictionary batch is missing");
      for (const chunk of dictionary!.data) checkData(chunk as Data, `${where} (dictionary)`);
      checkDictionaryIndices(d, dictionary!.length, fail);
      return;
    }
    case Type.Union: {
      const typeIds = d.typeIds as ArrayLike<number> | undefined;
      if ((typeIds?.length ?? 0) < end) {
        fail(`type ids hold ${typeIds?.length ?? 0} entries for ${end} values`);
      }
      checkUnionMembers(d, fail);
      for (const child of d.children) checkData(child, `${where} (union member)`);
      return;
    }
    case Type.Utf8View:
    case Type.BinaryView:
      checkViews(d, typeId === Type.Utf8View, fail);
      return;
    default:
      for (const child of d.children) checkData(child, where);
  }
}

// apache-arrow reads what an index, type id, offset or view points at without
// a bounds check: a peer's corrupt table read back as nulls, "" or {}, or threw
// a TypeError when the application read it. The checks below are those of
// pyarrow's full validation, over the values that are not null.

/** Each index names an entry of the dictionary. */
function checkDictionaryIndices(d: Data, entries: number, fail: (what: string) => never): void {
  const indices = d.values as ArrayLike<number>; // 8 to 32 bits: 64-bit ones are refused before
  for (let i = 0; i < d.length; i++) {
    const index = indices[i];
    if (index >= 0 && index < entries) continue;
    if (!d.getValid(i)) continue;
    fail(index < 0 ? `dictionary index ${index} at value ${i} is negative` : `dictionary index ${index} at value ${i}, past the ${entries} entries of its dictionary`);
  }
}

/** Each type id is one of the union's, and (dense) each offset lies within its member. */
function checkUnionMembers(d: Data, fail: (what: string) => never): void {
  const type = d.type as Union;
  const typeIds = d.typeIds as ArrayLike<number>;
  const dense = type.mode === UnionMode.Dense;
  const offsets = d.valueOffsets as ArrayLike<number> | undefined;
  if (dense && (offsets?.length ?? 0) < d.length) fail(`union offsets hold ${offsets?.length ?? 0} entries for ${d.length} values`);
  if (!dense) {
    for (const [m, child] of d.children.entries()) {
      if (child.length < d.length) fail(`union member ${m} holds ${child.length} values for ${d.length}`);
    }
  }
  for (let i = 0; i < d.length; i++) {
    const member = type.typeIdToChildIndex[typeIds[i]];
    const child = member === undefined ? undefined : d.children[member];
    if (!child) fail(`union type id ${typeIds[i]} at value ${i}, not one of its types (${[...type.typeIds].join(", ")})`);
    if (!dense) continue;
    const at = offsets![i];
    if (at < 0) fail(`union offset ${at} at value ${i} is negative`);
    if (at >= child!.length) fail(`union offset ${at} at value ${i}, past the ${child!.length} values of member ${member}`);
  }
}

/**
 * Each string is UTF-8: apache-arrow reads others with U+FFFD in place of the
 * bytes. All of them at once, natively; then each string must start between
 * characters (two strings may split one, each then invalid). Only when that
 * fails are the strings looked at one by one, to name the first bad one that
 * is not null (a null slot's bytes do not count). Measured on 1M strings:
 * the first pass costs about 1 ms on Deno and Bun.
 */
function checkUtf8Strings(d: Data, fail: (what: string) => never): void {
  if (d.length === 0) return;
  const bytes = d.values as Uint8Array;
  const offsets = d.valueOffsets as Int32Array | BigInt64Array;
  const at = (i: number) => Number(offsets[i]);
  let whole = isValidUtf8(bytes.subarray(at(0), at(d.length)));
  // Each offset is where a string starts; a continuation byte there splits a character.
  for (let i = 0; whole && i < d.length; i++) whole = (bytes[at(i)] & 0xc0) !== 0x80;
  if (whole) return;
  for (let i = 0; i < d.length; i++) {
    if (d.getValid(i) && !isValidUtf8(bytes.subarray(at(i), at(i + 1)))) fail(`string at value ${i} is not valid UTF-8`);
  }
}

/** Each view's bytes lie inline or within one of the data buffers (and, for strings, are UTF-8). */
function checkViews(d: Data, utf8: boolean, fail: (what: string) => never): void {
  const VIEW_BYTES = 16;
  const INLINE_BYTES = 12;
  const views = d.values as Uint8Array | undefined;
  const held = views?.byteLength ?? 0;
  if (held < d.length * VIEW_BYTES) fail(`views hold ${held} bytes for ${d.length} values`);
  if (d.length === 0) return;
  const view = new DataView(views!.buffer, views!.byteOffset, held);
  const buffers = d.variadicBuffers;
  for (let i = 0; i < d.length; i++) {
    const size = view.getInt32(i * VIEW_BYTES, true);
    if (!d.getValid(i)) continue;
    if (size < 0) fail(`view at value ${i} has length ${size}`);
    let value: Uint8Array;
    if (size <= INLINE_BYTES) {
      if (!utf8) continue;
      value = views!.subarray(i * VIEW_BYTES + 4, i * VIEW_BYTES + 4 + size);
    } else {
      const buffer = view.getInt32(i * VIEW_BYTES + 8, true);
      const offset = view.getInt32(i * VIEW_BYTES + 12, true);
      if (buffer < 0 || buffer >= buffers.length) fail(`view at value ${i} names data buffer ${buffer}, of ${buffers.length}`);
      if (offset < 0 || offset + size > buffers[buffer].byteLength) {
        fail(`view at value ${i} reaches byte ${offset + size} of data buffer ${buffer}, which holds ${buffers[buffer].byteLength}`);
      }
      value = buffers[buffer].subarray(offset, offset + size);
    }
    if (utf8 && !isValidUtf8(value)) fail(`string at value ${i} is not valid UTF-8`);
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
