/**
 * One command's NATS connection, file store and logger, from the connection
 * flags: `--broker`, `--fileserver`, `--store plik|objectstore[:bucket]`,
 * `--ttl`, `--one-shot`, `--max-bytes`, `--verbose`, and those of a secured server
 * (`secured_connection.ts`).
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { Bridge } from "../bridge.ts";
import { readEnv, resolveBrokerUrl, resolveFileserverUrl } from "../config.ts";
import { connectTo, drainWithin, redact, serversOf } from "../connection.ts";
import { untilAborted } from "../backoff.ts";
import { checkOrigins } from "../origins.ts";
import { objectStoreFileServer } from "../handlers/object_store.ts";
import { plikFileServer } from "../handlers/plik.ts";
import { consoleLogger, type Logger, silentLogger } from "../logger.ts";
import type { FileServer } from "../types.ts";
import { type ParsedArgs, parseCount, parseLifetime, stringFlag } from "./args.ts";
import { UsageError } from "./exit_codes.ts";
import { securedConnectOptions } from "./secured_connection.ts";

/** What `--store` names. */
export interface StoreSpec {
  /** `plik` (HTTP file server) or `objectstore` (NATS JetStream Object Store). */
  kind: "plik" | "objectstore";
  /** Object Store bucket. */
  bucket?: string;
}

/**
 * Parses `--store`.
 *
 * @param value `plik`, `objectstore` or `objectstore:<bucket>`; `undefined` means plik.
 * @param command For errors.
 * @returns The spec.
 * @throws {UsageError} On anything else.
 */
export function parseStore(value: string | undefined, command: string): StoreSpec {
  if (value === undefined || value === "plik") return { kind: "plik" };
  const m = /^objectstore(?::([A-Za-z0-9_-]+))?$/.exec(value);
  if (m) return { kind: "objectstore", bucket: m[1] };
  throw new UsageError(
    `--store must be plik, objectstore or objectstore:<bucket>, got "${value}"`,
    command,
  );
}

/** An open connection and the defaults every call of the command uses. */
export interface Session {
  /** The connection (owned: {@link Session.close} drains it). */
  nc: NatsConnection;
  /** A bridge on `nc` with the session's defaults. */
  bridge: Bridge;
  /** The file store link payloads go to and come from. */
  store: FileServer;
  /** NATS URL(s). */
  brokerUrl: string;
  /** File-server URL (Plik). */
  fileserverUrl: string;
  /** Where engine log lines go (`--verbose`), else nowhere. */
  logger: Logger;
  /** Drains the connection. */
  close(): Promise<void>;
}

/**
 * Connects and sets up the store.
 *
 * @param command For errors.
 * @param values Parsed flags.
 * @param allowedOrigins Extra origins receivers accept (`--allow-origin`).
 * @param signal Ctrl-C/SIGTERM: ends the wait for a server that does not answer.
 * @returns The session.
 * @throws {TransportError} `CONNECTION_FAILED` when NATS cannot be reached.
 */
export async function openSession(
  command: string,
  values: ParsedArgs["values"],
  allowedOrigins: readonly string[] = [],
  signal?: AbortSignal,
): Promise<Session> {
  const spec = parseStore(stringFlag(values, "store"), command);
  const ttlText = stringFlag(values, "ttl");
  const lifetime = ttlText === undefined ? undefined : parseLifetime(ttlText, "ttl", command);
  const oneShot = values["one-shot"] === true;
  if (oneShot && spec.kind !== "plik") {
    throw new UsageError("--one-shot applies to --store plik only", command);
  }
  const maxBytesText = stringFlag(values, "max-bytes");
  const maxBytes = maxBytesText === undefined ? undefined : parseCount(maxBytesText, "max-bytes", command, 1);
  if (maxBytes !== undefined && spec.kind !== "objectstore") {
    throw new UsageError("--max-bytes applies to --store objectstore only", command);
  }
  checkOrigins(allowedOrigins, "--allow-origin");
  const brokerUrl = resolveBrokerUrl(stringFlag(values, "broker"));
  const fileserverUrl = resolveFileserverUrl(stringFlag(values, "fileserver"));
  // Servers as the library reads them (no scheme means nats://, empty items skipped); named by
  // where the value came from, a flag or the environment.
  const checks: [string, string, string[]][] = [
    [stringFlag(values, "broker") !== undefined ? "--broker" : "NATS_URL", brokerUrl, serversOf(brokerUrl)],
    [stringFlag(values, "fileserver") !== undefined ? "--fileserver" : "FILESERVER_URL", fileserverUrl, fileserverUrl.split(",").map((u) => u.trim())],
  ];
  for (const [source, url, parts] of checks) {
    if (parts.length === 0 || !parts.every((u) => URL.canParse(u))) {
      throw new UsageError(`${source} is not a URL: "${redact(url)}"`, command);
    }
  }
  const logger = values.verbose === true ? consoleLogger("debug") : silentLogger;
  const nc = await connectTo(brokerUrl, "", securedConnectOptions(values, command), signal);
  try {
    const store = spec.kind === "plik"
      // "never": Plik's -1, the Object Store's 0 (no max_age).
      ? plikFileServer({ url: fileserverUrl, ttl: lifetime === "never" ? -1 : lifetime, oneShot, token: stringFlag(values, "plik-token") ?? readEnv("PLIK_TOKEN") })
      : await untilAborted(objectStoreFileServer({ connection: nc, bucket: spec.bucket, ttl: lifetime === "never" ? 0 : lifetime, maxBytes }), signal, "Opening the Object Store");
    const bridge = await Bridge.connect({
      nats_connection: nc,
      broker_url: brokerUrl,
      // The flag as given, FILESERVER_URL left to the library: the spec's
      // default, passed as if named, was trusted by an Object Store listener,
      // so any publisher could have it fetch any path of its own localhost:8080.
      fileserver_url: stringFlag(values, "fileserver"),
      fileserver: store,
      allowed_origins: allowedOrigins,
      logger,
    });
    return {
      nc,
      bridge,
      store,
      brokerUrl,
      fileserverUrl,
      logger,
      close: async () => {
        if (!nc.isClosed()) await drainWithin(nc);
      },
    };
  } catch (err) {
    await nc.close().catch(() => {});
    throw err;
  }
}
