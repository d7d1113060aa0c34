/**
 * The payload flags of `send` and `request` (`--text`, `--dict`, `--table`,
 * `--file`, each optionally preceded by `--name` and, for tables, `--as`)
 * turned into `smartsend` items, in command-line order.
 *
 * @module
 */
import { stat } from "node:fs/promises";
import { basename, extname } from "node:path";
import { Null, Table, vectorFromArray } from "apache-arrow";
import { deserializeArrowTable } from "../codecs/arrow_table.ts";
import { resolveSizeThreshold } from "../config.ts";
import type { PayloadType, SendItem } from "../types.ts";
import type { ParsedArgs } from "./args.ts";
import { CsvError, parseCsvTable } from "./csv.ts";
import { UsageError } from "./exit_codes.ts";
import { readUserFile, unreadableFile } from "./user_files.ts";

const FILE_TYPES: readonly PayloadType[] = ["image", "audio", "video", "binary"];
const TABLE_TYPES: readonly string[] = ["arrowtable", "jsontable"];

/**
 * Builds the items to send from the ordered option tokens.
 *
 * `--name N` names the payload flag that follows it; `--as T` sets the type of
 * the `--table` that follows it. Without `--name`, a payload read from a file
 * is named after it (`--file` the base name, `--table` and `--dict @file` the
 * base name without extension); `--text` and inline `--dict` are `text` and
 * `dict`. A default name already taken gets `_2`, `_3`, … (before a file's
 * extension); a `--name` already taken is a usage error.
 *
 * A `--file` at least `threshold` bytes large is passed as its path, so
 * `smartsend` streams it to the file store by link without reading it into
 * memory; a smaller one is read and goes in the message.
 *
 * @param tokens Option tokens in command-line order.
 * @param command `send` or `request`, for errors.
 * @param threshold `--threshold`, or `undefined` for `SIZE_THRESHOLD` / the default.
 * @returns The items.
 * @throws {UsageError} On an unreadable file, invalid JSON or CSV, a bad type, or a dangling `--name`/`--as`.
 */
export async function buildItems(
  tokens: ParsedArgs["tokens"],
  command: string,
  threshold: number | undefined,
): Promise<SendItem[]> {
  const items: SendItem[] = [];
  // Every payload gets its own name: receivers save and report payloads by name.
  const taken = new Set<string>();
  let name: string | undefined;
  let as: string | undefined;
  const nameFor = (fallback: string) => {
    let chosen = name;
    name = undefined;
    if (chosen !== undefined && taken.has(chosen)) {
      throw new UsageError(`--name "${chosen}" is already the name of another payload`, command);
    }
    if (chosen === undefined) {
      chosen = fallback;
      for (let n = 2; taken.has(chosen); n++) chosen = numbered(fallback, n);
    }
    taken.add(chosen);
    return chosen;
  };
  for (const { name: flag, value } of tokens) {
    const v = value ?? "";
    switch (flag) {
      case "name":
        if (name !== undefined) {
          throw new UsageError(`--name "${name}" is not followed by a payload flag`, command);
        }
        name = v;
        break;
      case "as":
        if (!TABLE_TYPES.includes(v)) {
          throw new UsageError(`--as must be arrowtable or jsontable, got "${v}"`, command);
        }
        as = v;
        break;
      case "text":
        items.push([nameFor("text"), v, "text"]);
        break;
      case "dict": {
        const fromFile = v.startsWith("@");
        const text = fromFile ? readText(v.slice(1), "--dict", command) : v;
        const value = parseJson(text, fromFile ? v.slice(1) : "--dict", command);
        if (value === null || typeof value !== "object") {
          throw new UsageError(
            `--dict must be a JSON object or array, got ${typeof value}`,
            command,
          );
        }
        items.push([nameFor(fromFile ? stem(v.slice(1)) : "dict"), value, "dictionary"]);
        break;
      }
      case "table":
        items.push(tableItem(v, nameFor(stem(v)), as, command));
        as = undefined;
        break;
      case "file":
        items.push(await fileItem(v, nameFor, threshold, command));
        break;
    }
  }
  if (name !== undefined) {
    throw new UsageError(`--name "${name}" is not followed by a payload flag`, command);
  }
  if (as !== undefined) throw new UsageError(`--as ${as} is not followed by a --table`, command);
  return items;
}

/** The `n`th name made from `base`: `text_2`, or `photo_2.png` for a file name. */
function numbered(base: string, n: number): string {
  const ext = extname(base);
  return ext && ext !== base ? `${base.slice(0, -ext.length)}_${n}${ext}` : `${base}_${n}`;
}

/** A file's base name without its extension. */
function stem(path: string): string {
  const b = basename(path);
  const e = extname(b);
  return e && e !== b ? b.slice(0, -e.length) : b;
}

function readText(path: string, flag: string, command: string): string {
  return new TextDecoder().decode(readUserFile(path, flag, command));
}

function parseJson(text: string, what: string, command: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${what} is not valid JSON: ${(err as Error).message}`, command);
  }
}

/** `--table`: `.arrow`/`.feather`/`.arrows`/`.ipc` → arrowtable; `.csv` → arrowtable; `.json` → jsontable. */
function tableItem(
  path: string,
  name: string,
  as: string | undefined,
  command: string,
): SendItem {
  const ext = extname(path).toLowerCase();
  if ([".arrow", ".arrows", ".feather", ".ipc"].includes(ext)) {
    if (as === "jsontable") {
      throw new UsageError(`--as jsontable is not supported for Arrow files (${path})`, command);
    }
    const bytes = readUserFile(path, "--table", command);
    try {
      return [name, deserializeArrowTable(bytes), "arrowtable"];
    } catch (err) {
      throw new UsageError(
        `--table ${path} is not a readable Arrow IPC file: ${(err as Error).message}`,
        command,
      );
    }
  }
  if (ext === ".csv") {
    try {
      const text = readText(path, "--table", command);
      const arrow = (as ?? "arrowtable") === "arrowtable";
      const { header, rows } = parseCsvTable(text, { integers: arrow ? "bigint" : "number" });
      if (rows.length === 0 && arrow) {
        // A header and no rows: the columns are kept, typed Null since no cell says more.
        const empty = new Table(Object.fromEntries(header.map((h) => [h, vectorFromArray([], new Null())])));
        return [name, empty, "arrowtable"];
      }
      return [name, rows, (as ?? "arrowtable") as PayloadType];
    } catch (err) {
      if (err instanceof CsvError) throw new UsageError(`--table ${path}: ${err.message}`, command);
      throw err;
    }
  }
  if (ext === ".json") {
    const rows = parseJson(readText(path, "--table", command), path, command);
    if (
      !Array.isArray(rows) ||
      rows.some((r) => r === null || typeof r !== "object" || Array.isArray(r))
    ) {
      throw new UsageError(`--table ${path} must hold a JSON array of row objects`, command);
    }
    return [name, rows, (as ?? "jsontable") as PayloadType];
  }
  throw new UsageError(`--table ${path}: expected a .arrow, .feather, .csv or .json file`, command);
}

/** `--file path[:type]`, the type one of image, audio, video, binary (default binary). */
async function fileItem(
  spec: string,
  nameFor: (fallback: string) => string,
  threshold: number | undefined,
  command: string,
): Promise<SendItem> {
  let path = spec;
  let type: PayloadType = "binary";
  const colon = spec.lastIndexOf(":");
  const suffix = colon > 0 ? spec.slice(colon + 1) : "";
  if ((FILE_TYPES as readonly string[]).includes(suffix)) {
    path = spec.slice(0, colon);
    type = suffix as PayloadType;
  }
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) {
      throw Object.assign(new Error("not a regular file"), { code: "not a regular file" });
    }
    size = s.size;
  } catch (err) {
    // "scores.csv:picture" where scores.csv exists: the type is what is wrong, not the file.
    if (path === spec && /^[a-z]+$/i.test(suffix) && await isFile(spec.slice(0, colon))) {
      const types = `${FILE_TYPES.slice(0, -1).join(", ")} or ${FILE_TYPES.at(-1)}`;
      throw new UsageError(
        `--file: "${suffix}" is not a type of --file (${types}); a table goes with --table`,
        command,
      );
    }
    throw unreadableFile(path, "--file", err, command);
  }
  const dataname = nameFor(basename(path));
  // At or above the threshold the path itself goes to smartsend, which streams it by link.
  if (size >= resolveSizeThreshold(threshold)) return [dataname, path, type];
  return [dataname, readUserFile(path, "--file", command), type];
}

/** Whether `path` is a regular file (false when it cannot be read at all). */
async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
