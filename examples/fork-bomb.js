#!/usr/bin/env node
// A fork bomb held by pids.max. The bomb runs in a sandbox (new user, pid and mount namespaces)
// inside a cgroup of its own with pids.max = 32 (and a memory limit, so the bomb's shells cannot
// take the host's memory either); the kernel refuses every fork past the limit (pids.events
// counts the refusals), the bomb's own shell still gets to say it is there, and when it exits
// the sandbox's init kills the rest: nothing of the bomb is left on the host.
//
// Needs ROOT (a cgroup of its own; as another user it says so and exits 2). From the package
// (after `npm run build` in the repository, where `require('nsgroups')` names the package itself):
//
//   sudo node examples/fork-bomb.js
//
// Prints the limit, how many forks the kernel refused, the most processes at once (pids.peak,
// where the kernel has it), and exits 0 when the limit held.
'use strict';
const { Cgroup, run } = require('nsgroups');

const PIDS_MAX = 32;

async function main() {
  if (process.geteuid() !== 0) {
    console.error('fork-bomb.js needs root: it makes a cgroup of its own (pids.max) to hold the bomb');
    return 2;
  }
  const cg = await Cgroup.create(`example-fork-bomb-${process.pid}`, { pids: { max: PIDS_MAX }, memory: { max: '128M' } });
  try {
    // bomb: each shell starts two more, in the background, forever; the first shell waits a
    // second (its own fork for `sleep` may be refused: then it goes on at once) and reports
    const r = await run('sh', ['-c', 'bomb() { bomb | bomb & }; bomb; sleep 1; echo "the bomb\'s shell is still here"'], {
      namespaces: ['user', 'pid', 'mount'],
      cgroup: cg,
      timeout: 20_000,
    });
    const refused = r.stats?.pids.events.max ?? null;
    const peak = r.stats?.pids.peak ?? null;
    console.log(`pids.max: ${PIDS_MAX}`);
    console.log(`forks refused by the kernel (pids.events max): ${refused}`);
    console.log(`most processes at once (pids.peak): ${peak ?? 'not reported by this kernel'}`);
    console.log(`the command: ${r.stdout.trim() || '(no output)'}; status ${r.status}`);
    console.log(`processes left in the cgroup: ${(await cg.stats()).pids.current}`);
    const held = refused !== null && refused > 0 && (peak === null || peak <= PIDS_MAX);
    console.log(held ? 'held: the bomb never had more than pids.max processes' : 'NOT held');
    return held ? 0 : 1;
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
