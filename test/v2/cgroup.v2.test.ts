// The cgroup v2 backend on a pure cgroup v2 system (the QEMU guest of the v2 lane: kernel 6.1,
// cgroup2 at /sys/fs/cgroup, every controller enabled in the root). Each limit, stat and event is
// checked against the cgroupfs files of Documentation/admin-guide/cgroup-v2.rst. Children are
// sh, sleep and dd (exec is ~50x slower in the guest; node would cost seconds each). Files that
// the guest's 6.1 may lack are feature-detected here as in the library.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Cgroup, NsgroupsError } from '../../lib/index';
import type { CgroupEvent } from '../../lib/index';
import { parseCgroupLayout } from '../../lib/cgroup/index';
import { isRoot, itIf } from '../helpers/host';
import { Children, collect, cpuTicks, exited, flat, hostMode, removeEverywhere, sleep, testRoot } from '../helpers/cgroupfs';
import { waitFor } from '../helpers/proc';

const TOP = '/sys/fs/cgroup';
const root = testRoot('v2');
const rel = (name: string) => `${root}/${name}`;
const dir = (name: string) => path.join(TOP, rel(name));
const file = (name: string, f: string) => fs.readFileSync(path.join(dir(name), f), 'utf8').trim();
const has = (name: string, f: string) => fs.existsSync(path.join(dir(name), f));
const children = new Children();
const onV2Root = hostMode === 'v2' && isRoot;
const MiB = 1024 * 1024;

// A block device for io.max: brd's /dev/ram0 (1:0) in the guest.
if (onV2Root && !fs.existsSync('/dev/ram0')) spawnSync('modprobe', ['brd', 'rd_nr=1', 'rd_size=65536']);
const ramdisk = fs.existsSync('/dev/ram0');

afterAll(() => {
  children.killAll();
  removeEverywhere(root);
});

/** "some … total=N" of a PSI file, or null when the kernel does not account pressure. */
function readPsi(file: string): number | null {
  try {
    return Number(/^some .*total=(\d+)/m.exec(fs.readFileSync(file, 'utf8'))![1]);
  } catch {
    return null;
  }
}

async function watch(cg: Cgroup, signal: AbortSignal): Promise<{ seen: CgroupEvent[]; done: Promise<void> }> {
  const seen: CgroupEvent[] = [];
  const done = (async () => {
    for await (const ev of cg.events({ signal })) seen.push(ev);
  })();
  return { seen, done };
}

it('parses a pure v2 host: every controller is version 2 at /sys/fs/cgroup', () => {
  const layout = parseCgroupLayout(
    '26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n',
    '0::/test.slice/x\n',
    'cpuset cpu io memory hugetlb pids rdma misc\n',
  );
  expect(layout.mode).toBe('v2');
  expect(layout.controllers.memory).toEqual({ version: 2, mountPoint: TOP, coMounted: [] });
  expect(layout.v1).toEqual([]);
});

(onV2Root ? describe : () => undefined)('cgroup v2 backend (pure v2 guest, root)', () => {
  it('create() writes each limit to its v2 file, enables controllers down the path, limits() reads them back', async () => {
    const cg = await Cgroup.create('all', {
      root,
      memory: { max: '256M', high: '200M', low: '16M' },
      cpu: { max: 0.5, weight: 200 },
      pids: { max: 64 },
      cpuset: { cpus: '0', mems: '0' },
    });
    expect(cg.version).toBe(2);
    expect(cg.path).toBe(dir('all'));
    expect(cg._placement()).toEqual({ v2Dir: dir('all'), v1ProcsFiles: [] });
    // "Top-down constraint": the base offers the controllers to its children
    const enabled = fs
      .readFileSync(path.join(TOP, root, 'cgroup.subtree_control'), 'utf8')
      .trim()
      .split(' ');
    expect(enabled).toEqual(expect.arrayContaining(['cpu', 'cpuset', 'io', 'memory', 'pids']));
    expect(file('all', 'memory.max')).toBe(String(256 * MiB));
    expect(file('all', 'memory.high')).toBe(String(200 * MiB));
    expect(file('all', 'memory.low')).toBe(String(16 * MiB));
    expect(file('all', 'cpu.max')).toBe('50000 100000');
    expect(file('all', 'cpu.weight')).toBe('200');
    expect(file('all', 'pids.max')).toBe('64');
    expect(file('all', 'cpuset.cpus')).toBe('0');
    expect(file('all', 'cpuset.mems')).toBe('0');
    expect(await cg.limits()).toMatchObject({
      memory: { max: 256 * MiB, high: 200 * MiB, low: 16 * MiB },
      cpu: { max: 0.5, weight: 200 },
      pids: { max: 64 },
      cpuset: { cpus: '0', mems: '0' },
    });
    await cg.set({ memory: { max: 'max', high: 'max' }, cpu: { max: 'max' }, pids: { max: 'max' } });
    expect(file('all', 'memory.max')).toBe('max');
    expect(file('all', 'cpu.max')).toBe('max 100000');
    expect(file('all', 'pids.max')).toBe('max');
    await cg.delete();
    expect(fs.existsSync(dir('all'))).toBe(false);
  });

  it('memory.swapMax goes to memory.swap.max where swap is accounted, else ERR_UNSUPPORTED naming it', async () => {
    const probe = await Cgroup.create('swapprobe', { root });
    const accounted = has('swapprobe', 'memory.swap.max');
    await probe.delete();
    if (accounted) {
      const cg = await Cgroup.create('swap', { root, memory: { max: '64M', swapMax: 0 } });
      expect(file('swap', 'memory.swap.max')).toBe('0');
      expect((await cg.limits()).memory?.swapMax).toBe(0);
      await cg.delete();
    } else {
      await expect(Cgroup.create('swap', { root, memory: { swapMax: 0 } })).rejects.toMatchObject({
        code: 'ERR_UNSUPPORTED',
        message: expect.stringMatching(/memory\.swap\.max/),
      });
      expect(fs.existsSync(dir('swap'))).toBe(false);
    }
  });

  it('io.weight goes to io.weight (or io.bfq.weight) as the default weight', async () => {
    const cg = await Cgroup.create('ioweight', { root, io: { weight: 300 } });
    if (has('ioweight', 'io.weight')) expect(file('ioweight', 'io.weight')).toMatch(/^default 300$/m);
    else expect(file('ioweight', 'io.bfq.weight')).toMatch(/^default 300$/m);
    expect((await cg.limits()).io?.weight).toBe(300);
    await cg.delete();
  });

  itIf(ramdisk, 'no /dev/ram0: `modprobe brd rd_nr=1 rd_size=65536` failed', 'io.max throttles writes to /dev/ram0 (1:0) and io.stat counts them', async () => {
    const cg = await Cgroup.create('iomax', { root, io: { max: { '/dev/ram0': { wbps: '1M' } } } });
    expect(file('iomax', 'io.max')).toBe('1:0 rbps=max wbps=1048576 riops=max wiops=max');
    expect((await cg.limits()).io?.max['1:0']).toEqual({ rbps: 'max', wbps: MiB, riops: 'max', wiops: 'max' });
    const dd = children.start('sh', ['-c', 'read x; exec dd if=/dev/zero of=/dev/ram0 bs=64k count=32 oflag=direct status=none']);
    await cg.add(dd.pid!);
    const t0 = Date.now();
    dd.stdin!.write('go\n');
    expect((await exited(dd)).code).toBe(0);
    // 2 MiB at 1 MiB/s: the kernel held it back (a burst of one slice may pass at once)
    expect(Date.now() - t0).toBeGreaterThan(700);
    const stat = Object.fromEntries(
      file('iomax', 'io.stat')
        .split(' ')
        .slice(1)
        .map((kv) => kv.split('=')),
    );
    expect(Number(stat.wbytes)).toBeGreaterThanOrEqual(2 * MiB);
    expect((await cg.stats()).io?.['1:0'].wbytes).toBe(Number(stat.wbytes));
    await cg.delete();
  });

  it('no internal processes: a controller for a child of a populated cgroup is ERR_BUSY, and nothing is left', async () => {
    const parent = await Cgroup.create('nip', { root });
    const p = children.start('sleep', ['1000']);
    await parent.add(p.pid!);
    let err: unknown;
    try {
      await Cgroup.create('nip/child', { root, memory: { max: '64M' } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NsgroupsError);
    expect(err).toMatchObject({ code: 'ERR_BUSY', message: expect.stringMatching(/no internal processes/) });
    expect(fs.existsSync(dir('nip/child'))).toBe(false);
    expect(file('nip', 'cgroup.subtree_control')).toBe('');
    await parent.delete({ kill: true });
  });

  it('a value the kernel refuses after mkdir is ERR_INVALID_ARG with nothing left', async () => {
    await expect(Cgroup.create('refused/deep', { root, pids: { max: 2 ** 40 } })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    expect(fs.existsSync(dir('refused'))).toBe(false);
  });

  it('an allocator over memory.max is OOM-killed; memory.events and the events name this cgroup', async () => {
    const cg = await Cgroup.create('oom', { root, memory: { max: '32M' }, pids: { max: 20 } });
    if (has('oom', 'memory.swap.max')) await cg.set({ memory: { swapMax: 0 } });
    const ac = new AbortController();
    const { seen, done } = await watch(cg, ac.signal);
    // dd with a 300 MiB block allocates and fills it: far over the 32 MiB limit
    const hog = children.start('sh', ['-c', 'read x; exec dd if=/dev/zero of=/dev/null bs=300M count=1 status=none']);
    await cg.add(hog.pid!);
    hog.stdin!.write('go\n');
    expect((await exited(hog)).signal).toBe('SIGKILL');
    await waitFor(() => seen.some((e) => e.type === 'oomKill'), 10000, 'the oomKill event');
    const events = flat(file('oom', 'memory.events'));
    expect(events.oom_kill).toBeGreaterThanOrEqual(1);
    expect(seen.find((e) => e.type === 'oom')).toMatchObject({ cgroup: 'oom', limitedBy: rel('oom') });
    expect(seen.find((e) => e.type === 'oomKill')).toMatchObject({ cgroup: 'oom', limitedBy: rel('oom') });
    const s = await cg.stats();
    expect(s.memory.events).toMatchObject({ oom: events.oom, oomKill: events.oom_kill, max: events.max, high: events.high });
    if (has('oom', 'memory.peak')) expect(s.memory.peak).toBe(Number(file('oom', 'memory.peak')));
    ac.abort();
    await done;
    await cg.delete({ kill: true });
  });

  it("an OOM under a parent's limit is reported with the parent (memory.events.local)", async () => {
    const parent = await Cgroup.create('oomparent', { root, memory: { max: '32M' } });
    if (has('oomparent', 'memory.swap.max')) await parent.set({ memory: { swapMax: 0 } });
    const leaf = await Cgroup.create('oomparent/leaf', { root });
    const ac = new AbortController();
    const { seen, done } = await watch(leaf, ac.signal);
    const hog = children.start('sh', ['-c', 'read x; exec dd if=/dev/zero of=/dev/null bs=300M count=1 status=none']);
    await leaf.add(hog.pid!);
    hog.stdin!.write('go\n');
    expect((await exited(hog)).signal).toBe('SIGKILL');
    await waitFor(() => seen.some((e) => e.type === 'oomKill'), 10000, 'the oomKill event');
    expect(flat(file('oomparent', 'memory.events.local')).oom).toBeGreaterThanOrEqual(1);
    expect(seen.find((e) => e.type === 'oomKill')).toMatchObject({ cgroup: 'oomparent/leaf', limitedBy: rel('oomparent') });
    ac.abort();
    await done;
    await parent.delete({ kill: true });
  });

  it('pids.max = 2 makes a shell fail to fork; pids.events counts it', async () => {
    const cg = await Cgroup.create('pids', { root, pids: { max: 2 } });
    const sh = children.start('sh', ['-c', 'read x; for i in 1 2 3 4; do sleep 2 & done; wait; echo finished']);
    const stderr = collect(sh.stderr);
    await cg.add(sh.pid!);
    sh.stdin!.write('go\n');
    expect((await exited(sh)).code).not.toBe(0);
    expect(stderr()).toMatch(/fork/i);
    const events = flat(file('pids', 'pids.events'));
    expect(events.max).toBeGreaterThanOrEqual(1);
    const s = await cg.stats();
    expect(s.pids.events.max).toBe(events.max);
    expect(s.pids.max).toBe(2);
    if (has('pids', 'pids.peak')) expect(s.pids.peak).toBe(Number(file('pids', 'pids.peak')));
    else expect(s.pids.peak).toBeNull(); // 6.1 has no pids.peak
    await cg.delete({ kill: true });
  });

  it('cpu.max throttles a busy loop: cpu.stat nr_throttled rises and usage stays under the quota', async () => {
    const cg = await Cgroup.create('cpu', { root, cpu: { max: 0.2 } });
    const busy = children.start('sh', ['-c', 'while :; do :; done']);
    await cg.add(busy.pid!);
    await sleep(300);
    const a = flat(file('cpu', 'cpu.stat'));
    const t0 = process.hrtime.bigint();
    await sleep(1000);
    const b = flat(file('cpu', 'cpu.stat'));
    const rate = ((b.usage_usec - a.usage_usec) * 1000) / Number(process.hrtime.bigint() - t0);
    expect(rate).toBeLessThan(0.3);
    expect(b.nr_throttled).toBeGreaterThan(a.nr_throttled);
    const s = await cg.stats();
    expect(s.cpu.nrThrottled).toBeGreaterThanOrEqual(b.nr_throttled);
    expect(s.cpu.usageUsec).toBeGreaterThanOrEqual(b.usage_usec);
    expect(s.cpu.throttledUsec).toBeGreaterThanOrEqual(b.throttled_usec);
    await cg.delete({ kill: true });
  });

  it('freeze() waits for "frozen 1" in cgroup.events; no CPU time while frozen; thaw() resumes', async () => {
    const cg = await Cgroup.create('freeze', { root });
    const busy = children.start('sh', ['-c', 'while :; do :; done']);
    await cg.add(busy.pid!);
    await cg.freeze();
    expect(file('freeze', 'cgroup.freeze')).toBe('1');
    expect(flat(file('freeze', 'cgroup.events')).frozen).toBe(1);
    const t0 = cpuTicks(busy.pid!);
    await sleep(300);
    expect(cpuTicks(busy.pid!)).toBe(t0);
    await cg.thaw();
    expect(flat(file('freeze', 'cgroup.events')).frozen).toBe(0);
    await waitFor(() => cpuTicks(busy.pid!) > t0, 10000, 'CPU time after thaw');
    await cg.delete({ kill: true });
    expect((await exited(busy)).signal).toBe('SIGKILL');
  });

  it('kill() uses cgroup.kill: every process below is SIGKILLed and populated drops to 0', async () => {
    const cg = await Cgroup.create('kill', { root });
    const leafA = await Cgroup.create('kill/a', { root });
    const leafB = await Cgroup.create('kill/b/c', { root });
    const a = children.start('sleep', ['1000']);
    const b = children.start('sleep', ['1000']);
    // processes live in leaves: 'kill' gives controllers to its children, so it takes none itself
    await expect(cg.add(a.pid!)).rejects.toMatchObject({ code: 'ERR_BUSY', message: expect.stringMatching(/leaves/) });
    await leafA.add(a.pid!);
    await leafB.add(b.pid!);
    expect(flat(file('kill', 'cgroup.events')).populated).toBe(1);
    await cg.kill();
    expect((await exited(a)).signal).toBe('SIGKILL');
    expect((await exited(b)).signal).toBe('SIGKILL');
    expect(flat(file('kill', 'cgroup.events')).populated).toBe(0);
    expect(file('kill/a', 'cgroup.procs')).toBe('');
    expect(file('kill/b/c', 'cgroup.procs')).toBe('');
    await cg.delete();
    expect(fs.existsSync(dir('kill'))).toBe(false);
  });

  it('events() by inotify: populated, frozen, thawed, empty', async () => {
    const cg = await Cgroup.create('events', { root });
    const ac = new AbortController();
    const { seen, done } = await watch(cg, ac.signal);
    const type = (t: string) => seen.some((e) => e.type === t);
    const p = children.start('sleep', ['1000']);
    await cg.add(p.pid!);
    await waitFor(() => type('populated'), 10000, 'populated');
    await cg.freeze();
    await waitFor(() => type('frozen'), 10000, 'frozen');
    await cg.thaw();
    await waitFor(() => type('thawed'), 10000, 'thawed');
    await cg.kill();
    await waitFor(() => type('empty'), 10000, 'empty');
    expect(seen.map((e) => e.type)).toEqual(['populated', 'frozen', 'thawed', 'empty']);
    ac.abort();
    await done;
    await cg.delete();
  });

  it('procs() and threads() are cgroup.procs and cgroup.threads; Cgroup.of() finds the cgroup', async () => {
    const cg = await Cgroup.create('procs', { root });
    const sh = children.start('sh', ['-c', 'read x; sleep 1000 & echo $!; wait']);
    const out = collect(sh.stdout);
    await cg.add(sh.pid!);
    sh.stdin!.write('go\n');
    await waitFor(() => /\d+\n/.test(out()), 10000, 'the forked child');
    const child = Number(out().trim());
    expect(await cg.procs()).toEqual([sh.pid!, child].sort((x, y) => x - y));
    expect(await cg.threads()).toEqual(
      file('procs', 'cgroup.threads')
        .split('\n')
        .map(Number)
        .sort((x, y) => x - y),
    );
    expect(fs.readFileSync(`/proc/${child}/cgroup`, 'utf8').trim()).toBe(`0::${rel('procs')}`);
    const of = await Cgroup.of(child);
    expect(of.path).toBe(dir('procs'));
    expect(of.name).toBe(rel('procs'));
    await cg.delete({ kill: true });
  });

  it('stats(): memory, cpu, pids from their files and PSI from *.pressure', async () => {
    const cg = await Cgroup.create('stats', { root, memory: { max: '64M' } });
    const p = children.start('sleep', ['1000']);
    await cg.add(p.pid!);
    const before = flat(file('stats', 'cpu.stat'));
    const psiBefore = readPsi(path.join(dir('stats'), 'cpu.pressure'));
    const s = await cg.stats();
    const psiAfter = readPsi(path.join(dir('stats'), 'cpu.pressure'));
    expect(s.memory.current).toBeGreaterThanOrEqual(0);
    expect(s.cpu.usageUsec).toBeGreaterThanOrEqual(before.usage_usec);
    expect(s.pids.current).toBe(Number(file('stats', 'pids.current')));
    expect(s.pids.max).toBe('max');
    const events = flat(file('stats', 'memory.events'));
    expect(s.memory.events).toMatchObject({ low: events.low, high: events.high, max: events.max, oom: events.oom, oomKill: events.oom_kill });
    // PSI: present when the kernel accounts it (psi=1 or CONFIG_PSI_DEFAULT_DISABLED=n), else absent — never guessed
    if (psiBefore === null) expect(s.pressure).toBeUndefined();
    else {
      // 'total' only grows: the library's read lies between two reads of the file
      expect(s.pressure?.cpu?.some.total).toBeGreaterThanOrEqual(psiBefore);
      expect(s.pressure?.cpu?.some.total).toBeLessThanOrEqual(psiAfter!);
      expect(s.pressure?.memory?.full).not.toBeNull();
      expect(typeof s.pressure?.io?.some.avg10).toBe('number');
    }
    await cg.delete({ kill: true });
  });
});
