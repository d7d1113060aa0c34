/**
 * The one seam through which natsbridge opens NATS connections. Deno, Bun and
 * Node use `@nats-io/transport-node`'s transport (`@nats-io/transport-deno`
 * lives only on JSR, which a JSR build can swap in here); the browser build
 * replaces this file with `connect_browser.ts`, which uses `wsconnect`.
 *
 * The transport is the one `@nats-io/transport-node`'s `connect()` installs,
 * with one guard added: nats.js strips every listener from a socket it is done
 * with, so a read error already on its way to that socket is thrown as an
 * uncaught error. Deno reports the server's reset after an
 * "Authorization Violation" that way, which crashed an application on a wrong
 * password; a socket nats.js has let go of now keeps a listener that drops it
 * (the connection's own error was already reported). The TLS upgrade is
 * natsbridge's own ({@link secureSocket}), for the same reason: nats.js left
 * the new TLS socket without a listener, and a server's alert then ended the
 * process on Deno. And each connection
 * attempt the server ends as it is set up fails at once
 * ({@link watchAttempts}), instead of at nats.js's connect timeout.
 *
 * @module
 */
import {
  ConnectionError,
  hasWsProtocol,
  NatsConnectionImpl,
  ProtocolHandler,
  setTransportFactory,
} from "@nats-io/nats-core/internal";
import { readFileSync } from "node:fs";
import { OptionsError } from "../errors.ts";
import type { ConnectionOptions, NatsConnection } from "@nats-io/nats-core";
import { NodeTransport, nodeResolveHost } from "@nats-io/transport-node/lib/node_transport.js";
import { isWholeBuffer, releaseBuffer } from "./buffer_release.ts";
import { isOwnTransport, ownTransport, presizeIncomingMessages } from "./parser_buffers.ts";
import { keyMatchesCertificate } from "./tls_key_pair.ts";
import { type ConnectionAttempts, watchAttempts } from "./connection_attempts.ts";
import { secureSocket } from "./tls_socket.ts";

const ignore = () => {};

/**
 * Frames from this size up are freed once the socket has taken them. Only
 * nats.js's packing of a command and its payload into one fresh buffer makes
 * a frame this large: a payload never goes out as a frame of its own, and the
 * frames nats.js does reuse (PING, PONG) are a few bytes.
 */
const RELEASED_FRAME_BYTES = 16 * 1024;

/** Gives a socket nats.js left without an `error` listener one that drops what comes. */
function keepQuiet(socket: { listenerCount(event: string): number; on(event: string, f: () => void): unknown } | undefined) {
  if (socket && socket.listenerCount("error") === 0) socket.on("error", ignore);
}

const CLOSED_AS_TLS_BEGAN = "the server closed the connection as TLS began (as one whose max_connections is reached does)";

/** How long a TLS upgrade may go on unsettled once the socket under it closed (its own error comes first). */
const UPGRADE_AFTER_CLOSE_MS = 100;

/**
 * `upgrade()` (nats.js's `startTLS()`), failed soon after the plain socket
 * under it closes. A server over its `max_connections` sends INFO, an `-ERR`
 * saying so, and closes as the client starts TLS; the TLS socket did not
 * always settle then (Deno, Node), and nats.js waited out its connect timeout
 * (20 s) to say "timeout". The reason is the server's `-ERR` when it came
 * with the INFO, which nats.js keeps unread (`yields`); else it is said in
 * our words, not the TLS layer's ("wrong version number": the `-ERR` read as
 * TLS; "socket disconnected before secure TLS connection"; or no error).
 */
function upgradeUnlessClosed<T>(t: NodeTransport, upgrade: () => Promise<T>): Promise<T> {
  const plain = t.socket;
  const upgrading = upgrade();
  if (!plain) return upgrading;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = () => {};
  const closedUnder = new Promise<never>((_, reject) => {
    closed = () => {
      const reason = serverErrorIn(t.yields) ?? CLOSED_AS_TLS_BEGAN;
      timer = setTimeout(() => reject(new ConnectionError(reason)), UPGRADE_AFTER_CLOSE_MS);
    };
  });
  if (plain.destroyed) closed();
  else plain.once("close", closed);
  return Promise.race([upgrading, closedUnder]).catch((err) => {
    // The TLS layer's words ("socket disconnected before secure TLS connection", or
    // none at all) say less.
    const said = serverErrorIn(t.yields);
    if (said && !(err instanceof ConnectionError && err.message === said)) throw new ConnectionError(said, { cause: err });
    // Plain text where TLS was due is the -ERR the server sends before it closes.
    if (!err || /wrong[ _]version[ _]number|disconnected before secure TLS connection/i.test(String(err.message))) {
      throw new ConnectionError(CLOSED_AS_TLS_BEGAN, { cause: err });
    }
    throw err;
  }).finally(() => {
    clearTimeout(timer);
    plain.off("close", closed);
  });
}

/** The text of the first `-ERR` line in `frames`, without its quotes. */
function serverErrorIn(frames: readonly Uint8Array[]): string | undefined {
  for (const frame of frames) {
    const said = /^-ERR '?([^'\r\n]*)'?\r?$/m.exec(new TextDecoder().decode(frame));
    if (said) return said[1];
  }
  return undefined;
}

/**
 * A transport whose sockets, once let go, cannot raise uncaught errors, and
 * which, on a connection natsbridge opened (marked by {@link openConnection}), frees
 * each large frame as soon as it is written (`buffer_release.ts` says why: a
 * 1 GiB upload on Deno peaked 50 MiB lower) and each large read once parsed
 * (`parser_buffers.ts`).
 */
function guardedTransport(): NodeTransport {
  const t = new NodeTransport();
  const send = t._send.bind(t);
  t._send = (frame) => {
    const sent = send(frame);
    // All of its buffer: a frame that shares one with bytes still queued is not freed.
    if (frame.byteLength >= RELEASED_FRAME_BYTES && isOwnTransport(t) && isWholeBuffer(frame)) {
      sent.then(() => releaseBuffer(frame.buffer), ignore);
    }
    return sent;
  };
  const connect = t.connect.bind(t);
  const close = t.close.bind(t);
  const disconnect = t.disconnect.bind(t);
  let hostname = "";
  t.startTLS = () => upgradeUnlessClosed(t, () => secureSocket(t, hostname));
  t.tlsFirst = (hp) => secureSocket(t, hp.hostname, hp);
  t.connect = (hp, options) => {
    hostname = hp.hostname;
    return connect(hp, options).catch((err) => {
      keepQuiet(t.socket);
      throw err;
    });
  };
  // close() lets the socket go before its first await; disconnect() after a last flush.
  t.close = (err) => {
    const socket = t.socket;
    const closed = close(err);
    keepQuiet(socket);
    // nats.js closes only a transport that connected: the socket of an attempt
    // given up at the connect timeout (a server that never sent INFO) stayed
    // open, and kept the process from exiting for as long as the server did.
    if (!t.connected) socket?.destroy();
    return closed.finally(() => keepQuiet(socket));
  };
  t.disconnect = () => {
    const socket = t.socket;
    disconnect();
    keepQuiet(socket);
    void t.closed().finally(() => keepQuiet(socket));
  };
  return t;
}

/**
 * Refuses a client certificate and private key (nats.js's `tls.certFile` or
 * `tls.cert`, `tls.keyFile` or `tls.key`) that do not belong together, as a
 * misconfiguration: the TLS layer would fail each connect with words that do
 * not say so, as a CONNECTION_FAILED applications retry. A file that cannot
 * be read, or a key that cannot be read without its passphrase, is left to
 * nats.js and the TLS layer, as before.
 */
function checkClientKeyPair(tls: ConnectionOptions["tls"]): void {
  if (typeof tls !== "object" || tls === null) return;
  const { certFile, cert, keyFile, key } = tls as { certFile?: string; cert?: string; keyFile?: string; key?: string };
  const fileOr = (path: string | undefined, given: string | undefined) => {
    if (!path) return given;
    try {
      return readFileSync(path);
    } catch {
      return undefined;
    }
  };
  const certPem = fileOr(certFile, cert);
  const keyPem = fileOr(keyFile, key);
  if (!certPem || !keyPem || keyMatchesCertificate(certPem, keyPem) !== false) return;
  const keyName = keyFile ? `tls.keyFile "${keyFile}"` : "tls.key";
  const certName = certFile ? `tls.certFile "${certFile}"` : "tls.cert";
  throw new OptionsError(`connect_options: ${keyName} is not the private key of the client certificate in ${certName}`, {
    field: "connect_options.tls",
  });
}

/** What a `broker_url` looks like here, for messages. */
export const BROKER_URL_EXAMPLE = "nats://host:4222";

/**
 * Opens a NATS connection.
 *
 * @param options nats.js connection options (`servers`, auth, TLS, …).
 * @returns The connection.
 * @throws {OptionsError} A `ws://` server (this build dials NATS ports), or a
 *   client key that is not the private key of the client certificate.
 *
 * @example
 * ```ts ignore
 * import { openConnection } from "./connect.ts";
 * const nc = await openConnection({ servers: "nats://127.0.0.1:4222" });
 * await nc.close();
 * ```
 */
export async function openConnection(options: ConnectionOptions): Promise<NatsConnection> {
  if (hasWsProtocol(options)) {
    // A misconfiguration no retry can fix: not a CONNECTION_FAILED.
    throw new OptionsError(`broker_url: ws:// and wss:// need natsbridge's browser build; here, give the server's NATS port (${BROKER_URL_EXAMPLE})`, {
      field: "broker_url",
    });
  }
  checkClientKeyPair(options.tls);
  // Set on every call, as transport-node's connect() does: nats.js keeps one
  // factory per process, and an application may have installed its own since.
  setTransportFactory({ factory: guardedTransport, dnsResolveFn: nodeResolveHost });
  presizeIncomingMessages();
  // NatsConnectionImpl.connect(), with the protocol handler in hand before it
  // dials (the constructor that method calls is private only to TypeScript).
  const nc = new (NatsConnectionImpl as unknown as new (o: ConnectionOptions) => NatsConnectionImpl)(options);
  const protocol = new ProtocolHandler(nc.options, nc);
  // Each attempt's transport is natsbridge's own: nats.js keeps one transport
  // factory per process, so an application's connection that reconnects after
  // natsbridge opened one gets a guardedTransport too, whose frames and reads
  // only natsbridge's own may have freed.
  watchAttempts(protocol as unknown as ConnectionAttempts, ownTransport);
  await protocol.dialLoop();
  nc.protocol = protocol;
  return nc;
}
