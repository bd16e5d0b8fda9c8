// The systemd cgroup driver's options, and what it does on a host where it does not apply. This
// host (hybrid cgroups, no systemd as init) must keep the behaviour it had before the driver
// existed: cgroupfs for root, the same ERR_PERMISSION (with the same hint) for a user without a
// base, and a typed answer for what asks for systemd. The driver at work, against a real systemd
// and D-Bus, is the systemd lane's (test/systemd, .ci/lane-systemd.sh).
import { delegationHint } from '../lib/cgroup/base';
import { cgroupCapabilities } from '../lib/cgroup/capabilities';
import { Cgroup } from '../lib/cgroup/cgroup';
import { detectCgroupLayoutSync } from '../lib/cgroup/layout';
import { NsgroupsError } from '../lib/errors';
import { systemdBooted } from '../lib/systemd/manager';
import { isRoot, itRoot, itRootless } from './helpers/host';

const lay = detectCgroupLayoutSync();
const booted = systemdBooted();
const name = (what: string) => `nsgroups-sd-${what}-${process.pid}`;

async function errorOf(p: Promise<unknown>): Promise<NsgroupsError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NsgroupsError);
  return err as NsgroupsError;
}

describe('options of the systemd driver', () => {
  it.each([
    [{ driver: 'sytemd' }, "did you mean 'systemd'"],
    [{ slice: 'my' }, "must end in '.slice'"],
    [{ slice: 'a--b.slice' }, 'none may be empty'],
    [{ slice: 'my.slice', root: '/x' }, 'slice asks for a systemd scope, and the root option for a cgroupfs base'],
    [{ driver: 'cgroupfs', scopeLimits: { pids: { max: 8 } } }, "scopeLimits asks for a systemd scope, and driver: 'cgroupfs'"],
    [{ scopeLimits: { netCls: { classid: 1 } } }, "unknown option 'netCls'"],
    [{ scopeLimits: { memory: { max: '1Q' } } }, 'scopeLimits.memory.max'],
  ])('%j is ERR_INVALID_ARG before anything is made', async (opts, why) => {
    const err = await errorOf(Cgroup.create(name('bad'), opts as never));
    expect(err.code).toBe('ERR_INVALID_ARG');
    expect(err.message).toContain(why);
  });

  it('NSGROUPS_CGROUP_DRIVER is checked like the option', async () => {
    process.env.NSGROUPS_CGROUP_DRIVER = 'dbus';
    try {
      const err = await errorOf(Cgroup.create(name('env')));
      expect(err).toMatchObject({ code: 'ERR_INVALID_ARG' });
      expect(err.message).toContain('NSGROUPS_CGROUP_DRIVER');
    } finally {
      delete process.env.NSGROUPS_CGROUP_DRIVER;
    }
  });
});

describe(`this host (${lay.mode}, systemd ${booted ? 'is' : 'is not'} init)`, () => {
  it('asking for systemd is ERR_UNSUPPORTED saying why (v1 limits, or no manager) — or works where it applies', async () => {
    const got = await Cgroup.create(name('ask'), { driver: 'systemd' }).then(
      (cg) => cg,
      (e: unknown) => e as NsgroupsError,
    );
    if (got instanceof Cgroup) {
      console.log(`systemd driver works here: ${got.unit}`);
      expect(got.driver).toBe('systemd');
      await got.delete();
      return;
    }
    console.log(`systemd driver not available here: ${got.message}`);
    expect(got).toBeInstanceOf(NsgroupsError);
    expect(got.code).toBe('ERR_UNSUPPORTED');
    expect(got.message).toMatch(lay.mode === 'v2' ? /no systemd (user|system) manager is reachable/ : /needs a cgroup v2 host/);
  });

  itRoot('root gets cgroupfs, as before: /nsgroups at the top, no unit', async () => {
    await using cg = await Cgroup.create(name('root'));
    expect(cg.driver).toBe('cgroupfs');
    expect(cg.unit).toBeNull();
    const dirs = typeof cg.path === 'string' ? [cg.path] : Object.values(cg.path);
    for (const d of dirs) expect(d).toMatch(new RegExp(`/nsgroups/${name('root')}$`));
  });

  itRootless('a user without a base gets the same ERR_PERMISSION and hint as before the driver', async () => {
    const err = await errorOf(Cgroup.create(name('user')));
    if (booted && lay.mode === 'v2') {
      console.log('systemd host: this user is expected to get a scope instead (the systemd lane)');
      return;
    }
    expect(err.code).toBe('ERR_PERMISSION');
    const h = lay.mode === 'v2' ? lay.unified! : lay.v1[0];
    expect(err.message).toBe(
      `cannot create cgroups in ${h.mountPoint}: no writable cgroup was found (this process's own cgroup and its ancestors are not writable)\n${delegationHint(lay)}`,
    );
  });

  it('capabilities() says which driver and why, and that no systemd manager answers here', async () => {
    const { driver } = await cgroupCapabilities();
    console.log(`driver: ${driver.name}: ${driver.reason}; systemd: ${driver.systemd.reason}`);
    expect(driver.systemd.manager).toBe(isRoot ? 'system' : 'user');
    if (!booted) {
      expect(driver.systemd).toMatchObject({ reachable: false, reason: 'systemd is not the init of this host (no /run/systemd/system)' });
    }
    if (isRoot) expect(driver.name).toBe('cgroupfs');
    if (lay.mode !== 'v2') expect(driver.reason).toContain(`this ${lay.mode} host's limits are on cgroup v1`);
  });
});
