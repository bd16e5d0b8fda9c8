// The `devices` limit on a pure cgroup v2 system (the v2 lane's guest, kernel 6.1): a
// BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup, which the kernel runs on every open
// and mknod of a device node inside. The kernel is the oracle: open(2) is EPERM or not, and
// BPF_PROG_QUERY lists what is attached. netCls / netPrio have no v2 controller: ERR_UNSUPPORTED.
// Few tests, few execs: exec is ~50x slower in the guest.
import { Cgroup, run } from '../../lib/index';
import { cgroupCapabilities } from '../../lib/cgroup/index';
import { devicePrograms } from '../../lib/cgroup/device-bpf';
import { native } from '../../lib/native';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isRoot, itIf } from '../helpers/host';
import { hostMode, removeEverywhere, testRoot } from '../helpers/cgroupfs';

const TOP = '/sys/fs/cgroup';
const root = testRoot('v2dev');
const onV2Root = hostMode === 'v2' && isRoot;
afterAll(() => removeEverywhere(root));

const itV2 = (name: string, fn: () => Promise<void>): void => itIf(onV2Root, 'needs a pure cgroup v2 host, as root (the v2 lane guest)', name, fn, 60000);

/** What the kernel says to the shell opening each device for reading, from inside the cgroup. */
async function opens(cg: Cgroup, devices: string[]): Promise<string[]> {
  const probe = `for d in "$@"; do if out=$( (: < "/dev/$d") 2>&1 ); then echo "$d ok"; else echo "$d $out"; fi; done`;
  const r = await run('sh', ['-c', probe, 'sh', ...devices], { cgroup: cg, timeout: 30000 });
  return r.stdout.trim().split('\n');
}

/** Every device program attached to the cgroup itself, ours or not (BPF_PROG_QUERY). */
function attached(dir: string): number[] {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    return native().bpfProgQuery(fd, native().bpfConstants.BPF_CGROUP_DEVICE).ids;
  } finally {
    fs.closeSync(fd);
  }
}

itV2('a device program allows /dev/null and denies /dev/zero; set() replaces it; limits() reads it back', async () => {
  const cg = await Cgroup.create('dev', { root, devices: [{ type: 'c', major: 1, minor: 3, access: 'rwm', allow: true }] });
  const dir = path.join(TOP, root, 'dev');
  const first = attached(dir);
  expect(first).toHaveLength(1);
  expect(devicePrograms(dir)).toEqual(first); // and it is ours (named nsgroups_dev)
  expect(await opens(cg, ['null', 'zero'])).toEqual(['null ok', expect.stringMatching(/^zero .*Operation not permitted/)]);
  expect((await cg.limits()).devices).toEqual([{ type: 'c', major: 1, minor: 3, access: 'rwm', allow: true }]);

  await cg.set({ devices: [{ type: 'c', major: 1, minor: 5, access: 'r', allow: true }] });
  const second = attached(dir);
  expect(second).toHaveLength(1); // one nsgroups program, the new one in place of the old
  expect(second[0]).not.toBe(first[0]);
  expect(await opens(cg, ['null', 'zero'])).toEqual([expect.stringMatching(/^null .*Operation not permitted/), 'zero ok']);
  // another process's view: the policy comes from the kernel, not from this object
  expect((await Cgroup.open('dev', { root }).limits()).devices).toEqual([{ type: 'c', major: 1, minor: 5, access: 'r', allow: true }]);
  expect((await cgroupCapabilities()).devices).toMatchObject({ supported: true, reason: expect.stringMatching(/BPF_PROG_TYPE_CGROUP_DEVICE/) });
  await cg.delete();
});

itV2('a cgroup cannot allow more than its parent: both programs run (BPF_F_ALLOW_MULTI)', async () => {
  const parent = await Cgroup.create('parent', { root, devices: [...Cgroup.BASIC_DEVICES] });
  const child = await Cgroup.create('parent/child', { root, devices: [{ allow: true }] });
  expect(await opens(child, ['null', 'zero', 'kmsg'])).toEqual(['null ok', 'zero ok', expect.stringMatching(/^kmsg .*Operation not permitted/)]);
  await child.delete();
  await parent.delete();
});

itV2('netCls and netPrio are ERR_UNSUPPORTED naming nftables socket cgroupv2, with nothing created', async () => {
  for (const options of [{ netCls: { classid: 0x100001 } }, { netPrio: { ifpriomap: { lo: 1 } } }]) {
    await expect(Cgroup.create('net', { root, ...options })).rejects.toMatchObject({
      code: 'ERR_UNSUPPORTED',
      message: expect.stringMatching(/cgroup v2 has no such controller.*socket cgroupv2/),
    });
  }
  expect(fs.existsSync(path.join(TOP, root, 'net'))).toBe(false);
});
