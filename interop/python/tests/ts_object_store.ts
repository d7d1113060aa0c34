/**
 * natsbridge's side of the Object Store interop with nats-py, for
 * interop/python/tests/test_object_store_interop.py.
 *
 * `--mode write`: each stdin line `{"label", "size", "pieces"?}` becomes an object
 * of `size` pattern bytes, put as bytes or, with `pieces`, as a stream of pieces of
 * those sizes in turn; prints `{"label", "name", "sha256", "size"}`.
 * `--mode read`: each stdin line `{"label", "name", "stream"}` is read back as
 * bytes or as a stream; prints `{"label", "sha256", "size"}` or `{"label", "error"}`.
 *
 * Usage: deno run -A ts_object_store.ts --nats URL --bucket NAME --mode write|read
 */
import { createHash } from "node:crypto";
import { connect } from "@nats-io/transport-node";
import { objectStoreFileServer } from "../../../mod.ts";

const arg = (name: string) => Deno.args[Deno.args.indexOf(name) + 1];
const nc = await connect({ servers: arg("--nats") });
const bucket = arg("--bucket");
const store = await objectStoreFileServer({ connection: nc, bucket });

/** Byte i of every object: the same rule as the Python test's. */
const pattern = (size: number) => Uint8Array.from({ length: size }, (_, i) => (i * 31 + 7) & 0xff);
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function piecesOf(bytes: Uint8Array, sizes: number[]): ReadableStream<Uint8Array> {
  let at = 0;
  let k = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.byteLength) return c.close();
      const n = sizes[k++ % sizes.length];
      c.enqueue(bytes.slice(at, at + n));
      at += n;
    },
  });
}

const input = await new Response(Deno.stdin.readable).text();
for (const line of input.split("\n").filter((l) => l.trim() !== "")) {
  const job = JSON.parse(line);
  try {
    if (arg("--mode") === "write") {
      const bytes = pattern(job.size);
      const r = job.pieces
        ? await store.uploadStream!("", job.label, piecesOf(bytes, job.pieces), { correlationId: job.label })
        : await store.upload("", job.label, bytes, { correlationId: job.label });
      console.log(JSON.stringify({ label: job.label, name: r.fileid, sha256: r.checksum, size: job.size }));
    } else {
      const url = `nats-obj://${bucket}/${encodeURIComponent(job.name)}`;
      const ctx = { dataname: job.label };
      let bytes: Uint8Array;
      if (job.stream) {
        const parts: Uint8Array[] = [];
        for await (const c of (await store.downloadStream!(url, 3, 50, 500, job.label, ctx)) as unknown as AsyncIterable<Uint8Array>) {
          parts.push(c);
        }
        bytes = new Uint8Array(await new Blob(parts as Uint8Array<ArrayBuffer>[]).arrayBuffer());
      } else {
        bytes = await store.download(url, 3, 50, 500, job.label, ctx);
      }
      console.log(JSON.stringify({ label: job.label, sha256: sha(bytes), size: bytes.byteLength }));
    }
  } catch (err) {
    console.log(JSON.stringify({ label: job.label, error: { code: (err as { code?: string }).code, message: (err as Error).message } }));
  }
}
await nc.close();
