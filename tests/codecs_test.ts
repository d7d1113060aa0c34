import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeBase64, encodeBase64 } from "../engine/platform/base64.ts";
import { createSha256, sha256Hex } from "../engine/platform/sha256.ts";
import { codecFor, resolvePayloadType } from "../engine/codecs/registry.ts";
import { backoffDelays, sleep } from "../engine/backoff.ts";
import { assertAllowedOrigin, originOf } from "../engine/origins.ts";
import { formatLogLine } from "../engine/logger.ts";
import { smartreceive, smartsend } from "natsbridge";
import { bytesOf, rejectsWithCode } from "./_helpers.ts";

test("encodeBase64() and decodeBase64() round-trip every length 0..300 against a reference", () => {
  for (let n = 0; n <= 300; n++) {
    const b = bytesOf(n, n + 1);
    const s = encodeBase64(b);
    assert.equal(s, Buffer.from(b).toString("base64"));
    assert.deepEqual(decodeBase64(s), b);
  }
});

test("decodeBase64() rejects malformed base64", () => {
  for (const bad of ["aGl=", "YR==", "a", "abc", "ab=c", "a===", "ab c", "ab\ncd==", "ab-_", "====", "aGk=aGk=", "aGk!", "é123"]) {
    assert.throws(() => decodeBase64(bad), /base64|Base64/i, JSON.stringify(bad));
  }
});

test("a small received binary payload is a buffer of its own, not a view into a pool shared with other payloads", async () => {
  // On Node, Buffer.from(base64) drew payloads under ~4 KB from its shared
  // 8 KiB pool: new Float32Array(value.buffer) gave 2,048 floats, and the
  // buffer held the bytes of the message's other payloads.
  const samples = new Uint8Array(new Float32Array([1.5, 2.5, 3.5, 4.5]).buffer);
  const secret = new TextEncoder().encode("SECRET-API-KEY-0123456789");
  const [, json] = await smartsend("s", [["samples", samples, "binary"], ["token", secret, "binary"]], { is_publish: false });
  const env = await smartreceive(json);
  for (const [name, value] of env.payloads) {
    const bytes = value as Uint8Array;
    assert.equal(bytes.byteOffset, 0, name);
    assert.equal(bytes.buffer.byteLength, bytes.byteLength, name);
  }
  assert.deepEqual([...new Float32Array((env.payloads[0][1] as Uint8Array).buffer)], [1.5, 2.5, 3.5, 4.5]);
  const decoded = decodeBase64(encodeBase64(secret));
  assert.equal(decoded.buffer.byteLength, secret.byteLength);
});

test("sha256Hex() and createSha256() agree and match known vectors", () => {
  assert.equal(sha256Hex(new TextEncoder().encode("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const data = bytesOf(100_000);
  const h = createSha256();
  for (let i = 0; i < data.length; i += 7777) h.update(data.subarray(i, i + 7777));
  assert.equal(h.digestHex(), sha256Hex(data));
});

test("text codec round-trips unicode and rejects non-strings and invalid UTF-8", async () => {
  const c = codecFor("text");
  for (const s of ["", "hello", "héllo wörld ✓ 🚀 日本語", "\u0000nul"]) assert.equal(c.deserialize(c.serialize(s)), s);
  await rejectsWithCode(() => c.serialize(42), "INVALID_INPUT", /string/);
  await rejectsWithCode(() => c.deserialize(new Uint8Array([0xc3, 0x28])), "DECODE_FAILED", /UTF-8/);
});

test("dictionary codec round-trips objects and arrays and rejects the rest", async () => {
  const c = codecFor("dictionary");
  const v = { a: 1, b: [1, 2, { c: "ü" }], d: null, e: { f: { g: true } } };
  assert.deepEqual(c.deserialize(c.serialize(v)), v);
  assert.deepEqual(c.deserialize(c.serialize([1, "x"])), [1, "x"]);
  for (const bad of [null, "str", 1, new Uint8Array(1)]) await rejectsWithCode(() => c.serialize(bad), "INVALID_INPUT");
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  await rejectsWithCode(() => c.serialize(cyclic), "INVALID_INPUT", /JSON/);
  await rejectsWithCode(() => c.deserialize(new TextEncoder().encode("{bad")), "DECODE_FAILED", /JSON/);
  await rejectsWithCode(() => c.deserialize(new TextEncoder().encode("42")), "DECODE_FAILED");
});

test("jsontable codec takes arrays of row objects only", async () => {
  const c = codecFor("jsontable");
  const rows = [{ id: 1, name: "Alice" }, { id: 2, name: "Bob" }];
  assert.deepEqual(c.deserialize(c.serialize(rows)), rows);
  assert.deepEqual(c.deserialize(c.serialize([])), []);
  await rejectsWithCode(() => c.serialize({ a: 1 }), "INVALID_INPUT");
  await rejectsWithCode(() => c.serialize([{ a: 1 }, 2]), "INVALID_INPUT", /row 1/);
  await rejectsWithCode(() => c.deserialize(new TextEncoder().encode('[{"a":1},[2]]')), "DECODE_FAILED", /row 1/);
});

test("dictionary and jsontable refuse values JSON would change, naming where they are", async () => {
  // JSON.stringify wrote NaN and Infinity as null, a Map or Set as {} and a
  // Uint8Array as {"0":…}: every receiver got the changed value, checksum and all.
  for (const type of ["dictionary", "jsontable"] as const) {
    const c = codecFor(type);
    const wrap = (v: unknown) => type === "dictionary" ? { v } : [{ v }];
    const at = type === "dictionary" ? "v" : "\\[0\\]\\.v";
    const cases: Array<[unknown, RegExp]> = [
      [NaN, new RegExp(`NaN at ${at}: JSON has no NaN or Infinity`)],
      [[1, -Infinity], new RegExp(`-Infinity at ${at}\\[1\\]`)],
      [{ m: new Map([["a", 1]]) }, new RegExp(`a Map at ${at}\\.m`)],
      [new Set([1]), /a Set at/],
      [{ deep: [{ u: new Uint8Array(2) }] }, /a Uint8Array at .*deep\[0\]\.u: send bytes as a binary payload/],
      [new Error("x"), /an Error at/],
      // In a list JSON writes these as null; as a field it drops a function without a word.
      [[1, undefined, 3], new RegExp(`undefined at ${at}\\[1\\]: JSON would write it as null`)],
      [[() => 1], /a function at .*\[0\]: JSON would write it as null/],
      [{ f: () => 1 }, /a function at .*\.f: JSON would drop it/],
      [{ s: Symbol("x") }, /a symbol at .*\.s: JSON would drop it/],
      // Boxed numbers and what a toJSON() returns were not looked at: NaN went out as null.
      [new Number(NaN), new RegExp(`NaN at ${at}: JSON has no NaN`)],
      [{ n: new Number(2 ** 60) }, new RegExp(`1152921504606847000 at ${at}\\.n, an integer beyond`)],
      [{ d: new Date(NaN) }, new RegExp(`an invalid Date at ${at}\\.d: JSON would write it as null`)],
      [{ p: { toJSON: () => ({ x: Infinity }) } }, new RegExp(`Infinity at ${at}\\.p\\.x`)],
      // JSON does not call toJSON() again on what one returned: that Date goes out as {}.
      [{ when: { toJSON: () => new Date(0) } }, new RegExp(`a Date at ${at}\\.when: JSON would write it as \\{\\}`)],
    ];
    for (const [value, message] of cases) await rejectsWithCode(() => c.serialize(wrap(value)), "INVALID_INPUT", message);
    // What JSON writes as its own value passes: a Date as its ISO string, a class instance as its fields.
    class Point { constructor(public x = 1, public y = 2) {} }
    // Not refused as a boxed number or an invalid Date: an object that only calls itself "Number"
    // (valueOf threw "requires that 'this' be a Number"), an invalid Date whose own toJSON() writes it.
    const tagged = { value: 1, unit: "m", [Symbol.toStringTag]: "Number" };
    const unknownDate = Object.assign(new Date(NaN), { toJSON: () => "unknown" });
    // An undefined field is absent, as JSON has it everywhere.
    const sent = wrap({ at: new Date(0), p: new Point(), s: new String("x"), absent: undefined, tagged, unknownDate });
    assert.deepEqual(c.deserialize(c.serialize(sent)), JSON.parse(JSON.stringify(sent)));
  }
});

test("dictionary and jsontable keep -0, written -0.0 as Python and Julia write it", () => {
  // JSON.stringify writes -0 as 0: the sign was lost on the way, where a Python peer keeps it.
  const sent = { z: -0, list: [-0, 0, new Number(-0)], s: "-0", n: { deep: -0 }, d: new Date(0) };
  for (const [type, value] of [["dictionary", sent], ["jsontable", [sent, { z: 1 }]]] as const) {
    const c = codecFor(type);
    const text = new TextDecoder().decode(c.serialize(value));
    assert.equal(text, JSON.stringify(value).replace(/"z":0/, '"z":-0.0').replace("[0,0,0]", "[-0.0,0,-0.0]").replace('"deep":0', '"deep":-0.0'));
    const got = c.deserialize(c.serialize(value)) as Record<string, unknown> | Record<string, unknown>[];
    const first = (Array.isArray(got) ? got[0] : got) as { z: number; list: number[]; s: string; n: { deep: number }; d: string };
    assert.ok(Object.is(first.z, -0) && Object.is(first.list[0], -0) && Object.is(first.list[1], 0) && Object.is(first.list[2], -0));
    assert.ok(Object.is(first.n.deep, -0));
    assert.equal(first.s, "-0");
    assert.equal(first.d, "1970-01-01T00:00:00.000Z");
  }
});

test("jsontable refuses rows that JSON would not write as objects", async () => {
  // A Date row went out as a string, a Map row as {}: receivers refused the first, lost the second.
  const c = codecFor("jsontable");
  await rejectsWithCode(() => c.serialize([{ a: 1 }, new Date(0)]), "INVALID_INPUT", /row 1 must be an object, got a Date/);
  await rejectsWithCode(() => c.serialize([new Map([["a", 1]])]), "INVALID_INPUT", /row 0 must be an object, got a Map/);
  await rejectsWithCode(() => c.serialize([{ toJSON: () => 5 }]), "INVALID_INPUT", /row 0 is written by its toJSON\(\) as 5, not as an object/);
  assert.deepEqual(c.deserialize(c.serialize([{ toJSON: () => ({ a: 1 }) }])), [{ a: 1 }]);
});

test("dictionary and jsontable refuse a number a JavaScript number cannot hold, instead of rounding it", async () => {
  // A Python peer's 2**53 + 1 arrived as 2**53, 10**400 as Infinity: the checksum covers the bytes, not the value.
  for (const type of ["dictionary", "jsontable"] as const) {
    const c = codecFor(type);
    const json = (n: string) => new TextEncoder().encode(type === "dictionary" ? `{"id": ${n}, "s": "12345678901234567890"}` : `[{"id": ${n}}]`);
    for (const n of ["9007199254740993", "-9007199254740995", "18446744073709551615", "1" + "0".repeat(400), "1e400", "-2.5E+308"]) {
      await rejectsWithCode(() => c.deserialize(json(n)), "DECODE_FAILED", new RegExp(`${n.slice(0, 20).replace(/[+.]/g, "\\$&")}.*cannot hold exactly`));
    }
    // Exact ones pass, long digit runs in strings too.
    for (const n of ["9007199254740992", "-9007199254740991", "1e300", "0.1000000000000000055511151231257827", "12345678901234567890e-5"]) {
      c.deserialize(json(n));
    }
  }
});

test("an integer beyond 2^53 is refused when sent (INVALID_INPUT), not published for every receiver to read differently", async () => {
  // JSON.stringify writes 2**60 as 1152921504606847000: a Python receiver
  // kept that integer (not 2**60), a JavaScript one refused it as DECODE_FAILED.
  for (const type of ["dictionary", "jsontable"] as const) {
    const c = codecFor(type);
    for (const n of [2 ** 60, -65212272737340410, 1.2345678901234568e20]) {
      await rejectsWithCode(() => c.serialize(type === "dictionary" ? { n } : [{ n }]), "INVALID_INPUT", /beyond ±2\^53−1.*send it as a string/);
    }
    // Safe integers, and doubles JSON writes with an exponent, go as they are.
    for (const n of [Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 1e21, Number.MAX_VALUE, 0.1]) {
      const value = type === "dictionary" ? { n } : [{ n }];
      assert.deepEqual(c.deserialize(await c.serialize(value)), value);
    }
  }
  await rejectsWithCode(() => smartsend("x", [["t", "x", "text"]], { is_publish: false, metadata: { n: 2 ** 60 } }), "INVALID_OPTION", /metadata/);
  const [, json] = await smartsend("x", [["t", "x", "text"]], { is_publish: false, metadata: { n: 1e21 } });
  assert.equal((await smartreceive(json)).metadata.n, 1e21);
});

test("dictionary and jsontable nested deeper than 512 levels are refused both ways, as the Python peer refuses them", async () => {
  // 50,000 levels were accepted, and then overflowed the stack of whatever
  // serialized them again (the CLI's --out and --json crashed, under JetStream in a loop).
  const nest = (depth: number) => JSON.parse("[".repeat(depth) + "]".repeat(depth));
  for (const type of ["dictionary", "jsontable"] as const) {
    const c = codecFor(type);
    const wrap = (v: unknown) => type === "dictionary" ? { v } : [{ v }];
    const ok = wrap(nest(500));
    assert.deepEqual(c.deserialize(c.serialize(ok)), ok);
    await rejectsWithCode(() => c.serialize(wrap(nest(600))), "INVALID_INPUT", /nested deeper than 512 levels/);
    await rejectsWithCode(() => c.serialize(wrap(nest(50_000))), "INVALID_INPUT", /nested deeper than 512 levels/);
    const deep = new TextEncoder().encode(JSON.stringify(wrap(nest(600))));
    await rejectsWithCode(() => c.deserialize(deep), "DECODE_FAILED", /nested deeper than 512 levels/);
    // Brackets inside strings do not count.
    c.deserialize(new TextEncoder().encode(JSON.stringify(wrap("[".repeat(2000)))));
  }
});

test("binary codecs pass bytes through without copying", async () => {
  for (const t of ["image", "audio", "video", "binary"] as const) {
    const c = codecFor(t);
    const b = bytesOf(10);
    assert.equal(c.serialize(b), b);
    assert.equal(c.deserialize(b), b);
    assert.deepEqual([...c.serialize(Buffer.from([1, 2]))], [1, 2]);
    await rejectsWithCode(() => c.serialize("not bytes"), "INVALID_INPUT", new RegExp(t));
  }
});

test("resolvePayloadType() knows the eight types and the 'table' alias", () => {
  for (const t of ["text", "dictionary", "arrowtable", "jsontable", "image", "audio", "video", "binary"]) {
    assert.equal(resolvePayloadType(t), t);
  }
  assert.equal(resolvePayloadType("table"), "arrowtable");
  assert.equal(resolvePayloadType("toString"), undefined);
  assert.equal(resolvePayloadType("__proto__"), undefined);
});

test("backoffDelays() follows the spec: base, doubling, capped", () => {
  assert.deepEqual(backoffDelays(5, 100, 5000), [100, 200, 400, 800]);
  assert.deepEqual(backoffDelays(8, 1000, 5000), [1000, 2000, 4000, 5000, 5000, 5000, 5000]);
  assert.deepEqual(backoffDelays(1, 100, 5000), []);
});

test("sleep() rejects with ABORTED as soon as its signal aborts", async () => {
  const ac = new AbortController();
  const t0 = Date.now();
  setTimeout(() => ac.abort(), 20);
  await rejectsWithCode(() => sleep(10_000, ac.signal), "ABORTED");
  assert.ok(Date.now() - t0 < 5000);
});

test("originOf() and assertAllowedOrigin() compare scheme, host and port", async () => {
  assert.equal(originOf("http://A.example:80/x"), "http://a.example");
  assert.equal(originOf("https://a.example:8443/x"), "https://a.example:8443");
  assert.equal(originOf("nats-obj://bucket/x"), "nats-obj://bucket");
  assert.equal(originOf("nope"), undefined);
  const ctx = { correlationId: "c1", dataname: "d" };
  assertAllowedOrigin("http://127.0.0.1:8080/file/a", ["http://127.0.0.1:8080"], ctx);
  for (const bad of ["http://127.0.0.1:8081/f", "https://127.0.0.1:8080/f", "http://169.254.169.254/", "file:///etc/passwd", "http://127.0.0.1:8080@evil.example/"]) {
    const e = await rejectsWithCode(() => assertAllowedOrigin(bad, ["http://127.0.0.1:8080"], ctx), "ORIGIN_REFUSED");
    assert.equal(e.correlationId, "c1");
  }
});

test("formatLogLine() writes the spec's line format", () => {
  assert.equal(formatLogLine("abc", "Message published to chat", new Date(Date.UTC(2026, 2, 13, 10, 30))),
    "[2026-03-13T10:30:00.000Z] [Correlation: abc] Message published to chat");
});
