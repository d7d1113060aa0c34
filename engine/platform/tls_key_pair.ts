/**
 * Whether a client certificate and the private key given with it belong
 * together. A pair that does not is a misconfiguration no retry can fix, yet
 * the TLS layer reports it only at connect, and in words that do not say so:
 * "key values mismatch" on Node and Bun, "unsupported protocol" on Deno.
 * Deno, Bun and Node only (`node:crypto`); the browser build never imports it.
 *
 * @module
 */
import { createPrivateKey, X509Certificate } from "node:crypto";

/**
 * Whether `key` is the private key of the certificate `cert` (the first in
 * its PEM, the one a TLS client presents).
 *
 * @param cert The certificate, PEM.
 * @param key The private key, PEM.
 * @returns `true` or `false`; `undefined` when either cannot be read here
 *   (an encrypted key, a format `node:crypto` does not parse): the TLS
 *   layer, which may know more (a passphrase), decides then.
 *
 * @example
 * ```ts ignore
 * import { readFileSync } from "node:fs";
 * import { keyMatchesCertificate } from "./tls_key_pair.ts";
 * console.log(keyMatchesCertificate(readFileSync("client.pem"), readFileSync("client.key"))); // true
 * ```
 */
export function keyMatchesCertificate(cert: string | Uint8Array, key: string | Uint8Array): boolean | undefined {
  let certificate: X509Certificate;
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    certificate = new X509Certificate(cert);
    privateKey = createPrivateKey(key);
  } catch {
    return undefined;
  }
  return certificate.checkPrivateKey(privateKey);
}
