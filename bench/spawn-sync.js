#!/usr/bin/env node
'use strict';
// bench/spawn-sync.js — how long spawn() holds the caller (it returns once the child is cloned
// and released) and how long until the command's exit, for this build and another one, side by
// side in one process, interleaved (a benchmark, not a test):
//   node bench/spawn-sync.js --before DIR [ROUNDS=8]
// DIR: a checkout of another commit with dist/ and the addon built (e.g. a git worktree).
// Rows: a new user namespace; the "same isolation" namespaces (user, pid, mount, uts, ipc, net).
const path = require('node:path');
const argv = process.argv.slice(2);
const at = argv.indexOf('--before');
const builds = { now: require(path.join(__dirname, '..', 'dist/index.cjs')) };
if (at >= 0) builds[`before (${path.basename(path.resolve(argv[at + 1]))})`] = require(path.resolve(argv[at + 1], 'dist/index.cjs'));
const rounds = Number(argv.find((a, i) => /^\d+$/.test(a) && argv[i - 1] !== '--before') ?? 8);
const variants = { 'user namespace': ['user'], 'same isolation': ['user', 'pid', 'mount', 'uts', 'ipc', 'net'] };
const PER_ROUND = 25;

(async () => {
  const rows = {};
  for (let r = 0; r <= rounds; r++) {
    for (const [b, lib] of Object.entries(builds)) {
      for (const [v, namespaces] of Object.entries(variants)) {
        const row = (rows[`${v}, ${b}`] ??= { sync: [], exit: [] });
        for (let i = 0; i < PER_ROUND; i++) {
          const t0 = process.hrtime.bigint();
          const p = lib.spawn('/bin/true', [], { namespaces, stdio: 'ignore', env: { PATH: '/bin' } });
          const t1 = process.hrtime.bigint();
          const { code } = await p.exited;
          if (code !== 0) throw new Error(`exit ${code}`);
          if (r === 0) continue; // the first round warms up
          row.sync.push(Number(t1 - t0) / 1e3);
          row.exit.push(Number(process.hrtime.bigint() - t0) / 1e3);
        }
      }
    }
  }
  const median = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
  console.log(`${rounds * PER_ROUND} spawns per row, medians`);
  for (const [name, row] of Object.entries(rows))
    console.log(`${name.padEnd(40)} spawn() returns ${median(row.sync).toFixed(0).padStart(6)} µs, exit ${median(row.exit).toFixed(0).padStart(6)} µs`);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
