// The CLI's cgroup side on a pure cgroup v2 host: Cgroup.create's owner record (a user xattr on
// the cgroup2 directory), what doctor's limit probe finds (checked against the interface files),
// and `nsgroups gc` removing a cgroup whose maker died while keeping a live maker's.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Cgroup } from '../../lib';
import { OWNER_XATTR, ownerRecord } from '../../lib/host/owner';
import { probeLimits } from '../../lib/host/limits';
import { native } from '../../lib/native';

const root = path.join(__dirname, '..', '..');

function deadRecord(): string {
  const r = spawnSync('sh', ['-c', 'echo $$; cut -d" " -f22 /proc/$$/stat'], { encoding: 'utf8' });
  const [pid, start] = r.stdout.trim().split('\n');
  return ownerRecord().replace(/pid=\d+ start=\d+/, `pid=${pid} start=${start}`);
}

describe('nsgroups on cgroup v2', () => {
  it('Cgroup.create records its maker on the cgroup2 directory', async () => {
    const cg = await Cgroup.create(`owner-v2-${process.pid}/leaf`);
    try {
      const dir = cg.path as string;
      expect(native().lgetxattr(dir, OWNER_XATTR).toString()).toBe(ownerRecord());
      // the parent made on the way says so: delete() removes it with its last cgroup
      expect(native().lgetxattr(path.dirname(dir), OWNER_XATTR).toString()).toBe(ownerRecord({ implicit: '1' }));
    } finally {
      await cg.delete();
    }
    expect(fs.existsSync(path.dirname(cg.path as string))).toBe(false);
  });

  it("doctor's limit probe: memory.high and memory.low exist on v2; io and swap as the files say", async () => {
    const limits = await probeLimits(true);
    expect(limits['memory.high']).toEqual({ supported: true });
    expect(limits['memory.low']).toEqual({ supported: true });
    expect(limits['pids.max']).toEqual({ supported: true });
    const cg = await Cgroup.create(`files-v2-${process.pid}`);
    try {
      const files = fs.readdirSync(cg.path as string);
      expect(limits['memory.swapMax'].supported).toBe(files.includes('memory.swap.max'));
      expect(limits['io.weight'].supported).toBe(files.includes('io.weight') || files.includes('io.bfq.weight'));
    } finally {
      await cg.delete();
    }
  });

  it('gc removes the empty cgroup of a dead maker, and keeps a live one', async () => {
    const dead = await Cgroup.create(`gc-dead-${process.pid}`);
    native().lsetxattr(dead.path as string, OWNER_XATTR, Buffer.from(deadRecord()), 0);
    const live = await Cgroup.create(`gc-live-${process.pid}`);
    try {
      const r = spawnSync(process.execPath, [path.join(root, 'dist', 'cli.cjs'), 'gc'], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`removed cgroup gc-dead-${process.pid}`);
      expect(fs.existsSync(dead.path as string)).toBe(false);
      expect(fs.existsSync(live.path as string)).toBe(true);
    } finally {
      await live.delete();
      await dead.delete();
    }
  });
});
