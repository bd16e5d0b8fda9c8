#!/usr/bin/env node
'use strict';
// bench/full-job.js — the full sandbox job, side by side in one run (a benchmark, not a test):
//
//   full job      user+pid+mount+uts+ipc+net+cgroup namespaces, a fresh cgroup with memory and
//                 pids limits, an overlay root (busybox lower, a throw-away upper), pivot_root,
//                 exec true, reap, cgroup delete — through the public API
//   C baseline    the same job by bench/fulljob.c: the same system calls, in C, no Node
//   same isolation  user+pid+mount+uts+ipc+net, a read-only directory root, no cgroup, no overlay
//                 (and its C baseline: fulljob.c --same-isolation)
//   Node -> bwrap   the same isolation by spawning bubblewrap from Node (child_process)
//   child_process   child_process.spawn('true'), no isolation
//
// Interleaved blocks, so that machine noise hits every row alike; medians and p99; ratios.
// Root only (the job makes cgroups). Usage:
//   node bench/full-job.js [N=300] [--heap MB] [--inflight 1,2,8] [--loop-delay N] [--heap-compare]
//     --heap MB        touch MB of ballast on the heap first (what a big app has)
//     --inflight LIST  jobs/s of the full job with that many in flight, one row each; and of the
//                      C baseline with that many of its processes at once (the kernel's scaling)
//     --loop-delay N   event-loop delay (p50/p99/max, 1 ms resolution) while N full jobs start at
//                      once, and while N start one per turn of the loop; then the host's floor: the
//                      same loop idle while the C baseline starts N jobs at once elsewhere. Each
//                      with a 1 ms timer's lateness split into the loop's own run time and its
//                      wait for a CPU (/proc/thread-self/schedstat)
//     --heap-compare   the full job in two fresh processes, a small heap and 512 MiB: the ratio
//     --no-pool        leave out the warm pool's rows (createPool; left out where the library has none)
//     --lib DIR        nsgroups from another build for the rows of nsgroups (with --only-full: bench/steps.sh)
//     --steps          where the time goes: the job built up one step at a time (interleaved rows,
//                      each step's cost the difference of two medians), with --before DIR beside
//     --before DIR     also the rows of another build of nsgroups (a checkout with dist/ and the addon
//                      built, e.g. a git worktree of an older commit): before and after in one run
//   The pooled full job: the same sandbox made ahead of time by createPool (size 4), each with a
//   cgroup of its own; timed from pool.run() to its result, with a sandbox ready (the pool is
//   given the time to refill between runs, outside the timing: a latency, not a throughput).
const { execFileSync, spawn: cpSpawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const argv0 = process.argv.slice(2);
// --lib DIR: the rows of nsgroups from another build (bench/steps.sh profiles one build at a time)
const libAt = argv0.includes('--lib') ? path.resolve(argv0[argv0.indexOf('--lib') + 1]) : path.join(__dirname, '..');
const lib = require(path.join(libAt, 'dist/index.cjs'));
const { createPool } = lib;

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const value = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : fallback;
};
const N = Number(argv.find((a) => /^\d+$/.test(a) && !argv[argv.indexOf(a) - 1]?.startsWith('--')) ?? 300);
const BLOCK = 25;
const NS = ['user', 'pid', 'mount', 'uts', 'ipc', 'net', 'cgroup'];
const ISOLATION = ['user', 'pid', 'mount', 'uts', 'ipc', 'net'];

if (process.geteuid() !== 0) {
  console.error('bench/full-job.js: run it as root (the job makes cgroups)');
  process.exit(2);
}

// --- the scratch: a busybox lower layer, the C baseline, bwrap ----------------------------------
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-fulljob-'));
fs.chmodSync(scratch, 0o755);
process.on('exit', () => fs.rmSync(scratch, { recursive: true, force: true }));
const lower = path.join(scratch, 'lower');
for (const d of ['bin', 'proc', 'dev', 'tmp', 'sys', 'etc']) fs.mkdirSync(path.join(lower, d), { recursive: true });
fs.copyFileSync('/bin/busybox', path.join(lower, 'bin/busybox'));
fs.chmodSync(path.join(lower, 'bin/busybox'), 0o755);
fs.symlinkSync('busybox', path.join(lower, 'bin/true'));
fs.chmodSync(lower, 0o755);

const root = path.join(__dirname, '..');
// the C baseline and what it needs, built for the side-by-side rows only (not for --only-full,
// which bench/steps.sh profiles: a compiler's system calls are no part of a job)
const cBin = path.join(scratch, 'fulljob');
const initBin = path.join(scratch, 'nsgroups-init');
const filterFile = path.join(scratch, 'filter.bpf');
const cTarget = path.join(scratch, 'c-target');
function buildC() {
  if (fs.existsSync(cTarget)) return; // built already
  execFileSync('cc', ['-O2', '-Wall', '-o', cBin, path.join(__dirname, 'fulljob.c')]);
  execFileSync('cc', [
    '-Os',
    '-static',
    '-nostdlib',
    '-nostartfiles',
    '-ffreestanding',
    '-fno-builtin',
    '-fno-stack-protector',
    '-fno-pie',
    '-no-pie',
    `-I${root}/src-native`,
    '-o',
    initBin,
    `${root}/src-native/init/start.S`,
    `${root}/src-native/init/init.c`,
  ]);
  fs.writeFileSync(filterFile, lib.seccompFilter('default').filter); // the filter a sandbox gets
  fs.mkdirSync(cTarget);
}
let bwrap = null;
try {
  execFileSync('bwrap', ['--version'], { stdio: 'ignore' });
  bwrap = 'bwrap';
} catch {
  console.warn('bwrap is not installed (apt-get install bubblewrap): the Node -> bwrap row is left out');
}

// --- the jobs ------------------------------------------------------------------------------------
let seq = 0;
/** The full job and the same isolation through one build of the library. */
function jobsOf(build) {
  const { Cgroup, OverlayMount, spawn } = build;
  // a throw-away tmpfs upper (OverlayMount's tmpfs option); before it existed, fresh upper and
  // work directories on the host per job, removed after it
  const target = path.join(scratch, 'target');
  fs.mkdirSync(target, { recursive: true });
  const tmpfsUpper = (() => {
    try {
      new OverlayMount({ lower: [lower], target, tmpfs: true });
      return true;
    } catch {
      return false;
    }
  })();
  async function fullJob() {
    const i = seq++;
    const cg = await Cgroup.create(`nsgroups-fulljob-${process.pid}-${i}`, { memory: { max: '64M' }, pids: { max: 64 } });
    let dirs = null;
    let ov;
    if (tmpfsUpper) {
      ov = new OverlayMount({ lower: [lower], target, tmpfs: true });
    } else {
      dirs = path.join(scratch, `job-${i}`);
      for (const d of ['upper', 'work', 'merged']) fs.mkdirSync(path.join(dirs, d), { recursive: true });
      ov = new OverlayMount({ lower: [lower], upper: `${dirs}/upper`, work: `${dirs}/work`, target: `${dirs}/merged` });
    }
    const p = spawn('/bin/true', [], { namespaces: NS, cgroup: cg, rootfs: ov, stdio: 'ignore', env: { PATH: '/bin' } });
    const exit = await p.exited;
    if (exit.code !== 0) throw new Error(`full job: ${JSON.stringify(exit)}`);
    await cg.delete();
    if (dirs) fs.rmSync(dirs, { recursive: true, force: true });
  }
  async function sameIsolation() {
    const exit = await spawn('/bin/true', [], { namespaces: ISOLATION, rootfs: lower, readonly: true, stdio: 'ignore', env: { PATH: '/bin' } }).exited;
    if (exit.code !== 0) throw new Error(`same isolation: ${JSON.stringify(exit)}`);
  }
  // the job built up a step at a time, for --steps
  const run = async (options) => {
    const exit = await spawn('/bin/true', [], { stdio: 'ignore', env: { PATH: '/bin' }, ...options }).exited;
    if (exit.code !== 0) throw new Error(`step: ${JSON.stringify(exit)}`);
  };
  const inCgroup = async (options) => {
    const cg = await Cgroup.create(`nsgroups-fulljob-${process.pid}-${seq++}`, { memory: { max: '64M' }, pids: { max: 64 } });
    await run({ ...options, cgroup: cg });
    await cg.delete();
  };
  const steps = [
    ['no namespace', () => run({})],
    ['+ user namespace', () => run({ namespaces: ['user'] })],
    ['+ pid (init), mount, uts, ipc', () => run({ namespaces: ['user', 'pid', 'mount', 'uts', 'ipc'] })],
    ['+ net', () => run({ namespaces: ISOLATION })],
    ['+ cgroup ns, a cgroup made and removed', () => inCgroup({ namespaces: NS })],
    ['+ overlay root, pivot_root (the full job)', fullJob],
  ];
  return { fullJob, sameIsolation, tmpfsUpper, steps };
}
const now = jobsOf(lib);
const { fullJob, sameIsolation } = now;
const beforeDir = value('--before', null);
const before = beforeDir ? jobsOf(require(path.resolve(beforeDir, 'dist/index.cjs'))) : null;
const beforeTag = beforeDir ? ` (before: ${path.basename(path.resolve(beforeDir))})` : '';

let pool = null;
async function pooledJob() {
  const r = await pool.run('/bin/true', [], { stdio: 'ignore', env: { PATH: '/bin' } });
  if (r.code !== 0) throw new Error(`pooled job: ${JSON.stringify(r)}`);
}
async function makePool() {
  if (!createPool || flag('--no-pool')) return;
  const rootfs = now.tmpfsUpper ? new lib.OverlayMount({ lower: [lower], target: path.join(scratch, 'target'), tmpfs: true }) : lower;
  pool = await createPool({ size: 4, namespaces: NS, limits: { memory: { max: '64M' }, pids: { max: 64 } }, rootfs, readonly: !now.tmpfsUpper });
}

function nodeBwrap() {
  const args = [
    '--unshare-all',
    '--die-with-parent',
    '--new-session',
    '--ro-bind',
    lower,
    '/',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--tmpfs',
    '/tmp',
    '/bin/true',
  ];
  return new Promise((resolve, reject) =>
    cpSpawn(bwrap, args, { stdio: 'ignore' }).once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`bwrap exit ${code}`)))),
  );
}

function childProcess() {
  return new Promise((resolve) => cpSpawn('true', { stdio: 'ignore' }).once('exit', resolve));
}

/** The C baseline runs `count` jobs in its own process and reports each one's µs. */
function cJobs(count, ...mode) {
  const out = execFileSync(cBin, [String(count), lower, initBin, filterFile, cTarget, ...mode], { encoding: 'utf8' });
  return out.trim().split('\n').map(Number);
}

async function timed(fn) {
  if (fn === pooledJob) await pool.ready(1); // not timed: a sandbox is ready when a run comes
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e3;
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.round(p * (sorted.length - 1)))];
function summary(samples) {
  const s = samples.slice().sort((a, b) => a - b);
  return { n: s.length, median: pct(s, 0.5), p99: pct(s, 0.99) };
}

async function sideBySide() {
  buildC();
  const rows = [
    { name: 'full job (nsgroups)', run: fullJob },
    ...(before ? [{ name: `full job${beforeTag}`, run: before.fullJob }] : []),
    { name: 'full job (C baseline, bench/fulljob.c)', block: cJobs },
    { name: 'same isolation (nsgroups)', run: sameIsolation },
    { name: 'same isolation (C baseline, --same-isolation)', block: (count) => cJobs(count, '--same-isolation') },
    ...(before ? [{ name: `same isolation${beforeTag}`, run: before.sameIsolation }] : []),
    ...(bwrap ? [{ name: 'same isolation (Node -> bwrap)', run: nodeBwrap }] : []),
    { name: "child_process.spawn('true')", run: childProcess },
    ...(pool ? [{ name: 'full job from a warm pool (nsgroups)', run: pooledJob }] : []),
  ];
  for (const r of rows) if (r.run) for (let i = 0; i < 20; i++) await r.run(); // warm up
  cJobs(20);
  cJobs(20, '--same-isolation');
  const samples = rows.map(() => []);
  for (let done = 0; done < N; done += BLOCK) {
    const count = Math.min(BLOCK, N - done);
    for (const [i, r] of rows.entries()) {
      if (r.block) samples[i].push(...r.block(count));
      else for (let k = 0; k < count; k++) samples[i].push(await timed(r.run));
    }
  }
  const s = rows.map((r, i) => ({ name: r.name, ...summary(samples[i]) }));
  const w = Math.max(44, ...s.map((r) => r.name.length));
  console.log(`${'row'.padEnd(w)} ${'median µs'.padStart(10)} ${'p99 µs'.padStart(9)}`);
  for (const r of s) console.log(`${r.name.padEnd(w)} ${r.median.toFixed(0).padStart(10)} ${r.p99.toFixed(0).padStart(9)}`);
  const by = (name) => s.find((r) => r.name.startsWith(name));
  console.log(`full job / C baseline (median):        ${(by('full job (nsgroups)').median / by('full job (C').median).toFixed(2)}x`);
  if (before) console.log(`full job${beforeTag} / C baseline (median): ${(by(`full job${beforeTag}`).median / by('full job (C').median).toFixed(2)}x`);
  if (bwrap)
    console.log(`same isolation / Node -> bwrap (median): ${(by('same isolation (nsgroups)').median / by('same isolation (Node').median).toFixed(2)}x`);
  if (bwrap)
    console.log(
      `same isolation, C baseline / Node -> bwrap (median): ${(by('same isolation (C').median / by('same isolation (Node').median).toFixed(2)}x (the same system calls from C, fork-style, no Node)`,
    );
  if (bwrap && before)
    console.log(
      `same isolation${beforeTag} / Node -> bwrap (median): ${(by(`same isolation${beforeTag}`).median / by('same isolation (Node').median).toFixed(2)}x`,
    );
  if (pool) console.log(`pooled full job / child_process (median): ${(by('full job from a warm pool').median / by('child_process').median).toFixed(2)}x`);
  return s;
}

async function stepRows() {
  const builds = [['', now], ...(before ? [[beforeTag, before]] : [])];
  const rows = [];
  for (const [tag, b] of builds) for (const [name, run] of b.steps) rows.push({ tag, name, run });
  for (const r of rows) for (let i = 0; i < 10; i++) await r.run(); // warm up
  const samples = rows.map(() => []);
  for (let done = 0; done < N; done += BLOCK) {
    for (const [i, r] of rows.entries()) for (let k = 0; k < Math.min(BLOCK, N - done); k++) samples[i].push(await timed(r.run));
  }
  const med = rows.map((r, i) => summary(samples[i]).median);
  for (const [tag] of builds) {
    console.log(`\nthe job a step at a time${tag || ' (this build)'}: median µs, and what the step adds`);
    let prev = null;
    for (const [i, r] of rows.entries()) {
      if (r.tag !== tag) continue;
      console.log(
        `  ${r.name.padEnd(44)} ${med[i].toFixed(0).padStart(7)} ${prev === null ? '' : `${(med[i] - prev >= 0 ? '+' : '') + (med[i] - prev).toFixed(0)}`.padStart(8)}`,
      );
      prev = med[i];
    }
  }
}

async function inflight(levels, job = fullJob, tag = '') {
  const rate = async (k, total) => {
    let started = 0;
    const t0 = process.hrtime.bigint();
    const worker = async () => {
      while (started < total) {
        started++;
        await job();
      }
    };
    await Promise.all(Array.from({ length: k }, worker));
    return total / (Number(process.hrtime.bigint() - t0) / 1e9);
  };
  for (const k of levels) await rate(k, 20); // warm up
  const rates = new Map(levels.map((k) => [k, []]));
  // the C baseline beside it (not for --before's rows): the same job with k of its processes
  // at once, the jobs/s the kernel gives this host with no Node in the way
  const withC = !tag;
  if (withC) buildC();
  const cRates = new Map(levels.map((k) => [k, []]));
  for (let round = 0; round < 3; round++)
    for (const k of levels) {
      rates.get(k).push(await rate(k, Math.max(60, k * 10)));
      if (withC) cRates.get(k).push(cRate(k, Math.max(60, k * 10)));
    }
  const med = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
  const print = (what, r) => {
    const base = med(r.get(levels[0]));
    for (const k of levels)
      console.log(
        `${what} with ${String(k).padStart(2)} in flight: ${med(r.get(k)).toFixed(0).padStart(5)}  (${(med(r.get(k)) / base).toFixed(2)}x the ${levels[0]}-in-flight rate; rounds ${r
          .get(k)
          .map((x) => x.toFixed(0))
          .join(', ')})`,
      );
  };
  print(`full jobs/s${tag}`, rates);
  if (withC) print('C-baseline jobs/s', cRates);
}

/** jobs/s of the C baseline with k of its processes at once, each running its share of `total`. */
function cRate(k, total) {
  const each = Math.ceil(total / k);
  const t0 = process.hrtime.bigint();
  execFileSync('sh', ['-c', `for i in $(seq ${k}); do "$0" ${each} "$1" "$2" "$3" "$4" >/dev/null & done; wait`, cBin, lower, initBin, filterFile, cTarget]);
  return (k * each) / (Number(process.hrtime.bigint() - t0) / 1e9);
}

// The main thread's time on a CPU and waiting for one (ns), from /proc/thread-self/schedstat
// (Documentation/scheduler/sched-stats.rst: run time, run-queue wait time, timeslices).
function schedstat() {
  const [run, wait] = fs.readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ').map(Number);
  return { run, wait };
}

/**
 * A 1 ms timer's lateness, split: how long the loop itself ran between two ticks (its own work:
 * what it holds the loop for, whatever the host) and how long the thread waited for a CPU (the
 * host's share: on two CPUs, the children it started compete with it).
 */
function loopSampler() {
  const late = [];
  const ran = [];
  const waited = [];
  let timer = null;
  let last = null;
  const tick = () => {
    const now = { t: process.hrtime.bigint(), ...schedstat() };
    if (last) {
      late.push(Math.max(0, Number(now.t - last.t) / 1e6 - 1));
      ran.push((now.run - last.run) / 1e6);
      waited.push((now.wait - last.wait) / 1e6);
    }
    last = now; // the tick's own reading is counted in the next interval: one read per tick
    timer = setTimeout(tick, 1);
  };
  return {
    start: () => tick(),
    stop() {
      clearTimeout(timer);
      const q = (a, p) => {
        const s = a.slice().sort((x, y) => x - y);
        return s.length ? s[Math.min(s.length - 1, Math.round(p * (s.length - 1)))] : NaN;
      };
      const f = (a) => `p50 ${q(a, 0.5).toFixed(2)} p99 ${q(a, 0.99).toFixed(2)} max ${q(a, 1).toFixed(2)} ms`;
      return `late ${f(late)}; of that, the loop ran ${f(ran)}, waited for a CPU ${f(waited)} (${late.length} ticks)`;
    },
  };
}

async function loopDelay(n, job = fullJob, tag = '') {
  const measure = async (label, start) => {
    const h = monitorEventLoopDelay({ resolution: 1 });
    const sampler = loopSampler();
    h.enable();
    sampler.start();
    // the histogram records the time between two of its ticks: let it tick first, so that the
    // turn that starts the jobs is measured too (it was not, before 2026-12-07)
    await new Promise((r) => setTimeout(r, 5));
    await start();
    h.disable();
    const split = sampler.stop();
    const ms = (v) => (v / 1e6).toFixed(2);
    console.log(
      `event-loop delay${tag} while ${n} ${label}: p50 ${ms(h.percentile(50))} ms, p99 ${ms(h.percentile(99))} ms, max ${ms(h.max)} ms (${h.count} samples)`,
    );
    console.log(`  a 1 ms timer: ${split}`);
  };
  await Promise.all(Array.from({ length: 10 }, job)); // warm up
  await measure('full jobs start at once (one turn of the loop)', () => Promise.all(Array.from({ length: n }, job)));
  await measure('full jobs start one per turn of the loop', async () => {
    const all = [];
    for (let i = 0; i < n; i++) {
      all.push(job());
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(all);
  });
  if (tag) return;
  // The host's floor: this loop doing nothing while another Node process starts the same n full
  // jobs at once through nsgroups (from its warm state, until its jobs are done): how late a
  // timer is on this host while n sandboxes start, with none of their work on this thread.
  const other = cpSpawn(process.execPath, [__filename, '--jobs-at-once', String(n), ...(argv.includes('--lib') ? ['--lib', libAt] : [])], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  const seen = (word) =>
    new Promise((resolve, reject) => {
      const check = () => out.includes(`${word}\n`) && resolve();
      other.stdout.on('data', (d) => {
        out += d;
        check();
      });
      other.once('exit', (code) => reject(new Error(`bench --jobs-at-once exited ${code} before '${word}'`)));
      check();
    });
  await seen('ready'); // warmed up
  await measure('full jobs start at once in another Node process, this loop idle (the host floor)', () => {
    other.stdin.write('go\n');
    return seen('done');
  });
  other.stdin.end();
}

/** The other process of the floor: warm up, then at 'go' on stdin start n full jobs at once. */
async function jobsAtOnce(n) {
  await Promise.all(Array.from({ length: 10 }, fullJob));
  process.stdout.write('ready\n');
  await new Promise((resolve) => process.stdin.once('data', resolve));
  await Promise.all(Array.from({ length: n }, fullJob));
  process.stdout.write('done\n');
  process.stdin.destroy();
}

function heapCompare() {
  const median = (heapMb) => {
    const out = execFileSync(process.execPath, ['--max-old-space-size=4096', __filename, '120', '--only-full', '--heap', String(heapMb)], { encoding: 'utf8' });
    return Number(/full job median (\d+)/.exec(out)[1]);
  };
  const small = median(0);
  const big = median(512);
  console.log(`full job median, small heap: ${small} µs; 512 MiB heap: ${big} µs; ratio ${(big / small).toFixed(2)}x`);
}

(async () => {
  const heap = Number(value('--heap', '0'));
  const ballast = [];
  if (heap > 0) {
    // objects on the V8 heap, touched: the page tables a fork would copy
    for (let i = 0; i < heap; i++) ballast.push(Buffer.alloc(1 << 20, i).toString('latin1'));
  }
  console.log(
    `node ${process.version}, ${os.release()}, ${os.cpus().length} CPUs, load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}, rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
  );
  if (flag('--only-full')) {
    for (let i = 0; i < 20; i++) await fullJob();
    const t = [];
    for (let i = 0; i < N; i++) t.push(await timed(fullJob));
    console.log(`full job median ${summary(t).median.toFixed(0)} µs (heap ballast ${heap} MiB)`);
    return;
  }
  if (flag('--heap-compare')) return heapCompare();
  if (argv.includes('--jobs-at-once')) return jobsAtOnce(Number(value('--jobs-at-once', '50')));
  if (flag('--steps')) return stepRows();
  if (argv.includes('--inflight')) {
    const levels = value('--inflight', '1,2,8').split(',').map(Number);
    await inflight(levels);
    if (before) await inflight(levels, before.fullJob, beforeTag);
    return;
  }
  if (argv.includes('--loop-delay')) {
    const n = Number(value('--loop-delay', '50'));
    await loopDelay(n);
    if (before) await loopDelay(n, before.fullJob, beforeTag);
    return;
  }
  console.log(`${N} jobs per row, interleaved in blocks of ${BLOCK}${heap ? `, ${heap} MiB ballast` : ''}`);
  await makePool();
  await sideBySide();
  await pool?.close();
  void ballast.length;
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
