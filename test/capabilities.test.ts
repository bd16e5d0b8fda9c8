// capabilities(): probed on this host; the user-namespace decision also on recorded inputs of
// hosts we cannot run here.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { capabilities } from '../lib';
import { parseKernelRelease } from '../lib/host/capabilities';
import { decideUnprivilegedUserns, type UsernsSysctls } from '../lib/host/userns';

describe('unprivileged user namespaces: the decision, from recorded sysctls', () => {
  const base: UsernsSysctls = { maxUserNamespaces: 96365, unprivilegedUsernsClone: null, apparmorRestrict: null, apparmorEnabled: false };
  const hosts: Array<[string, Partial<UsernsSysctls>, boolean, RegExp | null]> = [
    ['this Debian 12 host (kernel 6.18, no AppArmor)', {}, true, null],
    [
      'Ubuntu 24.04 (AppArmor restricts unprivileged user namespaces)',
      { apparmorEnabled: true, apparmorRestrict: 1, unprivilegedUsernsClone: 1 },
      false,
      /apparmor_restrict_unprivileged_userns.*userns,/,
    ],
    [
      'Ubuntu 24.04 after sysctl apparmor_restrict_unprivileged_userns=0',
      { apparmorEnabled: true, apparmorRestrict: 0, unprivilegedUsernsClone: 1 },
      true,
      null,
    ],
    ['the sysctl set but AppArmor off', { apparmorEnabled: false, apparmorRestrict: 1 }, true, null],
    ['Debian 10 default (unprivileged_userns_clone=0)', { unprivilegedUsernsClone: 0 }, false, /unprivileged_userns_clone is 0/],
    ['user namespaces disabled (max_user_namespaces=0)', { maxUserNamespaces: 0 }, false, /max_user_namespaces is 0/],
  ];
  it.each(hosts)('%s', (_label, sysctls, allowed, reason) => {
    const d = decideUnprivilegedUserns({ ...base, ...sysctls });
    expect(d.allowed).toBe(allowed);
    if (reason) expect(d.reason).toMatch(reason);
    else expect(d.reason).toBeUndefined();
  });
});

it('kernel release parsing', () => {
  expect(parseKernelRelease('6.18.44-fc-v595').version).toEqual({ major: 6, minor: 18, patch: 44 });
  expect(parseKernelRelease('6.1.0-57-amd64').version).toEqual({ major: 6, minor: 1, patch: 0 });
  expect(parseKernelRelease('5.4').version).toEqual({ major: 5, minor: 4, patch: 0 });
});

describe('capabilities() on this host', () => {
  let c: Awaited<ReturnType<typeof capabilities>>;
  // what a probe killed in the middle would leave (a pid that is not running): swept away
  let deadPid = 4000000;
  while (fs.existsSync(`/proc/${deadPid}`)) deadPid++;
  const staleDir = path.join(os.tmpdir(), `nsgroups-probe-${deadPid}-test`);
  const staleCgroup = `/sys/fs/cgroup/pids/nsgroups/probe-${deadPid}-1`;
  beforeAll(async () => {
    fs.mkdirSync(staleDir, { recursive: true });
    if (process.geteuid!() === 0) fs.mkdirSync(staleCgroup, { recursive: true });
    c = await capabilities();
  });

  it('the kernel is the running one', () => {
    expect(c.kernel.release).toBe(os.release());
  });

  it('user namespaces: what the sysctls say and what a probe found agree', () => {
    expect(c.userNamespaces.sysctls.maxUserNamespaces).toBe(Number(fs.readFileSync('/proc/sys/user/max_user_namespaces', 'utf8')));
    expect(c.userNamespaces.caller.supported).toBe(true);
  });

  it('the features this host has are found by probing', () => {
    // Debian 12 on Linux 6.18: every one of them is there
    for (const f of [c.clone3, c.pidfd, c.timeNamespaces, c.mountSetattr, c.overlay.available, c.overlay.inUserNamespace]) {
      expect(f).toMatchObject({ supported: true });
    }
  });

  it('cgroups: the layout as mountinfo shows it; CLONE_INTO_CGROUP probed where we may make a cgroup', () => {
    expect(c.cgroup.mode).toBe('hybrid'); // this host: v1 controllers, cgroup2 at /sys/fs/cgroup/unified
    expect(c.cgroup.controllers.memory).toMatchObject({ version: 1, mountPoint: '/sys/fs/cgroup/memory' });
    expect(c.cgroup.unified).toBe('/sys/fs/cgroup/unified');
    if (process.geteuid!() === 0) {
      expect(c.cloneIntoCgroup).toEqual({ supported: true });
      expect(c.cgroup.base.find((b) => b.hierarchy === '/sys/fs/cgroup/memory')?.path).toBe('/sys/fs/cgroup/memory/nsgroups');
    } else {
      expect(c.cloneIntoCgroup.supported).toBe(false);
      expect(c.cloneIntoCgroup.reason).toMatch(/no cgroup of ours/);
    }
  });

  it('what a killed probe left is swept by the next one', () => {
    expect(fs.existsSync(staleDir)).toBe(false);
    expect(fs.existsSync(staleCgroup)).toBe(false);
  });

  it('probing leaves nothing behind', () => {
    expect(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(`nsgroups-probe-${process.pid}-`))).toEqual([]);
  });
});
