// netCls and netPrio: cgroup v1's net_cls.classid and net_prio.ifpriomap (cgroup-v1/net_cls.rst,
// net_prio.rst). This host has neither mounted: there the options are ERR_UNSUPPORTED with the
// way to get them; and in a helper process with a mount namespace of its own, a private mount of
// the two co-mounted hierarchies shows the library writing the kernel's files.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Cgroup } from '../lib/index';
import { cgroupCapabilities } from '../lib/cgroup/index';
import { isRoot } from './helpers/host';
import { hierarchiesWith, hostMode, mounts, removeEverywhere, testRoot } from './helpers/cgroupfs';

const root = testRoot('net');
afterAll(() => removeEverywhere(root));

const netClsMount = mounts.find((m) => m.version === 1 && m.controllers.includes('net_cls'))?.mountPoint ?? null;

describe('bad input is ERR_INVALID_ARG', () => {
  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['a classid above 32 bits', { netCls: { classid: 2 ** 32 } }, /classid .* between 0 and 4294967295/],
    ['a negative classid', { netCls: { classid: -1 } }, /classid/],
    ['a classid as tc notation', { netCls: { classid: '10:1' } }, /must be an integer/],
    ['an unknown netCls key', { netCls: { id: 1 } }, /unknown option 'id'/],
    ['an interface name with a slash', { netPrio: { ifpriomap: { 'a/b': 1 } } }, /not an interface name/],
    ['an interface name of 16 bytes', { netPrio: { ifpriomap: { abcdefghijklmnop: 1 } } }, /not an interface name/],
    ['a fractional priority', { netPrio: { ifpriomap: { lo: 1.5 } } }, /must be an integer/],
    ['netPrio without ifpriomap but another key', { netPrio: { prioidx: 1 } }, /unknown option 'prioidx'/],
  ];
  for (const [what, options, message] of bad) {
    it(what, async () => {
      await expect(Cgroup.create('bad', { root, ...options } as never)).rejects.toMatchObject({
        code: 'ERR_INVALID_ARG',
        message: expect.stringMatching(message),
      });
      expect(hierarchiesWith(root)).toEqual([]);
    });
  }
});

(hostMode === 'hybrid' || hostMode === 'v1' ? describe : () => undefined)('on this host', () => {
  it(`netCls / netPrio: ${netClsMount ? 'net_cls is mounted: it works' : 'net_cls is not mounted: ERR_UNSUPPORTED saying how to get it'}`, async () => {
    const caps = await cgroupCapabilities();
    if (!netClsMount) {
      for (const options of [{ netCls: { classid: 0x100001 } }, { netPrio: { ifpriomap: { lo: 1 } } }]) {
        const err = await Cgroup.create('unmounted', { root, ...options }).catch((e: unknown) => e);
        expect(err).toMatchObject({
          code: 'ERR_UNSUPPORTED',
          message: expect.stringMatching(/not mounted as a cgroup v1 hierarchy.*mount -t cgroup -o net_cls,net_prio.*socket cgroupv2/),
        });
      }
      expect(hierarchiesWith(root)).toEqual([]);
      expect(caps.netCls).toMatchObject({ supported: false, reason: expect.stringMatching(/not mounted/) });
      return;
    }
    if (!isRoot) return; // mounted, but creating cgroups needs root here (test/cgroup.test.ts)
    const cg = await Cgroup.create('mounted', { root, netCls: { classid: 0x100001 } });
    expect(fs.readFileSync(path.join(netClsMount, root, 'mounted', 'net_cls.classid'), 'utf8').trim()).toBe(String(0x100001));
    expect(caps.netCls.supported).toBe(true);
    await cg.delete();
  });
});

// A v1 hierarchy with net_cls,net_prio exists while the helper's mount namespace holds it (the
// kernel destroys it once unmounted and empty: the fixture waits for that and checks it); no
// mount of this host's namespace is touched.
(isRoot && hostMode === 'hybrid' && !netClsMount ? describe : () => undefined)('net_cls and net_prio co-mounted (a private mount)', () => {
  it('classid and ifpriomap land in the kernel files of the shared directory, limits() reads them, set() changes them', () => {
    const fixture = path.join(__dirname, 'fixtures', 'net-cls-prio.js');
    const out = JSON.parse(
      execFileSync('unshare', ['--mount', '--propagation', 'private', process.execPath, fixture, root], { encoding: 'utf8', timeout: 20000 }),
    );
    const dir = path.join(out.mountPoint, root, 'net');
    // one directory serves both controllers (co-mounted)
    expect(out.paths.net_cls).toBe(dir);
    expect(out.paths.net_prio).toBe(dir);
    expect(out.created.classid).toBe(String(0x100001));
    expect(out.created.ifpriomap).toMatch(/^lo 5$/m);
    expect(out.limits.netCls).toEqual({ classid: 0x100001 });
    expect(out.limits.netPrio.ifpriomap).toMatchObject({ lo: 5 });
    expect(out.afterSet.classid).toBe(String(0x20003));
    expect(out.unknownInterface).toMatchObject({ code: 'ERR_NOT_FOUND', message: expect.stringMatching(/no interface 'nsg-none0'/) });
    expect(out.afterFailedSet.ifpriomap).toMatch(/^lo 5$/m);
    // the process was in it: /proc/self/cgroup has the net_cls,net_prio line with its path
    expect(out.procCgroup).toMatch(new RegExp(`^\\d+:net_cls,net_prio:${root}/net$`, 'm'));
    expect(out.leftBehind).toBe(false);
    expect(fs.existsSync(out.mountPoint)).toBe(false);
    // and the kernel let the hierarchy go: net_cls is bound to no v1 hierarchy again (/proc/cgroups)
    expect(out.boundBefore).toBe(0);
    expect(out.hierarchyGone).toBe(true);
  });
});
