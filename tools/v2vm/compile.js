#!/usr/bin/env node
'use strict';
// Compiles the TypeScript the v2 lane runs (lib/, test/helpers/, test/v2/) to CommonJS, one .js
// per .ts at the same relative path under OUT, so that lib/native.ts still finds the package root
// one level up (OUT, where build/ and node_modules/ are linked). esbuild only strips types:
// `npx tsc --noEmit` on the host is what type-checks these files.
//   node tools/v2vm/compile.js OUT [TEST_DIR...]    (default test/v2; the systemd lane: test/systemd)
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const out = path.resolve(process.argv[2] || '');
if (!process.argv[2]) throw new Error('usage: node tools/v2vm/compile.js OUT');
const esbuild = require(require.resolve('esbuild', { paths: [root] }));

function sources(dir) {
  const files = [];
  if (!fs.existsSync(path.join(root, dir))) return files;
  for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) files.push(...sources(rel));
    else if (rel.endsWith('.ts') && !rel.endsWith('.d.ts')) files.push(rel);
  }
  return files;
}

const tests = process.argv.length > 3 ? process.argv.slice(3) : ['test/v2'];
const files = ['lib', 'test/helpers', ...tests].flatMap(sources);
esbuild.buildSync({
  entryPoints: files.map((f) => path.join(root, f)),
  outdir: out,
  outbase: root,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  sourcemap: 'inline', // stack traces in the guest point at the .ts lines
  logLevel: 'warning',
});
// what the compiled files reach at run time: the addon, the built library (fixtures run it in
// their own process), dependencies, and the tests' non-TypeScript fixtures
for (const link of ['build', 'dist', 'node_modules', 'package.json', 'test/fixtures']) {
  if (fs.existsSync(path.join(root, link))) fs.symlinkSync(path.join(root, link), path.join(out, link));
}
console.log(`compiled ${files.length} files to ${out}`);
