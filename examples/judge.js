#!/usr/bin/env node
// A tiny online judge. It compiles nothing: each submission is a command. The problem: read lines
// of two integers, print each sum. Each submission runs in its own sandbox (new user, pid, mount,
// uts, ipc and net namespaces, no network) and its own cgroup, under a CPU limit, a wall-clock
// limit, a memory limit, a process limit and an output limit; run() says what it used and why it
// ended, and the judge turns that into the usual verdicts:
//
//   AC accepted        ok, and the output is the expected one
//   WA wrong answer    ok, another output
//   TLE time limit     'cpuTime' (CPU) or 'timeout' (wall clock)
//   MLE memory limit   'memory': the OOM killer ended a process of the submission's cgroup
//   RE runtime error   'exit' (non-zero status) or 'signal'
//   OLE output limit   'output'
//   IE internal error  'setup': the submission never ran (here: a command that does not exist)
//
// Run it as root (or as a user with a delegated cgroup), from the repository after a build:
//
//   npm run build && sudo node examples/judge.js
//
// It exits 0 when every submission got the verdict it was written for (CI runs it so).
'use strict';
const { Cgroup, run } = require('../dist/index.cjs');

const INPUT = '1 2\n3 4\n-5 5\n1000000 2000000\n';
const EXPECTED = '3\n7\n0\n3000000\n';

const LIMITS = {
  cpuTime: 1, // s of CPU, the whole sandbox
  extraTime: 0.2, // s of grace before the kill (the verdict still counts from cpuTime)
  timeout: 3000, // ms of wall clock
  killAfter: 500, // ms from SIGTERM to SIGKILL
  maxBuffer: 64 * 1024, // bytes of stdout (and of stderr)
};
const CGROUP = { memory: { max: '64M', swapMax: 0 }, pids: { max: 32 } };
const SANDBOX = { namespaces: ['user', 'pid', 'mount', 'uts', 'ipc', 'net'], network: 'none' };

const node = process.execPath;
const SUBMISSIONS = [
  { name: 'correct (awk)', want: 'AC', cmd: 'awk', args: ['{ print $1 + $2 }'] },
  {
    name: 'correct (node)',
    want: 'AC',
    cmd: node,
    args: ['-e', "require('fs').readFileSync(0, 'utf8').trim().split('\\n').forEach((l) => { const [a, b] = l.split(' ').map(Number); console.log(a + b); })"],
  },
  { name: 'wrong answer', want: 'WA', cmd: 'awk', args: ['{ print $1 - $2 }'] },
  { name: 'infinite loop', want: 'TLE', cmd: 'sh', args: ['-c', 'while :; do :; done'] },
  { name: 'sleeps forever', want: 'TLE', cmd: 'sleep', args: ['60'] },
  { name: '512 MiB array', want: 'MLE', cmd: node, args: ['-e', 'const a = Buffer.alloc(512 * 1024 * 1024, 1); console.log(a[0])'] },
  { name: 'throws', want: 'RE', cmd: node, args: ['-e', "throw new Error('index out of range')"] },
  { name: 'segfaults', want: 'RE', cmd: 'sh', args: ['-c', 'kill -SEGV $$'] },
  { name: 'output flood', want: 'OLE', cmd: 'yes', args: [] },
  { name: 'no such program', want: 'IE', cmd: 'nsgroups-no-such-submission', args: [] },
];

function verdictOf(status, stdout) {
  switch (status) {
    case 'ok':
      return stdout === EXPECTED ? 'AC' : 'WA';
    case 'cpuTime':
    case 'timeout':
      return 'TLE';
    case 'memory':
      return 'MLE';
    case 'exit':
    case 'signal':
      return 'RE';
    case 'output':
      return 'OLE';
    default:
      return 'IE';
  }
}

async function judge(submission, index) {
  // a cgroup per submission: its figures are the submission's alone on every kernel
  const cg = await Cgroup.create(`judge-${process.pid}/${index}`, CGROUP);
  try {
    const r = await run(submission.cmd, submission.args, { ...SANDBOX, ...LIMITS, cgroup: cg, input: INPUT });
    return { status: r.status, verdict: verdictOf(r.status, r.stdout), exit: r.signal ?? String(r.code), usage: r.usage };
  } catch (err) {
    if (err.status !== 'setup') throw err;
    return { status: 'setup', verdict: 'IE', exit: err.code, usage: null };
  } finally {
    await cg.delete({ kill: true }); // and judge-PID with the last one (an implicit parent)
  }
}

const pad = (s, n) => String(s).padEnd(n);
const num = (v, digits = 0) => (v === null || v === undefined ? '-' : v.toFixed(digits)).padStart(8);

(async () => {
  try {
    await Cgroup.create(`judge-${process.pid}-probe`).then((cg) => cg.delete());
  } catch (err) {
    console.error(`judge.js needs a cgroup of its own (root, or a delegated cgroup): ${err.message.split('\n')[0]}`);
    process.exit(2);
  }
  console.log(
    `${pad('submission', 18)} ${pad('verdict', 7)} ${pad('status', 8)} ${pad('exit', 14)} ${'cpu ms'.padStart(8)} ${'wall ms'.padStart(8)} ${'peak KiB'.padStart(8)} ${'oom'.padStart(4)}`,
  );
  let mismatches = 0;
  for (const [i, s] of SUBMISSIONS.entries()) {
    const r = await judge(s, i);
    const cg = r.usage?.cgroup;
    const mark = r.verdict === s.want ? '' : `   (expected ${s.want})`;
    if (mark) mismatches++;
    console.log(
      `${pad(s.name, 18)} ${pad(r.verdict, 7)} ${pad(r.status, 8)} ${pad(r.exit, 14)} ${num(cg?.cpuMs)} ${num(r.usage?.wallMs)} ${num(cg?.memoryPeakBytes == null ? null : cg.memoryPeakBytes / 1024)} ${String(cg?.oomKills ?? '-').padStart(4)}${mark}`,
    );
  }
  process.exitCode = mismatches ? 1 : 0;
})().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
