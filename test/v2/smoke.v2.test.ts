// The v2 lane's self-check, with the kernel as oracle: this runs in the guest of tools/v2vm.sh
// (.ci/lane-v2.sh), a pure cgroup v2 system, and the library's addon works there. If any of
// these fails, every other v2 result is in doubt.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { run } from '../../lib';

const CGROUP2_SUPER_MAGIC = 0x63677270; // include/uapi/linux/magic.h

/** Filesystem types of every mount this process sees (field after " - " in mountinfo). */
function mountTypes(): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' - ')[1].split(' ')[0]);
}

describe('the v2 lane runs on a pure cgroup v2 system', () => {
  it('/sys/fs/cgroup is cgroup2 (statfs magic 0x63677270)', () => {
    expect(fs.statfsSync('/sys/fs/cgroup').type).toBe(CGROUP2_SUPER_MAGIC);
  });

  it('no cgroup v1 hierarchy is mounted, and the kernel has none to offer (cgroup_no_v1=all)', () => {
    const types = mountTypes();
    expect(types).toContain('cgroup2');
    expect(types).not.toContain('cgroup');
    // /proc/cgroups: "subsys_name hierarchy num_cgroups enabled"; hierarchy 0 = not on any v1 mount
    const v1 = fs
      .readFileSync('/proc/cgroups', 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(/\s+/))
      .filter(([, hierarchy]) => hierarchy !== '0');
    expect(v1).toEqual([]);
    expect(fs.readFileSync('/proc/cmdline', 'utf8')).toMatch(/(^| )cgroup_no_v1=all( |$)/);
  });

  it("the root's cgroup.subtree_control enables memory, pids and cpu", () => {
    const enabled = fs.readFileSync('/sys/fs/cgroup/cgroup.subtree_control', 'utf8').trim().split(' ');
    expect(enabled).toEqual(expect.arrayContaining(['memory', 'pids', 'cpu']));
  });

  it("the kernel is the guest's (Debian 12's 6.1), not the host's", () => {
    // tools/v2vm.sh tells the command which kernel it booted
    expect(process.env.V2VM_KERNEL).toBeDefined();
    expect(os.release()).toBe(process.env.V2VM_KERNEL);
    expect(os.release()).toMatch(/^6\.1\./);
  });

  it("the library's addon works here: a command under the init is pid 2", async () => {
    const r = await run('sh', ['-c', 'echo $$'], { namespaces: ['user', 'pid'] });
    expect(r).toMatchObject({ code: 0, signal: null, stdout: '2\n' });
  });
});
