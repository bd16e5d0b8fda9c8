import { defineConfig } from 'tsup';

// One implementation, CommonJS, so that NsgroupsError and the native handle are a single class
// and a single module instance for both `require` and `import`; scripts/write-esm-wrapper.js then
// writes dist/index.mjs (and one per subpath), a thin ESM face that re-exports the CommonJS build.
// Splitting: the library, the CLI and the test-runner integrations share chunks (dist/chunk-*.cjs)
// instead of each carrying a copy of the library (and a second NsgroupsError class). No source
// maps in the package: they were half of the tarball, and the CommonJS output is readable as it is.
// The integrations' subpaths (package.json "exports"): 'nsgroups/node-test', 'nsgroups/jest',
// 'nsgroups/jest-environment', 'nsgroups/vitest'; jest-environment-node is the user's (a peer).
const harness = {
  'node-test': 'lib/harness/node-test.ts',
  jest: 'lib/harness/jest.ts',
  'jest-environment': 'lib/harness/jest-environment.ts',
  vitest: 'lib/harness/vitest.ts',
};

export default defineConfig({
  entry: { index: 'lib/index.ts', cli: 'lib/cli/main.ts', ...harness },
  format: ['cjs'],
  outExtension: () => ({ js: '.cjs' }),
  target: 'node20',
  platform: 'node',
  // stripInternal: members and declarations marked @internal stay out of the published types
  dts: { entry: { index: 'lib/index.ts', ...harness }, compilerOptions: { stripInternal: true } },
  external: ['jest-environment-node'],
  sourcemap: false,
  clean: true,
  splitting: true,
  shims: false,
});
