/**
 * What a `fetch` that failed without an answer (no HTTP status) may mean in
 * this runtime, beyond its own words. Outside browsers nothing: the error says
 * it ("ECONNREFUSED", "fetch failed" with its cause). The browser build swaps
 * in `fetch_failures_browser.ts`.
 *
 * @module
 */

/**
 * The hint to add to the message of a failed `fetch` of `url`: none here.
 *
 * @param _url What was fetched.
 * @returns `""`.
 *
 * @example
 * ```ts
 * import { fetchFailureHint } from "./fetch_failures.ts";
 * console.log(JSON.stringify(fetchFailureHint("http://127.0.0.1:8080/upload"))); // ""
 * ```
 */
export function fetchFailureHint(_url: string): string {
  return "";
}
