import { defineConfig } from 'tsup';

// One implementation, CommonJS, so that NsgroupsError and the native handle are a single class
// and a single module instance for both `require` and `import`; scripts/write-esm-wrapper.js then
// writes dist/index.mjs, a thin ESM face that re-exports the CommonJS build.
export default defineConfig({
  entry: { index: 'lib/index.ts', cli: 'lib/cli/main.ts' },
  format: ['cjs'],
  outExtension: () => ({ js: '.cjs' }),
  target: 'node20',
  platform: 'node',
  dts: { entry: { index: 'lib/index.ts' } },
  sourcemap: true,
  clean: true,
  splitting: false,
  shims: false,
});
