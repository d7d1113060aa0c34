/**
 * Whether `fetch` may send a `ReadableStream` request body to a file server
 * that speaks HTTP/1.1, as Plik does. Deno, Bun and Node send it chunked;
 * browsers do not: Chromium streams request bodies only over HTTP/2 or QUIC
 * (over HTTP/1.1 the request fails with ERR_ALPN_NEGOTIATION_FAILED), Firefox
 * and Safari not at all. The browser build swaps this module for
 * `request_streams_browser.ts`.
 *
 * @module
 */

/**
 * `true` here: uploads stream their bodies, so memory stays bounded.
 *
 * @example
 * ```ts
 * import { CAN_STREAM_REQUEST_BODY } from "./request_streams.ts";
 * console.log(CAN_STREAM_REQUEST_BODY); // true
 * ```
 */
export const CAN_STREAM_REQUEST_BODY: boolean = true;
