// Test lanes (DESIGN.md "Test lanes"): the same files run as root and as an unprivileged user.
// A test that does not apply to the lane is not defined at all (deselected, not counted); a
// test whose host feature is missing is skipped loudly — or fails when NSGROUPS_MUST_WORK=1.
import * as fs from 'node:fs';

export const isRoot = process.geteuid!() === 0;
export const mustWork = process.env.NSGROUPS_MUST_WORK === '1';
export const lane = isRoot ? 'root' : 'rootless';

type TestFn = jest.ProvidesCallback;

/** Defines the test only in the root lane. */
export function itRoot(name: string, fn: TestFn, timeout?: number): void {
  if (isRoot) it(name, fn, timeout);
}

/** Defines the test only in the rootless lane. */
export function itRootless(name: string, fn: TestFn, timeout?: number): void {
  if (!isRoot) it(name, fn, timeout);
}

/**
 * Runs the test when `available` is true; otherwise skips it with the reason printed, or
 * fails under NSGROUPS_MUST_WORK=1 (bubblewrap's BWRAP_MUST_WORK).
 */
export function itIf(available: boolean, reason: string, name: string, fn: TestFn, timeout?: number): void {
  if (available) return void it(name, fn, timeout);
  if (mustWork) {
    it(name, () => {
      throw new Error(`NSGROUPS_MUST_WORK=1 but this host cannot run it: ${reason}`);
    });
    return;
  }
  // eslint-disable-next-line no-console
  console.warn(`SKIPPED on this host (${lane} lane): ${name}: ${reason}`);
  it.skip(name, fn, timeout);
}

function readInt(file: string): number | null {
  try {
    return parseInt(fs.readFileSync(file, 'utf8'), 10);
  } catch {
    return null;
  }
}

/** Unprivileged user namespaces: allowed by sysctl (probed for real by the tests that use them). */
export const userNamespacesAllowed =
  (readInt('/proc/sys/user/max_user_namespaces') ?? 1) > 0 &&
  (readInt('/proc/sys/kernel/unprivileged_userns_clone') ?? 1) === 1 &&
  (readInt('/proc/sys/kernel/apparmor_restrict_unprivileged_userns') ?? 0) === 0;
