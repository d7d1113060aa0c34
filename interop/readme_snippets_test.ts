/**
 * The README's "## Runtimes" snippets work when pasted: each code block of the
 * Deno, Bun, Node, Browser and Python peer subsections is written to a file
 * as it stands (only the ports 4222 / 4280 / 8080 become those of the servers
 * started here) and run by its runtime against a live nats-server (JetStream +
 * WebSocket) and the Plik-compatible server; its output is checked.
 *
 * The browser snippet runs in Chromium (playwright-core, /usr/bin/chromium)
 * next to the browser build the README tells you to make, served from the file
 * server's origin as the README says it must be.
 *
 * Run: `deno test -A interop/readme_snippets_test.ts` (the Node snippet needs
 * the built lib/: `npm run build`; built here when missing).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { chromium } from "playwright-core";
import {
  type NatsServer,
  ROOT,
  type RunningServer,
  startNats,
  startPlik,
} from "../scripts/servers.ts";
import { buildBrowser } from "../scripts/build_browser.ts";
import { run } from "./common/proc.ts";

const OUT = join(ROOT, ".build", "readme-snippets");

/** The fenced code blocks of each `### ` subsection of `## Runtimes`, by subsection title. */
export function runtimeSnippets(readme: string): Map<string, { lang: string; code: string }[]> {
  const start = readme.indexOf("\n## Runtimes\n");
  assert.ok(start >= 0, 'README has no "## Runtimes" section');
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const out = new Map<string, { lang: string; code: string }[]>();
  for (const part of section.split("\n### ").slice(1)) {
    const title = part.slice(0, part.indexOf("\n")).trim();
    const blocks = [...part.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({
      lang: m[1],
      code: m[2],
    }));
    out.set(title, blocks);
  }
  return out;
}

const snippets = runtimeSnippets(readFileSync(join(ROOT, "README.md"), "utf8"));
let nats: NatsServer;
let plik: RunningServer;

before(async () => {
  nats = await startNats({ websocket: true });
  plik = await startPlik();
  mkdirSync(OUT, { recursive: true });
});
after(async () => {
  await nats?.stop();
  await plik?.stop();
});

/** The one runnable block of a subsection, with the servers' ports put in. */
function snippet(title: string, lang: string): string {
  const blocks = (snippets.get(title) ?? []).filter((b) => b.lang === lang);
  assert.equal(
    blocks.length,
    1,
    `README § Runtimes › ${title}: expected one \`\`\`${lang} block, found ${blocks.length}`,
  );
  return blocks[0].code
    .replaceAll("127.0.0.1:4222", `127.0.0.1:${nats.port}`)
    .replaceAll("127.0.0.1:4280", `127.0.0.1:${new URL(nats.wsUrl!).port}`)
    .replaceAll("127.0.0.1:8080", `127.0.0.1:${plik.port}`);
}

async function runFile(
  name: string,
  code: string,
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
) {
  const file = join(OUT, name);
  writeFileSync(file, code);
  const r = await run(cmd, [...args, file], { cwd: ROOT, env, timeoutMs: 60_000 });
  assert.equal(
    r.code,
    0,
    `${name} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr.slice(-3000)}`,
  );
  return r.stdout;
}

const bin = (name: string) => join(ROOT, "node_modules", ".bin", name);

test("README § Runtimes has the five subsections", () => {
  assert.deepEqual([...snippets.keys()], ["Deno", "Bun", "Node", "Browser", "Python peer"]);
});

test("the Deno snippet runs under Deno", async () => {
  const out = await runFile("deno_app.ts", snippet("Deno", "ts"), bin("deno"), [
    "run",
    "-A",
    "--quiet",
  ]);
  assert.match(out, /^greeting text Hello from Deno!\nblob binary 600000 bytes\n$/);
});

test("the Bun snippet runs under Bun", async () => {
  const out = await runFile("bun_app.ts", snippet("Bun", "ts"), bin("bun"), []);
  assert.match(
    out,
    /^prices 3 rows \[\{"id":1,"price":9\.5\},\{"id":2,"price":12\},\{"id":3,"price":7\.25\}\]\n$/,
  );
});

test("the Node snippet runs under Node against lib/", async () => {
  if (!existsSync(join(ROOT, "lib", "mod.js"))) {
    const b = await run("npm", ["run", "--silent", "build"], { cwd: ROOT });
    assert.equal(b.code, 0, b.stdout + b.stderr);
  }
  const out = await runFile("node_app.mjs", snippet("Node", "js"), "node", []);
  assert.equal(out, "HELLO FROM NODE\n");
});

test("the Python peer snippet runs under the Python peer", async () => {
  const out = await runFile(
    "python_app.py",
    snippet("Python peer", "python"),
    join(ROOT, ".venv", "bin", "python"),
    [],
    {
      PYTHONPATH: join(ROOT, "interop", "python"),
    },
  );
  assert.equal(out, "people arrowtable [{'id': 1, 'name': 'Ada'}, {'id': 2, 'name': 'Grace'}]\n");
});

test("the Browser snippet runs in Chromium with the browser build", async () => {
  const { file } = await buildBrowser(); // what `deno run -A scripts/build_browser.ts` does
  const html = snippet("Browser", "html");
  const origin = plik.url;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    const context = await browser.newContext();
    // Served by interception, the page has no address of its own; allow its WebSocket to loopback NATS.
    await context.grantPermissions(["local-network-access"], { origin });
    const page = await context.newPage();
    const logs: string[] = [];
    const errors: string[] = [];
    page.on("console", (m) => (m.type() === "log" ? logs : errors).push(m.text()));
    page.on("pageerror", (e) => errors.push(e.message));
    // The page on the file server's origin, next to natsbridge.js: the README's setup.
    await page.route(`${origin}/app/**`, (route) => {
      const path = new URL(route.request().url()).pathname;
      if (path === "/app/index.html") {
        return route.fulfill({ contentType: "text/html", body: html });
      }
      if (path === "/app/natsbridge.js") {
        return route.fulfill({ contentType: "text/javascript", body: readFileSync(file) });
      }
      return route.fulfill({ status: 404, body: "" });
    });
    await page.goto(`${origin}/app/index.html`);
    const deadline = Date.now() + 30_000;
    while (logs.length < 3 && Date.now() < deadline && !errors.some((e) => /Error/.test(e))) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(
      logs,
      ["greeting text Hello from the browser!", "upload binary 2000000 bytes", "file binary 3000000 bytes"],
      errors.join("\n"),
    );
  } finally {
    await browser.close();
  }
});
