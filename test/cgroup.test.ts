// Cgroup.create / set / limits / delete on this host, with cgroupfs as the oracle: every limit
// lands in the kernel's own file (v1 here: limits go through v1 on a hybrid host), every bad input
// is refused before anything exists, and delete leaves no directory in any hierarchy.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Cgroup, NsgroupsError } from '../lib/index';
import { isRoot, itRootless } from './helpers/host';
import { cgRead, hierarchiesWith, hostMode, mountOf, mounts, removeEverywhere, testRoot, unifiedMount } from './helpers/cgroupfs';

const root = testRoot('cg');
const rel = (name: string) => `${root}/${name}`;
const v1 = hostMode !== 'v2';

afterAll(() => removeEverywhere(root));

async function refused(code: string, fn: () => unknown): Promise<NsgroupsError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(NsgroupsError);
    expect((err as NsgroupsError).code).toBe(code);
    return err as NsgroupsError;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

describe('bad input is refused before anything is created', () => {
  const bad: Array<[string, string, Record<string, unknown>, RegExp]> = [
    ['an unknown key, with a suggestion', 'k1', { memroy: { max: '1G' } }, /did you mean 'memory'/],
    ['an unknown memory key', 'k2', { memory: { limit: '1G' } }, /use 'max'/],
    ['a size with an unknown unit', 'k3', { memory: { max: '12Q' } }, /'512K', '256M', '2G'/],
    ['a negative size', 'k4', { memory: { max: -1 } }, /memory\.max/],
    ['a fractional byte count', 'k5', { memory: { swapMax: 1.5 } }, /whole number of bytes/],
    ['cpu.max of zero', 'k6', { cpu: { max: 0 } }, /at least 0\.001 CPUs/],
    ['cpu.max as a string', 'k7', { cpu: { max: '50%' } }, /finite number/],
    ['cpu.weight out of range', 'k8', { cpu: { weight: 10001 } }, /between 1 and 10000/],
    ['a fractional pids.max', 'k9', { pids: { max: 2.5 } }, /integer/],
    ['pids.max as a word', 'k10', { pids: { max: 'lots' } }, /whole number or 'max'/],
    ['a cpuset list with garbage', 'k11', { cpuset: { cpus: '0-a' } }, /list like '0', '0-3'/],
    ['a CPU this host does not have', 'k12', { cpuset: { cpus: '4095' } }, /does not have online/],
    ['io.max on a device that is not one', 'k13', { io: { max: { '/etc/passwd': { wbps: '1M' } } } }, /not a block device/],
    ['io.max that sets nothing', 'k14', { io: { max: { '1:0': {} } } }, /sets nothing/],
    ['an unknown controller', 'k15', { controllers: ['memory', 'bogus'] }, /must be one of/],
    ['a base root with traversal', 'k16', { root: '/a/../..' }, /'\.' or '\.\.'/],
  ];
  for (const [what, name, options, message] of bad) {
    it(`${what} → ERR_INVALID_ARG`, async () => {
      const err = await refused('ERR_INVALID_ARG', () => Cgroup.create(name, { root, ...options } as never));
      expect(err.message).toMatch(message);
      expect(hierarchiesWith(root)).toEqual([]);
    });
  }

  const badNames: Array<[string, unknown, RegExp]> = [
    ['an empty name', '', /must not be empty/],
    ['an absolute name', '/etc', /relative to the cgroup base/],
    ['path traversal', 'a/../../x', /'\.' or '\.\.'/],
    ['an empty segment', 'a//b', /empty path segment/],
    ['a NUL byte', 'a\0b', /NUL/],
    ['a newline', 'a\nb', /control characters/],
    ['an interface file name', 'memory.max', /interface file/],
    ['a non-string', 42, /must be a string/],
  ];
  for (const [what, name, message] of badNames) {
    it(`${what} as a name → ERR_INVALID_ARG`, async () => {
      const err = await refused('ERR_INVALID_ARG', () => Cgroup.create(name as string, { root }));
      expect(err.message).toMatch(message);
      expect(hierarchiesWith(root)).toEqual([]);
    });
  }

  it('options that are not an object, and bad delete/events options', async () => {
    await refused('ERR_INVALID_ARG', () => Cgroup.create('x', 'big' as never));
    await refused('ERR_INVALID_ARG', () => Cgroup.of(-1));
    await refused('ERR_INVALID_ARG', () => Cgroup.of(1.5));
    await refused('ERR_INVALID_ARG', () => Cgroup.open('../up', { root }));
    expect(hierarchiesWith(root)).toEqual([]);
  });
});

itRootless('rootless without delegation: ERR_PERMISSION that shows the Delegate= drop-in, and nothing created', async () => {
  const err = await refused('ERR_PERMISSION', () => Cgroup.create(`nsgroups-rootless-${process.pid}`, { pids: { max: 10 } }));
  expect(err.message).toMatch(/Delegate=/);
  expect(err.message).toMatch(/user@\.service\.d/);
  if (v1) expect(err.message).toMatch(/NSGROUPS_CGROUP_ROOT=/);
  // the kernel agrees: the top of every hierarchy is not ours to write
  for (const m of mounts) {
    expect(() => fs.accessSync(path.join(m.mountPoint, 'cgroup.procs'), fs.constants.W_OK)).toThrow();
    expect(fs.existsSync(path.join(m.mountPoint, 'nsgroups', `nsgroups-rootless-${process.pid}`))).toBe(false);
  }
});

// on this hybrid host; a v2 host runs test/v2/cgroup.v2.test.ts instead (deselected, not skipped)
(isRoot && v1 ? describe : () => undefined)('limits in one vocabulary, written to v1 files', () => {
  it('create() translates every limit to its v1 file and limits() reads them back', async () => {
    const limits = {
      root,
      memory: { max: '256M', swapMax: '64M' },
      cpu: { max: 0.5, weight: 200 },
      pids: { max: 64 },
      cpuset: { cpus: '0', mems: '0' },
    };
    // io.weight is host-dependent: on v1 it needs blkio.bfq.weight (or the old CFQ blkio.weight),
    // which exists only with the bfq I/O scheduler (CONFIG_BFQ_GROUP_IOSCHED). Both outcomes are
    // checked: the weight in the kernel's file, or ERR_UNSUPPORTED with nothing left behind and
    // no such file in a blkio cgroup of ours.
    const r = rel('all');
    let cg: Cgroup;
    let ioWeight: 'translated' | 'refused';
    try {
      cg = await Cgroup.create('all', { ...limits, io: { weight: 300 } });
      ioWeight = 'translated';
    } catch (err) {
      expect(err).toBeInstanceOf(NsgroupsError);
      expect((err as NsgroupsError).code).toBe('ERR_UNSUPPORTED');
      expect((err as NsgroupsError).message).toMatch(/blkio\.bfq\.weight/);
      expect(hierarchiesWith(r)).toEqual([]);
      cg = await Cgroup.create('all', limits);
      ioWeight = 'refused';
    }
    const weightFile = ['blkio.bfq.weight', 'blkio.weight'].find((f) => fs.existsSync(path.join(mountOf('blkio'), r, f)));
    // eslint-disable-next-line no-console
    console.log(`io.weight on this host: ${ioWeight === 'translated' ? `translated to ${weightFile}` : 'ERR_UNSUPPORTED (blkio has no bfq weight file)'}`);
    if (ioWeight === 'translated') expect(cgRead('blkio', r, weightFile!)).toBe('300');
    else expect(weightFile).toBeUndefined();
    expect(cg.version).toBe(1);
    expect(cg.name).toBe('all');
    expect(cgRead('memory', r, 'memory.limit_in_bytes')).toBe(String(256 * 1024 ** 2));
    expect(cgRead('memory', r, 'memory.memsw.limit_in_bytes')).toBe(String(320 * 1024 ** 2)); // max + swapMax
    expect(cgRead('cpu', r, 'cpu.cfs_period_us')).toBe('100000');
    expect(cgRead('cpu', r, 'cpu.cfs_quota_us')).toBe('50000');
    expect(cgRead('cpu', r, 'cpu.shares')).toBe('2048'); // weight 200 = 2 × the default 1024
    expect(cgRead('pids', r, 'pids.max')).toBe('64');
    expect(cgRead('cpuset', r, 'cpuset.cpus')).toBe('0');
    expect(cgRead('cpuset', r, 'cpuset.mems')).toBe('0');
    expect(await cg.limits()).toEqual({
      memory: { max: 256 * 1024 ** 2, swapMax: 64 * 1024 ** 2 },
      cpu: { max: 0.5, weight: 200 },
      pids: { max: 64 },
      cpuset: { cpus: '0', mems: '0' },
      ...(ioWeight === 'translated' ? { io: { weight: 300, max: {} } } : {}),
    });
    // one directory per hierarchy its limits and stats need (blkio only for io, freezer only on a
    // host without cgroup2, where freeze() has nothing else), plus the unified one for tracking
    const paths = cg.path as Record<string, string>;
    const expected = ['memory', 'cpu', 'cpuacct', 'pids', 'cpuset', ...(ioWeight === 'translated' ? ['blkio'] : []), ...(unifiedMount() ? [] : ['freezer'])];
    for (const c of expected) {
      expect(paths[c]).toBe(path.join(mountOf(c), r));
      expect(fs.statSync(paths[c]).isDirectory()).toBe(true);
    }
    for (const c of ['blkio', 'freezer', 'devices', 'net_cls', 'perf_event'].filter((c) => !expected.includes(c))) expect(paths[c]).toBeUndefined();
    if (unifiedMount()) expect(paths.unified).toBe(path.join(unifiedMount()!, r));
    // for spawn({ cgroup }): CLONE_INTO_CGROUP into the cgroup2 directory, and every v1 cgroup.procs
    const placement = cg._placement();
    expect(placement.v2Dir).toBe(unifiedMount() ? path.join(unifiedMount()!, r) : null);
    expect(placement.v1ProcsFiles.sort()).toEqual(
      mounts
        .filter((m) => m.version === 1 && fs.existsSync(path.join(m.mountPoint, r)))
        .map((m) => path.join(m.mountPoint, r, 'cgroup.procs'))
        .sort(),
    );
    await cg.delete();
    expect(hierarchiesWith(r)).toEqual([]);
  });

  it('set() changes limits in force, keeping memsw >= limit whichever way it moves', async () => {
    const cg = await Cgroup.create('set', { root, memory: { max: '100M', swapMax: 0 }, pids: { max: 10 } });
    const r = rel('set');
    await cg.set({ memory: { max: '1G' } }); // above the old memsw: memsw must be raised first
    expect(cgRead('memory', r, 'memory.limit_in_bytes')).toBe(String(1024 ** 3));
    expect(cgRead('memory', r, 'memory.memsw.limit_in_bytes')).toBe(String(1024 ** 3)); // swapMax 0 is kept
    await cg.set({ memory: { max: '50M', swapMax: '10M' } }); // below: limit first
    expect(cgRead('memory', r, 'memory.limit_in_bytes')).toBe(String(50 * 1024 ** 2));
    expect(cgRead('memory', r, 'memory.memsw.limit_in_bytes')).toBe(String(60 * 1024 ** 2));
    await cg.set({ memory: { max: 'max', swapMax: 'max' }, pids: { max: 'max' }, cpu: { max: 'max' } });
    expect((await cg.limits()).memory).toEqual({ max: 'max', swapMax: 'max' });
    expect(cgRead('pids', r, 'pids.max')).toBe('max');
    expect(cgRead('cpu', r, 'cpu.cfs_quota_us')).toBe('-1');
    // units are powers of 1024, as memparse reads them; plain numbers are bytes
    for (const [value, bytes] of [
      ['512K', 512 * 1024],
      ['1.5G', 1.5 * 1024 ** 3],
      ['2g', 2 * 1024 ** 3],
      [64 * 1024 ** 2, 64 * 1024 ** 2],
    ] as const) {
      await cg.set({ memory: { max: value } });
      expect(cgRead('memory', r, 'memory.limit_in_bytes')).toBe(String(bytes));
    }
    await cg.set({ cpu: { max: 0.005 } }); // under 1 ms per 100 ms: the period grows to 1 s
    expect(cgRead('cpu', r, 'cpu.cfs_period_us')).toBe('1000000');
    expect(cgRead('cpu', r, 'cpu.cfs_quota_us')).toBe('5000');
    await cg.delete();
  });

  it('io.max goes to the blkio.throttle files of the device', async () => {
    const dev = fs.readdirSync('/sys/block').map((b) => fs.readFileSync(`/sys/block/${b}/dev`, 'utf8').trim())[0];
    const cg = await Cgroup.create('io', { root, io: { max: { [dev]: { wbps: '1M', riops: 100 } } } });
    expect(cgRead('blkio', rel('io'), 'blkio.throttle.write_bps_device')).toBe(`${dev} 1048576`);
    expect(cgRead('blkio', rel('io'), 'blkio.throttle.read_iops_device')).toBe(`${dev} 100`);
    expect((await cg.limits()).io?.max[dev]).toEqual({ rbps: 'max', wbps: 1048576, riops: 100, wiops: 'max' });
    await cg.set({ io: { max: { [dev]: { wbps: 'max' } } } });
    expect(cgRead('blkio', rel('io'), 'blkio.throttle.write_bps_device')).toBe('');
    await cg.delete();
  });

  it('what v1 cannot honour is ERR_UNSUPPORTED naming it, with nothing created', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ memory: { high: '1G' } }, /memory\.high/],
      [{ memory: { low: '1G' } }, /memory\.low/],
      [{ memory: { swapMax: '1G' } }, /memory\.swapMax needs memory\.max/],
      [{ io: { weight: 5000 } }, /blkio\.bfq\.weight accepts 1\.\.1000/],
    ];
    for (const [options, message] of cases) {
      const err = await refused('ERR_UNSUPPORTED', () => Cgroup.create('unsup', { root, ...options } as never));
      expect(err.message).toMatch(message);
      expect(hierarchiesWith(rel('unsup'))).toEqual([]);
    }
  });

  it('a value the kernel refuses after mkdir leaves nothing behind either', async () => {
    // pids.max takes at most PID_MAX_LIMIT (4194304): the kernel says EINVAL after the directories exist
    const fresh = `${root}/fresh`; // a base that does not exist yet: create() makes it, then must undo it
    const err = await refused('ERR_INVALID_ARG', () => Cgroup.create('deep/a/b', { root: fresh, pids: { max: 2 ** 40 } }));
    expect(err.message).toMatch(/pids\.max/);
    expect(hierarchiesWith(fresh)).toEqual([]);
  });

  it('an existing name is ERR_BUSY and the existing cgroup is untouched', async () => {
    const cg = await Cgroup.create('twice', { root, pids: { max: 7 } });
    await refused('ERR_BUSY', () => Cgroup.create('twice', { root, pids: { max: 8 } }));
    expect(cgRead('pids', rel('twice'), 'pids.max')).toBe('7');
    const again = await Cgroup.open('twice', { root });
    expect(again.path).toEqual(cg.path);
    await refused('ERR_NOT_FOUND', () => Cgroup.open('never-made', { root }));
    await cg.delete();
    expect(hierarchiesWith(rel('twice'))).toEqual([]);
  });

  it('the default base is /nsgroups at the top of each hierarchy, NSGROUPS_CGROUP_ROOT moves it', async () => {
    const name = `nsgroups-default-${process.pid}`;
    const hadBase = hierarchiesWith('/nsgroups');
    const cg = await Cgroup.create(name, { controllers: ['pids'] });
    try {
      expect((cg.path as Record<string, string>).pids).toBe(path.join(mountOf('pids'), 'nsgroups', name));
      expect(fs.existsSync(path.join(mountOf('pids'), 'nsgroups', name))).toBe(true);
    } finally {
      await cg.delete();
      for (const mp of hierarchiesWith('/nsgroups')) {
        if (!hadBase.includes(mp)) fs.rmdirSync(path.join(mp, 'nsgroups'));
      }
    }
    process.env.NSGROUPS_CGROUP_ROOT = `${root}/env`;
    try {
      const viaEnv = await Cgroup.create('e', { controllers: ['pids'] });
      expect((viaEnv.path as Record<string, string>).pids).toBe(path.join(mountOf('pids'), root, 'env', 'e'));
      await viaEnv.delete();
    } finally {
      delete process.env.NSGROUPS_CGROUP_ROOT;
    }
  });

  it('delete() removes children first and leaves no directory in any hierarchy; asyncDispose deletes', async () => {
    const parent = await Cgroup.create('tree', { root, memory: { max: '64M' } });
    await Cgroup.create('tree/a/b', { root });
    await Cgroup.create('tree/c', { root });
    // memory, cpu/cpuacct, pids (and the unified directory): what stats() reads
    expect(hierarchiesWith(rel('tree/a/b')).length).toBeGreaterThanOrEqual(3);
    await parent.delete();
    expect(hierarchiesWith(rel('tree'))).toEqual([]);
    {
      await using scoped = await Cgroup.create('scoped', { root, pids: { max: 3 } });
      expect(hierarchiesWith(rel('scoped')).length).toBeGreaterThan(0);
      void scoped;
    }
    expect(hierarchiesWith(rel('scoped'))).toEqual([]);
  });
});
