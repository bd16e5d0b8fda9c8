#!/usr/bin/env node
// An out-of-memory command contained and reported. A program that wants 512 MiB runs in a
// sandbox inside a cgroup with memory.max = 64 MiB (and no swap, where the host accounts it):
// the kernel's OOM killer ends it inside its cgroup, the rest of the host never feels it, and
// run() says so: status 'memory', the OOM kills counted from the cgroup's memory.events.
//
// Needs ROOT (a cgroup of its own; as another user it says so and exits 2). From the package:
//
//   sudo node examples/oom.js
//
// Prints the verdict, the signal, the OOM kills and the memory peak; exits 0 when the OOM was
// contained and reported.
'use strict';
const { Cgroup, run } = require('nsgroups');

const MEMORY_MAX = 64 * 1024 * 1024;

async function main() {
  if (process.geteuid() !== 0) {
    console.error('oom.js needs root: it makes a cgroup of its own (memory.max) to hold the program');
    return 2;
  }
  const cg = await Cgroup.create(`example-oom-${process.pid}`, { memory: { max: MEMORY_MAX, swapMax: 0 }, pids: { max: 32 } }).catch(
    // a host without swap accounting (cgroup v1 without memsw) refuses swapMax: memory.max alone
    (err) =>
      err.code === 'ERR_UNSUPPORTED' ? Cgroup.create(`example-oom-${process.pid}`, { memory: { max: MEMORY_MAX }, pids: { max: 32 } }) : Promise.reject(err),
  );
  try {
    // 512 MiB, touched page by page (Buffer.alloc fills with zeros: every page is really used)
    const hog = 'const a = []; for (let i = 0; i < 512; i++) a.push(Buffer.alloc(1 << 20, 1)); console.log("allocated", a.length, "MiB")';
    const r = await run(process.execPath, ['-e', hog], { namespaces: ['user', 'pid', 'mount'], cgroup: cg, timeout: 30_000 });
    const oomKills = r.usage.cgroup?.oomKills ?? null;
    const peak = r.usage.cgroup?.memoryPeakBytes ?? null;
    console.log(`memory.max: ${MEMORY_MAX / 1048576} MiB`);
    console.log(`status: ${r.status}, signal: ${r.signal}, code: ${r.code}`);
    console.log(`OOM kills (memory.events oom_kill): ${oomKills}`);
    console.log(`memory peak: ${peak === null ? 'not reported by this kernel' : `${(peak / 1048576).toFixed(1)} MiB`}`);
    console.log(`its output: ${r.stdout.trim() || '(none: it never got to print)'}`);
    const contained = r.status === 'memory' && oomKills !== null && oomKills > 0 && (peak === null || peak <= MEMORY_MAX);
    console.log(contained ? 'contained: the OOM killer ended it inside its cgroup' : 'NOT contained');
    return contained ? 0 : 1;
  } finally {
    await cg.delete({ kill: true });
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err) => {
    console.error(err);
    process.exitCode = 1;
  },
);
