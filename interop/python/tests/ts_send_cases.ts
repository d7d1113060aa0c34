/**
 * Rebuilds interop cases from `python -m natsbridge.peer inputs` lines and
 * builds their envelopes with the TypeScript smartsend (`is_publish: false`;
 * link payloads are uploaded to the given Plik server), for
 * interop/python/tests/test_typescript_interop.py.
 *
 * stdin: one `inputs` line per case.
 * stdout: one `{"case": name, "envelope_json": text}` (or `{"case", "error"}`) per line.
 * Usage: deno run -A ts_send_cases.ts --fileserver URL
 */
import { Bool, type DataType, Float64, Int64, Table, Timestamp, TimeUnit, Utf8, vectorFromArray } from "apache-arrow";
import { smartsend } from "../../../mod.ts";

const fileserver = Deno.args[Deno.args.indexOf("--fileserver") + 1];
const UNITS: Record<string, TimeUnit> = {
  s: TimeUnit.SECOND,
  ms: TimeUnit.MILLISECOND,
  us: TimeUnit.MICROSECOND,
  ns: TimeUnit.NANOSECOND,
};

/** The Arrow type a canonical type name stands for (the subset the cases use). */
function arrowType(name: string): DataType {
  if (name === "int64") return new Int64();
  if (name === "float64") return new Float64();
  if (name === "utf8") return new Utf8();
  if (name === "bool") return new Bool();
  const ts = /^timestamp\[(s|ms|us|ns)(?:, (.+))?\]$/.exec(name);
  if (ts) return new Timestamp(UNITS[ts[1]], ts[2] ?? null);
  throw new Error(`no Arrow type for canonical name ${name}`);
}

function tableOf(t: { columns: string[]; types: string[]; rows: unknown[][] }): Table {
  const columns: Record<string, ReturnType<typeof vectorFromArray>> = {};
  t.columns.forEach((col, c) => {
    const type = arrowType(t.types[c]);
    const values = t.rows.map((row) => {
      const v = row[c];
      if (v === null) return null;
      return type instanceof Int64 ? BigInt(v as number | string) : v;
    });
    columns[col] = vectorFromArray(values, type);
  });
  return new Table(columns);
}

function fromBase64(s: string): Uint8Array {
  return Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));
}

const input = await new Response(Deno.stdin.readable).text();
for (const line of input.split("\n").filter((l) => l.trim() !== "")) {
  const { case: name, items } = JSON.parse(line);
  try {
    // deno-lint-ignore no-explicit-any
    const sendItems = items.map((it: any) => {
      const value = "text" in it ? it.text : "json" in it ? it.json : "table" in it ? tableOf(it.table) : fromBase64(it.base64);
      return [it.dataname, value, it.payload_type];
    });
    const [, json] = await smartsend(`interop.${name}`, sendItems, {
      is_publish: false,
      fileserver_url: fileserver,
      broker_url: "nats://127.0.0.1:4222",
      sender_name: "natsbridge-ts-test",
    });
    console.log(JSON.stringify({ case: name, envelope_json: json }));
  } catch (err) {
    const e = err as { code?: string; message: string };
    console.log(JSON.stringify({ case: name, error: { code: e.code ?? "", message: e.message } }));
  }
}
