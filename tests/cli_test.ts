/**
 * The `natsbridge` command, run as a subprocess the way users run it — from
 * source under Deno and Bun, from the built lib/ under Node — against a real
 * nats-server (JetStream) and the Plik-compatible file server on loopback.
 * No fakes: payloads go send → NATS (→ file server) → listen and are compared
 * byte for byte with what was sent.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import process from "node:process";
import { Buffer } from "node:buffer";
import { tableFromArrays, tableFromIPC, tableToIPC } from "apache-arrow";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Bridge, ensureStream, plikFileServer, smartsend } from "natsbridge";
import { ROOT, startNats, startPlik } from "../scripts/servers.ts";
import { bytesOf, freedDuring, NO_TRANSFER, sampleEnvelope, suspend } from "./_helpers.ts";
import { PayloadWriter } from "../engine/cli/save.ts";
import { createUser } from "@nats-io/nkeys";
import { makeCerts, operatorModeServer } from "./_secured.ts";

const nats = await startNats();
const plik = await startPlik();
const work = mkdtempSync(join(tmpdir(), "natsbridge-cli-"));
const quiet = { log() {} };

/** CLI processes still running; a test that failed before waiting for one leaves it. */
const running = new Set<ChildProcess>();

after(async () => {
  // Left running, one kept Node's runner waiting for ever after a failed test
  // (a listen whose message never came): the failure then never showed.
  for (const child of running) child.kill("SIGKILL");
  await Promise.all([nats.stop(), plik.stop()]);
  rmSync(work, { recursive: true, force: true });
});

const runtime = "Deno" in globalThis ? "deno" : process.versions.bun ? "bun" : "node";

/** The command line that starts the CLI on this runtime. */
const CLI: string[] = runtime === "deno"
  ? [
    process.execPath,
    "run",
    "-A",
    "--quiet",
    "--config",
    join(ROOT, "deno.json"),
    join(ROOT, "engine/cli/main.ts"),
  ]
  : runtime === "bun"
  ? [process.execPath, join(ROOT, "engine/cli/main.ts")]
  : [process.execPath, join(ROOT, "lib/engine/cli/main.js")];

const ENV = {
  ...process.env,
  NATS_URL: nats.url,
  FILESERVER_URL: plik.url,
  NO_COLOR: "1",
  SIZE_THRESHOLD: "",
};

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion. */
function run(
  args: string[],
  options: { input?: string; env?: Record<string, string> } = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(CLI[0], [...CLI.slice(1), ...args], {
      cwd: work,
      env: { ...ENV, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin!.end(options.input ?? "");
  });
}

/** A CLI process left running (listen), with its output as it arrives. */
interface Running {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout (or stderr) matches, rejects after `ms`. */
  waitFor(pattern: RegExp, ms?: number, stream?: "stdout" | "stderr"): Promise<void>;
  /** Resolves with the exit code. */
  done(ms?: number): Promise<Result>;
}

function start(argv: string[], options: { env?: Record<string, string> } = {}): Running {
  const child = spawn(argv[0], argv.slice(1), {
    cwd: work,
    env: { ...ENV, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  child.on("close", () => running.delete(child));
  let out = "";
  let err = "";
  const listeners = new Set<() => void>();
  const poke = () => listeners.forEach((l) => l());
  child.stdout!.on("data", (d) => ((out += d), poke()));
  child.stderr!.on("data", (d) => ((err += d), poke()));
  const exited = new Promise<number | null>((r) => child.on("close", (code) => (poke(), r(code))));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor(pattern, ms = 20_000, stream = "stdout") {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pattern.test(stream === "stdout" ? out : err)) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve();
          } else if (child.exitCode !== null) {
            listeners.delete(check);
            clearTimeout(timer);
            reject(
              new Error(
                `exited ${child.exitCode} before ${pattern}\nstdout: ${out}\nstderr: ${err}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          child.kill("SIGKILL");
          reject(new Error(`no ${pattern} within ${ms} ms\nstdout: ${out}\nstderr: ${err}`));
        }, ms);
        listeners.add(check);
        check();
      });
    },
    async done(ms = 30_000) {
      const timer = setTimeout(() => child.kill("SIGKILL"), ms);
      const code = await exited;
      clearTimeout(timer);
      return { code, stdout: out, stderr: err };
    },
  };
}

/** Starts `listen --json` and waits until it is subscribed. */
async function listen(args: string[]): Promise<Running> {
  const l = start([...CLI, "listen", ...args, "--json"]);
  await l.waitFor(/"event":"listening"/);
  return l;
}

/** Parsed JSON, indexed freely in assertions. */
// deno-lint-ignore no-explicit-any
type Json = Record<string, any>;

/** JSON lines of `--json` output. */
function records(stdout: string): Json[] {
  return stdout.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}

let seq = 0;
/** A fresh subject and output folder per test. */
function fresh(): { subject: string; out: string } {
  seq++;
  const out = join(work, `out${seq}`);
  mkdirSync(out);
  return { subject: `cli.t${seq}`, out };
}

function file(name: string, data: Uint8Array | string): string {
  const path = join(work, name);
  writeFileSync(path, data);
  return path;
}

const read = (path: string) => new Uint8Array(readFileSync(path));

/** Rows of an Arrow IPC file as plain objects. */
function arrowRows(path: string): Record<string, unknown>[] {
  return tableFromIPC(read(path)).toArray().map((r) => ({ ...r.toJSON() }));
}

test("send → listen round-trips text, dictionary and tables from .csv, .json and .arrow", async () => {
  const { subject, out } = fresh();
  file("scores.csv", 'id,name,score,ok\n1,Alice,0.5,true\n2,"Bob, Jr.",,false\n');
  file("rows.json", JSON.stringify([{ id: 1, name: "Alice" }, { id: 2, name: "Bob" }]));
  file("config.json", JSON.stringify({ step_size: 0.01, tags: ["a", "b"] }));
  file(
    "matrix.arrow",
    tableToIPC(
      tableFromArrays({ x: Int32Array.from([1, 2, 3]), y: Float64Array.from([0.5, 1.5, 2.5]) }),
    ),
  );
  const l = await listen([subject, "--count", "1", "--out", out]);
  const sent = await run([
    "send",
    subject,
    "--json",
    "--text",
    "Hello ✓",
    "--name",
    "config",
    "--dict",
    '{"step_size": 0.01}',
    "--dict",
    "@config.json",
    "--table",
    "scores.csv",
    "--table",
    "rows.json",
    "--name",
    "rows_arrow",
    "--as",
    "arrowtable",
    "--table",
    "rows.json",
    "--table",
    "matrix.arrow",
    "--purpose",
    "updateStatus",
    "--sender-name",
    "cli-test",
    "--correlation-id",
    "corr-1",
  ]);
  assert.equal(sent.code, 0, sent.stderr);
  const [s] = records(sent.stdout);
  assert.equal(s.event, "sent");
  // As the README says of --json: text, dictionary and jsontable values are included.
  assert.equal(s.payloads[0].value, "Hello ✓");
  assert.deepEqual(s.payloads[1].value, { step_size: 0.01 });
  assert.deepEqual(s.payloads[4].value, [{ id: 1, name: "Alice" }, { id: 2, name: "Bob" }]);
  assert.equal("value" in s.payloads[3], false); // an arrowtable is not printed
  const { code, stdout, stderr } = await l.done();
  assert.equal(code, 0, stderr);
  const [msg] = records(stdout).filter((r) => r.event === "message");
  assert.equal(msg.msg_id, s.msg_id);
  assert.equal(msg.correlation_id, "corr-1");
  assert.equal(msg.msg_purpose, "updateStatus");
  assert.equal(msg.sender_name, "cli-test");
  assert.deepEqual(
    msg.payloads.map((p: Record<string, unknown>) => [p.name, p.type, p.transport, p.checksum]),
    [
      ["text", "text", "direct", "ok"],
      ["config", "dictionary", "direct", "ok"],
      ["config_2", "dictionary", "direct", "ok"], // named after its file, "config" being taken
      ["scores", "arrowtable", "direct", "ok"],
      ["rows", "jsontable", "direct", "ok"],
      ["rows_arrow", "arrowtable", "direct", "ok"],
      ["matrix", "arrowtable", "direct", "ok"],
    ],
  );
  assert.deepEqual(
    msg.payloads.map((p: Record<string, unknown>) => p.size),
    s.payloads.map((p: Record<string, unknown>) => p.size),
  );
  assert.equal(msg.payloads[0].value, "Hello ✓");
  assert.deepEqual(msg.payloads[1].value, { step_size: 0.01 });
  assert.deepEqual(msg.payloads[2].value, { step_size: 0.01, tags: ["a", "b"] });
  assert.deepEqual(msg.payloads[4].value, [{ id: 1, name: "Alice" }, { id: 2, name: "Bob" }]);

  const files = readdirSync(out).sort();
  assert.deepEqual(files, [
    "config.json",
    "config_2.json",
    "matrix.arrow",
    "rows.json",
    "rows_arrow.arrow",
    "scores.arrow",
    "text.txt",
  ]);
  assert.equal(readFileSync(join(out, "text.txt"), "utf8"), "Hello ✓");
  assert.deepEqual(JSON.parse(readFileSync(join(out, "config.json"), "utf8")), { step_size: 0.01 });
  assert.deepEqual(JSON.parse(readFileSync(join(out, "config_2.json"), "utf8")), {
    step_size: 0.01,
    tags: ["a", "b"],
  });
  assert.deepEqual(JSON.parse(readFileSync(join(out, "rows.json"), "utf8")), [{
    id: 1,
    name: "Alice",
  }, { id: 2, name: "Bob" }]);
  assert.deepEqual(arrowRows(join(out, "scores.arrow")), [
    { id: 1n, name: "Alice", score: 0.5, ok: true },
    { id: 2n, name: "Bob, Jr.", score: null, ok: false },
  ]);
  assert.deepEqual(arrowRows(join(out, "rows_arrow.arrow")), [{ id: 1, name: "Alice" }, {
    id: 2,
    name: "Bob",
  }]);
  assert.deepEqual(arrowRows(join(out, "matrix.arrow")), [{ x: 1, y: 0.5 }, { x: 2, y: 1.5 }, {
    x: 3,
    y: 2.5,
  }]);
});

test("send → listen round-trips image, audio, video and binary files, the large one by link", async () => {
  const { subject, out } = fresh();
  const png = bytesOf(2_000, 11);
  const wav = bytesOf(3_000, 12);
  const mp4 = bytesOf(4_000, 13);
  const big = bytesOf(600_000, 14); // above the default 500_000 threshold
  file("photo.png", png);
  file("clip.wav", wav);
  file("movie.mp4", mp4);
  file("big.bin", big);
  const l = await listen([subject, "--count", "1", "--out", out]);
  const sent = await run([
    "send",
    subject,
    "--json",
    "--file",
    "photo.png:image",
    "--file",
    "clip.wav:audio",
    "--name",
    "film",
    "--file",
    "movie.mp4:video",
    "--file",
    "big.bin",
  ]);
  assert.equal(sent.code, 0, sent.stderr);
  const { code, stdout, stderr } = await l.done();
  assert.equal(code, 0, stderr);
  const [msg] = records(stdout).filter((r) => r.event === "message");
  assert.deepEqual(
    msg.payloads.map((
      p: Record<string, unknown>,
    ) => [p.name, p.type, p.size, p.transport, p.checksum]),
    [
      ["photo.png", "image", 2_000, "direct", "ok"],
      ["clip.wav", "audio", 3_000, "direct", "ok"],
      ["film", "video", 4_000, "direct", "ok"],
      ["big.bin", "binary", 600_000, "link", "ok"],
    ],
  );
  assert.ok(msg.payloads[3].url.startsWith(`${plik.url}/file/`), msg.payloads[3].url);
  assert.deepEqual(read(join(out, "photo.png")), png);
  assert.deepEqual(read(join(out, "clip.wav")), wav);
  assert.deepEqual(read(join(out, "film")), mp4);
  assert.deepEqual(read(join(out, "big.bin")), big);
  assert.deepEqual(readdirSync(out).filter((f) => f.endsWith(".part")), []);
});

test("send --threshold and --store objectstore move payloads by nats-obj:// link; listen resolves them", async () => {
  const { subject, out } = fresh();
  const data = bytesOf(50_000, 21);
  file("obj.bin", data);
  const l = await listen([
    subject,
    "--count",
    "1",
    "--out",
    out,
    "--store",
    "objectstore:cli_bucket",
  ]);
  const sent = await run([
    "send",
    subject,
    "--json",
    "--store",
    "objectstore:cli_bucket",
    "--threshold",
    "1000",
    "--file",
    "obj.bin",
    "--text",
    "small",
  ]);
  assert.equal(sent.code, 0, sent.stderr);
  const [s] = records(sent.stdout);
  assert.match(s.payloads[0].url, /^nats-obj:\/\/cli_bucket\//);
  const { code, stdout, stderr } = await l.done();
  assert.equal(code, 0, stderr);
  const [msg] = records(stdout).filter((r) => r.event === "message");
  assert.equal(msg.payloads[0].transport, "link");
  assert.deepEqual(read(join(out, "obj.bin")), data);
});

test("listen --jetstream consumes a durable through Bridge.consume and acks what it printed", async () => {
  const { subject, out } = fresh();
  file("js.bin", bytesOf(600_000, 31));
  const sent = await run([
    "send",
    subject,
    "--jetstream",
    "--stream",
    "CLI_JS",
    "--text",
    "stored",
    "--file",
    "js.bin",
    "--json",
  ]);
  assert.equal(sent.code, 0, sent.stderr);
  const first = await run([
    "listen",
    subject,
    "--jetstream",
    "--stream",
    "CLI_JS",
    "--durable",
    "d1",
    "--count",
    "1",
    "--out",
    out,
    "--json",
    "--timeout",
    "20s",
  ]);
  assert.equal(first.code, 0, first.stderr);
  const [msg] = records(first.stdout).filter((r) => r.event === "message");
  assert.equal(msg.msg_id, records(sent.stdout)[0].msg_id);
  assert.deepEqual(msg.payloads.map((p: Record<string, unknown>) => [p.name, p.transport]), [[
    "text",
    "direct",
  ], ["js.bin", "link"]]);
  assert.equal(msg.payloads[0].value, "stored");
  assert.deepEqual(read(join(out, "js.bin")), bytesOf(600_000, 31));
  // Acked: the same durable gets nothing more, and --timeout ends the wait with exit 4.
  const again = await run([
    "listen",
    subject,
    "--jetstream",
    "--stream",
    "CLI_JS",
    "--durable",
    "d1",
    "--count",
    "1",
    "--timeout",
    "1500ms",
  ]);
  assert.equal(again.code, 4, again.stderr);
  assert.match(again.stderr, /^natsbridge: TIMEOUT 0 of 1 messages within 1500ms$/m);
});

test("listen --jetstream --out streams a link payload to disk as it arrives, not after", async () => {
  // It was downloaded whole into memory first (a 1 GB file took over 1 GB of RAM).
  // A file server that sends half the body and then waits shows the difference:
  // the half must reach the .part file while the rest is still on its way.
  const data = bytesOf(2_000_000, 41);
  const half = 1_000_000;
  let finish!: () => void;
  const rest = new Promise<void>((r) => (finish = r));
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-length": String(data.byteLength) });
    res.write(data.subarray(0, half));
    void rest.then(() => res.end(data.subarray(half)));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const { subject, out } = fresh();
    const nc = await connect({ servers: nats.url });
    await ensureStream(nc, { name: "CLI_STREAMED", subjects: [subject] });
    await smartsend(subject, [["big.bin", data, "binary"]], {
      nats_connection: nc,
      size_threshold: 1,
      fileserver_upload_handler: () =>
        Promise.resolve({ status: 200, uploadid: "u", fileid: "f", url: `${origin}/big.bin` }),
      jetstream: {},
      logger: quiet,
    });
    await nc.close();
    const l = await listen([
      subject,
      "--jetstream",
      "--stream",
      "CLI_STREAMED",
      "--durable",
      "s1",
      "--count",
      "1",
      "--out",
      out,
      "--allow-origin",
      origin,
    ]);
    const part = join(out, "big.bin.part");
    const deadline = Date.now() + 20_000;
    while (!(existsSync(part) && statSync(part).size >= half)) {
      assert.ok(Date.now() < deadline, `no ${half} bytes in ${part} while the download waits`);
      await new Promise((r) => setTimeout(r, 50));
    }
    finish();
    const { code, stdout, stderr } = await l.done();
    assert.equal(code, 0, stderr);
    const [msg] = records(stdout).filter((r) => r.event === "message");
    assert.deepEqual(
      [msg.payloads[0].transport, msg.payloads[0].size, msg.payloads[0].checksum, msg.payloads[0].url],
      ["link", 2_000_000, "ok", `${origin}/big.bin`],
    );
    assert.deepEqual(read(join(out, "big.bin")), data);
  } finally {
    finish();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test("listen --jetstream --out: a streamed payload that fails its checksum is reported and dead-lettered; no file is kept", async () => {
  const { subject, out } = fresh();
  const nc = await connect({ servers: nats.url });
  try {
    await ensureStream(nc, { name: "CLI_BADSUM", subjects: [subject] });
    const [, json] = await smartsend(subject, [["bad.bin", bytesOf(300_000, 42), "binary"]], {
      is_publish: false,
      size_threshold: 1,
      fileserver_url: plik.url,
      logger: quiet,
    });
    const tampered = JSON.parse(json);
    tampered.payloads[0].metadata.checksum = "0".repeat(64);
    nc.publish(subject, JSON.stringify(tampered));
    await smartsend(subject, [["good.bin", bytesOf(300_000, 43), "binary"]], {
      nats_connection: nc,
      size_threshold: 1,
      fileserver_url: plik.url,
      jetstream: {},
      logger: quiet,
    });
  } finally {
    await nc.close();
  }
  const l = await listen([
    subject,
    "--jetstream",
    "--stream",
    "CLI_BADSUM",
    "--durable",
    "b1",
    "--count",
    "1",
    "--out",
    out,
  ]);
  const { code, stdout, stderr } = await l.done();
  assert.equal(code, 3, stderr);
  assert.match(stderr, /^natsbridge: CHECKSUM_MISMATCH .*"bad\.bin".* \(dead-letter\)$/m);
  const recs = records(stdout);
  assert.deepEqual(recs.map((r) => r.event), ["listening", "error", "message"]);
  assert.deepEqual([recs[1].code, recs[1].action], ["CHECKSUM_MISMATCH", "dead-letter"]);
  assert.equal(recs[2].payloads[0].name, "good.bin");
  assert.deepEqual(readdirSync(out), ["good.bin"]);
});

test("listen --jetstream --max-deliver, --ack-wait and --dead-letter-subject set the durable and where bad messages go", async () => {
  // Without them, listening to a stream on a pattern that takes in the
  // default dead-letter subject (natsbridge.>, or >) was impossible from the
  // command line; a refused dead-letter subject was said "listening" first.
  const { subject } = fresh();
  const dlSubject = `${subject}_dead`;
  const nc = await connect({ servers: nats.url });
  try {
    await ensureStream(nc, { name: "CLI_DL", subjects: [`${subject}.>`] });
    const dead: string[] = [];
    const sub = nc.subscribe(dlSubject);
    (async () => { for await (const m of sub) dead.push(m.string()); })();
    const [, json] = await smartsend(`${subject}.job`, [["t", "hi", "text"]], { is_publish: false, logger: quiet });
    const tampered = JSON.parse(json);
    tampered.payloads[0].metadata.checksum = "0".repeat(64);
    nc.publish(`${subject}.job`, JSON.stringify(tampered));
    const args = [`${subject}.>`, "--jetstream", "--stream", "CLI_DL", "--durable", "dl1", "--count", "1", "--timeout", "4s"];
    // A dead-letter subject the stream stores and the pattern matches: refused
    // before "listening" is said.
    const refused = await run(["listen", ...args.slice(0, 5), "dl0", "--json", "--dead-letter-subject", `${subject}.dead`]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /^natsbridge: INVALID_OPTION dead_letter_subject ".*\.dead" is stored/m);
    assert.deepEqual(records(refused.stdout), []);
    const l = await listen([...args, "--max-deliver", "2", "--ack-wait", "5s", "--dead-letter-subject", dlSubject]);
    const { code, stderr } = await l.done();
    assert.equal(code, 4, stderr); // the only message was dead-lettered: 0 of 1 printed
    assert.match(stderr, /^natsbridge: CHECKSUM_MISMATCH .* \(dead-letter\)$/m);
    const ci = await (await jetstreamManager(nc)).consumers.info("CLI_DL", "dl1");
    assert.deepEqual([ci.config.max_deliver, ci.config.ack_wait], [4, 5_000_000_000]);
    await nc.flush();
    assert.equal(dead.length, 1);
    assert.equal(JSON.parse(dead[0]).code, "CHECKSUM_MISMATCH");
    sub.unsubscribe();
    for (const [flags, message] of [
      [["--max-deliver", "2"], /--max-deliver, --ack-wait and --dead-letter-subject need --jetstream/],
      [["--jetstream", "--stream", "S", "--durable", "d", "--max-deliver", "0"], /--max-deliver must be an integer ≥ 1/],
      [["--jetstream", "--stream", "S", "--durable", "d", "--ack-wait", "soon"], /--ack-wait must be a positive duration/],
      [["--jetstream", "--stream", "S", "--durable", "d", "--dead-letter-subject", "a.*"], /dead-letter-subject/],
    ] as const) {
      const bad = await run(["listen", subject, ...flags]);
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(bad.stderr, message);
    }
  } finally {
    await nc.close();
  }
});

test("inspect accepts a valid envelope from a file and from stdin (exit 0)", async () => {
  const [, json] = await smartsend(
    "chat",
    [["msg", "hi", "text"], ["cfg", { a: 1 }, "dictionary"]],
    {
      is_publish: false,
      logger: quiet,
    },
  );
  const path = file("good.json", json);
  const fromFile = await run(["inspect", path]);
  assert.equal(fromFile.code, 0, fromFile.stdout + fromFile.stderr);
  assert.match(fromFile.stdout, /valid msg_envelope_v1, 2 payload\(s\)/);
  // Verified, so said as listen says it ("checksum present" could not tell it from a link's).
  assert.ok(fromFile.stdout.includes("\n  msg  text  2 B  direct  checksum ok\n"), fromFile.stdout);
  const [, linked] = await smartsend("chat", [["big", bytesOf(2000, 9), "binary"]], {
    is_publish: false, size_threshold: 1, fileserver_url: plik.url, logger: quiet,
  });
  const withLink = await run(["inspect", "-"], { input: linked });
  assert.ok(withLink.stdout.includes("\n  big  binary  2.0 KiB  link  checksum not checked (the link is not fetched)\n"), withLink.stdout);
  const fromStdin = await run(["inspect", "-", "--json"], { input: json });
  assert.equal(fromStdin.code, 0, fromStdin.stderr);
  assert.deepEqual(records(fromStdin.stdout)[0], {
    event: "inspect",
    source: "-",
    valid: true,
    problems: [],
    notes: [],
  });
});

test("inspect and listen --json name metadata nested 100,000 levels deep as a problem; no stack overflow", async () => {
  // Both ended with "ERROR Maximum call stack size exceeded": inspect copying
  // the payload, listen writing its JSON record (the message lost, a JetStream
  // one redelivered for ever).
  const levels = 100_000;
  const deep = "[".repeat(levels) + "]".repeat(levels);
  const inPayload = sampleEnvelope() as Json;
  inPayload.payloads[0].metadata = { nested: "here" };
  const text = JSON.stringify(inPayload).replace('"here"', deep);
  const inspected = await run(["inspect", "-"], { input: text });
  assert.equal(inspected.code, 1, inspected.stderr);
  assert.match(inspected.stdout, /payloads\[0\]\.metadata: ENVELOPE_INVALID .*nested deeper than 512 levels/);
  const { subject } = fresh();
  const l = await listen([subject, "--count", "1"]);
  const nc = await connect({ servers: nats.url });
  try {
    const atTop = sampleEnvelope() as Json;
    atTop.send_to = subject;
    atTop.metadata = { nested: "here" };
    nc.publish(subject, JSON.stringify(atTop).replace('"here"', deep));
    await nc.flush();
  } finally {
    await nc.close();
  }
  const { code, stdout, stderr } = await l.done();
  assert.equal(code, 3, stderr);
  assert.match(stderr, /ENVELOPE_INVALID Envelope "metadata" is nested deeper than 512 levels/);
  assert.equal(records(stdout).at(-1)!.code, "ENVELOPE_INVALID");
});

test("inspect lists every problem of a broken envelope (exit 1)", async () => {
  const env = sampleEnvelope() as Json;
  const good = env.payloads[0];
  delete env.reply_to_msg_id;
  env.correlation_id = "";
  env.msg_id = 5;
  env.timestamp = "yesterday";
  env.metadata = [];
  env.payloads = [
    {
      ...good,
      id: "",
      dataname: "a",
      payload_type: "pdf",
      encoding: "hex",
      size: "2",
      metadata: { checksum: "zz" },
    },
    { ...good, dataname: "b", transport: "pigeon", encoding: "none" },
    { ...good, dataname: "c", size: 3, metadata: {} },
    { ...good, dataname: "d", metadata: { checksum: "0".repeat(64) } },
    {
      ...good,
      dataname: "e",
      payload_type: "image",
      transport: "link",
      encoding: "none",
      data: "http://169.254.169.254/x",
    },
    { ...good, dataname: "f", payload_type: "dictionary", size: 3, data: "e3s=", metadata: {} },
    7,
    { ...good, dataname: "g" },
  ];
  const path = file("bad.json", JSON.stringify(env));
  const { code, stdout } = await run(["inspect", path, "--json", "--fileserver", plik.url]);
  assert.equal(code, 1);
  const [r] = records(stdout);
  assert.equal(r.valid, false);
  assert.deepEqual(r.problems.map((p: Record<string, string>) => [p.field, p.code]), [
    ["reply_to_msg_id", "ENVELOPE_INVALID"],
    ["correlation_id", "ENVELOPE_INVALID"],
    ["msg_id", "ENVELOPE_INVALID"],
    ["timestamp", "ENVELOPE_INVALID"],
    ["metadata", "ENVELOPE_INVALID"],
    ["payloads[0].id", "ENVELOPE_INVALID"],
    ["payloads[0].size", "ENVELOPE_INVALID"],
    ["payloads[0].metadata.checksum", "ENVELOPE_INVALID"],
    ["payloads[0].payload_type", "UNKNOWN_PAYLOAD_TYPE"],
    ["payloads[0].encoding", "UNKNOWN_ENCODING"],
    ["payloads[1].transport", "UNKNOWN_TRANSPORT"],
    ["payloads[2]", "SIZE_MISMATCH"],
    ["payloads[3]", "CHECKSUM_MISMATCH"],
    ["payloads[4].data", "ORIGIN_REFUSED"],
    ["payloads[5]", "SIZE_MISMATCH"],
    ["payloads[5]", "DECODE_FAILED"],
    ["payloads[6]", "ENVELOPE_INVALID"],
  ]);
  assert.match(r.problems[3].message, /"timestamp" is not ISO 8601: "yesterday"/);
  assert.match(r.problems[14].message, /announced 3 bytes but carries 2/);
  assert.ok(r.notes.some((n: string) => /extra|no checksum/.test(n)));

  // Human output names every problem too, one per line.
  const human = await run(["inspect", path, "--fileserver", plik.url]);
  assert.equal(human.code, 1);
  assert.match(human.stdout, /invalid, 17 problems/);
  assert.equal(
    human.stdout.split("\n").filter((l) =>
      /^ {2}(payloads|reply_to|correlation|msg_id|timestamp|metadata)\S*: [A-Z_]+ /.test(l)
    ).length,
    17,
  );
});

test("inspect: invalid JSON is one problem (exit 1); an unreadable file is a usage error (exit 2)", async () => {
  const bad = await run(["inspect", "-"], { input: '{"msg_id": ' });
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /ENVELOPE_INVALID Envelope is not valid JSON/);
  const missing = await run(["inspect", join(work, "nope.json")]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^natsbridge: USAGE cannot read ".*nope\.json" \(ENOENT\)/);
});

test("request prints the reply of a replier, its link payload saved; no replier is a timeout (exit 4)", async () => {
  const { subject, out } = fresh();
  const bridge = await Bridge.connect({
    broker_url: nats.url,
    fileserver: plikFileServer({ url: plik.url }),
    logger: quiet,
  });
  const blob = bytesOf(700_000, 41);
  const served = (async () => {
    for await (const env of bridge.subscribe(subject)) {
      await bridge.reply(env, [["echo", `echo: ${env.payloads[0][1]}`, "text"], [
        "blob",
        blob,
        "binary",
      ]]);
      break;
    }
  })();
  try {
    const r = await run([
      "request",
      subject,
      "--text",
      "ping",
      "--json",
      "--out",
      out,
      "--timeout",
      "15s",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const [reply] = records(r.stdout);
    assert.equal(reply.event, "reply");
    assert.deepEqual(
      reply.payloads.map((p: Record<string, unknown>) => [p.name, p.transport, p.value]),
      [
        ["echo", "direct", "echo: ping"],
        ["blob", "link", undefined],
      ],
    );
    assert.deepEqual(read(join(out, "blob")), blob);
    await served;
  } finally {
    await bridge.close();
  }
  const none = await run(["request", `${subject}.nobody`, "--text", "ping", "--timeout", "700ms"]);
  assert.equal(none.code, 4);
  assert.match(none.stderr, /^natsbridge: TIMEOUT No reply on "cli\.t\d+\.nobody" within 700ms\n$/);
  // A bare number is seconds, and said so ("within 1" before).
  const bare = await run(["request", `${subject}.nobody`, "--text", "ping", "--timeout", "1"]);
  assert.match(bare.stderr, /^natsbridge: TIMEOUT No reply on "cli\.t\d+\.nobody" within 1s\n$/);
});

test("request takes a reply that leaves reply_to_msg_id empty, as the spec's services do; a reply to another message is named in the timeout", async () => {
  const { subject } = fresh();
  const bridge = await Bridge.connect({ broker_url: nats.url, logger: quiet });
  const service = bridge.subscribe(`${subject}.>`);
  void (async () => {
    for await (const env of service) {
      const reply_to_msg_id = env.send_to.endsWith("other") ? "some-other-message" : "";
      await bridge.send(env.reply_to, [["echo", `echo: ${env.payloads[0][1]}`, "text"]], { reply_to_msg_id });
    }
  })();
  try {
    const r = await run(["request", `${subject}.plain`, "--text", "ping", "--json", "--timeout", "15s"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(records(r.stdout)[0].payloads.map((p: Record<string, unknown>) => p.value), ["echo: ping"]);
    const other = await run(["request", `${subject}.other`, "--text", "ping", "--timeout", "700ms"]);
    assert.equal(other.code, 4);
    assert.match(other.stderr, /within 700ms; 1 envelope came to its inbox answering another message \(reply_to_msg_id "some-other-message", not this request's "[0-9a-f-]{36}"\)\n$/);
  } finally {
    service.unsubscribe();
    await bridge.close();
  }
});

test("--out keeps apart names that differ only in lone surrogates (the file system would make both U+FFFD)", async () => {
  // A hostile peer's "\ud800.part" and "\ud801" were both written as
  // "\ufffd…": the second file's .part was overwritten by the first, one payload lost.
  const out = mkdtempSync(join(tmpdir(), "natsbridge-surrogates-"));
  try {
    const w = new PayloadWriter(out);
    const a = await w.write("\ud800.part", "binary", new TextEncoder().encode("AAAA"));
    const b = await w.write("\ud801", "binary", new TextEncoder().encode("BBBB"));
    const c = await w.write("ok \ud83d\ude00", "binary", new TextEncoder().encode("CCCC"));
    await w.commit();
    assert.equal(new Set([a, b, c]).size, 3);
    assert.deepEqual([a, b, c].map((f) => readFileSync(f, "utf8")), ["AAAA", "BBBB", "CCCC"]);
    assert.equal(readdirSync(out).length, 3);
    assert.ok(readdirSync(out).includes("ok \ud83d\ude00"), "a well-formed pair is kept");
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("listen --store objectstore with no file server named does not trust the default http://localhost:8080", async () => {
  // The CLI passed the spec's default on as if named: any publisher could make
  // such a listener GET any path on its own localhost:8080 and save the answer.
  const { subject } = fresh();
  const l = start([...CLI, "listen", subject, "--store", "objectstore", "--count", "1", "--json"], { env: { FILESERVER_URL: "" } });
  await l.waitFor(/"event":"listening"/);
  const bridge = await Bridge.connect({ broker_url: nats.url, logger: quiet });
  try {
    const upload = () => Promise.resolve({ status: 200, uploadid: "u", fileid: "f", url: "http://localhost:8080/file/u/f/secret" });
    await bridge.send(subject, [["secret", bytesOf(10, 1), "binary"]], { size_threshold: 0, fileserver_upload_handler: upload });
  } finally {
    await bridge.close();
  }
  const { stdout } = await l.done();
  const recs = records(stdout);
  assert.deepEqual(recs.map((r) => [r.event, r.code]), [["listening", undefined], ["error", "ORIGIN_REFUSED"]]);
});

test("--out numbers a name's next file from where the last one went, not by probing every taken name again", async () => {
  // Each message's writer tried t.txt, t_1.txt, ... in turn: with 2,000 files
  // of one name in the folder, every further message made 4,000 file system calls.
  const out = mkdtempSync(join(tmpdir(), "natsbridge-names-"));
  try {
    const save = async () => {
      const w = new PayloadWriter(out); // one per message, as listen makes them
      const file = await w.write("t", "text", "x");
      await w.commit();
      return basename(file);
    };
    assert.deepEqual([await save(), await save(), await save()], ["t.txt", "t_1.txt", "t_2.txt"]);
    // A name freed since is not probed for again: the next goes after the last.
    rmSync(join(out, "t_1.txt"));
    assert.equal(await save(), "t_3.txt");
    // A file that appeared since is still seen, and skipped.
    writeFileSync(join(out, "t_4.txt"), "theirs");
    assert.equal(await save(), "t_5.txt");
    assert.equal(readFileSync(join(out, "t_4.txt"), "utf8"), "theirs");
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("listen --out keeps every payload: names that meet each other's .part files, long non-ASCII names", async () => {
  // "x.part" was written to x.part.part and "x" to x.part, so committing the
  // first overwrote the second's file: one payload lost, listen said 0. A
  // name of 150 "é" (300 bytes) failed with ENAMETOOLONG and lost the message.
  const { subject, out } = fresh();
  const l = await listen([subject, "--count", "1", "--out", out]);
  const long = "é".repeat(150);
  const sent = await run([
    "send", subject,
    "--name", "x.part", "--file", file("b.bin", "BBBB"),
    "--name", "x", "--file", file("a.bin", "AAAA"),
    "--name", long, "--text", "long",
  ]);
  assert.equal(sent.code, 0, sent.stderr);
  const { code, stderr } = await l.done();
  assert.equal(code, 0, stderr);
  const files = readdirSync(out).sort();
  assert.equal(files.length, 3, files.join(", "));
  assert.deepEqual(files.filter((f) => !f.startsWith("é")), ["x.part", "x_1"]);
  assert.equal(readFileSync(join(out, "x.part"), "utf8"), "BBBB");
  assert.equal(readFileSync(join(out, "x_1"), "utf8"), "AAAA");
  const saved = files.find((f) => f.startsWith("é"))!;
  assert.ok(new TextEncoder().encode(saved).byteLength <= 255, saved);
  assert.ok(saved.endsWith(".txt"), saved);
  assert.equal(readFileSync(join(out, saved), "utf8"), "long");
});

test("send gives every payload its own name; a --name used twice is a usage error", async () => {
  // "--text a --name text_2 --text b --text c" sent two payloads named text_2,
  // and two files x.png went as "x.png" and "x.png_2".
  const { subject } = fresh();
  const png = file("x.png", bytesOf(10, 1));
  const sent = await run(["send", subject, "--json", "--text", "a", "--name", "text_2", "--text", "b", "--text", "c", "--file", png, "--file", png]);
  assert.equal(sent.code, 0, sent.stderr);
  const [rec] = records(sent.stdout);
  assert.deepEqual(rec.payloads.map((p: { name: string }) => p.name), ["text", "text_2", "text_3", "x.png", "x_2.png"]);
  const twice = await run(["send", subject, "--text", "a", "--name", "text", "--text", "b"]);
  assert.equal(twice.code, 2);
  assert.match(twice.stderr, /^natsbridge: USAGE --name "text" is already the name of another payload/);
});

test("a CSV with a header and no rows arrives as a table with those columns and no rows", async () => {
  // It arrived with no columns at all.
  const { subject, out } = fresh();
  const l = await listen([subject, "--count", "1", "--out", out]);
  const sent = await run(["send", subject, "--table", file("empty.csv", "id,name,score\n")]);
  assert.equal(sent.code, 0, sent.stderr);
  const { code, stderr } = await l.done();
  assert.equal(code, 0, stderr);
  const table = tableFromIPC(read(join(out, "empty.arrow")));
  assert.deepEqual(table.schema.fields.map((f) => f.name), ["id", "name", "score"]);
  assert.equal(table.numRows, 0);
});

test("control characters a sender put in a name never reach the terminal raw", async () => {
  const { subject } = fresh();
  const l = await listen([subject, "--count", "1"]);
  const nc = await connect({ servers: nats.url });
  try {
    const env = sampleEnvelope();
    env.send_to = subject;
    env.payloads[0].dataname = "evil\x1b[2J\x1b[31mRED\rOVER\x07\u009b";
    env.payloads[0].metadata = { checksum: "0".repeat(64) };
    nc.publish(subject, JSON.stringify(env));
    await nc.flush();
  } finally {
    await nc.close();
  }
  const { code, stderr } = await l.done();
  assert.equal(code, 3);
  assert.match(stderr, /CHECKSUM_MISMATCH Checksum mismatch for payload "evil\?\[2J\?\[31mRED\?OVER\?\?"/);
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(stderr.replace(/\n$/, ""), /[\x00-\x1f\x7f-\x9f]/);
});

test("listen --json: a sender's extra envelope keys cannot pass for the record's event or subject", async () => {
  // The envelope's extra keys (kept by receivers) were spread after "event"
  // and "subject": a peer could make a good message read as an error on
  // another subject.
  const { subject } = fresh();
  const l = await listen([subject, "--count", "1"]);
  const nc = await connect({ servers: nats.url });
  try {
    const env = { ...sampleEnvelope(), send_to: subject, event: "error", subject: "spoofed.subject", code: "CHECKSUM_MISMATCH" };
    nc.publish(subject, JSON.stringify(env));
    await nc.flush();
  } finally {
    await nc.close();
  }
  const { code, stdout, stderr } = await l.done();
  assert.equal(code, 0, stderr);
  const rec = records(stdout).find((r) => r.msg_id === sampleEnvelope().msg_id)!;
  assert.equal(rec.event, "message");
  assert.equal(rec.subject, subject);
});

test("a message that fails to receive is one stderr line with its code; listen goes on and exits 3", async () => {
  const { subject } = fresh();
  const l = await listen([subject, "--count", "2"]);
  const nc = await connect({ servers: nats.url });
  try {
    const env = sampleEnvelope();
    env.send_to = subject;
    env.payloads[0].metadata = { checksum: "0".repeat(64) };
    nc.publish(subject, JSON.stringify(env));
    nc.publish(subject, JSON.stringify(sampleEnvelope()));
    await nc.flush();
  } finally {
    await nc.close();
  }
  const { code, stdout, stderr } = await l.done();
  assert.equal(code, 3);
  assert.match(
    stderr,
    /^natsbridge: CHECKSUM_MISMATCH Checksum mismatch for payload "msg" \(correlation c0ffee00-0000-4000-8000-000000000001\): expected 0{64}, got 8f43/m,
  );
  const recs = records(stdout);
  assert.deepEqual(recs.map((r) => r.event), ["listening", "error", "message"]);
  assert.equal(recs[1].code, "CHECKSUM_MISMATCH");
  assert.equal(recs[2].payloads[0].value, "hi");
});

test("errors are one line on stderr with documented exit codes", async () => {
  const usage = await run(["send", "chat", "--bogus"]);
  assert.equal(usage.code, 2);
  assert.equal(
    usage.stderr,
    "natsbridge: USAGE unknown option --bogus (see: natsbridge send --help)\n",
  );
  const noSubject = await run(["listen"]);
  assert.equal(noSubject.code, 2);
  assert.match(noSubject.stderr, /^natsbridge: USAGE missing subject/);
  const unknown = await run(["frobnicate"]);
  assert.equal(unknown.code, 2);
  const missingFile = await run(["send", "chat", "--file", "nope.bin"]);
  assert.equal(missingFile.code, 2);
  assert.match(
    missingFile.stderr,
    /^natsbridge: USAGE --file: cannot read "nope\.bin" \(ENOENT\)/,
  );
  // A type that is not one was reported as a file that does not exist.
  const wrongType = await run(["send", "chat", "--file", `${file("scores.csv", "a\n1\n")}:picture`]);
  assert.equal(wrongType.code, 2);
  assert.match(wrongType.stderr, /^natsbridge: USAGE --file: "picture" is not a type of --file \(image, audio, video or binary\)/);
  const badCsv = await run(["send", "chat", "--table", file("bad.csv", 'a,b\n1,"2\n')]);
  assert.equal(badCsv.code, 2);
  assert.match(badCsv.stderr, /quoted field is never closed/);
  const closed = await run(["send", "chat", "--text", "hi", "--broker", "nats://127.0.0.1:9"]);
  assert.equal(closed.code, 1);
  assert.match(
    closed.stderr,
    /^natsbridge: CONNECTION_FAILED Cannot connect to NATS at nats:\/\/127\.0\.0\.1:9: /,
  );
  assert.equal(closed.stderr.split("\n").length, 2, closed.stderr);
  // Refused before connecting: the server would drop the connection over them.
  const badQueue = await run(["listen", "jobs", "--queue", "my workers"]);
  assert.equal(badQueue.code, 2);
  assert.equal(badQueue.stderr, 'natsbridge: INVALID_OPTION --queue "my workers" must not contain whitespace\n');
  const badSubject = await run(["listen", "jobs..new"]);
  assert.equal(badSubject.code, 2);
  assert.match(badSubject.stderr, /^natsbridge: INVALID_OPTION subject "jobs\.\.new" has an empty token/);
  // A timer that long would fire at once: "600h" ended listen after 0.1 s with exit 4.
  const tooLong = await run(["listen", "jobs", "--timeout", "600h"]);
  assert.equal(tooLong.code, 2);
  assert.match(tooLong.stderr, /^natsbridge: USAGE --timeout must be at most 596h \(about 24\.8 days\), got "600h"/);
  // The password of a URL that does not parse is not printed either.
  const badBroker = await run(["send", "jobs", "--text", "x", "--broker", "nats://user:secret@127.0.0.1:$"]);
  assert.equal(badBroker.code, 2);
  assert.equal(badBroker.stderr, 'natsbridge: USAGE --broker is not a URL: "nats://***@127.0.0.1:$" (see: natsbridge send --help)\n');
  // NATS_URL is read as the library reads broker_url: servers without a scheme, empty items skipped.
  const schemeless = `127.0.0.1:${nats.port},,127.0.0.1:${nats.port},`;
  const fromEnv = await run(["send", "jobs", "--text", "x"], { env: { NATS_URL: schemeless } });
  assert.equal(fromEnv.code, 0, fromEnv.stderr);
  const badEnv = await run(["send", "jobs", "--text", "x"], { env: { NATS_URL: "nats://user:secret@127.0.0.1:$" } });
  assert.equal(badEnv.code, 2);
  assert.equal(badEnv.stderr, 'natsbridge: USAGE NATS_URL is not a URL: "nats://***@127.0.0.1:$" (see: natsbridge send --help)\n');
  // An origin that cannot match any link is refused, as inspect refuses it.
  const badOrigin = await run(["listen", "jobs", "--allow-origin", "127.0.0.1:8080"]);
  assert.equal(badOrigin.code, 2);
  assert.match(badOrigin.stderr, /^natsbridge: INVALID_OPTION --allow-origin "127\.0\.0\.1:8080" is not an origin/);
  // inspect applies the same rule: "localhost:8080" parses as a URL whose scheme is "localhost:".
  const badInspectOrigin = await run(["inspect", "-", "--allow-origin", "localhost:8080"], { input: "{}" });
  assert.equal(badInspectOrigin.code, 2);
  assert.match(badInspectOrigin.stderr, /^natsbridge: INVALID_OPTION --allow-origin "localhost:8080" is not an origin/);
  // A value starting with "-": the fix is in the message, not cut off after its first sentence.
  // --out naming a file: listening began, then the first message was lost to EEXIST (exit 1).
  const aFile = join(work, "not-a-folder");
  writeFileSync(aFile, "x");
  const outFile = await run(["listen", "jobs", "--out", aFile, "--count", "1", "--timeout", "1s"]);
  assert.equal(outFile.code, 2);
  assert.match(outFile.stderr, /^natsbridge: USAGE --out .*not-a-folder is not a folder/);
  const dashed = await run(["send", "jobs", "--text", "-5"]);
  assert.equal(dashed.code, 2);
  assert.equal(dashed.stderr, 'natsbridge: USAGE --text "-5" looks like an option: write --text=-5 (see: natsbridge send --help)\n');
  for (const r of [usage, noSubject, unknown, missingFile, badCsv, closed, badQueue, badSubject, tooLong, badBroker, badOrigin, badInspectOrigin, outFile, dashed]) {
    assert.equal(r.stdout, "");
  }
});

test("--help for every command and --version exit 0", async () => {
  for (
    const args of [["--help"], ["send", "--help"], ["listen", "--help"], ["request", "--help"], [
      "inspect",
      "--help",
    ]]
  ) {
    const r = await run(args);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Usage:/);
  }
  const v = await run(["--version"]);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^natsbridge \d+\.\d+\.\d+/);
});

const hasScript = spawnSync("script", ["--version"]).status === 0;

/** A shell command line from arguments. */
const shell = (args: string[]) => args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ");

test("progress bars are drawn on a terminal for link uploads and downloads, never without one", {
  skip: !hasScript && "script (util-linux) not installed",
}, async () => {
  const { subject, out } = fresh();
  file("tty.bin", bytesOf(3_000_000, 51));
  // `script` gives the CLI a pseudo-terminal; everything it wrote arrives on script's stdout.
  const ttyListen = start([
    "script",
    "-qfec",
    shell([...CLI, "listen", subject, "--count", "1", "--out", out]),
    "/dev/null",
  ]);
  await ttyListen.waitFor(/listening on/);
  const ttySend = start([
    "script",
    "-qfec",
    shell([...CLI, "send", subject, "--file", "tty.bin"]),
    "/dev/null",
  ]);
  const sent = await ttySend.done();
  assert.equal(sent.code, 0, sent.stdout);
  assert.match(sent.stdout, /upload {2,}\[#{24}\] 100% {2}2\.9 MiB \/ 2\.9 MiB {2}tty\.bin/);
  const got = await ttyListen.done();
  assert.equal(got.code, 0, got.stdout);
  assert.match(got.stdout, /download {2}\[#{24}\] 100% {2}2\.9 MiB \/ 2\.9 MiB {2}tty\.bin/);

  // The same without a terminal: no bar anywhere.
  const l = await listen([subject, "--count", "1"]);
  const plain = await run(["send", subject, "--file", "tty.bin"]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.doesNotMatch(plain.stderr + plain.stdout, /\[#|%/);
  const plainListen = await l.done();
  assert.doesNotMatch(plainListen.stderr, /\[#|%/);
  // --json is quiet even on a terminal.
  const l2 = await listen([subject, "--count", "1"]);
  const quietTty = start([
    "script",
    "-qfec",
    shell([...CLI, "send", subject, "--file", "tty.bin", "--json"]),
    "/dev/null",
  ]);
  const q = await quietTty.done();
  assert.equal(q.code, 0, q.stdout);
  assert.doesNotMatch(q.stdout, /\[#|%/);
  await l2.done();
});

test("listen whose stdout is closed (| head) exits quietly instead of crashing or hanging", async () => {
  // An EPIPE came as an unhandled 'error' event: a stack trace and exit 1 on
  // Node and Deno, a hang on Bun.
  const l = await listen(["pipe.closed"]);
  l.child.stdout!.destroy();
  for (let i = 0; i < 5; i++) await run(["send", "pipe.closed", "--text", `m${i}`]);
  const { code, stderr } = await l.done(15_000);
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /EPIPE|at /);
});

test("a payload that cannot be written to --out (disk full) rejects with the error and stops its download, so listen reports it and goes on", async () => {
  // pipeToFile left the write error unhandled: Node and Deno crashed, Bun hung.
  const { pipeToFile } = await import("../engine/cli/save.ts");
  let cancelled = false;
  const source = new ReadableStream<Uint8Array>({
    pull: (c) => c.enqueue(new Uint8Array(1024 * 1024)),
    cancel: () => void (cancelled = true),
  });
  await assert.rejects(() => pipeToFile(source, "/dev/full", "w"), /ENOSPC|No space left/);
  assert.ok(cancelled, "the download was cancelled");
});

test("a payload stream is saved through buffers of the saver's own (BYOB), byte for byte, and a full disk still stops its download", async () => {
  const { pipeToFile } = await import("../engine/cli/save.ts");
  const { payloadStream } = await import("../engine/payload_stream.ts");
  const { ownStream } = await import("../engine/platform/buffer_release.ts");
  const chunks = [bytesOf(300_000, 1), bytesOf(1_500_000, 2), bytesOf(7, 3)];
  const expected = Buffer.concat(chunks);
  const dir = mkdtempSync(join(tmpdir(), "natsbridge-save-"));
  try {
    let i = 0;
    const source = new ReadableStream<Uint8Array>({ pull: (c) => i < chunks.length ? c.enqueue(chunks[i++]) : c.close() });
    // Buffers freed (transfer(0)) meanwhile, by size: a default read would hand the chunks over instead.
    const freed = await freedDuring(() => pipeToFile(payloadStream(ownStream(source)), join(dir, "out.bin")));
    assert.ok(readFileSync(join(dir, "out.bin")).equals(expected));
    if (!NO_TRANSFER) assert.deepEqual(freed.filter((n) => n !== 0).sort((a, b) => a - b), [7, 300_000, 1_500_000], "each chunk freed once copied out");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  let cancelled = false;
  const endless = new ReadableStream<Uint8Array>({
    pull: (c) => c.enqueue(new Uint8Array(1024 * 1024)),
    cancel: () => void (cancelled = true),
  });
  await assert.rejects(() => pipeToFile(payloadStream(endless), "/dev/full", "w"), /ENOSPC|No space left/);
  assert.ok(cancelled, "the download was cancelled");
});

test("a CSV column holding a number a double cannot carry exactly stays text, instead of changing", async () => {
  // 9007199254740993 arrived as 9007199254740992 and 1e400 as null.
  const { parseCsv } = await import("../engine/cli/csv.ts");
  assert.deepEqual(parseCsv("id,f,g\n9007199254740993,1e400,1.5\n12,2,-9007199254740991\n"), [
    { id: "9007199254740993", f: "1e400", g: 1.5 },
    { id: "12", f: "2", g: -9007199254740991 },
  ]);
});

test("a CSV column of integers is Int64 in an arrowtable, exact up to 2^63, and numbers in a jsontable", async () => {
  // Python received every CSV integer column as float64: 1 as 1.0, ids as floats.
  const { parseCsvTable } = await import("../engine/cli/csv.ts");
  const text = "id,big,n,zip,mixed,huge\n1,9007199254740993,,02134,1,9223372036854775808\n-2,-9223372036854775808,7,10001,2.5,1\n";
  assert.deepEqual(parseCsvTable(text, { integers: "bigint" }).rows, [
    { id: 1n, big: 9007199254740993n, n: null, zip: "02134", mixed: 1, huge: "9223372036854775808" },
    { id: -2n, big: -9223372036854775808n, n: 7n, zip: "10001", mixed: 2.5, huge: "1" },
  ]);
  // Numbers by default, as JSON carries them: a column a double cannot hold stays text.
  assert.deepEqual(parseCsvTable(text).rows[0], { id: 1, big: "9007199254740993", n: null, zip: "02134", mixed: 1, huge: "9223372036854775808" });
});

test("a CSV column of codes with leading zeros, or of numbers with more digits than a double keeps, stays text", async () => {
  // 02134 arrived as 2134, 9007199254740993.0 as …992 and 12345678901234567.5 as
  // 12345678901234568: only integers of 16 digits or more were checked.
  const { parseCsv } = await import("../engine/cli/csv.ts");
  assert.deepEqual(parseCsv("zip,amount,id,ok,small\n02134,12345678901234567.5,9007199254740993.0,0.10,-0\n10001,1.5,1,1e3,0.5\n"), [
    { zip: "02134", amount: "12345678901234567.5", id: "9007199254740993.0", ok: 0.1, small: -0 },
    { zip: "10001", amount: "1.5", id: "1", ok: 1000, small: 0.5 },
  ]);
  // Zeros that are not leading a code: 0, 0.5, -0.25, 0e0.
  assert.deepEqual(parseCsv("a\n0\n0.5\n-0.25\n0e0\n"), [{ a: 0 }, { a: 0.5 }, { a: -0.25 }, { a: 0 }]);
});

test("send --jetstream: a --stream that is misnamed or does not capture the subject is INVALID_OPTION (exit 2), a server without JetStream fails at once", async () => {
  const nc = await connect({ servers: nats.url });
  await ensureStream(nc, { name: "ONLY_A", subjects: ["only.a"] });
  await nc.close();
  const other = await run(["send", "only.b", "--text", "hi", "--jetstream", "--stream", "ONLY_A"]);
  assert.equal(other.code, 2, other.stderr);
  assert.match(other.stderr, /INVALID_OPTION stream "ONLY_A" captures "only\.a", not "only\.b"/);
  const bad = await run(["send", "only.a", "--text", "hi", "--jetstream", "--stream", "BAD.STREAM"]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /INVALID_OPTION/);
  // It retried "jetstream is not enabled" ten times over 11 s.
  const plain = await startNats({ jetstream: false });
  try {
    const t0 = Date.now();
    const r = await run(["send", "x.y", "--text", "hi", "--jetstream", "--broker", plain.url]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /CONNECTION_FAILED .*JetStream is not enabled/);
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
  } finally {
    await plain.stop();
  }
});

test("send --plik-token (env PLIK_TOKEN) reaches a Plik that requires a token; credentials in --fileserver never reach stderr", async () => {
  // A CLI user had no way to pass the token, and on Node the URL's secret was printed in the error.
  const locked = await startPlik({ args: ["-token", "s3cret"] });
  try {
    const refused = await run(["send", "tok.a", "--file", file("tok.bin", bytesOf(600_000, 3)), "--fileserver", locked.url]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /UPLOAD_FAILED/);
    const flag = await run(["send", "tok.a", "--file", file("tok.bin", bytesOf(600_000, 3)), "--fileserver", locked.url, "--plik-token", "s3cret"]);
    assert.equal(flag.code, 0, flag.stderr);
    const env = await run(["send", "tok.a", "--file", file("tok.bin", bytesOf(600_000, 3)), "--fileserver", locked.url], {
      env: { PLIK_TOKEN: "s3cret" },
    });
    assert.equal(env.code, 0, env.stderr);
    const leaky = await run(["send", "tok.a", "--file", file("tok.bin", bytesOf(600_000, 3)), "--fileserver", "http://hunter2@127.0.0.1:1"]);
    assert.notEqual(leaky.code, 0);
    assert.doesNotMatch(leaky.stderr, /hunter2/);
  } finally {
    await locked.stop();
  }
});

test("Ctrl-C during a link download that listen --out streams to disk stops it at once and keeps nothing", async () => {
  // On Deno the download went on to its end (20 s through a slow link) and the
  // message was printed and saved; under JetStream it was then acked.
  const data = bytesOf(20_000_000, 43);
  const half = 1_000_000;
  // Half a megabyte a second: the rest would take 40 s.
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-length": String(data.byteLength) });
    let at = 0;
    const timer = setInterval(() => {
      if (at >= data.byteLength || res.destroyed) return clearInterval(timer);
      res.write(data.subarray(at, at += at === 0 ? half : 50_000));
    }, 100);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const { subject, out } = fresh();
    const l = await listen([subject, "--out", out, "--allow-origin", origin]);
    await smartsend(subject, [["big.bin", data, "binary"]], {
      broker_url: nats.url,
      size_threshold: 1,
      fileserver_upload_handler: () => Promise.resolve({ status: 200, uploadid: "u", fileid: "f", url: `${origin}/big.bin` }),
      logger: quiet,
    });
    const part = join(out, "big.bin.part");
    const deadline = Date.now() + 20_000;
    while (!(existsSync(part) && statSync(part).size >= half)) {
      assert.ok(Date.now() < deadline, `no ${half} bytes in ${part}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const t0 = Date.now();
    l.child.kill("SIGINT");
    const { code, stderr } = await l.done(10_000);
    // Deno's child_process reports a child that exits 130 on SIGINT as killed by it.
    assert.ok(code === 130 || (runtime === "deno" && l.child.signalCode === "SIGINT"), `exit ${code}: ${stderr}`);
    assert.ok(Date.now() - t0 < 3000, `exited after ${Date.now() - t0} ms`);
    assert.deepEqual(readdirSync(out), []);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test("listen --out never writes through a symlink planted in the folder", async () => {
  // access() took a dangling link for a free name and writeFile followed it:
  // the payload landed wherever the link pointed.
  const { PayloadWriter } = await import("../engine/cli/save.ts");
  const { symlinkSync, lstatSync } = await import("node:fs");
  const { out } = fresh();
  const target = join(work, "victim_target");
  symlinkSync(target, join(out, "secret.bin.part"));
  symlinkSync(target, join(out, "other.bin"));
  const writer = new PayloadWriter(out);
  const saved = [
    await writer.write("secret.bin", "binary", bytesOf(10, 1)),
    await writer.write("other.bin", "binary", new Blob([bytesOf(10, 2) as Uint8Array<ArrayBuffer>]).stream()),
  ];
  await writer.commit();
  assert.equal(existsSync(target), false, "written through the link");
  for (const path of saved) {
    assert.ok(!lstatSync(path).isSymbolicLink(), path);
    assert.ok(!path.endsWith("/secret.bin") && !path.endsWith("/other.bin"), path);
  }
});

test("names, ids and messages from a peer reach the terminal without control or bidi characters", async () => {
  // A dataname of "\u009b2J\u009b31mRED\u202egnp.exe" was saved and printed as is
  // (a C1 CSI and a right-to-left override), and log lines carried ESC sequences.
  const { printable } = await import("../engine/printable.ts");
  const { fileNameFor } = await import("../engine/cli/save.ts");
  const { formatLogLine } = await import("../engine/logger.ts");
  const hostile = "n\u001b[31m\u009b2J\u202egnp.exe\u2066\u200f";
  // deno-lint-ignore no-control-regex
  const unsafe = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
  assert.doesNotMatch(printable(hostile), unsafe);
  assert.doesNotMatch(fileNameFor(hostile, "text"), unsafe);
  assert.doesNotMatch(formatLogLine(`c${hostile}`, `payload "${hostile}"`), unsafe);
  assert.equal(formatLogLine("abc", "Message published to chat", new Date(0)), "[1970-01-01T00:00:00.000Z] [Correlation: abc] Message published to chat");
});

test("SIGTERM while connecting to a server that does not answer exits 130 at once, not after the connect timeout", async () => {
  // It waited out the 20 s connect timeout and exited 1 CONNECTION_FAILED:
  // a service manager's single SIGTERM was not obeyed.
  const hung = await startNats();
  try {
    await suspend(hung.pid);
    for (const command of [["listen", "hung.x"], ["send", "hung.x", "--text", "hi"]]) {
      const p = start([...CLI, ...command, "--broker", hung.url]);
      await new Promise((r) => setTimeout(r, 700));
      const t0 = Date.now();
      p.child.kill("SIGTERM");
      const { code, stderr } = await p.done(30_000);
      // Killed by the signal itself is obeyed at once too: Deno always, and any
      // runtime whose start-up, on a loaded machine, outlasted the 700 ms.
      assert.ok(code === 130 || p.child.signalCode === "SIGTERM", `${command[0]}: exit ${code}: ${stderr}`);
      assert.ok(Date.now() - t0 < 3000, `${command[0]}: exited ${Date.now() - t0} ms after SIGTERM`);
    }
  } finally {
    process.kill(hung.pid, "SIGCONT");
    await hung.stop();
  }
});

test("--ttl is a lifetime the server keeps, not a timer: 30d and never are taken, for both stores", async () => {
  // --ttl 720h was "must be at most 596h", the limit of a JavaScript timer,
  // and nothing said "never expire" (Plik's -1, the Object Store's 0).
  const big = file("ttl.bin", bytesOf(600_000, 4));
  for (const store of ["plik", "objectstore:ttl_long"]) {
    for (const ttl of ["30d", "720h", "never"]) {
      const r = await run(["send", fresh().subject, "--file", big, "--store", store, "--ttl", ttl]);
      assert.equal(r.code, 0, `${store} --ttl ${ttl}: ${r.stderr}`);
    }
  }
  const bad = await run(["send", fresh().subject, "--text", "x", "--ttl", "0"]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--ttl must be a positive duration.*or never/);
});

test("send, listen and request refused by the server's permissions exit 1 with PERMISSION_DENIED, at once", async () => {
  // send printed "sent" and exited 0 for a message the server dropped; listen
  // said "listening" and then "ERROR …"; request waited out its timeout.
  const restricted = await startNats({
    config: `authorization { users: [
      { user: "limited", password: "pw", permissions: { publish: { allow: ["app.>", "_INBOX.>"] }, subscribe: { allow: ["app.>", "_INBOX.>"] } } }
      { user: "noinbox", password: "pw", permissions: { subscribe: { deny: ["_INBOX.>"] } } }
    ] }`,
  });
  try {
    const as = (user: string) => ["--broker", `nats://${user}:pw@127.0.0.1:${restricted.port}`];
    const sent = await run(["send", "other.x", "--text", "hi", ...as("limited")]);
    assert.equal(sent.code, 1, sent.stderr);
    assert.match(sent.stderr, /^natsbridge: PERMISSION_DENIED .*publish to "other\.x"/m);
    const listened = await run(["listen", "other.x", "--json", "--timeout", "10s", ...as("limited")]);
    assert.equal(listened.code, 1, listened.stderr);
    assert.match(listened.stderr, /^natsbridge: PERMISSION_DENIED .*subscribe to "other\.x"/m);
    assert.deepEqual(records(listened.stdout), []);
    // JetStream is there; this user may not use its API.
    const consumed = await run(["listen", "app.x", "--jetstream", "--stream", "APP", "--durable", "d", "--timeout", "10s", ...as("limited")]);
    assert.equal(consumed.code, 1, consumed.stderr);
    assert.match(consumed.stderr, /^natsbridge: PERMISSION_DENIED Cannot use JetStream: .*publish to "\$JS\.API\./m);
    const started = Date.now();
    const requested = await run(["request", "app.svc", "--text", "ping", "--timeout", "20s", ...as("noinbox")]);
    assert.equal(requested.code, 1, requested.stderr);
    assert.match(requested.stderr, /^natsbridge: PERMISSION_DENIED .*subscribe to "_INBOX\./m);
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
    const refused = await run(["send", "app.x", "--text", "hi", "--broker", `nats://limited:wr0ng@127.0.0.1:${restricted.port}`]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /^natsbridge: PERMISSION_DENIED .*refused these credentials/m);
    assert.doesNotMatch(refused.stderr, /wr0ng/);
  } finally {
    await restricted.stop();
  }
});

test("listen whose credentials are revoked exits 1 with CONNECTION_FAILED, not 0 as if asked to stop", async () => {
  const users = (pw: string) => `authorization { users: [ { user: "rot", password: "${pw}" } ] }`;
  const rotating = await startNats({ config: users("pw1") });
  try {
    const l = await listen(["rot.x", "--broker", `nats://rot:pw1@127.0.0.1:${rotating.port}`, "--timeout", "30s", "--count", "1"]);
    await rotating.reload!(users("pw2"));
    const { code, stderr } = await l.done();
    assert.equal(code, 1, stderr);
    assert.match(stderr, /^natsbridge: CONNECTION_FAILED Subscription to "rot\.x" ended: the connection to NATS closed \(.*\): the server no longer accepts this user's credentials/m);
  } finally {
    await rotating.stop();
  }
});

test("listen stopped with a backlog of link messages exits 4 short of --count, and reports none of the unread ones as ABORTED", async () => {
  // nats.js hands over what it had buffered after the unsubscribe: each was
  // received with the stopped signal, printed as "ABORTED Receive aborted",
  // and counted, so --count was "reached" and listen exited 0.
  const data = bytesOf(1000, 51);
  const server = createServer((_req, res) => {
    setTimeout(() => res.writeHead(200, { "content-length": String(data.byteLength) }).end(data), 20);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const { subject } = fresh();
    const [, json] = await smartsend(subject, [["f.bin", data, "binary"]], {
      is_publish: false,
      size_threshold: 1,
      fileserver_upload_handler: () => Promise.resolve({ status: 200, uploadid: "u", fileid: "f", url: `${origin}/f.bin` }),
      logger: quiet,
    });
    const l = await listen([subject, "--count", "150", "--timeout", "1s", "--allow-origin", origin]);
    const nc = await connect({ servers: nats.url });
    for (let i = 0; i < 150; i++) nc.publish(subject, json);
    await nc.flush();
    await nc.close();
    const { code, stdout, stderr } = await l.done();
    assert.equal(code, 4, stderr);
    assert.doesNotMatch(stderr, /ABORTED/);
    assert.deepEqual(records(stdout).filter((r) => r.event !== "message" && r.event !== "listening"), []);
    assert.match(stderr, /^natsbridge: TIMEOUT \d+ of 150 messages within 1s$/m);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test("NODE_EXTRA_CA_CERTS trusts a private CA, also for a server reached by IP address whose certificate names only that address", async () => {
  // Node and Deno checked the certificate against "localhost" when no TLS
  // option was given: nats.js upgrades the socket without a host.
  const certs = makeCerts(mkdtempSync(join(work, "tls-ip-")), "IP:127.0.0.1");
  const tlsOnly = await startNats({ config: `tls { cert_file: "${certs.cert}", key_file: "${certs.key}" }` });
  try {
    const sent = await run(["send", "tls.x", "--text", "hi", "--broker", `tls://127.0.0.1:${tlsOnly.port}`], {
      env: { NODE_EXTRA_CA_CERTS: certs.ca },
    });
    assert.equal(sent.code, 0, sent.stderr);
  } finally {
    await tlsOnly.stop();
  }
});

test("--tls-ca, --tls-cert and --tls-key (or NATS_CA, NATS_CERT, NATS_KEY) reach servers with a private CA and client verification; bad ones are usage errors", async () => {
  // Without a client certificate a verifying server refuses the connection:
  // tests/security_test.ts checks that case.
  const dir = mkdtempSync(join(work, "tls-"));
  const certs = makeCerts(dir);
  const tlsOnly = await startNats({ config: `tls { cert_file: "${certs.cert}", key_file: "${certs.key}" }` });
  const verifying = await startNats({
    config: `tls { cert_file: "${certs.cert}", key_file: "${certs.key}", ca_file: "${certs.ca}", verify: true }`,
  });
  try {
    const at = (s: { port: number }) => ["--broker", `tls://127.0.0.1:${s.port}`];
    const byFlag = await run(["send", "tls.x", "--text", "hi", ...at(tlsOnly), "--tls-ca", certs.ca]);
    assert.equal(byFlag.code, 0, byFlag.stderr);
    const byEnv = await run(["send", "tls.x", "--text", "hi", ...at(tlsOnly)], { env: { NATS_CA: certs.ca } });
    assert.equal(byEnv.code, 0, byEnv.stderr);
    const unknownCa = await run(["send", "tls.x", "--text", "hi", ...at(tlsOnly)]);
    assert.equal(unknownCa.code, 1, unknownCa.stderr);
    assert.match(unknownCa.stderr, /^natsbridge: CONNECTION_FAILED /m);
    const client = ["--tls-ca", certs.ca, "--tls-cert", certs.clientCert, "--tls-key", certs.clientKey];
    const mutual = await run(["send", "tls.x", "--text", "hi", ...at(verifying), ...client]);
    assert.equal(mutual.code, 0, mutual.stderr);
    for (
      const [args, message] of [
        [["--tls-cert", certs.clientCert], /--tls-cert needs --tls-key/],
        [["--tls-ca", join(dir, "missing.pem")], /--tls-ca: cannot read ".*missing\.pem" \(ENOENT\)/],
        [["--tls-ca", certs.clientKey], /--tls-ca: ".*client\.key" holds no certificate/],
        [["--tls-cert", certs.clientKey, "--tls-key", certs.clientCert], /--tls-cert: ".*client\.key" holds no certificate/],
        [["--tls-cert", certs.clientCert, "--tls-key", certs.clientCert], /--tls-key: ".*client\.pem" holds no private key/],
        [["--tls-cert", certs.clientCert, "--tls-key", certs.key], /--tls-key: ".*server\.key" is not the private key of the certificate in --tls-cert \(".*client\.pem"\)/],
      ] as const
    ) {
      const r = await run(["send", "tls.x", "--text", "hi", ...at(verifying), ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    }
    const envKeyOnly = await run(["send", "tls.x", "--text", "hi", ...at(verifying)], { env: { NATS_KEY: certs.clientKey } });
    assert.equal(envKeyOnly.code, 2, envKeyOnly.stderr);
    assert.match(envKeyOnly.stderr, /NATS_KEY needs --tls-cert \(NATS_CERT\)/);
  } finally {
    await Promise.all([tlsOnly.stop(), verifying.stop()]);
  }
});

test("--creds and --nkey are read again at each connect, so a file rotated on disk is what a reconnect presents", async () => {
  // It was read once: after a rotation (old user revoked), listen reconnected
  // with the old JWT, was refused, and exited. The nats CLI reads it each time.
  const { securedConnectOptions } = await import("../engine/cli/secured_connection.ts");
  const dir = mkdtempSync(join(work, "rotate-"));
  const path = join(dir, "live.creds");
  const credsOf = (jwt: string) => {
    const seed = new TextDecoder().decode(createUser().getSeed());
    return `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`;
  };
  try {
    writeFileSync(path, credsOf("first.jwt.one"));
    const auth = securedConnectOptions({ creds: path }, "listen").authenticator as (nonce?: string) => { jwt?: string };
    assert.equal(auth("nonce").jwt, "first.jwt.one");
    writeFileSync(path, credsOf("second.jwt.two"));
    assert.equal(auth("nonce").jwt, "second.jwt.two");
    // Caught half-written mid-rotation (or gone for a moment): the last good one.
    writeFileSync(path, "-----BEGIN NATS USER JWT-----\n");
    assert.equal(auth("nonce").jwt, "second.jwt.two");
    // --nkey too.
    const [a, b] = [createUser(), createUser()];
    const seedPath = join(dir, "user.nk");
    writeFileSync(seedPath, new TextDecoder().decode(a.getSeed()));
    const byKey = securedConnectOptions({ nkey: seedPath }, "listen").authenticator as (nonce?: string) => { nkey?: string };
    assert.equal(byKey("nonce").nkey, a.getPublicKey());
    writeFileSync(seedPath, new TextDecoder().decode(b.getSeed()));
    assert.equal(byKey("nonce").nkey, b.getPublicKey());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--creds and --nkey (or NATS_CREDS, NATS_NKEY) authenticate; a file of the wrong kind is a usage error that shows none of it", async () => {
  const { nats: operated, creds, seed } = await operatorModeServer();
  const user = createUser();
  const nkeyServer = await startNats({ config: `authorization { users: [ { nkey: "${user.getPublicKey()}" } ] }` });
  const dir = mkdtempSync(join(work, "creds-"));
  const file = (name: string, text: string | Uint8Array) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const credsFile = file("user.creds", creds);
  const seedFile = file("user.nk", `${new TextDecoder().decode(user.getSeed())}\n`);
  const notCreds = file("notes.txt", "password=hunter2-secret\n");
  // As other tools write them: CRLF line ends, a blank line in a block, a comment beside the seed.
  const crlfCreds = file("crlf.creds", new TextDecoder().decode(creds).replace(/\n/g, "\r\n"));
  const spacedCreds = file("spaced.creds", new TextDecoder().decode(creds).replace(/(BEGIN NATS USER JWT-+\n)/, "$1\n"));
  const commentedSeed = file("commented.nk", `# the app's key\n${new TextDecoder().decode(user.getSeed())}\n`);
  try {
    const at = (s: { port: number }) => ["--broker", `nats://127.0.0.1:${s.port}`];
    for (const [i, r] of [
      await run(["send", "creds.x", "--text", "hi", ...at(operated), "--creds", credsFile]),
      await run(["send", "creds.x", "--text", "hi", ...at(operated)], { env: { NATS_CREDS: credsFile } }),
      await run(["send", "creds.x", "--text", "hi", ...at(nkeyServer), "--nkey", seedFile]),
      await run(["send", "creds.x", "--text", "hi", ...at(nkeyServer)], { env: { NATS_NKEY: seedFile } }),
      await run(["send", "creds.x", "--text", "hi", ...at(operated), "--creds", crlfCreds]),
      await run(["send", "creds.x", "--text", "hi", ...at(operated), "--creds", spacedCreds]),
      await run(["send", "creds.x", "--text", "hi", ...at(nkeyServer), "--nkey", commentedSeed]),
    ].entries()) {
      assert.equal(r.code, 0, `run ${i}: ${r.stderr}`);
    }
    const without = await run(["send", "creds.x", "--text", "hi", ...at(operated)]);
    assert.equal(without.code, 1, without.stderr);
    assert.match(without.stderr, /^natsbridge: PERMISSION_DENIED /m);
    for (
      const [args, message] of [
        [["--creds", notCreds], /--creds: ".*notes\.txt" is not a NATS credentials file/],
        [["--nkey", credsFile], /--nkey: ".*user\.creds" is a NATS credentials file: give it as --creds/],
        [["--nkey", notCreds], /--nkey: ".*notes\.txt" is not an NKey user seed/],
        [["--creds", credsFile, "--nkey", seedFile], /--creds and --nkey are two ways to authenticate: give one/],
      ] as const
    ) {
      const r = await run(["send", "creds.x", "--text", "hi", ...at(operated), ...args, "--verbose"]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /hunter2|SU[A-Z2-7]{20}/);
      assert.ok(!r.stderr.includes(seed));
    }
  } finally {
    await Promise.all([operated.stop(), nkeyServer.stop()]);
  }
});

test("--max-bytes sets the size limit of an Object Store bucket the CLI creates; with Plik, or not a positive integer, it is a usage error", async () => {
  const big = file("maxbytes.bin", bytesOf(600_000, 5));
  const r = await run(["send", fresh().subject, "--file", big, "--store", "objectstore:capped", "--max-bytes", "50000000"]);
  assert.equal(r.code, 0, r.stderr);
  const nc = await connect({ servers: nats.url });
  try {
    const si = await (await jetstreamManager(nc)).streams.info("OBJ_capped");
    assert.equal(si.config.max_bytes, 50_000_000);
  } finally {
    await nc.close();
  }
  for (const [args, message] of [
    [["--max-bytes", "1000000"], /--max-bytes applies to --store objectstore only/],
    [["--store", "objectstore", "--max-bytes", "10MB"], /--max-bytes must be an integer ≥ 1/],
  ] as const) {
    const bad = await run(["send", fresh().subject, "--text", "x", ...args]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, message);
  }
});

test("listen says when it loses the NATS server and when it is back: core messages published meanwhile are lost", async () => {
  // It said nothing, even with -v: a message sent during the outage was lost without a word.
  const own = await startNats();
  const subject = "outage.x";
  const human = start([...CLI, "listen", subject, "--broker", own.url]);
  const json = start([...CLI, "listen", subject, "--broker", own.url, "--json"]);
  try {
    await human.waitFor(/listening on outage\.x/, 20_000, "stderr");
    await json.waitFor(/"event":"listening"/);
    await own.stop();
    await human.waitFor(/^natsbridge: disconnected from NATS at 127\.0\.0\.1:\d+: messages published to "outage\.x" meanwhile are lost/m, 20_000, "stderr");
    await json.waitFor(/"event":"disconnected"/);
    const back = await startNats({ port: own.port });
    try {
      await human.waitFor(/^natsbridge: reconnected to NATS at /m, 30_000, "stderr");
      await json.waitFor(/"event":"reconnected"/, 30_000);
    } finally {
      await back.stop();
    }
  } finally {
    human.child.kill("SIGINT");
    json.child.kill("SIGINT");
    await Promise.all([human.done(), json.done()]);
  }
});

test("listen without --out verifies link payloads as they stream and holds none whole in memory", { skip: !existsSync("/proc/self/status") && "no /proc to read the listener's peak memory from" }, async () => {
  // Without --out every link payload was downloaded whole: 811 MB at peak for a
  // 286 MiB file on Deno, 890 MB on Bun, for a listener that only prints a line.
  const { subject } = fresh();
  const l = await listen([subject, "--count", "2"]);
  const peakKiB = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${l.child.pid}/status`, "utf8"))?.[1] ?? NaN);
  const idle = peakKiB();
  let peak = idle;
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, peakKiB() || 0); // a process that exited has no VmHWM
    } catch { /* exited */ }
  }, 20);
  try {
    const [, json] = await smartsend(subject, [["bad.bin", bytesOf(300_000, 44), "binary"]], {
      is_publish: false, size_threshold: 1, fileserver_url: plik.url, logger: quiet,
    });
    const tampered = JSON.parse(json);
    tampered.payloads[0].metadata.checksum = "0".repeat(64);
    const nc = await connect({ servers: nats.url });
    try {
      nc.publish(subject, JSON.stringify(tampered));
      await smartsend(subject, [["big.bin", bytesOf(256 * 1024 * 1024, 45), "binary"]], {
        nats_connection: nc, size_threshold: 1, fileserver_url: plik.url, logger: quiet,
      });
    } finally {
      await nc.close();
    }
    const { code, stdout, stderr } = await l.done(120_000);
    assert.equal(code, 3, stderr);
    assert.match(stderr, /^natsbridge: CHECKSUM_MISMATCH .*"bad\.bin"/m);
    const recs = records(stdout);
    assert.deepEqual(recs.map((r) => r.event), ["listening", "error", "message"]);
    assert.deepEqual([recs[2].payloads[0].name, recs[2].payloads[0].size, recs[2].payloads[0].checksum], ["big.bin", 256 * 1024 * 1024, "ok"]);
  } finally {
    clearInterval(sampler);
  }
  const grewMiB = (peak - idle) / 1024;
  assert.ok(grewMiB < 160, `the listener grew ${grewMiB.toFixed(0)} MiB receiving a 256 MiB link payload`);
});
