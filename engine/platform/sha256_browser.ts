/**
 * SHA-256 for the browser build: the same exports as `sha256.ts`, on hash-wasm
 * (no `node:crypto` in browsers; WebCrypto's `digest` is async, has no
 * incremental API and pays a large per-call cost on small inputs).
 *
 * hash-wasm's `createSHA256()` is async (it instantiates WebAssembly), so this
 * module awaits one instance at load time and then hashes synchronously:
 * one-shot hashes run `init/update/digest` on it; incremental hashers keep
 * their own state and swap it in and out with `load`/`save` around each
 * update, so any number of them can be open at once on the one instance
 * (JavaScript is single-threaded, so no call interleaves with another).
 *
 * @module
 */
import { createSHA256, type IHasher } from "hash-wasm";

/** An incremental SHA-256: feed chunks, then take the hex digest once. */
export interface Sha256Hasher {
  /** Adds bytes. */
  update(chunk: Uint8Array): void;
  /** Lowercase hex digest; the hasher is spent afterwards. */
  digestHex(): string;
}

const wasm: IHasher = await createSHA256();
wasm.init();
/** State of a freshly initialised hasher: the starting point of every incremental one. */
const INITIAL_STATE: Uint8Array = wasm.save();

/**
 * Lowercase hex SHA-256 of `bytes`.
 *
 * @param bytes Input.
 * @returns 64 hex characters.
 *
 * @example
 * ```ts ignore
 * import { sha256Hex } from "./sha256_browser.ts";
 * console.log(sha256Hex(new Uint8Array())); // "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
 * ```
 */
export function sha256Hex(bytes: Uint8Array): string {
  wasm.init();
  wasm.update(bytes);
  return wasm.digest("hex");
}

/**
 * Starts an incremental SHA-256.
 *
 * @returns A {@link Sha256Hasher}.
 *
 * @example
 * ```ts ignore
 * import { createSha256 } from "./sha256_browser.ts";
 * const h = createSha256();
 * h.update(new TextEncoder().encode("a"));
 * h.update(new TextEncoder().encode("bc"));
 * console.log(h.digestHex()); // "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
 * ```
 */
export function createSha256(): Sha256Hasher {
  let state: Uint8Array | undefined = INITIAL_STATE;
  const spent = () => new Error("SHA-256 hasher already finalised");
  return {
    update(chunk) {
      if (!state) throw spent();
      wasm.load(state);
      wasm.update(chunk);
      state = wasm.save();
    },
    digestHex() {
      if (!state) throw spent();
      wasm.load(state);
      state = undefined;
      return wasm.digest("hex");
    },
  };
}
