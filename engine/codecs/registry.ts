/**
 * Payload codecs by payload type: one place that says how each type becomes
 * bytes and back. The send and receive paths only ever ask this registry.
 *
 * @module
 */
import type { PayloadType } from "../types.ts";
import { deserializeArrowTable, serializeArrowTable } from "./arrow_table.ts";
import type { DecompressionAllowance } from "./arrow_compression.ts";
import { serializeBytes } from "./bytes.ts";
import {
  deserializeDictionary,
  deserializeJsonTable,
  serializeDictionary,
  serializeJsonTable,
} from "./json.ts";
import { deserializeText, serializeText } from "./text.ts";

/** How one payload type becomes bytes and back. */
export interface PayloadCodec {
  /** Application value → serialized bytes. Throws `InputError` on a value of the wrong shape. */
  serialize(data: unknown): Uint8Array;
  /**
   * Serialized bytes → application value. Throws `DecodeError` on corrupt
   * bytes. `allowance` is shared by the payloads of one message (Arrow's
   * decompression cap); other types ignore it.
   */
  deserialize(bytes: Uint8Array, allowance?: DecompressionAllowance): unknown;
}

const bytesCodec = (type: PayloadType): PayloadCodec => ({
  serialize: (data) => serializeBytes(data, type),
  deserialize: (bytes) => bytes,
});

const CODECS: Readonly<Record<PayloadType, PayloadCodec>> = Object.freeze({
  text: { serialize: serializeText, deserialize: deserializeText },
  dictionary: { serialize: serializeDictionary, deserialize: deserializeDictionary },
  jsontable: { serialize: serializeJsonTable, deserialize: deserializeJsonTable },
  arrowtable: { serialize: serializeArrowTable, deserialize: deserializeArrowTable },
  image: bytesCodec("image"),
  audio: bytesCodec("audio"),
  video: bytesCodec("video"),
  binary: bytesCodec("binary"),
});

/** Older Python peers call `arrowtable` `table`. */
const ALIASES: Readonly<Record<string, PayloadType>> = Object.freeze({ table: "arrowtable" });

/**
 * The canonical payload type for a wire name, or `undefined` when unknown.
 *
 * @param name `payload_type` as received.
 * @returns The {@link PayloadType}, with legacy aliases resolved.
 *
 * @example
 * ```ts
 * import { resolvePayloadType } from "./registry.ts";
 * console.log(resolvePayloadType("table")); // "arrowtable"
 * console.log(resolvePayloadType("pdf")); // undefined
 * ```
 */
export function resolvePayloadType(name: string): PayloadType | undefined {
  if (Object.hasOwn(CODECS, name)) return name as PayloadType;
  return Object.hasOwn(ALIASES, name) ? ALIASES[name] : undefined;
}

/**
 * The codec of a payload type.
 *
 * @param type A canonical payload type.
 * @returns Its {@link PayloadCodec}.
 *
 * @example
 * ```ts
 * import { codecFor } from "./registry.ts";
 * const bytes = codecFor("text").serialize("hi");
 * console.log(codecFor("text").deserialize(bytes)); // "hi"
 * ```
 */
export function codecFor(type: PayloadType): PayloadCodec {
  return CODECS[type];
}

/** Payload types whose direct data may arrive as JSON text (`encoding: "json"`). */
export const JSON_TYPES: ReadonlySet<PayloadType> = new Set(["dictionary", "jsontable"]);
