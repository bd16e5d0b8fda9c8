#!/usr/bin/env node
'use strict';
// bench/run-usage.js — what per-run usage and judge limits cost run(): a sandboxed `true`, with
// and without limits, with and without a cgroup, side by side in one process. Interleaved blocks
// (machine noise hits every row alike); per-run latency; medians, p90, p99, and each row's median
// against the first row's. A benchmark, not a test: run it on a quiet machine, as root (the
// cgroup rows need a cgroup of their own; without one they are left out).
//
//   node bench/run-usage.js [N=500]
//
// The rusage part of usage costs no system call (waitid's fifth argument, filled by the reaping
// call there is anyway), so every row has it; "off" for it does not exist. What can be switched:
//   limits      cpuTime + extraTime (RLIMIT_CPU in the child, a CPU watch in the parent),
//               timeout + killAfter (timers), maxBuffer (counting)
//   cgroup      born in a cgroup: its counters read before and after, the memory peak reset;
//               the last row is that collection alone, without a spawn
const { run, Cgroup } = require('../dist/index.cjs');

const N = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 500);
const BLOCK = 25;
const SANDBOX = { namespaces: ['user', 'pid', 'mount', 'uts', 'ipc', 'net'] };
const LIMITS = { cpuTime: 5, extraTime: 1, timeout: 10000, killAfter: 1000, maxBuffer: 1 << 20 };

async function time(fn) {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e3; // µs
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.round(p * (sorted.length - 1)))];

(async () => {
  let cg = null;
  try {
    cg = await Cgroup.create(`bench-usage-${process.pid}`, { memory: { max: '256M' }, pids: { max: 64 } });
  } catch (err) {
    console.error(`(no cgroup rows: ${err.message.split('\n')[0]})`);
  }
  const variants = [
    { name: 'run, usage (rusage), no limits', once: () => run('true', [], SANDBOX) },
    { name: 'run, usage, limits on', once: () => run('true', [], { ...SANDBOX, ...LIMITS }) },
  ];
  if (cg) {
    variants.push(
      { name: 'run in a cgroup, usage.cgroup, no limits', once: () => run('true', [], { ...SANDBOX, cgroup: cg }) },
      { name: 'run in a cgroup, usage.cgroup, limits on', once: () => run('true', [], { ...SANDBOX, ...LIMITS, cgroup: cg }) },
      {
        // what the cgroup figures add: the counters twice, the peak reset and read (CgroupMeter)
        name: 'usage.cgroup collection alone (no spawn)',
        once: async () => {
          const start = cg._runCounters();
          const peak = cg._startPeak();
          const end = cg._runCounters();
          peak.read();
          peak.close();
          return [start, end];
        },
      },
    );
  }
  try {
    for (const v of variants) for (let i = 0; i < 20; i++) await v.once(); // warm up
    const samples = variants.map(() => []);
    for (let done = 0; done < N; done += BLOCK) {
      for (const [i, v] of variants.entries()) {
        for (let k = 0; k < Math.min(BLOCK, N - done); k++) samples[i].push(await time(v.once));
      }
    }
    const rows = samples.map((s, i) => {
      const sorted = s.slice().sort((a, b) => a - b);
      return { name: variants[i].name, median: pct(sorted, 0.5), p90: pct(sorted, 0.9), p99: pct(sorted, 0.99) };
    });
    const base = rows[0].median;
    console.log(`node ${process.version}, ${require('node:os').release()}, ${N} runs per row in blocks of ${BLOCK}, interleaved; µs`);
    console.log(`${'variant'.padEnd(46)} ${'median'.padStart(8)} ${'p90'.padStart(8)} ${'p99'.padStart(8)}   ratio (median / first row's)`);
    for (const r of rows) {
      console.log(
        `${r.name.padEnd(46)} ${r.median.toFixed(0).padStart(8)} ${r.p90.toFixed(0).padStart(8)} ${r.p99.toFixed(0).padStart(8)}   ${(r.median / base).toFixed(3)}`,
      );
    }
  } finally {
    await cg?.delete({ kill: true });
  }
})();
