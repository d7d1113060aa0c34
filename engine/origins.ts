/**
 * The allowed-origins rule for link downloads: a receiver fetches only from the
 * file servers it trusts, never from whatever URL a message names (SSRF).
 *
 * @module
 */
import { OriginRefusedError } from "./errors.ts";

/**
 * The origin of a URL as `scheme://host[:port]`, lowercased, default ports
 * dropped. Unlike `URL.origin` this also works for non-HTTP schemes such as
 * `nats-obj://bucket/…`, whose `URL.origin` is `"null"`.
 *
 * @param url An absolute URL.
 * @returns Its origin, or `undefined` if `url` does not parse.
 *
 * @example
 * ```ts
 * import { originOf } from "./origins.ts";
 * console.log(originOf("HTTP://Files.example:80/file/a/b/c")); // "http://files.example"
 * console.log(originOf("nats-obj://payloads/abc")); // "nats-obj://payloads"
 * ```
 */
export function originOf(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  return `${u.protocol}//${u.host}`.toLowerCase();
}

/**
 * Throws {@link OriginRefusedError} unless `url`'s origin is in `allowed`.
 * Nothing is fetched either way.
 *
 * @param url The link from a payload.
 * @param allowed Origins or URLs whose origin is trusted.
 * @param context Correlation id and payload name for the error.
 *
 * @example
 * ```ts
 * import { assertAllowedOrigin } from "./origins.ts";
 * assertAllowedOrigin("http://127.0.0.1:8080/file/a/b/c", ["http://127.0.0.1:8080"], { correlationId: "c" });
 * ```
 */
export function assertAllowedOrigin(
  url: string,
  allowed: Iterable<string>,
  context: { correlationId: string; dataname?: string },
): void {
  const origin = originOf(url);
  if (origin !== undefined) {
    for (const a of allowed) if (originOf(a) === origin) return;
  }
  throw new OriginRefusedError(
    `Refused to fetch payload "${context.dataname ?? ""}" from ${origin ?? "an unparseable URL"}: ` +
      `origin not in the allowed file servers`,
    context,
  );
}
