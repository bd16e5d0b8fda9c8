// The cgroup driver decision (lib/cgroup/driver.ts) on recorded inputs of hosts this machine is
// not — a systemd desktop, an ssh session, a user with lingering, a delegated service — and the
// pieces of the systemd driver that are pure: manager addresses, slice names, scope properties,
// the common ancestor of the v2 delegation rule. The driver itself runs against a real systemd in
// the systemd lane (test/systemd, .ci/lane-systemd.sh).
import { commonAncestor, delegateDropIn } from '../lib/cgroup/delegation';
import { decideDriver, isUserManagerTree, type DriverInput } from '../lib/cgroup/driver';
import { emptyLimits } from '../lib/cgroup/limits';
import { NsgroupsError } from '../lib/errors';
import { managerEndpoints, type ManagerEndpoint } from '../lib/systemd/manager';
import { checkSliceName, scopeLimitProperties, slicePath } from '../lib/systemd/properties';

const userBus: ManagerEndpoint = { kind: 'user', address: 'unix:path=/run/user/1000/systemd/private', bus: false, via: "systemd --user's own socket" };
const input = (over: Partial<DriverInput>): DriverInput => ({
  mode: 'v2',
  euid: 1000,
  requested: 'auto',
  systemdOnly: null,
  explicitBase: null,
  base: null,
  booted: true,
  endpoints: [userBus],
  user: 'alice',
  ...over,
});

describe('which driver Cgroup.create() uses', () => {
  it('an ssh session on a systemd v2 host (session-2.scope is root-owned): the user manager', () => {
    const d = decideDriver(input({}));
    expect(d).toMatchObject({ driver: 'systemd', manager: 'user', fallback: false });
    expect(d.reason).toContain('no cgroup is writable by uid 1000');
  });

  it("a desktop terminal (in the user manager's own tree): the user manager, cgroupfs only if it does not answer", () => {
    const base = { rel: '/user.slice/user-1000.slice/user@1000.service/nsgroups', source: 'delegated' as const };
    expect(isUserManagerTree(base)).toBe(true);
    const d = decideDriver(input({ base }));
    expect(d).toMatchObject({ driver: 'systemd', fallback: true });
    expect(decideDriver(input({ base, endpoints: [] }))).toMatchObject({ driver: 'cgroupfs' });
  });

  it('a process in a unit with Delegate=yes of its own (a service, a systemd-run scope): cgroupfs there', () => {
    const base = { rel: '/system.slice/ci-runner.service/nsgroups', source: 'delegated' as const };
    expect(isUserManagerTree(base)).toBe(false);
    expect(decideDriver(input({ base }))).toMatchObject({ driver: 'cgroupfs' });
  });

  it('root: cgroupfs at the top, the system manager only when asked', () => {
    expect(decideDriver(input({ euid: 0, base: { rel: '/nsgroups', source: 'root' } }))).toMatchObject({ driver: 'cgroupfs' });
    expect(decideDriver(input({ euid: 0, requested: 'systemd' }))).toMatchObject({ driver: 'systemd', manager: 'system' });
    expect(decideDriver(input({ euid: 0, systemdOnly: 'slice' }))).toMatchObject({ driver: 'systemd', manager: 'system' });
  });

  it('a base given explicitly is cgroupfs, and conflicts with what only systemd does', () => {
    expect(decideDriver(input({ explicitBase: 'NSGROUPS_CGROUP_ROOT' }))).toMatchObject({ driver: 'cgroupfs' });
    expect(() => decideDriver(input({ explicitBase: 'the root option', systemdOnly: 'slice' }))).toThrow(/slice asks for a systemd scope, and the root option/);
    expect(() => decideDriver(input({ requested: 'cgroupfs', systemdOnly: 'scopeLimits' }))).toThrow(NsgroupsError);
  });

  it('a hybrid or v1 host: cgroupfs (systemd does not delegate v1 controllers to users); systemd asked for is ERR_UNSUPPORTED', () => {
    expect(decideDriver(input({ mode: 'hybrid' }))).toMatchObject({ driver: null });
    expect(decideDriver(input({ mode: 'hybrid', base: { rel: '/nsgroups-1000', source: 'env' } }))).toMatchObject({ driver: 'cgroupfs' });
    expect(decideDriver(input({ mode: 'hybrid', euid: 0 }))).toMatchObject({ driver: 'cgroupfs' });
    let err: unknown;
    try {
      decideDriver(input({ mode: 'hybrid', requested: 'systemd' }));
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ERR_UNSUPPORTED' });
    expect((err as Error).message).toContain('systemd.unified_cgroup_hierarchy=1');
  });

  it('no base and no user manager: none, and the fix is lingering on a systemd host, a root step elsewhere', () => {
    const booted = decideDriver(input({ endpoints: [] }));
    expect(booted.driver).toBeNull();
    expect(booted.fix).toContain('sudo loginctl enable-linger alice');
    const notBooted = decideDriver(input({ endpoints: [], booted: false }));
    expect(notBooted.fix).toContain('systemd is not the init of this host');
  });
});

describe('where a systemd manager listens', () => {
  const exists = (paths: string[]) => (p: string) => paths.includes(p);

  it("a user's: systemd --user's own socket first, then the session bus, then $XDG_RUNTIME_DIR/bus", () => {
    const env = { XDG_RUNTIME_DIR: '/run/user/1000', DBUS_SESSION_BUS_ADDRESS: 'unix:path=/run/user/1000/bus' };
    const all = managerEndpoints('user', env, 1000, exists(['/run/user/1000/systemd/private', '/run/user/1000/bus']));
    expect(all.map((e) => [e.address, e.bus])).toEqual([
      ['unix:path=/run/user/1000/systemd/private', false],
      ['unix:path=/run/user/1000/bus', true],
    ]);
    // XDG_RUNTIME_DIR unset (setpriv, su without -l): the standard place
    expect(managerEndpoints('user', {}, 1000, exists(['/run/user/1000/bus'])).map((e) => e.address)).toEqual(['unix:path=/run/user/1000/bus']);
    expect(managerEndpoints('user', {}, 1000, exists([]))).toEqual([]);
  });

  it("the system's: /run/systemd/private for root only, then the system bus", () => {
    const both = exists(['/run/systemd/private', '/run/dbus/system_bus_socket']);
    expect(managerEndpoints('system', {}, 0, both).map((e) => e.address)).toEqual(['unix:path=/run/systemd/private', 'unix:path=/run/dbus/system_bus_socket']);
    expect(managerEndpoints('system', {}, 1000, both).map((e) => e.address)).toEqual(['unix:path=/run/dbus/system_bus_socket']);
  });
});

describe('slices and scope properties', () => {
  it('takes slice unit names as systemd.unit(5) has them, and knows their cgroup path', () => {
    expect(checkSliceName('my.slice', 'slice')).toBe('my.slice');
    expect(slicePath('a-b-c.slice')).toBe('a.slice/a-b.slice/a-b-c.slice');
    expect(slicePath('-.slice')).toBe('');
    for (const bad of ['my', 'my.scope', 'a--b.slice', '-a.slice', 'a-.slice', 'a b.slice', 'a/b.slice']) {
      expect(() => checkSliceName(bad, 'slice')).toThrow(NsgroupsError);
    }
  });

  it('turns scope limits into unit properties, and says which file shows each applied', () => {
    const l = emptyLimits();
    l.memory.max = 256 << 20;
    l.memory.high = 'max';
    l.cpu.max = 0.3;
    l.pids.max = 64;
    l.cpuset.cpus = '0,2-3';
    const props = scopeLimitProperties(l, 'scopeLimits');
    const byName = Object.fromEntries(props.map((p) => [p.property[0], p]));
    expect(byName.MemoryMax.property[1]).toMatchObject({ signature: 't', value: 268435456n });
    expect(byName.MemoryHigh.property[1].value).toBe((1n << 64n) - 1n); // infinity
    // CPUQuota=30%: 300 ms of CPU per second; systemd writes cpu.max "30000 100000"
    expect(byName.CPUQuotaPerSecUSec).toMatchObject({ file: 'cpu.max', expect: '30000' });
    expect(byName.CPUQuotaPerSecUSec.property[1].value).toBe(300000n);
    expect(byName.TasksMax).toMatchObject({ file: 'pids.max', expect: '64' });
    expect(byName.AllowedCPUs.property[1]).toMatchObject({ signature: 'ay', value: [0b1101] });
  });

  it('refuses scope limits that systemd has no property for', () => {
    const l = emptyLimits();
    l.netCls.classid = 0x100001;
    expect(() => scopeLimitProperties(l, 'scopeLimits')).toThrow(/netCls is not a limit systemd sets on a scope/);
  });
});

describe('the v2 delegation rule', () => {
  it('needs the common ancestor of the old and the new cgroup', () => {
    expect(commonAncestor('/user.slice/user-1000.slice/session-2.scope', '/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope')).toBe(
      '/user.slice/user-1000.slice',
    );
    expect(commonAncestor('/', '/nsgroups-1000/a')).toBe('/');
    expect(commonAncestor('/a/b', '/a/b/c')).toBe('/a/b');
  });

  it('gives the per-user Delegate= drop-in', () => {
    expect(delegateDropIn(1000)).toContain('/etc/systemd/system/user@1000.service.d/delegate.conf');
    expect(delegateDropIn(1000)).toContain('Delegate=cpu cpuset io memory pids');
  });
});
