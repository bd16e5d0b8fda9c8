// The cgroup v2 delegation rule (lib/cgroup/delegation.ts) where it bit as a bare `clone3 EACCES`:
// root makes a subtree and gives it to a user (the fix the permission hint names), the user runs
// with NSGROUPS_CGROUP_ROOT pointing there from outside it. On a hybrid host (this one) the limits
// are on v1, which has no such rule, so the cgroup goes without its cgroup2 tracking directory and
// the spawn works; on a v2 host the spawn fails with ERR_PERMISSION naming the rule (the v2 lane
// checks that side: test/v2/delegation.v2.test.ts).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { migrationBlock } from '../lib/cgroup/delegation';
import { detectCgroupLayoutSync } from '../lib/cgroup/layout';
import { isRoot, itIf, itRoot, itRootless } from './helpers/host';

const UID = 61001; // no passwd entry needed; not the overflow uid
const fixture = path.join(__dirname, 'fixtures', 'cgroup-in-subtree.js');

function readableByOthers(p: string): boolean {
  for (let d = p; d !== '/'; d = path.dirname(d)) if ((fs.statSync(d).mode & 0o005) !== 0o005 && d !== p) return false;
  return (fs.statSync(p).mode & 0o004) !== 0;
}

const lay = detectCgroupLayoutSync();

describe('who may move a process in the cgroup2 tree', () => {
  const h = lay.unified;
  const top = h ? path.join(h.mountPoint, 'cgroup.procs') : '';
  itRootless("a user may not, between cgroups whose common ancestor is the root (its cgroup.procs is root's)", () => {
    if (!h) return;
    expect(migrationBlock(h, '/', '/nsgroups-x/a')).toEqual({ file: top, from: '/', to: '/nsgroups-x/a' });
  });
  itRoot('root may, anywhere', () => {
    if (h) expect(migrationBlock(h, '/', '/nsgroups-x/a')).toBeNull();
  });
});

describe('a subtree given to a user, used from outside it', () => {
  if (!isRoot) return; // root makes the subtree (the rootless lane has no root step)
  const name = `nsgroups-deleg-${process.pid}`;
  const dirs = [...lay.v1.map((h) => h.mountPoint), ...(lay.unified ? [lay.unified.mountPoint] : [])].map((m) => path.join(m, name));

  beforeAll(() => {
    for (const d of dirs) {
      fs.mkdirSync(d);
      if (fs.existsSync(path.join(d, 'cpuset.cpus'))) {
        // v1 cpuset: a child needs cpus and mems before it may have tasks
        for (const f of ['cpuset.cpus', 'cpuset.mems']) fs.writeFileSync(path.join(d, f), fs.readFileSync(path.join(path.dirname(d), f)));
      }
      // v1 CFS bandwidth: a child's quota may not exceed its parent's (sched-bwc.rst, EINVAL):
      // 0.1 CPU here, so that the fixture's create asking 0.5 fails after its mkdirs
      if (fs.existsSync(path.join(d, 'cpu.cfs_quota_us'))) fs.writeFileSync(path.join(d, 'cpu.cfs_quota_us'), '10000');
      for (const f of ['', 'cgroup.procs', 'cgroup.subtree_control', 'tasks']) {
        if (fs.existsSync(path.join(d, f))) fs.chownSync(path.join(d, f), UID, UID);
      }
    }
  });

  afterAll(() => {
    for (const d of dirs) {
      try {
        fs.rmdirSync(d);
      } catch {
        /* already gone */
      }
    }
  });

  itIf(readableByOthers(fixture), `the checkout is not readable by uid ${UID}`, `spawns into it (hybrid: v1 only) or fails naming the rule (v2)`, () => {
    const r = spawnSync(process.execPath, [fixture], {
      uid: UID,
      gid: UID,
      env: { PATH: process.env.PATH, NSGROUPS_CGROUP_ROOT: `/${name}` },
      encoding: 'utf8',
      timeout: 30000,
    });
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
    expect(out.fatal).toBeUndefined();
    expect(out.driver).toBe('cgroupfs');
    if (lay.mode === 'v2') {
      console.log(`v2 host: the spawn fails with the rule: ${out.error?.message}`);
      expect(out.error).toMatchObject({ code: 'ERR_PERMISSION', errno: -13, syscall: 'clone3', path: '/sys/fs/cgroup/cgroup.procs' });
      expect(out.error.message).toContain('Delegation Containment');
      return;
    }
    console.log(`${lay.mode} host: the cgroup goes without its cgroup2 directory, and the spawn works`);
    expect(out.error).toBeUndefined();
    expect(out.code).toBe(0);
    expect(Object.keys(out.path)).not.toContain('unified');
    // freeze() and kill() then go through the v1 freezer (there is no cgroup.freeze or cgroup.kill to use)
    if (lay.v1.some((h) => h.controllers.includes('freezer'))) {
      expect(out.path.freezer).toBe(path.join(lay.v1.find((h) => h.controllers.includes('freezer'))!.mountPoint, name, 't'));
      expect(out).toMatchObject({ inFreezer: true, freezerState: 'FROZEN', thawedState: 'THAWED', killSignal: 'SIGKILL' });
    } else console.log('no v1 freezer on this host: freeze() is not checked');
    // delete() removed the cgroup in every hierarchy it had a directory in (the freezer one too)
    expect(out.left).toEqual([]);
    for (const d of dirs) expect(fs.existsSync(path.join(d, 't'))).toBe(false);
    // and a create that failed after its mkdirs left none of them
    console.log(`the create that fails after its mkdirs: ${out.failedCreate?.code}: ${out.failedCreate?.message}`);
    if (lay.v1.some((h) => h.controllers.includes('cpu'))) {
      expect(out.failedCreate).toMatchObject({ code: expect.any(String), message: expect.stringContaining('cpu.max = 0.5 CPUs') });
    }
    expect(out.leftAfterFailure).toEqual([]);
    for (const d of dirs) expect(fs.existsSync(path.join(d, 'u'))).toBe(false);
    // the kernel's word: in the subtree in every v1 hierarchy, not moved in the cgroup2 one
    const lines = (out.cgroup as string).trim().split('\n');
    expect(lines.find((l) => /^\d+:(\w+,)*memory(,\w+)*:/.test(l))).toMatch(new RegExp(`:/${name}/t$`));
    expect(lines.find((l) => l.startsWith('0::'))).not.toContain(name);
  });
});
