/**
 * `natsbridge inspect <envelope.json|->`: check an envelope against the
 * contract and explain every problem found, without fetching any link.
 *
 * @module
 */
import { checkOrigins } from "../../origins.ts";
import {
  COMMON_FLAGS,
  type FlagSpec,
  listFlag,
  onePositional,
  parseCommand,
  stringFlag,
} from "../args.ts";
import type { Command } from "../context.ts";
import { EXIT } from "../exit_codes.ts";
import { HELP } from "../help.ts";
import { formatBytes, readStdin } from "../io.ts";
import { printable } from "../../printable.ts";
import { readUserFile } from "../user_files.ts";
import { inspectEnvelope } from "../problems.ts";

const FLAGS: FlagSpec = {
  ...COMMON_FLAGS,
  fileserver: { type: "string" },
  "allow-origin": { type: "string", multiple: true },
};

/** Runs `inspect`: exit 0 when valid, 1 when not. */
export const inspect: Command = async (argv, ctx) => {
  const { values, positionals } = parseCommand("inspect", argv, FLAGS);
  const out = ctx.output(values.json === true);
  if (values.help) {
    await out.line(HELP.inspect);
    return EXIT.OK;
  }
  const source = onePositional(positionals, "envelope file (or - for stdin)", "inspect");
  // The rule listen applies: an origin without a host could never match a link.
  const fileserver = stringFlag(values, "fileserver");
  const origins = [
    ...checkOrigins(fileserver === undefined ? [] : [fileserver], "--fileserver"),
    ...checkOrigins(listFlag(values, "allow-origin"), "--allow-origin"),
  ];
  const input = source === "-" ? await readStdin() : readUserFile(source, undefined, "inspect");
  const result = await inspectEnvelope(input, {
    allowedOrigins: origins.length > 0 ? origins : undefined,
  });
  const valid = result.problems.length === 0;
  if (out.json) {
    await out.record({
      event: "inspect",
      source,
      valid,
      problems: result.problems,
      notes: result.notes,
    });
  } else {
    const n = result.problems.length;
    await out.line(
      valid
        ? `${source}: valid msg_envelope_v1, ${result.payloads.length} payload(s)`
        : `${source}: invalid, ${n} problem${n === 1 ? "" : "s"}`,
    );
    for (const p of result.problems) {
      await out.line(`  ${p.field || "(envelope)"}: ${p.code} ${printable(p.message)}`);
    }
    if (valid) {
      for (const p of result.payloads) {
        await out.line(
          `  ${printable(p.name)}  ${p.type}  ${formatBytes(p.size)}  ${p.transport}  checksum ${
            // A direct payload's was verified (a mismatch makes the envelope invalid); a link is not fetched.
            !p.checksum ? "none" : p.transport === "direct" ? "ok" : "not checked (the link is not fetched)"
          }`,
        );
      }
    }
    for (const note of result.notes) await out.line(`  note: ${printable(note)}`);
  }
  return valid ? EXIT.OK : EXIT.RUNTIME;
};
