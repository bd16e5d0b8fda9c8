// As root on a systemd host: cgroupfs at the top by default, the system manager's scope when
// asked for; and the v2 delegation rule met by a user given a subtree it sits outside of, which
// fails typed at spawn (not a bare clone3 EACCES).
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Cgroup } from '../../lib/cgroup/cgroup';
import { run } from '../../lib/spawn/index';
import { listedUnits, scopeDirOf, unitProperties } from './helpers';

describe('root on a systemd host', () => {
  it("uses cgroupfs by default, and the system manager's scope when asked", async () => {
    await using plain = await Cgroup.create('plain');
    expect(plain.driver).toBe('cgroupfs');
    expect(plain.path).toBe('/sys/fs/cgroup/nsgroups/plain');

    const cg = await Cgroup.create('sys', { driver: 'systemd', memory: { max: '64M' } });
    const scope = scopeDirOf(cg.path as string, cg.unit!);
    expect(scope).toBe(`/sys/fs/cgroup/system.slice/${cg.unit}`);
    expect(unitProperties(cg.unit!, ['Delegate', 'ActiveState'])).toEqual({ Delegate: 'yes', ActiveState: 'active' });
    const r = await run('cat', ['/proc/self/cgroup'], { cgroup: cg });
    expect(r.stdout.trim()).toBe(`0::${(cg.path as string).slice('/sys/fs/cgroup'.length)}`);
    await cg.delete();
    expect(fs.existsSync(scope)).toBe(false);
    expect(listedUnits(cg.unit!)).toEqual([]);
  });

  it('a user given a subtree from outside it: spawn fails with ERR_PERMISSION naming the rule', () => {
    const user = process.env.V2VM_USER ?? 'v2vm';
    const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }));
    const base = `/sys/fs/cgroup/nsgroups-deleg-${process.pid}`;
    fs.mkdirSync(base);
    try {
      for (const f of ['', 'cgroup.procs', 'cgroup.subtree_control']) fs.chownSync(path.join(base, f), uid, uid);
      const fixture = path.join(__dirname, '..', 'fixtures', 'cgroup-in-subtree.js');
      const r = spawnSync(process.execPath, [fixture], {
        uid,
        gid: uid,
        env: { PATH: process.env.PATH, NSGROUPS_CGROUP_ROOT: `/${path.basename(base)}` },
        encoding: 'utf8',
        timeout: 60000,
      });
      const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
      expect(out.driver).toBe('cgroupfs');
      expect(out.error).toMatchObject({ code: 'ERR_PERMISSION', errno: -13, syscall: 'clone3', path: '/sys/fs/cgroup/cgroup.procs' });
      expect(out.error.message).toContain('Delegation Containment');
      expect(out.error.message).toContain("driver: 'systemd'");
    } finally {
      for (const d of fs.readdirSync(base, { withFileTypes: true })) if (d.isDirectory()) fs.rmdirSync(path.join(base, d.name));
      fs.rmdirSync(base);
    }
  });
});
