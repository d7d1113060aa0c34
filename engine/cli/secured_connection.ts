/**
 * The CLI's flags for a secured NATS server: TLS with a private CA or a
 * client certificate (`--tls-ca`, `--tls-cert`, `--tls-key`), and NATS's own
 * credentials (`--creds` for a JWT + NKey seed file, `--nkey` for a seed
 * file). Each also reads the environment variable the `nats` CLI uses
 * (`NATS_CA`, `NATS_CERT`, `NATS_KEY`, `NATS_CREDS`, `NATS_NKEY`). Users,
 * passwords and tokens go in the server URL (`nats://user:pass@host`).
 *
 * Files are read and checked before connecting: a wrong path or a file of the
 * wrong kind is a usage error naming the flag, not a connection failure
 * minutes of retries later. No secret is ever put in a message.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { jwtAuthenticator, nkeyAuthenticator, nkeys } from "@nats-io/nats-core";
import { readEnv } from "../config.ts";
import type { ConnectOptions } from "../nats_types.ts";
import { type ParsedArgs, stringFlag } from "./args.ts";
import { UsageError } from "./exit_codes.ts";
import { readUserFile } from "./user_files.ts";
import { keyMatchesCertificate } from "../platform/tls_key_pair.ts";

/** Flag → the environment variable read when the flag is absent. */
const ENV: Readonly<Record<string, string>> = {
  "tls-ca": "NATS_CA",
  "tls-cert": "NATS_CERT",
  "tls-key": "NATS_KEY",
  creds: "NATS_CREDS",
  nkey: "NATS_NKEY",
};

/** A secured-connection setting: its value and where it came from, for messages. */
interface Setting {
  path: string;
  source: string;
}

function settingOf(values: ParsedArgs["values"], flag: string): Setting | undefined {
  const given = stringFlag(values, flag);
  if (given !== undefined) return { path: given, source: `--${flag}` };
  const env = readEnv(ENV[flag]);
  return env === undefined ? undefined : { path: env, source: ENV[flag] };
}

function read(setting: Setting, command: string): Uint8Array {
  return readUserFile(setting.path, setting.source, command);
}

/**
 * What `path` holds now, as `parse` reads it: called at each connect, as the
 * nats CLI reads its files, so a file rotated on disk (the old user revoked)
 * is what a reconnect presents. One caught half written, or gone for a
 * moment, leaves the last good reading.
 */
function rereading<T>(path: string, parse: (bytes: Uint8Array) => T | undefined, first: T): () => T {
  let last = first;
  return () => {
    try {
      last = parse(readFileSync(path)) ?? last;
    } catch { /* the last good one */ }
    return last;
  };
}

/** The user JWT and seed of a creds file's bytes, if they hold both. */
function parsedCreds(bytes: Uint8Array): { jwt: string; seed: string } | undefined {
  const [jwt, seed] = credsBlocks(new TextDecoder().decode(bytes));
  return jwt && jwt.split(".").length === 3 && seed && isUserSeed(seed) ? { jwt, seed } : undefined;
}

/** The blocks of a creds file (`-----BEGIN …-----` … `------END …------`): the JWT, then the seed. */
function credsBlocks(text: string): string[] {
  return [...text.matchAll(/-{3,}[^\n]*BEGIN[^\n]*-{3,}\r?\n\s*([^\s-][^\r\n]*)\r?\n\s*-{3,}[^\n]*END[^\n]*-{3,}/g)].map((m) => m[1].trim());
}

/** The first NKey user seed among the words of a seed file (comments and blank lines around it allowed). */
function userSeedIn(text: string): string | undefined {
  return text.split(/\s+/).find(isUserSeed);
}

/** Whether the text of a PEM file holds a block whose label (`-----BEGIN <label>-----`) matches `label`. */
function holdsPem(text: string, label: RegExp): boolean {
  return [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)].some((m) => label.test(m[1]));
}

/** Whether `seed` is a valid NKey user seed (checksum and prefix). */
function isUserSeed(seed: string): boolean {
  try {
    return nkeys.fromSeed(new TextEncoder().encode(seed)).getPublicKey().startsWith("U");
  } catch {
    return false;
  }
}

/**
 * Connection options from the secured-connection flags and environment.
 *
 * @param values Parsed flags of the command.
 * @param command For errors.
 * @returns `tls` and `authenticator` as set; `{}` when nothing is.
 * @throws {UsageError} A file that cannot be read or is not of its kind,
 *   `--tls-cert` without `--tls-key` (or the reverse), a key that is not the
 *   certificate's, `--creds` with `--nkey`.
 *
 * @example
 * ```ts ignore
 * import { securedConnectOptions } from "./secured_connection.ts";
 * const options = securedConnectOptions({ "tls-ca": "ca.pem" }, "send");
 * console.log(options.tls); // { caFile: "ca.pem" }
 * ```
 */
export function securedConnectOptions(values: ParsedArgs["values"], command: string): ConnectOptions {
  const [ca, cert, key, creds, nkey] = ["tls-ca", "tls-cert", "tls-key", "creds", "nkey"].map((f) => settingOf(values, f));
  if ((cert === undefined) !== (key === undefined)) {
    const [has, lacks] = cert ? [cert.source, "--tls-key (NATS_KEY)"] : [key!.source, "--tls-cert (NATS_CERT)"];
    throw new UsageError(`${has} needs ${lacks}: a client certificate goes with its key`, command);
  }
  if (creds && nkey) {
    throw new UsageError(`${creds.source} and ${nkey.source} are two ways to authenticate: give one`, command);
  }
  const options: ConnectOptions = {};
  if (ca || cert) {
    // Read and looked at now so a bad file is named here (swapped, a key for
    // a certificate, a key of another certificate), not met at connect as "no
    // start line" or "unsupported protocol"; nats.js reads them again at each connect.
    const kinds: [Setting | undefined, RegExp, string][] = [
      [ca, /^(X509 |TRUSTED )?CERTIFICATE$/, "certificate"],
      [cert, /^(X509 |TRUSTED )?CERTIFICATE$/, "certificate"],
      [key, /PRIVATE KEY$/, "private key"],
    ];
    const pem = new Map<Setting, Uint8Array>();
    for (const [setting, label, kind] of kinds) {
      if (!setting) continue;
      pem.set(setting, read(setting, command));
      if (!holdsPem(new TextDecoder().decode(pem.get(setting)), label)) {
        throw new UsageError(`${setting.source}: "${setting.path}" holds no ${kind} (PEM, -----BEGIN …-----)`, command);
      }
    }
    if (cert && keyMatchesCertificate(pem.get(cert)!, pem.get(key!)!) === false) {
      throw new UsageError(
        `${key!.source}: "${key!.path}" is not the private key of the certificate in ${cert.source} ("${cert.path}")`,
        command,
      );
    }
    options.tls = {
      ...(ca ? { caFile: ca.path } : {}),
      ...(cert ? { certFile: cert.path, keyFile: key!.path } : {}),
    };
  }
  if (creds) {
    const first = parsedCreds(read(creds, command));
    if (!first) {
      throw new UsageError(`${creds.source}: "${creds.path}" is not a NATS credentials file (a user JWT and its NKey seed)`, command);
    }
    // Handed over parsed: nats.js's own parser takes neither CRLF line ends nor a blank line in a block.
    // nats.js asks for the JWT and then the seed: both come from the same reading.
    const latest = rereading(creds.path, parsedCreds, first);
    let current = first;
    options.authenticator = jwtAuthenticator(() => (current = latest()).jwt, () => new TextEncoder().encode(current.seed));
  }
  if (nkey) {
    const text = new TextDecoder().decode(read(nkey, command));
    if (credsBlocks(text).length >= 2) {
      throw new UsageError(`${nkey.source}: "${nkey.path}" is a NATS credentials file: give it as --creds (NATS_CREDS)`, command);
    }
    const seed = userSeedIn(text);
    if (seed === undefined) {
      throw new UsageError(`${nkey.source}: "${nkey.path}" is not an NKey user seed (a line starting with SU)`, command);
    }
    const latest = rereading(nkey.path, (bytes) => userSeedIn(new TextDecoder().decode(bytes)), seed);
    options.authenticator = nkeyAuthenticator(() => new TextEncoder().encode(latest()));
  }
  return options;
}
