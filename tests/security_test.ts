/**
 * Security against real nats-servers: TLS with a CA the test makes with
 * openssl, token, user/password and NKey authentication, and no secret in any
 * envelope or log line.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createUser } from "@nats-io/nkeys";
import { credsAuthenticator, nkeyAuthenticator } from "@nats-io/nats-core";
import { Bridge, type BridgeOptions, ensureStream, smartsend } from "natsbridge";
import { type NatsServer, startNats } from "../scripts/servers.ts";
import { makeCerts, operatorModeServer } from "./_secured.ts";
import { deliveriesUntilRedelivered, rejectsWithCode, whenPlaceFree } from "./_helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "natsbridge-tls-"));
const servers: NatsServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
});

/** Sends one text through a bridge made with `options` and receives it on the same bridge. */
async function roundTrip(options: BridgeOptions): Promise<{ text: unknown; brokerInEnvelope: string; lines: string[] }> {
  const lines: string[] = [];
  const bridge = await Bridge.connect({ ...options, logger: { log: (_l, line) => lines.push(line) } });
  try {
    const sub = bridge.subscribe("secure");
    const got = (async () => { for await (const e of sub) return e; })();
    await bridge.send("secure", [["t", "over a secured connection", "text"]]);
    const env = (await got)!;
    return { text: env.payloads[0][1], brokerInEnvelope: env.broker_url, lines };
  } finally {
    await bridge.close();
  }
}

/**
 * The uncaught errors `run` left behind, as text: thrown while it ran or in
 * the 300 ms after (a socket error fires after the connect has failed).
 */
async function uncaughtDuring(run: () => Promise<void>): Promise<string[]> {
  const uncaught: unknown[] = [];
  const onError = (e: ErrorEvent) => {
    uncaught.push(e.error);
    e.preventDefault();
  };
  type OnError = (t: string, f: (e: ErrorEvent) => void) => void;
  const target = globalThis as { addEventListener?: OnError; removeEventListener?: OnError };
  const onUncaught = (err: unknown) => uncaught.push(err);
  target.addEventListener?.("error", onError);
  process.on("uncaughtException", onUncaught);
  try {
    await run();
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    target.removeEventListener?.("error", onError);
    process.off("uncaughtException", onUncaught);
  }
  return uncaught.map(String);
}

test("a connect the server refuses leaves no socket error behind to be thrown later", async () => {
  // Under Deno the server's reset after "Authorization Violation" reached a
  // socket nats.js had already stripped of its listeners, and was thrown as
  // an uncaught error: an application crashed on a wrong password.
  const nats = await startNats({ config: `authorization { token: "t0ken-secret" }` });
  servers.push(nats);
  const uncaught = await uncaughtDuring(async () => {
    for (let i = 0; i < 20; i++) {
      await rejectsWithCode(
        () => Bridge.connect({ broker_url: `nats://wrong@127.0.0.1:${nats.port}`, connect_options: { reconnect: false } }),
        "PERMISSION_DENIED",
        /Authorization Violation/,
      );
    }
  });
  assert.deepEqual(uncaught, []);
});

test("a server that verifies clients refuses many connects without a certificate: each is CONNECTION_FAILED, none throws later", async () => {
  // TLS 1.3 servers check the client certificate after the client took the
  // handshake as done. On Deno the server's alert sometimes came in the same
  // read as the handshake's end, after nats.js had stripped the new TLS socket
  // of its listeners and before it added its own: the alert was thrown as an
  // uncaught error and ended the process (about 1 connect in 10).
  const { ca, cert, key } = makeCerts(mkdtempSync(join(dir, "verify-many-")));
  for (const handshakeFirst of [false, true]) {
    const nats = await startNats({
      config: `tls { cert_file: "${cert}", key_file: "${key}", ca_file: "${ca}", verify: true, handshake_first: ${handshakeFirst} }`,
    });
    servers.push(nats);
    const options = { broker_url: `tls://127.0.0.1:${nats.port}`, connect_options: { tls: { caFile: ca, handshakeFirst }, reconnect: false } };
    const uncaught = await uncaughtDuring(async () => {
      for (let round = 0; round < 4; round++) {
        await Promise.all(Array.from({ length: 10 }, () =>
          rejectsWithCode(() => Bridge.connect(options), "CONNECTION_FAILED", /requires a client certificate/)));
      }
    });
    assert.deepEqual(uncaught, [], `handshakeFirst: ${handshakeFirst}`);
  }
});

test("TLS (tls://) with a custom CA connects and round-trips; without the CA it is refused", async () => {
  const { ca, cert, key } = makeCerts(dir);
  const nats = await startNats({ config: `tls { cert_file: "${cert}", key_file: "${key}" }` });
  servers.push(nats);
  const url = `tls://127.0.0.1:${nats.port}`;
  const r = await roundTrip({ broker_url: url, connect_options: { tls: { caFile: ca } } });
  assert.equal(r.text, "over a secured connection");
  // Said with what to give: "unable to verify the first certificate" named no fix.
  await rejectsWithCode(
    () => Bridge.connect({ broker_url: url, connect_options: { reconnect: false } }),
    "CONNECTION_FAILED",
    /not signed by a CA this process trusts.*tls\.caFile.*--tls-ca/,
  );
  // A certificate that names another host is said to.
  const otherDir = mkdtempSync(join(dir, "other-"));
  const other = makeCerts(otherDir, "DNS:elsewhere.example");
  const elsewhere = await startNats({ config: `tls { cert_file: "${other.cert}", key_file: "${other.key}" }` });
  servers.push(elsewhere);
  await rejectsWithCode(
    () => Bridge.connect({ broker_url: `tls://127.0.0.1:${elsewhere.port}`, connect_options: { tls: { caFile: other.ca }, reconnect: false } }),
    "CONNECTION_FAILED",
    /does not name the host connected to/,
  );
});

test("TLS to a server reached by IP address whose certificate names only that address connects", async () => {
  // Node and Deno checked the certificate against "localhost": nats.js upgrades
  // the socket to TLS without a host, and sends no server name for an IP.
  const ipDir = mkdtempSync(join(dir, "ip-"));
  const { ca, cert, key } = makeCerts(ipDir, "IP:127.0.0.1");
  const nats = await startNats({ config: `tls { cert_file: "${cert}", key_file: "${key}" }` });
  servers.push(nats);
  const r = await roundTrip({ broker_url: `tls://127.0.0.1:${nats.port}`, connect_options: { tls: { caFile: ca }, reconnect: false } });
  assert.equal(r.text, "over a secured connection");
});

test("a server that verifies clients: a client certificate connects; without one CONNECTION_FAILED says what is likely missing", async () => {
  const { ca, cert, key, clientCert, clientKey } = makeCerts(dir);
  const nats = await startNats({ config: `tls { cert_file: "${cert}", key_file: "${key}", ca_file: "${ca}", verify: true }` });
  servers.push(nats);
  const url = `tls://127.0.0.1:${nats.port}`;
  const r = await roundTrip({ broker_url: url, connect_options: { tls: { caFile: ca, certFile: clientCert, keyFile: clientKey } } });
  assert.equal(r.text, "over a secured connection");
  // The server ends the handshake after the client took it as done. nats.js,
  // reconnecting, then waited out its whole connect timeout (20 s by default;
  // a minute here) for an answer the closed socket could not bring.
  for (const reconnect of [true, false]) {
    const started = Date.now();
    await rejectsWithCode(
      () => Bridge.connect({ broker_url: url, connect_options: { tls: { caFile: ca }, timeout: 60_000, reconnect } }),
      "CONNECTION_FAILED",
      /requires a client certificate.*--tls-cert/,
    );
    assert.ok(Date.now() - started < 30_000, `reconnect: ${reconnect} took ${Date.now() - started} ms`);
  }
  // A client certificate of a CA the server does not trust: "write EPERM" (Deno), "write EBADF" (Bun).
  const stranger = makeCerts(mkdtempSync(join(dir, "other-ca-")));
  await rejectsWithCode(
    () => Bridge.connect({ broker_url: url, connect_options: { tls: { caFile: ca, certFile: stranger.clientCert, keyFile: stranger.clientKey } } }),
    "CONNECTION_FAILED",
    /does not trust this client certificate/,
  );
});

test("TLS first (handshake_first): a client certificate missing or not trusted gets the same hints", async () => {
  // The TLS layer words it "CertificateRequired" / "UnknownCA" on Deno and
  // "TLSV1_ALERT_CERTIFICATE_REQUIRED" / "TLSV1_ALERT_UNKNOWN_CA" on Bun.
  const { ca, cert, key, clientCert, clientKey } = makeCerts(dir);
  const nats = await startNats({
    config: `tls { cert_file: "${cert}", key_file: "${key}", ca_file: "${ca}", verify: true, handshake_first: true }`,
  });
  servers.push(nats);
  const url = `tls://127.0.0.1:${nats.port}`;
  const tls = { caFile: ca, handshakeFirst: true };
  const r = await roundTrip({ broker_url: url, connect_options: { tls: { ...tls, certFile: clientCert, keyFile: clientKey } } });
  assert.equal(r.text, "over a secured connection");
  await rejectsWithCode(() => Bridge.connect({ broker_url: url, connect_options: { tls } }), "CONNECTION_FAILED", /requires a client certificate/);
  const stranger = makeCerts(mkdtempSync(join(dir, "other-ca-")));
  await rejectsWithCode(
    () => Bridge.connect({ broker_url: url, connect_options: { tls: { ...tls, certFile: stranger.clientCert, keyFile: stranger.clientKey } } }),
    "CONNECTION_FAILED",
    /does not trust this client certificate/,
  );
});

test("a TLS server whose max_connections is reached refuses a connect at once, with its reason and no certificate hint", async () => {
  // The server sends INFO, its -ERR and closes as the client starts TLS, and
  // nats.js's TLS upgrade did not always settle: 20 s, "timeout", and a hint
  // blaming a certificate the server trusts.
  const { ca, cert, key, clientCert, clientKey } = makeCerts(dir);
  for (const verify of [false, true]) {
    const nats = await startNats({
      config: `max_connections: 1\ntls { cert_file: "${cert}", key_file: "${key}", ca_file: "${ca}", verify: ${verify} }`,
    });
    servers.push(nats);
    const url = `tls://127.0.0.1:${nats.port}`;
    const tls = { caFile: ca, ...(verify ? { certFile: clientCert, keyFile: clientKey } : {}) };
    const first = await whenPlaceFree(() => Bridge.connect({ broker_url: url, connect_options: { tls } }));
    try {
      const started = Date.now();
      const e = await rejectsWithCode(
        () => Bridge.connect({ broker_url: url, connect_options: { tls, timeout: 60_000 } }),
        "CONNECTION_FAILED",
        /maximum connections exceeded|closed the connection/,
      );
      assert.ok(Date.now() - started < 30_000, `verify: ${verify} took ${Date.now() - started} ms`);
      assert.doesNotMatch(e.message, /certificate/);
    } finally {
      await first.close();
    }
  }
});

test("a client key that is not the client certificate's is INVALID_OPTION naming both, before any connect: not a CONNECTION_FAILED to retry", async () => {
  // The TLS layer said "key values mismatch" (Node, Bun) or "unsupported protocol" (Deno), at each connect.
  const { ca, cert, key, clientCert, clientKey } = makeCerts(dir);
  const nats = await startNats({ config: `tls { cert_file: "${cert}", key_file: "${key}", ca_file: "${ca}", verify: true }` });
  servers.push(nats);
  const url = `tls://127.0.0.1:${nats.port}`;
  const e = await rejectsWithCode(
    () => Bridge.connect({ broker_url: url, connect_options: { tls: { caFile: ca, certFile: clientCert, keyFile: key } } }),
    "INVALID_OPTION",
    /tls\.keyFile ".*server\.key" is not the private key of the client certificate in tls\.certFile ".*client\.pem"/,
  );
  assert.equal(e.field, "connect_options.tls");
  const read = (f: string) => readFileSync(f, "utf8");
  await rejectsWithCode(
    () => smartsend("secure", [["t", "x", "text"]], { broker_url: url, connect_options: { tls: { caFile: ca, cert: read(clientCert), key: read(key) } } }),
    "INVALID_OPTION",
    /tls\.key is not the private key of the client certificate in tls\.cert\b/,
  );
  const r = await roundTrip({ broker_url: url, connect_options: { tls: { caFile: ca, cert: read(clientCert), key: read(clientKey) } } });
  assert.equal(r.text, "over a secured connection");
});

test("token authentication: in the URL or as an option; secrets stay out of envelopes and logs", async () => {
  const nats = await startNats({ config: `authorization { token: "t0ken-secret" }` });
  servers.push(nats);
  const viaUrl = await roundTrip({ broker_url: `nats://t0ken-secret@127.0.0.1:${nats.port}` });
  assert.equal(viaUrl.text, "over a secured connection");
  assert.equal(viaUrl.brokerInEnvelope, `nats://***@127.0.0.1:${nats.port}`);
  assert.ok(viaUrl.lines.every((l) => !l.includes("t0ken-secret")));
  const viaOption = await roundTrip({ broker_url: nats.url, connect_options: { token: "t0ken-secret" } });
  assert.equal(viaOption.text, "over a secured connection");
  const e = await rejectsWithCode(
    () => smartsend("secure", [["t", "x", "text"]], { broker_url: `nats://wrong-token@127.0.0.1:${nats.port}`, connect_options: { reconnect: false } }),
    "PERMISSION_DENIED",
  );
  assert.ok(!e.message.includes("wrong-token"), e.message);
});

test("user/password authentication works and the password never reaches the envelope", async () => {
  const nats = await startNats({ config: `authorization { users: [ { user: "alice", password: "pa55word" } ] }` });
  servers.push(nats);
  const r = await roundTrip({ broker_url: `nats://alice:pa55word@127.0.0.1:${nats.port}` });
  assert.equal(r.text, "over a secured connection");
  assert.ok(!r.brokerInEnvelope.includes("pa55word"));
  await rejectsWithCode(
    () => Bridge.connect({ broker_url: `nats://alice:wrong@127.0.0.1:${nats.port}`, connect_options: { reconnect: false } }),
    "PERMISSION_DENIED",
  );
});

test("credentials the server refuses are PERMISSION_DENIED, with the default options too: not a CONNECTION_FAILED to retry", async () => {
  // A wrong password was CONNECTION_FAILED, the code applications retry on:
  // a service retried it for ever, as if the server were down.
  const nats = await startNats({ config: `authorization { users: [ { user: "alice", password: "pa55word" } ] }` });
  servers.push(nats);
  const url = `nats://alice:wr0ng-pw@127.0.0.1:${nats.port}`;
  for (const attempt of [() => Bridge.connect({ broker_url: url }), () => smartsend("secure", [["t", "x", "text"]], { broker_url: url })]) {
    const e = await rejectsWithCode(attempt, "PERMISSION_DENIED", /refused these credentials/);
    assert.ok(!e.message.includes("wr0ng-pw"), e.message);
  }
  // The server itself being away is still CONNECTION_FAILED.
  const port = nats.port;
  await nats.stop();
  await rejectsWithCode(() => Bridge.connect({ broker_url: `nats://alice:pa55word@127.0.0.1:${port}` }), "CONNECTION_FAILED");
});

test("a broker_url without a scheme (alice:pw@host:port) connects with its credentials and never shows them", async () => {
  // It was taken as a URL of scheme "alice:": the password went unredacted into
  // errors (and, from the Python peer, into every envelope), and TS could not connect.
  const nats = await startNats({ config: `authorization { users: [ { user: "alice", password: "pa55word" } ] }` });
  servers.push(nats);
  const r = await roundTrip({ broker_url: `alice:pa55word@127.0.0.1:${nats.port}` });
  assert.equal(r.text, "over a secured connection");
  assert.equal(r.brokerInEnvelope, `***@127.0.0.1:${nats.port}`);
  const e = await rejectsWithCode(
    () => smartsend("secure", [["t", "x", "text"]], { broker_url: `alice:wrong-pw@127.0.0.1:${nats.port}`, connect_options: { reconnect: false } }),
    "PERMISSION_DENIED",
  );
  assert.ok(!e.message.includes("wrong-pw"), e.message);
});

test("a password with a raw @ or / never shows: not in the envelope, not in errors", async () => {
  // The redaction stopped at the first "@" while the URL parser (and so the
  // connection) took the last: the rest of the password went into every envelope.
  const nats = await startNats({ config: `authorization { users: [ { user: "svc", password: "p@ss/w0rd+Secret" } ] }` });
  servers.push(nats);
  for (const url of [`nats://svc:p@ss%2Fw0rd+Secret@127.0.0.1:${nats.port}`, `svc:p@ss%2Fw0rd+Secret@127.0.0.1:${nats.port}`]) {
    const r = await roundTrip({ broker_url: url });
    assert.equal(r.text, "over a secured connection");
    assert.match(r.brokerInEnvelope, /^(nats:\/\/)?\*\*\*@127\.0\.0\.1:\d+$/);
    assert.ok(!r.lines.some((l) => l.includes("Secret")), r.lines.join("\n"));
  }
  // A raw "%" is no percent-encoding: it could not be decoded, and was a CONNECTION_FAILED "URI malformed".
  await rejectsWithCode(
    () => smartsend("secure", [["t", "x", "text"]], { broker_url: `nats://svc:50%off@127.0.0.1:${nats.port}` }),
    "INVALID_OPTION",
    /percent-encoded .*"%" as %25/,
  );
  for (const url of [`nats://svc:p@ss/w0rd+Secret@127.0.0.1:${nats.port}`, `svc:p@ss/w0rd+Secret@127.0.0.1:${nats.port}`]) {
    const e = await smartsend("secure", [["t", "x", "text"]], { broker_url: url, connect_options: { reconnect: false, timeout: 2000 } })
      .then(() => assert.fail("connected with a broken URL"), (err) => err as Error & { code: string });
    assert.match(e.code, /^(CONNECTION_FAILED|INVALID_OPTION)$/);
    assert.ok(!/ss\/|w0rd|Secret/.test(e.message), e.message);
  }
});

test("a password or token read from a file, its newline kept, connects and never shows in the envelope", async () => {
  // The URL parser drops "\n", "\r" and tabs, so the connection worked, while
  // the redaction's ".*" stopped at the newline: the whole password went out
  // in every envelope's broker_url (and a CRLF env file did the same).
  const nats = await startNats({ config: `authorization { users: [ { user: "alice", password: "s3cr3tpw" } ] }` });
  servers.push(nats);
  for (const url of [`nats://alice:s3cr3tpw\n@127.0.0.1:${nats.port}`, `nats://alice:s3cr3tpw\r@127.0.0.1:${nats.port}`, `alice:s3cr3tpw\n@127.0.0.1:${nats.port}`]) {
    const r = await roundTrip({ broker_url: url });
    assert.equal(r.text, "over a secured connection");
    assert.match(r.brokerInEnvelope, /^(nats:\/\/)?\*\*\*@127\.0\.0\.1:\d+$/, JSON.stringify(r.brokerInEnvelope));
    assert.ok(!r.lines.some((l) => l.includes("s3cr3t")), r.lines.join("\n"));
  }
});

test("a raw comma in a password is INVALID_OPTION saying to write %2C, and no part of the password shows", async () => {
  // The server list was split at the comma before anything was masked:
  // "carol:Xk9" was printed, and "carol:1234,rest@host" even connected with
  // "rest" as a token.
  for (const url of ["nats://carol:Xk9,secretTail@127.0.0.1:4222", "nats://carol:1234,secretTail@127.0.0.1:4222"]) {
    const e = await rejectsWithCode(() => Bridge.connect({ broker_url: url }), "INVALID_OPTION", /"," as %2C/);
    assert.ok(!/carol|Xk9|1234|secretTail/.test(e.message), e.message);
  }
});

test("a file server URL with credentials in it is INVALID_OPTION, as they would travel in every link", async () => {
  // On Deno and Bun the upload worked and every link in the published
  // envelope carried "bob:basicpw@", as did the debug log; Node's fetch
  // refused it with a message naming no fix.
  const lines: string[] = [];
  const e = await rejectsWithCode(
    () =>
      smartsend("s", [["big", new Uint8Array(600_000), "binary"]], {
        is_publish: false,
        fileserver_url: "http://bob:basicpw@127.0.0.1:1",
        logger: { log: (_l, line) => lines.push(line) },
      }),
    "INVALID_OPTION",
    /credentials/,
  );
  assert.ok(!/bob|basicpw/.test(e.message + lines.join("\n")), e.message);
  const { plikFileServer } = await import("natsbridge");
  assert.throws(() => plikFileServer({ url: "http://bob:basicpw@127.0.0.1:1" }), (err: Error & { code?: string }) =>
    err.code === "INVALID_OPTION" && !/basicpw/.test(err.message));
});

test("NKey authentication through connect_options.authenticator", async () => {
  const user = createUser();
  const seed = new TextDecoder().decode(user.getSeed());
  const nats = await startNats({ config: `authorization { users: [ { nkey: "${user.getPublicKey()}" } ] }` });
  servers.push(nats);
  const r = await roundTrip({
    broker_url: nats.url,
    connect_options: { authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) },
  });
  assert.equal(r.text, "over a secured connection");
});

test("creds (JWT + NKey seed) authentication against a server in operator mode", async () => {
  const { nats, creds, seed } = await operatorModeServer();
  servers.push(nats);
  const r = await roundTrip({ broker_url: nats.url, connect_options: { authenticator: credsAuthenticator(creds) } });
  assert.equal(r.text, "over a secured connection");
  assert.ok(r.lines.every((l) => !l.includes(seed)));
  // No credentials at all.
  await rejectsWithCode(() => Bridge.connect({ broker_url: nats.url, connect_options: { reconnect: false } }), "PERMISSION_DENIED");
});

/** A server whose users may use only some subjects (see each user's comment). */
async function restrictedServer(): Promise<NatsServer> {
  const nats = await startNats({
    config: `authorization { users: [
      # everything
      { user: "admin", password: "pw" }
      # app.> and inboxes only
      { user: "limited", password: "pw", permissions: { publish: { allow: ["app.>", "_INBOX.>"] }, subscribe: { allow: ["app.>", "_INBOX.>"] } } }
      # no inbox subscriptions (so no replies)
      { user: "noinbox", password: "pw", permissions: { subscribe: { deny: ["_INBOX.>"] } } }
      # JetStream's API, but no pulls
      { user: "nopull", password: "pw", permissions: { publish: { deny: ["$JS.API.CONSUMER.MSG.NEXT.>"] } } }
      # everything but dead letters
      { user: "nodead", password: "pw", permissions: { publish: { deny: ["natsbridge.dead.>"] } } }
      # everything but acks
      { user: "noack", password: "pw", permissions: { publish: { deny: ["$JS.ACK.>"] } } }
    ] }`,
  });
  servers.push(nats);
  return nats;
}

const as = (nats: NatsServer, user: string) => `nats://${user}:pw@127.0.0.1:${nats.port}`;

test("a publish the server's permissions refuse is PERMISSION_DENIED with confirm, and logged without it", async () => {
  // The send resolved, and the logger said "Message published": the message was dropped unseen.
  const nats = await restrictedServer();
  const lines: string[] = [];
  const bridge = await Bridge.connect({ broker_url: as(nats, "limited"), logger: { log: (_l, line) => lines.push(line) } });
  try {
    const e = await rejectsWithCode(
      () => bridge.send("other.x", [["t", "hi", "text"]], { confirm: true }),
      "PERMISSION_DENIED",
      /permissions do not let this user publish to "other\.x"/,
    );
    assert.ok(e.correlationId);
    await bridge.send("app.ok", [["t", "hi", "text"]], { confirm: true }); // the connection goes on
    await bridge.send("other.y", [["t", "hi", "text"]]);
    await bridge.connection.flush();
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(lines.some((l) => /refused a publish to "other\.y"/.test(l)), lines.join("\n"));
    // The confirmed send said so itself: no warning that it "was dropped" besides.
    assert.ok(!lines.some((l) => /refused a publish to "other\.x"/.test(l)), lines.join("\n"));
  } finally {
    await bridge.close();
  }
});

test("a subscription or request the server's permissions refuse is PERMISSION_DENIED at once, not silence or a timeout", async () => {
  const nats = await restrictedServer();
  const limited = await Bridge.connect({ broker_url: as(nats, "limited"), logger: { log() {} } });
  const noinbox = await Bridge.connect({ broker_url: as(nats, "noinbox"), logger: { log() {} } });
  try {
    await rejectsWithCode(async () => {
      for await (const _ of limited.subscribe("other.x")) break;
    }, "PERMISSION_DENIED", /subscribe to "other\.x"/);
    let started = Date.now();
    await rejectsWithCode(() => limited.request("svc.echo", [["t", "ping", "text"]], { timeout: 10_000 }), "PERMISSION_DENIED", /publish to "svc\.echo"/);
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    started = Date.now();
    await rejectsWithCode(() => noinbox.request("svc.echo", [["t", "ping", "text"]], { timeout: 10_000 }), "PERMISSION_DENIED", /subscribe to "_INBOX\./);
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  } finally {
    await limited.close();
    await noinbox.close();
  }
});

test("JetStream refused by permissions is PERMISSION_DENIED at once: a publish is not retried, a consumer that may not pull stops", async () => {
  const nats = await restrictedServer();
  const admin = await Bridge.connect({ broker_url: as(nats, "admin"), logger: { log() {} } });
  const limited = await Bridge.connect({ broker_url: as(nats, "limited"), logger: { log() {} } });
  const nopull = await Bridge.connect({ broker_url: as(nats, "nopull"), logger: { log() {} } });
  try {
    await ensureStream(admin.connection, { name: "PERM", subjects: ["perm.>"] });
    let started = Date.now();
    await rejectsWithCode(() => limited.send("perm.x", [["t", "hi", "text"]], { jetstream: true }), "PERMISSION_DENIED");
    assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
    await admin.send("perm.x", [["t", "hi", "text"]], { jetstream: true });
    started = Date.now();
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 8000);
    await rejectsWithCode(async () => {
      for await (const _ of nopull.consume({ stream: "PERM", durable: "nopull", signal: ac.signal })) break;
    }, "PERMISSION_DENIED", /\$JS\.API\.CONSUMER\.MSG\.NEXT/);
    clearTimeout(timer);
    assert.ok(!ac.signal.aborted, "gave up only when aborted");
  } finally {
    await Promise.all([admin.close(), limited.close(), nopull.close()]);
  }
});

/** An admin bridge, a `nodead` bridge logging to `lines`, and a message failing its checksum stored in stream `stream` (`<subject>.x`). */
async function badMessageFor(nats: NatsServer, stream: string, subject: string) {
  const admin = await Bridge.connect({ broker_url: as(nats, "admin"), logger: { log() {} } });
  const lines: string[] = [];
  const nodead = await Bridge.connect({ broker_url: as(nats, "nodead"), logger: { log: (_l, line) => lines.push(line) } });
  await ensureStream(admin.connection, { name: stream, subjects: [`${subject}.>`] });
  const [, json] = await smartsend(`${subject}.x`, [["t", "hi", "text"]], { is_publish: false });
  const tampered = JSON.parse(json);
  tampered.payloads[0].metadata.checksum = "0".repeat(64);
  await (await import("@nats-io/jetstream")).jetstream(admin.connection).publish(`${subject}.x`, JSON.stringify(tampered));
  return { admin, nodead, lines };
}

test("a dead letter the server's permissions refuse leaves its message naked, not termed and lost", async () => {
  // Published to core NATS, the refusal came only on the status stream: the
  // log said "Dead-lettered", and the message was termed with no record anywhere.
  const { admin, nodead, lines } = await badMessageFor(await restrictedServer(), "PERMDL", "permdl");
  try {
    const deliveries = await deliveriesUntilRedelivered(nodead, { stream: "PERMDL", durable: "nodead", nak_base_delay: 50, nak_max_delay: 50 }, 5000);
    assert.deepEqual(deliveries.slice(0, 2), [1, 2], lines.join("\n"));
    assert.ok(lines.some((l) => /Could not dead-letter permdl\.x#1 to natsbridge\.dead\.PERMDL .*permissions/.test(l)), lines.join("\n"));
    assert.ok(!lines.some((l) => /Dead-lettered/.test(l)), lines.join("\n"));
  } finally {
    await Promise.all([admin.close(), nodead.close()]);
  }
});

test("every confirmed send the server refuses fails PERMISSION_DENIED, however many refusals arrive in the same round trip", async () => {
  // Refusals were kept in a ring of 256: past that, a send's own refusal was
  // pushed out before it looked, and it resolved as delivered.
  const nats = await restrictedServer();
  const bridge = await Bridge.connect({ broker_url: as(nats, "limited"), logger: { log() {} } });
  try {
    const noise = Array.from({ length: 300 }, () => bridge.send("other.noise", [["t", "x", "text"]]));
    const results = await Promise.allSettled([
      ...Array.from({ length: 400 }, (_, i) => bridge.send(`other.s${i}`, [["t", "x", "text"]], { confirm: true })),
      bridge.send("other.important", [["t", "x", "text"]], { confirm: true }),
    ]);
    await Promise.allSettled(noise);
    const codes = results.map((r) => r.status === "rejected" ? (r.reason as { code: string }).code : "resolved");
    assert.deepEqual([...new Set(codes)], ["PERMISSION_DENIED"]);
  } finally {
    await bridge.close();
  }
});

test("a message whose dead letter is refused on every delivery is reported with its own error at the end, not as 'a process died holding it'", async () => {
  const { admin, nodead, lines } = await badMessageFor(await restrictedServer(), "PERMDL2", "permdl2");
  try {
    const codes: string[] = [];
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 5000);
    for await (const _ of nodead.consume({
      stream: "PERMDL2",
      durable: "nodead",
      max_deliver: 1, // the server delivers it 3 times
      nak_base_delay: 50,
      nak_max_delay: 50,
      signal: ac.signal,
      on_error: (err) => {
        codes.push(err.code);
        if (codes.length === 3) setTimeout(() => ac.abort(), 200);
      },
    }));
    clearTimeout(timer);
    assert.deepEqual(codes, ["CHECKSUM_MISMATCH", "CHECKSUM_MISMATCH", "CHECKSUM_MISMATCH"], lines.join("\n"));
    assert.ok(lines.some((l) => /could not be dead-lettered .* the server will not deliver it again/.test(l)), lines.join("\n"));
  } finally {
    await Promise.all([admin.close(), nodead.close()]);
  }
});

test("a consumer the server's permissions do not let ack fails PERMISSION_DENIED, not silent redeliveries ending in a false dead letter", async () => {
  // The refused ack was swallowed: the handled message came back until it was
  // dead-lettered as "a process died holding it".
  const nats = await restrictedServer();
  const admin = await Bridge.connect({ broker_url: as(nats, "admin"), logger: { log() {} } });
  const noack = await Bridge.connect({ broker_url: as(nats, "noack"), logger: { log() {} } });
  try {
    await ensureStream(admin.connection, { name: "NOACK", subjects: ["noack.>"] });
    await admin.send("noack.x", [["t", "hi", "text"]], { jetstream: true });
    const seen: number[] = [];
    await rejectsWithCode(async () => {
      for await (const _ of noack.consume({ stream: "NOACK", durable: "w", ack_wait: 1000, signal: AbortSignal.timeout(8000), on_delivery: (d) => seen.push(d.deliveries) })) { /* handled */ }
    }, "PERMISSION_DENIED", /publish to "\$JS\.ACK\.NOACK\./);
    assert.deepEqual(seen, [1]);
  } finally {
    await Promise.all([admin.close(), noack.close()]);
  }
});
