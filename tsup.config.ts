import { defineConfig } from 'tsup';

// One implementation, CommonJS, so that NsgroupsError and the native handle are a single class
// and a single module instance for both `require` and `import`; scripts/write-esm-wrapper.js then
// writes dist/index.mjs, a thin ESM face that re-exports the CommonJS build.
// Splitting: the library and the CLI share chunks (dist/chunk-*.cjs) instead of the CLI carrying a
// second copy of the library (and a second NsgroupsError class). No source maps in the package:
// they were half of the tarball, and the CommonJS output is readable as it is.
export default defineConfig({
  entry: { index: 'lib/index.ts', cli: 'lib/cli/main.ts' },
  format: ['cjs'],
  outExtension: () => ({ js: '.cjs' }),
  target: 'node20',
  platform: 'node',
  // stripInternal: members and declarations marked @internal stay out of the published types
  dts: { entry: { index: 'lib/index.ts' }, compilerOptions: { stripInternal: true } },
  sourcemap: false,
  clean: true,
  splitting: true,
  shims: false,
});
