/**
 * Runs the browser interop peer in Chromium (playwright-core, the system's
 * `/usr/bin/chromium`; no browser is ever downloaded) with the peer CLI's
 * contract, so the browser is a sender and a receiver like every other runtime:
 *
 *     node .build/interop/browser_driver.mjs send    --broker ws://HOST:PORT --fileserver URL --subject S --case NAME
 *     node .build/interop/browser_driver.mjs receive --broker ws://HOST:PORT --fileserver URL --subject S --count N
 *     ... expect | inputs | cases | serve     (as interop/peer.ts)
 *
 * `--broker` is nats-server's WebSocket listener: a page can only dial ws(s).
 *
 * Where the page comes from: Plik (and the Plik-compatible test server) sends
 * no CORS headers, so a page may only fetch its links from the file server's
 * own origin. The driver therefore serves the page *on that origin*, under
 * `/__natsbridge_peer__/`, by intercepting those requests (Playwright
 * `page.route`) and answering them from the fresh build; every other request,
 * uploads and link downloads included, goes from Chromium to the file server
 * over the network, same-origin. Envelopes from the browser carry the same
 * links as any other peer's. (A web app served from another origin needs the
 * file server to send CORS headers, or a same-origin reverse proxy.)
 *
 * Run it with Node from its bundle (`scripts/interop.sh` builds it); chromium
 * flags and the executable come from `CHROMIUM` (default `/usr/bin/chromium`).
 *
 * @module
 */
import process from "node:process";
import { createInterface } from "node:readline";
import { type Browser, chromium, type Page } from "playwright-core";
import { buildBrowserPeer, PAGE_PREFIX } from "./build.ts";
import type {} from "./page.ts"; // globalThis.natsbridgePeer's type
import {
  type Args,
  argsOfRequest,
  caseName,
  num,
  parseArgs,
  receiveOptions,
  sendOptions,
  str,
  USAGE,
  UsageError,
} from "../common/cli.ts";
import { CASE_NAMES } from "../common/cases.ts";
import { dumps } from "../common/canonical.ts";
import type { StreamCheckOptions } from "../common/peer_core.ts";

/** Chromium flags: headless, no sandbox (root in containers), nothing that phones home. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function out(line: string): Promise<void> {
  return new Promise((r) => process.stdout.write(line + "\n", () => r()));
}

/** A Chromium page with the peer loaded on `fileserver`'s origin. */
export async function openPeerPage(fileserver: string): Promise<{ browser: Browser; page: Page }> {
  const files = await buildBrowserPeer();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
  });
  try {
    const origin = new URL(fileserver).origin;
    // A page answered by page.route has no network address of its own, so
    // Chromium's Local Network Access checks treat its WebSocket to loopback
    // NATS as a public page reaching into the local network and block it
    // (ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS) unless the user allows it:
    // the driver allows it for this origin, as the permission prompt would.
    const context = await browser.newContext();
    await context.grantPermissions(["local-network-access"], { origin });
    const page = await context.newPage();
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") {
        console.error(`[browser ${m.type()}] ${m.text()}`);
      }
    });
    page.on("pageerror", (e) => console.error(`[browser pageerror] ${e.message}`));
    await page.route(`${origin}${PAGE_PREFIX}**`, (route) => {
      const name = new URL(route.request().url()).pathname.slice(PAGE_PREFIX.length);
      const file = files.get(name);
      return file
        ? route.fulfill({ status: 200, contentType: file[0], body: Buffer.from(file[1]) })
        : route.fulfill({ status: 404, body: "not found" });
    });
    await page.exposeFunction("peerEmit", (line: string) => out(line));
    await page.goto(`${origin}${PAGE_PREFIX}peer.html`);
    await page.waitForFunction(() => typeof globalThis.natsbridgePeer === "object", undefined, {
      timeout: 30_000,
    });
    return { browser, page };
  } catch (err) {
    await browser.close();
    throw err;
  }
}

async function serve(args: Args): Promise<number> {
  const broker = str(args, "broker", true);
  const fileserver = str(args, "fileserver", true);
  const { browser, page } = await openPeerPage(fileserver);
  try {
    const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
    for await (const line of lines) {
      if (!line.trim()) continue;
      let reply: string;
      try {
        const req = JSON.parse(line) as Record<string, unknown>;
        const a = argsOfRequest(req);
        if (req.command === "send") {
          const o = sendOptions({ fileserver, ...a });
          reply = (await page.evaluate(([b, opts]) =>
            globalThis.natsbridgePeer.send(b, opts), [broker, o] as const)).line;
        } else if (req.command === "blob-check") {
          reply = await page.evaluate(([f, n]) => globalThis.natsbridgePeer.blobCheck(f, n), [fileserver, Number(req.size)] as const);
        } else if (req.command === "stream-check") {
          const o = req as unknown as StreamCheckOptions;
          reply = await page.evaluate(([b, o]) => globalThis.natsbridgePeer.streamCheck(b, o), [broker, o] as const);
        } else if (req.command === "expect") {
          const [c, t] = [caseName(a), num(a, "threshold")];
          reply = await page.evaluate(
            ([c, t]) => globalThis.natsbridgePeer.expect(c, t),
            [c, t] as const,
          );
        } else if (req.command === "inputs") {
          const c = caseName(a);
          reply = await page.evaluate((c) => globalThis.natsbridgePeer.inputs(c), c);
        } else {
          throw new UsageError(`unknown serve command ${JSON.stringify(req.command)}`);
        }
      } catch (err) {
        reply = dumps({
          error: {
            code: err instanceof UsageError ? "USAGE" : "ERROR",
            message: (err as Error).message,
          },
        });
      }
      await out(reply);
    }
    await page.evaluate(() => globalThis.natsbridgePeer.close());
  } finally {
    await browser.close();
  }
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const { command, args } = parseArgs(argv);
  if (command === "cases") {
    for (const c of CASE_NAMES) await out(c);
    return 0;
  }
  if (command === "serve") return serve(args);
  if (!["send", "receive", "expect", "inputs"].includes(command)) {
    throw new UsageError(`unknown command "${command}"`);
  }
  // Validate arguments before paying for a browser.
  const send = command === "send" ? sendOptions(args) : undefined;
  const recv = command === "receive" ? receiveOptions(args) : undefined;
  const c = command === "expect" || command === "inputs" ? caseName(args) : undefined;
  const broker = command === "send" || command === "receive" ? str(args, "broker", true) : "";
  const fileserver = send?.fileserver ?? recv?.fileserver ?? "http://127.0.0.1:8080";
  const { browser, page } = await openPeerPage(fileserver);
  try {
    if (send) {
      const r = await page.evaluate(
        ([b, o]) => globalThis.natsbridgePeer.send(b, o),
        [broker, send] as const,
      );
      await out(r.line);
      await page.evaluate(() => globalThis.natsbridgePeer.close());
      return r.ok ? 0 : 1;
    }
    if (recv) {
      return await page.evaluate(
        ([b, o]) => globalThis.natsbridgePeer.receive(b, o),
        [broker, recv] as const,
      );
    }
    if (command === "expect") {
      const t = num(args, "threshold");
      await out(
        await page.evaluate(([c, t]) => globalThis.natsbridgePeer.expect(c, t), [c!, t] as const),
      );
    } else {
      await out(await page.evaluate((c) => globalThis.natsbridgePeer.inputs(c), c!));
    }
    return 0;
  } finally {
    await browser.close();
  }
}

let code: number;
try {
  code = await main(process.argv.slice(2));
} catch (err) {
  if (err instanceof UsageError) {
    console.error(`${err.message}\n${USAGE}`);
    code = 2;
  } else {
    console.error(`browser driver: ${(err as Error).stack ?? err}`);
    await out(dumps({ error: { code: "ERROR", message: (err as Error).message } }));
    code = 1;
  }
}
process.exit(code);
