/**
 * Browser version of `fetch_failures.ts`. A browser reports a response its
 * CORS rules keep from the page with the same bare `TypeError` as a server it
 * cannot reach ("Failed to fetch", "NetworkError when attempting to fetch
 * resource", "Load failed"), and says which it was only in its console. A
 * file server on another origin that sends no CORS headers (Plik and
 * `plik_compat` send none) failed as "Cannot reach the Plik server", and
 * users looked for an outage.
 *
 * @module
 */

/**
 * The hint to add to the message of a failed `fetch` of `url` from a page:
 * the CORS refusal it may be, when `url` is on another origin than the page.
 *
 * @param url What was fetched.
 * @returns The hint, with a leading space, or `""` for the page's own origin.
 *
 * @example
 * ```ts
 * import { fetchFailureHint } from "./fetch_failures_browser.ts";
 * console.log(fetchFailureHint("http://127.0.0.1:8080/upload").startsWith(" (in a browser")); // true
 * ```
 */
export function fetchFailureHint(url: string): string {
  const page = (globalThis as { location?: { origin?: string } }).location?.origin;
  if (page !== undefined && URL.parse(url)?.origin === page) return "";
  return " (in a browser, a file server on another origin that sends no CORS headers for this page fails this way too: the browser's console says which)";
}
