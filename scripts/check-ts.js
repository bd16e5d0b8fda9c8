#!/usr/bin/env node
'use strict';
// Type-checks, under `strict`, what users compile against the published package (`npm run
// check:ts`, CI runs it after the build):
//   - every ```ts block of README.md and docs/*.md, each an ES module of its own importing from
//     'nsgroups' as a user's project would (Node's self-reference: the package's own exports);
//   - test/types/published.{mts,cts}: the published .d.mts/.d.ts (stdio-aware streams, typed
//     events, the ESM default export, no internals), where each @ts-expect-error must be an error.
// Needs dist/ (npm run build:ts). Errors are printed as FILE.md:LINE:COL so they point at the doc.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const out = path.join(root, 'build', 'ts-check'); // inside the package: 'nsgroups' resolves to it
if (!fs.existsSync(path.join(root, 'dist', 'index.d.mts'))) {
  console.error('check-ts: no dist/index.d.mts: run `npm run build:ts` first');
  process.exit(2);
}
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });

const docs = [
  'README.md',
  ...fs
    .readdirSync(path.join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const origin = new Map(); // generated file -> { doc, line of the block's first code line }
let blocks = 0;
for (const doc of docs) {
  const lines = fs.readFileSync(path.join(root, doc), 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i])) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++;
    const name = `${doc.replace(/[/.]/g, '_')}_${start + 1}.mts`;
    // `export {}`: a block is a module even without an import (top-level await)
    fs.writeFileSync(path.join(out, name), lines.slice(start, end).join('\n') + '\nexport {};\n');
    origin.set(name, { doc, line: start + 1 });
    blocks++;
    i = end;
  }
}
for (const f of ['published.mts', 'published.cts']) fs.copyFileSync(path.join(root, 'test', 'types', f), path.join(out, f));

fs.writeFileSync(
  path.join(out, 'tsconfig.json'),
  JSON.stringify(
    {
      compilerOptions: {
        strict: true,
        target: 'ES2022',
        lib: ['ES2023', 'esnext.disposable'],
        module: 'node16',
        moduleResolution: 'node16',
        types: ['node'],
        typeRoots: [path.join(root, 'node_modules', '@types')],
        noEmit: true,
        skipLibCheck: false, // the published .d.ts itself must compile (nothing stripped is still referenced)
        noUnusedLocals: false,
      },
      include: ['*.mts', '*.cts'],
    },
    null,
    2,
  ),
);
const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
const r = spawnSync(process.execPath, [tsc, '-p', out, '--pretty', 'false'], { cwd: out, encoding: 'utf8' });
const report = (r.stdout + r.stderr)
  .split('\n')
  .filter(Boolean)
  .map((l) => {
    const m = l.match(/^([^(]+)\((\d+),(\d+)\): (.*)$/);
    if (!m) return l;
    const o = origin.get(m[1]);
    if (o) return `${o.doc}:${o.line + Number(m[2]) - 1}:${m[3]}: ${m[4]}`;
    if (m[1].startsWith('published.')) return `test/types/${m[1]}:${m[2]}:${m[3]}: ${m[4]}`;
    return `${path.relative(root, path.resolve(out, m[1]))}:${m[2]}:${m[3]}: ${m[4]}`;
  });
for (const l of report) console.log(l);
const errors = report.filter((l) => / error TS\d+/.test(l)).length;
console.log(`check-ts: ${blocks} code blocks from ${docs.length} docs and 2 type tests: ${r.status === 0 ? 'ok' : `${errors} errors`}`);
process.exit(r.status === 0 ? 0 : 1);
