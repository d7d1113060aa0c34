/**
 * `--out DIR`: received payloads as files. Binary types are written as they
 * are, `text` as `.txt`, `dictionary`/`jsontable` as `.json`, `arrowtable` as
 * `.arrow` (IPC stream). The file name comes from the dataname, which a peer
 * chose: path separators, control characters and leading dots are replaced,
 * so a payload can never be written outside DIR. An existing file is never
 * overwritten: `name_1.ext`, `name_2.ext`, … are used instead. Files are
 * written as `*.part` and renamed only when every payload of the message
 * arrived whole, so a failed message leaves no files behind.
 *
 * @module
 */
import { createWriteStream } from "node:fs";
import { lstat, mkdir, rename, rm, writeFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { serializeArrowTable } from "../codecs/arrow_table.ts";
import type { PayloadType } from "../types.ts";
import { jsonReplacer } from "./io.ts";
import { printable, UNPRINTABLE } from "../printable.ts";
import { UsageError } from "./exit_codes.ts";
import { isByteStream } from "../platform/buffer_release.ts";

const EXTENSIONS: Partial<Record<PayloadType, string>> = {
  text: ".txt",
  dictionary: ".json",
  jsontable: ".json",
  arrowtable: ".arrow",
};

/**
 * A safe file name for a payload.
 *
 * @param dataname The payload's name (untrusted).
 * @param type Its type, which decides the extension.
 * @returns A name without directory parts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileNameFor } from "./save.ts";
 * assert.equal(fileNameFor("../../etc/passwd", "binary"), "__.._etc_passwd");
 * assert.equal(fileNameFor("scores", "arrowtable"), "scores.arrow");
 * ```
 */
export function fileNameFor(dataname: string, type: PayloadType): string {
  const safe = dataname.replace(/[\/\\]/g, "_").replace(UNPRINTABLE, "_").replace(LONE_SURROGATE, "_").replace(/^\.+/, "_");
  let name = truncateUtf8(safe, MAX_NAME_BYTES);
  if (name === "") name = "payload";
  const ext = EXTENSIONS[type];
  if (ext && extname(name).toLowerCase() !== ext) name += ext;
  return name;
}

// Half of a UTF-16 pair without its other half. File names are UTF-8, so the
// runtimes write each as U+FFFD, and two names that differ only in them would
// be one file; the check that keeps names apart compares the strings.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

// File systems limit a name to 255 bytes (not characters); this leaves room
// for an extension, a "_N" to keep names apart, and ".part".
const MAX_NAME_BYTES = 200;

/** The longest prefix of `text` that is at most `max` bytes of UTF-8, whole characters only. */
function truncateUtf8(text: string, max: number): string {
  // encodeInto stops before a character that does not fit, and says how much of the text it took.
  return text.slice(0, new TextEncoder().encodeInto(text, new Uint8Array(max)).read);
}

/**
 * Makes the `--out` folder before anything is received: a path that is a
 * file (or under one) is a usage error now, not a message lost later.
 *
 * @param dir The `--out` value.
 * @param command For the error.
 * @throws {UsageError} When `dir` cannot be a folder.
 */
export async function prepareOutDir(dir: string, command: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why = code === "EEXIST" || code === "ENOTDIR" ? "is not a folder" : `cannot be made (${code ?? (err as Error).message})`;
    throw new UsageError(`--out ${printable(dir)} ${why}`, command);
  }
}

/**
 * Per folder and name, the suffix to try first: writers are made per message,
 * and each probing t.txt, t_1.txt, ... again made a long listen quadratic
 * (2,000 files of one name: 4,000 file system calls for each further message).
 * Only names met twice are remembered (unique ones would grow it for ever).
 */
const nextSuffix = new Map<string, number>();
const MAX_REMEMBERED_NAMES = 10_000;

/** Writes one message's payloads into a folder, all or nothing. */
export class PayloadWriter {
  readonly #dir: string;
  readonly #reserved = new Set<string>();
  #parts: { part: string; final: string }[] = [];

  /**
   * Creates a writer for one message.
   *
   * @param dir The `--out` folder (created if missing).
   */
  constructor(dir: string) {
    this.#dir = dir;
  }

  /**
   * Writes a decoded payload to a `.part` file.
   *
   * @param dataname Payload name.
   * @param type Payload type.
   * @param value Decoded value, or a `ReadableStream` of bytes (verified as it flows).
   * @returns The final path the file will have after {@link PayloadWriter.commit}.
   */
  async write(dataname: string, type: PayloadType, value: unknown): Promise<string> {
    await mkdir(this.#dir, { recursive: true });
    const final = await this.#freePath(fileNameFor(dataname, type));
    const part = `${final}.part`;
    this.#parts.push({ part, final });
    if (value instanceof ReadableStream) {
      await pipeToFile(value as ReadableStream<Uint8Array>, part);
    } else {
      // "wx": created here, never through a link planted since the name was chosen.
      await writeFile(part, bytesOf(type, value), { flag: "wx" });
    }
    return final;
  }

  /** Renames every `.part` file to its final name. */
  async commit(): Promise<void> {
    for (const { part, final } of this.#parts) await rename(part, final);
    this.#parts = [];
  }

  /** Deletes every `.part` file written so far. */
  async discard(): Promise<void> {
    await Promise.all(this.#parts.map(({ part }) => rm(part, { force: true })));
    this.#parts = [];
  }

  async #freePath(name: string): Promise<string> {
    const ext = extname(name);
    const base = ext && ext !== name ? name.slice(0, -ext.length) : name;
    const key = join(this.#dir, name);
    for (let i = nextSuffix.get(key) ?? 0;; i++) {
      const candidate = join(this.#dir, i === 0 ? name : `${base}_${i}${ext}`);
      // A payload's own .part file must not be another's final name, nor the reverse
      // (names "x.part" and "x"): the commit would rename one over the other.
      const part = `${candidate}.part`;
      if (this.#reserved.has(candidate) || this.#reserved.has(part)) continue;
      if (!(await exists(candidate)) && !(await exists(part))) {
        this.#reserved.add(candidate).add(part);
        if (i > 0) {
          // Only a hint: past the cap it starts afresh rather than grow.
          if (nextSuffix.size >= MAX_REMEMBERED_NAMES) nextSuffix.clear();
          nextSuffix.set(key, i + 1);
        }
        return candidate;
      }
    }
  }
}

/** Whether anything is at `path`, a symlink too (dangling or not): access() follows links. */
async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** The bytes a decoded value is saved as. */
function bytesOf(type: PayloadType, value: unknown): Uint8Array {
  switch (type) {
    case "text":
      return new TextEncoder().encode(value as string);
    case "dictionary":
    case "jsontable":
      return new TextEncoder().encode(`${JSON.stringify(value, jsonReplacer, 2)}\n`);
    case "arrowtable":
      return serializeArrowTable(value);
    default:
      return value as Uint8Array;
  }
}

/**
 * Bytes a byte stream is read into for writing. Two such buffers take turns,
 * one filling while the other is written.
 */
const WRITE_BUFFER_BYTES = 1024 * 1024;

/**
 * Writes a stream of bytes to `path`. A write that fails (a full disk)
 * cancels the stream, so its download stops, and rejects with the error.
 *
 * A byte stream (every payload stream natsbridge hands out) is read into
 * two buffers of this function's own, each refilled only once its write is
 * done. The download then frees each chunk once it is copied in
 * (`payload_stream.ts`), so a large save holds two buffers, not chunks
 * waiting for the garbage collector.
 *
 * @param stream The bytes.
 * @param path The file.
 * @param flags How it is opened: by default created, and never through a
 *   symlink planted since its name was chosen ("wx").
 * @returns When the file is closed.
 *
 * @example
 * ```ts ignore
 * import { pipeToFile } from "./save.ts";
 * await pipeToFile(new Blob(["hi"]).stream(), "/tmp/hi.txt");
 * ```
 */
export async function pipeToFile(stream: ReadableStream<Uint8Array>, path: string, flags = "wx"): Promise<void> {
  const file = createWriteStream(path, { flags });
  let failure: Error | undefined;
  const closed = new Promise<void>((resolve, reject) => {
    file.once("close", resolve);
    file.once("error", (err) => reject(failure = err));
  });
  // Awaited below; until then a write error must not count as unhandled.
  closed.catch(() => {});
  const byob = isByteStream(stream) ? stream.getReader({ mode: "byob" }) : undefined;
  const chunks = byob ? undefined : stream.getReader();
  const reader = byob ?? chunks!;
  try {
    if (byob) {
      const buffers = [new Uint8Array(WRITE_BUFFER_BYTES), new Uint8Array(WRITE_BUFFER_BYTES)];
      const writes: Promise<unknown>[] = [Promise.resolve(), Promise.resolve()];
      for (let i = 0;; i ^= 1) {
        // A buffer still being written must not be read into: the read takes its memory over.
        await writes[i];
        const { value, done } = await byob.read(buffers[i]);
        if (done) break;
        buffers[i] = new Uint8Array(value.buffer);
        // A file that failed fires "error", not the write's callback: whichever comes first.
        writes[i] = Promise.race([new Promise<void>((res, rej) => file.write(value, (e) => e ? rej(e) : res())), closed]);
        writes[i].catch(() => {});
      }
      await Promise.all(writes);
    } else {
      for (;;) {
        const { value, done } = await chunks!.read();
        if (done) break;
        // A stream that errored emits no "drain": wait for whichever comes first.
        if (!file.write(value)) await Promise.race([new Promise((r) => file.once("drain", r)), closed]);
        if (failure) throw failure;
      }
    }
  } catch (err) {
    await reader.cancel(err).catch(() => {});
    file.destroy();
    throw failure ?? err;
  } finally {
    reader.releaseLock();
    file.end();
  }
  await closed;
}
