// Limits set through nsgroups on a cgroup of the systemd driver are enforced there (the kernel's
// memory.events and pids.events say so): a memory hog meets the OOM killer, a fork bomb pids.max.
// Both only inside cgroups with a memory and a pids limit.
import * as fs from 'node:fs';
import { Cgroup } from '../../lib/cgroup/cgroup';
import { run } from '../../lib/spawn/index';

const events = (file: string): Record<string, number> =>
  Object.fromEntries(
    fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => [l.split(' ')[0], Number(l.split(' ')[1])]),
  );

describe('limits in a delegated systemd scope', () => {
  it('memory.max: the OOM killer ends what grows past it', async () => {
    await using cg = await Cgroup.create('oom', { memory: { max: '32M', swapMax: 0 }, pids: { max: 32 } });
    expect(cg.driver).toBe('systemd');
    const r = await run('sh', ['-c', 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived'], { cgroup: cg });
    expect(r.stdout).not.toContain('survived');
    expect(r.signal).toBe('SIGKILL');
    expect(events(`${cg.path as string}/memory.events`).oom_kill).toBeGreaterThanOrEqual(1);
  });

  it('pids.max: a fork bomb runs out of processes there', async () => {
    await using cg = await Cgroup.create('forks', { pids: { max: 16 }, memory: { max: '64M' } });
    const r = await run('sh', ['-c', 'i=0; while [ $i -lt 64 ]; do sleep 30 & i=$((i+1)); done; echo all forked'], {
      cgroup: cg,
      namespaces: ['user', 'pid'], // the init ends what the loop started, with the command
    });
    expect(r.stdout).not.toContain('all forked');
    expect(r.code).not.toBe(0);
    expect(events(`${cg.path as string}/pids.events`).max).toBeGreaterThanOrEqual(1);
  });
});
