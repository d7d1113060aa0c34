/**
 * Streamed request bodies on servers. Browsers swap this module for
 * `request_streams_browser.ts`.
 *
 * @module
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import process from "node:process";

/**
 * Whether `fetch` may send a `ReadableStream` request body to a file server
 * that speaks HTTP/1.1, as Plik does: `true` here. Deno, Bun and Node send it
 * chunked; browsers do not (Chromium streams request bodies only over HTTP/2
 * or QUIC, Firefox and Safari not at all).
 *
 * @example
 * ```ts
 * import { CAN_STREAM_REQUEST_BODY } from "./request_streams.ts";
 * console.log(CAN_STREAM_REQUEST_BODY); // true
 * ```
 */
export const CAN_STREAM_REQUEST_BODY: boolean = true;

// Node's fetch (undici) keeps every chunk of a streamed request body until the
// request ends (nodejs/undici#4058): an 800 MB file took 900 MB of memory. Its
// node:http waits for the socket to drain instead (85 MB for 400 MB here). The
// fetch of Deno and Bun streams within bounded memory.
const useNodeHttp = typeof process?.versions?.node === "string" &&
  !("Deno" in globalThis) && typeof process.versions.bun !== "string";

/**
 * POSTs a streamed body and reads the answer as text, within bounded memory
 * on every runtime.
 *
 * @param url Where to.
 * @param headers Request headers.
 * @param body The body, sent chunked.
 * @param signal Cancels the request.
 * @returns The status and the answer's text.
 * @throws {Error} When the server cannot be reached or the body fails.
 *
 * @example
 * ```ts ignore
 * import { postStreamedBody } from "./request_streams.ts";
 * const { status, text } = await postStreamedBody("http://127.0.0.1:8080/file/u", {}, new Blob(["hi"]).stream(), AbortSignal.timeout(5000));
 * ```
 */
export async function postStreamedBody(
  url: string,
  headers: Record<string, string>,
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal,
): Promise<{ status: number; text: string }> {
  if (!useNodeHttp) {
    const res = await fetch(url, { method: "POST", headers, body, duplex: "half", signal } as RequestInit);
    return { status: res.status, text: await res.text() };
  }
  const target = new URL(url);
  const req = (target.protocol === "https:" ? httpsRequest : httpRequest)(target, { method: "POST", headers, signal });
  let answered = false;
  const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
    req.once("error", (err) => answered || reject(err));
    req.once("response", (res) => {
      answered = true;
      let text = "";
      const done = () => resolve({ status: res.statusCode ?? 0, text });
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      // Cut off by the server closing (see below): what came is the answer.
      res.once("error", done);
      res.once("close", done);
      res.once("end", done);
    });
  });
  answer.catch(() => {}); // awaited below, after the body is sent
  try {
    await pipeline(Readable.fromWeb(body as import("node:stream/web").ReadableStream<Uint8Array>), req);
  } catch (err) {
    // A server that refuses a body part-way (too large, not allowed) answers
    // and closes: its answer says why, the broken pipe it leaves does not.
    if (!answered) throw err;
  }
  return await answer;
}
