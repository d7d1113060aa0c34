// Bundles an app that imports the installed npm package for the browser, the
// way an application's bundler would (esbuild, platform browser), and runs a
// round trip with it in Chromium over nats-server's WebSocket listener.
//
//   node scripts/package/browser_check.mjs APP_DIR ws://127.0.0.1:PORT
//
// The package's "browser" map must swap every Node-only seam: the bundle may
// import no node: module. @nats-io/obj reaches node:crypto through a dynamic
// import it never makes in a browser; esbuild needs it marked external.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import * as esbuild from "esbuild";
import { chromium } from "playwright-core";

const [app, wsUrl] = process.argv.slice(2);
writeFileSync(join(app, "browser_app.mjs"), `
import { Bridge, NatsBridgeError } from "natsbridge";
export async function roundTrip(broker_url) {
  const bridge = await Bridge.connect({ broker_url });
  const inbox = bridge.subscribe("package.browser");
  await bridge.send("package.browser", [["t", "from the npm package", "text"], ["d", { ok: true }, "dictionary"], ["b", new Uint8Array([1, 2, 3]), "binary"]]);
  let got;
  for await (const env of inbox) { got = env.payloads.map(([n, v, t]) => [n, v instanceof Uint8Array ? Array.from(v) : v, t]); break; }
  let code = "";
  try { await Bridge.connect({ broker_url: "nats://127.0.0.1:4222" }); } catch (e) { code = e instanceof NatsBridgeError ? e.code : String(e); }
  await bridge.close();
  return { got, code };
}`);
const result = await esbuild.build({
  entryPoints: [join(app, "browser_app.mjs")],
  absWorkingDir: app,
  bundle: true,
  write: false,
  metafile: true,
  platform: "browser",
  format: "esm",
  external: ["node:crypto"],
  logLevel: "warning",
});
const inputs = Object.keys(result.metafile.inputs);
const seams = inputs.filter((i) => /natsbridge\/lib\/(engine\/platform|workers)\//.test(i));
console.log(`bundle: ${result.outputFiles[0].contents.byteLength} bytes; natsbridge seams: ${seams.map((s) => s.split("/").pop()).join(", ")}`);
const NODE_SEAMS = /natsbridge\/lib\/(engine\/platform\/(sha256|connect|file_source|request_streams)|workers\/pool)\.js$/;
const nodeOnly = inputs.filter((i) => NODE_SEAMS.test(i) || /node_modules\/(piscina|@nats-io\/transport-node)\//.test(i));
const imports = Object.values(result.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path)).filter((p) => p !== "node:crypto");
if (nodeOnly.length || imports.length) {
  console.log("Node-only modules in the browser bundle:", [...nodeOnly, ...imports].join(" "));
  process.exit(1);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const origin = "http://127.0.0.1:9";
  const context = await browser.newContext();
  // A routed page has no address of its own: allow its WebSocket to loopback NATS.
  await context.grantPermissions(["local-network-access"], { origin });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`[browser pageerror] ${e.message}`));
  const bundle = Buffer.from(result.outputFiles[0].contents);
  await page.route(`${origin}/**`, (route) =>
    route.request().url().endsWith("/app.js")
      ? route.fulfill({ status: 200, contentType: "text/javascript", body: bundle })
      : route.fulfill({ status: 200, contentType: "text/html", body: "<!doctype html><meta charset=utf-8>" }));
  await page.goto(`${origin}/`);
  const { got, code } = await page.evaluate(async (ws) => (await import("/app.js")).roundTrip(ws), wsUrl);
  console.log("received in Chromium:", JSON.stringify(got), "; a nats:// broker_url:", code);
  const want = JSON.stringify([["t", "from the npm package", "text"], ["d", { ok: true }, "dictionary"], ["b", [1, 2, 3], "binary"]]);
  if (JSON.stringify(got) !== want || code !== "INVALID_OPTION") process.exit(1);
} finally {
  await browser.close();
}
