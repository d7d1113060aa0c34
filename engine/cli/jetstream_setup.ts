/**
 * `--stream NAME`: make sure a JetStream stream exists before publishing to or
 * consuming from it. An existing stream is left exactly as it is (its subjects
 * are not touched); a missing one is created capturing the command's subject.
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { ensureStream, subjectsOverlap } from "../jetstream.ts";
import { jetStreamError, OptionsError, permissionDenied, TransportError } from "../errors.ts";

/**
 * Creates stream `name` capturing `subject` unless it exists.
 *
 * @param nc Connection.
 * @param name Stream name.
 * @param subject Subject (wildcards allowed) the new stream captures.
 * @returns `true` when the stream was created.
 * @throws {TransportError} `CONNECTION_FAILED` when JetStream is not enabled on the server.
 * @throws {OptionsError} `INVALID_OPTION` for a name NATS refuses, or an existing
 *   stream that does not capture `subject`.
 */
export async function streamExists(
  nc: NatsConnection,
  name: string,
  subject: string,
): Promise<boolean> {
  let jsm;
  try {
    jsm = await jetstreamManager(nc);
  } catch (err) {
    // Refused by permissions, JetStream is there: saying it is not would send the user astray.
    throw permissionDenied(err, "Cannot use JetStream") ?? new TransportError(
      "CONNECTION_FAILED",
      `JetStream is not available on this server: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  let captures: string[];
  try {
    captures = (await jsm.streams.info(name)).config.subjects ?? [];
  } catch (err) {
    // A name NATS refuses ("BAD.STREAM") is the user's flag, not an outage.
    if (!/not found/i.test((err as Error).message)) throw jetStreamError(`Cannot use stream "${name}"`, err);
    await ensureStream(nc, { name, subjects: [subject] });
    return true;
  }
  // Named, it must take the subject: else every publish would fail with a hint that misleads.
  if (captures.length > 0 && !captures.some((c) => subjectsOverlap(c, subject))) {
    throw new OptionsError(
      `stream "${name}" captures ${captures.map((c) => `"${c}"`).join(", ")}, not "${subject}": use a subject it captures, or another --stream`,
      { field: "stream" },
    );
  }
  return false;
}
