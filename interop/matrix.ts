/**
 * The cross-runtime interop matrix: every sender {deno, bun, node, node24,
 * python, browser} × every receiver (the same six) × every interop case, over a real
 * nats-server (JetStream + WebSocket) and a real Plik-compatible file server,
 * both started here on loopback and stopped by PID.
 *
 * Each cell's message is checked, not just its arrival:
 * - values: the receiver's canonical rendering equals the Python peer's `expect`
 *   (deep JSON equality, numbers as numbers), payload by payload, with the
 *   dataname, type and transport expected (`large_link` by link);
 * - checksums: the checksum received equals the SHA-256 the receiver recomputed
 *   over the bytes that arrived, and equals the one the sender put in;
 * - envelope: every envelope field the sender published (correlation_id,
 *   msg_id, timestamp, send_to, msg_purpose, sender_name, sender_id, …)
 *   comes out of the receiver unchanged; size and encoding too.
 * Object Store links (`nats-obj://`) run as an extra case where both peers
 * have an Object Store handler (the TypeScript runtimes; the Python peer has
 * Plik only).
 *
 * Fast: one long-lived receiver per runtime (`receive --subject
 * interop.*.<receiver>.>`) and one long-lived sender session per runtime
 * (`serve`), so no process starts per message. Before the grid, a preflight
 * checks that every runtime's `expect` and `inputs` equal the Python peer's
 * for every case, and a ring of per-process CLI sends (`send` → `receive
 * --count 1`) checks the plain command-line contract of every runtime.
 *
 * Prints one line per cell, writes `interop/RESULTS.md`, ends with
 * `N passed, N failed`; exit status 1 when anything failed.
 *
 * Usage: `bash scripts/interop.sh [--senders a,b] [--receivers a,b] [--cases a,b]`
 * (it builds lib/ and the Node bundles first, then runs this under Deno).
 *
 * @module
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import {
  type NatsServer,
  ROOT,
  type RunningServer,
  startNats,
  startPlik,
} from "../scripts/servers.ts";
import { jsonDiff } from "./common/canonical.ts";
import {
  check,
  type Envelope,
  type ExpectedPayload,
  type Received,
  type Variant,
} from "./common/check.ts";
import { LineProcess, run, Session } from "./common/proc.ts";
import { AVAILABLE_RUNTIMES, RUNTIME, type RuntimeName } from "./common/runtimes.ts";

import { BUCKET } from "./common/check.ts";
const RECEIVE_TIMEOUT_S = 270;
/** The stream check: objects per runtime, and their size (large enough to be read across collections). */
const STREAM_CHECK_ROUNDS = 6;
const STREAM_CHECK_BYTES = 6_000_000;
/** The browser's Blob-to-Plik check: bytes of its Blob. */
const BLOB_CHECK_BYTES = 3_000_000;

// ---------------------------------------------------------------------------
// Options

function listOpt(name: string, all: readonly string[]): string[] {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return [...all];
  const wanted = process.argv[i + 1].split(",").map((s) => s.trim()).filter(Boolean);
  for (const w of wanted) {
    if (!all.includes(w)) throw new Error(`--${name}: unknown "${w}" (known: ${all.join(", ")})`);
  }
  return wanted;
}

/** One message of the grid. */
interface CellCase {
  sender: RuntimeName;
  receiver: RuntimeName;
  variant: Variant;
  sent?: Envelope;
  sendError?: string;
  received?: Received;
  problems: string[];
}

function parseLine(line: string): Record<string, unknown> {
  try {
    return JSON.parse(line);
  } catch {
    return { error: { code: "NOT_JSON", message: line.slice(0, 200) } };
  }
}

const subjectToken = (label: string) => label.replace(/[^A-Za-z0-9_-]/g, "_");

// ---------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  const t0 = Date.now();
  const senders = listOpt("senders", AVAILABLE_RUNTIMES) as RuntimeName[];
  const receivers = listOpt("receivers", AVAILABLE_RUNTIMES) as RuntimeName[];
  const logDir = join(ROOT, ".build", "logs", "interop");
  mkdirSync(logDir, { recursive: true });

  const servers: RunningServer[] = [];
  const procs: LineProcess[] = [];
  const sessions = new Map<RuntimeName, Session>();
  let nats: NatsServer;
  try {
    nats = await startNats({ websocket: true });
    servers.push(nats);
    const plik = await startPlik();
    servers.push(plik);
    const brokerOf = (r: RuntimeName) => (RUNTIME[r].websocket ? nats.wsUrl! : nats.url);
    console.log(`nats-server ${nats.url} (websocket ${nats.wsUrl}), plik-compat ${plik.url}`);

    // The reference: the Python peer's cases, expectations and inputs.
    const py = RUNTIME.python;
    const ref = await run(py.version.cmd, [
      "-c",
      "import json, sys; sys.path.insert(0, 'interop/python'); from natsbridge import peer; from natsbridge.cases import CASES; " +
      "print(json.dumps({c: {'expect': peer.render_expected(c), 'inputs': peer.render_inputs(c)} for c in CASES}, ensure_ascii=False))",
    ], { cwd: ROOT });
    if (ref.code !== 0) throw new Error(`python reference failed: ${ref.stderr}`);
    const reference = JSON.parse(ref.stdout) as Record<
      string,
      { expect: { payloads: ExpectedPayload[] }; inputs: unknown }
    >;
    const allCases = Object.keys(reference);
    const cases = listOpt("cases", allCases);
    const variantsFor = (s: RuntimeName, r: RuntimeName): Variant[] => [
      ...cases.map((c) => ({ label: c, case: c, store: "plik" as const })),
      ...(cases.includes("large_link") && RUNTIME[s].objectStore && RUNTIME[r].objectStore
        ? [{ label: "large_link@objectstore", case: "large_link", store: "objectstore" as const }]
        : []),
    ];

    // Sender sessions and receivers, all started at once.
    const everyone = [...new Set([...senders, ...receivers])];
    for (const s of everyone) {
      const rt = RUNTIME[s];
      sessions.set(
        s,
        new Session(`${s} serve`, rt.serve.cmd, [
          ...rt.serve.args,
          "--broker",
          brokerOf(s),
          "--fileserver",
          plik.url,
        ], { cwd: rt.serve.cwd }),
      );
    }
    const receiverProcs = new Map<RuntimeName, LineProcess>();
    for (const r of receivers) {
      const rt = RUNTIME[r];
      const count = senders.reduce((n, s) => n + variantsFor(s, r).length, 0);
      const p = new LineProcess(`${r} receive`, rt.cli.cmd, [
        ...rt.cli.args,
        "receive",
        "--broker",
        brokerOf(r),
        "--fileserver",
        plik.url,
        "--subject",
        `interop.*.${r}.>`,
        "--count",
        String(count),
        "--timeout",
        String(RECEIVE_TIMEOUT_S),
        ...(rt.objectStore ? ["--bucket", BUCKET] : []),
      ], { cwd: rt.cli.cwd });
      procs.push(p);
      receiverProcs.set(r, p);
    }

    // Preflight 1: every runtime's expect and inputs equal the Python peer's.
    let passed = 0, failed = 0;
    const preflight: string[] = [];
    await Promise.all(
      everyone.filter((s) => s !== "python").map(async (s) => {
        const problems: string[] = [];
        for (const c of allCases) {
          const e = parseLine(await sessions.get(s)!.request({ command: "expect", case: c }));
          const d1 = jsonDiff(e, reference[c].expect);
          if (d1) problems.push(`expect ${c}: ${d1}`);
          const i = parseLine(await sessions.get(s)!.request({ command: "inputs", case: c }));
          const d2 = jsonDiff(i, reference[c].inputs);
          if (d2) problems.push(`inputs ${c}: ${d2}`);
        }
        const line = problems.length
          ? `✗ preflight ${s}: ${problems.length} difference(s) from the Python peer: ${
            problems.slice(0, 3).join("; ")
          }`
          : `✓ preflight ${s}: expect and inputs of all ${allCases.length} cases equal the Python peer's`;
        preflight.push(line);
        problems.length ? failed++ : passed++;
      }),
    );
    preflight.sort().forEach((l) => console.log(l));

    // Preflight 2: the plain CLI, one process per message, in a ring.
    const ring = everyone.map((s, i) => [s, everyone[(i + 1) % everyone.length]] as const);
    const cliLines: string[] = [];
    await Promise.all(ring.map(async ([s, r]) => {
      const subject = `interop-cli.${s}.${r}`; // outside the grid's interop.*.<receiver>.> subscriptions
      const rr = RUNTIME[r], sr = RUNTIME[s];
      const recv = new LineProcess(`${r} cli receive`, rr.cli.cmd, [
        ...rr.cli.args,
        "receive",
        "--broker",
        brokerOf(r),
        "--fileserver",
        plik.url,
        "--subject",
        subject,
        "--count",
        "1",
        "--timeout",
        "60",
      ], { cwd: rr.cli.cwd });
      procs.push(recv);
      let problems: string[];
      try {
        await recv.waitForLine((l) => l === "READY", 60_000);
        const sent = await run(sr.cli.cmd, [
          ...sr.cli.args,
          "send",
          "--broker",
          brokerOf(s),
          "--fileserver",
          plik.url,
          "--subject",
          subject,
          "--case",
          "mixed",
        ], { cwd: sr.cli.cwd, timeoutMs: 60_000 });
        const code = await recv.exited;
        const sentObj = parseLine(sent.stdout.trim().split("\n").pop() ?? "") as Envelope;
        problems = check(
          {
            variant: { label: "mixed", case: "mixed", store: "plik" },
            sent: sent.code === 0 ? sentObj : undefined,
            sendError: sent.code === 0
              ? undefined
              : `exit ${sent.code}: ${sent.stdout.slice(0, 200)} ${sent.stderr.slice(-300)}`,
            received: recv.lines[1] ? parseLine(recv.lines[1]) as Received : undefined,
          },
          reference.mixed.expect.payloads,
          plik.url,
          BUCKET,
        );
        if (code !== 0) problems.push(`receive exited ${code}`);
      } catch (err) {
        problems = [(err as Error).message];
      }
      cliLines.push(
        problems.length
          ? `✗ cli ${s} send → ${r} receive (mixed): ${problems.join("; ")}`
          : `✓ cli ${s} send → ${r} receive (mixed), one process each, exit 0`,
      );
      problems.length ? failed++ : passed++;
    }));
    cliLines.sort().forEach((l) => console.log(l));

    // Object Store payloads read back as streams, several MB each, in every
    // runtime that has the Object Store (Chromium once ended such reads part-way).
    const streamLines: string[] = [];
    await Promise.all(everyone.filter((s) => RUNTIME[s].objectStore).map(async (s) => {
      const reply = parseLine(await sessions.get(s)!.request({
        command: "stream-check", bucket: BUCKET, rounds: STREAM_CHECK_ROUNDS, size: STREAM_CHECK_BYTES,
      })) as { ok?: boolean; rounds?: string[]; error?: { code: string; message: string } };
      const ok = reply.ok === true;
      streamLines.push(
        ok
          ? `✓ streams ${s}: ${STREAM_CHECK_ROUNDS} Object Store objects of ${STREAM_CHECK_BYTES} bytes read back whole as streams`
          : `✗ streams ${s}: ${reply.error ? `${reply.error.code} ${reply.error.message}` : reply.rounds?.join("; ")}`,
      );
      ok ? passed++ : failed++;
    }));
    if (everyone.includes("browser")) {
      // The browser cannot stream a request body: a Blob or File must go to Plik as itself.
      const reply = parseLine(await sessions.get("browser")!.request({ command: "blob-check", size: BLOB_CHECK_BYTES })) as {
        ok?: boolean; whole?: boolean; as_itself?: boolean; error?: { code: string; message: string };
      };
      streamLines.push(
        reply.ok
          ? `✓ streams browser: a Blob of ${BLOB_CHECK_BYTES} bytes goes to Plik as itself (not collected into a copy) and arrives whole`
          : `✗ streams browser: Blob to Plik: ${reply.error ? `${reply.error.code} ${reply.error.message}` : `whole ${reply.whole}, as itself ${reply.as_itself}`}`,
      );
      reply.ok ? passed++ : failed++;
    }
    streamLines.sort().forEach((l) => console.log(l));

    // The grid.
    await Promise.all(
      [...receiverProcs.values()].map((p) => p.waitForLine((l) => l === "READY", 90_000)),
    );
    const cells: CellCase[] = [];
    const bySent = new Map<string, CellCase>();
    const tSend = Date.now();
    await Promise.all(senders.map(async (s) => {
      const session = sessions.get(s)!;
      for (const r of receivers) {
        for (const v of variantsFor(s, r)) {
          const cell: CellCase = { sender: s, receiver: r, variant: v, problems: [] };
          cells.push(cell);
          const line = await session.request({
            command: "send",
            subject: `interop.${s}.${r}.${subjectToken(v.label)}`,
            case: v.case,
            ...(v.store === "objectstore" ? { store: "objectstore", bucket: BUCKET } : {}),
          });
          const obj = parseLine(line) as Envelope & { error?: { code: string; message: string } };
          if (obj.error) cell.sendError = `${obj.error.code} ${obj.error.message}`;
          else {
            cell.sent = obj;
            bySent.set(obj.correlation_id, cell);
          }
        }
      }
    }));
    const sendSeconds = (Date.now() - tSend) / 1000;

    // Collect: every receiver until it has everything sent to it, exits, or a grace period ends.
    await Promise.all(receivers.map(async (r) => {
      const p = receiverProcs.get(r)!;
      const wanted = cells.filter((c) => c.receiver === r && c.sent).length;
      const seen = () => p.lines.filter((l) => l !== "READY").length;
      const deadline = Date.now() + 90_000;
      while (seen() < wanted && p.child.exitCode === null && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 100));
      }
      for (const line of p.lines) {
        if (line === "READY") continue;
        const obj = parseLine(line) as Received;
        const id = (obj.correlation_id ??
          (obj.error as { correlation_id?: string } | undefined)?.correlation_id) as string;
        const cell = bySent.get(id);
        if (cell && cell.receiver === r) cell.received = obj;
      }
    }));
    for (const c of cells) {
      c.problems = check(c, reference[c.variant.case].expect.payloads, plik.url, BUCKET);
    }

    // Report.
    const seconds = (Date.now() - t0) / 1000;
    const lines: string[] = [];
    for (const s of senders) {
      for (const r of receivers) {
        const mine = cells.filter((c) => c.sender === s && c.receiver === r);
        const ok = mine.filter((c) => c.problems.length === 0).length;
        const line = `${ok === mine.length ? "✓" : "✗"} ${s.padEnd(7)} → ${
          r.padEnd(7)
        } ${ok}/${mine.length}`;
        console.log(line);
        lines.push(line);
        for (const c of mine.filter((c) => c.problems.length)) {
          console.log(`    ${c.variant.label}: ${c.problems.join("; ")}`);
        }
      }
    }
    passed += cells.filter((c) => c.problems.length === 0).length;
    failed += cells.filter((c) => c.problems.length).length;

    for (const [name, p] of [...receiverProcs.entries()]) {
      writeFileSync(join(logDir, `${name}-receive.stderr`), p.stderr);
    }
    for (const [name, sess] of sessions) {
      writeFileSync(join(logDir, `${name}-serve.stderr`), sess.proc.stderr);
    }

    const versions: string[] = [];
    for (const r of everyone) {
      const v = await run(RUNTIME[r].version.cmd, RUNTIME[r].version.args);
      versions.push(
        `${r}: ${
          (v.stdout.trim().split("\n")[0] || v.stderr.trim().split("\n").pop() || "?").trim()
        }`,
      );
    }
    const natsVersion = (await run(join(ROOT, ".venv", "bin", "nats-server"), ["--version"])).stdout
      .trim();
    writeFileSync(
      join(ROOT, "interop", "RESULTS.md"),
      resultsMarkdown({
        senders,
        receivers,
        cells,
        preflight,
        cliLines,
        streamLines,
        versions,
        natsVersion,
        seconds,
        sendSeconds,
        passed,
        failed,
        cases,
      }),
    );
    console.log(
      `wrote interop/RESULTS.md (${seconds.toFixed(1)} s; sends ${sendSeconds.toFixed(1)} s)`,
    );
    console.log(`${passed} passed, ${failed} failed`);
    return failed ? 1 : 0;
  } finally {
    await Promise.all([...sessions.values()].map((s) => s.close(5_000)));
    await Promise.all(procs.map((p) => p.stop()));
    await Promise.all(servers.map((s) => s.stop()));
  }
}

function resultsMarkdown(o: {
  senders: RuntimeName[];
  receivers: RuntimeName[];
  cells: CellCase[];
  preflight: string[];
  cliLines: string[];
  streamLines: string[];
  versions: string[];
  natsVersion: string;
  seconds: number;
  sendSeconds: number;
  passed: number;
  failed: number;
  cases: string[];
}): string {
  const grid = [
    `| sender ↓ · receiver → | ${o.receivers.join(" | ")} |`,
    `| --- | ${o.receivers.map(() => ":---:").join(" | ")} |`,
    ...o.senders.map((s) =>
      `| **${s}** | ${
        o.receivers.map((r) => {
          const mine = o.cells.filter((c) => c.sender === s && c.receiver === r);
          const ok = mine.filter((c) => c.problems.length === 0).length;
          return `${ok === mine.length ? "✓" : "✗"} ${ok}/${mine.length}`;
        }).join(" | ")
      } |`
    ),
  ];
  const failures = o.cells.filter((c) => c.problems.length);
  return `# Interop matrix results

Written by \`npm run interop\` (\`scripts/interop.sh\` → \`interop/matrix.ts\`); do not edit by hand.

${grid.join("\n")}

**${o.passed} passed, ${o.failed} failed** (grid cases, plus ${o.preflight.length} preflight, ${o.cliLines.length} CLI and ${o.streamLines.length} stream checks below) in ${
    o.seconds.toFixed(0)
  } s on ${navigatorCores()} cores; the grid's sends took ${o.sendSeconds.toFixed(0)} s.

Legend: each cell is one sender → receiver pair; **✓** every case passed, **✗** at least one failed;
*n/m* = cases passed / cases run. A cell runs the ${o.cases.length} cases below, plus
\`large_link@objectstore\` (the large payload through the NATS JetStream Object Store, a
\`nats-obj://\` link) where both peers have an Object Store handler: every TypeScript runtime,
not the Python peer (Plik only), hence 12 vs 11.

A case passes when all of these hold for the message the receiver printed:

- **values**: each payload's canonical rendering (interop/python/README.md § Canonical rendering)
  equals the Python peer's \`expect\` for the case, with the expected dataname, payload_type and
  transport (\`large_link\` by link: Plik, or the Object Store);
- **checksums**: \`metadata.checksum\` as received equals the SHA-256 the receiver recomputed over
  the bytes that actually arrived (decoded base64, or the downloaded link), and equals what the
  sender put in; \`size\` and \`encoding\` arrive unchanged;
- **envelope**: every one of the 13 envelope fields the sender published (correlation_id, msg_id,
  timestamp, send_to, msg_purpose, sender_name, sender_id, receiver_name, receiver_id, reply_to,
  reply_to_msg_id, broker_url, metadata) comes out of the receiver's natsbridge unchanged.

Cases: ${o.cases.map((c) => `\`${c}\``).join(", ")} (interop/python/README.md § The cases; the
\`arrowtable\` case is a pandas DataFrame on the Python side, an apache-arrow Table elsewhere).

## Preflight

${[...o.preflight, ...o.cliLines, ...o.streamLines].map((l) => `- ${l}`).join("\n")}

## Failures

${
    failures.length
      ? failures.map((c) =>
        `- ${c.sender} → ${c.receiver} \`${c.variant.label}\`: ${c.problems.join("; ")}`
      ).join("\n")
      : "None."
  }

## Setup

- ${o.versions.join("\n- ")}
- ${o.natsVersion}, JetStream and WebSocket listener on loopback; the browser reaches it over WebSocket, every other runtime over TCP
- plik-compat (scripts/plik_compat) on loopback; the browser page is served on its origin (interop/browser/driver.ts)
`;
}

function navigatorCores(): number {
  return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
    ?.hardwareConcurrency ?? 0;
}

const code = await main().catch((err) => {
  console.error(`matrix: ${(err as Error).stack ?? err}`);
  console.log("0 passed, 1 failed");
  return 1;
});
process.exit(code);
