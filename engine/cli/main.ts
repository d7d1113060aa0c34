#!/usr/bin/env node
/**
 * The `natsbridge` command: `send`, `listen`, `request` and `inspect`
 * msg_envelope_v1 messages from a shell.
 *
 * Runs on Node (`natsbridge`, the package's `bin`, built to
 * `lib/engine/cli/main.js`), Deno (`deno run -A engine/cli/main.ts …`, or
 * `deno run -A jsr:@natsbridge/natsbridge/cli …`) and Bun
 * (`bun engine/cli/main.ts …`). Errors are one line on stderr,
 * `natsbridge: CODE message`; exit codes are in {@link EXIT}.
 *
 * @example
 * ```sh
 * natsbridge listen chat --out ./received &
 * natsbridge send chat --text "Hello!" --file photo.png:image
 * ```
 *
 * @module
 */
import process from "node:process";
import { AbortedError } from "../errors.ts";
import { defaultCodecPool } from "../../workers/pool.ts";
import { inspect } from "./commands/inspect.ts";
import { listen } from "./commands/listen.ts";
import { request } from "./commands/request.ts";
import { send } from "./commands/send.ts";
import type { Command, CommandContext } from "./context.ts";
import { errorLine, EXIT, exitCodeOf, UsageError } from "./exit_codes.ts";
import { HELP } from "./help.ts";
import { processOutput, writeTo } from "./io.ts";
import { packageVersion } from "./version.ts";

const COMMANDS: Readonly<Record<string, Command>> = { send, listen, request, inspect };

/**
 * Runs one command line.
 *
 * @param argv Arguments after the program name.
 * @returns The exit code.
 */
async function main(argv: string[]): Promise<number> {
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(EXIT.INTERRUPTED); // a second Ctrl-C: now
    controller.abort(new AbortedError("Interrupted"));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const ctx: CommandContext = { output: processOutput, signal: controller.signal };
  try {
    const [first, ...rest] = argv;
    if (first === undefined) {
      await writeTo(process.stderr, `${HELP[""]}\n`);
      return EXIT.USAGE;
    }
    if (first === "--help" || first === "-h" || first === "help") {
      const topic = first === "help" && rest[0] !== undefined ? rest[0] : "";
      if (!Object.hasOwn(HELP, topic)) throw new UsageError(`unknown command "${topic}"`);
      await writeTo(process.stdout, `${HELP[topic]}\n`);
      return EXIT.OK;
    }
    if (first === "--version" || first === "-V") {
      await writeTo(process.stdout, `natsbridge ${await packageVersion()}\n`);
      return EXIT.OK;
    }
    const command = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
    if (!command) throw new UsageError(`unknown command "${first}"`);
    return await command(rest, ctx);
  } catch (err) {
    await writeTo(process.stderr, `${errorLine(err)}\n`);
    return exitCodeOf(err);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await defaultCodecPool().destroy();
  }
}

// Exit explicitly: worker threads or sockets left by a failed call must not keep the process alive.
process.exit(await main(process.argv.slice(2)));
