// spawn({ cgroup }) on a pure cgroup v2 system (the v2 lane's guest): the sandbox is cloned into
// its cgroup (CLONE_INTO_CGROUP), so that even its first system call runs under the limits; its
// cgroup namespace is rooted there; the memory limit holds from birth.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Cgroup, run, spawn } from '../../lib/index';
import { isRoot, itIf } from '../helpers/host';
import { hostMode, removeEverywhere, testRoot } from '../helpers/cgroupfs';

const TOP = '/sys/fs/cgroup';
const root = testRoot('v2spawn');
const onV2Root = hostMode === 'v2' && isRoot;
afterAll(() => removeEverywhere(root));

const itV2 = (name: string, fn: () => Promise<void>): void => itIf(onV2Root, 'needs a pure cgroup v2 host, as root (the v2 lane guest)', name, fn);

itV2('the command is in its cgroup (and nowhere else) from its first look', async () => {
  const cg = await Cgroup.create('born', { root, memory: { max: '64M' }, pids: { max: 32 } });
  const r = await run('cat', ['/proc/self/cgroup'], { cgroup: cg });
  expect(r.stdout).toBe(`0::${root}/born\n`);
  expect(r.stats!.pids.max).toBe(32);
  await cg.delete();
});

itV2('a cgroup namespace is rooted at the cgroup; cgroup.procs lists the sandbox while it runs', async () => {
  const cg = await Cgroup.create('cgns', { root, pids: { max: 32 } });
  const p = spawn('sh', ['-c', 'cat /proc/self/cgroup; sleep 5'], { cgroup: cg, namespaces: ['user', 'pid', 'cgroup'], stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout!.on('data', (d) => (out += d));
  while (!out.includes('\n')) await new Promise((r) => setTimeout(r, 20));
  expect(out).toBe('0::/\n');
  const procs = fs
    .readFileSync(path.join(TOP, root, 'cgns', 'cgroup.procs'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map(Number);
  expect(procs).toContain(p.pid);
  p.kill('SIGKILL');
  await p.exited;
  await cg.delete();
});

itV2('the memory limit holds from birth: a writer into tmpfs beyond memory.max is OOM-killed', async () => {
  const cg = await Cgroup.create('oom', { root, memory: { max: '16M', swapMax: 0 } });
  // the library mounts the tmpfs (the command itself holds no capability to)
  const r = await run('sh', ['-c', 'head -c 64000000 /dev/zero > /tmp/f && echo survived'], {
    cgroup: cg,
    namespaces: ['user', 'mount', 'pid'],
    mounts: [{ type: 'tmpfs', target: '/tmp' }],
  });
  expect(r.stdout).not.toContain('survived');
  expect(r.stats!.memory.events.oomKill).toBeGreaterThan(0);
  await cg.delete({ kill: true });
});
