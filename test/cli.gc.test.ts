// `nsgroups gc`: what a SIGKILLed Node parent left (a cgroup, a pinned pid namespace, a run's
// scratch directory) is removed — and nothing whose maker lives, that has processes, or that
// carries no record. The kernel is the oracle: cgroupfs directories, mountinfo, /proc.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cgroup } from '../lib';
import { OWNER_XATTR, ownerRecord, ownerState, parseOwnerRecord, startTimeOf } from '../lib/host/owner';
import { native } from '../lib/native';
import { crash, nsgroupsAsync, startFixture } from './helpers/cli';
import { itRoot } from './helpers/host';
import { nsfsMounts } from './helpers/sandbox';

const HIERARCHIES = ['cpu', 'cpuacct', 'cpuset', 'memory', 'freezer', 'blkio', 'pids', 'unified'];
const dirsOf = (name: string) => HIERARCHIES.map((h) => `/sys/fs/cgroup/${h}/nsgroups/${name}`);
const existing = (name: string) => dirsOf(name).filter((d) => fs.existsSync(d));
const alive = (pid: number) => fs.existsSync(`/proc/${pid}`) && !/\) [ZX] /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));

/** A record for a process that has exited: a short-lived child's pid and start time. */
function deadRecord(): string {
  const r = spawnSync('sh', ['-c', 'echo $$; cut -d" " -f22 /proc/$$/stat'], { encoding: 'utf8' });
  const [pid, start] = r.stdout.trim().split('\n');
  return ownerRecord().replace(/pid=\d+ start=\d+/, `pid=${pid} start=${start}`);
}

describe('owner records', () => {
  it('name a process by pid and start time: a reused pid is not the owner', () => {
    const mine = parseOwnerRecord(ownerRecord({ pin: 'created' }))!;
    expect(mine).toMatchObject({ pid: process.pid, start: startTimeOf(process.pid), extra: { pin: 'created' } });
    expect(ownerState(mine).state).toBe('alive');
    expect(ownerState({ ...mine, start: mine.start + 1 })).toEqual({ state: 'gone', reason: expect.stringMatching(/another process/) });
    expect(ownerState(parseOwnerRecord(deadRecord())!).state).toBe('gone');
    // made in another pid namespace: this process cannot judge
    expect(ownerState({ ...mine, pidns: 1 }).state).toBe('unknown');
    expect(parseOwnerRecord('garbage')).toBeNull();
  });
});

describe('nsgroups gc', () => {
  itRoot('a cgroup and a pin left by a SIGKILLed Node parent: --dry-run lists them, gc removes them', async () => {
    const pinDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-gc-pin-'));
    const pin = path.join(pinDir, 'pid');
    const name = `gc-test-${process.pid}/job`;
    const { child, report } = await startFixture('leave-behind.js', { cgroup: name, pin });
    const top = name.split('/')[0];
    try {
      expect(existing(name).length).toBeGreaterThan(0);
      expect(nsfsMounts().get(pin)).toMatch(/^pid:\[\d+\]$/);
      // the maker is alive: nothing to do
      const early = await nsgroupsAsync('gc', '--dry-run', '--verbose');
      expect(early.stdout).toContain(`keeping cgroup ${name}: its maker, pid ${report.pid}, is running`);
      expect(early.stdout).toContain(`keeping pin ${pin}: its maker, pid ${report.pid}, is running`);

      await crash(child);
      // its sandbox died with it (the parent-death signal): the cgroup is empty now
      for (let i = 0; i < 100 && alive(report.inCgroup); i++) await new Promise((r) => setTimeout(r, 50));
      const dry = await nsgroupsAsync('gc', '--dry-run');
      expect(dry.status).toBe(0);
      expect(dry.stdout).toContain(`would remove cgroup ${name}: its maker, pid ${report.pid}, has exited and it is empty`);
      expect(dry.stdout).toContain(`would remove cgroup ${top}: its maker, pid ${report.pid}, has exited and it is empty`);
      expect(dry.stdout).toContain(`would remove pin ${pin}: its maker, pid ${report.pid}, has exited; only its holder is left in it`);
      // a dry run removes nothing
      expect(existing(name).length).toBeGreaterThan(0);
      expect(nsfsMounts().has(pin)).toBe(true);

      const holderInit = fs
        .readdirSync('/proc')
        .filter((n) => /^\d+$/.test(n))
        .map(Number)
        .find((p) => {
          try {
            return (
              fs.readlinkSync(`/proc/${p}/ns/pid`) === nsfsMounts().get(pin) && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('nsgroups-init\0')
            );
          } catch {
            return false;
          }
        });
      expect(holderInit).toBeDefined();
      const r = await nsgroupsAsync('gc');
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
      expect(r.stdout).toContain(`removed cgroup ${name}`);
      expect(r.stdout).toContain(`removed pin ${pin}`);
      expect(existing(name)).toEqual([]);
      expect(existing(top)).toEqual([]);
      expect(nsfsMounts().has(pin)).toBe(false);
      expect(fs.existsSync(pin)).toBe(false); // the maker made the file: it goes too
      for (let i = 0; i < 100 && alive(holderInit!); i++) await new Promise((res) => setTimeout(res, 50));
      expect(alive(holderInit!)).toBe(false);
    } finally {
      await crash(child);
      if (nsfsMounts().has(pin)) await (await import('../lib')).Namespace.unpin(pin, { remove: true });
      for (const d of [...existing(name), ...existing(top)]) fs.rmdirSync(d);
      fs.rmSync(pinDir, { recursive: true, force: true });
    }
  });

  itRoot('the cgroup of a SIGKILLed `nsgroups run --memory` goes too', async () => {
    const { spawn } = await import('node:child_process');
    const { cliPath } = await import('./helpers/cli');
    const run = spawn(process.execPath, [cliPath, 'run', '--memory', '32M', 'sh', '-c', 'echo ready; sleep 30'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve) => run.stdout!.once('data', resolve));
    const name = `run-${run.pid}`;
    expect(existing(name).length).toBeGreaterThan(0);
    await crash(run);
    for (let i = 0; i < 100 && fs.readFileSync(`/sys/fs/cgroup/memory/nsgroups/${name}/cgroup.procs`, 'utf8') !== ''; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const r = await nsgroupsAsync('gc');
    expect(r.stdout).toContain(`removed cgroup ${name}: its maker, pid ${run.pid}, has exited and it is empty`);
    expect(existing(name)).toEqual([]);
  });

  itRoot('never a cgroup whose maker lives, or that has processes, or that has no record', async () => {
    // a live maker: this process
    const live = await Cgroup.create(`gc-live-${process.pid}`);
    // a dead maker, but a process still in it (spawned with dieWithParent: false)
    const busy = `gc-busy-${process.pid}`;
    const { child, report } = await startFixture('leave-behind.js', { cgroup: busy, keepAlive: true });
    await crash(child);
    // no record at all (made by hand)
    const unmarked = `gc-unmarked-${process.pid}`;
    for (const d of dirsOf(unmarked).filter((x) => x.includes('/pids/') || x.includes('/memory/'))) fs.mkdirSync(d);
    // a record naming a dead process, but a child cgroup whose maker lives
    const parent = `gc-parent-${process.pid}`;
    const kid = await Cgroup.create(`${parent}/kid`);
    for (const d of existing(parent)) native().lsetxattr(d, OWNER_XATTR, Buffer.from(deadRecord()), 0);
    try {
      const r = await nsgroupsAsync('gc', '--verbose');
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`keeping cgroup gc-live-${process.pid}: its maker, pid ${process.pid}, is running`);
      expect(r.stdout).toMatch(new RegExp(`keeping cgroup ${busy}: its maker, pid ${report.pid}, has exited, but it has processes \\(${report.inCgroup}\\)`));
      expect(r.stdout).toContain(`keeping cgroup ${unmarked}: no owner record`);
      expect(r.stdout).toMatch(new RegExp(`keeping cgroup ${parent}: .* has exited, but its child cgroups stay \\(${parent}/kid\\)`));
      for (const name of [`gc-live-${process.pid}`, busy, unmarked, parent, `${parent}/kid`])
        expect({ name, left: existing(name).length > 0 }).toEqual({ name, left: true });
      expect(alive(report.inCgroup)).toBe(true);
      // once its process is gone, the busy one goes
      process.kill(report.inCgroup, 'SIGKILL');
      for (let i = 0; i < 100 && alive(report.inCgroup); i++) await new Promise((res) => setTimeout(res, 50));
      const again = await nsgroupsAsync('gc');
      expect(again.stdout).toContain(`removed cgroup ${busy}`);
      expect(existing(busy)).toEqual([]);
    } finally {
      try {
        process.kill(report.inCgroup, 'SIGKILL');
      } catch {
        /* gone */
      }
      await live.delete();
      await kid.delete();
      for (const d of [...existing(unmarked), ...existing(parent), ...existing(busy)])
        await new Promise((res) => setTimeout(res, 50)).then(() => fs.rmdirSync(d));
    }
  });

  it("a dead run's scratch directory goes; a live one's and one without an owner file stay", async () => {
    const make = (record: string | null) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-run-'));
      if (record) fs.writeFileSync(path.join(dir, 'owner'), `${record}\n`);
      fs.mkdirSync(path.join(dir, 'upper'));
      fs.writeFileSync(path.join(dir, 'upper', 'file'), 'x');
      return dir;
    };
    const dead = make(deadRecord());
    const live = make(ownerRecord());
    const none = make(null);
    try {
      const dry = await nsgroupsAsync('gc', '--dry-run');
      expect(dry.stdout).toContain(`would remove scratch ${dead}: its maker, pid`);
      expect(fs.existsSync(dead)).toBe(true);
      const r = await nsgroupsAsync('gc', '--verbose');
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`removed scratch ${dead}`);
      expect(r.stdout).toContain(`keeping scratch ${live}: its maker, pid ${process.pid}, is running`);
      expect(r.stdout).toContain(`keeping scratch ${none}: no owner file`);
      expect([fs.existsSync(dead), fs.existsSync(live), fs.existsSync(none)]).toEqual([false, true, true]);
    } finally {
      for (const d of [dead, live, none]) fs.rmSync(d, { recursive: true, force: true });
    }
  });
});
