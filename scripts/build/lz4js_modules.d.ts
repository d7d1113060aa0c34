// tsc (the lib/ build) cannot read Deno's `@ts-types` directive, so it learns the
// shapes of the untyped lz4js modules here, from the same declarations.
declare module "lz4js" {
  const lz4js: import("../../engine/codecs/lz4js.d.ts").Lz4js;
  export default lz4js;
}
declare module "lz4js/xxh32.js" {
  const xxh32: import("../../engine/codecs/lz4js.d.ts").Lz4jsXxh32;
  export default xxh32;
}
