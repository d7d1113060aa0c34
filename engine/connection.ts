/**
 * Connection handling for one-off calls: use the caller's connection, or open
 * one for the call and close it after, turning failures into typed errors.
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { TransportError } from "./errors.ts";
import { openConnection } from "./platform/connect.ts";

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
  return brokerUrl.split(",").map((s) => s.trim()).filter(Boolean);
}

/**
 * Opens a connection to `brokerUrl`, as a {@link TransportError} on failure.
 *
 * @param brokerUrl NATS URL(s).
 * @param correlationId For the error.
 * @returns The connection.
 *
 * @example
 * ```ts ignore
 * import { connectTo } from "./connection.ts";
 * const nc = await connectTo("nats://127.0.0.1:4222", "");
 * ```
 */
export async function connectTo(brokerUrl: string, correlationId: string): Promise<NatsConnection> {
  try {
    return await openConnection({ servers: serversOf(brokerUrl), name: "natsbridge" });
  } catch (err) {
    throw new TransportError("CONNECTION_FAILED", `Cannot connect to NATS at ${redact(brokerUrl)}: ${(err as Error).message}`, {
      correlationId,
      cause: err,
    });
  }
}

/**
 * Runs `fn` on `nc`, or on a connection opened to `brokerUrl` for the call and
 * drained afterwards.
 */
export async function withConnection<T>(
  nc: NatsConnection | undefined,
  brokerUrl: string,
  correlationId: string,
  fn: (nc: NatsConnection) => Promise<T>,
): Promise<T> {
  if (nc) return fn(nc);
  const own = await connectTo(brokerUrl, correlationId);
  try {
    return await fn(own);
  } finally {
    await own.drain().catch(() => own.close());
  }
}

/** Hides credentials in a URL before it goes into a message or a log. */
export function redact(url: string): string {
  return url.replace(/\/\/[^/@]*@/g, "//***@");
}
