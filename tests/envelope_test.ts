import { test } from "node:test";
import assert from "node:assert/strict";
import { parseEnvelope } from "../engine/envelope.ts";
import { smartreceive, smartsend } from "natsbridge";
import { ENVELOPE_KEYS, PAYLOAD_KEYS } from "../engine/types.ts";
import { rejectsWithCode, sampleEnvelope } from "./_helpers.ts";

test("parseEnvelope() accepts a valid envelope as text, bytes and object", () => {
  const env = sampleEnvelope();
  const text = JSON.stringify(env);
  for (const input of [text, new TextEncoder().encode(text), env]) {
    const { envelope, payloads } = parseEnvelope(input);
    assert.equal(envelope.msg_id, env.msg_id);
    assert.equal(payloads[0].resolvedType, "text");
  }
});

test("parseEnvelope() keeps unknown extra keys from peers", () => {
  const env = { ...sampleEnvelope(), x_trace: "abc" };
  const { envelope } = parseEnvelope(JSON.stringify(env));
  assert.equal((envelope as unknown as Record<string, unknown>).x_trace, "abc");
});

test("parseEnvelope() accepts Python hex ids, zone-less timestamps and the legacy 'table' type", () => {
  const env = sampleEnvelope();
  env.msg_id = "0123456789abcdef0123456789abcdef";
  env.timestamp = "2026-03-13T10:30:00.123";
  for (const real of ["2024-02-29T23:59:60Z", "2026-03-13T10:30:00.123456789+05:30", "2026-03-13T10:30"]) {
    assert.equal(parseEnvelope(JSON.stringify({ ...env, timestamp: real })).envelope.timestamp, real);
  }
  env.payloads[0].payload_type = "table";
  const { payloads } = parseEnvelope(env);
  assert.equal(payloads[0].resolvedType, "arrowtable");
});

test("parseEnvelope() rejects invalid JSON, non-objects and invalid UTF-8", async () => {
  for (const bad of ["", "{", "[1,2]", "null", "42", '"str"']) {
    await rejectsWithCode(() => parseEnvelope(bad), "ENVELOPE_INVALID");
  }
  await rejectsWithCode(() => parseEnvelope(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), "ENVELOPE_INVALID", /UTF-8/);
});

test("smartreceive() given something that is no envelope says what it got and what it takes", async () => {
  // Each was read as a parsed envelope: "Envelope is missing key correlation_id".
  const { smartreceive } = await import("natsbridge");
  const json = JSON.stringify(sampleEnvelope());
  const cases: [unknown, RegExp][] = [
    [new TextEncoder().encode(json).buffer, /got an ArrayBuffer/],
    [new DataView(new ArrayBuffer(4)), /got a DataView/],
    [new Blob([json]), /got a Blob/],
    [Promise.resolve(json), /got a Promise/],
    [{ subject: "s", data: json }, /got an object with "data" but no envelope keys: pass the nats.js Msg itself, or its data as text or bytes/],
  ];
  for (const [input, message] of cases) {
    await rejectsWithCode(() => smartreceive(input as never), "ENVELOPE_INVALID", message);
  }
});

test("a parsed envelope holding a bigint (a BigInt-aware JSON or CBOR decoder's) is ENVELOPE_INVALID, not a TypeError", async () => {
  // Describing the bad value ran JSON.stringify on it, which throws for bigints.
  const env = sampleEnvelope() as unknown as Record<string, unknown> & { payloads: Record<string, unknown>[] };
  env.payloads[0].size = 2n;
  await rejectsWithCode(() => parseEnvelope(env), "ENVELOPE_INVALID", /bigint 2/);
  await rejectsWithCode(() => smartreceive(env as never), "ENVELOPE_INVALID", /bigint 2/);
  await rejectsWithCode(() => parseEnvelope({ ...sampleEnvelope(), timestamp: 10n } as never), "ENVELOPE_INVALID", /bigint 10/);
  await rejectsWithCode(() => smartreceive(10n as never), "ENVELOPE_INVALID");
});

test("parseEnvelope() names each missing envelope key", async () => {
  for (const key of ENVELOPE_KEYS) {
    const env = sampleEnvelope();
    delete env[key];
    const e = await rejectsWithCode(() => parseEnvelope(env), "ENVELOPE_INVALID");
    assert.equal(e.field, key);
  }
});

test("parseEnvelope() names each missing payload key", async () => {
  for (const key of PAYLOAD_KEYS) {
    const env = sampleEnvelope();
    delete env.payloads[0][key];
    const e = await rejectsWithCode(() => parseEnvelope(env), "ENVELOPE_INVALID");
    assert.equal(e.field, `payloads[0].${key}`);
  }
});

test("parseEnvelope() rejects wrong types in every envelope field", async () => {
  const wrong: Record<string, unknown[]> = {
    correlation_id: [1, null, "", {}],
    msg_id: [1, null, ""],
    // The shape alone let impossible dates through: month 13, February 30, hour 24.
    timestamp: [0, "yesterday", "2026-13-99", null, "2026-13-45T99:99:99Z", "2026-02-30T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T10:00:00+25:00"],
    send_to: [1, null, []],
    msg_purpose: [true],
    sender_name: [1],
    sender_id: [{}],
    receiver_name: [null],
    receiver_id: [1],
    reply_to: [[]],
    reply_to_msg_id: [false],
    broker_url: [1],
    metadata: [null, [], "x", 1],
    payloads: [null, {}, "x", 1],
  };
  for (const [key, values] of Object.entries(wrong)) {
    for (const v of values) {
      const env = sampleEnvelope();
      env[key] = v;
      const e = await rejectsWithCode(() => parseEnvelope(env), "ENVELOPE_INVALID");
      assert.equal(e.field, key, `${key}=${JSON.stringify(v)}`);
    }
  }
});

test("parseEnvelope() rejects wrong types in every payload field", async () => {
  const wrong: Record<string, unknown[]> = {
    id: [1, null, ""],
    dataname: [1, null],
    payload_type: [1, null],
    transport: [1, null],
    encoding: [1, null],
    size: ["2", -1, 1.5, null, Number.MAX_SAFE_INTEGER + 2],
    data: [1, null, {}],
    metadata: [null, [], "x"],
  };
  for (const [key, values] of Object.entries(wrong)) {
    for (const v of values) {
      const env = sampleEnvelope();
      env.payloads[0][key] = v;
      const e = await rejectsWithCode(() => parseEnvelope(env), "ENVELOPE_INVALID");
      assert.equal(e.field, `payloads[0].${key}`, `${key}=${JSON.stringify(v)}`);
    }
  }
  const env = sampleEnvelope();
  env.payloads[0] = "not an object" as unknown as Record<string, unknown>;
  await rejectsWithCode(() => parseEnvelope(env), "ENVELOPE_INVALID");
});

test("parseEnvelope() rejects unknown payload_type, transport and encoding with their own codes", async () => {
  const cases: [string, unknown, string][] = [
    ["payload_type", "pdf", "UNKNOWN_PAYLOAD_TYPE"],
    ["transport", "carrier-pigeon", "UNKNOWN_TRANSPORT"],
    ["encoding", "hex", "UNKNOWN_ENCODING"],
    ["encoding", "json", "UNKNOWN_ENCODING"], // json encoding is for dictionary/jsontable only
  ];
  for (const [key, value, code] of cases) {
    const env = sampleEnvelope();
    env.payloads[0][key] = value;
    const e = await rejectsWithCode(() => parseEnvelope(env), code, new RegExp(String(value)));
    assert.equal(e.correlationId, env.correlation_id);
  }
});

test("parseEnvelope() checks link URLs and checksum format", async () => {
  let env = sampleEnvelope();
  Object.assign(env.payloads[0], { transport: "link", encoding: "none", data: "not a url" });
  await rejectsWithCode(() => parseEnvelope(env), "ENVELOPE_INVALID", /valid URL/);
  env = sampleEnvelope();
  Object.assign(env.payloads[0], { transport: "link", encoding: "base64", data: "http://x/y" });
  await rejectsWithCode(() => parseEnvelope(env), "UNKNOWN_ENCODING");
  env = sampleEnvelope();
  env.payloads[0].metadata = { checksum: "abc" };
  await rejectsWithCode(() => parseEnvelope(env), "ENVELOPE_INVALID", /checksum/);
});

test("a checksum of null is none, as the Python peer reads it (a Julia `nothing`): received unverified, not refused", async () => {
  const env = sampleEnvelope();
  env.payloads[0].metadata = { checksum: null };
  assert.ok(parseEnvelope(JSON.stringify(env)));
  const got = await smartreceive(JSON.stringify(env));
  assert.equal(got.payloads[0][1], "hi");
});

test("parseEnvelope() survives deeply nested and oversize JSON with a typed error or a result", async () => {
  const deep = "[".repeat(200_000) + "]".repeat(200_000);
  await rejectsWithCode(() => parseEnvelope(deep), "ENVELOPE_INVALID");
  const env = sampleEnvelope();
  env.metadata = { nested: JSON.parse("[".repeat(500) + "]".repeat(500)) };
  assert.ok(parseEnvelope(JSON.stringify(env)));
});

test("parseEnvelope() refuses metadata nested deeper than payload values may be: ENVELOPE_INVALID, not a stack overflow later", async () => {
  // 100,000 levels of envelope metadata passed, then overflowed the stack of
  // the CLI's JSON output and inspect's copy (RangeError, the message lost).
  const deep = (n: number) => JSON.parse("[".repeat(n) + "]".repeat(n));
  for (const levels of [600, 100_000]) {
    const env = sampleEnvelope();
    env.metadata = { nested: deep(levels) };
    const e = await rejectsWithCode(() => parseEnvelope(env), "ENVELOPE_INVALID", /nested deeper than 512 levels/);
    assert.equal(e.field, "metadata");
    // As text, as it arrives (JSON.stringify itself overflows on Bun).
    const inPayload = sampleEnvelope();
    inPayload.payloads[0].metadata = { nested: "here" };
    const text = JSON.stringify(inPayload).replace('"here"', "[".repeat(levels) + "]".repeat(levels));
    const p = await rejectsWithCode(() => parseEnvelope(text), "ENVELOPE_INVALID", /nested deeper than 512 levels/);
    assert.equal(p.field, "payloads[0].metadata");
    // Extra keys are kept, and printed by the CLI: the same cap.
    const extra = { ...sampleEnvelope(), extra: deep(levels) };
    const x = await rejectsWithCode(() => parseEnvelope(extra), "ENVELOPE_INVALID", /Envelope key "extra" is nested deeper than 512 levels/);
    assert.equal(x.field, "extra");
    const inPayloadExtra = sampleEnvelope();
    (inPayloadExtra.payloads[0] as Record<string, unknown>).extra = deep(levels);
    const px = await rejectsWithCode(() => parseEnvelope(inPayloadExtra), "ENVELOPE_INVALID", /key "extra" is nested deeper than 512 levels/);
    assert.equal(px.field, "payloads[0].extra");
  }
});

test("parseEnvelope() refuses a metadata number JavaScript would round (a Python peer's time_ns): ENVELOPE_INVALID, not a changed value", async () => {
  // {"ts_ns": 1741862400123456789} from a Python peer arrived as …456800, silently.
  const withNumber = (where: "envelope" | "payload" | "extra", literal: string) => {
    const env = sampleEnvelope();
    if (where === "envelope") env.metadata = { ts_ns: "N" };
    else if (where === "payload") env.payloads[0].metadata = { ...env.payloads[0].metadata as object, row_id: "N" };
    else env.x_seq = "N";
    return JSON.stringify(env).replace('"N"', literal);
  };
  for (const [where, field] of [["envelope", "metadata"], ["payload", "payloads[0].metadata"], ["extra", "x_seq"]] as const) {
    for (const literal of ["1741862400123456789", "-9007199254740993", "1e400"]) {
      const e = await rejectsWithCode(() => parseEnvelope(withNumber(where, literal)), "ENVELOPE_INVALID", /cannot hold exactly.*write it as a string/);
      assert.equal(e.field, field);
      assert.ok(e.message.includes(literal), e.message);
    }
    // What a double holds exactly passes, as do strings of digits.
    for (const literal of ["9007199254740992", "1152921504606846976", "1.5e300", '"1741862400123456789"']) {
      assert.ok(parseEnvelope(new TextEncoder().encode(withNumber(where, literal))));
    }
  }
});

test("an envelope starting with a UTF-8 BOM is read as text and as bytes alike, as the Python peer reads it", () => {
  // JSON parsers may ignore a BOM (RFC 8259 §8.1): taken as bytes, refused as text.
  const text = "\uFEFF" + JSON.stringify(sampleEnvelope());
  for (const input of [text, new TextEncoder().encode(text)]) assert.equal(parseEnvelope(input).envelope.msg_id, sampleEnvelope().msg_id);
});

test("errors about one payload of an envelope carry its dataname, as the README says every error does", async () => {
  // UNKNOWN_PAYLOAD_TYPE, UNKNOWN_ENCODING and UNKNOWN_TRANSPORT named it in
  // their message only: an on_error handler logging e.dataname got "".
  const [, json] = await smartsend("x", [["d", { a: 1 }, "dictionary"]], { is_publish: false });
  for (const [key, value, code] of [["payload_type", "pdf", "UNKNOWN_PAYLOAD_TYPE"], ["encoding", "hex", "UNKNOWN_ENCODING"], ["transport", "pigeon", "UNKNOWN_TRANSPORT"], ["id", "", "ENVELOPE_INVALID"]]) {
    const env = JSON.parse(json);
    env.payloads[0][key] = value;
    const e = await rejectsWithCode(() => smartreceive(env), code);
    assert.equal(e.dataname, "d", code);
  }
});
