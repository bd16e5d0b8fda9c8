// The scope goes with its last process, and nothing is left behind: after dispose, and after a
// SIGKILL of the Node process that made it (its holder and sandboxes die with it; systemd then
// stops the scope and removes its cgroups).
import * as fs from 'node:fs';
import { Cgroup } from '../../lib/cgroup/cgroup';
import { spawn } from '../../lib/spawn/index';
import { startFixture } from '../helpers/cli';
import { cgroupOf, listedUnits, scopeDirOf, waitFor } from './helpers';

describe('nothing left behind', () => {
  it('after dispose: the scope, its unit and its cgroups are gone', async () => {
    let unit: string;
    let scope: string;
    let pid: number;
    {
      await using cg = await Cgroup.create('disposed', { pids: { max: 8 } });
      unit = cg.unit!;
      scope = scopeDirOf(cg.path as string, unit);
      const p = spawn('sleep', ['1000'], { cgroup: cg, stdio: 'ignore' });
      await new Promise((resolve, reject) => p.once('spawn', resolve).once('error', reject));
      pid = p.pid!;
      expect(listedUnits(unit)).toEqual([unit]);
    }
    expect(fs.existsSync(`/proc/${pid}`)).toBe(false);
    expect(fs.existsSync(scope)).toBe(false); // delete() waits for systemd to remove it
    expect(listedUnits(unit)).toEqual([]);
  });

  it('after kill -9 of the Node process: gone as well', async () => {
    const { child, report } = await startFixture('leave-behind.js', { cgroup: 'crashed' });
    const rel = cgroupOf(report.inCgroup);
    const unit = /\/(nsgroups-\d+-[0-9a-f]+\.scope)\//.exec(rel)?.[1];
    expect(unit).toBeDefined();
    const scope = `/sys/fs/cgroup${rel.slice(0, rel.indexOf(unit!) + unit!.length)}`;
    expect(fs.existsSync(scope)).toBe(true);
    child.kill('SIGKILL');
    expect(await waitFor(() => !fs.existsSync(scope), 20000)).toBe(true);
    expect(fs.existsSync(`/proc/${report.inCgroup}`)).toBe(false);
    expect(listedUnits(unit!)).toEqual([]);
  });
});
