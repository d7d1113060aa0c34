/**
 * The TypeScript interop peer: the Python peer's command-line contract
 * (`interop/python/README.md` § The command-line peer) on Deno, Bun and Node.
 *
 *     deno run -A interop/peer.ts send    --broker URL --fileserver URL --subject S --case NAME [--threshold N]
 *     bun interop/peer.ts         receive --broker URL --fileserver URL --subject S --count N [--timeout SEC]
 *     node .build/interop/peer.mjs expect --case NAME [--threshold N]
 *     ... inputs --case NAME
 *     ... cases
 *
 * Node runs the esbuild bundle of this file made against the built `lib/`
 * (`scripts/interop.sh` builds both). stdout carries only the contract's lines;
 * natsbridge's log lines go to stderr. Exit status: 0 success, 1 a natsbridge
 * error (printed as `{"error": {...}}`), 2 bad arguments or an unknown case,
 * 3 `receive` timed out before `--count` envelopes.
 *
 * Beyond the Python peer:
 * - `send --store objectstore [--bucket B]` puts link payloads in the JetStream
 *   Object Store (`nats-obj://B/...` links) instead of Plik; `receive --bucket B`
 *   names the bucket whose links it resolves (default `natsbridge`).
 * - `serve --broker URL --fileserver URL`: one long-lived process for many
 *   requests. Each stdin line is a JSON object `{"command": "send"|"expect"|
 *   "inputs", ...the command's options by their long names}`; each gets one
 *   stdout line, exactly what the command would print. The matrix uses it to
 *   avoid a process start per message.
 *
 * @module
 */
import process from "node:process";
import { createInterface } from "node:readline";
import type { Bridge } from "natsbridge";
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
} from "./common/cli.ts";
import {
  CASE_NAMES,
  connectBridge,
  dumps,
  errorJson,
  expectCase,
  inputsOf,
  receiveLoop,
  sendCase,
  streamCheck,
  type StreamCheckOptions,
} from "./common/peer_core.ts";

function out(line: string): Promise<void> {
  return new Promise((r) => process.stdout.write(line + "\n", () => r()));
}

async function serve(args: Args): Promise<number> {
  const broker = str(args, "broker", true);
  const fileserver = str(args, "fileserver", true);
  let bridge: Bridge | undefined;
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let reply: unknown;
    try {
      const req = JSON.parse(line) as Record<string, unknown>;
      const a = argsOfRequest(req);
      if (req.command === "send") {
        bridge ??= await connectBridge(broker);
        await out(await sendCase(bridge, sendOptions({ fileserver, ...a })));
        continue;
      }
      if (req.command === "stream-check") {
        bridge ??= await connectBridge(broker);
        reply = await streamCheck(bridge, req as unknown as StreamCheckOptions);
      } else if (req.command === "expect") reply = await expectCase(caseName(a), num(a, "threshold"));
      else if (req.command === "inputs") reply = inputsOf(caseName(a));
      else throw new UsageError(`unknown serve command ${JSON.stringify(req.command)}`);
    } catch (err) {
      reply = err instanceof UsageError
        ? { error: { code: "USAGE", message: err.message } }
        : errorJson(err);
    }
    await out(dumps(reply));
  }
  await bridge?.close();
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const { command, args } = parseArgs(argv);
  switch (command) {
    case "cases":
      for (const c of CASE_NAMES) await out(c);
      return 0;
    case "expect":
      await out(dumps(await expectCase(caseName(args), num(args, "threshold"))));
      return 0;
    case "inputs":
      await out(dumps(inputsOf(caseName(args))));
      return 0;
    case "send": {
      const o = sendOptions(args);
      const bridge = await connectBridge(str(args, "broker", true));
      try {
        await out(await sendCase(bridge, o));
      } finally {
        await bridge.close();
      }
      return 0;
    }
    case "receive": {
      const o = receiveOptions(args);
      const bridge = await connectBridge(str(args, "broker", true));
      try {
        return await receiveLoop(bridge, o, out);
      } finally {
        await bridge.close();
      }
    }
    case "serve":
      return serve(args);
    default:
      throw new UsageError(`unknown command "${command}"`);
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
    await out(dumps(errorJson(err)));
    code = 1;
  }
}
// Exit now: idle codec workers and timers must not hold the process open.
process.exit(code);
