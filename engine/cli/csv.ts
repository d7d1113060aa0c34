/**
 * CSV (RFC 4180) to row objects for `send --table file.csv`: a header line,
 * quoted fields with `""` escapes and line breaks, CRLF or LF. Each column gets
 * one type, inferred from all its cells: numbers when every non-empty cell is a
 * number, booleans when every non-empty cell is `true`/`false`, else strings;
 * an empty cell is `null`.
 *
 * @module
 */

/** A CSV file that cannot be read as a table. */
export class CsvError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is wrong, with the line number.
   */
  constructor(message: string) {
    super(message);
    this.name = "CsvError";
  }
}

/**
 * Splits CSV text into records of fields.
 *
 * @param text The file's text.
 * @returns Records (arrays of raw field strings), blank lines skipped, each with its line number.
 * @throws {CsvError} On an unterminated quoted field or a stray quote.
 */
export function csvRecords(text: string): { line: number; fields: string[] }[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const records: { line: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let field = "";
  let line = 1;
  let start = 1;
  let i = 0;
  let quotedField = false;
  const endRecord = () => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0] === "" && !quotedField)) {
      records.push({ line: start, fields });
    }
    fields = [];
    field = "";
    quotedField = false;
  };
  while (i < text.length) {
    const c = text[i];
    if (c === '"' && field === "" && !quotedField) {
      quotedField = true;
      const open = line;
      i++;
      for (;;) {
        if (i >= text.length) throw new CsvError(`line ${open}: quoted field is never closed`);
        const q = text[i];
        if (q === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (q === "\n") line++;
        field += q;
        i++;
      }
      const next = text[i];
      if (next !== undefined && next !== "," && next !== "\n" && next !== "\r") {
        throw new CsvError(`line ${line}: unexpected character after a closing quote`);
      }
      continue;
    }
    if (c === ",") {
      fields.push(field);
      field = "";
      quotedField = false;
      i++;
    } else if (c === "\r" || c === "\n") {
      endRecord();
      i += c === "\r" && text[i + 1] === "\n" ? 2 : 1;
      line++;
      start = line;
    } else {
      if (c === '"') throw new CsvError(`line ${line}: quote inside an unquoted field`);
      field += c;
      i++;
    }
  }
  if (field !== "" || fields.length > 0 || quotedField) endRecord();
  return records;
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Parses CSV text into row objects keyed by the header's names.
 *
 * @param text The file's text.
 * @returns One object per data line.
 * @throws {CsvError} On a missing or duplicate header name, or a line with
 *   a different number of fields than the header.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCsv } from "./csv.ts";
 * assert.deepEqual(parseCsv("id,name\n1,Alice\n2,\n"), [{ id: 1, name: "Alice" }, { id: 2, name: null }]);
 * ```
 */
export function parseCsv(text: string): Record<string, unknown>[] {
  return parseCsvTable(text).rows;
}

/** How {@link parseCsvTable} reads a column whose every cell is an integer. */
export interface CsvOptions {
  /**
   * `"number"` (the default): as numbers, which JSON carries; a column with
   * an integer beyond 2^53 stays text. `"bigint"`: as bigints, which an Arrow
   * table holds as Int64, as pandas' `read_csv` would read it; exact up to
   * 2^63, beyond which the column stays text.
   */
  integers?: "number" | "bigint";
}

/**
 * {@link parseCsv}, with the header's names too: a file with a header and no
 * rows still names its columns.
 *
 * @param text The file's text.
 * @param options How integer columns are read.
 * @returns The column names, in order, and one object per data line.
 * @throws {CsvError} As {@link parseCsv}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCsvTable } from "./csv.ts";
 * assert.deepEqual(parseCsvTable("id,name\n"), { header: ["id", "name"], rows: [] });
 * assert.deepEqual(parseCsvTable("id\n7\n", { integers: "bigint" }).rows, [{ id: 7n }]);
 * ```
 */
export function parseCsvTable(
  text: string,
  options: CsvOptions = {},
): { header: string[]; rows: Record<string, unknown>[] } {
  const records = csvRecords(text);
  if (records.length === 0) throw new CsvError("the file is empty: a header line is needed");
  const header = records[0].fields.map((h) => h.trim());
  const seen = new Set<string>();
  for (const [i, h] of header.entries()) {
    if (h === "") throw new CsvError(`line ${records[0].line}: column ${i + 1} has no name`);
    if (seen.has(h)) {
      throw new CsvError(`line ${records[0].line}: column name "${h}" appears twice`);
    }
    seen.add(h);
  }
  const rows = records.slice(1);
  for (const r of rows) {
    if (r.fields.length !== header.length) {
      throw new CsvError(
        `line ${r.line}: ${r.fields.length} fields, the header has ${header.length}`,
      );
    }
  }
  const convert = header.map((_, col) => columnConverter(rows.map((r) => r.fields[col]), options.integers === "bigint"));
  return {
    header,
    rows: rows.map((r) => Object.fromEntries(header.map((h, col) => [h, convert[col](r.fields[col])]))),
  };
}

/** One converter per column, chosen from every cell of it. */
function columnConverter(cells: string[], bigints: boolean): (cell: string) => unknown {
  const filled = cells.filter((c) => c !== "");
  if (bigints && filled.length > 0 && filled.every((c) => isInt64(c.trim()))) {
    return (c) => (c === "" ? null : BigInt(c.trim()));
  }
  if (filled.length > 0 && filled.every((c) => isNumberAsWritten(c.trim()))) {
    return (c) => (c === "" ? null : Number(c));
  }
  if (filled.length > 0 && filled.every((c) => /^(true|false)$/i.test(c.trim()))) {
    return (c) => (c === "" ? null : c.trim().toLowerCase() === "true");
  }
  return (c) => (c === "" ? null : c);
}

/**
 * Whether a cell is a number that a double carries as written, digit for
 * digit. Not a code with leading zeros (a zip code "02134", "007"), and not a
 * number with more digits than a double keeps (an id beyond 2^53, also as
 * "9007199254740993.0"; "12345678901234567.5"; 1e400): as numbers these
 * arrived changed, so their column stays text. Stricter than what a received
 * JSON number must meet (`isExactAsDouble`): a CSV is written by people, and
 * nothing warned of the change.
 */
function isNumberAsWritten(cell: string): boolean {
  if (!NUMBER.test(cell) || /^[+-]?0\d/.test(cell)) return false;
  const n = Number(cell);
  return Number.isFinite(n) && decimalOf(cell) === decimalOf(String(n));
}

/** An integer as written (no leading zero, no exponent) that Int64 holds. */
function isInt64(cell: string): boolean {
  if (!/^[+-]?(0|[1-9]\d{0,18})$/.test(cell)) return false;
  const n = BigInt(cell);
  return n >= INT64_MIN && n <= INT64_MAX;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A decimal literal as significant digits and a power of ten ("1.50" and "15e-1" alike: "15e-1"). */
function decimalOf(literal: string): string {
  const [, int = "", frac = "", exp = "0"] = /^[+-]?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(literal)!;
  let digits = (int + frac).replace(/^0+/, "");
  let power = Number(exp) - frac.length;
  if (digits === "") return "0";
  const zeros = digits.length - digits.replace(/0+$/, "").length;
  digits = digits.slice(0, digits.length - zeros);
  power += zeros;
  return `${literal.startsWith("-") ? "-" : ""}${digits}e${power}`;
}
