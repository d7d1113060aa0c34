/**
 * `natsbridge --version`: the version in the package's own manifest.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The version of the natsbridge package this command belongs to, read from the
 * nearest `package.json` (or `deno.json`) above this module that names it.
 *
 * @returns The version, or `"unknown"` (e.g. when run from a remote URL).
 */
export async function packageVersion(): Promise<string> {
  if (!import.meta.url.startsWith("file:")) return "unknown";
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    for (
      const [file, name] of [["package.json", "natsbridge"], [
        "deno.json",
        "@natsbridge/natsbridge",
      ]]
    ) {
      try {
        const manifest = JSON.parse(await readFile(join(dir, file), "utf8"));
        if (manifest.name === name && typeof manifest.version === "string") return manifest.version;
      } catch { /* not here */ }
    }
    const up = dirname(dir);
    if (up === dir) return "unknown";
    dir = up;
  }
}
