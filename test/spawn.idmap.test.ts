// uid/gid ranges of a new user namespace: root writes them; an unprivileged caller goes through
// newuidmap/newgidmap with its /etc/subuid ranges, or gets a clear ERR_PERMISSION.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run, spawn } from '../lib';
import { planIdMaps } from '../lib/spawn/idmap';
import { itIf, itRoot, itRootless } from './helpers/host';
import { statusIds } from './helpers/proc';

const RANGE = [{ inside: 0, outside: 100000, count: 65536 }];

describe('id ranges as root', () => {
  itRoot('0 → 100000 x 65536: the kernel holds the map, the sandbox runs as 100000 outside, root inside', async () => {
    const p = spawn('sh', ['-c', 'id -u; id -g; read x'], { namespaces: ['user'], uidMap: RANGE, gidMap: RANGE, stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    p.stdout!.on('data', (d) => (out += d));
    await new Promise((r) => p.once('spawn', r));
    while (out.split('\n').length < 3) await new Promise((r) => setTimeout(r, 5));
    expect(out.split('\n').slice(0, 2)).toEqual(['0', '0']);
    expect(fs.readFileSync(`/proc/${p.pid}/uid_map`, 'utf8').trim().split(/\s+/)).toEqual(['0', '100000', '65536']);
    expect(fs.readFileSync(`/proc/${p.pid}/gid_map`, 'utf8').trim().split(/\s+/)).toEqual(['0', '100000', '65536']);
    expect(statusIds(p.pid!, 'Uid')).toEqual([100000, 100000, 100000, 100000]);
    p.stdin!.end('\n');
    await p.exited;
  });

  itRoot("files the sandbox's root writes through a bind mount belong to 100000 on the host", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-idmap-'));
    fs.chownSync(dir, 100000, 100000);
    try {
      const r = await run('sh', ['-c', `touch ${dir}/made-inside && stat -c '%u %g' ${dir}/made-inside`], {
        namespaces: ['user', 'mount'],
        uidMap: RANGE,
        gidMap: RANGE,
      });
      expect(r.stdout.trim()).toBe('0 0');
      const st = fs.statSync(path.join(dir, 'made-inside'));
      expect([st.uid, st.gid]).toEqual([100000, 100000]);
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });

  itRoot('user: { uid: 1000 } inside a range runs as 101000 outside', async () => {
    const p = spawn('sleep', ['5'], { namespaces: ['user'], uidMap: RANGE, gidMap: RANGE, user: { uid: 1000, gid: 1000 }, stdio: 'ignore' });
    await new Promise((r) => p.once('spawn', r));
    expect(statusIds(p.pid!, 'Uid')).toEqual([101000, 101000, 101000, 101000]);
    expect(statusIds(p.pid!, 'Gid')).toEqual([101000, 101000, 101000, 101000]);
    p.kill('SIGKILL');
    await p.exited;
  });

  itRoot('0 → 100000 x 65536 with a rootfs owned by host root: root inside owns what the library makes (EOVERFLOW before)', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-idmap-root-'));
    fs.chmodSync(root, 0o755);
    try {
      fs.mkdirSync(path.join(root, 'bin'));
      fs.copyFileSync('/bin/busybox', path.join(root, 'bin/busybox'));
      fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
      for (const a of ['sh', 'id', 'stat', 'touch']) fs.symlinkSync('busybox', path.join(root, 'bin', a));
      const r = await run('/bin/sh', ['-c', 'id -u; stat -c "%u %g" /dev /dev/null /tmp; touch /tmp/x && stat -c "%u" /tmp/x'], {
        namespaces: ['user', 'pid', 'mount'],
        uidMap: RANGE,
        gidMap: RANGE,
        rootfs: root,
        env: { PATH: '/bin' },
      });
      // /dev/null is the host's device, bound in: owned by host root, which is unmapped here
      expect(r.stdout.split('\n').slice(0, 5)).toEqual(['0', '0 0', '65534 65534', '0 0', '0']);
      // the mount points the library made in the host directory belong to host root (it made them)
      expect(fs.statSync(path.join(root, 'proc')).uid).toBe(0);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  itRoot('several ranges at once', async () => {
    const uidMap = [
      { inside: 0, outside: 200000, count: 1000 },
      { inside: 1000, outside: 0, count: 1 },
    ];
    const r = await run('cat', ['/proc/self/uid_map'], { namespaces: ['user'], uidMap, gidMap: RANGE });
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/)),
    ).toEqual([
      ['0', '200000', '1000'],
      ['1000', '0', '1'],
    ]);
  });
});

describe('id ranges: bad input', () => {
  const bad: Array<[string, object, RegExp]> = [
    [
      'overlapping ranges inside',
      {
        uidMap: [
          { inside: 0, outside: 1, count: 10 },
          { inside: 5, outside: 100, count: 1 },
        ],
      },
      /overlap inside/,
    ],
    [
      'overlapping ranges outside',
      {
        uidMap: [
          { inside: 0, outside: 100, count: 10 },
          { inside: 20, outside: 105, count: 1 },
        ],
      },
      /overlap outside/,
    ],
    ['an empty map', { uidMap: [] }, /at least one range/],
    ['a zero count', { uidMap: [{ inside: 0, outside: 0, count: 0 }] }, /count must be between 1/],
    ['an unknown key', { uidMap: [{ inside: 0, outside: 0, count: 1, size: 2 }] }, /unknown option 'size'/],
    ['too many ranges', { uidMap: Array.from({ length: 341 }, (_, i) => ({ inside: i, outside: i, count: 1 })) }, /340/],
    ['a user outside the ranges', { uidMap: RANGE, user: { uid: 70000 } }, /uid 70000 is not mapped/],
  ];
  it.each(bad)('%s', (_label, opts, message) => {
    expect(() => spawn('true', [], { namespaces: ['user'], ...opts })).toThrow(message);
  });
  it('maps without a new user namespace', () => {
    expect(() => spawn('true', [], { uidMap: RANGE })).toThrow(/add 'user' to namespaces/);
  });
});

describe('id ranges for an unprivileged caller', () => {
  it('decides: own ids are written directly, ranges need the setuid helpers', () => {
    const caller = { euid: 1000, egid: 1000 };
    const own = [{ inside: 0, outside: 1000, count: 1 }];
    expect(planIdMaps(own, own, caller, () => null)).toMatchObject({ writer: 'direct', setgroups: 'deny' });
    expect(planIdMaps(RANGE, RANGE, caller, (t) => `/usr/bin/${t}`)).toMatchObject({ writer: 'newidmap' });
    expect(() => planIdMaps(RANGE, RANGE, caller, () => null)).toThrow(
      expect.objectContaining({ code: 'ERR_PERMISSION', message: expect.stringMatching(/newuidmap.*uidmap.*\/etc\/subuid/) }),
    );
    expect(planIdMaps(RANGE, RANGE, { euid: 0, egid: 0 }, () => null)).toMatchObject({ writer: 'direct', setgroups: 'allow' });
  });

  const me = os.userInfo().username;
  const subuid = (file: string): { start: number; count: number } | null => {
    try {
      const line = fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .find((l) => l.startsWith(`${me}:`));
      if (!line) return null;
      const [, start, count] = line.split(':');
      return { start: Number(start), count: Number(count) };
    } catch {
      return null;
    }
  };
  const sub = subuid('/etc/subuid');
  const subg = subuid('/etc/subgid');
  const helpers = fs.existsSync('/usr/bin/newuidmap') && fs.existsSync('/usr/bin/newgidmap');

  if (process.geteuid!() !== 0) {
    itIf(
      helpers && sub !== null && subg !== null,
      'needs newuidmap/newgidmap (package uidmap) and /etc/subuid, /etc/subgid entries for this user',
      'ranges from /etc/subuid through newuidmap/newgidmap',
      async () => {
        const uidMap = [
          { inside: 0, outside: process.geteuid!(), count: 1 },
          { inside: 1, outside: sub!.start, count: 1000 },
        ];
        const gidMap = [
          { inside: 0, outside: process.getegid!(), count: 1 },
          { inside: 1, outside: subg!.start, count: 1000 },
        ];
        const r = await run('sh', ['-c', 'cat /proc/self/uid_map; id -u'], { namespaces: ['user'], uidMap, gidMap });
        expect(r.code).toBe(0);
        const lines = r.stdout.trim().split('\n');
        expect(lines.slice(0, 2).map((l) => l.trim().split(/\s+/))).toEqual([
          ['0', String(process.geteuid!()), '1'],
          ['1', String(sub!.start), '1000'],
        ]);
        expect(lines[2]).toBe('0');
      },
    );
  }

  itRootless('a range that is not ours: ERR_PERMISSION from newuidmap, nothing left behind', async () => {
    const p = spawn('true', [], { namespaces: ['user'], uidMap: [{ inside: 0, outside: 1, count: 1 }], gidMap: [{ inside: 0, outside: 1, count: 1 }] });
    const err = await p.exited.catch((e) => e);
    expect(err).toMatchObject({ code: 'ERR_PERMISSION' });
    expect(err.message).toMatch(helpers ? /\/etc\/subuid/ : /newuidmap/);
  });
});

// The addon writes the maps of a user namespace made at clone right after the clone (spawn.cc);
// a write the kernel refuses comes back as idMapsError, and the child, still waiting for its
// go-ahead, is killed. The oracle is the kernel's own refusal: two lines that map the same id
// inside overlap (user_namespaces(7), EINVAL).
describe('the id maps written by the addon right after clone', () => {
  const { native } = require('../lib/native') as typeof import('../lib/native');
  const { buildPlan } = require('../lib/spawn/plan') as typeof import('../lib/spawn/plan');
  const { resolveSpawn } = require('../lib/spawn/options') as typeof import('../lib/spawn/options');
  const { idMapWriteError } = require('../lib/spawn/idmap') as typeof import('../lib/spawn/idmap');
  const plan = () => buildPlan(resolveSpawn('true', [], { namespaces: ['user'], stdio: 'ignore' })).plan;
  const reaped = (handle: import('../types/native').NativeChildHandle): Promise<void> =>
    new Promise((resolve) => handle.start((...event) => event[0] === 'exit' && resolve()));
  const own = `0 ${process.geteuid!()} 1\n`;
  const ownGid = `0 ${process.getegid!()} 1\n`;
  const deny = process.geteuid!() !== 0;

  it('are in the kernel before the child goes on', async () => {
    const r = native().spawn(plan(), { uidMap: own, gidMap: ownGid, denySetgroups: deny });
    expect(r.idMapsError).toBeUndefined();
    expect(fs.readFileSync(`/proc/${r.pid}/uid_map`, 'utf8').trim().split(/\s+/)).toEqual(own.trim().split(' '));
    expect(fs.readFileSync(`/proc/${r.pid}/gid_map`, 'utf8').trim().split(/\s+/)).toEqual(ownGid.trim().split(' '));
    const done = reaped(r.handle);
    expect(r.handle.release()).toBe(0);
    await done;
  });

  it('a map the kernel refuses: idMapsError names the file and the errno, and the spawn fails with step uid_map', async () => {
    const r = native().spawn(plan(), { uidMap: `${own}0 ${process.geteuid!() + 1} 1\n`, gidMap: ownGid, denySetgroups: deny });
    expect(r.idMapsError).toEqual({ file: 'uid_map', errno: os.constants.errno.EINVAL });
    expect(fs.readFileSync(`/proc/${r.pid}/uid_map`, 'utf8')).toBe(''); // nothing was written
    const done = reaped(r.handle);
    r.handle.kill(os.constants.signals.SIGKILL);
    await done;
    const err = idMapWriteError(r.pid, r.idMapsError!.file, r.idMapsError!.errno);
    expect(err).toMatchObject({ code: 'ERR_SYSTEM', step: 'uid_map', path: `/proc/${r.pid}/uid_map` });
    expect(err.message).toMatch(/writing uid_map of the sandbox's user namespace failed: EINVAL/);
  });

  it('idMaps without a user namespace made at clone is a TypeError, and nothing is cloned', () => {
    const noUser = buildPlan(resolveSpawn('true', [], { stdio: 'ignore' })).plan;
    expect(() => native().spawn(noUser, { uidMap: own, gidMap: ownGid, denySetgroups: false })).toThrow(/idMaps without a user namespace/);
  });
});
