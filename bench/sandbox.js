#!/usr/bin/env node
'use strict';
// bench/sandbox.js — what a Sandbox costs, and that the workspace's size does not enter into it
// (the overlay copies nothing): Sandbox.create() + dispose() over a workspace of 10,000 files
// next to the same over an empty workspace, and next to no workspace; interleaved blocks, each
// sample one create+dispose (and, separately, the create alone), medians, p90, p99, the
// difference and ratio of medians against the empty workspace. A fourth row takes its sandboxes
// from a pool of 2 (Sandbox.pool) over the empty workspace: each create is a hand-over, and the
// pool makes the next one while this one is disposed of (no wait for it: what a test loop sees).
//
//   node bench/sandbox.js [N=200] [FILES=10000]   (as root: with a cgroup; rootless: without)
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Sandbox } = require('../dist/index.cjs');

const N = Number(process.argv[2] ?? 200);
const FILES = Number(process.argv[3] ?? 10000);
const BLOCK = 20;
const root = process.geteuid() === 0;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-bench-sandbox-'));
fs.chmodSync(dir, 0o755);
const big = path.join(dir, 'big');
const empty = path.join(dir, 'empty');
fs.mkdirSync(empty);
// 10,000 files in 100 directories of 100, a little content each
for (let d = 0; d < Math.ceil(FILES / 100); d++) {
  const sub = path.join(big, `d${d}`);
  fs.mkdirSync(sub, { recursive: true });
  for (let f = 0; f < 100 && d * 100 + f < FILES; f++) fs.writeFileSync(path.join(sub, `f${f}.txt`), `file ${d}/${f}\n`);
}

const variants = [
  { name: `workspace of ${FILES} files`, options: { workspace: big } },
  { name: 'empty workspace', options: { workspace: empty } },
  { name: 'no workspace', options: {} },
  { name: 'empty workspace, pool of 2', options: { workspace: empty }, pool: true },
];
for (const v of variants) if (v.pool) v.pool = Sandbox.pool({ ...v.options, size: 2 });

async function once(options, pool) {
  const t0 = process.hrtime.bigint();
  const sb = pool ? await pool.create() : await Sandbox.create(options);
  const t1 = process.hrtime.bigint();
  await sb.dispose();
  const t2 = process.hrtime.bigint();
  return { create: Number(t1 - t0) / 1e6, total: Number(t2 - t0) / 1e6 };
}
const pct = (s, p) => s[Math.min(s.length - 1, Math.round(p * (s.length - 1)))];
const sorted = (a) => a.slice().sort((x, y) => x - y);

(async () => {
  try {
    for (const v of variants) for (let i = 0; i < 10; i++) await once(v.options, v.pool);
    const samples = variants.map(() => ({ create: [], total: [] }));
    for (let done = 0; done < N; done += BLOCK) {
      for (const [i, v] of variants.entries()) {
        for (let k = 0; k < Math.min(BLOCK, N - done); k++) {
          const s = await once(v.options, v.pool);
          samples[i].create.push(s.create);
          samples[i].total.push(s.total);
        }
      }
    }
    const probe = await Sandbox.create({ workspace: empty });
    const cgroup = probe.cgroup !== null;
    await probe.dispose();
    console.log(
      `node ${process.version}, ${os.release()}, ${root ? 'root' : 'rootless'} (${cgroup ? 'with' : 'without'} a cgroup), ` +
        `${os.cpus().length} CPUs, ${N} sandboxes per row in interleaved blocks of ${BLOCK}; ms`,
    );
    for (const what of ['total', 'create']) {
      console.log(`\n${what === 'total' ? 'create + dispose' : 'create alone'}`);
      console.log(`${'variant'.padEnd(28)} ${'median'.padStart(8)} ${'p90'.padStart(8)} ${'p99'.padStart(8)}   vs empty workspace`);
      const base = pct(sorted(samples[1][what]), 0.5);
      for (const [i, v] of variants.entries()) {
        const s = sorted(samples[i][what]);
        const m = pct(s, 0.5);
        const diff = m - base;
        console.log(
          `${v.name.padEnd(28)} ${m.toFixed(2).padStart(8)} ${pct(s, 0.9).toFixed(2).padStart(8)} ${pct(s, 0.99).toFixed(2).padStart(8)}   ` +
            `${diff >= 0 ? '+' : ''}${diff.toFixed(2)} ms (${(m / base).toFixed(2)}x)`,
        );
      }
    }
  } finally {
    for (const v of variants) if (v.pool) await v.pool.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
})();
