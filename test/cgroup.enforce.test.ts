// The kernel enforces the limits: an allocator is OOM-killed (and the event names the cgroup whose
// limit fired), a shell cannot fork past pids.max while the host still can, a busy loop is held
// near its cpu.max. Memory hogs and fork loops run only inside cgroups this file created.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Cgroup } from '../lib/index';
import type { CgroupEvent } from '../lib/index';
import { isRoot } from './helpers/host';
import { Children, cgRead, collect, exited, flat, hostMode, removeEverywhere, sleep, testRoot } from './helpers/cgroupfs';
import { waitFor } from './helpers/proc';

const root = testRoot('enforce');
const rel = (name: string) => `${root}/${name}`;
const children = new Children();
const v1Root = isRoot && hostMode !== 'v2';
const MiB = 1024 * 1024;

afterAll(() => {
  children.killAll();
  removeEverywhere(root);
});

// Allocates and touches 300 MiB once it reads a line (so it can be moved into the cgroup first).
const HOG = "process.stdin.once('data', () => { const b = Buffer.alloc(300 * 1024 * 1024, 1); console.log(b.length); })";

async function watch(cg: Cgroup, signal: AbortSignal): Promise<{ seen: CgroupEvent[]; done: Promise<void> }> {
  const seen: CgroupEvent[] = [];
  const done = (async () => {
    for await (const ev of cg.events({ signal, pollInterval: 20 })) seen.push(ev);
  })();
  return { seen, done };
}

it('the OOM counters of our own memory cgroup are what memory.oom_control / memory.events say (both lanes)', async () => {
  const self = await Cgroup.self();
  const dir = typeof self.path === 'string' ? self.path : self.path.memory;
  const file = hostMode === 'v2' ? 'memory.events' : 'memory.oom_control';
  if (!fs.existsSync(path.join(dir, file))) {
    expect((await self.stats()).memory.events.oomKill).toBeNull(); // a root cgroup keeps no count
    return;
  }
  const before = flat(fs.readFileSync(path.join(dir, file), 'utf8')).oom_kill;
  const s = await self.stats();
  const after = flat(fs.readFileSync(path.join(dir, file), 'utf8')).oom_kill;
  expect(s.memory.events.oomKill).toBeGreaterThanOrEqual(before);
  expect(s.memory.events.oomKill).toBeLessThanOrEqual(after);
});

(v1Root ? describe : () => undefined)('limits the kernel enforces (root, v1 limits)', () => {
  it('a 300 MB allocator in a 100 MB cgroup is OOM-killed and the events name this cgroup', async () => {
    const cg = await Cgroup.create('oom', { root, memory: { max: '100M', swapMax: 0 }, pids: { max: 50 } });
    const ac = new AbortController();
    const { seen, done } = await watch(cg, ac.signal);
    const hog = children.start(process.execPath, ['-e', HOG]);
    await cg.add(hog.pid!);
    hog.stdin!.write('go\n');
    expect(await exited(hog)).toEqual({ code: null, signal: 'SIGKILL' });
    await waitFor(() => seen.some((e) => e.type === 'oomKill'), 5000, 'the oomKill event');
    const oom = seen.find((e) => e.type === 'oom')!;
    const kill = seen.find((e) => e.type === 'oomKill')!;
    expect(oom).toMatchObject({ cgroup: 'oom', limitedBy: rel('oom') });
    expect(kill).toMatchObject({ cgroup: 'oom', limitedBy: rel('oom') });
    expect(kill.count).toBeGreaterThanOrEqual(1);
    // the kernel's own record
    const control = flat(cgRead('memory', rel('oom'), 'memory.oom_control'));
    expect(control.oom_kill).toBeGreaterThanOrEqual(1);
    expect(Number(cgRead('memory', rel('oom'), 'memory.max_usage_in_bytes'))).toBeLessThanOrEqual(100 * MiB);
    const s = await cg.stats();
    expect(s.memory.events.oomKill).toBe(control.oom_kill);
    // failed charges: memsw is charged first, so they count in one failcnt or the other
    const failcnt = Number(cgRead('memory', rel('oom'), 'memory.failcnt')) + Number(cgRead('memory', rel('oom'), 'memory.memsw.failcnt'));
    expect(s.memory.events.max).toBe(failcnt);
    ac.abort();
    await done;
    await cg.delete({ kill: true });
  });

  it("an OOM under a parent's limit is reported with the parent as the limit that fired", async () => {
    const parent = await Cgroup.create('oomparent', { root, memory: { max: '100M', swapMax: 0 } });
    const leaf = await Cgroup.create('oomparent/leaf', { root, pids: { max: 50 } });
    const ac = new AbortController();
    const { seen, done } = await watch(leaf, ac.signal);
    const hog = children.start(process.execPath, ['-e', HOG]);
    await leaf.add(hog.pid!);
    hog.stdin!.write('go\n');
    expect((await exited(hog)).signal).toBe('SIGKILL');
    await waitFor(() => seen.some((e) => e.type === 'oomKill'), 5000, 'the oomKill event');
    expect(seen.find((e) => e.type === 'oomKill')).toMatchObject({ cgroup: 'oomparent/leaf', limitedBy: rel('oomparent') });
    expect(flat(cgRead('memory', rel('oomparent/leaf'), 'memory.oom_control')).oom_kill).toBeGreaterThanOrEqual(1);
    ac.abort();
    await done;
    await parent.delete({ kill: true });
  });

  it("pids.max = 2 makes a shell's forks fail, while the host can still fork", async () => {
    const cg = await Cgroup.create('pids', { root, pids: { max: 2 } });
    const sh = children.start('sh', ['-c', 'read x; for i in 1 2 3 4 5 6; do sleep 2 & done; wait; echo finished']);
    const stderr = collect(sh.stderr);
    const stdout = collect(sh.stdout);
    await cg.add(sh.pid!);
    sh.stdin!.write('go\n');
    const { code } = await exited(sh);
    expect(code).not.toBe(0);
    expect(stderr()).toMatch(/fork/i);
    expect(stdout()).not.toMatch(/finished/);
    const events = flat(cgRead('pids', rel('pids'), 'pids.events'));
    expect(events.max).toBeGreaterThanOrEqual(1);
    expect(Number(cgRead('pids', rel('pids'), 'pids.current'))).toBeLessThanOrEqual(2);
    expect((await cg.stats()).pids.events.max).toBe(events.max);
    // the host is untouched: the same loop outside the cgroup forks all six
    const host = spawnSync('sh', ['-c', 'for i in 1 2 3 4 5 6; do sleep 0 & done; wait; echo finished'], { encoding: 'utf8' });
    expect(host.stdout).toMatch(/finished/);
    await cg.delete({ kill: true });
  });

  it('cpu.max 0.2 holds a busy loop near 0.2 CPU-seconds per second', async () => {
    const cg = await Cgroup.create('cpu', { root, cpu: { max: 0.2 } });
    const busy = children.start('sh', ['-c', 'while :; do :; done']);
    await cg.add(busy.pid!);
    await sleep(300); // let it reach its quota once
    const u0 = Number(cgRead('cpuacct', rel('cpu'), 'cpuacct.usage'));
    const t0 = process.hrtime.bigint();
    const throttled0 = flat(cgRead('cpu', rel('cpu'), 'cpu.stat')).nr_throttled;
    await sleep(2000);
    const u1 = Number(cgRead('cpuacct', rel('cpu'), 'cpuacct.usage'));
    const t1 = process.hrtime.bigint();
    const rate = (u1 - u0) / Number(t1 - t0); // CPU-ns per wall-ns
    // the cap: 0.2 plus the slack of one period; the floor only says the loop did run
    expect(rate).toBeLessThan(0.26);
    expect(rate).toBeGreaterThan(0.05);
    const st = flat(cgRead('cpu', rel('cpu'), 'cpu.stat'));
    expect(st.nr_throttled).toBeGreaterThan(throttled0);
    const s = await cg.stats();
    expect(s.cpu.nrThrottled).toBeGreaterThanOrEqual(st.nr_throttled);
    expect(s.cpu.throttledUsec).toBeGreaterThan(0);
    await cg.delete({ kill: true });
    expect((await exited(busy)).signal).toBe('SIGKILL');
  });
});
