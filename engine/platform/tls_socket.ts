/**
 * The TLS half of nats.js's Node transport (its `startTLS`, and `tlsFirst`
 * for `handshakeFirst`), rewritten so that the TLS socket is never without an
 * `error` listener.
 *
 * nats.js strips every listener from the socket once the handshake is done,
 * and adds its own only after its promise has settled. A TLS 1.3 server that
 * verifies clients checks the client certificate after that point, and sends
 * its alert then. Deno sometimes hands the alert over in the same read as the
 * handshake's end, in between, where it was thrown as an uncaught error that
 * ended the process (1 connect in 10 to such a server without a certificate;
 * a `try`/`catch` around the connect could not help). The listener kept here
 * drops it: the socket's close fails the connect, as it does on Node and Bun.
 *
 * @module
 */
import { connect as tlsConnect, type ConnectionOptions as TlsOptions, type TLSSocket } from "node:tls";
import { ConnectionError } from "@nats-io/nats-core/internal";
import type { NodeTransport } from "@nats-io/transport-node/lib/node_transport.js";

const ignore = () => {};

/**
 * Upgrades `t`'s socket to TLS or, given `first` (`handshakeFirst`), dials
 * `first` with TLS from the start, with the TLS options nats.js would use:
 * `t.options.tls` and the files it names, the server name nats.js chose, and
 * the certificate checked unless `rejectUnauthorized: false` says otherwise,
 * against `host` unless `t.options.tls` names another.
 *
 * @param t The transport whose connection this is.
 * @param host The server's host name or address, as dialled.
 * @param first The server to dial, for TLS from the first byte.
 * @returns The TLS socket, once its handshake is done.
 *
 * @example
 * ```ts ignore
 * import { NodeTransport } from "@nats-io/transport-node/lib/node_transport.js";
 * import { secureSocket } from "./tls_socket.ts";
 * const t = new NodeTransport();
 * t.startTLS = () => secureSocket(t, "127.0.0.1");
 * t.tlsFirst = (hp) => secureSocket(t, hp.hostname, hp);
 * ```
 */
export async function secureSocket(
  t: NodeTransport,
  host: string,
  first?: { hostname: string; port: number },
): Promise<TLSSocket> {
  // The host the certificate is checked against: without it Node and Deno
  // checked "localhost", and refused a certificate naming only the server's
  // IP address. (nats.js sends no server name for an IP address.)
  let options: TlsOptions = { host, servername: t.tlsName, rejectUnauthorized: true };
  if (t.socket) options.socket = t.socket;
  if (typeof t.options.tls === "object" && t.options.tls !== null) {
    try {
      // The certificate, key and CA as given, or read from the files named (nats.js's own reading).
      const loaded = (await t.loadClientCerts() ?? {}) as TlsOptions;
      options = { ...options, ...t.options.tls as TlsOptions, ...loaded };
    } catch (err) {
      throw new ConnectionError((err as Error).message, { cause: err });
    }
  }
  return await new Promise<TLSSocket>((resolve, reject) => {
    let socket: TLSSocket;
    try {
      socket = first ? tlsConnect(first.port, first.hostname, options) : tlsConnect(options);
    } catch (err) {
      // Some certificate options are refused at once, by a throw.
      return reject(new ConnectionError((err as Error).message, { cause: err }));
    }
    let failure: unknown;
    const failed = (err: unknown) => (failure = err);
    const closed = () => reject(failure);
    socket.on("error", failed);
    socket.once("close", closed);
    socket.once("secureConnect", () => {
      if (options.rejectUnauthorized !== false && !socket.authorized) {
        socket.destroy(socket.authorizationError); // its error, then its close, reject
        return;
      }
      socket.off("error", failed);
      socket.off("close", closed);
      socket.on("error", ignore); // until nats.js adds its own, and after: see the module's doc
      resolve(socket);
    });
    if (first) socket.setNoDelay(true);
  });
}
