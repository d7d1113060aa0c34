/**
 * Secured nats-servers for tests: a private CA and certificates made with
 * openssl (server, and a client certificate for servers that verify
 * clients), and an operator-mode server with a user's creds file.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { createAccount, createOperator, createUser } from "@nats-io/nkeys";
import { encodeAccount, encodeOperator, encodeUser, fmtCreds } from "@nats-io/jwt";
import { type NatsServer, startNats } from "../scripts/servers.ts";

/** Certificate files in `dir`: the CA, the server's (for 127.0.0.1 and localhost), and a client's. */
export interface TestCerts {
  ca: string;
  cert: string;
  key: string;
  clientCert: string;
  clientKey: string;
}

/**
 * Makes a CA and certificates signed by it in `dir` (openssl, RSA 2048, valid
 * one day); the server's names `serverSan` (an openssl subjectAltName).
 */
export function makeCerts(dir: string, serverSan = "IP:127.0.0.1,DNS:localhost"): TestCerts {
  const f = (n: string) => join(dir, n);
  const ssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=natsbridge test CA",
    "-keyout", f("ca.key"), "-out", f("ca.pem"));
  const signed = (name: string, cn: string, ext: string) => {
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${cn}`, "-keyout", f(`${name}.key`), "-out", f(`${name}.csr`));
    execFileSync("sh", ["-c", `printf '${ext}\\n' > '${f(`${name}.cnf`)}'`]);
    ssl("x509", "-req", "-in", f(`${name}.csr`), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial",
      "-days", "1", "-extfile", f(`${name}.cnf`), "-out", f(`${name}.pem`));
  };
  signed("server", "127.0.0.1", `subjectAltName=${serverSan}`);
  signed("client", "natsbridge test client", "extendedKeyUsage=clientAuth");
  return { ca: f("ca.pem"), cert: f("server.pem"), key: f("server.key"), clientCert: f("client.pem"), clientKey: f("client.key") };
}

/** A nats-server in operator mode (memory resolver) and the creds file text of a user of its account. */
export async function operatorModeServer(): Promise<{ nats: NatsServer; creds: Uint8Array; seed: string }> {
  const operator = createOperator();
  const system = createAccount();
  const account = createAccount();
  const user = createUser();
  const opJwt = await encodeOperator("natsbridge-test-op", operator, { system_account: system.getPublicKey() });
  const sysJwt = await encodeAccount("SYS", system, {}, { signer: operator });
  // Unlimited account limits (the library's defaults allow 0 connections).
  const limits = { conn: -1, subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, leaf: -1 };
  const accJwt = await encodeAccount("APP", account, { limits } as never, { signer: operator });
  const userJwt = await encodeUser("app-user", user, account);
  const nats = await startNats({
    config: [
      `operator: ${opJwt}`,
      `system_account: ${system.getPublicKey()}`,
      "resolver: MEMORY",
      `resolver_preload: { ${system.getPublicKey()}: ${sysJwt}, ${account.getPublicKey()}: ${accJwt} }`,
    ].join("\n"),
  });
  return { nats, creds: fmtCreds(userJwt, user), seed: new TextDecoder().decode(user.getSeed()) };
}
