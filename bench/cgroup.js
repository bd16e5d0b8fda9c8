#!/usr/bin/env node
'use strict';
// bench/cgroup.js — the cost of one cgroup's life (create, set a memory and a pids limit, delete)
// from Node with nsgroups, next to the same mkdir/write/rmdir done by a shell loop, in one run.
// Interleaved blocks (machine noise hits every row alike); per-cgroup latency; medians, p90, p99
// and the ratio of medians. A benchmark, not a test. Needs root (it creates cgroups under
// /nsgroups-bench-PID in the memory and pids hierarchies, and the cgroup2 tree on a hybrid host,
// and removes them).
//
//   node bench/cgroup.js [N=1000]
//
// Rows (each N cgroups, one after the other):
//   nsgroups create + set + delete   Cgroup.create(name, { controllers: ['memory', 'pids'] }),
//                                    cg.set({ memory: { max: '256M' }, pids: { max: 64 } }), cg.delete()
//   nsgroups create(limits) + delete the same limits given to create()
//   node fs, by hand                 fs.mkdirSync ×dirs, fs.writeFileSync ×2, fs.rmdirSync ×dirs
//   shell loop (bash)                mkdir DIRS; echo > memory.limit_in_bytes; echo > pids.max; rmdir DIRS
//                                    (timed inside bash with $EPOCHREALTIME, so bash's own start is not counted)
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { Cgroup } = require('../dist/index.cjs');

const N = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 1000);
const BLOCK = 50;
const ROOT = `/nsgroups-bench-${process.pid}`;
const LIMIT = String(256 * 1024 * 1024);

if (process.geteuid() !== 0) {
  console.error('bench/cgroup.js creates cgroups at the top of each hierarchy: run it as root');
  process.exit(1);
}

// The directories the library makes for { controllers: ['memory', 'pids'] }: the memory and pids
// hierarchies (v1), or the one cgroup2 directory (v2), plus the cgroup2 one on a hybrid host.
function hierarchies() {
  const out = { memory: null, pids: null, unified: null };
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const m = / - (cgroup2?) \S+ (\S+)$/.exec(line);
    if (!m) continue;
    const mp = line.split(' ')[4];
    if (m[1] === 'cgroup2') out.unified ??= mp;
    else for (const c of ['memory', 'pids']) if (m[2].split(',').includes(c)) out[c] ??= mp;
  }
  return out;
}
const h = hierarchies();
const v2 = !h.memory;
const dirsOf = (name) => (v2 ? [path.join(h.unified, ROOT, name)] : [h.memory, h.pids, h.unified].filter(Boolean).map((mp) => path.join(mp, ROOT, name)));
const memFile = (name) => path.join(v2 ? h.unified : h.memory, ROOT, name, v2 ? 'memory.max' : 'memory.limit_in_bytes');
const pidsFile = (name) => path.join(v2 ? h.unified : h.pids, ROOT, name, 'pids.max');
for (const d of dirsOf('')) fs.mkdirSync(d, { recursive: true });
if (v2) fs.writeFileSync(path.join(h.unified, ROOT, 'cgroup.subtree_control'), '+memory +pids');

let seq = 0;
const opts = { root: ROOT, controllers: ['memory', 'pids'] };
const limits = { memory: { max: '256M' }, pids: { max: 64 } };

const nodeRows = [
  {
    name: 'nsgroups create + set + delete',
    async once() {
      const cg = await Cgroup.create(`n${seq++}`, opts);
      await cg.set(limits);
      await cg.delete();
    },
  },
  {
    name: 'nsgroups create(limits) + delete',
    async once() {
      const cg = await Cgroup.create(`c${seq++}`, { ...opts, ...limits });
      await cg.delete();
    },
  },
  {
    name: 'node fs by hand (mkdirSync/writeFileSync/rmdirSync)',
    async once() {
      const name = `f${seq++}`;
      const dirs = dirsOf(name);
      for (const d of dirs) fs.mkdirSync(d);
      fs.writeFileSync(memFile(name), LIMIT);
      fs.writeFileSync(pidsFile(name), '64');
      for (const d of dirs) fs.rmdirSync(d);
    },
  },
];

// One bash per block; it prints one duration (µs) per cgroup.
function shellBlock(count) {
  const name = '$x';
  const script = [
    `for i in $(seq ${count}); do`,
    `  x=s${process.pid}-$i`,
    `  t0=\${EPOCHREALTIME/./}`,
    `  mkdir ${dirsOf(name).join(' ')}`,
    `  echo ${LIMIT} > ${memFile(name)}`,
    `  echo 64 > ${pidsFile(name)}`,
    `  rmdir ${dirsOf(name).join(' ')}`,
    `  t1=\${EPOCHREALTIME/./}`,
    '  echo $((t1 - t0))',
    'done',
  ].join('\n');
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`shell loop failed: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).map(Number);
}

async function time(fn) {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e3; // µs
}

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.round(p * (sorted.length - 1)))];
}

function cleanup() {
  for (const d of dirsOf('')) {
    try {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) fs.rmdirSync(path.join(d, e.name));
      fs.rmdirSync(d);
    } catch {
      /* already gone */
    }
  }
  // the library's own base under ROOT is ROOT itself (root option): nothing else was made
}

(async () => {
  try {
    for (const row of nodeRows) for (let i = 0; i < 20; i++) await row.once(); // warm up
    shellBlock(10);
    const samples = [...nodeRows.map(() => []), []];
    for (let done = 0; done < N; done += BLOCK) {
      const count = Math.min(BLOCK, N - done);
      for (const [i, row] of nodeRows.entries()) for (let k = 0; k < count; k++) samples[i].push(await time(() => row.once()));
      samples[nodeRows.length].push(...shellBlock(count));
    }
    const names = [...nodeRows.map((r) => r.name), 'shell loop (bash: mkdir, echo >, rmdir)'];
    const rows = samples.map((s, i) => {
      const sorted = s.slice().sort((a, b) => a - b);
      return { name: names[i], n: s.length, median: pct(sorted, 0.5), p90: pct(sorted, 0.9), p99: pct(sorted, 0.99) };
    });
    const shell = rows[rows.length - 1];
    const where = v2 ? 'cgroup v2' : `v1 memory + pids${h.unified ? ' + the cgroup2 tracking directory' : ''}`;
    console.log(`node ${process.version}, ${require('node:os').release()}, ${where}; ${N} cgroups per row in blocks of ${BLOCK}, interleaved; µs per cgroup`);
    console.log(`${'variant'.padEnd(52)} ${'median'.padStart(8)} ${'p90'.padStart(8)} ${'p99'.padStart(8)}   ratio (median / shell median)`);
    for (const r of rows) {
      console.log(
        `${r.name.padEnd(52)} ${r.median.toFixed(1).padStart(8)} ${r.p90.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)}   ${(r.median / shell.median).toFixed(3)}`,
      );
    }
  } finally {
    cleanup();
  }
})().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
