/**
 * The matrix's checks catch damage, not just arrival: a message built and
 * received in-process (no network; the envelope goes to smartreceive as text)
 * passes, and each kind of tampering — a changed envelope field, a value, a
 * checksum, a transport, a lost payload, a receive error — is reported.
 *
 * Run: `deno test -A interop/check_test.ts` (also `bun test interop/check_test.ts`).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Bridge } from "natsbridge";
import { smartsend } from "natsbridge";
import { check, type Envelope, type ExpectedPayload, type Received } from "./common/check.ts";
import { getCase, sendItemsOf } from "./common/cases.ts";
import { createRenderer, expectCase } from "./common/peer_core.ts";

const PLIK = "http://127.0.0.1:9";
const variant = { label: "mixed", case: "mixed", store: "plik" as const };

async function roundTrip(): Promise<
  { sent: Envelope; received: Received; expected: ExpectedPayload[] }
> {
  const [, json] = await smartsend("interop.test", sendItemsOf(getCase("mixed").items()) as never, {
    is_publish: false,
    broker_url: "nats://127.0.0.1:4222",
    sender_name: "check-test",
  });
  // Only nats-obj:// links use the bridge; this message has none.
  const render = createRenderer(undefined as unknown as Bridge, { fileserver: PLIK });
  const received = await render({
    data: new TextEncoder().encode(json),
    subject: "interop.test",
  }) as Received;
  const expected = (await expectCase("mixed") as { payloads: ExpectedPayload[] }).payloads;
  return { sent: JSON.parse(json), received, expected };
}

test("an intact message passes every check", async () => {
  const { sent, received, expected } = await roundTrip();
  assert.deepEqual(check({ sent, received, variant }, expected, PLIK, "interop"), []);
});

test("each kind of damage is reported", async () => {
  const { sent, received, expected } = await roundTrip();
  const damaged = (f: (r: Received) => void) => {
    const r = structuredClone(received);
    f(r);
    return check({ sent, received: r, variant }, expected, PLIK, "interop").join("; ");
  };
  assert.match(damaged((r) => (r.msg_id = "other")), /envelope field msg_id changed/);
  assert.match(damaged((r) => delete r.sender_name), /envelope field sender_name missing/);
  assert.match(damaged((r) => (r.correlation_id = "x")), /correlation_id changed/);
  assert.match(
    damaged((r) => (r.payloads![0].value = "mixed message")),
    /payload 0 "greeting": value/,
  );
  assert.match(
    damaged((r) => ((r.payloads![3].value as { rows: unknown[][] }).rows[1][1] = "b")),
    /value\.rows\[1\]\[1\]/,
  );
  assert.match(
    damaged((r) => (r.payloads![5].checksum_recomputed = "0".repeat(64))),
    /checksum .* ≠ recomputed/,
  );
  assert.match(damaged((r) => (r.payloads![5].checksum = null)), /no checksum received/);
  assert.match(damaged((r) => (r.payloads![1].transport = "link")), /transport expected direct/);
  assert.match(damaged((r) => r.payloads!.pop()), /payload count/);
  assert.match(damaged((r) => (r.payloads![2].size = 1)), /size sent/);
  assert.match(
    check(
      { sent, received: { error: { code: "CHECKSUM_MISMATCH", message: "m" } }, variant },
      expected,
      PLIK,
      "interop",
    )
      .join(),
    /receive failed: CHECKSUM_MISMATCH/,
  );
  assert.match(check({ sent, variant }, expected, PLIK, "interop").join(), /not received/);
  assert.match(
    check({ sendError: "UPLOAD_FAILED x", variant }, expected, PLIK, "interop").join(),
    /send failed/,
  );
});

test("a tampered checksum in the envelope is refused by the receiver itself", async () => {
  const [, json] = await smartsend(
    "interop.test",
    sendItemsOf(getCase("binary").items()) as never,
    {
      is_publish: false,
      broker_url: "nats://127.0.0.1:4222",
    },
  );
  const env = JSON.parse(json);
  env.payloads[0].metadata.checksum = "0".repeat(64);
  const render = createRenderer(undefined as unknown as Bridge, { fileserver: PLIK });
  const out = await render({
    data: new TextEncoder().encode(JSON.stringify(env)),
    subject: "s",
  }) as Received;
  assert.equal(out.error?.code, "CHECKSUM_MISMATCH");
  assert.equal(
    (out.error as unknown as { correlation_id: string }).correlation_id,
    env.correlation_id,
  );
});
