/**
 * The allowed-origins rule for link downloads: a receiver fetches only from the
 * file servers it trusts, never from whatever URL a message names (SSRF).
 *
 * @module
 */
import { describe } from "./codecs/text.ts";
import { OptionsError, OriginRefusedError } from "./errors.ts";
import { clip, quoted } from "./printable.ts";

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
 * import { originOf } from "natsbridge";
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
 * Throws `INVALID_OPTION` unless `value` is a list of origins or URLs that
 * have one (a scheme and a host): anything else could never match a link, and
 * every link would then be refused for a reason the user did not cause.
 *
 * @param value The option as given.
 * @param name The option's name, for the error.
 * @returns The list.
 *
 * @example
 * ```ts
 * import { checkOrigins } from "./origins.ts";
 * console.log(checkOrigins(["http://127.0.0.1:8080"], "allowed_origins").length); // 1
 * ```
 */
export function checkOrigins(value: unknown, name: string): readonly string[] {
  if (!Array.isArray(value)) {
    throw new OptionsError(`${name} must be an array of origins like "http://host:8080", got ${describe(value)}`, {
      field: name,
    });
  }
  for (const o of value) {
    let host = "";
    try {
      host = typeof o === "string" ? new URL(o).host : "";
    } catch { /* reported below */ }
    if (host === "") {
      throw new OptionsError(`${name} ${JSON.stringify(o) ?? String(o)} is not an origin: give a scheme and a host, like "http://host:8080"`, {
        field: name,
      });
    }
  }
  return value;
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
  // What to do differs: a store object knows its own links; a web origin is trusted by name.
  const hint = origin === undefined ? "" : /^https?:/.test(origin)
    ? " (if you trust it: allowed_origins, or the CLI's --allow-origin)"
    : " (pass the store as the fileserver option, or the CLI's --store)";
  throw new OriginRefusedError(
    `Refused to fetch payload ${quoted(context.dataname ?? "")} from ${origin === undefined ? "an unparseable URL" : clip(origin, 120)}: ` +
      `origin not in the allowed file servers${hint}`,
    context,
  );
}
