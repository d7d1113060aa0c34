/**
 * Decoders for compressed Arrow IPC record batches. pyarrow's `write_feather` compresses
 * with LZ4 (frame format) by default and ZSTD on request, and apache-arrow JS decodes
 * neither until a codec is put in its `compressionRegistry`. This module puts one there
 * for each: decoders only, since natsbridge always sends uncompressed stream format.
 *
 * apache-arrow strips the 8-byte uncompressed-length prefix of each buffer itself (and
 * passes buffers marked "not compressed", length -1, through untouched); the codecs here
 * only see the compressed bytes. apache-arrow does not tell a codec the expected length,
 * so a short result is caught afterwards by the structural check in `arrow_table.ts`.
 *
 * - ZSTD: `fzstd`, used as is. It decodes single and concatenated frames, with or
 *   without a content size, and errors on truncation; it does not verify the optional
 *   XXH64 content checksum (Arrow's C++ writer never sets one).
 * - LZ4 frame: the block decoder of `lz4js`, inside a frame parser of our own. `lz4js`'s
 *   own `decompress()` reads the block-checksum field before the block instead of after
 *   it (so any frame with the B.Checksum flag decodes to garbage), misreads content
 *   sizes of 2 GiB and more, ignores the dictionary-id flag, and checks no bounds: a
 *   corrupt block size sends it through up to 2^31 iterations of garbage. Here every
 *   block is checked against the input and the frame's maximum block size before it is
 *   decoded, header, block and content checksums are verified when the frame has them,
 *   and the decoded length is compared with the frame's content size when present.
 *
 * @module
 */
import { compressionRegistry, CompressionType } from "apache-arrow";
import { Decompress as ZstdDecompress } from "fzstd";
// @ts-types="./lz4js.d.ts"
import lz4js from "lz4js";
import xxh32Module from "lz4js/xxh32.js";
import type { Lz4jsXxh32 } from "./lz4js.d.ts";
import { DecodeError, OptionsError } from "../errors.ts";

const xxh32 = (xxh32Module as Lz4jsXxh32).hash;

const LZ4_MAGIC = 0x184d2204;
/** Skippable frames: magic 0x184D2A50 to 0x184D2A5F, then a 4-byte length. */
const LZ4_SKIPPABLE_MASK = 0xfffffff0;
const LZ4_SKIPPABLE_MAGIC = 0x184d2a50;
const LZ4_MAX_BLOCK: Readonly<Record<number, number>> = {
  4: 0x10000,
  5: 0x40000,
  6: 0x100000,
  7: 0x400000,
};
/**
 * An LZ4 sequence is at least a token and a 2-byte offset; each further input byte can
 * add at most 255 bytes of match length. So one input byte never yields more than 255
 * output bytes, which bounds the buffer allocated for a frame without a content size.
 */
const LZ4_MAX_RATIO = 255;

interface Lz4Block {
  /** Offset of the block data in the input. */
  start: number;
  /** Size of the block data in the input. */
  size: number;
  compressed: boolean;
  /** Most bytes this block may decode to. */
  bound: number;
}

interface Lz4Frame {
  blocks: Lz4Block[];
  /** Declared decoded size, when the frame carries one. */
  contentSize?: number;
  /** Declared XXH32 of the decoded content, when the frame carries one. */
  contentChecksum?: number;
  /** Bytes to allocate for this frame's output. */
  bound: number;
}

function u32(src: Uint8Array, at: number): number {
  return (src[at] | (src[at + 1] << 8) | (src[at + 2] << 16) | (src[at + 3] << 24)) >>> 0;
}

/** Parses and checks the framing of one or more concatenated LZ4 frames, decoding nothing. */
function parseLz4Frames(src: Uint8Array): Lz4Frame[] {
  const frames: Lz4Frame[] = [];
  const n = src.length;
  let at = 0;
  const need = (bytes: number, what: string) => {
    if (n - at < bytes) {
      throw new DecodeError(
        `LZ4 frame is truncated: ${what} at byte ${at} needs ${bytes} bytes, ${n - at} remain`,
      );
    }
  };
  while (at < n) {
    need(4, "magic number");
    const magic = u32(src, at);
    if (((magic & LZ4_SKIPPABLE_MASK) >>> 0) === LZ4_SKIPPABLE_MAGIC) {
      need(8, "skippable frame header");
      const skip = u32(src, at + 4);
      at += 8;
      need(skip, "skippable frame");
      at += skip;
      continue;
    }
    if (magic !== LZ4_MAGIC) {
      throw new DecodeError(
        `LZ4 frame has a bad magic number 0x${magic.toString(16)} at byte ${at}`,
      );
    }
    at += 4;
    need(3, "frame descriptor");
    const descriptorStart = at;
    const flg = src[at++];
    const bd = src[at++];
    if (flg >> 6 !== 1) throw new DecodeError(`LZ4 frame has unsupported version ${flg >> 6}`);
    if ((flg & 0x02) !== 0 || (bd & 0x8f) !== 0) {
      throw new DecodeError("LZ4 frame descriptor has reserved bits set");
    }
    const maxBlock = LZ4_MAX_BLOCK[(bd >> 4) & 0x07];
    if (maxBlock === undefined) {
      throw new DecodeError(`LZ4 frame has an invalid block size id ${(bd >> 4) & 0x07}`);
    }
    const blockChecksums = (flg & 0x10) !== 0;
    const hasContentSize = (flg & 0x08) !== 0;
    const hasContentChecksum = (flg & 0x04) !== 0;
    if ((flg & 0x01) !== 0) {
      throw new DecodeError("LZ4 frame needs a dictionary, which Arrow IPC does not use");
    }
    let contentSize: number | undefined;
    if (hasContentSize) {
      need(9, "content size");
      const high = u32(src, at + 4);
      if (high >= 0x200000) throw new DecodeError("LZ4 frame declares an impossible content size");
      contentSize = high * 0x100000000 + u32(src, at);
      at += 8;
    }
    const headerChecksum = (xxh32(0, src, descriptorStart, at - descriptorStart) >>> 8) & 0xff;
    if (src[at] !== headerChecksum) throw new DecodeError("LZ4 frame header checksum mismatch");
    at += 1;

    const blocks: Lz4Block[] = [];
    let bound = 0;
    for (;;) {
      need(4, "block size");
      const word = u32(src, at);
      at += 4;
      if (word === 0) break; // EndMark
      const compressed = (word & 0x80000000) === 0;
      const size = word & 0x7fffffff;
      if (size > maxBlock) {
        throw new DecodeError(
          `LZ4 block at byte ${at - 4} is ${size} bytes, over the frame's ${maxBlock}-byte maximum`,
        );
      }
      need(size + (blockChecksums ? 4 : 0), "block");
      if (blockChecksums && xxh32(0, src, at, size) !== u32(src, at + size)) {
        throw new DecodeError(`LZ4 block checksum mismatch at byte ${at - 4}`);
      }
      const blockBound = compressed ? Math.min(maxBlock, size * LZ4_MAX_RATIO) : size;
      blocks.push({ start: at, size, compressed, bound: blockBound });
      bound += blockBound;
      at += size + (blockChecksums ? 4 : 0);
    }
    let contentChecksum: number | undefined;
    if (hasContentChecksum) {
      need(4, "content checksum");
      contentChecksum = u32(src, at);
      at += 4;
    }
    if (contentSize !== undefined) {
      if (contentSize > bound) {
        throw new DecodeError(
          `LZ4 frame declares ${contentSize} bytes but its blocks hold at most ${bound}`,
        );
      }
      bound = contentSize;
    }
    frames.push({ blocks, contentSize, contentChecksum, bound });
  }
  if (frames.length === 0) throw new DecodeError("LZ4 data holds no frame");
  return frames;
}

/**
 * Decodes LZ4 frame-format data (one or more concatenated frames) as Arrow's
 * `LZ4_FRAME` compression writes it.
 *
 * @param data The compressed bytes, without Arrow's 8-byte length prefix.
 * @returns The decoded bytes.
 * @throws {DecodeError} When the framing is invalid or truncated, a checksum the frame
 * carries does not match, or a block decodes to more than the frame allows.
 *
 * @example Decoding a frame written by lz4js
 * ```ts
 * import lz4js from "lz4js";
 * import { decompressLz4Frame } from "./arrow_compression.ts";
 *
 * const text = new TextEncoder().encode("arrow ".repeat(100));
 * const out = decompressLz4Frame(lz4js.compress(text));
 * if (new TextDecoder().decode(out) !== "arrow ".repeat(100)) throw new Error("mismatch");
 * ```
 */
export function decompressLz4Frame(data: Uint8Array): Uint8Array {
  const frames = parseLz4Frames(data);
  const total = frames.reduce((sum, f) => sum + f.bound, 0);
  checkDecompressedSize(total, "LZ4");
  spend(total);
  let out: Uint8Array;
  try {
    out = new Uint8Array(total);
  } catch (err) {
    throw new DecodeError(`LZ4 data would decode to ${total} bytes, more than can be allocated`, {
      cause: err,
    });
  }
  let end = 0;
  for (const frame of frames) {
    const frameStart = end;
    const frameLimit = frameStart + frame.bound;
    for (const block of frame.blocks) {
      if (!block.compressed) {
        if (end + block.size > frameLimit) {
          throw new DecodeError("LZ4 frame decodes to more than its content size");
        }
        out.set(data.subarray(block.start, block.start + block.size), end);
        end += block.size;
        continue;
      }
      // A view of exactly this block: a corrupt sequence that runs past the block reads
      // `undefined` (decoded as 0) instead of the next block's bytes. Linked blocks may
      // refer back into earlier blocks' output, which is why all go into one buffer.
      const next = lz4js.decompressBlock(
        data.subarray(block.start, block.start + block.size),
        out,
        0,
        block.size,
        end,
      );
      if (next - end > block.bound || next > frameLimit) {
        throw new DecodeError("LZ4 block decodes to more bytes than the frame allows");
      }
      end = next;
    }
    if (frame.contentSize !== undefined && end - frameStart !== frame.contentSize) {
      throw new DecodeError(
        `LZ4 frame declares ${frame.contentSize} bytes but decodes to ${end - frameStart}`,
      );
    }
    if (
      frame.contentChecksum !== undefined &&
      xxh32(0, out, frameStart, end - frameStart) !== frame.contentChecksum
    ) {
      throw new DecodeError("LZ4 frame content checksum mismatch");
    }
  }
  return end === out.length ? out : out.subarray(0, end);
}

/**
 * Decodes Zstandard data (one or more frames) as Arrow's `ZSTD` compression writes it.
 *
 * @param data The compressed bytes, without Arrow's 8-byte length prefix.
 * @returns The decoded bytes.
 * @throws {DecodeError} When the data is empty, truncated or not Zstandard.
 *
 * @example Empty input is an error, not an empty buffer
 * ```ts
 * import { DecodeError } from "../errors.ts";
 * import { decompressZstd } from "./arrow_compression.ts";
 *
 * try {
 *   decompressZstd(new Uint8Array(0));
 *   throw new Error("expected a DecodeError");
 * } catch (err) {
 *   if (!(err instanceof DecodeError)) throw err;
 * }
 * ```
 */
export function decompressZstd(data: Uint8Array): Uint8Array {
  // fzstd returns an empty array for empty input; Arrow never writes an empty frame.
  if (data.length === 0) throw new DecodeError("ZSTD data is empty");
  const frames = zstdFrames(data);
  // The first frame's declared size, when the data starts with it: refused before anything else.
  const declared = frames[0]?.at === 0 ? frames[0].contentSize : undefined;
  if (declared !== undefined) checkDecompressedSize(declared, "ZSTD");
  // fzstd allocates each frame's window as its header declares it, before a
  // byte is decoded: 10-byte frames declaring 1.875 GiB each (a 1.2 KB
  // message) took 15 GiB. Every frame's window is checked, and counted, first.
  // What is decoded is counted only beyond the windows: a frame's window is
  // its content's size when the encoder knew it (pyarrow's always does).
  let prepaid = 0;
  for (const [i, { window }] of frames.entries()) {
    if (window > maxDecompressed) {
      throw new DecodeError(`ZSTD frame ${i + 1} declares a window of ${window} bytes, over the cap of ${maxDecompressed} (setMaxArrowDecompressedBytes)`);
    }
    spend(window);
    prepaid += window;
  }
  // A frame need not declare its size, and a later frame's is never looked at:
  // the cap holds on what is written, block by block (a 49 KB bomb of
  // frames without one decoded to 1.5 GiB).
  const pieces: Uint8Array[] = [];
  let total = 0;
  try {
    const decoder = new ZstdDecompress((piece) => {
      const beyond = Math.max(0, total + piece.byteLength - prepaid) - Math.max(0, total - prepaid);
      total += piece.byteLength;
      checkDecompressedSize(total, "ZSTD");
      spend(beyond);
      pieces.push(piece.slice()); // fzstd reuses its window
    });
    decoder.push(data, true);
  } catch (err) {
    if (err instanceof DecodeError) throw err;
    throw new DecodeError(
      `ZSTD data is corrupt: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  if (pieces.length === 1) return pieces[0]; // slice() made it 8-byte aligned
  // One buffer, 8-byte aligned as apache-arrow needs to view Int64, Float64 and
  // timestamp columns in place.
  const out = new Uint8Array(total);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.byteLength;
  }
  return out;
}

/**
 * Default {@link setMaxArrowDecompressedBytes}: 1 GiB per received message's Arrow tables.
 *
 * @example Restoring the default after lowering the cap
 * ```ts
 * import { DEFAULT_MAX_ARROW_DECOMPRESSED_BYTES, setMaxArrowDecompressedBytes } from "natsbridge";
 * setMaxArrowDecompressedBytes(64 * 1024 * 1024);
 * setMaxArrowDecompressedBytes(DEFAULT_MAX_ARROW_DECOMPRESSED_BYTES);
 * ```
 */
export const DEFAULT_MAX_ARROW_DECOMPRESSED_BYTES = 1024 * 1024 * 1024;
let maxDecompressed = DEFAULT_MAX_ARROW_DECOMPRESSED_BYTES;

/**
 * Sets the largest size a table's compressed Arrow buffers may decode to, each
 * and all together, and, on receive, those of all the Arrow tables of one
 * message together (counted on what is written, not on sizes the data claims).
 * A peer's tables decoding to more (a decompression bomb) are a `DecodeError`
 * once they pass the cap, before more is allocated. Process-wide.
 *
 * @param bytes The cap.
 *
 * @example
 * ```ts
 * import { setMaxArrowDecompressedBytes } from "natsbridge";
 * setMaxArrowDecompressedBytes(256 * 1024 * 1024);
 * setMaxArrowDecompressedBytes(1024 * 1024 * 1024);
 * ```
 */
export function setMaxArrowDecompressedBytes(bytes: number): void {
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new OptionsError(`setMaxArrowDecompressedBytes takes a non-negative integer of bytes, got ${String(bytes)}`, {
      field: "bytes",
    });
  }
  maxDecompressed = bytes;
}

function checkDecompressedSize(size: number, codec: string): void {
  if (size > maxDecompressed) {
    throw new DecodeError(
      `${codec} data would decode to ${size} bytes, over the cap of ${maxDecompressed} (setMaxArrowDecompressedBytes)`,
    );
  }
}

/** Bytes the table being read may still decompress to; `undefined` outside {@link withDecompressionBudget}. */
let budget: number | undefined;
/** Whose budget that is, for the error: the table's own, or the message's it shares. */
let budgetOf = "the table's compressed buffers";

/** Counts `bytes` against the table's budget: many buffers each under the cap may not pass it together. */
function spend(bytes: number): void {
  if (budget === undefined) return;
  budget -= bytes;
  if (budget < 0) {
    throw new DecodeError(
      `${budgetOf} decode to more than the cap of ${maxDecompressed} bytes in total (setMaxArrowDecompressedBytes)`,
    );
  }
}

/**
 * What the Arrow tables of one received message may still decompress to,
 * together: many small tables each under the cap may not pass it together
 * (a 81 KB message of six ZSTD bombs held 2.3 GB).
 */
export interface DecompressionAllowance {
  /** Bytes left. */
  left: number;
}

/**
 * A fresh {@link DecompressionAllowance} of the whole cap, for one message.
 *
 * @returns The allowance.
 *
 * @example
 * ```ts
 * import { decompressionAllowance } from "./arrow_compression.ts";
 * console.log(decompressionAllowance().left); // 1073741824
 * ```
 */
export function decompressionAllowance(): DecompressionAllowance {
  return { left: maxDecompressed };
}

/**
 * Runs `read` (which reads one Arrow table, synchronously) with the cap of
 * {@link setMaxArrowDecompressedBytes} on all its compressed buffers
 * together, and on those of the other tables sharing `allowance`.
 *
 * @param read Reads the table.
 * @param allowance What the table's message may still decompress to; taken from as the table is read.
 * @returns What `read` returns.
 *
 * @example
 * ```ts
 * import { withDecompressionBudget } from "./arrow_compression.ts";
 * console.log(withDecompressionBudget(() => 42)); // 42
 * ```
 */
export function withDecompressionBudget<T>(read: () => T, allowance?: DecompressionAllowance): T {
  const outer = budget;
  const outerOf = budgetOf;
  const start = Math.min(maxDecompressed, allowance?.left ?? maxDecompressed);
  budget = start;
  budgetOf = allowance ? "the message's Arrow tables" : "the table's compressed buffers";
  try {
    return read();
  } finally {
    if (allowance) allowance.left = Math.max(0, allowance.left - (start - (budget ?? start)));
    budget = outer;
    budgetOf = outerOf;
  }
}

/** A Zstandard frame's header, as {@link zstdFrames} reads it. */
interface ZstdFrame {
  /** Where the frame starts in the data. */
  at: number;
  /** The window it declares: what a decoder allocates for it. */
  window: number;
  /** The content size it declares, if it does. */
  contentSize: number | undefined;
}

/**
 * The header of each Zstandard frame of `data`, walking frame and block
 * headers without decoding. Skippable frames are passed over; data that is
 * not frames stops the walk (the decoder then says it is corrupt).
 */
function zstdFrames(data: Uint8Array): ZstdFrame[] {
  const frames: ZstdFrame[] = [];
  let at = 0;
  const u32 = (i: number) => data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] * 2 ** 24);
  while (at + 4 <= data.length) {
    const magic = u32(at) >>> 0;
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      if (at + 8 > data.length) break;
      at += 8 + (u32(at + 4) >>> 0);
      continue;
    }
    if (magic !== 0xfd2fb528 || at + 5 > data.length) break;
    const fhd = data[at + 4];
    const single = (fhd >> 5) & 1;
    const fcsBytes = [single ? 1 : 0, 2, 4, 8][fhd >> 6];
    const dictBytes = [0, 1, 2, 4][fhd & 3];
    let p = at + 5;
    let window = 0;
    if (!single) {
      if (p >= data.length) break;
      const wd = data[p++];
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    p += dictBytes;
    if (p + fcsBytes > data.length) break;
    let contentSize: number | undefined;
    if (fcsBytes > 0) {
      let fcs = 0;
      for (let i = fcsBytes - 1; i >= 0; i--) fcs = fcs * 256 + data[p + i];
      contentSize = fcsBytes === 2 ? fcs + 256 : fcs;
    }
    // A single-segment frame's window is its content.
    if (single) window = contentSize!;
    p += fcsBytes;
    frames.push({ at, window, contentSize });
    // Blocks: a 3-byte header (last, type, size); an RLE block holds one byte.
    for (;;) {
      if (p + 3 > data.length) return frames;
      const h = data[p] | (data[p + 1] << 8) | (data[p + 2] << 16);
      p += 3 + (((h >> 1) & 3) === 1 ? 1 : h >> 3);
      if (h & 1) break;
    }
    at = p + ((fhd >> 2) & 1 ? 4 : 0);
  }
  return frames;
}

let registered = false;

/**
 * Registers the LZ4_FRAME and ZSTD decoders in apache-arrow's `compressionRegistry`, so
 * `tableFromIPC` and the record batch readers accept compressed IPC. Idempotent. A
 * decoder already registered for a compression type (an application's own, faster one)
 * is kept; an encoder already registered is kept beside ours.
 *
 * Called when `arrow_table.ts` is imported; call it yourself only when reading Arrow
 * IPC with apache-arrow directly without going through natsbridge's codec.
 *
 * @example Reading compressed IPC with apache-arrow directly
 * ```ts
 * import { compressionRegistry, CompressionType } from "apache-arrow";
 * import { registerArrowCompression } from "./arrow_compression.ts";
 *
 * registerArrowCompression();
 * registerArrowCompression(); // a second call changes nothing
 * if (!compressionRegistry.get(CompressionType.LZ4_FRAME)?.decode) throw new Error("not registered");
 * if (!compressionRegistry.get(CompressionType.ZSTD)?.decode) throw new Error("not registered");
 * ```
 */
export function registerArrowCompression(): void {
  if (registered) return;
  const decoders: Array<[CompressionType, (data: Uint8Array) => Uint8Array]> = [
    [CompressionType.LZ4_FRAME, decompressLz4Frame],
    [CompressionType.ZSTD, decompressZstd],
  ];
  for (const [type, decode] of decoders) {
    const existing = compressionRegistry.get(type);
    if (typeof existing?.decode === "function") continue;
    compressionRegistry.set(
      type,
      existing?.encode ? { encode: existing.encode, decode } : { decode },
    );
  }
  registered = true;
}
