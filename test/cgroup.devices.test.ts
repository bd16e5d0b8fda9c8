// The `devices` limit on this host, the kernel as oracle: on a hybrid host the v1 devices
// controller (devices.list says what is in force; open(2) and mknod(2) of a denied device are
// EPERM), a directory in the devices hierarchy only for a cgroup that asks for it, the v1
// hierarchy rule, and — on the same host's cgroup2 tree, where the kernel runs device programs
// too — the BPF program the v2 backend attaches (test/v2/devices.v2.test.ts runs it through the
// API on a pure v2 kernel).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import { Cgroup, NsgroupsError, run, spawn } from '../lib/index';
import { cgroupCapabilities } from '../lib/cgroup/index';
import { attachDevicePolicy, devicePrograms, readDevicePolicy } from '../lib/cgroup/device-bpf';
import { encodeDeviceProgram } from '../lib/cgroup/device-program';
import { resolveDevices } from '../lib/cgroup/devices';
import { native } from '../lib/native';
import { isRoot, itRootless } from './helpers/host';
import { hierarchiesWith, hostMode, mounts, removeEverywhere, testRoot, unifiedMount } from './helpers/cgroupfs';

const root = testRoot('dev');
const rel = (name: string) => `${root}/${name}`;
const devicesMount = mounts.find((m) => m.version === 1 && m.controllers.includes('devices'))?.mountPoint ?? null;
const list = (name: string) => fs.readFileSync(path.join(devicesMount!, rel(name), 'devices.list'), 'utf8').trim();
const onlyNull = [{ type: 'c' as const, major: 1, minor: 3, access: 'rwm', allow: true }];

afterAll(() => removeEverywhere(root));

/** What the kernel says to the shell opening each device for reading, from inside the cgroup. */
const PROBE = `for d in "$@"; do if out=$( (: < "/dev/$d") 2>&1 ); then echo "$d ok"; else echo "$d $out"; fi; done`;

async function opens(cg: Cgroup, devices: string[], extra: Record<string, unknown> = {}): Promise<Record<string, string>> {
  const r = await run('sh', ['-c', PROBE, 'sh', ...devices], { cgroup: cg, timeout: 20000, ...extra });
  expect(r.code).toBe(0);
  const out: Record<string, string> = {};
  for (const line of r.stdout.trim().split('\n')) out[line.split(' ')[0]] = line.slice(line.indexOf(' ') + 1);
  return out;
}

const v1Root = isRoot && devicesMount !== null;

(v1Root ? describe : () => undefined)('the v1 devices controller (this hybrid host)', () => {
  it('only what the list allows opens: /dev/null does, /dev/zero is EPERM from the kernel, in a sandbox too', async () => {
    const cg = await Cgroup.create('null', { root, devices: onlyNull });
    expect(list('null')).toBe('c 1:3 rwm');
    expect(await opens(cg, ['null', 'zero'])).toEqual({ null: 'ok', zero: expect.stringMatching(/Operation not permitted/) });
    // the same inside a sandbox (user, pid and mount namespaces) spawned into the cgroup
    const inside = await opens(cg, ['null', 'zero', 'full'], { namespaces: ['user', 'pid', 'mount'] });
    expect(inside).toEqual({ null: 'ok', zero: expect.stringMatching(/Operation not permitted/), full: expect.stringMatching(/Operation not permitted/) });
    await cg.delete();
  });

  it('mknod of a denied device is EPERM; of an allowed one it works', async () => {
    const cg = await Cgroup.create('mknod', { root, devices: [{ type: 'c', major: 1, minor: 3, access: 'm', allow: true }] });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-mknod-'));
    try {
      const r = await run('sh', ['-c', `mknod ${dir}/null c 1 3 && echo null-made; mknod ${dir}/zero c 1 5 2>&1; (: < ${dir}/null) 2>&1`], { cgroup: cg });
      expect(r.stdout).toMatch(/null-made/);
      expect(r.stdout).toMatch(/zero.*Operation not permitted/);
      expect(r.stdout).toMatch(/null.*Operation not permitted/); // 'm' alone does not let it open the node it made
      expect(fs.existsSync(path.join(dir, 'zero'))).toBe(false);
      expect(fs.statSync(path.join(dir, 'null')).isCharacterDevice()).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      await cg.delete();
    }
  });

  it('limits() is what devices.list says; Cgroup.open() reads the same', async () => {
    const cg = await Cgroup.create('list', {
      root,
      devices: [...Cgroup.BASIC_DEVICES, { type: 'b', major: 7, access: 'r', allow: true }, { type: 'c', major: 5, minor: 0, access: 'w', allow: false }],
    });
    const kernel = list('list').split('\n').sort();
    expect(kernel).toEqual(['b 7:* r', 'c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm', 'c 136:* rwm', 'c 5:0 rm', 'c 5:2 rwm'].sort());
    const fromKernel = kernel.map((l) => {
      const [type, nums, access] = l.split(' ');
      const [major, minor] = nums.split(':').map((n) => (n === '*' ? '*' : Number(n)));
      return { type, major, minor, access, allow: true };
    });
    const byKey = (a: { type: string; major: unknown; minor: unknown }) => `${a.type} ${a.major}:${a.minor}`;
    const sorted = (l: Array<{ type: string; major: unknown; minor: unknown }>) => [...l].sort((a, b) => byKey(a).localeCompare(byKey(b)));
    expect(sorted((await cg.limits()).devices!)).toEqual(sorted(fromKernel));
    expect(sorted((await Cgroup.open('list', { root }).limits()).devices!)).toEqual(sorted(fromKernel));
    // Cgroup.of() a process in it finds its devices directory too (and no devices root for others)
    const p = spawn('sleep', ['30'], { cgroup: cg, stdio: 'ignore' });
    await once(p, 'spawn');
    const of = Cgroup.of(p.pid!);
    expect((of.path as Record<string, string>).devices).toBe(path.join(devicesMount!, rel('list')));
    expect(sorted((await of.limits()).devices!)).toEqual(sorted(fromKernel));
    expect((Cgroup.self().path as Record<string, string>).devices).toBeUndefined();
    p.kill('SIGKILL');
    await p.exited;
    await cg.delete();
  });

  it('set() grants first, then takes away; an allow-all policy keeps its denies where limits() finds them', async () => {
    const cg = await Cgroup.create('set', { root, devices: onlyNull });
    await cg.set({
      devices: [
        { type: 'c', major: 1, minor: 3, access: 'r', allow: true },
        { type: 'c', major: 1, minor: 5, allow: true },
      ],
    });
    expect(list('set').split('\n').sort()).toEqual(['c 1:3 r', 'c 1:5 rwm']);
    expect(await opens(cg, ['null', 'zero'])).toEqual({ null: 'ok', zero: 'ok' });
    // allow all but writing /dev/zero and block devices
    await cg.set({
      devices: [
        { type: 'a', allow: true },
        { type: 'c', major: 1, minor: 5, access: 'w', allow: false },
        { type: 'b', allow: false },
      ],
    });
    expect(list('set')).toBe('a *:* rwm'); // devices.list does not show the denies of an allow-all cgroup
    const w = await run('sh', ['-c', ': < /dev/zero && echo read-ok; (echo x > /dev/zero) 2>&1 || true'], { cgroup: cg });
    expect(w.stdout).toMatch(/read-ok/);
    expect(w.stdout).toMatch(/Operation not permitted/);
    expect((await cg.limits()).devices).toEqual([
      { type: 'a', major: '*', minor: '*', access: 'rwm', allow: true },
      { type: 'b', major: '*', minor: '*', access: 'rwm', allow: false },
      { type: 'c', major: 1, minor: 5, access: 'w', allow: false },
    ]);
    await cg.set({ devices: onlyNull });
    expect(list('set')).toBe('c 1:3 rwm');
    await cg.delete();
  });

  it('a cgroup cannot allow more than its parent (ERR_PERMISSION naming it, nothing left); a child without devices is under it too', async () => {
    const parent = await Cgroup.create('parent', { root, devices: onlyNull });
    const err = await Cgroup.create('parent/child', { root, devices: [{ type: 'c', major: 1, minor: 5, allow: true }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NsgroupsError);
    expect(err).toMatchObject({ code: 'ERR_PERMISSION', message: expect.stringMatching(/parent cgroup .*parent does not allow 'c 1:5 rwm'.*c 1:3 rwm/) });
    expect(hierarchiesWith(rel('parent/child'))).toEqual([]);
    const child = await Cgroup.create('parent/child', { root, devices: [{ type: 'c', major: 1, minor: 3, access: 'r', allow: true }] });
    expect(list('parent/child')).toBe('c 1:3 r');
    // a change between deny-all and allow-all needs a cgroup without children (devices.rst)
    await expect(parent.set({ devices: [{ type: 'a', allow: true }] })).rejects.toMatchObject({
      code: 'ERR_BUSY',
      message: expect.stringMatching(/child cgroups/),
    });
    expect(list('parent')).toBe('c 1:3 rwm'); // put back as it was
    // a child made without devices still sits under its parent's policy (not in the hierarchy's root)
    const plain = await Cgroup.create('parent/plain', { root, pids: { max: 10 } });
    expect(list('parent/plain')).toBe('c 1:3 rwm');
    expect(await opens(plain, ['null', 'zero'])).toEqual({ null: 'ok', zero: expect.stringMatching(/Operation not permitted/) });
    await plain.delete();
    await child.delete();
    await parent.delete();
  });

  it('a cgroup gets a directory in the devices hierarchy only when it asks for one', async () => {
    const plain = await Cgroup.create('plain', { root, pids: { max: 10 } });
    expect(fs.existsSync(path.join(devicesMount!, rel('plain')))).toBe(false);
    expect((await plain.limits()).devices).toBeUndefined();
    await expect(plain.set({ devices: onlyNull })).rejects.toMatchObject({
      code: 'ERR_UNSUPPORTED',
      message: expect.stringMatching(/controllers: \['devices'\]/),
    });
    const asked = await Cgroup.create('asked', { root, controllers: ['pids', 'devices'] });
    expect(list('asked')).toBe('a *:* rwm'); // inherited from the base: allow all
    expect((asked.path as Record<string, string>).devices).toBe(path.join(devicesMount!, rel('asked')));
    await plain.delete();
    await asked.delete();
    expect(hierarchiesWith(rel('asked'))).toEqual([]);
  });

  it('capabilities() reports device policies through the v1 controller', async () => {
    expect((await cgroupCapabilities()).devices).toEqual({ supported: true, reason: expect.stringMatching(/v1 devices controller/) });
  });
});

itRootless('rootless: a device policy is ERR_PERMISSION naming CAP_SYS_ADMIN, before anything is made', async () => {
  const err = await Cgroup.create(`nsgroups-rootless-dev-${process.pid}`, { devices: onlyNull }).catch((e: unknown) => e);
  expect(err).toMatchObject({ code: 'ERR_PERMISSION', message: expect.stringMatching(/CAP_SYS_ADMIN/) });
  expect((await cgroupCapabilities()).devices.supported).toBe(false);
  for (const m of mounts) expect(fs.existsSync(path.join(m.mountPoint, 'nsgroups', `nsgroups-rootless-dev-${process.pid}`))).toBe(false);
});

// The device program on this host's cgroup2 tree: the kernel runs those on hybrid hosts too
// (security/device_cgroup.c runs the BPF programs, then the v1 controller).
const unified = unifiedMount();
(isRoot && unified !== null && hostMode === 'hybrid' ? describe : () => undefined)(
  'the device program on the cgroup2 tree (what the v2 backend attaches)',
  () => {
    it('is enforced, replaced in place, and read back from the kernel', () => {
      const dir = path.join(unified!, `nsgroups-test-devbpf-${process.pid}`);
      fs.mkdirSync(dir);
      const probe = (devices: string[]) =>
        spawnSync('sh', ['-c', `echo $$ > ${dir}/cgroup.procs && ${PROBE}`, 'sh', ...devices], { encoding: 'utf8' })
          .stdout.trim()
          .split('\n');
      try {
        const first = resolveDevices(onlyNull, 'devices');
        attachDevicePolicy(dir, first);
        const [id] = devicePrograms(dir);
        expect(devicePrograms(dir)).toHaveLength(1);
        expect(probe(['null', 'zero'])).toEqual(['null ok', expect.stringMatching(/^zero .*Operation not permitted/)]);
        expect(readDevicePolicy(dir)).toEqual(first);
        // what the kernel holds is exactly the program we built
        const fd = native().bpfProgGetFdById(id);
        const info = native().bpfProgInfo(fd);
        fs.closeSync(fd);
        expect(info).toMatchObject({ name: 'nsgroups_dev', type: native().bpfConstants.BPF_PROG_TYPE_CGROUP_DEVICE });
        expect(info.insns?.equals(encodeDeviceProgram(first))).toBe(true);

        const second = resolveDevices([{ allow: true }, { type: 'c', major: 1, minor: 3, allow: false }], 'devices');
        attachDevicePolicy(dir, second);
        const after = devicePrograms(dir);
        expect(after).toHaveLength(1); // replaced, not added
        expect(after[0]).not.toBe(id);
        expect(probe(['null', 'zero'])).toEqual([expect.stringMatching(/^null .*Operation not permitted/), 'zero ok']);
        expect(readDevicePolicy(dir)).toEqual(second);
      } finally {
        for (let i = 0; i < 100; i++) {
          try {
            fs.rmdirSync(dir); // its program goes with it
            break;
          } catch {
            Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
          }
        }
      }
    });
  },
);
