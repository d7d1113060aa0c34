/**
 * Reads a file as a `ReadableStream` in fixed-size chunks, so a file of any
 * size can be uploaded without being held in memory. `node:fs/promises` is
 * common to Node, Bun and Deno; the browser build has no file paths and
 * replaces this file.
 *
 * @module
 */
import { open, stat } from "node:fs/promises";

/** Chunk size for file reads: large enough that per-chunk costs vanish. */
export const FILE_CHUNK = 1024 * 1024;

/**
 * Opens a file as a byte stream.
 *
 * @param path File path or `file:` URL.
 * @returns The stream, the file's size, and `close` for the handle (also
 *   called when the stream ends or is cancelled).
 *
 * @example
 * ```ts ignore
 * import { openFileStream } from "./file_source.ts";
 * const { stream, size } = await openFileStream("./video.mp4");
 * ```
 */
export async function openFileStream(
  path: string | URL,
): Promise<{ stream: ReadableStream<Uint8Array>; size: number; close: () => Promise<void> }> {
  // Looked at before it is opened: opening a FIFO waits for a writer, for
  // ever (and on Node and Bun in a pool thread every later file read queues
  // behind). Looked at again once open, in case it was replaced meanwhile.
  if (!(await stat(path)).isFile()) throw new Error(`${String(path)} is not a regular file`);
  const fh = await open(path, "r");
  let size: number;
  try {
    const st = await fh.stat();
    // A directory opens fine on Linux and fails only at the first read, inside the upload.
    if (!st.isFile()) throw new Error(`${String(path)} is not a regular file`);
    size = st.size;
  } catch (err) {
    await fh.close();
    throw err;
  }
  let closed = false;
  const close = async () => {
    if (!closed) {
      closed = true;
      await fh.close();
    }
  };
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const buf = new Uint8Array(FILE_CHUNK);
        const { bytesRead } = await fh.read(buf, 0, FILE_CHUNK, null);
        if (bytesRead === 0) {
          await close();
          controller.close();
        } else {
          controller.enqueue(bytesRead === FILE_CHUNK ? buf : buf.subarray(0, bytesRead));
        }
      } catch (err) {
        await close();
        controller.error(err);
      }
    },
    cancel: close,
  }, { highWaterMark: 1 });
  return { stream, size, close };
}
