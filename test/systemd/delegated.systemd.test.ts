// A plain user on a systemd host (the lingering user 'v2vm' in a login session of the guest):
// cgroups from its own user manager, with no root step — a transient scope with Delegate=yes
// (lib/cgroup/scope.ts), in a named slice with limits systemd sets on the scope, and what
// `nsgroups doctor` says about it.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Cgroup } from '../../lib/cgroup/cgroup';
import { run } from '../../lib/spawn/index';
import { cgroupOf, scopeDirOf, unitProperties } from './helpers';

const uid = process.geteuid!();
const read = (file: string) => fs.readFileSync(file, 'utf8').trim();
const cli = path.join(__dirname, '..', '..', 'dist', 'cli.cjs');

describe('a plain user on a systemd host', () => {
  it('runs in a login session, whose cgroup is not its own to write', () => {
    expect(uid).not.toBe(0);
    const own = cgroupOf(process.pid);
    expect(own).toMatch(new RegExp(`^/user.slice/user-${uid}.slice/session-\\w+\\.scope$`));
    expect(fs.statSync(`/sys/fs/cgroup${own}`).uid).toBe(0);
  });

  it('gets a delegated cgroup from its user manager, without any root step', async () => {
    await using cg = await Cgroup.create('deleg', { memory: { max: '128M' }, pids: { max: 32 } });
    expect(cg.driver).toBe('systemd');
    const dir = cg.path as string;
    const scope = scopeDirOf(dir, cg.unit!);
    expect(scope).toBe(`/sys/fs/cgroup/user.slice/user-${uid}.slice/user@${uid}.service/app.slice/${cg.unit}`);
    expect(dir).toBe(`${scope}/nsgroups/deleg`);
    // systemd's word: a transient scope with Delegate=yes, running, collected even if it fails
    expect(unitProperties(cg.unit!, ['Delegate', 'ActiveState', 'Transient', 'CollectMode'])).toEqual({
      Delegate: 'yes',
      ActiveState: 'active',
      Transient: 'yes',
      CollectMode: 'inactive-or-failed',
    });
    // the kernel's: the scope is this user's, with what user@.service delegates; the limits are set
    expect(fs.statSync(scope).uid).toBe(uid);
    expect(read(`${scope}/cgroup.controllers`).split(' ')).toEqual(expect.arrayContaining(['memory', 'pids']));
    expect(read(`${dir}/memory.max`)).toBe(String(128 << 20));
    expect(read(`${dir}/pids.max`)).toBe('32');
    // the holder keeps the scope alive from a leaf of its own: the scope has no process itself
    expect(read(`${scope}/cgroup.procs`)).toBe('');
    expect(read(`${scope}/holder/cgroup.procs`)).toMatch(/^\d+$/);
    // a sandbox runs in it: systemd moved it there (this process sits outside the scope's subtree)
    const r = await run('cat', ['/proc/self/cgroup'], { cgroup: cg, namespaces: ['user', 'pid'] });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`0::${dir.slice('/sys/fs/cgroup'.length)}`);
  });

  it('puts the scope in a named slice, with limits systemd sets on the scope itself', async () => {
    await using cg = await Cgroup.create('sliced', {
      slice: 'nsgroupslane.slice',
      scopeLimits: { memory: { max: '256M' }, pids: { max: 64 }, cpu: { max: 0.3 } },
      memory: { max: '64M' },
    });
    const scope = scopeDirOf(cg.path as string, cg.unit!);
    expect(scope).toBe(`/sys/fs/cgroup/user.slice/user-${uid}.slice/user@${uid}.service/nsgroupslane.slice/${cg.unit}`);
    expect(unitProperties(cg.unit!, ['Slice', 'MemoryMax', 'TasksMax', 'CPUQuotaPerSecUSec'])).toEqual({
      Slice: 'nsgroupslane.slice',
      MemoryMax: String(256 << 20),
      TasksMax: '64',
      CPUQuotaPerSecUSec: '300ms',
    });
    // systemd wrote the scope's files; the cgroup's own limit is nsgroups'
    expect(read(`${scope}/memory.max`)).toBe(String(256 << 20));
    expect(read(`${scope}/pids.max`)).toBe('64');
    expect(read(`${scope}/cpu.max`)).toBe('30000 100000');
    expect(read(`${cg.path as string}/memory.max`)).toBe(String(64 << 20));
  });

  it('shares one scope between the cgroups of a process with the same slice and scope limits', async () => {
    await using a = await Cgroup.create('jobs/a');
    await using b = await Cgroup.create('other');
    await using c = await Cgroup.create('capped', { scopeLimits: { pids: { max: 100 } } });
    expect(a.unit).toBe(b.unit);
    expect(c.unit).not.toBe(a.unit);
    expect(Cgroup.open('jobs/a').path).toBe(a.path);
  });

  it('nsgroups doctor: the driver, the controllers of the delegated subtree, the drop-in for the rest', () => {
    const r = spawnSync(process.execPath, [cli, 'doctor'], { encoding: 'utf8', timeout: 110000 });
    const out = r.stdout;
    expect(out).toMatch(/ yes {2}cgroup driver {2}\(systemd: no cgroup is writable by uid \d+: a delegated scope of the user manager \(systemd --user\)/);
    const controllers = /cgroup\.controllers ([a-z ]+), cgroup\.subtree_control/.exec(out)?.[1].split(' ');
    expect(controllers).toEqual(expect.arrayContaining(['cpu', 'memory', 'pids']));
    if (!['cpuset', 'io'].every((c) => controllers!.includes(c))) {
      // Debian's user@.service delegates "pids memory cpu": the fix is the drop-in
      expect(out).toMatch(/ NO {3}controllers in the delegated subtree/);
      expect(out).toContain(`/etc/systemd/system/user@${uid}.service.d/delegate.conf`);
      expect(out).toContain('Delegate=cpu cpuset io memory pids');
    }
  });
});
