#!/usr/bin/env node
'use strict';
// bench/rootfs.js — the cost of an overlay root: a sandbox running `true` on an overlay of a
// busybox layer (mounted inside the sandbox: overlay, /proc, /dev, /tmp, pivot_root), next to
// the same sandbox without a rootfs running the same static busybox `true`; interleaved blocks,
// per-spawn latency, medians, p90, p99 and the ratio of medians.
//
//   node bench/rootfs.js [N=500]        (as root, or rootless: the sandbox then adds a user namespace)
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, OverlayMount } = require('../dist/index.cjs');

const N = Number(process.argv[2] ?? 500);
const BLOCK = 50;
const root = process.geteuid() === 0;
const NS = [...(root ? [] : ['user']), 'pid', 'mount', 'uts', 'ipc', 'net'];

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-bench-rootfs-'));
fs.chmodSync(dir, 0o755);
const lower = path.join(dir, 'busybox');
for (const d of ['bin', 'proc', 'dev', 'tmp']) fs.mkdirSync(path.join(lower, d), { recursive: true });
fs.copyFileSync('/bin/busybox', path.join(lower, 'bin/busybox'));
fs.chmodSync(path.join(lower, 'bin/busybox'), 0o755);
for (const a of ['sh', 'true']) fs.symlinkSync('busybox', path.join(lower, 'bin', a));
for (const d of ['upper', 'work', 'merged']) fs.mkdirSync(path.join(dir, d));
const ov = new OverlayMount({ lower: [lower], upper: path.join(dir, 'upper'), work: path.join(dir, 'work'), target: path.join(dir, 'merged') });
const env = { PATH: '/bin' };

const variants = [
  { name: `no rootfs (${NS.join(',')})`, once: () => spawn(path.join(lower, 'bin/true'), [], { namespaces: NS, env, stdio: 'ignore' }).exited },
  { name: 'overlay rootfs (busybox layer), same namespaces', once: () => spawn('/bin/true', [], { namespaces: NS, rootfs: ov, env, stdio: 'ignore' }).exited },
  { name: 'directory rootfs (the busybox layer)', once: () => spawn('/bin/true', [], { namespaces: NS, rootfs: lower, env, stdio: 'ignore' }).exited },
];

async function time(fn) {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  if (r.code !== 0) throw new Error(`true failed: ${JSON.stringify(r)}`);
  return Number(process.hrtime.bigint() - t0) / 1e3;
}
const pct = (s, p) => s[Math.min(s.length - 1, Math.round(p * (s.length - 1)))];

(async () => {
  try {
    for (const v of variants) for (let i = 0; i < 20; i++) await time(v.once);
    const samples = variants.map(() => []);
    for (let done = 0; done < N; done += BLOCK) {
      for (const [i, v] of variants.entries()) for (let k = 0; k < Math.min(BLOCK, N - done); k++) samples[i].push(await time(v.once));
    }
    console.log(`node ${process.version}, ${os.release()}, ${root ? 'root' : 'rootless'}, ${N} spawns per row in interleaved blocks of ${BLOCK}; µs`);
    console.log(`${'variant'.padEnd(52)} ${'median'.padStart(8)} ${'p90'.padStart(8)} ${'p99'.padStart(8)}   ratio (median / no rootfs)`);
    const base = pct(
      samples[0].slice().sort((a, b) => a - b),
      0.5,
    );
    for (const [i, v] of variants.entries()) {
      const s = samples[i].slice().sort((a, b) => a - b);
      console.log(
        `${v.name.padEnd(52)} ${pct(s, 0.5).toFixed(0).padStart(8)} ${pct(s, 0.9).toFixed(0).padStart(8)} ${pct(s, 0.99).toFixed(0).padStart(8)}   ${(pct(s, 0.5) / base).toFixed(2)}`,
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
})();
