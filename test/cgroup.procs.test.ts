// Processes in cgroups: add, procs, threads, inheritance, of/self/open, freeze/thaw, kill, events
// and stats — each checked against /proc/PID/cgroup, /proc/PID/task, /proc/PID/stat and cgroupfs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { Cgroup } from '../lib/index';
import type { CgroupEvent } from '../lib/index';
import { isRoot } from './helpers/host';
import {
  Children,
  cgRead,
  collect,
  cpuTicks,
  exited,
  hierarchiesWith,
  hostMode,
  mountOf,
  mounts,
  procCgroupIn,
  removeEverywhere,
  sleep,
  testRoot,
} from './helpers/cgroupfs';
import { waitFor } from './helpers/proc';

const root = testRoot('procs');
const rel = (name: string) => `${root}/${name}`;
const children = new Children();
const v1Root = isRoot && hostMode !== 'v2';

afterAll(() => {
  children.killAll();
  removeEverywhere(root);
});

describe('where a process is (read-only: both lanes)', () => {
  it('Cgroup.self() is what /proc/self/cgroup says, in every hierarchy', async () => {
    const self = await Cgroup.self();
    const paths = typeof self.path === 'string' ? { unified: self.path } : self.path;
    for (const m of mounts) {
      const where = procCgroupIn(process.pid, m.mountPoint)!;
      const dir = where === '/' ? m.mountPoint : path.join(m.mountPoint, where);
      for (const c of m.version === 2 ? [] : m.controllers) {
        if (paths[c]) expect(paths[c]).toBe(dir);
      }
      if (m.version === 1 && m.controllers.includes('memory')) {
        expect(await self.procs()).toContain(process.pid); // our own memory cgroup lists us
      }
    }
    // the most specific of the paths names it
    const longest = mounts.map((m) => procCgroupIn(process.pid, m.mountPoint)!).reduce((a, b) => (b.length > a.length ? b : a));
    expect(self.name).toBe(longest);
  });

  it('stats() of our own cgroup agree with its cgroupfs files', async () => {
    const self = await Cgroup.self();
    const memDir = typeof self.path === 'string' ? self.path : self.path.memory;
    const before = Number(fs.readFileSync(path.join(memDir, hostMode === 'v2' ? 'memory.peak' : 'memory.max_usage_in_bytes'), 'utf8'));
    const s = await self.stats();
    expect(s.memory.peak).toBeGreaterThanOrEqual(before);
    expect(s.memory.current).toBeGreaterThan(0);
    expect(s.cpu.usageUsec).toBeGreaterThan(0);
    // a root cgroup has no pids.current (v1 and v2): then the stat is null, not a guess
    const pidsDir = typeof self.path === 'string' ? self.path : self.path.pids;
    if (fs.existsSync(path.join(pidsDir, 'pids.current'))) expect(s.pids.current).toBeGreaterThanOrEqual(1);
    else expect(s.pids.current).toBeNull();
  });

  it('Cgroup.of() a process that does not exist is ERR_NOT_FOUND', async () => {
    const gone = children.start('true', []);
    await exited(gone);
    expect(() => Cgroup.of(gone.pid!)).toThrow(expect.objectContaining({ code: 'ERR_NOT_FOUND' }));
  });
});

(v1Root ? describe : () => undefined)('processes in a cgroup (root)', () => {
  it('add() moves a multithreaded process: once in procs, once per thread in threads, in every hierarchy', async () => {
    const cg = await Cgroup.create('mt', { root, pids: { max: 100 } });
    const node = children.start(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    await waitFor(() => fs.readdirSync(`/proc/${node.pid}/task`).length > 1, 5000, 'node threads');
    await cg.add(node.pid!);
    const procs = await cg.procs();
    expect(procs.filter((p) => p === node.pid)).toHaveLength(1);
    // node starts threads lazily: compare while /proc/PID/task holds still around the read
    const taskList = () =>
      fs
        .readdirSync(`/proc/${node.pid}/task`)
        .map(Number)
        .sort((a, b) => a - b);
    let tasks: number[] = [];
    let threads: number[] = [];
    let file: number[] = [];
    for (let attempt = 0; attempt < 50; attempt++) {
      const before = taskList();
      threads = await cg.threads();
      file = cgRead('pids', rel('mt'), 'tasks')
        .split('\n')
        .map(Number)
        .sort((a, b) => a - b);
      tasks = taskList();
      if (before.join() === tasks.join()) break;
      await sleep(20);
    }
    expect(tasks.length).toBeGreaterThan(1);
    expect(threads).toEqual(tasks);
    expect(file).toEqual(tasks);
    for (const mp of hierarchiesWith(rel('mt'))) expect(procCgroupIn(node.pid!, mp)).toBe(rel('mt'));
    // Cgroup.of sees the same cgroup
    const of = await Cgroup.of(node.pid!);
    expect(of.name).toBe(rel('mt'));
    expect(of.path).toEqual(cg.path);
    await cg.delete({ kill: true });
    expect((await exited(node)).signal).toBe('SIGKILL');
    expect(hierarchiesWith(rel('mt'))).toEqual([]);
  });

  it('add() of a pid that does not exist is ERR_NOT_FOUND and moves nothing', async () => {
    const cg = await Cgroup.create('nopid', { root });
    const gone = children.start('true', []);
    await exited(gone);
    await expect(cg.add(gone.pid!)).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    expect(await cg.procs()).toEqual([]);
    await cg.delete();
  });

  it('children inherit the cgroup', async () => {
    const cg = await Cgroup.create('inherit', { root });
    const sh = children.start('sh', ['-c', 'read x; sleep 1000 & echo $!; wait']);
    const out = collect(sh.stdout);
    await cg.add(sh.pid!);
    sh.stdin!.write('go\n');
    await waitFor(() => /\d+\n/.test(out()), 5000, 'the forked child');
    const child = Number(out().trim());
    expect((await cg.procs()).sort()).toEqual([sh.pid!, child].sort());
    for (const mp of hierarchiesWith(rel('inherit'))) expect(procCgroupIn(child, mp)).toBe(rel('inherit'));
    await cg.delete({ kill: true });
  });

  it('freeze() stops progress and thaw() resumes it', async () => {
    const cg = await Cgroup.create('freeze', { root });
    const busy = children.start('sh', ['-c', 'while :; do :; done']);
    await cg.add(busy.pid!);
    await cg.freeze();
    // on this hybrid host the cgroup has no v1 freezer directory (it is made only when asked
    // for): the cgroup2 tracking directory freezes it (cgroup.freeze)
    const frozen = (): string =>
      (cg.path as Record<string, string>).freezer !== undefined
        ? cgRead('freezer', rel('freeze'), 'freezer.state')
        : /^frozen (\d)$/m.exec(fs.readFileSync(path.join((cg.path as Record<string, string>).unified, 'cgroup.events'), 'utf8'))![1] === '1'
          ? 'FROZEN'
          : 'THAWED';
    expect(frozen()).toBe('FROZEN');
    const t0 = cpuTicks(busy.pid!);
    await sleep(400);
    expect(cpuTicks(busy.pid!)).toBe(t0); // no CPU time while frozen
    await cg.thaw();
    expect(frozen()).toBe('THAWED');
    await waitFor(() => cpuTicks(busy.pid!) > t0, 5000, 'CPU time after thaw');
    // stats() reads the same counters the kernel keeps (monotonic: read the file around it)
    const a = Number(cgRead('cpuacct', rel('freeze'), 'cpuacct.usage'));
    const s = await cg.stats();
    const b = Number(cgRead('cpuacct', rel('freeze'), 'cpuacct.usage'));
    expect(s.cpu.usageUsec! * 1000).toBeGreaterThanOrEqual(Math.floor(a / 1000) * 1000);
    expect(s.cpu.usageUsec! * 1000).toBeLessThanOrEqual(b + 1000);
    expect(s.cpu.userUsec! + s.cpu.systemUsec!).toBeGreaterThan(0);
    expect(s.pids.current).toBe(Number(cgRead('pids', rel('freeze'), 'pids.current')));
    await cg.delete({ kill: true });
    expect((await exited(busy)).signal).toBe('SIGKILL');
  });

  it('kill() empties the cgroup and its children', async () => {
    const cg = await Cgroup.create('kill', { root });
    const sub = await Cgroup.create('kill/sub', { root });
    const procs = [0, 1, 2].map(() => children.start('sleep', ['1000']));
    const inSub = children.start('sleep', ['1000']);
    for (const p of procs) await cg.add(p.pid!);
    await sub.add(inSub.pid!);
    await cg.kill();
    for (const p of [...procs, inSub]) expect((await exited(p)).signal).toBe('SIGKILL');
    for (const mp of hierarchiesWith(rel('kill'))) {
      expect(fs.readFileSync(path.join(mp, rel('kill'), 'cgroup.procs'), 'utf8')).toBe('');
      expect(fs.readFileSync(path.join(mp, rel('kill/sub'), 'cgroup.procs'), 'utf8')).toBe('');
    }
    // delete without kill refuses a populated cgroup, and says how
    const again = children.start('sleep', ['1000']);
    await cg.add(again.pid!);
    await expect(cg.delete()).rejects.toMatchObject({ code: 'ERR_BUSY', message: expect.stringMatching(/kill: true/) });
    expect(hierarchiesWith(rel('kill')).length).toBeGreaterThan(0);
    await cg.delete({ kill: true });
    expect(hierarchiesWith(rel('kill'))).toEqual([]);
  });

  it('events(): populated, frozen, thawed, empty — then the iteration ends on abort', async () => {
    const cg = await Cgroup.create('events', { root });
    const ac = new AbortController();
    const seen: CgroupEvent[] = [];
    const loop = (async () => {
      for await (const ev of cg.events({ signal: ac.signal, pollInterval: 20 })) seen.push(ev);
    })();
    const has = (type: string) => seen.some((e) => e.type === type);
    const p = children.start('sleep', ['1000']);
    await cg.add(p.pid!);
    await waitFor(() => has('populated'), 5000, 'populated');
    await cg.freeze();
    await waitFor(() => has('frozen'), 5000, 'frozen');
    await cg.thaw();
    await waitFor(() => has('thawed'), 5000, 'thawed');
    await cg.kill();
    await waitFor(() => has('empty'), 5000, 'empty');
    expect(seen.map((e) => e.type)).toEqual(['populated', 'frozen', 'thawed', 'empty']);
    expect(seen.every((e) => e.cgroup === 'events')).toBe(true);
    ac.abort();
    await loop; // ends, no error
    await cg.delete();
  });

  it('events() ends when the cgroup is deleted', async () => {
    const cg = await Cgroup.create('events-end', { root, memory: { max: '64M' } });
    const it = cg.events({ pollInterval: 20 });
    const next = it.next();
    await cg.delete();
    expect(await next).toEqual({ value: undefined, done: true });
  });

  it('without a cgroup2 directory (as on a pure v1 host): kill() freezes, signals, thaws; events() polls populated', async () => {
    // made by hand in three v1 hierarchies only, then opened: the library finds no unified directory
    for (const c of ['memory', 'pids', 'freezer']) fs.mkdirSync(path.join(mountOf(c), rel('v1only')), { recursive: true });
    const cg = await Cgroup.open('v1only', { root });
    expect(Object.keys(cg.path).sort()).toEqual(['freezer', 'memory', 'pids']);
    const placement = cg._placement();
    expect(placement.v2Dir).toBeNull();
    expect(placement.v1ProcsFiles.sort()).toEqual(['memory', 'pids', 'freezer'].map((c) => path.join(mountOf(c), rel('v1only'), 'cgroup.procs')).sort());
    const ac = new AbortController();
    const seen: string[] = [];
    const loop = (async () => {
      for await (const ev of cg.events({ signal: ac.signal, pollInterval: 20 })) seen.push(ev.type);
    })();
    const procs = [0, 1].map(() => children.start('sleep', ['1000']));
    for (const p of procs) await cg.add(p.pid!);
    await waitFor(() => seen.includes('populated'), 5000, 'populated (polled)');
    await cg.kill();
    for (const p of procs) expect((await exited(p)).signal).toBe('SIGKILL');
    expect(cgRead('freezer', rel('v1only'), 'freezer.state')).toBe('THAWED');
    expect(cgRead('memory', rel('v1only'), 'cgroup.procs')).toBe('');
    await waitFor(() => seen.includes('empty'), 5000, 'empty (polled)');
    ac.abort();
    await loop;
    await cg.delete();
    expect(hierarchiesWith(rel('v1only'))).toEqual([]);
  });

  it('a worker thread that leaves an events() iterator open exits cleanly: its eventfd is closed at teardown', async () => {
    const cg = await Cgroup.create('worker', { root, memory: { max: '64M' } });
    // the worker runs the built library (dist/, rebuilt by test/global-setup.js when lib/ is newer)
    // and reports the eventfds that appeared when it started watching (the OOM eventfd)
    const script = `
      const fs = require('node:fs');
      const { parentPort } = require('node:worker_threads');
      const { Cgroup } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'index.cjs'))});
      const eventfds = () => fs.readdirSync('/proc/self/fd').filter((fd) => {
        try { return fs.readlinkSync('/proc/self/fd/' + fd) === 'anon_inode:[eventfd]'; } catch { return false; }
      });
      Promise.resolve(Cgroup.open('worker', { root: ${JSON.stringify(root)} })).then((cg) => {
        const before = eventfds();
        const it = cg.events();
        it.next();
        parentPort.postMessage(eventfds().filter((fd) => !before.includes(fd)));
      });`;
    const worker = new Worker(script, { eval: true });
    const fds = await new Promise<string[]>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    expect(fds).toHaveLength(1);
    const isEventfd = (fd: string) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:[eventfd]';
      } catch {
        return false;
      }
    };
    expect(isEventfd(fds[0])).toBe(true);
    expect(await worker.terminate()).toBe(1);
    await waitFor(() => !isEventfd(fds[0]), 5000, 'the eventfd to be closed');
    await cg.delete();
  });
});
