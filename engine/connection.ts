/**
 * Connection handling for one-off calls: use the caller's connection, or open
 * one for the call and close it after, turning failures into typed errors.
 *
 * @module
 */
import type { ConnectOptions, NatsConnection } from "./nats_types.ts";
import { NatsBridgeError, OptionsError, TransportError, withContext } from "./errors.ts";
import { BROKER_URL_EXAMPLE, openConnection } from "./platform/connect.ts";
import { watchConnection } from "./publisher.ts";
import { settleWithin, untilAborted } from "./backoff.ts";

/**
 * Splits `broker_url` into nats.js `servers` (comma-separated URLs allowed).
 *
 * @param brokerUrl e.g. `"nats://a:4222,nats://b:4222"`.
 * @returns The server list.
 *
 * @example
 * ```ts
 * import { serversOf } from "./connection.ts";
 * console.log(serversOf("nats://a:4222, nats://b:4222")); // ["nats://a:4222", "nats://b:4222"]
 * ```
 */
export function serversOf(brokerUrl: string): string[] {
  // "alice:pw@host:4222" has no scheme: as a URL it would be of scheme "alice:".
  return listed(brokerUrl).map((s) => s.trim()).filter(Boolean).map((s) => s.includes("://") ? s : `nats://${s}`);
}

/**
 * The comma-separated servers of `brokerUrl`, a raw comma in credentials kept
 * inside its server ("nats://u:a,b@h" is one server, refused by connectTo):
 * split there, "nats://u:a" would be printed unmasked and "b" taken for a token.
 */
function listed(brokerUrl: string): string[] {
  const parts: string[] = [];
  for (const part of brokerUrl.split(",")) {
    const last = parts.length - 1;
    if (last >= 0 && part.includes("@") && !part.includes("://") && parts[last].includes("://") && !parts[last].includes("@")) {
      parts[last] += `,${part}`;
    } else {
      parts.push(part);
    }
  }
  return parts;
}

/**
 * Opens a connection to `brokerUrl`, as a {@link TransportError} on failure.
 *
 * @param brokerUrl NATS URL(s).
 * @param correlationId For the error.
 * @param options nats.js options (TLS, auth, reconnect); `servers` comes from `brokerUrl`.
 * @param signal Ends the wait (`ABORTED`): a server that takes the TCP
 *   connection but never answers would hold it for nats.js's whole connect
 *   timeout. A connection that opens after the abort is closed.
 * @returns The connection.
 *
 * @example
 * ```ts ignore
 * import { connectTo } from "./connection.ts";
 * const nc = await connectTo("nats://127.0.0.1:4222", "");
 * ```
 */
export async function connectTo(
  brokerUrl: string,
  correlationId: string,
  options: ConnectOptions = {},
  signal?: AbortSignal,
): Promise<NatsConnection> {
  // Not a server address at all: no connection attempt can help, and nats.js
  // would say "connection refused" or "Invalid URL" as if the server were down.
  const servers = serversOf(brokerUrl);
  // A raw "/", "?" or "#" in a password ends the URL's host part early: the
  // connection would go to a host made of the password's tail. A raw "%"
  // cannot be decoded at all, and a raw "," splits the server list.
  if (servers.some((s) => /[/?#,]/.test(userInfoOf(s)) || !decodable(userInfoOf(s)))) {
    throw new OptionsError(
      `broker_url credentials must be percent-encoded ("/" as %2F, "?" as %3F, "#" as %23, "," as %2C, "%" as %25), got "${redact(brokerUrl)}"`,
      { field: "broker_url", correlationId },
    );
  }
  if (servers.length === 0 || !servers.every((s) => URL.canParse(s))) {
    throw new OptionsError(`broker_url must be NATS URL(s) like "${BROKER_URL_EXAMPLE}", got "${redact(brokerUrl)}"`, {
      field: "broker_url",
      correlationId,
    });
  }
  let nc: NatsConnection;
  const opening = openConnection({
    name: "natsbridge",
    // Keep reconnecting (nats.js waits reconnectTimeWait, with jitter, between
    // attempts) rather than giving up after 10 tries and closing for good.
    maxReconnectAttempts: -1,
    ...credentialsOf(brokerUrl),
    ...options,
    servers: serversOf(brokerUrl).map(redactless),
  });
  try {
    nc = await untilAborted(opening, signal, `Connecting to NATS at ${redact(brokerUrl)}`, correlationId);
  } catch (err) {
    if (signal?.aborted) opening.then((late) => late.close(), () => {}).catch(() => {});
    if (err instanceof NatsBridgeError) throw withContext(err, { correlationId }, (m, o) => new OptionsError(m, o));
    const e = err as Error & { code?: string };
    // A browser gives no reason for a WebSocket that failed (wsconnect's error
    // has an empty message), Deno and Bun little more ("failed to connect to
    // WebSocket"): say what to check.
    const webSocket = servers.every((s) => /^wss?:/i.test(s)) && (!e.message || /websocket/i.test(e.message));
    const why = webSocket
      ? `${e.message || "the WebSocket did not open (a browser gives no reason)"}: is it nats-server's websocket listener, and up? ws:// for one with no_tls, wss:// for one with TLS`
      // Some transports fail with an empty message: say at least what failed.
      : e.message || e.code || e.name || String(err);
    // Refused credentials are no outage: as CONNECTION_FAILED, the code
    // applications retry on, a wrong password was retried for ever.
    if (/authorization violation|authentication expired/i.test(why)) {
      throw new TransportError(
        "PERMISSION_DENIED",
        `Cannot connect to NATS at ${redact(brokerUrl)}: the server refused these credentials (${why}); check the user and password, token, NKey or creds`,
        { correlationId, cause: err },
      );
    }
    // A server that verifies clients ends a TLS 1.3 handshake without one only
    // after the client took it as done: the client's CONNECT then meets a
    // closed socket (connect.ts fails the attempt there), and all it says is
    // "EPIPE", "ECONNRESET", "EPERM" (Deno) or "EBADF" (Bun); "timeout" from a
    // transport connect.ts does not watch. A client certificate the server
    // does not trust fails the same way, or (Node) as "alert unknown ca".
    const tls = options.tls as { certFile?: string; cert?: unknown } | undefined;
    const usesTls = tls !== undefined || servers.some((s) => /^tls:/i.test(s));
    // TLS first (handshakeFirst), the alert itself shows, spelt "certificate
    // required" (Node), "CertificateRequired" (Deno) or "..._CERTIFICATE_REQUIRED" (Bun);
    // or, as often on Deno, the socket closes with no error at all, which
    // nats.js words "node provided an undefined error".
    const endedHandshake =
      /^timeout$|\bE(PIPE|PERM|BADF|CONNRESET)\b|certificate[ _]?required|unknown[ _]?ca\b|bad[ _]?certificate|undefined error/i
        .test(why);
    const hint = /altnames|Hostname\/IP does not match|NotValidForName/i.test(why)
      ? " (the server's certificate does not name the host connected to: connect by a name or address it lists)"
      : /unable to verify|unable to get (local )?issuer|self[- ]signed certificate|UnknownIssuer|certificate has expired|CertExpired/i.test(why)
      // Deno says an expired certificate in the same words.
      ? " (the server's certificate is not signed by a CA this process trusts, or has expired: give its CA as tls.caFile; on the command line --tls-ca or NATS_CA; or NODE_EXTRA_CA_CERTS)"
      : !endedHandshake
      ? ""
      : usesTls && !tls?.certFile && !tls?.cert
      ? " (a server that requires a client certificate fails this way: give tls.certFile and tls.keyFile, on the command line --tls-cert and --tls-key)"
      : usesTls
      ? " (a server that verifies clients fails this way when it does not trust this client certificate: it must be signed by a CA in the server's ca_file)"
      // Without TLS, the server's -ERR went before the close; on Node 20 the
      // CONNECT sometimes meets the closed socket before that -ERR is read.
      : /\bE(PIPE|CONNRESET)\b/.test(why)
      ? " (the server ended the connection as it was set up, before its reason could be read: a server whose max_connections is reached does this)"
      : "";
    throw new TransportError("CONNECTION_FAILED", `Cannot connect to NATS at ${redact(brokerUrl)}: ${why}${hint}`, {
      correlationId,
      cause: err,
    });
  }
  // Just opened, so known to be up: its first send need not check with a round trip.
  watchConnection(nc, true);
  return nc;
}

/**
 * Milliseconds a drain may take before the connection is closed instead. A
 * drain waits for the server to answer, and nats.js gives it no timeout: a
 * server that hangs with its socket open would hold a close until the
 * stale-connection check, minutes later. On a server that answers, a drain
 * takes a few round trips.
 *
 * @example
 * ```ts ignore
 * import { DRAIN_TIMEOUT } from "./connection.ts";
 * console.log(DRAIN_TIMEOUT); // 10000
 * ```
 */
export const DRAIN_TIMEOUT = 10_000;

/**
 * Drains `nc` (what was published reaches the server, subscriptions end), or
 * closes it once `ms` have passed or the drain failed.
 *
 * @param nc The connection.
 * @param ms Longest wait for the drain.
 *
 * @example
 * ```ts ignore
 * import { drainWithin } from "./connection.ts";
 * await drainWithin(nc, 2_000);
 * ```
 */
export async function drainWithin(nc: NatsConnection, ms: number = DRAIN_TIMEOUT): Promise<void> {
  try {
    await settleWithin(nc.drain(), ms, () => new Error(`drain took over ${ms} ms`));
  } catch {
    await nc.close().catch(() => {});
  }
}

/**
 * Runs `fn` on `nc`, or on a connection opened to `brokerUrl` for the call and
 * drained afterwards (closed after `drainTimeout` ms if the drain hangs);
 * `signal` ends the wait for that connection.
 */
export async function withConnection<T>(
  nc: NatsConnection | undefined,
  brokerUrl: string,
  correlationId: string,
  fn: (nc: NatsConnection) => Promise<T>,
  options?: ConnectOptions,
  drainTimeout: number = DRAIN_TIMEOUT,
  signal?: AbortSignal,
): Promise<T> {
  if (nc) return fn(nc);
  const own = await connectTo(brokerUrl, correlationId, options, signal);
  try {
    return await fn(own);
  } finally {
    await drainWithin(own, drainTimeout);
  }
}

/**
 * Credentials written into broker URLs (`nats://user:pass@host`, `nats://token@host`),
 * as nats.js options: nats.js itself does not read them from `servers`.
 *
 * @param brokerUrl NATS URL(s).
 * @returns `{ user, pass }`, `{ token }` or `{}`.
 *
 * @example
 * ```ts
 * import { credentialsOf } from "./connection.ts";
 * console.log(credentialsOf("nats://alice:pw@127.0.0.1:4222")); // { user: "alice", pass: "pw" }
 * ```
 */
export function credentialsOf(brokerUrl: string): { user?: string; pass?: string; token?: string } {
  for (const server of serversOf(brokerUrl)) {
    let u: URL;
    try {
      u = new URL(server);
    } catch {
      continue;
    }
    const user = decodeURIComponent(u.username);
    const pass = decodeURIComponent(u.password);
    if (user && pass) return { user, pass };
    if (user) return { token: user };
  }
  return {};
}

/**
 * What stands between `//` and a server URL's last `@`: its credentials. The
 * last, as URL parsers take it, so a raw `@` in a password stays in them.
 */
function userInfoOf(server: string): string {
  // [^]: a newline or CR in a password (read from a file) is part of it too.
  return /\/\/([^]*)@/.exec(server)?.[1] ?? "";
}

/** Whether `text` is valid percent-encoding (`decodeURIComponent` throws on a raw `%`). */
function decodable(text: string): boolean {
  try {
    decodeURIComponent(text);
    return true;
  } catch {
    return false;
  }
}

/** The server URL without its credentials (they travel as options). */
function redactless(server: string): string {
  return server.replace(/\/\/[^]*@/, "//");
}

/**
 * Hides credentials in URLs before they go into a message or a log.
 *
 * @param url One URL or several, comma-separated.
 * @returns The same with any `user:pass@` or `token@` replaced by `***@`.
 *
 * @example
 * ```ts
 * import { redact } from "./connection.ts";
 * console.log(redact("nats://alice:pw@127.0.0.1:4222")); // "nats://***@127.0.0.1:4222"
 * console.log(redact("alice:pw@127.0.0.1:4222")); // "***@127.0.0.1:4222"
 * console.log(redact("nats://svc:p@ss@127.0.0.1:4222")); // "nats://***@127.0.0.1:4222"
 * ```
 */
export function redact(url: string): string {
  // Every send redacts its broker URL, nearly always the same one as the last.
  if (url === lastRedacted[0]) return lastRedacted[1];
  const out = redactNow(url);
  lastRedacted = [url, out];
  return out;
}
let lastRedacted: [string, string] = ["", ""];

function redactNow(url: string): string {
  // Each server, with a scheme ("nats://u:p@h") or without one ("u:p@h").
  // Up to the last "@": a raw "@" in a password is part of it, for the URL
  // parser too; so are newlines and CRs, which the URL parser drops ([^]).
  return listed(url).map((s) => s.includes("://") ? s.replace(/\/\/[^]*@/, "//***@") : s.replace(/^(\s*)[^]*@/, "$1***@")).join(",");
}
