#!/usr/bin/env node
'use strict';
// bench/spawn.js — the cost of a sandboxed `true` from Node, next to child_process in the same
// process. Interleaved blocks (so that machine noise hits both sides alike); per-spawn latency;
// medians, p90 and p99, and the ratio of medians. A benchmark, not a test: run it on a quiet machine.
//
//   node bench/spawn.js [N=1000] [--all]
//
// Rows (each N spawns of /bin/true, one after the other):
//   nsgroups run           run('true') with new user, pid, mount, uts, ipc and net namespaces
//   child_process          child_process.spawnSync('true') (no isolation)
// with --all, also: nsgroups spawn (stdio ignored, same namespaces), nsgroups without net,
// nsgroups without namespaces, and child_process.spawn (async).
// with --privileges, instead: the same sandbox with its least-privilege defaults (the default),
// without the seccomp filter, and with every default relaxed (capabilities: 'all', seccomp:
// 'none', no masked or read-only paths, the caller's keyring), next to child_process.
const { spawnSync, spawn: cpSpawn } = require('node:child_process');
const { run, spawn } = require('../dist/index.cjs');

const N = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 1000);
const ALL = process.argv.includes('--all');
const PRIVILEGES = process.argv.includes('--privileges');
const BLOCK = 50;
const FULL = ['user', 'pid', 'mount', 'uts', 'ipc', 'net'];

const RELAXED = { capabilities: 'all', seccomp: 'none', maskedPaths: [], readonlyPaths: [], keyring: 'inherit', rlimits: { core: 'unlimited' } };
const variants = PRIVILEGES
  ? [
      { name: 'nsgroups spawn, the defaults (least privilege)', once: () => spawn('true', [], { namespaces: FULL, stdio: 'ignore' }).exited },
      { name: 'child_process.spawnSync (no isolation)', once: () => spawnSync('true') },
      { name: "nsgroups spawn, seccomp: 'none'", once: () => spawn('true', [], { namespaces: FULL, stdio: 'ignore', seccomp: 'none' }).exited },
      { name: 'nsgroups spawn, every default relaxed', once: () => spawn('true', [], { namespaces: FULL, stdio: 'ignore', ...RELAXED }).exited },
    ]
  : [
      { name: 'nsgroups run (user,pid,mount,uts,ipc,net)', once: () => run('true', [], { namespaces: FULL }) },
      { name: 'child_process.spawnSync (no isolation)', once: () => spawnSync('true') },
    ];
if (ALL && !PRIVILEGES) {
  variants.push(
    { name: 'nsgroups spawn, stdio ignored (same namespaces)', once: () => spawn('true', [], { namespaces: FULL, stdio: 'ignore' }).exited },
    { name: 'nsgroups spawn, no net namespace', once: () => spawn('true', [], { namespaces: ['user', 'pid', 'mount', 'uts', 'ipc'], stdio: 'ignore' }).exited },
    { name: 'nsgroups spawn, no namespaces', once: () => spawn('true', [], { stdio: 'ignore' }).exited },
    { name: 'child_process.spawn (async, no isolation)', once: () => new Promise((r) => cpSpawn('true', { stdio: 'ignore' }).once('exit', r)) },
  );
}

async function time(fn) {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e3; // µs
}

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.round(p * (sorted.length - 1)))];
}

(async () => {
  for (const v of variants) for (let i = 0; i < 50; i++) await v.once(); // warm up
  const samples = variants.map(() => []);
  for (let done = 0; done < N; done += BLOCK) {
    for (const [i, v] of variants.entries()) {
      for (let k = 0; k < Math.min(BLOCK, N - done); k++) samples[i].push(await time(v.once));
    }
  }
  const rows = samples.map((s, i) => {
    const sorted = s.slice().sort((a, b) => a - b);
    return { name: variants[i].name, n: s.length, median: pct(sorted, 0.5), p90: pct(sorted, 0.9), p99: pct(sorted, 0.99) };
  });
  const base = rows[1];
  console.log(`node ${process.version}, ${require('node:os').release()}, ${N} spawns per row in blocks of ${BLOCK}, interleaved; µs`);
  console.log(`${'variant'.padEnd(50)} ${'median'.padStart(8)} ${'p90'.padStart(8)} ${'p99'.padStart(8)}   ratio (median / child_process median)`);
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(50)} ${r.median.toFixed(0).padStart(8)} ${r.p90.toFixed(0).padStart(8)} ${r.p99.toFixed(0).padStart(8)}   ${(r.median / base.median).toFixed(2)}`,
    );
  }
})();
