/**
 * The interop runtimes (Node twice: the machine's and Node 24) and how to
 * start their peer: the command line of the CLI (`send`, `receive`, ...) and
 * of the long-lived `serve` session.
 * `scripts/interop.sh` builds the Node bundles (`.build/interop/*.mjs`) first.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../../scripts/servers.ts";

/** Runtime names, in the matrix's order. */
export const RUNTIMES = ["deno", "bun", "node", "node24", "python", "browser"] as const;
/** A runtime name. */
export type RuntimeName = typeof RUNTIMES[number];

/** Node's current LTS, which scripts/setup.sh fetches beside the machine's Node. */
const NODE24 = join(ROOT, ".tools", "node24", "bin", "node");

/**
 * The runtimes this machine has: all of {@link RUNTIMES}, less `node24` when
 * scripts/setup.sh could not fetch it (a platform npm has no Node binary for).
 */
export const AVAILABLE_RUNTIMES: RuntimeName[] = RUNTIMES.filter((r) => r !== "node24" || existsSync(NODE24));

/** How to run one runtime's peer. */
export interface Runtime {
  name: RuntimeName;
  /** The CLI: executable, leading arguments, working directory. */
  cli: { cmd: string; args: string[]; cwd?: string };
  /** The `serve` session (same protocol for all). */
  serve: { cmd: string; args: string[]; cwd?: string };
  /** Reaches NATS over WebSocket (the browser) rather than TCP. */
  websocket: boolean;
  /** Can put and resolve JetStream Object Store links. */
  objectStore: boolean;
  /** Command that prints the runtime's version. */
  version: { cmd: string; args: string[] };
}

const bin = (name: string) => join(ROOT, "node_modules", ".bin", name);
const PY = join(ROOT, ".venv", "bin", "python");
const PEER_TS = join(ROOT, "interop", "peer.ts");
const PEER_NODE = join(ROOT, ".build", "interop", "peer.mjs");
const DRIVER = join(ROOT, ".build", "interop", "browser_driver.mjs");

/** The runtimes by name. */
export const RUNTIME: Record<RuntimeName, Runtime> = {
  deno: {
    name: "deno",
    cli: { cmd: bin("deno"), args: ["run", "-A", "--quiet", PEER_TS] },
    serve: { cmd: bin("deno"), args: ["run", "-A", "--quiet", PEER_TS, "serve"] },
    websocket: false,
    objectStore: true,
    version: { cmd: bin("deno"), args: ["--version"] },
  },
  bun: {
    name: "bun",
    cli: { cmd: bin("bun"), args: [PEER_TS] },
    serve: { cmd: bin("bun"), args: [PEER_TS, "serve"] },
    websocket: false,
    objectStore: true,
    version: { cmd: bin("bun"), args: ["--version"] },
  },
  node: {
    name: "node",
    cli: { cmd: "node", args: [PEER_NODE] },
    serve: { cmd: "node", args: [PEER_NODE, "serve"] },
    websocket: false,
    objectStore: true,
    version: { cmd: "node", args: ["--version"] },
  },
  node24: {
    name: "node24",
    cli: { cmd: NODE24, args: [PEER_NODE] },
    serve: { cmd: NODE24, args: [PEER_NODE, "serve"] },
    websocket: false,
    objectStore: true,
    version: { cmd: NODE24, args: ["--version"] },
  },
  python: {
    name: "python",
    cli: { cmd: PY, args: ["-m", "natsbridge.peer"], cwd: join(ROOT, "interop", "python") },
    serve: { cmd: PY, args: [join(ROOT, "interop", "python_serve.py")] },
    websocket: false,
    // The Python peer has Plik handlers only: no nats-obj:// links.
    objectStore: false,
    version: {
      cmd: PY,
      args: [
        "-c",
        "import sys, pyarrow, pandas; print(sys.version.split()[0], 'pyarrow', pyarrow.__version__, 'pandas', pandas.__version__)",
      ],
    },
  },
  browser: {
    name: "browser",
    cli: { cmd: "node", args: [DRIVER] },
    serve: { cmd: "node", args: [DRIVER, "serve"] },
    websocket: true,
    objectStore: true,
    version: { cmd: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ["--version"] },
  },
};
